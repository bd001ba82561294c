import CoreMetrics
import Prometheus
import Synchronization

/// One version's `nnserve_requests_total` (per protocol and outcome) and
/// `nnserve_request_duration_seconds` (per protocol) series, each made on its first request.
///
/// Why not all 24 at load: swift-prometheus' registry copies a metric family's whole table of
/// series to add one, so registering is linear in the series of that name. 24 series per
/// version made loading 2,000 versions quadratic (61 s at start, mostly copying; half of each
/// load under `--memory-budget`). A version typically sees one protocol and one or two
/// outcomes. After its first use a series costs one uncontended lock to find.
final class RequestSeries: Sendable {
    private struct Series {
        var counters = [CoreMetrics.Counter?](repeating: nil, count: RequestProtocol.allCases.count * RequestOutcome.allCases.count)
        var timers = [CoreMetrics.Timer?](repeating: nil, count: RequestProtocol.allCases.count)
        /// After `destroy`, nothing is made again: a late request of a retired version must
        /// not bring its series back.
        var destroyed = false
    }

    private static let outcomeCount = RequestOutcome.allCases.count
    private let labels: [(String, String)]
    private let factory: PrometheusMetricsFactory
    private let series = Mutex(Series())

    init(labels: [(String, String)], factory: PrometheusMetricsFactory) {
        self.labels = labels
        self.factory = factory
    }

    func record(_ front: RequestProtocol, _ outcome: RequestOutcome, nanoseconds: UInt64) {
        let (counter, timer) = series.withLock { series -> (CoreMetrics.Counter?, CoreMetrics.Timer?) in
            let slot = front.index * Self.outcomeCount + outcome.index
            if series.destroyed { return (nil, nil) }
            if series.counters[slot] == nil {
                series.counters[slot] = CoreMetrics.Counter(label: MetricName.requests,
                                                            dimensions: labels + [("protocol", front.rawValue), ("outcome", outcome.rawValue)],
                                                            factory: factory)
            }
            if series.timers[front.index] == nil {
                series.timers[front.index] = CoreMetrics.Timer(label: MetricName.requestDuration, dimensions: labels + [("protocol", front.rawValue)],
                                                               factory: factory)
            }
            return (series.counters[slot], series.timers[front.index])
        }
        counter?.increment()
        timer?.recordNanoseconds(Int64(clamping: nanoseconds))
    }

    func destroy() {
        series.withLock { series in
            series.destroyed = true
            for counter in series.counters { counter?.destroy() }
            for timer in series.timers { timer?.destroy() }
        }
    }
}
