import Foundation
import NNInference
import NNKServe

/// A `ModelInferRequest` checked against its model: the same `RowBlock` the HTTP front and the
/// binary protocol build, so the three protocols share one path into the batcher.
///
/// Inputs come as `raw_input_contents` (one little-endian buffer per input, the binary tensor
/// data of the HTTP extension) or as typed `contents`; both go through `InferenceInputs`, so
/// the datatype rules (exact integers, nearest FP32) are the HTTP front's.
struct GRPCInferenceCall: Sendable {
    var prepared: RowBlock
    var id: String
    /// Microseconds the client allows (the `timeout` parameter; 0: the model's default).
    var timeoutMicros: Int64 = 0
    /// Answer in `raw_output_contents` (as tritonclient expects) rather than typed contents.
    var rawOutputs: Bool

    init(_ request: Inference_ModelInferRequest, model: LoadedModel, limits: PredictLimits) throws(ServingError) {
        let raw = request.rawInputContents
        guard raw.isEmpty || raw.count == request.inputs.count else {
            throw ServingError(.invalidArgument, "raw_input_contents has \(raw.count) entries for \(request.inputs.count) inputs; send one per input or none")
        }
        var inputs: [NamedInput] = []
        inputs.reserveCapacity(request.inputs.count)
        for (index, tensor) in request.inputs.enumerated() {
            let converted: Result<[NamedInput], ServingError>
            if raw.isEmpty {
                guard tensor.hasContents else {
                    throw ServingError(.invalidArgument, "input '\(tensor.name)' has no contents and the request no raw_input_contents")
                }
                let bytes = try Self.littleEndian(tensor.contents, datatype: tensor.datatype, input: tensor.name)
                converted = bytes.withUnsafeBytes { buffer in Result { () throws(ServingError) in try Self.convert(tensor, buffer, raw: false, index: index) } }
            } else {
                guard !tensor.hasContents || tensor.contents == Inference_InferTensorContents() else {
                    throw ServingError(.invalidArgument, "input '\(tensor.name)' has both contents and raw_input_contents")
                }
                // Read where the request message holds it: no copy of the tensor data.
                converted = raw[index].withUnsafeBytes { buffer in Result { () throws(ServingError) in try Self.convert(tensor, buffer, raw: true, index: index) } }
            }
            inputs += try converted.get()
        }
        prepared = try PredictPreparation.prepare(inputs: inputs, outputs: request.outputs.map(\.name), for: model, limits: limits)
        id = request.id
        if let timeout = request.parameters["timeout"] {
            guard case .int64Param(let micros)? = timeout.parameterChoice, micros >= 0 else {
                throw ServingError(.invalidArgument, "parameter timeout must be an int64_param of microseconds (0 or more)")
            }
            timeoutMicros = micros
        }
        // tritonclient asks for raw outputs unless an output says binary_data false.
        rawOutputs = !request.outputs.contains { output in
            if case .boolParam(false)? = output.parameters["binary_data"]?.parameterChoice { return true }
            return false
        }
    }

    /// One input's little-endian bytes as the model's rows, by the HTTP front's datatype rules.
    private static func convert(_ tensor: Inference_ModelInferRequest.InferInputTensor, _ bytes: UnsafeRawBufferPointer,
                                raw: Bool, index: Int) throws(ServingError) -> [NamedInput] {
        try checkLength(bytes.count, of: tensor, raw: raw, index: index)
        let declared = InferenceRequestBody.Input(name: tensor.name, shape: tensor.shape, datatype: tensor.datatype,
                                                  parameters: ["binary_data_size": .number(Double(bytes.count))])
        return try InferenceInputs.convert([declared], binary: bytes)
    }

    /// The byte count the shape and datatype need, said in gRPC's terms (InferenceInputs
    /// would say it in the HTTP extension's); shape and datatype errors are left to it.
    private static func checkLength(_ length: Int, of tensor: Inference_ModelInferRequest.InferInputTensor, raw: Bool, index: Int) throws(ServingError) {
        guard let datatype = TensorDatatype(rawValue: tensor.datatype), tensor.shape.allSatisfy({ $0 >= 0 }), (1...2).contains(tensor.shape.count) else { return }
        if datatype == .bytes {
            throw ServingError(.invalidArgument, "input '\(tensor.name)' is BYTES; nnserve models take numeric tensors")
        }
        let (count, overflow) = tensor.shape.reduce((Int64(1), false)) { partial, dimension in
            let product = partial.0.multipliedReportingOverflow(by: dimension)
            return (product.partialValue, partial.1 || product.overflow)
        }
        guard !overflow, count <= Int64(Int32.max) else { return }
        let needed = Int(count) * datatype.byteSize
        guard length == needed else {
            let source = raw ? "raw_input_contents[\(index)]" : "contents"
            let unit = raw ? "\(length) bytes" : "\(length / datatype.byteSize) values"
            let want = raw ? "\(needed) bytes" : "\(count) values"
            throw ServingError(.invalidArgument, "input '\(tensor.name)' \(source) has \(unit); shape \(tensor.shape) of \(datatype.rawValue) needs \(want)")
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
        case .fp16?, .bf16?:
            throw ServingError(.invalidArgument, "input '\(input)' is \(datatype), which has no typed contents field; send it in raw_input_contents")
        case .bytes?, nil:
            // checkLength and InferenceInputs name the datatypes a model accepts.
            return []
        }
        return bytes
    }

    /// The response: FP32 outputs in `raw_output_contents` or typed `fp32_contents`.
    static func response(model: LoadedModel, prepared: RowBlock, id: String, values: [[Float]], raw: Bool) -> Inference_ModelInferResponse {
        var response = Inference_ModelInferResponse()
        response.modelName = model.name
        response.modelVersion = String(model.version)
        response.id = id
        for (slot, index) in prepared.outputs.enumerated() {
            let binding = model.plan.outputs[index]
            var output = Inference_ModelInferResponse.InferOutputTensor()
            output.name = binding.name
            output.datatype = TensorDatatype.fp32.rawValue
            output.shape = [Int64(prepared.rows), Int64(binding.width)]
            if raw {
                // The platforms Swift runs nnserve on are little-endian, as the format is.
                response.rawOutputContents.append(values[slot].withUnsafeBytes { Data($0) })
            } else {
                output.contents.fp32Contents = values[slot]
            }
            response.outputs.append(output)
        }
        return response
    }
}
