import CAllocator

/// How the server process gives memory back after a burst of large requests or an abusive
/// client: what a connection held goes back to the system when freed, not into malloc's
/// arenas for good.
///
/// glibc raises its mmap and trim thresholds each time it frees a mapped block (to twice the
/// block's size, up to 64 MiB): after the first 16 MiB request body was freed, later bodies
/// and answers came from the event loop's and the batcher's arenas and their freed space was
/// kept. 50 gRPC connections closed for leaving answers unread left RSS 14 MB above idle, for
/// good (`malloc_trim` could not reach a thread arena's top). Both thresholds fixed at glibc's
/// default: RSS came back to idle after every attack of tests/python/grpc_attacks.py.
public enum ServerMemory {
    /// glibc's default for both thresholds, held fixed: blocks of this size or more are mapped
    /// and unmapped, and free space above it at a heap's top is returned. Smaller blocks (the
    /// per-request allocations a hot path reuses) stay on the heap.
    public static let thresholdBytes: Int32 = 128 << 10

    /// Executables (never the library) call this once at start-up. False where the C
    /// library took neither setting (not glibc).
    @discardableResult
    public static func returnLargeBlocksWhenFreed() -> Bool {
        nn_set_mmap_threshold(thresholdBytes) == 1 && nn_set_trim_threshold(thresholdBytes) == 1
    }
}
