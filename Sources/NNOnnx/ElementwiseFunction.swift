import Foundation
import NNCore

/// What one elementwise function of one value computes, told by evaluating it.
///
/// Exporters spell one activation in many ways: torch's TorchScript exporter writes GELU as
/// `Div → Erf → Add → Mul → Mul`, the dynamo exporter writes softplus with its threshold as
/// `Softplus, Greater, Where`. Rather than a pattern per spelling, the importer evaluates the
/// chain on probe points and compares it with every activation nnserve runs; a chain that
/// matches none (a tanh-approximated GELU, a ReLU6) is refused, never approximated.
enum ElementwiseFunction: Equatable {
    case identity
    case affine(scale: Double, shift: Double)
    case activation(Activation)

    /// Points spanning both saturations, the kink at 0 and ELU's and softplus' curved region,
    /// and far out (a clamp at 1e4 must not pass for the identity).
    static let probes: [Double] = {
        var points: [Double] = [-40, -25, -15, -9, -6, -4.5, -3, -2.2, -1.5, -1, -0.7, -0.4, -0.2, -0.1, -0.03, -1e-3, 0,
                                1e-3, 0.03, 0.1, 0.2, 0.4, 0.7, 1, 1.5, 2.2, 3, 4.5, 6, 9, 15, 19.5, 20.5, 25, 40]
        points += stride(from: -5.0, through: 5.0, by: 0.37).map { $0 }
        points += [1e2, 1e3, 1e4, 1e6, 1e9, 1e15, 1e30].flatMap { [$0, -$0] }
        return points
    }()

    /// Points around each of `constants`: just below, at and just above it.
    static func probes(around constants: [Double]) -> [Double] {
        constants.filter(\.isFinite).flatMap { c in
            let step = Swift.max(abs(c) * 1e-3, 1e-3)
            return [c - step, c, c + step, c - 1, c + 1]
        }
    }

    /// Relative tolerance of a match: float32 evaluation of a chain of a few operations.
    static let tolerance = 2e-5

    /// The function `f` is (evaluated at `probes`), or why it is none nnserve runs.
    static func identify(extraProbes constants: [Double] = [], _ f: (Double) -> Double?) -> Result<ElementwiseFunction, Mismatch> {
        let probes = Self.probes + probes(around: constants)
        var values: [Double] = []
        for x in probes {
            guard let y = f(x) else { return .failure(Mismatch(summary: "cannot be evaluated at \(x)")) }
            values.append(y)
        }
        func matches(_ g: (Double) -> Double) -> (Bool, worst: (x: Double, error: Double)) {
            var worst = (x: 0.0, error: 0.0)
            for (x, y) in zip(probes, values) {
                let expected = g(x)
                let error = abs(y - expected) / max(1, abs(expected))
                if !(error <= worst.error) { worst = (x, error.isNaN ? .infinity : error) }
            }
            return (worst.error <= tolerance, worst)
        }
        // Affine: two points fix it.
        let scale = (f(1) ?? .nan) - (f(0) ?? .nan)
        let shift = f(0) ?? .nan
        if scale.isFinite, shift.isFinite, matches({ scale * $0 + shift }).0 {
            return .success(scale == 1 && shift == 0 ? .identity : .affine(scale: scale, shift: shift))
        }
        var candidates: [Activation] = [.relu, .selu, .sigmoid, .tanh, .softplus, .gelu]
        let negativeSlope = -(f(-1) ?? .nan)  // leaky ReLU: f(-1) = -alpha
        if negativeSlope.isFinite { candidates.append(.leakyRelu(alpha: Float(negativeSlope))) }
        let eluAlpha = (f(-1) ?? .nan) / Foundation.expm1(-1)
        if eluAlpha.isFinite { candidates.append(.elu(alpha: Float(eluAlpha))) }
        var closest: (Activation, x: Double, error: Double)?
        for candidate in candidates {
            let (ok, worst) = matches { candidate.value($0) }
            if ok { return .success(.activation(candidate)) }
            if closest == nil || worst.error < closest!.error { closest = (candidate, worst.x, worst.error) }
        }
        let hint = closest.map { String(format: "closest is %@, off by %.2g at x = %g", $0.0.description, $0.error, $0.x) } ?? ""
        return .failure(Mismatch(summary: "matches no activation nnserve runs (\(hint))"))
    }

    struct Mismatch: Error, Equatable {
        var summary: String
    }
}

/// One elementwise ONNX operation on scalars (booleans as 0 and 1), for `ElementwiseFunction`
/// and for folding constants. Nil when the operation is not elementwise or not known here.
enum ScalarOperation {
    /// Op types whose output is the elementwise function of their inputs (with broadcasting).
    static let elementwise: Set<String> = [
        "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Log", "Erf", "Tanh", "Sigmoid", "Relu", "LeakyRelu", "Elu",
        "Selu", "Softplus", "Gelu", "Neg", "Abs", "Reciprocal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual",
        "Equal", "Where", "Max", "Min", "Clip", "Not", "Sign", "Softsign", "HardSigmoid", "Identity", "Cast",
        "Floor", "Ceil", "Round", "Dropout",
    ]

    static func evaluate(_ node: Onnx_NodeProto, _ x: [Double]) -> Double? {
        func unary(_ f: (Double) -> Double) -> Double? { x.count >= 1 ? f(x[0]) : nil }
        func binary(_ f: (Double, Double) -> Double) -> Double? { x.count == 2 ? f(x[0], x[1]) : nil }
        func flag(_ condition: Bool) -> Double { condition ? 1 : 0 }
        switch node.opType {
        case "Add": return binary(+)
        case "Sub": return binary(-)
        case "Mul": return binary(*)
        case "Div": return binary(/)
        case "Pow": return binary(Foundation.pow)
        case "Sqrt": return unary(Foundation.sqrt)
        case "Exp": return unary(Foundation.exp)
        case "Log": return unary(Foundation.log)
        case "Erf": return unary(Foundation.erf)
        case "Tanh": return unary(Foundation.tanh)
        case "Sigmoid": return unary(Activation.stableSigmoid)
        case "Relu": return unary { max($0, 0) }
        case "LeakyRelu": return unary(Activation.leakyRelu(alpha: node.float("alpha", default: 0.01)).value)
        case "Elu": return unary(Activation.elu(alpha: node.float("alpha", default: 1)).value)
        case "Selu":
            let alpha = Double(node.float("alpha", default: 1.67326319217681884765625))
            let gamma = Double(node.float("gamma", default: 1.05070102214813232421875))
            return unary { gamma * ($0 > 0 ? $0 : alpha * Foundation.expm1($0)) }
        case "Softplus": return unary(Activation.softplus.value)
        case "Gelu":
            if node.string("approximate") == "tanh" {
                return unary { 0.5 * $0 * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) }
            }
            return unary(Activation.gelu.value)
        case "Neg": return unary { -$0 }
        case "Abs": return unary(Swift.abs)
        case "Reciprocal": return unary { 1 / $0 }
        case "Greater": return binary { flag($0 > $1) }
        case "Less": return binary { flag($0 < $1) }
        case "GreaterOrEqual": return binary { flag($0 >= $1) }
        case "LessOrEqual": return binary { flag($0 <= $1) }
        case "Equal": return binary { flag($0 == $1) }
        case "Where": return x.count == 3 ? (x[0] != 0 ? x[1] : x[2]) : nil
        case "Max": return x.max()
        case "Min": return x.min()
        case "Clip":
            // Opset 11+: bounds are inputs 1 and 2 (absent = unbounded).
            guard let value = x.first else { return nil }
            return Swift.min(Swift.max(value, x.count > 1 ? x[1] : -.infinity), x.count > 2 ? x[2] : .infinity)
        case "Not": return unary { flag($0 == 0) }
        case "Sign": return unary { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
        case "Softsign": return unary { $0 / (1 + Swift.abs($0)) }
        case "HardSigmoid":
            let alpha = Double(node.float("alpha", default: 0.2)), beta = Double(node.float("beta", default: 0.5))
            return unary { Swift.max(0, Swift.min(1, alpha * $0 + beta)) }
        case "Floor": return unary(Foundation.floor)
        case "Ceil": return unary(Foundation.ceil)
        case "Round": return unary { $0.rounded(.toNearestOrEven) }
        case "Identity", "Dropout": return unary { $0 }
        case "Cast":
            // To float (1) or double (11): the value (float rounding is within the match's
            // tolerance); to bool (9): nonzero. Half precisions round too much to ignore.
            switch node.int("to", default: 1) {
            case 1, 11: return unary { $0 }
            case 9: return unary { flag($0 != 0) }
            default: return nil
            }
        default: return nil
        }
    }
}
