import CNNKernels
import NNCore

/// The kernels the trainer shares with serving, behind Swift types: training computes its
/// activations with the functions the server will run, and updates Adam moments and weights
/// in one fused pass. The C codes and tables stay inside NNInference.
public enum SharedKernels {
    private static let table = KernelSet.detected.table

    /// f(z) for a [rows, columns] tensor, row by row (softmax over each row); linear returns z.
    public static func activation(_ activation: Activation, _ z: Tensor) -> Tensor {
        guard activation != .linear else { return z }
        precondition(z.rank == 2, "activations run on [rows, columns] tensors, got \(z.shape)")
        var y = Tensor(zeros: z.shape)
        let (code, alpha) = activation.kernelCode
        let (rows, columns) = (Int32(z.shape[0]), Int32(z.shape[1]))
        z.withUnsafeBufferPointer { source in
            y.withUnsafeMutableBufferPointer { destination in
                table.activation(rows, columns, source.baseAddress, columns, destination.baseAddress, columns, code, alpha)
            }
        }
        return y
    }

    /// One Adam (or AdamW, with `decay` = rate × weight decay) step in place: the moments `m`
    /// and `v` and the weights are each read and written once. `correction1/2` are the bias
    /// corrections 1 - β^t. Invariant: the four tensors have the same element count.
    public static func adamUpdate(weights: inout Tensor, gradient: Tensor, m: inout Tensor, v: inout Tensor,
                                  beta1: Float, beta2: Float, rate: Float, correction1: Float, correction2: Float,
                                  epsilon: Float, decay: Float) {
        precondition(gradient.count == weights.count && m.count == weights.count && v.count == weights.count)
        gradient.withUnsafeBufferPointer { g in
            m.withUnsafeMutableBufferPointer { m in
                v.withUnsafeMutableBufferPointer { v in
                    weights.withUnsafeMutableBufferPointer { w in
                        table.adam_update(w.count, w.baseAddress, g.baseAddress, m.baseAddress, v.baseAddress, beta1, beta2,
                                          rate, correction1, correction2, epsilon, decay)
                    }
                }
            }
        }
    }
}
