import NNInference

/// Writes `$inference_response`: JSON outputs, or with the binary tensor data extension, a
/// JSON header followed by the raw little-endian FP32 outputs.
enum InferenceReply {
    static let binaryHeaderLength = "Inference-Header-Content-Length"

    static func make(_ answer: InferenceAnswer) -> HTTPReply {
        let (model, prepared, id, values) = (answer.model, answer.prepared, answer.id, answer.values)
        let binary = prepared.outputs.indices.map(answer.isRaw)
        var writer = JSONWriter(capacity: 128 + values.reduce(0) { $0 + $1.count * 12 })
        writer.raw("{")
        writer.member("model_name", model.name, first: true)
        writer.member("model_version", String(model.version))
        if let id { writer.member("id", id) }
        writer.raw(",")
        writer.key("outputs")
        writer.array(prepared.outputs.indices) { writer, slot in
            let output = model.plan.outputs[prepared.outputs[slot]]
            writer.raw("{")
            writer.member("name", output.name, first: true)
            writer.raw(",\"datatype\":\"FP32\",")
            writer.key("shape")
            writer.array([prepared.rows, output.width]) { $0.integer($1) }
            writer.raw(",")
            if binary[slot] {
                writer.raw("\"parameters\":{\"binary_data_size\":")
                writer.integer(values[slot].count * 4)
                writer.raw("}}")
            } else {
                writer.key("data")
                writer.array(values[slot]) { $0.number($1) }
                writer.raw("}")
            }
        }
        writer.raw("}")
        guard binary.contains(true) else { return .json(writer.bytes) }
        var body = writer.bytes
        let headerLength = body.count
        for (slot, isBinary) in binary.enumerated() where isBinary {
            for value in values[slot] {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { body.append(contentsOf: $0) }
            }
        }
        return HTTPReply(status: .ok, body: body, contentType: "application/octet-stream",
                         extraHeaders: [(binaryHeaderLength, String(headerLength))])
    }
}
