import Foundation
import Synchronization

/// One model version's cumulative counts and durations as Triton's statistics extension
/// reports them (`GET /v2/models/{m}/stats`, the `ModelStatistics` RPC): requests that
/// succeeded and failed (end to end inside the server), time in the queue and in compute per
/// request (a request is charged its whole batch's compute, as Triton does), rows inferred and
/// batches executed. Atomic adds: recording allocates nothing and takes no lock.
final class InferenceStatistics: Sendable {
    /// A count and the nanoseconds it took in total.
    struct Duration: Equatable {
        var count: UInt64
        var nanoseconds: UInt64
    }

    /// Failed requests by Triton's `reason` label of `nv_inference_request_failure`.
    struct FailureReasons: Equatable {
        /// Refused by the queue: full, or past the request's deadline.
        var rejected: UInt64 = 0
        /// Cancelled by the client before it ran.
        var canceled: UInt64 = 0
        /// The computation failed.
        var backend: UInt64 = 0
        /// Anything else: a request the model refused (wrong inputs, unknown output).
        var other: UInt64 = 0
    }

    struct Snapshot: Equatable {
        var success: Duration
        var fail: Duration
        var failReasons: FailureReasons
        var queue: Duration
        var computeInfer: Duration
        var inferenceCount: UInt64
        var executionCount: UInt64
        /// Milliseconds since 1970 of the last successful request; 0 for none.
        var lastInferenceMilliseconds: UInt64
    }

    private let successCount = Atomic<UInt64>(0), successNanoseconds = Atomic<UInt64>(0)
    private let failCount = Atomic<UInt64>(0), failNanoseconds = Atomic<UInt64>(0)
    private let rejected = Atomic<UInt64>(0), canceled = Atomic<UInt64>(0), backend = Atomic<UInt64>(0), other = Atomic<UInt64>(0)
    private let queueCount = Atomic<UInt64>(0), queueNanoseconds = Atomic<UInt64>(0)
    private let computeCount = Atomic<UInt64>(0), computeNanoseconds = Atomic<UInt64>(0)
    private let rows = Atomic<UInt64>(0), batches = Atomic<UInt64>(0)
    private let lastInference = Atomic<UInt64>(0)

    func requestFinished(_ outcome: RequestOutcome, nanoseconds: UInt64) {
        if outcome == .ok {
            successCount.add(1, ordering: .relaxed)
            successNanoseconds.add(nanoseconds, ordering: .relaxed)
            lastInference.store(UInt64(max(0, Date().timeIntervalSince1970 * 1000)), ordering: .relaxed)
        } else {
            failCount.add(1, ordering: .relaxed)
            failNanoseconds.add(nanoseconds, ordering: .relaxed)
            switch outcome {
            case .resourceExhausted, .deadlineExceeded: rejected.add(1, ordering: .relaxed)
            // The batcher's only UNAVAILABLE: a job its client cancelled before it ran.
            case .unavailable: canceled.add(1, ordering: .relaxed)
            case .internal: backend.add(1, ordering: .relaxed)
            case .ok, .invalidArgument, .notFound: other.add(1, ordering: .relaxed)
            }
        }
    }

    func jobStarted(queuedNanoseconds: UInt64) {
        queueCount.add(1, ordering: .relaxed)
        queueNanoseconds.add(queuedNanoseconds, ordering: .relaxed)
    }

    func batchRan(rows count: Int) {
        rows.add(UInt64(count), ordering: .relaxed)
        batches.add(1, ordering: .relaxed)
    }

    func jobsComputed(_ jobs: Int, computeNanoseconds nanoseconds: UInt64) {
        computeCount.add(UInt64(jobs), ordering: .relaxed)
        computeNanoseconds.add(UInt64(jobs) &* nanoseconds, ordering: .relaxed)
    }

    var snapshot: Snapshot {
        Snapshot(success: Duration(count: successCount.load(ordering: .relaxed), nanoseconds: successNanoseconds.load(ordering: .relaxed)),
                 fail: Duration(count: failCount.load(ordering: .relaxed), nanoseconds: failNanoseconds.load(ordering: .relaxed)),
                 failReasons: FailureReasons(rejected: rejected.load(ordering: .relaxed), canceled: canceled.load(ordering: .relaxed),
                                             backend: backend.load(ordering: .relaxed), other: other.load(ordering: .relaxed)),
                 queue: Duration(count: queueCount.load(ordering: .relaxed), nanoseconds: queueNanoseconds.load(ordering: .relaxed)),
                 computeInfer: Duration(count: computeCount.load(ordering: .relaxed), nanoseconds: computeNanoseconds.load(ordering: .relaxed)),
                 inferenceCount: rows.load(ordering: .relaxed), executionCount: batches.load(ordering: .relaxed),
                 lastInferenceMilliseconds: lastInference.load(ordering: .relaxed))
    }
}
