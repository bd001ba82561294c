import CAllocator

/// Process-wide allocator settings for training executables.
///
/// A training step allocates activation and gradient tensors of hundreds of KiB. glibc
/// serves blocks above its mmap threshold with fresh mappings, so each step paid page
/// faults and zeroing, and the threshold's adaptive moves made throughput swing by 1.6x
/// between identical runs (docs/BENCHMARKS.md). Executables (never the library) call this
/// once at start-up.
public enum AllocatorTuning {
    /// 256 MiB: larger than any tensor of the models nnserve trains.
    public static let mmapThresholdBytes: Int32 = 256 << 20

    public static func keepLargeBlocksOnTheHeap() {
        _ = nn_set_mmap_threshold(mmapThresholdBytes)
    }
}
