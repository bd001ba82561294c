import Foundation

/// The activation functions every part of nnserve agrees on.
///
/// Formulas and constants: docs/reference/training-math.md. The scalar functions here
/// are the definition; NNInference's vectorized kernels are tested against them.
public enum Activation: Sendable, Hashable {
    case linear
    case relu
    /// x if x > 0 else alpha·x.
    case leakyRelu(alpha: Float)
    /// x if x > 0 else alpha·(eˣ - 1).
    case elu(alpha: Float)
    case selu
    case sigmoid
    case tanh
    case softplus
    /// Exact GELU, x·Φ(x) with the normal CDF (not the tanh approximation).
    case gelu
    /// Row-wise softmax over the features of each row (max-subtracted).
    case softmax

    /// PyTorch's default slope; Keras' LeakyReLU uses 0.3. Chosen so models ported from
    /// PyTorch behave the same; set it explicitly to match Keras.
    public static let defaultLeakyReluAlpha: Float = 0.01
    public static let defaultEluAlpha: Float = 1

    /// SELU constants from Klambauer et al. 2017.
    public static let seluAlpha: Double = 1.6732632423543772
    public static let seluLambda: Double = 1.0507009873554805

    /// The canonical lower-case name, as used in model files and on the command line.
    public var name: String {
        switch self {
        case .linear: "linear"
        case .relu: "relu"
        case .leakyRelu: "leaky_relu"
        case .elu: "elu"
        case .selu: "selu"
        case .sigmoid: "sigmoid"
        case .tanh: "tanh"
        case .softplus: "softplus"
        case .gelu: "gelu"
        case .softmax: "softmax"
        }
    }

    /// Every activation with its default parameters, for tests and help texts.
    public static let allDefaults: [Activation] = [
        .linear, .relu, .leakyRelu(alpha: defaultLeakyReluAlpha), .elu(alpha: defaultEluAlpha),
        .selu, .sigmoid, .tanh, .softplus, .gelu, .softmax,
    ]

    /// Why the activation's parameter is unusable (NaN or infinite makes every negative input
    /// NaN), or nil.
    public var parameterProblem: String? {
        switch self {
        case .leakyRelu(let alpha) where !alpha.isFinite: "leaky_relu alpha is \(alpha); it must be finite"
        case .elu(let alpha) where !alpha.isFinite: "elu alpha is \(alpha); it must be finite"
        default: nil
        }
    }

    /// Parses a name such as "relu" or "leaky_relu" (with default parameters).
    public init?(name: String) {
        guard let match = Activation.allDefaults.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    /// The activation spelled `name` (default parameters), or an error naming the nearest.
    public static func named(_ name: String) throws(UnknownSpelling) -> Activation {
        guard let activation = Activation(name: name) else {
            throw UnknownSpelling(noun: "activation", given: name, known: allDefaults.map(\.name))
        }
        return activation
    }

    /// The names a hidden layer may use (softmax reads the whole row: output layers only).
    public static var elementwiseNames: [String] { allDefaults.filter(\.isElementwise).map(\.name) }

    /// False for softmax, whose value at one feature depends on the whole row.
    public var isElementwise: Bool { self != .softmax }

    /// f(x) for an elementwise activation, computed in Double without overflow.
    public func value(_ x: Double) -> Double {
        switch self {
        case .linear: return x
        case .relu: return x > 0 ? x : 0
        case .leakyRelu(let alpha): return x > 0 ? x : Double(alpha) * x
        case .elu(let alpha): return x > 0 ? x : Double(alpha) * Foundation.expm1(x)
        case .selu: return Activation.seluLambda * (x > 0 ? x : Activation.seluAlpha * Foundation.expm1(x))
        case .sigmoid: return Activation.stableSigmoid(x)
        case .tanh: return Foundation.tanh(x)
        case .softplus: return max(x, 0) + Foundation.log1p(Foundation.exp(-abs(x)))
        // ½·x·erfc(-x/√2) = x·Φ(x); 1 + erf(x/√2) would cancel to noise below x ≈ -8.
        case .gelu: return 0.5 * x * Foundation.erfc(-x / 2.0.squareRoot())
        case .softmax: preconditionFailure("softmax is row-wise: use Activation.softmax(row:)")
        }
    }

    /// f'(x) for an elementwise activation.
    public func derivative(_ x: Double) -> Double {
        switch self {
        case .linear: return 1
        case .relu: return x > 0 ? 1 : 0
        case .leakyRelu(let alpha): return x > 0 ? 1 : Double(alpha)
        case .elu(let alpha): return x > 0 ? 1 : Double(alpha) * Foundation.exp(x)
        case .selu: return Activation.seluLambda * (x > 0 ? 1 : Activation.seluAlpha * Foundation.exp(x))
        case .sigmoid:
            let s = Activation.stableSigmoid(x)
            return s * (1 - s)
        case .tanh:
            let t = Foundation.tanh(x)
            return 1 - t * t
        case .softplus: return Activation.stableSigmoid(x)
        case .gelu:
            let cdf = 0.5 * (1 + Foundation.erf(x / 2.0.squareRoot()))
            let pdf = Foundation.exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
            return cdf + x * pdf
        case .softmax: preconditionFailure("softmax is row-wise: its Jacobian is not elementwise")
        }
    }

    /// σ(x) = 1/(1+e⁻ˣ), using eˣ/(1+eˣ) for negative x so e⁻ˣ never overflows.
    public static func stableSigmoid(_ x: Double) -> Double {
        if x >= 0 { return 1 / (1 + Foundation.exp(-x)) }
        let e = Foundation.exp(x)
        return e / (1 + e)
    }

    /// Max-subtracted softmax of one row.
    public static func softmax(row: [Double]) -> [Double] {
        guard let maximum = row.max() else { return [] }
        let exps = row.map { Foundation.exp($0 - maximum) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }
}

extension Activation: CustomStringConvertible {
    public var description: String {
        switch self {
        case .leakyRelu(let alpha): "leaky_relu(\(alpha))"
        case .elu(let alpha): "elu(\(alpha))"
        default: name
        }
    }
}
