import CNNKernels
import NNCore
import Synchronization

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

    /// c[m, n] = op(a)[m, k] · b[k, n] (+ `bias` on every row): op(a) is a[m, k], or with
    /// `transposeA` the transpose of a[k, m]. Row-major, `lda`/`ldb`/`ldc` floats between rows;
    /// c must not overlap the others. The detected set's kernel (nn_kernels.h: gemm).
    /// Large products run on `trainingThreads` cores (`ParallelTrainingKernels`).
    public static func multiply(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
                                b: UnsafePointer<Float>, ldb: Int, bias: UnsafePointer<Float>?,
                                c: UnsafeMutablePointer<Float>, ldc: Int) {
        let split = parallelKernels.withLockIfAvailable { products -> Bool in
            guard let products, products.splits(m: m, n: n, k: k) else { return false }
            products.multiply(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: b, ldb: ldb, bias: bias, c: c, ldc: ldc)
            return true
        }
        if split != true {
            table.gemm(Int32(m), Int32(n), Int32(k), a, lda, transposeA ? 1 : 0, b, Int32(ldb), bias, c, Int32(ldc))
        }
    }

    /// The threads `multiply` and `adamUpdate` split large work over (1: the calling thread
    /// only), process-wide.
    public static var trainingThreads: Int {
        parallelKernels.withLock { $0?.threads ?? 1 }
    }

    /// Starts (or stops) the workers for `trainingThreads`: nntrain's `--threads`. Waits for a
    /// split in progress to finish.
    public static func setTrainingThreads(_ count: Int) {
        parallelKernels.withLock { products in
            guard (products?.threads ?? 1) != max(1, count) else { return }
            products = count > 1 ? ParallelTrainingKernels(threads: count, table: table) : nil
        }
    }

    private static let parallelKernels = Mutex<ParallelTrainingKernels?>(nil)

    /// y[n, rows] = x[rows, n]ᵀ (the detected set's kernel: in-register 8×8 blocks from AVX2 on).
    public static func transpose(rows: Int, columns: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        table.transpose(Int32(rows), Int32(columns), x, Int32(columns), y, Int32(rows))
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
                        let step = ParallelTrainingKernels.AdamStep(
                            count: w.count, weights: w.baseAddress!, gradient: g.baseAddress!, m: m.baseAddress!, v: v.baseAddress!,
                            beta1: beta1, beta2: beta2, rate: rate, correction1: correction1, correction2: correction2,
                            epsilon: epsilon, decay: decay)
                        let split = parallelKernels.withLockIfAvailable { kernels -> Bool in
                            guard let kernels, kernels.splits(parameters: w.count) else { return false }
                            kernels.adamUpdate(step)
                            return true
                        }
                        if split != true {
                            table.adam_update(w.count, w.baseAddress, g.baseAddress, m.baseAddress, v.baseAddress, beta1, beta2,
                                              rate, correction1, correction2, epsilon, decay)
                        }
                    }
                }
            }
        }
    }
}
