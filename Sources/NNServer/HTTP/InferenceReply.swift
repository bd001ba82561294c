import NNInference

/// Writes `$inference_response`: JSON outputs, or with the binary tensor data extension, a
/// JSON header followed by the raw little-endian outputs (FP32 values; BYTES classes, each a
/// 4-byte length and its bytes).
enum InferenceReply {
    static let binaryHeaderLength = "Inference-Header-Content-Length"

    /// One returned output as it is sent: FP32 values, or the classes asked for.
    private enum Payload {
        case values([Float])
        case classes([String])
    }

    static func make(_ answer: InferenceAnswer) -> HTTPReply {
        let (model, prepared, id, values) = (answer.model, answer.prepared, answer.id, answer.values)
        let binary = prepared.outputs.indices.map(answer.isRaw)
        let payloads: [Payload] = prepared.outputs.indices.map { slot in
            answer.classes(slot).map(Payload.classes) ?? .values(values[slot])
        }
        var writer = JSONWriter(capacity: 128 + values.reduce(0) { $0 + $1.count * 12 })
        writer.raw("{")
        writer.member("model_name", model.name, first: true)
        writer.member("model_version", String(model.version))
        if let id { writer.member("id", id) }
        writer.raw(",")
        writer.key("outputs")
        var binaryParts: [[UInt8]] = []
        writer.array(prepared.outputs.indices) { writer, slot in
            let output = model.plan.outputs[prepared.outputs[slot]]
            writer.raw("{")
            writer.member("name", output.name, first: true)
            let (datatype, width) = switch payloads[slot] {
            case .values: ("FP32", output.width)
            case .classes(let classes): ("BYTES", classes.count / max(prepared.rows, 1))
            }
            writer.member("datatype", datatype)
            writer.raw(",")
            writer.key("shape")
            writer.array([prepared.rows, width]) { $0.integer($1) }
            writer.raw(",")
            if binary[slot] {
                let bytes = switch payloads[slot] {
                case .values(let floats): floats.withUnsafeBytes { Array($0) }
                case .classes(let classes): Classification.binary(classes)
                }
                binaryParts.append(bytes)
                writer.raw("\"parameters\":{\"binary_data_size\":")
                writer.integer(bytes.count)
                writer.raw("}}")
            } else {
                writer.key("data")
                switch payloads[slot] {
                case .values(let floats): writer.array(floats) { $0.number($1) }
                case .classes(let classes): writer.array(classes) { $0.string($1) }
                }
                writer.raw("}")
            }
        }
        writer.raw("}")
        guard !binaryParts.isEmpty else { return .json(writer.bytes) }
        // The platforms Swift runs nnserve on are little-endian, as the extension is.
        var body = writer.bytes
        let headerLength = body.count
        for part in binaryParts { body += part }
        return HTTPReply(status: .ok, body: body, contentType: "application/octet-stream",
                         extraHeaders: [(binaryHeaderLength, String(headerLength))])
    }
}
