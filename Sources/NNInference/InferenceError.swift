import NNCore

/// Why a graph could not be compiled or a batch could not be run.
public enum InferenceError: Error, Equatable, CustomStringConvertible {
    case invalidGraph(GraphError)
    case unknownInput(name: String, known: [String])
    case missingInput(name: String)
    case wrongShape(input: String, shape: [Int], expectedWidth: Int)
    case rowCountMismatch(input: String, rows: Int, expected: Int)
    case unknownOutput(name: String, known: [String])
    case invalidMaxRows(Int)

    public var description: String {
        switch self {
        case .invalidGraph(let error):
            "invalid graph: \(error)"
        case .unknownInput(let name, let known):
            "unknown input '\(name)'; the model's inputs are \(known.map { "'\($0)'" }.joined(separator: ", "))"
        case .missingInput(let name):
            "input '\(name)' is missing"
        case .wrongShape(let input, let shape, let width):
            "input '\(input)' has shape \(shape); the model expects [rows, \(width)]"
        case .rowCountMismatch(let input, let rows, let expected):
            "input '\(input)' has \(rows) rows, the other inputs \(expected)"
        case .unknownOutput(let name, let known):
            "unknown output '\(name)'; the model's outputs are \(known.map { "'\($0)'" }.joined(separator: ", "))"
        case .invalidMaxRows(let rows):
            "maximum batch rows must be positive, got \(rows)"
        }
    }
}
