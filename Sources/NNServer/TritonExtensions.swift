import Foundation
import NNKServe
import SwiftProtobuf

/// Triton's model configuration and statistics extensions, built once for both fronts: the
/// `ModelConfig` and `ModelStatistics` RPCs answer these messages, and HTTP answers
/// `GET /v2/models/{m}/config` with the configuration's protobuf JSON (as Triton does) and
/// `GET /v2/models/{m}/stats` with the statistics as JSON numbers.
enum TritonExtensions {
    static let platform = "nnserve"

    /// What a model version serves: every input and output FP32 with a variable batch
    /// dimension (dims exclude it, as max_batch_size > 0 implies), the batcher's settings, one
    /// CPU instance group.
    static func config(of model: LoadedModel) -> Inference_ModelConfig {
        var config = Inference_ModelConfig()
        config.name = model.name
        config.platform = platform
        config.backend = platform
        config.maxBatchSize = Int32(clamping: model.plan.maxRows)
        config.input = model.plan.requestInputs.map { requested in
            var input = Inference_ModelInput()
            input.name = requested.name
            input.dataType = requested.datatype == .bytes ? .typeString : .typeFp32
            input.dims = [Int64(requested.width)]
            return input
        }
        config.output = model.plan.outputs.map { binding in
            var output = Inference_ModelOutput()
            output.name = binding.name
            output.dataType = .typeFp32
            output.dims = [Int64(binding.width)]
            return output
        }
        var batching = Inference_ModelDynamicBatching()
        batching.preferredBatchSize = model.settings.preferredBatchSizes.map { Int32(clamping: $0) }
        batching.maxQueueDelayMicroseconds = UInt64(max(0, model.settings.maxQueueDelayMicros))
        batching.defaultQueuePolicy.defaultTimeoutMicroseconds = UInt64(max(0, model.settings.defaultTimeoutMicros))
        batching.defaultQueuePolicy.allowTimeoutOverride = true
        batching.defaultQueuePolicy.maxQueueSize = UInt32(clamping: model.settings.queueBoundRows)
        config.dynamicBatching = batching
        var group = Inference_ModelInstanceGroup()
        group.name = model.name
        group.kind = .cpu
        group.count = Int32(clamping: model.settings.instances)
        config.instanceGroup = [group]
        switch model.settings.versionPolicy {
        case .latest(let count): config.versionPolicy.latest.numVersions = UInt32(clamping: count)
        case .all: config.versionPolicy.all = .init()
        case .specific(let versions): config.versionPolicy.specific.versions = versions.sorted().map(Int64.init)
        }
        return config
    }

    /// Protobuf JSON with the proto's field names, as Triton's HTTP config endpoint writes it.
    static func configJSON(of model: LoadedModel) -> [UInt8] {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        return Array(((try? config(of: model).jsonString(options: options)) ?? "{}").utf8)
    }

    static func statistics(of model: LoadedModel) -> Inference_ModelStatistics {
        let snapshot = model.metrics.statistics.snapshot
        func duration(_ value: InferenceStatistics.Duration) -> Inference_StatisticDuration {
            var duration = Inference_StatisticDuration()
            duration.count = value.count
            duration.ns = value.nanoseconds
            return duration
        }
        var statistics = Inference_ModelStatistics()
        statistics.name = model.name
        statistics.version = String(model.version)
        statistics.lastInference = snapshot.lastInferenceMilliseconds
        statistics.inferenceCount = snapshot.inferenceCount
        statistics.executionCount = snapshot.executionCount
        statistics.inferenceStats.success = duration(snapshot.success)
        statistics.inferenceStats.fail = duration(snapshot.fail)
        statistics.inferenceStats.queue = duration(snapshot.queue)
        statistics.inferenceStats.computeInfer = duration(snapshot.computeInfer)
        statistics.inferenceStats.computeInput = duration(.init(count: snapshot.computeInfer.count, nanoseconds: 0))
        statistics.inferenceStats.computeOutput = duration(.init(count: snapshot.computeInfer.count, nanoseconds: 0))
        return statistics
    }

    /// `{"model_stats": [...]}` with every count and duration a JSON number.
    static func statisticsJSON(_ models: [LoadedModel]) -> [UInt8] {
        var writer = JSONWriter()
        writer.raw("{")
        writer.key("model_stats")
        writer.array(models) { writer, model in
            let stats = statistics(of: model)
            writer.raw("{")
            writer.member("name", stats.name, first: true)
            writer.member("version", stats.version)
            for (key, value) in [("last_inference", stats.lastInference), ("inference_count", stats.inferenceCount),
                                 ("execution_count", stats.executionCount)] {
                writer.raw(",")
                writer.string(key)
                writer.raw(":")
                writer.integer(value)
            }
            writer.raw(",")
            writer.key("inference_stats")
            writer.raw("{")
            let inference = stats.inferenceStats
            let durations = [("success", inference.success), ("fail", inference.fail), ("queue", inference.queue),
                             ("compute_input", inference.computeInput), ("compute_infer", inference.computeInfer),
                             ("compute_output", inference.computeOutput)]
            for (index, (key, value)) in durations.enumerated() {
                if index > 0 { writer.raw(",") }
                writer.string(key)
                writer.raw(":{\"count\":")
                writer.integer(value.count)
                writer.raw(",\"ns\":")
                writer.integer(value.ns)
                writer.raw("}")
            }
            writer.raw("},\"batch_stats\":[]}")
        }
        writer.raw("}")
        return writer.bytes
    }
}
