import NNCore
import NNInference

/// y = f(z) elementwise, or row-wise softmax; backward gives dL/dz from dL/dy.
///
/// Forward uses the inference kernels, so training and serving compute the same function.
enum ActivationLayer {
    static func forward(_ z: Tensor, _ activation: Activation) -> Tensor {
        SharedKernels.activation(activation, z)
    }

    /// dL/dz given dL/dy, the input z and the output y = f(z).
    static func backward(_ dy: Tensor, z: Tensor, y: Tensor, _ activation: Activation) -> Tensor {
        switch activation {
        case .linear:
            return dy
        case .relu:
            return dy.zipped(with: z) { gradient, input in input > 0 ? gradient : 0 }
        case .sigmoid:
            return dy.zipped(with: y) { gradient, output in gradient * output * (1 - output) }
        case .tanh:
            return dy.zipped(with: y) { gradient, output in gradient * (1 - output * output) }
        case .softmax:
            // dz_i = y_i (dy_i - Σ_j dy_j y_j)
            var dz = dy
            let width = dy.columns
            y.withUnsafeBufferPointer { y in
                dz.withUnsafeMutableBufferPointer { dz in
                    for row in 0..<dy.rows {
                        var dot: Float = 0
                        for column in 0..<width { dot += dz[row * width + column] * y[row * width + column] }
                        for column in 0..<width { dz[row * width + column] = y[row * width + column] * (dz[row * width + column] - dot) }
                    }
                }
            }
            return dz
        default:
            return dy.zipped(with: z) { gradient, input in gradient * Float(activation.derivative(Double(input))) }
        }
    }
}
