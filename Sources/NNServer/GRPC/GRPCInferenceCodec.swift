import Foundation
import NNInference
import NNKServe

/// The gRPC codec of the serving core's `infer`: a `ModelInferRequest` as the core's neutral
/// request, and its answer as a `ModelInferResponse`.
///
/// Inputs come as `raw_input_contents` (one little-endian buffer per input, read where the
/// message holds it) or as typed `contents` (turned into the same little-endian bytes); the
/// core's `TensorView` converts both by the datatype rules every front shares.
enum GRPCInferenceCodec {
    static func decode(_ request: Inference_ModelInferRequest, deadlineMicros: Int64, cancellation: CallCancellation?) throws(ServingError) -> InferenceRequest {
        let raw = request.rawInputContents
        guard raw.isEmpty || raw.count == request.inputs.count else {
            throw ServingError(.invalidArgument, "raw_input_contents has \(raw.count) entries for \(request.inputs.count) inputs; send one per input or none")
        }
        var tensors: [TensorView] = []
        tensors.reserveCapacity(request.inputs.count)
        for (index, tensor) in request.inputs.enumerated() {
            let values: TensorView.Values
            if raw.isEmpty {
                guard tensor.hasContents else {
                    throw ServingError(.invalidArgument, "input '\(tensor.name)' has no contents and the request no raw_input_contents")
                }
                values = .littleEndian(Data(try littleEndian(tensor.contents, datatype: tensor.datatype, input: tensor.name)), from: .typedContents)
            } else {
                guard !tensor.hasContents || tensor.contents == Inference_InferTensorContents() else {
                    throw ServingError(.invalidArgument, "input '\(tensor.name)' has both contents and raw_input_contents")
                }
                values = .littleEndian(raw[index], from: .rawContents(index: index))
            }
            tensors.append(TensorView(name: tensor.name, shape: tensor.shape, datatype: tensor.datatype, values: values))
        }
        var timeoutMicros: Int64 = 0
        if let timeout = request.parameters["timeout"] {
            guard case .int64Param(let micros)? = timeout.parameterChoice, micros >= 0 else {
                throw ServingError(.invalidArgument, "parameter timeout must be an int64_param of microseconds (0 or more)")
            }
            timeoutMicros = micros
        }
        // tritonclient asks for raw outputs unless an output says binary_data false.
        let typed = request.outputs.contains { output in
            if case .boolParam(false)? = output.parameters["binary_data"]?.parameterChoice { return true }
            return false
        }
        var decoded = InferenceRequest(id: request.id, inputs: .tensors(tensors), rawByDefault: !typed,
                                       timeoutMicros: InferenceRequest.tighter(deadlineMicros, timeoutMicros), cancellation: cancellation)
        decoded.outputs = try request.outputs.map { (output) throws(ServingError) in
            InferenceRequest.Output(name: output.name, classCount: try integer(output.parameters["classification"], name: "outputs '\(output.name)' classification") ?? 0)
        }
        decoded.priority = try integer(request.parameters["priority"], name: "priority") ?? 0
        decoded.sequence = ["sequence_id", "sequence_start", "sequence_end"].first { request.parameters[$0] != nil }.map { "parameter \($0)" }
        return decoded
    }

    /// An integer parameter's value, whichever integer field carries it (tritonclient sends
    /// int64_param; other clients uint64_param); any other kind is refused, as over HTTP.
    private static func integer(_ parameter: Inference_InferParameter?, name: String) throws(ServingError) -> Int64? {
        switch parameter?.parameterChoice {
        case nil: return nil
        case .int64Param(let value)?: return value
        case .uint64Param(let value)?: return Int64(clamping: value)
        default: throw ServingError(.invalidArgument, "parameter \(name) must be an int64_param or uint64_param")
        }
    }

    /// Typed contents as the little-endian bytes of `datatype`, which `InferenceInputs` reads
    /// like binary tensor data. The field must be the one the datatype names.
    static func littleEndian(_ contents: Inference_InferTensorContents, datatype: String, input: String) throws(ServingError) -> [UInt8] {
        var bytes: [UInt8] = []
        func append<T: FixedWidthInteger>(_ values: [some BinaryInteger], as _: T.Type) {
            bytes.reserveCapacity(values.count * MemoryLayout<T>.size)
            for value in values { withUnsafeBytes(of: T(truncatingIfNeeded: value).littleEndian) { bytes.append(contentsOf: $0) } }
        }
        func wrongField(_ expected: String) -> ServingError {
            ServingError(.invalidArgument, "input '\(input)' is \(datatype); its values go in contents.\(expected)")
        }
        switch TensorDatatype(rawValue: datatype) {
        case .fp32?:
            guard contents.int64Contents.isEmpty, contents.fp64Contents.isEmpty else { throw wrongField("fp32_contents") }
            append(contents.fp32Contents.map(\.bitPattern), as: UInt32.self)
        case .fp64?: append(contents.fp64Contents.map(\.bitPattern), as: UInt64.self)
        case .bool?: append(contents.boolContents.map { $0 ? 1 : 0 }, as: UInt8.self)
        case .int8?: append(contents.intContents, as: Int8.self)
        case .int16?: append(contents.intContents, as: Int16.self)
        case .int32?: append(contents.intContents, as: Int32.self)
        case .int64?: append(contents.int64Contents, as: Int64.self)
        case .uint8?: append(contents.uintContents, as: UInt8.self)
        case .uint16?: append(contents.uintContents, as: UInt16.self)
        case .uint32?: append(contents.uintContents, as: UInt32.self)
        case .uint64?: append(contents.uint64Contents, as: UInt64.self)
        case .bytes?:
            // The binary BYTES form (a 4-byte little-endian length per element), as clients send
            // it in raw_input_contents: one decoder for both.
            for element in contents.bytesContents {
                withUnsafeBytes(of: UInt32(truncatingIfNeeded: element.count).littleEndian) { bytes.append(contentsOf: $0) }
                bytes.append(contentsOf: element)
            }
        case .fp16?, .bf16?:
            throw ServingError(.invalidArgument, "input '\(input)' is \(datatype), which has no typed contents field; send it in raw_input_contents")
        case nil:
            // TensorView names the datatypes a model accepts.
            return []
        }
        return bytes
    }

    /// The response: FP32 outputs in `raw_output_contents` or typed `fp32_contents`.
    static func response(_ answer: InferenceAnswer) -> Inference_ModelInferResponse {
        var response = Inference_ModelInferResponse()
        response.modelName = answer.model.name
        response.modelVersion = String(answer.model.version)
        response.id = answer.id ?? ""
        for (slot, (binding, values)) in answer.outputs.enumerated() {
            var output = Inference_ModelInferResponse.InferOutputTensor()
            output.name = binding.name
            if let classes = answer.classes(slot) {
                // Classification: BYTES [rows, k], "score:index" (`Classification`).
                output.datatype = TensorDatatype.bytes.rawValue
                output.shape = [Int64(answer.rows), Int64(classes.count / max(answer.rows, 1))]
                if answer.isRaw(slot) {
                    response.rawOutputContents.append(Data(Classification.binary(classes)))
                } else {
                    output.contents.bytesContents = classes.map { Data($0.utf8) }
                }
                response.outputs.append(output)
                continue
            }
            output.datatype = TensorDatatype.fp32.rawValue
            output.shape = [Int64(answer.rows), Int64(binding.width)]
            if answer.isRaw(slot) {
                // The platforms Swift runs nnserve on are little-endian, as the format is.
                response.rawOutputContents.append(values.withUnsafeBytes { Data($0) })
            } else {
                output.contents.fp32Contents = values
            }
            response.outputs.append(output)
        }
        return response
    }
}
