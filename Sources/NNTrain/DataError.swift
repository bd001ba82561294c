import NNCore

/// Why training data or a model definition could not be used; every case names the file,
/// line and column (or field) at fault.
public enum DataError: Error, Equatable, CustomStringConvertible {
    case unreadable(file: String, detail: String)
    case empty(file: String)
    case missingColumn(file: String, column: String, available: [String])
    /// The header check: several columns the model needs are not in the file.
    case missingColumns(file: String, columns: [String], available: [String])
    /// A gap (empty, NA, NaN, …) where a number is needed.
    case missingValue(file: String, line: Int, column: String)
    /// A text target outside its head's labels.
    case unknownLabel(file: String, line: Int, column: String, label: String, labels: [String])
    case badValue(file: String, line: Int, column: String, value: String)
    case nonFinite(file: String, line: Int, column: String, value: String)
    case wrongFieldCount(file: String, line: Int, expected: Int, got: Int)
    case targetOutOfRange(file: String, line: Int, column: String, value: Float, detail: String)
    case invalidModel(file: String, detail: String)
    /// A non-finite loss; `checkpointEpoch` is the epoch whose weights the checkpoint on disk
    /// holds (nil: none was written).
    case lossDiverged(epoch: Int, step: Int, loss: Double, checkpointEpoch: Int? = nil)
    /// A training setting no run can use: the flag, the value given, the rule.
    case invalidSetting(flag: String, value: String, rule: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let detail): "\(file): \(detail)"
        case .empty(let file): "\(file): no data rows"
        case .missingColumn(let file, let column, let available):
            "\(file): no column '\(column)'\(Self.nearest(column, available)); columns are \(available.joined(separator: ", "))\(Self.delimiterHint(available))"
        case .missingColumns(let file, let columns, let available):
            "\(file): no columns \(columns.map { "'\($0)'\(Self.nearest($0, available))" }.joined(separator: ", ")); "
                + "columns are \(available.joined(separator: ", "))\(Self.delimiterHint(available))"
        case .missingValue(let file, let line, let column):
            "\(file):\(line): column '\(column)' has no value where one is needed (a target, or a column of numbers without gaps at training)"
        case .unknownLabel(let file, let line, let column, let label, let labels):
            "\(file):\(line): target '\(column)' is '\(label)', not one of the output's labels \(labels.joined(separator: ", "))"
        case .badValue(let file, let line, let column, let value):
            "\(file):\(line): column '\(column)': '\(value)' is not a number"
        case .nonFinite(let file, let line, let column, let value):
            "\(file):\(line): column '\(column)': \(value) is not finite"
        case .wrongFieldCount(let file, let line, let expected, let got):
            "\(file):\(line): \(got) fields, the header has \(expected)"
        case .targetOutOfRange(let file, let line, let column, let value, let detail):
            "\(file):\(line): target '\(column)' is \(value); \(detail)"
        case .invalidModel(let file, let detail): "\(file): \(detail)"
        case .invalidSetting(let flag, let value, let rule): "\(flag) \(value): \(rule)"
        case .lossDiverged(let epoch, let step, let loss, let checkpointEpoch):
            "training loss became \(loss) at epoch \(epoch), step \(step); "
                + (checkpointEpoch.map { "the checkpoint keeps epoch \($0)'s weights" } ?? "no checkpoint was written (none was due before it diverged)")
                + " (lower the learning rate or clip gradients; `nntrain lr-find` measures the usable range)"
        }
    }

    /// " (did you mean 'carat'?)" when a column of the file is a likely misspelling.
    private static func nearest(_ column: String, _ available: [String]) -> String {
        guard !available.isEmpty else { return "" }
        let candidate = Spelling.nearest(to: column, in: available)
        let distance = Spelling.editDistance(column, candidate)
        return distance < column.count && distance <= max(1, column.count / 3) ? " (did you mean '\(candidate)'?)" : ""
    }

    /// A file read as one column whose name holds a `;`, a tab or a `|` was written with that
    /// delimiter.
    private static func delimiterHint(_ available: [String]) -> String {
        guard available.count == 1, let header = available.first else { return "" }
        for (delimiter, name) in [(";", "';'"), ("\t", "tab"), ("|", "'|'")] where header.contains(delimiter) {
            return ". The file has one column: is it separated by \(name)? Pass --delimiter \(delimiter == "\t" ? "tab" : "'\(delimiter)'")"
        }
        return ""
    }
}
