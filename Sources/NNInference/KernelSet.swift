import CNNKernels
import NNCore

/// Which implementation of the hand-written kernels a plan uses.
public enum KernelSet: Sendable, Equatable {
    /// AVX2 + FMA, chosen when the CPU has both.
    case avx2
    /// Plain C loops for any CPU (and the cross-check for the AVX2 path in tests).
    case portable

    /// The best set this CPU runs, detected at run time (the package is never built with
    /// -march=native, so one binary runs everywhere).
    public static let detected: KernelSet = nn_cpu_has_avx2_fma() == 1 ? .avx2 : .portable

    /// The `use_avx2` argument of the CNNKernels functions.
    public var flag: Int32 { self == .avx2 ? 1 : 0 }
}

extension Activation {
    /// The CNNKernels code and parameter for this activation (shared by the trainer, whose
    /// forward pass uses the same kernels).
    public var kernelCode: (code: Int32, alpha: Float) {
        switch self {
        case .linear: (Int32(NN_ACT_LINEAR), 0)
        case .relu: (Int32(NN_ACT_RELU), 0)
        case .leakyRelu(let alpha): (Int32(NN_ACT_LEAKY_RELU), alpha)
        case .elu(let alpha): (Int32(NN_ACT_ELU), alpha)
        case .selu: (Int32(NN_ACT_SELU), 0)
        case .sigmoid: (Int32(NN_ACT_SIGMOID), 0)
        case .tanh: (Int32(NN_ACT_TANH), 0)
        case .softplus: (Int32(NN_ACT_SOFTPLUS), 0)
        case .gelu: (Int32(NN_ACT_GELU), 0)
        case .softmax: (Int32(NN_ACT_SOFTMAX), 0)
        }
    }
}
