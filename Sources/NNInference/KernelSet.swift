import CNNKernels
import Foundation
import NNCore

/// Which instruction set the hand-written kernels use. The package is never built with
/// -march=native: one binary runs everywhere and picks, once per process, the best set the CPU
/// runs (`detected`). Each set is a table of C function pointers, so kernel code carries no
/// per-call "which instructions" flag.
public enum KernelSet: String, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    /// The AVX-512 VNNI set plus AVX512_BF16: models stored as bf16 are computed with vdpbf16ps
    /// (bf16 weights and inputs, fp32 sums); fp32 models run exactly as under `avx512`
    /// (Cooper Lake, Sapphire Rapids and later Xeons, Zen 4/5).
    case avx512bf16
    /// The AVX-512 set plus AVX512_VNNI: models stored as int8 are computed with vpdpbusd
    /// (inputs quantized to 255 levels per row; Cascade Lake, Ice Lake and later Xeons, Zen 4/5).
    case avx512vnni
    /// AVX-512 F/BW/DQ/VL: 8×48 register tiles, masked tails (Skylake-SP and later Xeons, Zen 4/5).
    case avx512
    /// AVX2 + FMA: 4×24 register tiles (Haswell, Zen 1-3).
    case avx2
    /// Plain C loops for any CPU, and the cross-check for the others in tests.
    case portable

    /// The environment variable that forces a set (`NNSERVE_KERNELS=avx2`), so every path can be
    /// run and measured on a CPU that has it.
    public static let environmentVariable = "NNSERVE_KERNELS"

    /// `NNSERVE_KERNELS` when set, else the best set this CPU runs. Forcing a set the CPU lacks
    /// stops the process with the reason: silently running another set would mislabel
    /// every measurement taken under it.
    public static let detected: KernelSet = {
        guard let forced = ProcessInfo.processInfo.environment[environmentVariable], !forced.isEmpty else {
            return allCases.first(where: \.isSupported)!
        }
        guard let set = KernelSet(rawValue: forced) else {
            fatalError("\(environmentVariable)=\(forced): not a kernel set; use one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard set.isSupported else {
            fatalError("\(environmentVariable)=\(forced): this CPU lacks \(set.requiredFeatures); it runs \(supported.map(\.rawValue).joined(separator: ", "))")
        }
        return set
    }()

    /// Every set this CPU runs, best first.
    public static var supported: [KernelSet] { allCases.filter(\.isSupported) }

    public var isSupported: Bool { nn_cpu_supports(code) == 1 }

    /// Whether the set computes bf16-stored models in bf16 (`PlanOptions.storedWeights`).
    public var hasBF16DotProducts: Bool { isSupported && table.dense_bf16 != nil }

    /// The CPU features the set needs (what a test names when it cannot run a path here).
    public var requiredFeatures: String {
        switch self {
        case .avx512bf16: "avx512f, avx512bw, avx512dq, avx512vl, avx512_vnni and avx512_bf16"
        case .avx512vnni: "avx512f, avx512bw, avx512dq, avx512vl and avx512_vnni"
        case .avx512: "avx512f, avx512bw, avx512dq and avx512vl"
        case .avx2: "avx2 and fma"
        case .portable: "nothing"
        }
    }

    public var description: String { rawValue }

    var code: nn_kernel_set {
        switch self {
        case .avx512bf16: NN_KERNELS_AVX512_BF16
        case .avx512vnni: NN_KERNELS_AVX512_VNNI
        case .avx512: NN_KERNELS_AVX512
        case .avx2: NN_KERNELS_AVX2
        case .portable: NN_KERNELS_PORTABLE
        }
    }

    /// The set's kernels. Only a supported set has a table; asking for another is a
    /// programming error (plans are compiled for `detected` or a set from `supported`).
    public var table: nn_kernel_table {
        guard let table = nn_kernel_table_for(code) else { preconditionFailure("kernel set \(self) needs \(requiredFeatures)") }
        return table.pointee
    }
}

extension Activation {
    /// The CNNKernels code and parameter for this activation (the trainer reaches the same
    /// kernels through `SharedKernels`).
    var kernelCode: (code: Int32, alpha: Float) {
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

/// The tables are `static const` C data: immutable for the life of the process, so a copy can
/// be shared by any thread.
extension nn_kernel_table: @retroactive @unchecked Sendable {}
