import CoreMetrics
import Prometheus

/// The metric handles of one model version, made at load so that recording a request needs
/// no registry lookup and no allocation (counters are atomic adds; swift-prometheus
/// histograms take a short lock per observation) — except the per-protocol request series,
/// made on their first use (`RequestSeries`).
public final class ModelMetrics: Sendable {
    private let requests: RequestSeries
    let rows: CoreMetrics.Counter
    let batchSize: CoreMetrics.Recorder
    let queueTime: CoreMetrics.Timer
    let computeTime: CoreMetrics.Timer
    let queueDepth: CoreMetrics.Gauge
    /// Calls their client cancelled: skipped before computing, and computed all the same
    /// (cancelled while their batch ran).
    let cancelledSkipped: CoreMetrics.Counter
    let cancelledComputed: CoreMetrics.Counter
    /// The same events as Triton's statistics extension counts them.
    let statistics = InferenceStatistics()

    init(model: String, version: Int, factory: PrometheusMetricsFactory) {
        let labels = [("model", model), ("version", String(version))]
        requests = RequestSeries(labels: labels, factory: factory)
        rows = CoreMetrics.Counter(label: MetricName.rows, dimensions: labels, factory: factory)
        batchSize = CoreMetrics.Recorder(label: MetricName.batchSize, dimensions: labels, aggregate: true, factory: factory)
        queueTime = CoreMetrics.Timer(label: MetricName.queueDuration, dimensions: labels, factory: factory)
        computeTime = CoreMetrics.Timer(label: MetricName.computeDuration, dimensions: labels, factory: factory)
        queueDepth = CoreMetrics.Gauge(label: MetricName.queueDepth, dimensions: labels, factory: factory)
        cancelledSkipped = CoreMetrics.Counter(label: MetricName.cancelledRequests, dimensions: labels + [("stage", "queued")], factory: factory)
        cancelledComputed = CoreMetrics.Counter(label: MetricName.cancelledRequests, dimensions: labels + [("stage", "computing")], factory: factory)
    }

    /// A request answered (or refused) after `nanoseconds`, end to end inside the server.
    func requestFinished(_ front: RequestProtocol, _ outcome: RequestOutcome, nanoseconds: UInt64) {
        requests.record(front, outcome, nanoseconds: nanoseconds)
        statistics.requestFinished(outcome, nanoseconds: nanoseconds)
    }

    /// Removes this version's series (it was unloaded).
    func destroy() {
        requests.destroy()
        rows.destroy()
        batchSize.destroy()
        queueTime.destroy()
        computeTime.destroy()
        queueDepth.destroy()
        cancelledSkipped.destroy()
        cancelledComputed.destroy()
    }
}

extension ModelMetrics: BatchObserver {
    func batchRan(rows count: Int, computeNanoseconds: UInt64) {
        rows.increment(by: count)
        batchSize.record(count)
        computeTime.recordNanoseconds(Int64(clamping: computeNanoseconds))
        statistics.batchRan(rows: count)
    }

    func jobStarted(queuedNanoseconds: UInt64) {
        queueTime.recordNanoseconds(Int64(clamping: queuedNanoseconds))
        statistics.jobStarted(queuedNanoseconds: queuedNanoseconds)
    }

    func jobsComputed(_ jobs: Int, computeNanoseconds: UInt64) {
        statistics.jobsComputed(jobs, computeNanoseconds: computeNanoseconds)
    }

    func jobCancelled(computed: Bool) {
        (computed ? cancelledComputed : cancelledSkipped).increment()
    }
}

extension RequestOutcome {
    /// Position in `allCases` (a switch: `allCases` would build an array per call).
    var index: Int {
        switch self {
        case .ok: 0
        case .invalidArgument: 1
        case .notFound: 2
        case .resourceExhausted: 3
        case .deadlineExceeded: 4
        case .unavailable: 5
        case .internal: 6
        }
    }
}

extension RequestProtocol {
    var index: Int {
        switch self {
        case .binary: 0
        case .http: 1
        case .grpc: 2
        }
    }
}
