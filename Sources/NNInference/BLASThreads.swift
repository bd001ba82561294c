import COpenBLAS

/// OpenBLAS's thread pool size, which is process-wide. Only plans that ask for sgemm
/// (`PlanOptions.smallKernelMaxRows`, `nnbench crossover`) and the GEMM floor of `nnbench
/// kernels` call OpenBLAS; serving and training run the project's own kernels (training's
/// threads: `SharedKernels.setTrainingThreads`).
public enum BLASThreads {
    public static func set(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    public static var current: Int { Int(openblas_get_num_threads()) }
}
