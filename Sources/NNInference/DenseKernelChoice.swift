/// Which Dense kernel serves a batch: the register-blocked small-batch kernel or sgemm.
///
/// At one row OpenBLAS's sgemm is 3-5x slower than a GEMV over the same weights
/// (../shared/anchors/RESULTS.md §1b); its packing is meant to pay off as rows grow. Measured
/// with `make bench-crossover` (docs/BENCHMARKS.md) since the tile kernel stopped spilling an
/// accumulator: the small kernel is as fast or faster than sgemm on every reference layer
/// shape up to 256 rows (1.0-1.1x on the wide ones at 128-256, 1.3-3x on narrow ones), with
/// one 0.83 cell at 1024×1024 × 256 rows. Up to 128 rows it is never slower.
public enum DenseKernelChoice {
    /// Largest batch (rows) for which the small kernel is used on a k×n layer.
    public static func smallKernelMaxRows(k: Int, n: Int) -> Int {
        128
    }
}
