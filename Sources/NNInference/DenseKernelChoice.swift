/// Which Dense kernel serves a batch: the kernel set's register-tiled kernel, or sgemm.
///
/// The serving path never calls sgemm: OpenBLAS allocates inside it for batches over 128 rows
/// with its AVX-512 core types (Cooperlake, SkylakeX), which breaks the executor's promise of
/// no allocation per run, and at the row counts a plan runs (at most `PlanOptions.maxRows`,
/// 256 by default) our tiles match or beat it. `nnbench crossover` measures both per layer
/// shape and kernel set (docs/BENCHMARKS.md); a plan may still ask for sgemm above a row
/// count (`PlanOptions.smallKernelMaxRows`), which only that benchmark does.
public enum DenseKernelChoice {
    /// Largest batch (rows) for which the register-tiled kernel is used on a k×n layer.
    public static func smallKernelMaxRows(k: Int, n: Int) -> Int {
        .max
    }
}
