/// Why training data or a model definition could not be used; every case names the file,
/// line and column (or field) at fault.
public enum DataError: Error, Equatable, CustomStringConvertible {
    case unreadable(file: String, detail: String)
    case empty(file: String)
    case missingColumn(file: String, column: String, available: [String])
    case badValue(file: String, line: Int, column: String, value: String)
    case nonFinite(file: String, line: Int, column: String, value: String)
    case wrongFieldCount(file: String, line: Int, expected: Int, got: Int)
    case targetOutOfRange(file: String, line: Int, column: String, value: Float, detail: String)
    case invalidModel(file: String, detail: String)
    case lossDiverged(epoch: Int, step: Int, loss: Double)
    /// A training setting no run can use: the flag, the value given, the rule.
    case invalidSetting(flag: String, value: String, rule: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let detail): "\(file): \(detail)"
        case .empty(let file): "\(file): no data rows"
        case .missingColumn(let file, let column, let available):
            "\(file): no column '\(column)'; columns are \(available.joined(separator: ", "))"
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
        case .lossDiverged(let epoch, let step, let loss):
            "training loss became \(loss) at epoch \(epoch), step \(step); the last good checkpoint was kept (lower the learning rate or clip gradients)"
        }
    }
}
