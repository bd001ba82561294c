import Dispatch
import Foundation
import NIOCore
import NIOHTTP1

/// POST v2/models/{name}[/versions/{v}]/infer: the HTTP codec of the serving core's `infer`.
/// JSON or binary tensor data in, JSON or binary tensor data out.
extension KServeEndpoints {
    /// `burst` collects the predictions of every connection of the event loop in one turn
    /// (`LoopBurst`); without one the request is submitted alone.
    func infer(_ reference: ModelReference, _ request: Request, on eventLoop: any EventLoop, burst: LoopBurst?) -> EventLoopFuture<HTTPReply> {
        let promise = eventLoop.makePromise(of: HTTPReply.self)
        let core = core
        // Latency counts from here: the wait for the decoder is part of it.
        let arrived = DispatchTime.now().uptimeNanoseconds
        @Sendable func submit(into burst: inout PredictionBurst) {
            core.infer(model: reference.name, version: reference.version, from: .http, arrived: arrived, into: &burst) { () throws(ServingError) in
                try HTTPInferenceDecoding.decode(request)
            } answer: { result in
                // Written here, on the executor's thread, so the event loop only sends bytes.
                switch result {
                case .success(let answer): promise.succeed(InferenceReply.make(answer))
                case .failure(let error): promise.succeed(.error(error))
                }
            }
        }
        if let burst {
            burst.collect(submit)
        } else {
            var alone = PredictionBurst(lonePolicy: .ifQuiet)
            submit(into: &alone)
            alone.submit()
        }
        return promise.futureResult
    }
}

/// An `$inference_request` body (JSON, JSON followed by binary tensor data, or raw binary) as
/// the core's neutral request.
enum HTTPInferenceDecoding {
    static func decode(_ request: KServeEndpoints.Request) throws(ServingError) -> InferenceRequest {
        let body = request.body.readableBytesView
        guard let headerField = request.headers.first(name: InferenceReply.binaryHeaderLength) else {
            return try decode(json: InferenceRequestBody.decode(body), binary: body[body.endIndex...])
        }
        guard let headerLength = Int(headerField), headerLength >= 0, headerLength <= body.count else {
            throw ServingError(.invalidArgument, "header \(InferenceReply.binaryHeaderLength) is '\(headerField)'; expected a byte count of at most the body's \(body.count)")
        }
        if headerLength == 0 {
            // The raw binary request: the body is the one input's FP32 rows; every output returns binary.
            return InferenceRequest(inputs: .onlyInputRows(Data(body)), rawByDefault: true)
        }
        let split = body.index(body.startIndex, offsetBy: headerLength)
        return try decode(json: InferenceRequestBody.decode(body[..<split]), binary: body[split...])
    }

    private static func decode(json: InferenceRequestBody, binary: ByteBufferView.SubSequence) throws(ServingError) -> InferenceRequest {
        var offset = binary.startIndex
        var tensors: [TensorView] = []
        tensors.reserveCapacity(json.inputs.count)
        for input in json.inputs {
            guard let size = input.parameters?["binary_data_size"] else {
                guard let data = input.data else {
                    throw ServingError(.invalidArgument, "field 'data' of input '\(input.name)' is missing (and it has no binary_data_size)")
                }
                tensors.append(TensorView(name: input.name, shape: input.shape, datatype: input.datatype, values: .json(data)))
                continue
            }
            guard case .number(let bytes) = size, bytes >= 0, bytes.rounded() == bytes, bytes <= Double(Int32.max) else {
                throw ServingError(.invalidArgument, "input '\(input.name)' parameter binary_data_size is \(size.typeName), not a byte count")
            }
            guard input.data == nil else {
                throw ServingError(.invalidArgument, "input '\(input.name)' has both data and binary_data_size")
            }
            let length = Int(bytes)
            guard length <= binary.endIndex - offset else {
                throw ServingError(.invalidArgument, "input '\(input.name)' needs \(length) bytes of binary data; the body has \(binary.endIndex - offset) left")
            }
            tensors.append(TensorView(name: input.name, shape: input.shape, datatype: input.datatype,
                                      values: .littleEndian(Data(binary[offset..<(offset + length)]), from: .binaryDataSize)))
            offset += length
        }
        guard offset == binary.endIndex else {
            throw ServingError(.invalidArgument, "the body has \(binary.endIndex - offset) bytes of binary data beyond the inputs that declare binary_data_size")
        }
        var request = InferenceRequest(id: json.id, inputs: .tensors(tensors))
        let parameters = json.parameters ?? [:]
        if let timeout = parameters["timeout"] {
            guard case .number(let micros) = timeout, micros >= 0, micros.rounded() == micros, micros < 1e15 else {
                throw ServingError(.invalidArgument, "parameter timeout is \(timeout.typeName); expected microseconds (a non-negative integer)")
            }
            request.timeoutMicros = Int64(micros)
        }
        request.rawByDefault = try flag(parameters["binary_data_output"], name: "binary_data_output") ?? false
        request.outputs = try (json.outputs ?? []).enumerated().map { (slot, output) throws(ServingError) in
            InferenceRequest.Output(name: output.name, raw: try flag(output.parameters?["binary_data"], name: "outputs[\(slot)].parameters.binary_data"),
                                    classCount: try integer(output.parameters?["classification"], name: "outputs[\(slot)].parameters.classification") ?? 0)
        }
        request.priority = try integer(parameters["priority"], name: "priority") ?? 0
        request.sequence = ["sequence_id", "sequence_start", "sequence_end"].first { parameters[$0] != nil }.map { "parameter \($0)" }
        return request
    }

    private static func integer(_ value: JSONValue?, name: String) throws(ServingError) -> Int64? {
        switch value {
        case nil: return nil
        case .number(let number)? where number.rounded() == number && abs(number) < 9e15: return Int64(number)
        case let other?: throw ServingError(.invalidArgument, "parameter \(name) is \(other.typeName); expected an integer")
        }
    }

    private static func flag(_ value: JSONValue?, name: String) throws(ServingError) -> Bool? {
        switch value {
        case nil: return nil
        case .bool(let flag)?: return flag
        case let other?: throw ServingError(.invalidArgument, "parameter \(name) is \(other.typeName); expected a boolean")
        }
    }
}
