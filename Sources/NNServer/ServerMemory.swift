import CAllocator
import Dispatch
import NIOConcurrencyHelpers

/// How the server process gives memory back after a burst of large requests or an abusive
/// client: what a connection held goes back to the system when freed, not into malloc's
/// arenas for good.
///
/// glibc raises its mmap and trim thresholds each time it frees a mapped block (to twice the
/// block's size, up to 64 MiB): after the first 16 MiB request body was freed, later bodies
/// and answers came from the event loop's and the batcher's arenas and their freed space was
/// kept. 50 gRPC connections closed for leaving answers unread left RSS 14 MB above idle, for
/// good (`malloc_trim` could not reach a thread arena's top). Both thresholds fixed at glibc's
/// default: RSS came back to idle after every attack of Tests/python/grpc_attacks.py.
///
/// Many small blocks are another matter: 500 idle gRPC connections left 16 MB of free space
/// between live blocks when they closed (~32 KB each), which only `malloc_trim` returns. A
/// closed connection asks for one, run on a background thread a second later and at most
/// every few seconds, however many connections close.
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

    /// How long after a request the trim runs, and the least time between two trims.
    static let trimDelay = DispatchTimeInterval.seconds(1)
    static let trimSpacing: UInt64 = 5_000_000_000

    private struct TrimState {
        var pending = false
        var lastTrim: UInt64 = 0
    }

    private static let trimState = NIOLockedValueBox(TrimState())
    private static let trimQueue = DispatchQueue(label: "nnserve.memory-trim", qos: .utility)

    /// Asks for free heap memory to go back to the system soon; requests while one is pending
    /// join it.
    static func releaseFreedMemorySoon() {
        let delay = trimState.withLockedValue { state -> DispatchTimeInterval? in
            guard !state.pending else { return nil }
            state.pending = true
            let now = DispatchTime.now().uptimeNanoseconds
            let spacing = state.lastTrim == 0 ? 0 : max(0, Int64(state.lastTrim + trimSpacing) - Int64(now))
            return spacing > 1_000_000_000 ? .nanoseconds(Int(spacing)) : trimDelay
        }
        guard let delay else { return }
        trimQueue.asyncAfter(deadline: .now() + delay) {
            trimState.withLockedValue {
                $0.pending = false
                $0.lastTrim = DispatchTime.now().uptimeNanoseconds
            }
            _ = nn_release_free_memory()
        }
    }
}
