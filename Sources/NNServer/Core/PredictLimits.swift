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
