import Dispatch
import Foundation
import NNInference

/// Sees what the batcher does, for metrics: called on executor threads, so it must be cheap.
protocol BatchObserver: Sendable {
    /// A job's batch is about to run, `queuedNanoseconds` after the job arrived.
    func jobStarted(queuedNanoseconds: UInt64)
    /// A batch of `rows` rows ran through the plan in `computeNanoseconds`.
    func batchRan(rows: Int, computeNanoseconds: UInt64)
    /// `jobs` requests were computed together in `computeNanoseconds` (their batch's time).
    func jobsComputed(_ jobs: Int, computeNanoseconds: UInt64)
    /// A job whose client had cancelled it was skipped (`computed` false) or, cancelled while
    /// its batch ran, computed all the same (`computed` true).
    func jobCancelled(computed: Bool)
}

/// Merges the rows of concurrent requests for one model version into batches and runs them
/// on `instances` executors, each on its own thread.
///
/// A batch closes when it holds `plan.maxRows` rows (or the largest preferred size) or when its
/// oldest request has waited `maxQueueDelay` (then it takes the largest preferred size the queue
/// fills, else as many rows as fit) — or at once for a lone request when the model is idle
/// (see `InlinePolicy`). Requests past their deadline are answered "deadline exceeded" without
/// being computed; a full queue refuses new requests at once ("resource exhausted").
///
/// Thread safety: `queue`, `queuedRows` and `stopping` are only touched with `condition`
/// locked; each worker owns its executor. Hence `@unchecked Sendable`.
public final class DynamicBatcher: @unchecked Sendable {
    public struct Job {
        /// The request's rows, checked against the plan (`Plan.rowBlock`).
        public var block: RowBlock
        public var deadline: UInt64?
        var enqueued: UInt64 = 0
        /// Nanoseconds since the job before it arrived (how busy the model is).
        var gap: UInt64 = .max
        public var complete: @Sendable (Result<[[Float]], ServingError>) -> Void
        /// Set when the client gives up on the call (gRPC): not computed if not started.
        var cancellation: CallCancellation?

        public var rows: Int { block.rows }

        public init(block: RowBlock, deadline: UInt64?, complete: @escaping @Sendable (Result<[[Float]], ServingError>) -> Void) {
            self.block = block
            self.deadline = deadline
            self.complete = complete
        }

        init(block: RowBlock, deadline: UInt64?, cancellation: CallCancellation?,
             complete: @escaping @Sendable (Result<[[Float]], ServingError>) -> Void) {
            self.init(block: block, deadline: deadline, complete: complete)
            self.cancellation = cancellation
        }
    }

    let plan: Plan
    let label: String
    /// Batch sizes to aim for (ascending, each ≤ plan.maxRows), from config.pbtxt.
    let preferredBatchSizes: [Int]
    private let observer: (any BatchObserver)?
    private let maxQueueDelayNanos: UInt64
    private let queueBoundRows: Int
    private let condition = NSCondition()
    private var queue: [Job] = []
    private var queuedRows = 0
    private var stopping = false
    private var lastArrival: UInt64 = 0
    /// Workers running a batch now.
    private var busyWorkers = 0
    /// Runs a lone request on the submitting thread when every worker is idle (and, per
    /// `InlinePolicy`, nothing else is arriving): two thread hand-offs less, which is most of
    /// the latency at low load.
    private let inlineExecutor: Executor
    private let inlineLock = NSLock()
    private let finished = DispatchGroup()

    init(plan: Plan, label: String, maxQueueDelayMicros: Int, instances: Int, queueBoundRows: Int,
         preferredBatchSizes: [Int] = [], observer: (any BatchObserver)? = nil) {
        self.plan = plan
        self.label = label
        self.preferredBatchSizes = Array(Set(preferredBatchSizes.filter { $0 > 0 && $0 <= plan.maxRows })).sorted()
        self.observer = observer
        maxQueueDelayNanos = UInt64(max(0, maxQueueDelayMicros)) * 1000
        self.queueBoundRows = queueBoundRows
        inlineExecutor = Executor(plan: plan)
        for index in 0..<max(1, instances) {
            finished.enter()
            let thread = Thread { [self] in
                work(executor: Executor(plan: plan))
                finished.leave()
            }
            thread.name = "batcher \(label) #\(index)"
            thread.start()
        }
    }

    /// When a lone job may run at once on the submitting thread instead of being queued.
    public enum InlinePolicy: Sendable {
        /// When the model is idle (nothing queued or running) — for a caller that knows no
        /// other request is arriving with this one (the binary front's read bursts).
        case ifIdle
        /// When the model is idle and no request arrived within the batching delay.
        case ifQuiet
        /// Never: the submitter has other work (the HTTP decoder thread, with more bodies to read).
        case never
    }

    /// Queues a job, or refuses it at once when the queue is full; after `drainAndStop` a job
    /// is run on the caller's thread.
    public func submit(_ job: Job) {
        submit([job], inline: .ifQuiet)
    }

    /// Queues jobs that arrived together (one lock, one wake-up); a lone job may run inline.
    public func submit(_ jobs: [Job], inline policy: InlinePolicy) {
        let now = DispatchTime.now().uptimeNanoseconds
        condition.lock()
        if stopping {
            // A job can reach a batcher after its version was retired: it was routed just before
            // a reload swapped the version out (the soak benchmark saw about one in 400,000
            // requests refused that way). The version is still whole while a job references it,
            // so the job runs here, on the submitter's thread, one at a time: nothing that was
            // routed is refused by a reload.
            condition.unlock()
            inlineLock.lock()
            defer { inlineLock.unlock() }
            for job in jobs { run([job], on: inlineExecutor) }
            return
        }
        var refused: [(job: Job, queued: Int)] = []
        var accepted = 0
        for var job in jobs {
            guard queuedRows + job.rows <= queueBoundRows || queue.isEmpty else {
                refused.append((job, queuedRows))
                continue
            }
            // `now` was read before the lock: another submitter may have stamped a later time.
            job.enqueued = now
            job.gap = lastArrival == 0 ? .max : (now > lastArrival ? now - lastArrival : 0)
            lastArrival = max(lastArrival, now)
            let mayRunInline = switch policy {
            case .ifIdle: true
            case .ifQuiet: job.gap > maxQueueDelayNanos
            case .never: false
            }
            if jobs.count == 1, mayRunInline, queue.isEmpty, busyWorkers == 0, job.rows <= plan.maxRows, inlineLock.try() {
                condition.unlock()
                defer { inlineLock.unlock() }
                return run([job], on: inlineExecutor)
            }
            queue.append(job)
            queuedRows += job.rows
            accepted += 1
        }
        if accepted > 0 { condition.signal() }
        condition.unlock()
        for (job, queued) in refused {
            job.complete(.failure(ServingError(.resourceExhausted, "model \(label) has \(queued) rows queued (bound \(queueBoundRows)); retry later")))
        }
    }

    /// Requests waiting now (Triton's pending request count).
    public var queuedRequests: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }

    /// Rows waiting now (for metrics and tests).
    public var queueDepth: Int {
        condition.lock()
        defer { condition.unlock() }
        return queuedRows
    }

    /// Answers everything queued, then stops the workers; returns when they have exited. Jobs
    /// submitted later are still answered, on their submitter's thread.
    public func drainAndStop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        finished.wait()
    }

    private func work(executor: Executor) {
        while let batch = nextBatch() {
            run(batch, on: executor)
            condition.lock()
            busyWorkers -= 1
            condition.unlock()
        }
    }

    /// Waits for jobs and takes a batch: up to maxRows rows, after the oldest job has waited
    /// its delay (or at once when full or stopping). Nil when stopping with nothing left.
    private func nextBatch() -> [Job]? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !stopping { condition.wait() }
        if queue.isEmpty { return nil }
        // A lone request after a quiet spell runs at once: waiting only pays when others
        // are arriving (at low load the delay would be pure latency).
        let quiet = queue.count == 1 && queue[0].gap > maxQueueDelayNanos
        let closeAt = quiet ? 0 : queue[0].enqueued + maxQueueDelayNanos
        // With preferred sizes, a batch leaves as soon as the largest of them is queued.
        let preferredTarget = preferredBatchSizes.last ?? plan.maxRows
        while queuedRows < plan.maxRows && queuedRows < preferredTarget && !stopping {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < closeAt else { break }
            _ = condition.wait(until: Date(timeIntervalSinceNow: Double(closeAt - now) / 1e9))
        }
        // The largest preferred size that the queue can fill, else as many rows as fit.
        let target = preferredBatchSizes.last(where: { $0 <= queuedRows }) ?? plan.maxRows
        var batch: [Job] = []
        var rows = 0
        while let job = queue.first, batch.isEmpty || rows + job.rows <= target {
            queue.removeFirst()
            queuedRows -= job.rows
            rows += job.rows
            batch.append(job)
        }
        busyWorkers += 1
        return batch
    }

    private func run(_ jobs: [Job], on executor: Executor) {
        let now = DispatchTime.now().uptimeNanoseconds
        var live: [Job] = []
        for job in jobs {
            if job.cancellation?.isCancelled == true {
                observer?.jobCancelled(computed: false)
                job.complete(.failure(ServingError(.unavailable, "request to \(label) was cancelled by its client before it could run")))
            } else if let deadline = job.deadline, deadline < now {
                job.complete(.failure(ServingError(.deadlineExceeded, "request to \(label) waited past its deadline before it could run")))
            } else {
                observer?.jobStarted(queuedNanoseconds: now > job.enqueued ? now - job.enqueued : 0)
                live.append(job)
            }
        }
        guard !live.isEmpty else { return }
        // The batch was sized to fit plan.maxRows (a lone larger job runs in chunks).
        var computed: UInt64 = 0
        let outputs = executor.run(live.map(\.block)) { [observer] rows, nanoseconds in
            computed += nanoseconds
            observer?.batchRan(rows: rows, computeNanoseconds: nanoseconds)
        }
        observer?.jobsComputed(live.count, computeNanoseconds: computed)
        for (job, values) in zip(live, outputs) {
            if job.cancellation?.isCancelled == true { observer?.jobCancelled(computed: true) }
            finish(job, values)
        }
    }

    /// Completes a job with its outputs, unless one is not finite: an input far outside what
    /// the model saw can overflow float32 (3.4e38 gave +inf), and that is an error naming the
    /// output, not a prediction.
    private func finish(_ job: Job, _ outputs: [[Float]]) {
        for (slot, values) in outputs.enumerated() {
            guard let bad = values.firstIndex(where: { !$0.isFinite }) else { continue }
            let output = plan.outputs[job.block.outputs[slot]]
            job.complete(.failure(ServingError(.invalidArgument, "output '\(output.name)' row \(bad / output.width) is \(values[bad]): "
                                               + "an input is outside the range \(label) computes in float32")))
            return
        }
        job.complete(.success(outputs))
    }
}
