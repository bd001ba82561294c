import NNFormat

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
    /// How the model's Dense weights were stored (`ModelFile.weightStorage`). bf16 (where the
    /// set has bf16 dot products: inputs rounded to bf16, error within 2⁻⁷·Σ|x·w| per sum) and
    /// int8 (inputs quantized per row, exact int32 sums) layers run their reduced kernel where
    /// `precisionChooser` finds it faster than fp32 over the stored values; fp16 and the rest
    /// run fp32.
    public var storedWeights: WeightStorage
    /// Times reduced-precision kernels against fp32 per layer (`PrecisionChooser.measuring`),
    /// or a chooser with given timings in tests.
    public var precisionChooser: PrecisionChooser

    /// 256 rows: past this, rows per second are flat on the reference models (a batch is run
    /// in row chunks anyway; docs/BENCHMARKS.md), so bigger arenas only cost memory.
    public static let defaultMaxRows = 256

    public init(maxRows: Int = defaultMaxRows, foldAffine: Bool = true, fuseEpilogues: Bool = true,
                concatByLayout: Bool = true, kernels: KernelSet = .detected,
                storedWeights: WeightStorage = .float32, precisionChooser: PrecisionChooser = .measuring) {
        self.maxRows = maxRows
        self.foldAffine = foldAffine
        self.fuseEpilogues = fuseEpilogues
        self.concatByLayout = concatByLayout
        self.kernels = kernels
        self.storedWeights = storedWeights
        self.precisionChooser = precisionChooser
    }

    /// Every rewrite off: the graph's operations one by one (for tests and debugging).
    public static func unoptimized(maxRows: Int = defaultMaxRows, kernels: KernelSet = .detected) -> PlanOptions {
        PlanOptions(maxRows: maxRows, foldAffine: false, fuseEpilogues: false, concatByLayout: false, kernels: kernels)
    }
}
