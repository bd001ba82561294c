import Foundation
import NNCore

/// Loss functions, mean over the batch (formulas in training-math.md).
///
/// Cross-entropies take logits. When a head's last Dense ends in softmax or sigmoid, the
/// trainer hands them its pre-activation and the fused gradient (softmax(z) - y) flows
/// straight into the Dense, stable for any logit.
public enum Loss: Sendable, Equatable {
    case mse
    case mae
    /// Keras' default δ = 1.
    case huber(delta: Float)
    case binaryCrossEntropy
    case categoricalCrossEntropy
    /// Targets are class indices in one column.
    case sparseCategoricalCrossEntropy
    /// Hadsell et al. 2006 on the distance between two embeddings (the head's output is
    /// [left | right] side by side); target 1 = similar. Not halved: y·d² + (1-y)·max(0, m-d)².
    case contrastive(margin: Float)

    public var kind: LossKind {
        switch self {
        case .mse: .mse
        case .mae: .mae
        case .huber: .huber
        case .binaryCrossEntropy: .binaryCrossEntropy
        case .categoricalCrossEntropy: .categoricalCrossEntropy
        case .sparseCategoricalCrossEntropy: .sparseCategoricalCrossEntropy
        case .contrastive: .contrastive
        }
    }

    /// The spelling in model files: "binary_crossentropy".
    public var name: String { kind.rawValue }

    /// True for losses that read logits: the head's final sigmoid/softmax is fused into them.
    var takesLogits: Bool {
        switch self {
        case .binaryCrossEntropy, .categoricalCrossEntropy, .sparseCategoricalCrossEntropy: true
        default: false
        }
    }

    /// Columns of the target for a prediction `width` wide.
    func targetWidth(predictionWidth width: Int) -> Int {
        switch self {
        case .sparseCategoricalCrossEntropy, .contrastive: 1
        default: width
        }
    }

    /// Mean loss over rows and dL/dprediction (dL/dlogits for cross-entropies). With
    /// `rowWeights` each row's loss and gradient are scaled by its weight and the sum is still
    /// divided by the row count (Keras' "sum over batch size"), so weights of 1 change nothing.
    public func evaluate(_ prediction: Tensor, target: Tensor, rowWeights: [Float]? = nil) -> (value: Double, gradient: Tensor) {
        let rows = prediction.rows, width = prediction.columns
        precondition(rowWeights.map { $0.count == rows } ?? true, "one weight per row")
        var gradient = Tensor(zeros: prediction.shape)
        var total = 0.0
        let count = Double(rows)
        func weight(_ row: Int) -> Double { rowWeights.map { Double($0[row]) } ?? 1 }
        prediction.withUnsafeBufferPointer { p in
            target.withUnsafeBufferPointer { t in
                gradient.withUnsafeMutableBufferPointer { g in
                    switch self {
                    case .mse, .mae, .huber:
                        let scale = count * Double(width)
                        for index in 0..<rows * width {
                            let w = weight(index / width)
                            let error = Double(p[index]) - Double(t[index])
                            let (value, slope) = Loss.pointwise(self, error)
                            total += w * value
                            g[index] = Float(w * slope / scale)
                        }
                        total /= Double(width)
                    case .binaryCrossEntropy:
                        let scale = count * Double(width)
                        for index in 0..<rows * width {
                            let w = weight(index / width)
                            let z = Double(p[index]), y = Double(t[index])
                            total += w * (max(z, 0) - z * y + log1p(exp(-abs(z))))
                            g[index] = Float(w * (Activation.stableSigmoid(z) - y) / scale)
                        }
                        total /= Double(width)
                    case .categoricalCrossEntropy, .sparseCategoricalCrossEntropy:
                        for row in 0..<rows {
                            let w = weight(row)
                            let logits = (0..<width).map { Double(p[row * width + $0]) }
                            let probabilities = Activation.softmax(row: logits)
                            let maximum = logits.max()!
                            let logSum = maximum + log(logits.reduce(0) { $0 + exp($1 - maximum) })
                            for j in 0..<width {
                                let y = self == .sparseCategoricalCrossEntropy
                                    ? (Int(t[row]) == j ? 1.0 : 0.0) : Double(t[row * width + j])
                                total += w * y * (logSum - logits[j])
                                g[row * width + j] = Float(w * (probabilities[j] - y) / count)
                            }
                        }
                    case .contrastive(let margin):
                        let half = width / 2
                        for row in 0..<rows {
                            let w = weight(row)
                            var squared = 0.0
                            for j in 0..<half {
                                let d = Double(p[row * width + j]) - Double(p[row * width + half + j])
                                squared += d * d
                            }
                            let distance = squared.squareRoot()
                            let similar = Double(t[row])
                            let gap = max(0, Double(margin) - distance)
                            total += w * (similar * squared + (1 - similar) * gap * gap)
                            // d(d²)/da = 2(a-b); d(gap²)/da = -2·gap·(a-b)/d.
                            let factor = w * (2 * similar - (distance > 1e-12 ? 2 * (1 - similar) * gap / distance : 0))
                            for j in 0..<half {
                                let d = Double(p[row * width + j]) - Double(p[row * width + half + j])
                                g[row * width + j] = Float(factor * d / count)
                                g[row * width + half + j] = Float(-factor * d / count)
                            }
                        }
                    }
                }
            }
        }
        return (total / count, gradient)
    }

    /// The class of each row a class weight applies to: the index (sparse), the hot column
    /// (categorical), or 0/1 (binary with one column, contrastive's similar); nil for losses
    /// that have no classes.
    func classLabels(of target: Tensor) -> [Int]? {
        switch self {
        case .sparseCategoricalCrossEntropy, .contrastive:
            return (0..<target.rows).map { Int(target[$0, 0]) }
        case .binaryCrossEntropy where target.columns == 1:
            return (0..<target.rows).map { target[$0, 0] >= 0.5 ? 1 : 0 }
        case .categoricalCrossEntropy:
            return (0..<target.rows).map { row in (0..<target.columns).max { target[row, $0] < target[row, $1] }! }
        default:
            return nil
        }
    }

    /// Value and slope of a pointwise regression loss at error e = prediction - target.
    static func pointwise(_ loss: Loss, _ error: Double) -> (Double, Double) {
        switch loss {
        case .mae: return (abs(error), error > 0 ? 1 : (error < 0 ? -1 : 0))
        case .huber(let delta):
            let d = Double(delta)
            return abs(error) <= d ? (0.5 * error * error, error) : (d * (abs(error) - 0.5 * d), error > 0 ? d : -d)
        default: return (error * error, 2 * error)
        }
    }
}
