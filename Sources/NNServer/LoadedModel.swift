import Dispatch
import NNCore
import NNFormat
import NNInference
import Synchronization

/// One version of one model, loaded, self-tested and compiled; immutable and shared by its
/// batcher's instances. A version is swapped as a whole, never edited.
public final class LoadedModel: Sendable {
    public let name: String
    public let version: Int
    public let file: ModelFile
    public let plan: Plan
    public let batcher: DynamicBatcher
    let metrics: ModelMetrics
    /// Timeout for requests that carry none (config.pbtxt `default_timeout_micros`; 0: none).
    let defaultTimeoutMicros: Int64
    /// The serving settings it was loaded with (config.pbtxt merged with the defaults).
    let settings: ModelSettings
    /// What its raw columns receive, for a model taking raw rows.
    let columns: ColumnMonitor?
    /// Memory it holds, counted from its buffers: the file's tensors, the plan's constants,
    /// one arena per executor (the batcher's instances and its inline executor) and the column
    /// windows. What `--memory-budget` is spent in.
    let residentBytes: Int
    /// Uptime nanoseconds of the last request routed to it: who is evicted first.
    let lastUsed = Atomic<UInt64>(0)

    init(name: String, version: Int, served: ServedModel, settings: ModelSettings, metrics: ModelMetrics, driftWindowRows: Int) {
        self.name = name
        self.defaultTimeoutMicros = settings.defaultTimeoutMicros
        self.settings = settings
        self.version = version
        self.metrics = metrics
        file = served.file
        plan = served.plan
        columns = ColumnMonitor(plan: plan, windowRows: driftWindowRows)
        let executors = max(1, settings.instances) + 1
        residentBytes = file.tensorBytes + plan.constantBytes + executors * plan.arenaFloats * MemoryLayout<Float>.size
            + (columns?.windowBytes ?? 0)
        lastUsed.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
        batcher = DynamicBatcher(plan: plan, label: "\(name) v\(version)", maxQueueDelayMicros: settings.maxQueueDelayMicros,
                                 instances: settings.instances, queueBoundRows: settings.queueBoundRows,
                                 preferredBatchSizes: settings.preferredBatchSizes, observer: metrics)
    }

    /// Metadata for the wire.
    func metadata(versions: [Int]) -> Nnserve_MetadataResponse {
        var response = Nnserve_MetadataResponse()
        response.model = name
        response.versions = versions.map(Int64.init)
        response.inputs = file.graph.inputs.filter(\.columns.isEmpty).map { input in
            var info = Nnserve_TensorInfo()
            info.name = input.name
            info.width = Int64(input.width)
            info.featureNames = input.featureNames
            return info
        }
        response.columns = plan.requestInputs.compactMap(\.column).map { column in
            var info = Nnserve_ColumnInfo()
            info.name = column.name
            info.kind = column.kindName
            info.categories = Int64(column.categoryCount)
            return info
        }
        response.outputs = zip(plan.outputs, file.graph.outputs).map { output, graphOutput in
            var info = Nnserve_TensorInfo()
            info.name = output.name
            info.width = Int64(output.width)
            info.labels = graphOutput.labels
            return info
        }
        response.maxBatchSize = Int32(plan.maxRows)
        return response
    }
}

extension LoadedModel {
    /// A request was routed to it now.
    func touch() {
        lastUsed.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
    }

    /// The uptime deadline of a request that arrived at `arrived` (uptime nanoseconds) and
    /// asked for `micros` (0: none, so the model's `default_timeout_micros` applies); nil for
    /// no deadline, also for one beyond a year, which no request waits for. Counted from
    /// arrival: time spent waiting for the model's load is part of it.
    func deadline(requestedMicros micros: Int64, arrived: UInt64) -> UInt64? {
        let chosen = micros > 0 ? micros : defaultTimeoutMicros
        guard chosen > 0, chosen < 365 * 86_400 * 1_000_000 else { return nil }
        return arrived + UInt64(chosen) * 1000
    }
}
