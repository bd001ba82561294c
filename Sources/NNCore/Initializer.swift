/// Weight initializers for a Dense kernel of shape [fanIn, fanOut].
///
/// Formulas: docs/reference/training-math.md. The *Normal variants are truncated at
/// two standard deviations with the standard deviation divided by 0.8796… so the variance is
/// the stated one (as Keras does).
public enum Initializer: String, Spelled {
    public static let noun = "initializer"

    case glorotUniform = "glorot_uniform"
    case glorotNormal = "glorot_normal"
    case heUniform = "he_uniform"
    case heNormal = "he_normal"
    case lecunUniform = "lecun_uniform"
    case lecunNormal = "lecun_normal"
    case zeros

    /// Standard deviation of a standard normal truncated to ±2 (Keras' correction constant).
    static let truncatedNormalStd: Double = 0.87962566103423978

    /// The initializer that keeps activations' variance stable for `activation`: He for the
    /// ReLU family, LeCun normal for SELU (self-normalization needs it), Glorot otherwise.
    public static func suited(to activation: Activation) -> Initializer {
        switch activation {
        case .relu, .leakyRelu, .elu, .gelu, .softplus: .heNormal
        case .selu: .lecunNormal
        case .linear, .sigmoid, .tanh, .softmax: .glorotUniform
        }
    }

    /// Fills a [fanIn, fanOut] kernel with draws from `rng`.
    public func kernel(fanIn: Int, fanOut: Int, rng: inout CounterRNG) -> Tensor {
        var tensor = Tensor(zeros: [fanIn, fanOut])
        let fanSum = Double(fanIn + fanOut)
        let fanInD = Double(max(fanIn, 1))
        tensor.withUnsafeMutableBufferPointer { weights in
            func uniform(limit: Double) {
                for index in weights.indices { weights[index] = Float((2 * Double(rng.nextUniform()) - 1) * limit) }
            }
            func normal(std: Double) {
                let scale = std / Initializer.truncatedNormalStd
                for index in weights.indices { weights[index] = Float(Double(rng.nextTruncatedNormal()) * scale) }
            }
            switch self {
            case .glorotUniform: uniform(limit: (6 / max(fanSum, 1)).squareRoot())
            case .glorotNormal: normal(std: (2 / max(fanSum, 1)).squareRoot())
            case .heUniform: uniform(limit: (6 / fanInD).squareRoot())
            case .heNormal: normal(std: (2 / fanInD).squareRoot())
            case .lecunUniform: uniform(limit: (3 / fanInD).squareRoot())
            case .lecunNormal: normal(std: (1 / fanInD).squareRoot())
            case .zeros: break
            }
        }
        return tensor
    }
}
