import Synchronization

/// Set by a front when the client has given up on a call (an HTTP/2 RST_STREAM, a closed
/// connection), read by the batcher before it computes the call's rows: work for an answer
/// nobody will read is skipped where it has not started. One flag per call, shared between the
/// connection's event loop (which sets it) and an executor thread (which reads it).
final class CallCancellation: Sendable {
    private let flag = Atomic<Bool>(false)

    init() {}

    var isCancelled: Bool { flag.load(ordering: .relaxed) }

    func cancel() { flag.store(true, ordering: .relaxed) }
}
