import NNFormat

/// Why an export failed; nothing is left in the repository when one is thrown.
public enum ExportError: Error, Equatable, CustomStringConvertible {
    case unknownOutput(String, known: [String])
    case unknownNode(String, known: [String])
    case unknownInput(String, known: [String])
    case nameTaken(String)
    case versionExists(path: String)
    case invalidName(String)
    case verificationFailed(path: String, maxRelativeError: Double, tolerance: Double)
    case file(FormatError)
    case io(path: String, detail: String)
    case accuracyBudgetExceeded(weights: WeightStorage, violations: [String], rows: String)

    public var description: String {
        switch self {
        case .unknownOutput(let name, let known):
            "unknown output '\(name)'; the checkpoint's outputs are \(known.map { "'\($0)'" }.joined(separator: ", "))"
        case .unknownNode(let name, let known):
            "unknown node '\(name)'; nodes are \(known.map { "'\($0)'" }.joined(separator: ", "))"
        case .unknownInput(let name, let known):
            "unknown input '\(name)'; the exported graph's inputs are \(known.map { "'\($0)'" }.joined(separator: ", "))"
        case .nameTaken(let name):
            "'\(name)' already names an input or a node of the exported graph"
        case .versionExists(let path):
            "\(path) already exists: versions are immutable; pick another --version or leave it out for the next free one"
        case .invalidName(let name):
            "model name '\(name)' must be letters, digits, '-', '_' or '.', and not start with '.'"
        case .verificationFailed(let path, let error, let tolerance):
            "\(path): self-test max relative error \(error) exceeds \(tolerance); nothing was written to the repository"
        case .file(let error):
            "\(error)"
        case .io(let path, let detail):
            "\(path): \(detail)"
        case .accuracyBudgetExceeded(let weights, let violations, let rows):
            "\(weights) weights lose too much against fp32 on \(rows): \(violations.joined(separator: "; ")); nothing was written "
                + "(keep --weights fp32, or allow more with --max-accuracy-drop / --max-rmse-increase)"
        }
    }
}
