import Foundation
import NNCore

/// A numeric CSV file: a header row, then one row of numbers per record (read by NNCore's
/// `CSVReader`: quoted fields, CRLF, a byte-order mark).
public struct CSVTable: Sendable {
    public var file: String
    public var header: [String]
    /// Row-major values, `rowCount × header.count`.
    public var values: [Float]
    public var rowCount: Int { header.isEmpty ? 0 : values.count / header.count }

    /// Reads `path`, checking every field: a bad or non-finite value names its line and column.
    public static func read(_ path: String) throws(DataError) -> CSVTable {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw .unreadable(file: path, detail: "cannot read the file as UTF-8 text")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(DataError) -> CSVTable {
        var records: [CSVReader.Record]
        do { records = try CSVReader.records(text) } catch { throw .unreadable(file: file, detail: error.description) }
        // Lines of spaces at the end are not rows either (a line of commas is: a bad row).
        while let last = records.last, last.fields.count == 1, last.fields[0].trimmingCharacters(in: .whitespaces).isEmpty { records.removeLast() }
        guard let headerRecord = records.first else { throw .empty(file: file) }
        let header = headerRecord.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        var values: [Float] = []
        values.reserveCapacity((records.count - 1) * header.count)
        for record in records.dropFirst() {
            let lineNumber = record.line
            let fields = record.fields
            guard fields.count == header.count else {
                throw .wrongFieldCount(file: file, line: lineNumber, expected: header.count, got: fields.count)
            }
            for (column, field) in fields.enumerated() {
                let trimmed = field.trimmingCharacters(in: .whitespaces)
                guard let value = Float(trimmed) else {
                    throw .badValue(file: file, line: lineNumber, column: header[column], value: trimmed)
                }
                guard value.isFinite else {
                    throw .nonFinite(file: file, line: lineNumber, column: header[column], value: trimmed)
                }
                values.append(value)
            }
        }
        guard !values.isEmpty else { throw .empty(file: file) }
        return CSVTable(file: file, header: header, values: values)
    }

    public func columnIndex(_ name: String) throws(DataError) -> Int {
        guard let index = header.firstIndex(of: name) else {
            throw .missingColumn(file: file, column: name, available: header)
        }
        return index
    }

    /// The named columns as a [rows, names.count] matrix.
    public func matrix(columns names: [String]) throws(DataError) -> (values: [Float], indices: [Int]) {
        var indices: [Int] = []
        for name in names { indices.append(try columnIndex(name)) }
        var result = [Float](repeating: 0, count: rowCount * names.count)
        let width = header.count
        for row in 0..<rowCount {
            for (slot, column) in indices.enumerated() { result[row * names.count + slot] = values[row * width + column] }
        }
        return (result, indices)
    }
}
