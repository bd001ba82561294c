/// A per-feature affine transform x·scale + shift, and how it folds into Dense weights
/// (formulas in training-math.md). Shared by the exporter's graph folding and the inference
/// compiler, and computed in Double.
public struct AffineTransform: Sendable, Equatable {
    public var scale: [Double]
    public var shift: [Double]

    public init(scale: [Double], shift: [Double]) {
        self.scale = scale
        self.shift = shift
    }

    public static func identity(_ width: Int) -> AffineTransform {
        AffineTransform(scale: [Double](repeating: 1, count: width), shift: [Double](repeating: 0, count: width))
    }

    /// x_std = (x - mean) / std
    public init(_ standardization: Standardization) {
        self.init(scale: standardization.std.map { 1 / Double($0) },
                  shift: zip(standardization.mean, standardization.std).map { -Double($0) / Double($1) })
    }

    /// Batch norm at inference: s = γ/√(σ²_mov + ε), t = β - μ_mov·s.
    public init(_ norm: BatchNorm) {
        let scale = (0..<norm.width).map { Double(norm.gamma[$0]) / (Double(norm.movingVariance[$0]) + Double(norm.epsilon)).squareRoot() }
        self.init(scale: scale, shift: (0..<norm.width).map { Double(norm.beta[$0]) - Double(norm.movingMean[$0]) * scale[$0] })
    }

    /// self applied first, then `next`.
    public func then(_ next: AffineTransform) -> AffineTransform {
        AffineTransform(scale: zip(scale, next.scale).map(*), shift: shift.indices.map { shift[$0] * next.scale[$0] + next.shift[$0] })
    }
}

extension DenseParameters {
    /// The layer that computes this one on inputs transformed by `affine` first:
    /// (x·s + t)·W + b = x·(diag(s)·W) + (t·W + b).
    public func foldingBefore(_ affine: AffineTransform) -> DenseParameters {
        var folded = self
        let (rows, columns) = (inputWidth, outputWidth)
        var newBias = (0..<columns).map { Double(bias[$0]) }
        folded.weights.withUnsafeMutableBufferPointer { w in
            for p in 0..<rows {
                for j in 0..<columns {
                    let original = Double(w[p * columns + j])
                    newBias[j] += affine.shift[p] * original
                    w[p * columns + j] = Float(original * affine.scale[p])
                }
            }
        }
        folded.bias = Tensor(newBias.map { Float($0) })
        return folded
    }

    /// The layer whose (linear) output is this one's followed by `affine`:
    /// (x·W + b)·s + t = x·(W·diag(s)) + (b·s + t).
    public func foldingAfter(_ affine: AffineTransform) -> DenseParameters {
        var folded = self
        let (rows, columns) = (inputWidth, outputWidth)
        folded.weights.withUnsafeMutableBufferPointer { w in
            for p in 0..<rows { for j in 0..<columns { w[p * columns + j] = Float(Double(w[p * columns + j]) * affine.scale[j]) } }
        }
        folded.bias = Tensor((0..<columns).map { Float(Double(bias[$0]) * affine.scale[$0] + affine.shift[$0]) })
        return folded
    }
}

/// When an affine transform (batch norm at inference, input standardization) may be folded
/// into Dense weights instead of running as a step of its own. The exporter asks on the graph
/// and the plan builder on its steps; both ask here, so they agree on what folds.
public enum AffineFoldingRules {
    /// Into the Dense that produces the transform's input (`foldingAfter`, W·diag(s)): only
    /// when that Dense's output is what the transform reads — a linear activation, no residual
    /// added — and nothing else reads it (no other node, not a graph output), and its weights
    /// are its own (a siamese branch sharing them would be changed too).
    public static func foldsIntoProducer(activation: Activation, addsResidual: Bool, hasOtherReaders: Bool,
                                         sharesWeights: Bool) -> Bool {
        activation == .linear && !addsResidual && !hasOtherReaders && !sharesWeights
    }

    /// Into a Dense that reads the transformed value (`foldingBefore`, diag(s)·W): when its
    /// weights are its own. Folding a value into its readers removes the value, so every reader
    /// must qualify and the value must not be a graph output.
    public static func foldsIntoConsumer(isDense: Bool, sharesWeights: Bool) -> Bool {
        isDense && !sharesWeights
    }
}
