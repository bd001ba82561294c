import Foundation

/// A numeric CSV file: a header row, then one row of numbers per line.
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
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        guard let headerLine = lines.first else { throw .empty(file: file) }
        let header = headerLine.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        var values: [Float] = []
        values.reserveCapacity((lines.count - 1) * header.count)
        for (offset, line) in lines.dropFirst().enumerated() {
            let lineNumber = offset + 2
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
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
