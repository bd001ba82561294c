import COpenBLAS

/// OpenBLAS's thread pool size, which is process-wide. Only nnbench links OpenBLAS: the sgemm
/// side of `nnbench crossover` and the GEMM floor of `nnbench kernels`. Serving and training
/// run the project's own kernels (training's threads: `SharedKernels.setTrainingThreads`).
enum BLASThreads {
    static func set(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    static var current: Int { Int(openblas_get_num_threads()) }
}
