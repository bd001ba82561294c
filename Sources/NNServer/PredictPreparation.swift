import NNFormat
import NNInference

/// What one predict request may ask for, from the server's configuration.
struct PredictLimits {
    var maxRows: Int
    /// Output values (rows × requested output widths) one response may carry.
    var maxResponseValues: Int

    init(_ configuration: ServerConfiguration) {
        maxRows = configuration.maxRowsPerRequest
        maxResponseValues = configuration.maxResponseValues
    }

    var request: RequestLimits { RequestLimits(maxRows: maxRows, maxOutputValues: maxResponseValues) }
}

/// Checks a predict request against a model (NNInference's `Plan.rowBlock`, the one place
/// inputs are validated) and turns a refusal into the serving error both fronts send.
enum PredictPreparation {
    static func prepare(_ request: Nnserve_PredictRequest, for model: LoadedModel, limits: PredictLimits) throws(ServingError)
        -> RowBlock {
        try prepare(inputs: request.inputs.map { NamedInput(name: $0.name, shape: $0.shape, values: $0.data) },
                    outputs: request.outputs, for: model, limits: limits)
    }

    static func prepare(inputs given: [NamedInput], outputs requested: [String], for model: LoadedModel, limits: PredictLimits)
        throws(ServingError) -> RowBlock {
        do {
            return try model.plan.rowBlock(given, outputs: requested, limits: limits.request)
        } catch {
            throw ServingError(.invalidArgument, error.message(model: "model '\(model.name)' v\(model.version)"))
        }
    }
}
