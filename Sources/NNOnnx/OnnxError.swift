/// Why an ONNX file cannot become an nnserve model. Every case names what is at fault (the
/// node, its op type and the opset it was read under, or the value) and, where there is one,
/// what the user can do: an import is refused before serving, never answered wrongly.
public enum OnnxError: Error, Equatable, CustomStringConvertible {
    /// The bytes are not an ONNX model (truncated, not protobuf, no graph).
    case unreadable(String)
    /// The model as a whole is outside what the importer reads (IR version, opsets, limits).
    case unsupportedModel(String)
    /// One node cannot be converted.
    case unsupportedNode(node: String, opType: String, opset: Int, reason: String)
    /// A graph input or output cannot be served as nnserve serves values.
    case unsupportedValue(value: String, reason: String)
    /// An initializer, a Constant or external data is malformed.
    case badTensor(name: String, reason: String)
    /// The model references a value nothing defines, or defines one twice.
    case brokenGraph(String)

    public var description: String {
        switch self {
        case .unreadable(let detail): "not a readable ONNX model: \(detail)"
        case .unsupportedModel(let detail): detail
        case .unsupportedNode(let node, let opType, let opset, let reason):
            "node '\(node)' (\(opType), opset \(opset)): \(reason)"
        case .unsupportedValue(let value, let reason): "value '\(value)': \(reason)"
        case .badTensor(let name, let reason): "tensor '\(name)': \(reason)"
        case .brokenGraph(let detail): "the graph is broken: \(detail)"
        }
    }
}
