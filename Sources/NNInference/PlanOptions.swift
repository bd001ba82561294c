/// How a graph is compiled.
public struct PlanOptions: Sendable, Equatable {
    /// Rows the arena is sized for; larger batches run in chunks of this many rows.
    public var maxRows: Int
    /// Fold batch norm and input standardization into neighbouring Dense layers.
    public var foldAffine: Bool
    /// Fuse activations, softmax and residual adds into Dense epilogues.
    public var fuseEpilogues: Bool
    /// Let producers write straight into their column slice of a concat's buffer.
    public var concatByLayout: Bool
    public var kernels: KernelSet
    /// The model's Dense weights were stored as bf16 (`ModelFile.weightStorage`): where the
    /// kernel set has bf16 dot products (`avx512bf16`), keep them bf16 and round each layer's
    /// inputs to bf16 too — half the weight bytes, twice the multiply-adds per instruction,
    /// error within 2⁻⁷·Σ|x·w| per sum (nn_kernels.h: dense_bf16). Elsewhere they run as fp32.
    public var bf16Weights: Bool

    /// 256 rows: past this, rows per second are flat on the reference models (a batch is run
    /// in row chunks anyway; docs/BENCHMARKS.md), so bigger arenas only cost memory.
    public static let defaultMaxRows = 256

    public init(maxRows: Int = defaultMaxRows, foldAffine: Bool = true, fuseEpilogues: Bool = true,
                concatByLayout: Bool = true, kernels: KernelSet = .detected,
                bf16Weights: Bool = false) {
        self.maxRows = maxRows
        self.foldAffine = foldAffine
        self.fuseEpilogues = fuseEpilogues
        self.concatByLayout = concatByLayout
        self.kernels = kernels
        self.bf16Weights = bf16Weights
    }

    /// Every rewrite off: the graph's operations one by one (for tests and debugging).
    public static func unoptimized(maxRows: Int = defaultMaxRows, kernels: KernelSet = .detected) -> PlanOptions {
        PlanOptions(maxRows: maxRows, foldAffine: false, fuseEpilogues: false, concatByLayout: false, kernels: kernels)
    }
}
