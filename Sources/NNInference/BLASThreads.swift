import COpenBLAS

/// The threads matrix products use, process-wide: OpenBLAS's pool (inference's large
/// GEMMs) and the one training's products and Adam updates split over
/// (`SharedKernels.trainingThreads`).
///
/// A server that runs one model instance per core sets it to 1 so instances do not fight
/// over cores; a benchmark or a trainer on an idle machine may use every core.
public enum BLASThreads {
    public static func set(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
        SharedKernels.setTrainingThreads(count)
    }

    public static var current: Int { Int(openblas_get_num_threads()) }
}
