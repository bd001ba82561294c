import NNCore

/// Why a graph could not be compiled or a batch could not be run.
public enum InferenceError: Error, Equatable, CustomStringConvertible {
    case invalidGraph(GraphError)
    /// Inputs or requested outputs that do not fit the plan.
    case invalidInput(InputError)
    case invalidMaxRows(Int)

    public var description: String {
        switch self {
        case .invalidGraph(let error):
            "invalid graph: \(error)"
        case .invalidInput(let error):
            error.description
        case .invalidMaxRows(let rows):
            "maximum batch rows must be positive, got \(rows)"
        }
    }
}
