import Dispatch
import Foundation

/// Loads versions on their first request under `--memory-budget`: one load per version
/// however many requests wait for it, one load at a time (a load reads, self-tests and
/// compiles: CPU work that would only slow the others), in a bounded queue.
///
/// The bounds keep what a client can make the server do finite: at most `maxPendingLoads`
/// versions wait to load and `maxWaiting` requests wait for them; past either, a request is
/// refused at once (resource exhausted, counted on /metrics). A waiting request gives up at its
/// deadline, whether or not its load has finished.
///
/// Thread safety: `pending` and `waiting` are read and written under `lock`; loads run on
/// `queue`; waiters are called on the loading thread or, at their deadline, on a global queue.
final class OnDemandLoader: @unchecked Sendable {
    typealias Waiter = @Sendable (Result<LoadedModel, ServingError>) -> Void

    private struct Waiting {
        var waiter: Waiter
        /// Answers the waiter at its deadline; cancelled when the load answers first.
        var timer: DispatchWorkItem?
    }

    private let lock = NSLock()
    private var pending: [VersionKey: [UInt64: Waiting]] = [:]
    private var shutDownReason: String?
    private var waiting = 0
    private var nextWaiter: UInt64 = 0
    private let queue = DispatchQueue(label: "nnserve.on-demand-load")
    private let maxPendingLoads: Int
    private let maxWaiting: Int
    private let load: @Sendable (VersionKey) -> Result<LoadedModel, ServingError>
    private let refused: @Sendable () -> Void

    /// `load` runs on the loader's queue and answers for one version; `refused` counts a
    /// request turned away because the queue was full.
    init(maxPendingLoads: Int, maxWaiting: Int, load: @escaping @Sendable (VersionKey) -> Result<LoadedModel, ServingError>,
         refused: @escaping @Sendable () -> Void) {
        self.maxPendingLoads = max(1, maxPendingLoads)
        self.maxWaiting = max(1, maxWaiting)
        self.load = load
        self.refused = refused
    }

    /// Calls `waiter` once: with the version when its load is done, or with why not (the load
    /// failed, or `waitMicros` passed first). Throws at once, calling nothing, when the queue
    /// is full.
    func whenLoaded(_ key: VersionKey, waitMicros: Int64, waiter: @escaping Waiter) throws(ServingError) {
        let id = try enqueue(key, waiter: waiter)
        let timer = DispatchWorkItem { [self] in
            guard let waiting = lock.withLock({ () -> Waiting? in
                guard let waiting = pending[key]?.removeValue(forKey: id) else { return nil }
                self.waiting -= 1
                return waiting
            }) else { return }
            let waited = waitMicros >= 1_000_000 ? String(format: "%.1f s", Double(waitMicros) / 1e6) : "\(waitMicros / 1000) ms"
            waiting.waiter(.failure(ServingError(.deadlineExceeded, "model \(key) was still loading after \(waited), the request's deadline")))
        }
        // Armed only if the waiter is still there (a fast load may have answered it already).
        let armed = lock.withLock { () -> Bool in
            guard pending[key]?[id] != nil else { return false }
            pending[key]![id]!.timer = timer
            return true
        }
        if armed { DispatchQueue.global().asyncAfter(deadline: .now() + .microseconds(Int(clamping: waitMicros)), execute: timer) }
    }

    /// Serving ends: requests waiting for a load are answered `unavailable`, new ones are
    /// refused, and loads not started yet do not start.
    func shutDown() {
        let waiters = lock.withLock { () -> [Waiting] in
            shutDownReason = "the server is shutting down"
            let all = pending.values.flatMap(\.values)
            for key in pending.keys { pending[key] = [:] }
            waiting = 0
            return all
        }
        for waiting in waiters {
            waiting.timer?.cancel()
            waiting.waiter(.failure(ServingError(.unavailable, "the server is shutting down; the model was not loaded")))
        }
    }

    /// Starts loading `key` unless it is already on its way; nothing waits for it. False when
    /// the queue is full.
    @discardableResult
    func prefetch(_ key: VersionKey) -> Bool {
        (try? enqueue(key, waiter: nil)) != nil
    }

    /// Whether `shutDown` was called: a load that was waiting for its turn does not run.
    var isShutDown: Bool { lock.withLock { shutDownReason != nil } }

    /// Versions waiting to load or loading now.
    var pendingLoads: Int { lock.withLock { pending.count } }

    private func enqueue(_ key: VersionKey, waiter: Waiter?) throws(ServingError) -> UInt64 {
        lock.lock()
        if let reason = shutDownReason {
            lock.unlock()
            throw ServingError(.unavailable, "\(reason); model \(key) is not loaded")
        }
        let isNew = pending[key] == nil
        guard !isNew || pending.count < maxPendingLoads else {
            let count = pending.count
            lock.unlock()
            refused()
            throw ServingError(.resourceExhausted, "\(count) model versions are waiting to load (nnserve --max-pending-loads); model \(key) is not loaded, retry later")
        }
        guard waiter == nil || waiting < maxWaiting else {
            let count = waiting
            lock.unlock()
            refused()
            throw ServingError(.resourceExhausted, "\(count) requests are waiting for model loads (nnserve --max-requests-awaiting-load); model \(key) is not loaded, retry later")
        }
        nextWaiter += 1
        let id = nextWaiter
        if isNew { pending[key] = [:] }
        if let waiter {
            pending[key]![id] = Waiting(waiter: waiter)
            waiting += 1
        }
        lock.unlock()
        if isNew { queue.async { [self] in run(key) } }
        return id
    }

    private func run(_ key: VersionKey) {
        let result = isShutDown ? .failure(ServingError(.unavailable, "the server is shutting down; model \(key) is not loaded")) : load(key)
        let waiters = lock.withLock { () -> [Waiting] in
            let waiters = pending.removeValue(forKey: key) ?? [:]
            waiting -= waiters.count
            return Array(waiters.values)
        }
        for waiting in waiters {
            waiting.timer?.cancel()
            waiting.waiter(result)
        }
    }
}
