/// What can go wrong below the request level of the binary protocol. Each ends the connection:
/// after one of them the byte stream cannot be trusted to be in step.
public enum WireError: Error, Equatable, CustomStringConvertible {
    /// The connection did not open with "NNSP" + version; `detail` says what it looks like.
    case badPreface(String)
    case frameTooLarge(length: Int, limit: Int)
    /// A whole frame whose bytes are not a `message` (Request or Response) message.
    case undecodableMessage(message: String, detail: String)
    /// A response naming a request id that is not waiting (never sent, or already answered).
    case unknownResponseID(UInt64)

    public var description: String {
        switch self {
        case .badPreface(let detail): "connection did not start with the nnserve preface: \(detail)"
        case .frameTooLarge(let length, let limit): "frame of \(length) bytes exceeds the limit of \(limit) bytes"
        case .undecodableMessage(let message, let detail): "frame is not a valid \(message) message: \(detail)"
        case .unknownResponseID(let id): "response for request id \(id), which is not waiting for one"
        }
    }
}
