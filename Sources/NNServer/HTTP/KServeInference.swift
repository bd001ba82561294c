import Dispatch
import NIOCore
import NIOHTTP1
import NNInference

/// POST v2/models/{name}[/versions/{v}]/infer: JSON or binary tensor data in, through the
/// model's batcher, JSON or binary tensor data out.
extension KServeEndpoints {
    func infer(_ reference: ModelReference, _ request: Request, on eventLoop: any EventLoop) -> EventLoopFuture<HTTPReply> {
        let arrived = DispatchTime.now().uptimeNanoseconds
        let model: LoadedModel, call: InferenceCall
        do {
            model = try store.route(reference.name, version: reference.version, from: .http)
        } catch {
            return eventLoop.makeSucceededFuture(.error(error))
        }
        do {
            call = try InferenceCall(request, model: model, limits: PredictLimits(configuration))
        } catch {
            model.metrics.requestFinished(.http, RequestOutcome(error.code), nanoseconds: DispatchTime.now().uptimeNanoseconds - arrived)
            return eventLoop.makeSucceededFuture(.error(error))
        }
        let promise = eventLoop.makePromise(of: HTTPReply.self)
        let requestLog = store.requestLog
        model.predict(call.prepared, deadline: model.deadline(requestedMicros: call.timeoutMicros)) { result in
            if case .success(let values) = result { requestLog?.record(model: model, prepared: call.prepared, values: values) }
            // Written here, on the executor's thread, so the event loop only sends bytes.
            let reply = switch result {
            case .success(let values):
                InferenceReply.make(model: model, prepared: call.prepared, id: call.id, values: values, binary: call.binaryOutputs)
            case .failure(let error):
                HTTPReply.error(error)
            }
            model.metrics.requestFinished(.http, result.outcome, nanoseconds: DispatchTime.now().uptimeNanoseconds - arrived)
            promise.succeed(reply)
        }
        return promise.futureResult
    }
}

/// An inference request parsed and checked against its model.
struct InferenceCall: Sendable {
    var prepared: RowBlock
    var id: String?
    var timeoutMicros: Int64 = 0
    /// Per returned output (in `prepared.outputs` order): send it as binary tensor data?
    var binaryOutputs: [Bool]

    init(_ request: KServeEndpoints.Request, model: LoadedModel, limits: PredictLimits) throws(ServingError) {
        let body = request.body.readableBytesView
        let headerField = request.headers.first(name: InferenceReply.binaryHeaderLength)
        guard let headerField else {
            try self.init(json: InferenceRequestBody.decode(body), binary: [], model: model, limits: limits)
            return
        }
        guard let headerLength = Int(headerField), headerLength >= 0, headerLength <= body.count else {
            throw ServingError(.invalidArgument, "header \(InferenceReply.binaryHeaderLength) is '\(headerField)'; expected a byte count of at most the body's \(body.count)")
        }
        if headerLength == 0 {
            try self.init(rawInput: Array(body), model: model, limits: limits)
            return
        }
        let json = body.prefix(headerLength)
        let binary = Array(body.dropFirst(headerLength))
        try self.init(json: InferenceRequestBody.decode(json), binary: binary, model: model, limits: limits)
    }

    private init(json: InferenceRequestBody, binary: [UInt8], model: LoadedModel, limits: PredictLimits) throws(ServingError) {
        let inputs = try binary.withUnsafeBytes { bytes in
            Result { () throws(ServingError) in try InferenceInputs.convert(json.inputs, binary: bytes) }
        }.get()
        prepared = try PredictPreparation.prepare(inputs: inputs, outputs: json.outputs?.map(\.name) ?? [], for: model, limits: limits)
        id = json.id
        let parameters = json.parameters ?? [:]
        if let timeout = parameters["timeout"] {
            guard case .number(let micros) = timeout, micros >= 0, micros.rounded() == micros, micros < 1e15 else {
                throw ServingError(.invalidArgument, "parameter timeout is \(timeout.typeName); expected microseconds (a non-negative integer)")
            }
            timeoutMicros = Int64(micros)
        }
        let allBinary = try Self.flag(parameters["binary_data_output"], name: "binary_data_output") ?? false
        var binaryOutputs = [Bool](repeating: allBinary, count: prepared.outputs.count)
        for (slot, output) in (json.outputs ?? []).enumerated() {
            if let flag = try Self.flag(output.parameters?["binary_data"], name: "outputs[\(slot)].parameters.binary_data") {
                binaryOutputs[slot] = flag
            }
        }
        self.binaryOutputs = binaryOutputs
    }

    /// The raw binary request: the body is the one input's FP32 rows; every output returns binary.
    private init(rawInput body: [UInt8], model: LoadedModel, limits: PredictLimits) throws(ServingError) {
        guard model.plan.inputs.count == 1, let input = model.plan.inputs.first else {
            throw ServingError(.invalidArgument, "a raw binary request (\(InferenceReply.binaryHeaderLength): 0) needs a one-input model; '\(model.name)' has \(model.plan.inputs.count) inputs")
        }
        let rowBytes = input.width * 4
        guard !body.isEmpty, body.count % rowBytes == 0 else {
            throw ServingError(.invalidArgument, "raw binary input '\(input.name)' is \(body.count) bytes; FP32 rows of \(input.width) features are \(rowBytes) bytes each")
        }
        let declared = InferenceRequestBody.Input(name: input.name, shape: [Int64(body.count / rowBytes), Int64(input.width)], datatype: "FP32",
                                                  parameters: ["binary_data_size": .number(Double(body.count))])
        let inputs = try body.withUnsafeBytes { bytes in
            Result { () throws(ServingError) in try InferenceInputs.convert([declared], binary: bytes) }
        }.get()
        prepared = try PredictPreparation.prepare(inputs: inputs, outputs: [], for: model, limits: limits)
        binaryOutputs = [Bool](repeating: true, count: prepared.outputs.count)
    }

    private static func flag(_ value: JSONValue?, name: String) throws(ServingError) -> Bool? {
        switch value {
        case nil: return nil
        case .bool(let flag)?: return flag
        case let other?: throw ServingError(.invalidArgument, "parameter \(name) is \(other.typeName); expected a boolean")
        }
    }
}
