/// Which Dense kernel serves a batch: the register-blocked small-batch kernel or sgemm.
///
/// At one row OpenBLAS's sgemm is 3-4x slower than a GEMV over the same weights
/// (../shared/anchors/RESULTS.md §1b); as rows grow its packing pays off. The crossover was
/// measured with `make bench-kernels` on the reference layers (docs/BENCHMARKS.md).
public enum DenseKernelChoice {
    /// Largest batch (rows) for which the small kernel is used on a k×n layer.
    public static func smallKernelMaxRows(k: Int, n: Int) -> Int {
        // Tiny or narrow layers never amortize sgemm's packing: the small kernel is 1.1-1.7x
        // faster on 8×30, 30×30, 100×10, 1024×16 at 1-32 rows (about even beyond, where such
        // models run in L1-sized row chunks anyway). Wide layers reach sgemm's speed between
        // 4 and 8 rows (784×300, 256×1024, 1024×1024, 256×256).
        if k * n <= 4096 || n <= 16 { return 32 }
        return 4
    }
}
