/// Metric families another server's dashboards and autoscaling rules read, exposed beside
/// nnserve's own (`--metrics-compat`).
public enum MetricsCompatibility: String, CaseIterable, Sendable {
    /// Triton's `nv_inference_*` per-model counters.
    case triton
}

/// `--metrics-compat triton`: Triton's per-model metric names, types and units (its metrics
/// documentation: counters of requests, inferences and executions, cumulative durations in
/// microseconds, labels `model` and `version`, failures also `reason`), so dashboards and
/// autoscaling rules written for Triton read nnserve unchanged. Derived at each scrape from the
/// same `InferenceStatistics` Triton's statistics extension reports; nothing more is recorded
/// per request. nnserve has no separate input and output steps: their durations stay 0, as
/// `/stats` reports them.
enum TritonMetricFamily {
    private typealias Model = (name: String, version: Int, statistics: InferenceStatistics.Snapshot, pending: Int)

    private static let counters: [(name: String, help: String, value: @Sendable (InferenceStatistics.Snapshot) -> UInt64)] = [
        ("nv_inference_request_success", "Number of successful inference requests, all batch sizes", { $0.success.count }),
        ("nv_inference_count", "Number of inferences performed (does not include cached requests)", { $0.inferenceCount }),
        ("nv_inference_exec_count", "Number of model executions performed (does not include cached requests)", { $0.executionCount }),
        ("nv_inference_request_duration_us", "Cumulative inference request duration in microseconds (includes cached requests)",
         { ($0.success.nanoseconds &+ $0.fail.nanoseconds) / 1000 }),
        ("nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds (includes cached requests)", { $0.queue.nanoseconds / 1000 }),
        ("nv_inference_compute_input_duration_us", "Cumulative compute input duration in microseconds (does not include cached requests)", { _ in 0 }),
        ("nv_inference_compute_infer_duration_us", "Cumulative compute inference duration in microseconds (does not include cached requests)",
         { $0.computeInfer.nanoseconds / 1000 }),
        ("nv_inference_compute_output_duration_us", "Cumulative inference compute output duration in microseconds (does not include cached requests)", { _ in 0 }),
    ]

    static func exposition(_ served: [String: [LoadedModel]]) -> [UInt8] {
        let models: [Model] = served.keys.sorted().flatMap { name in
            served[name]!.sorted { $0.version < $1.version }.map { model in
                (name, model.version, model.metrics.statistics.snapshot, model.batcher.queuedRequests)
            }
        }
        var text = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: UInt64)]) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples { text += "\(name){\(sample.labels)} \(sample.value)\n" }
        }
        func labels(_ model: Model) -> String { "model=\"\(MetricName.escapedLabel(model.name))\",version=\"\(model.version)\"" }
        let first = counters[0]
        family(first.name, "counter", first.help, models.map { (labels($0), first.value($0.statistics)) })
        family("nv_inference_request_failure", "counter", "Number of failed inference requests, all batch sizes",
               models.flatMap { model in
                   let reasons = model.statistics.failReasons
                   return [("REJECTED", reasons.rejected), ("CANCELED", reasons.canceled), ("BACKEND", reasons.backend), ("OTHER", reasons.other)]
                       .map { ("\(labels(model)),reason=\"\($0.0)\"", $0.1) }
               })
        for counter in counters.dropFirst() {
            family(counter.name, "counter", counter.help, models.map { (labels($0), counter.value($0.statistics)) })
        }
        family("nv_inference_pending_request_count", "gauge", "Instantaneous number of pending requests awaiting execution per-model.",
               models.map { (labels($0), UInt64($0.pending)) })
        return Array(text.utf8)
    }
}
