import NNCore

/// One step of a compiled plan, over value ids (see `PlanBuilder`). Weights here are the
/// final, folded ones.
enum PlannedStep: Sendable {
    /// output = postActivation(activation(input·weights + bias) + residual)
    case dense(DenseStep)
    /// output[:, j] = input[:, j]·scale[j] + shift[j] (unfolded batch norm or standardization)
    case affine(input: Int, output: Int, scale: Tensor, shift: Tensor, node: String)
    case activation(input: Int, output: Int, activation: Activation, node: String)
    /// output = Σ inputs
    case add(inputs: [Int], output: Int, node: String)
    /// Copies a value into a column slice (a concat operand that could not be placed).
    case copy(input: Int, output: Int, node: String)

    var outputValue: Int {
        switch self {
        case .dense(let dense): dense.output
        case .affine(_, let output, _, _, _), .activation(_, let output, _, _), .add(_, let output, _),
             .copy(_, let output, _): output
        }
    }

    var inputValues: [Int] {
        switch self {
        case .dense(let dense): [dense.input] + (dense.residual.map { [$0] } ?? [])
        case .affine(let input, _, _, _, _), .activation(let input, _, _, _), .copy(let input, _, _): [input]
        case .add(let inputs, _, _): inputs
        }
    }
}

struct DenseStep: Sendable {
    var node: String
    var input: Int
    var output: Int
    var weights: Tensor
    var bias: Tensor
    var activation: Activation
    var residual: Int?
    var postActivation: Activation
    /// The layer's kernel (fp32, or the stored reduced precision where it times faster).
    var decision: PrecisionChooser.Decision

    var inputWidth: Int { weights.shape[0] }
    var outputWidth: Int { weights.shape[1] }
}

/// Where a value lives in the arena: row r starts at `offset + r·leadingDimension`.
public struct ValueLocation: Sendable, Equatable {
    /// Floats from the start of the arena to element [0, 0].
    public var offset: Int
    public var leadingDimension: Int
    public var width: Int
}
