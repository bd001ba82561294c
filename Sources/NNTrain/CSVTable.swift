import Foundation
import NNCore

/// A CSV file as people write it (read by NNCore's `CSVReader`: quoted fields, CRLF, a
/// byte-order mark, any one-byte delimiter): a header row, then one row per record, whose
/// fields are numbers, text, or gaps (`RawValue.missingSpellings`: empty, NA, NaN, …).
///
/// Numbers are kept as a row-major matrix; a column with any text in it also keeps its
/// fields as text. Whether a gap or a string is acceptable is the reader's business:
/// `matrix(columns:)` wants numbers only, `TableEncoding` turns raw columns into features.
public struct CSVTable: Sendable {
    public var file: String
    public var header: [String]
    /// Row-major numbers, `rowCount × header.count`; NaN where the field is a gap or text.
    public var values: [Float]
    /// The columns (by index) holding any text: each row's field, trimmed, nil for a gap.
    /// Numbers in such a column are spelled by `RawValue.categoryText`.
    public var text: [Int: [String?]]
    /// The line each row starts on (a quoted field may span lines).
    public var lines: [Int]
    /// The field delimiter it was read with (a run keeps it, to read its files again).
    public var delimiter: UInt8 = CSVReader.comma
    public var rowCount: Int { lines.count }

    /// A table of numbers only, one row per line after the header.
    public init(file: String, header: [String], values: [Float]) {
        self.file = file
        self.header = header
        self.values = values
        text = [:]
        let rows = header.isEmpty ? 0 : values.count / header.count
        lines = (0..<rows).map { $0 + 2 }
    }

    /// Reads `path`, one record at a time: a record with the wrong number of fields, or bytes
    /// that are not UTF-8, name their line.
    public static func read(_ path: String, delimiter: UInt8 = CSVReader.comma) throws(DataError) -> CSVTable {
        let data: Data
        switch FileProblem.contents(path) {
        case .success(let bytes): data = bytes
        case .failure(let problem): throw .unreadable(file: path, detail: problem.reason)
        }
        return try data.withUnsafeBytes { raw in
            Result { () throws(DataError) in try parse(raw.bindMemory(to: UInt8.self), file: path, delimiter: delimiter) }
        }.get()
    }

    public static func parse(_ text: String, file: String, delimiter: UInt8 = CSVReader.comma) throws(DataError) -> CSVTable {
        var text = text
        return try text.withUTF8 { bytes in Result { () throws(DataError) in try parse(bytes, file: file, delimiter: delimiter) } }.get()
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, file: String, delimiter: UInt8) throws(DataError) -> CSVTable {
        var table = CSVTable(file: file, header: [], values: [])
        table.delimiter = delimiter
        // Blank lines are held back: at the end of the file they are not rows; before a row,
        // one is a row of one gap in a one-column file and a wrong field count otherwise.
        var blankLines: [Int] = []
        do {
            try CSVReader.forEachRecord(bytes, delimiter: delimiter) { record in
                if table.header.isEmpty {
                    table.header = record.fields.map { $0.trimmingCharacters(in: .whitespaces) }
                    return
                }
                if record.isBlank || (record.fields.count == 1 && record.fields[0].trimmingCharacters(in: .whitespaces).isEmpty) {
                    blankLines.append(record.line)
                    return
                }
                for line in blankLines {
                    guard table.header.count == 1 else {
                        throw DataError.wrongFieldCount(file: file, line: line, expected: table.header.count, got: 1)
                    }
                    try table.append(CSVReader.Record(line: line, fields: [""]))
                }
                blankLines.removeAll()
                try table.append(record)
            }
        } catch let error as DataError {
            throw error
        } catch {
            throw .unreadable(file: file, detail: "\(error)")
        }
        guard table.rowCount > 0 else { throw .empty(file: file) }
        return table
    }

    private mutating func append(_ record: CSVReader.Record) throws(DataError) {
        guard record.fields.count == header.count else {
            throw .wrongFieldCount(file: file, line: record.line, expected: header.count, got: record.fields.count)
        }
        let row = rowCount
        lines.append(record.line)
        for (column, field) in record.fields.enumerated() {
            guard case .text(let written) = RawValue(field: field) else {
                values.append(.nan)
                text[column]?.append(nil)
                continue
            }
            // "inf" is text here, as it is to a server's categorical column: used as a
            // number (`matrix`), it is refused as not finite.
            if let number = Float(written), number.isFinite {
                values.append(number)
                text[column]?.append(RawValue.categoryText(of: number))
            } else {
                values.append(.nan)
                if text[column] == nil { text[column] = spelled(column: column, rows: row) }
                text[column]!.append(written)
            }
        }
    }

    /// The first `rows` fields of a numeric column as a text column spells them.
    private func spelled(column: Int, rows: Int) -> [String?] {
        (0..<rows).map { row in
            let value = values[row * header.count + column]
            return value.isNaN ? nil : RawValue.categoryText(of: value)
        }
    }

    /// The field at (`row`, `column`) as the encoder takes it.
    public func rawValue(row: Int, column: Int) -> RawValue {
        if let fields = text[column] { return fields[row].map(RawValue.text) ?? .missing }
        return RawValue(number: values[row * header.count + column])
    }

    /// Whether any row of `column` is a gap.
    public func hasGaps(column: Int) -> Bool {
        if let fields = text[column] { return fields.contains(nil) }
        return (0..<rowCount).contains { values[$0 * header.count + column].isNaN }
    }

    /// The first `count` rows.
    public func prefix(_ count: Int) -> CSVTable {
        guard count < rowCount else { return self }
        var copy = self
        copy.values = Array(values.prefix(count * header.count))
        copy.lines = Array(lines.prefix(count))
        copy.text = text.mapValues { Array($0.prefix(count)) }
        return copy
    }

    public func columnIndex(_ name: String) throws(DataError) -> Int {
        guard let index = header.firstIndex(of: name) else {
            throw .missingColumn(file: file, column: name, available: header)
        }
        return index
    }

    /// The header check: every column of `names` must be in the file; all that are not are
    /// named at once, each with the nearest column the file has.
    public func requireColumns(_ names: [String]) throws(DataError) {
        let missing = names.filter { !header.contains($0) }
        guard missing.isEmpty else {
            if missing.count == 1 { throw .missingColumn(file: file, column: missing[0], available: header) }
            throw .missingColumns(file: file, columns: missing, available: header)
        }
    }

    /// The named columns as a [rows, names.count] matrix of numbers; a gap or text names
    /// its line and column.
    public func matrix(columns names: [String]) throws(DataError) -> (values: [Float], indices: [Int]) {
        try requireColumns(names)
        let indices = names.map { header.firstIndex(of: $0)! }
        var result = [Float](repeating: 0, count: rowCount * names.count)
        let width = header.count
        for row in 0..<rowCount {
            for (slot, column) in indices.enumerated() {
                let value = values[row * width + column]
                guard !value.isNaN else {
                    if let written = text[column]?[row] {
                        if let number = Float(written), !number.isFinite {
                            throw .nonFinite(file: file, line: lines[row], column: header[column], value: written)
                        }
                        throw .badValue(file: file, line: lines[row], column: header[column], value: written)
                    }
                    throw .missingValue(file: file, line: lines[row], column: header[column])
                }
                result[row * names.count + slot] = value
            }
        }
        return (result, indices)
    }
}
