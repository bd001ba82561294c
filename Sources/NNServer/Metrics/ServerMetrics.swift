import CoreMetrics
import Foundation
import NIOConcurrencyHelpers
import Prometheus

/// The server's metrics: recorded through the swift-metrics API, exported in the Prometheus
/// text format by swift-prometheus. Each server has its own registry (no global bootstrap),
/// so several servers can live in one process (tests).
public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    private let unrouted: [CoreMetrics.Counter]
    private let connections: [CoreMetrics.Gauge]
    private let refused: [CoreMetrics.Counter]
    private let slowClients: [CoreMetrics.Counter]
    private let reclaimed: [CoreMetrics.Counter]
    private let abusive: [AbuseReason: CoreMetrics.Counter]
    private let openConnectionCounts = NIOLockedValueBox([Int](repeating: 0, count: Front.allCases.count))
    private let httpResponses = NIOLockedValueBox([Int: CoreMetrics.Counter]())
    /// Counters of the statuses the server sends, made once: no lock per response.
    private let commonResponses: [Int: CoreMetrics.Counter]
    private let process: ProcessGauges
    private let loadedVersions = NIOLockedValueBox([String: CoreMetrics.Gauge]())
    private let memoryGauges = NIOLockedValueBox([VersionKey: CoreMetrics.Gauge]())
    private let budget: CoreMetrics.Gauge
    private let residentModelBytes: CoreMetrics.Gauge
    private let loads: [ModelLoadOutcome: CoreMetrics.Counter]
    private let loadDuration: CoreMetrics.Timer
    private let evictions: CoreMetrics.Counter
    private let loadQueueRefusals: CoreMetrics.Counter

    /// How a model version's load ended.
    enum ModelLoadOutcome: String, CaseIterable {
        case loaded, refused
    }

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Requests take tens of microseconds; Prometheus' default buckets start at 5 ms.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250),
            .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
        ]
        factory.valueHistogramBuckets[MetricName.batchSize] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096]
        self.factory = factory
        unrouted = RequestProtocol.allCases.map {
            CoreMetrics.Counter(label: MetricName.unroutedRequests, dimensions: [("protocol", $0.rawValue)], factory: factory)
        }
        connections = Front.allCases.map {
            CoreMetrics.Gauge(label: MetricName.openConnections, dimensions: [("protocol", $0.rawValue)], factory: factory)
        }
        refused = Front.allCases.map {
            CoreMetrics.Counter(label: MetricName.refusedConnections, dimensions: [("protocol", $0.rawValue)], factory: factory)
        }
        slowClients = Front.allCases.map {
            CoreMetrics.Counter(label: MetricName.closedSlowClients, dimensions: [("protocol", $0.rawValue)], factory: factory)
        }
        reclaimed = Front.allCases.map {
            CoreMetrics.Counter(label: MetricName.reclaimedConnections, dimensions: [("protocol", $0.rawValue)], factory: factory)
        }
        abusive = Dictionary(uniqueKeysWithValues: AbuseReason.allCases.map { reason in
            (reason, CoreMetrics.Counter(label: MetricName.closedAbusiveClients, dimensions: [("reason", reason.rawValue)], factory: factory))
        })
        process = ProcessGauges(factory: factory)
        budget = CoreMetrics.Gauge(label: MetricName.memoryBudget, factory: factory)
        residentModelBytes = CoreMetrics.Gauge(label: MetricName.residentModelMemory, factory: factory)
        loads = Dictionary(uniqueKeysWithValues: ModelLoadOutcome.allCases.map { outcome in
            (outcome, CoreMetrics.Counter(label: MetricName.modelLoads, dimensions: [("outcome", outcome.rawValue)], factory: factory))
        })
        loadDuration = CoreMetrics.Timer(label: MetricName.modelLoadDuration, factory: factory)
        evictions = CoreMetrics.Counter(label: MetricName.modelEvictions, factory: factory)
        loadQueueRefusals = CoreMetrics.Counter(label: MetricName.loadQueueFull, factory: factory)
        commonResponses = Dictionary(uniqueKeysWithValues: [200, 400, 404, 405, 500, 503, 504].map { status in
            (status, CoreMetrics.Counter(label: MetricName.httpResponses, dimensions: [("code", String(status))], factory: factory))
        })
    }

    func modelMetrics(name: String, version: Int) -> ModelMetrics {
        ModelMetrics(model: name, version: version, factory: factory)
    }

    func modelLoadFinished(_ outcome: ModelLoadOutcome, nanoseconds: UInt64) {
        loads[outcome]?.increment()
        loadDuration.recordNanoseconds(Int64(clamping: nanoseconds))
    }

    func modelEvicted() { evictions.increment() }
    func loadQueueFull() { loadQueueRefusals.increment() }

    func unroutedRequest(_ front: RequestProtocol) {
        unrouted[front.index].increment()
    }

    func connectionOpened(_ front: Front) { adjustConnections(front, by: 1) }
    func connectionRefused(_ front: Front) { refused[front.index].increment() }
    func slowClientClosed(_ front: Front) { slowClients[front.index].increment() }
    func idleConnectionReclaimed(_ front: Front) { reclaimed[front.index].increment() }
    func abusiveClientClosed(_ reason: AbuseReason) { abusive[reason]?.increment() }
    func connectionClosed(_ front: Front) { adjustConnections(front, by: -1) }

    private func adjustConnections(_ front: Front, by delta: Int) {
        // Recorded under the lock, so two threads cannot leave an older count in the gauge.
        openConnectionCounts.withLockedValue { counts in
            counts[front.index] += delta
            connections[front.index].record(counts[front.index])
        }
    }

    func httpResponse(status: Int) {
        if let counter = commonResponses[status] { return counter.increment() }
        let counter = httpResponses.withLockedValue { counters in
            if let counter = counters[status] { return counter }
            let counter = CoreMetrics.Counter(label: MetricName.httpResponses, dimensions: [("code", String(status))], factory: factory)
            counters[status] = counter
            return counter
        }
        counter.increment()
    }

    /// The exposition text: gauges read now (queue depths, loaded versions, process), then
    /// every family with its help line.
    public func exposition(store: ModelStore) -> [UInt8] {
        let served = store.servedModels()
        let onDemand = store.memoryBudgetBytes != nil
        loadedVersions.withLockedValue { gauges in
            for name in Set(gauges.keys).union(served.keys) {
                // Serving on demand, a model with nothing resident loses its series: thousands of
                // models would otherwise leave thousands of zeros.
                if onDemand, served[name] == nil {
                    gauges.removeValue(forKey: name)?.destroy()
                    continue
                }
                let gauge = gauges[name] ?? CoreMetrics.Gauge(label: MetricName.loadedVersions, dimensions: [("model", name)], factory: factory)
                gauges[name] = gauge
                gauge.record(served[name]?.count ?? 0)
            }
        }
        for model in served.values.joined() {
            model.metrics.queueDepth.record(model.batcher.queueDepth)
        }
        recordMemory(served, budget: store.memoryBudgetBytes)
        process.update(ProcessStatistics.read())
        var text: [UInt8] = []
        registry.emit(into: &text)
        text = MetricName.addingHelp(to: text)
        text += ColumnMetricFamily.exposition(served)
        if store.configuration.metricsCompat.contains(.triton) { text += TritonMetricFamily.exposition(served) }
        return text
    }
}

extension ServerMetrics {
    /// Each resident version's bytes (a version no longer resident loses its series), their
    /// sum and the budget.
    private func recordMemory(_ served: [String: [LoadedModel]], budget: Int?) {
        let resident = Dictionary(served.values.joined().map { (VersionKey(name: $0.name, version: $0.version), $0.residentBytes) },
                                  uniquingKeysWith: { first, _ in first })
        memoryGauges.withLockedValue { gauges in
            for (key, gauge) in gauges where resident[key] == nil {
                gauge.destroy()
                gauges[key] = nil
            }
            for (key, bytes) in resident {
                let gauge = gauges[key] ?? CoreMetrics.Gauge(label: MetricName.modelMemory, dimensions: [("model", key.name), ("version", String(key.version))],
                                                             factory: factory)
                gauges[key] = gauge
                gauge.record(bytes)
            }
        }
        residentModelBytes.record(resident.values.reduce(0, +))
        self.budget.record(budget ?? 0)
    }
}

/// process_* gauges; the CPU counter advances by the difference since the last scrape.
private final class ProcessGauges: Sendable {
    let resident: CoreMetrics.Gauge
    let virtual: CoreMetrics.Gauge
    let cpu: CoreMetrics.FloatingPointCounter
    let descriptors: CoreMetrics.Gauge
    let start: CoreMetrics.Gauge
    private let cpuReported = NIOLockedValueBox(0.0)

    init(factory: PrometheusMetricsFactory) {
        resident = CoreMetrics.Gauge(label: MetricName.residentMemory, factory: factory)
        virtual = CoreMetrics.Gauge(label: MetricName.virtualMemory, factory: factory)
        cpu = CoreMetrics.FloatingPointCounter(label: MetricName.cpuSeconds, factory: factory)
        descriptors = CoreMetrics.Gauge(label: MetricName.openFileDescriptors, factory: factory)
        start = CoreMetrics.Gauge(label: MetricName.startTime, factory: factory)
    }

    func update(_ statistics: ProcessStatistics) {
        resident.record(statistics.residentBytes)
        virtual.record(statistics.virtualBytes)
        descriptors.record(statistics.openFileDescriptors)
        start.record(statistics.startTimeSeconds)
        let delta = cpuReported.withLockedValue { reported -> Double in
            let delta = max(0, statistics.cpuSeconds - reported)
            reported += delta
            return delta
        }
        if delta > 0 { cpu.increment(by: delta) }
    }
}
