/// Which Dense kernel serves a batch: the register-blocked small-batch kernel or sgemm.
///
/// At one row OpenBLAS's sgemm is 3-4x slower than a GEMV over the same weights
/// (../shared/anchors/RESULTS.md §1b); as rows grow its packing pays off. The crossover was
/// measured with `make bench-kernels` on the reference layers (docs/BENCHMARKS.md).
public enum DenseKernelChoice {
    /// Largest batch (rows) for which the small kernel is used on a k×n layer.
    public static func smallKernelMaxRows(k: Int, n: Int) -> Int {
        // Narrow layers never amortize sgemm's packing; wide ones do from a few rows on.
        if k * n <= 64 * 64 { return 64 }
        return 8
    }
}
