import Foundation
import NNCore
import NNFormat

/// The rows `nnclient predict` sends, read from files and split per model input: one CSV whose
/// columns are picked by each input's feature names (a two-input siamese model takes its
/// `left_…` and `right_…` columns from one pair file), one CSV per input (`name=file`), or
/// JSON (an array of rows for a one-input model, an object of input name → rows otherwise);
/// for a model taking raw rows, the CSV's raw columns by name, as text.
public enum PredictRows {
    public enum Failure: Error, CustomStringConvertible, Equatable {
        case unreadable(file: String, reason: String)
        case missingColumn(file: String, column: String, input: String)
        case notANumber(file: String, line: Int, column: String)
        case ambiguous(detail: String)
        case notRows(file: String, detail: String)
        case rowCounts(detail: String)

        public var description: String {
            switch self {
            case .unreadable(let file, let reason): "\(file): \(reason)"
            case .missingColumn(let file, let column, let input): "\(file) has no column '\(column)' (a feature of input '\(input)')"
            case .notANumber(let file, let line, let column): "\(file):\(line): column '\(column)' is not a number"
            case .ambiguous(let detail), .rowCounts(let detail): detail
            case .notRows(let file, let detail): "\(file): \(detail)"
            }
        }
    }

    /// Every input's rows from one CSV. An input without feature names takes every column,
    /// which only works when it is the model's one input.
    public static func fromCSV(_ path: String, inputs: [Nnserve_TensorInfo], delimiter: UInt8 = CSVReader.comma) throws(Failure) -> [String: Tensor] {
        if inputs.count > 1, let unnamed = inputs.first(where: { $0.featureNames.isEmpty }) {
            throw .ambiguous(detail: "input '\(unnamed.name)' has no feature names, so one CSV cannot say which of its columns are for it; give one file per input (--input \(unnamed.name)=FILE)")
        }
        let table = try readCSV(path, delimiter: delimiter)
        var tensors: [String: Tensor] = [:]
        for input in inputs { tensors[input.name] = try table.columns(input.featureNames, of: input.name) }
        return tensors
    }

    /// The raw columns of a model taking raw rows, from one CSV with a column of each name
    /// (any order, other columns ignored): the fields as written, gaps included.
    public static func rawColumns(fromCSV path: String, columns: [Nnserve_ColumnInfo], delimiter: UInt8 = CSVReader.comma) throws(Failure) -> [String: [String]] {
        let table = try readCSV(path, delimiter: delimiter)
        let missing = columns.map(\.name).filter { !table.header.contains($0) }
        guard missing.isEmpty else {
            throw .notRows(file: path, detail: "no column \(missing.map { "'\($0)'" }.joined(separator: ", ")) (the model's raw columns are "
                           + "\(columns.map(\.name).joined(separator: ", ")); the file has \(table.header.joined(separator: ", "))")
        }
        var result: [String: [String]] = [:]
        for column in columns {
            let index = table.header.firstIndex(of: column.name)!
            var fields: [String] = []
            fields.reserveCapacity(table.lines.count)
            for record in table.lines {
                guard index < record.fields.count else {
                    throw .notRows(file: path, detail: "line \(record.line) has \(record.fields.count) fields, the header \(table.header.count)")
                }
                fields.append(record.fields[index])
            }
            result[column.name] = fields
        }
        return result
    }

    /// Each input's rows from its own CSV (`assignments`: input name → file).
    public static func fromCSVs(_ assignments: [String: String], inputs: [Nnserve_TensorInfo]) throws(Failure) -> [String: Tensor] {
        let names = inputs.map(\.name)
        for name in assignments.keys.sorted() where !names.contains(name) {
            throw .ambiguous(detail: "the model has no input '\(name)' (inputs: \(names.joined(separator: ", ")))")
        }
        var tensors: [String: Tensor] = [:]
        for input in inputs {
            guard let path = assignments[input.name] else {
                throw .ambiguous(detail: "no file for input '\(input.name)' (--input \(input.name)=FILE)")
            }
            tensors[input.name] = try readCSV(path).columns(input.featureNames, of: input.name)
        }
        try requireSameRowCount(tensors)
        return tensors
    }

    /// JSON rows: `[[…], …]` for a one-input model, `{"left": [[…]], "right": [[…]]}` otherwise.
    public static func fromJSON(_ path: String, inputs: [Nnserve_TensorInfo]) throws(Failure) -> [String: Tensor] {
        if let reason = FileProblem.reason(path) { throw .unreadable(file: path, reason: reason) }
        guard let data = FileManager.default.contents(atPath: path), let object = try? JSONSerialization.jsonObject(with: data) else {
            throw .notRows(file: path, detail: "not JSON")
        }
        func rows(_ value: Any, _ what: String) throws(Failure) -> Tensor {
            guard let rows = value as? [[Double]], let width = rows.first?.count, rows.allSatisfy({ $0.count == width }) else {
                throw .notRows(file: path, detail: "\(what) is not an array of rows of numbers, all of one length")
            }
            return Tensor(shape: [rows.count, width], values: rows.flatMap { $0.map(Float.init) })
        }
        if let object = object as? [String: Any] {
            var tensors: [String: Tensor] = [:]
            for input in inputs {
                guard let value = object[input.name] else { throw .notRows(file: path, detail: "no rows for input '\(input.name)'") }
                tensors[input.name] = try rows(value, "'\(input.name)'")
            }
            try requireSameRowCount(tensors)
            return tensors
        }
        guard inputs.count == 1 else {
            throw .notRows(file: path, detail: "the model has \(inputs.count) inputs; give an object of input name → rows")
        }
        return [inputs[0].name: try rows(object, "the file")]
    }

    private static func requireSameRowCount(_ tensors: [String: Tensor]) throws(Failure) {
        let counts = tensors.mapValues { $0.shape[0] }
        guard Set(counts.values).count <= 1 else {
            throw .rowCounts(detail: "inputs have different row counts: " + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
    }

    private struct Table {
        var file: String
        var header: [String]
        var lines: [CSVReader.Record]

        /// The named columns (every column when `names` is empty) as a [rows, columns] tensor.
        func columns(_ names: [String], of input: String) throws(Failure) -> Tensor {
            var indices: [Int] = []
            for name in names {
                guard let index = header.firstIndex(of: name) else { throw .missingColumn(file: file, column: name, input: input) }
                indices.append(index)
            }
            if names.isEmpty { indices = Array(header.indices) }
            var values: [Float] = []
            values.reserveCapacity(lines.count * indices.count)
            for record in lines {
                let fields = record.fields
                for column in indices {
                    guard column < fields.count, let value = Float(fields[column].trimmingCharacters(in: .whitespaces)), value.isFinite else {
                        throw .notANumber(file: file, line: record.line, column: header[column])
                    }
                    values.append(value)
                }
            }
            return Tensor(shape: [lines.count, indices.count], values: values)
        }
    }

    private static func readCSV(_ path: String, delimiter: UInt8 = CSVReader.comma) throws(Failure) -> Table {
        if let reason = FileProblem.reason(path) { throw .unreadable(file: path, reason: reason) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw .unreadable(file: path, reason: "not UTF-8 text") }
        let records: [CSVReader.Record]
        do { records = try CSVReader.records(text, delimiter: delimiter).filter { !$0.isBlank } } catch { throw .notRows(file: path, detail: error.description) }
        guard let header = records.first?.fields.map({ $0.trimmingCharacters(in: .whitespaces) }) else {
            throw .notRows(file: path, detail: "empty")
        }
        return Table(file: path, header: header, lines: Array(records.dropFirst()))
    }
}
