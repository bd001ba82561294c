import Foundation
import NNInference

/// An inference request as every front hands it to the serving core, decoded from its wire
/// form and not yet checked against a model (the model it names is routed first).
struct InferenceRequest: Sendable {
    enum Inputs: Sendable {
        /// FP32 rows as the binary protocol carries them (`Plan.rowBlock` checks their shapes).
        case rows([NamedInput])
        case tensors([TensorView])
        /// Little-endian FP32 rows of the model's one input, as many as the bytes hold (the
        /// HTTP raw binary request, `Inference-Header-Content-Length: 0`).
        case onlyInputRows(Data)
    }

    /// One output the client asked for, and whether it wants it as raw little-endian bytes
    /// (HTTP's binary tensor data, gRPC's `raw_output_contents`); nil: the request's default.
    struct Output: Sendable {
        var name: String
        var raw: Bool?
        /// Triton's `classification` parameter: the top classes as "score:index" strings
        /// instead of the values (0: the values).
        var classCount: Int64 = 0
    }

    var id: String?
    var inputs: Inputs
    /// Outputs to return; empty: all of them.
    var outputs: [Output] = []
    /// Whether outputs are sent raw unless they say otherwise.
    var rawByDefault = false
    /// Microseconds the client allows: the tighter of the request's `timeout` parameter and
    /// the transport's deadline (gRPC's `grpc-timeout`); 0: the model's default.
    var timeoutMicros: Int64 = 0
    /// Set when the client gives up on the call: not computed if not started.
    var cancellation: CallCancellation?
    /// Triton's scheduling parameters: `priority` (0: the default) and a sequence (`sequence_id`,
    /// for stateful models), as the request set them.
    var priority: Int64 = 0
    var sequence: String?

    /// The tighter of two client timeouts, either of which may be 0 (none).
    static func tighter(_ first: Int64, _ second: Int64) -> Int64 {
        [first, second].filter { $0 > 0 }.min() ?? 0
    }
}

/// A computed answer, which each front encodes in its wire form (on the executor's thread, so
/// the event loop only sends bytes).
struct InferenceAnswer: Sendable {
    let model: LoadedModel
    let prepared: RowBlock
    /// One array per returned output, in `prepared.outputs` order.
    let values: [[Float]]
    let id: String?
    /// What the request said about raw outputs (kept as asked: nothing is built per request
    /// for a front that has no raw form).
    let rawByDefault: Bool
    let requestedOutputs: [InferenceRequest.Output]

    /// Whether the returned output at `slot` goes as raw little-endian bytes.
    func isRaw(_ slot: Int) -> Bool {
        slot < requestedOutputs.count ? requestedOutputs[slot].raw ?? rawByDefault : rawByDefault
    }

    /// The classes asked for the output at `slot` (`Classification`), or nil for its values.
    func classes(_ slot: Int) -> [String]? {
        guard slot < requestedOutputs.count, requestedOutputs[slot].classCount > 0 else { return nil }
        let binding = model.plan.outputs[prepared.outputs[slot]]
        return Classification.top(Int(clamping: requestedOutputs[slot].classCount), of: values[slot], rows: rows, width: binding.width,
                                  labels: model.file.graph.outputs[prepared.outputs[slot]].labels)
    }

    /// The returned outputs, in order: the plan's binding and its values.
    var outputs: some Collection<(binding: Plan.Binding, values: [Float])> {
        zip(prepared.outputs, values).lazy.map { (model.plan.outputs[$0], $1) }
    }

    var rows: Int { prepared.rows }
}
