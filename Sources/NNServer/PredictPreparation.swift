import NNFormat

/// One named input of a predict request, whichever protocol carried it.
struct NamedInput {
    var name: String
    /// [rows, features] as sent (the check against the model happens in `PredictPreparation`).
    var shape: [Int64]
    var values: [Float]
}

/// A request checked against its model: rows laid out for the batcher.
struct PreparedPredict {
    var rows: Int
    /// One contiguous row-major array per plan input, in `plan.inputs` order.
    var inputs: [[Float]]
    /// Indices into `plan.outputs` to return.
    var outputs: [Int]
}

/// What one predict request may ask for, from the server's configuration.
struct PredictLimits {
    var maxRows: Int
    /// Output values (rows × requested output widths) one response may carry.
    var maxResponseValues: Int

    init(_ configuration: ServerConfiguration) {
        maxRows = configuration.maxRowsPerRequest
        maxResponseValues = configuration.maxResponseValues
    }
}

/// Checks a predict request against a model and lays its rows out for the batcher; every
/// refusal names the value at fault.
enum PredictPreparation {
    static func prepare(_ request: Nnserve_PredictRequest, for model: LoadedModel, limits: PredictLimits) throws(ServingError)
        -> PreparedPredict {
        try prepare(inputs: request.inputs.map { NamedInput(name: $0.name, shape: $0.shape, values: $0.data) },
                    outputs: request.outputs, for: model, limits: limits)
    }

    static func prepare(inputs given: [NamedInput], outputs requested: [String], for model: LoadedModel, limits: PredictLimits)
        throws(ServingError) -> PreparedPredict {
        let maxRows = limits.maxRows
        let plan = model.plan
        let label = "model '\(model.name)' v\(model.version)"
        for input in given where !plan.inputs.contains(where: { $0.name == input.name }) {
            throw ServingError(.invalidArgument, "unknown input '\(input.name)'; \(label) takes \(plan.inputs.map { "'\($0.name)'" }.joined(separator: ", "))")
        }
        var rows: Int?
        var inputs: [[Float]] = []
        for (index, binding) in plan.inputs.enumerated() {
            guard let tensor = given.first(where: { $0.name == binding.name }) else {
                throw ServingError(.invalidArgument, "input '\(binding.name)' is missing; \(label) needs it")
            }
            let width = binding.width
            let shape = tensor.shape.isEmpty ? [Int64(tensor.values.count / max(width, 1)), Int64(width)] : tensor.shape
            guard shape.count == 2 else {
                throw ServingError(.invalidArgument, "input '\(binding.name)' has shape \(shape); \(label) expects [rows, \(width)]")
            }
            guard shape[1] == Int64(width) else {
                throw ServingError(.invalidArgument, "input '\(binding.name)' has \(shape[1]) features; \(label) expects \(width)")
            }
            guard shape[0] > 0 else { throw ServingError(.invalidArgument, "input '\(binding.name)' has no rows: the batch is empty") }
            guard shape[0] <= Int64(maxRows) else {
                throw ServingError(.invalidArgument, "input '\(binding.name)' has \(shape[0]) rows; requests carry at most \(maxRows)")
            }
            let count = Int(shape[0])
            guard tensor.values.count == count * width else {
                throw ServingError(.invalidArgument, "input '\(binding.name)' has \(tensor.values.count) values for shape [\(count), \(width)]")
            }
            if let rows, rows != count {
                throw ServingError(.invalidArgument, "input '\(binding.name)' has \(count) rows, the other inputs \(rows)")
            }
            if let bad = tensor.values.firstIndex(where: { !$0.isFinite }) {
                let featureNames = model.file.graph.inputs[index].featureNames
                let feature = featureNames.indices.contains(bad % width) ? "'\(featureNames[bad % width])'" : "\(bad % width)"
                throw ServingError(.invalidArgument, "input '\(binding.name)' row \(bad / width) feature \(feature) is \(tensor.values[bad]); values must be finite")
            }
            rows = count
            inputs.append(tensor.values)
        }
        var outputs: [Int] = []
        for name in requested {
            guard let index = plan.outputs.firstIndex(where: { $0.name == name }) else {
                throw ServingError(.invalidArgument, "unknown output '\(name)'; \(label) has \(plan.outputs.map { "'\($0.name)'" }.joined(separator: ", "))")
            }
            // Each repetition would return the whole output again: a small request could ask
            // for a response thousands of times its size.
            guard !outputs.contains(index) else {
                throw ServingError(.invalidArgument, "output '\(name)' is requested more than once; name each output at most once")
            }
            outputs.append(index)
        }
        if outputs.isEmpty { outputs = Array(plan.outputs.indices) }
        let values = rows! * outputs.reduce(0) { $0 + plan.outputs[$1].width }
        guard values <= limits.maxResponseValues else {
            throw ServingError(.invalidArgument, "the response would carry \(values) values (\(rows!) rows of \(label)'s requested outputs); "
                               + "responses carry at most \(limits.maxResponseValues): send fewer rows or request fewer outputs")
        }
        return PreparedPredict(rows: rows!, inputs: inputs, outputs: outputs)
    }
}
