import NIOHTTP1

/// A model named in a path, with the version asked for (0: the server's choice, the newest).
struct ModelReference: Equatable {
    var name: String
    var version: Int64
}

/// The endpoints of the HTTP front: KServe v2 (Open Inference Protocol) REST, the
/// model_repository extension, and /metrics.
enum KServeRoute: Equatable {
    case serverLive, serverReady, serverMetadata, metrics
    case modelMetadata(ModelReference)
    case modelReady(ModelReference)
    case infer(ModelReference)
    /// Triton's extensions: a model's configuration; statistics of one model (or all: nil).
    case modelConfig(ModelReference)
    case modelStatistics(ModelReference?)
    case repositoryIndex
    case load(String), unload(String)

    /// The method each endpoint answers (others get 405).
    var method: HTTPMethod {
        switch self {
        case .serverLive, .serverReady, .serverMetadata, .metrics, .modelMetadata, .modelReady, .modelConfig, .modelStatistics: .GET
        case .infer, .repositoryIndex, .load, .unload: .POST
        }
    }

    /// The route for a path (query string removed), or the error to answer with.
    static func match(path: String) throws(HTTPError) -> KServeRoute {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map { String($0).removingPercentEncodingIfValid }
        switch segments.count {
        case 1 where segments[0] == "metrics": return .metrics
        case 1 where segments[0] == "v2": return .serverMetadata
        default: break
        }
        guard segments.first == "v2", segments.count >= 2 else { throw notFound(path) }
        let rest = Array(segments.dropFirst())
        switch rest.first {
        case "health":
            if rest == ["health", "live"] { return .serverLive }
            if rest == ["health", "ready"] { return .serverReady }
        case "repository":
            if rest == ["repository", "index"] { return .repositoryIndex }
            if rest.count == 4, rest[1] == "models" {
                if rest[3] == "load" { return .load(rest[2]) }
                if rest[3] == "unload" { return .unload(rest[2]) }
            }
        case "models" where rest == ["models", "stats"]:
            return .modelStatistics(nil)
        case "models" where rest.count >= 2:
            // models/{name}[/versions/{version}][/ready|/infer|/config|/stats]
            var version: Int64 = 0
            var tail = Array(rest.dropFirst(2))
            if tail.first == "versions" {
                guard tail.count >= 2 else { throw notFound(path) }
                guard let number = Int64(tail[1]), number > 0 else {
                    throw HTTPError(.badRequest, "model version '\(tail[1])' is not a positive integer")
                }
                version = number
                tail.removeFirst(2)
            }
            let model = ModelReference(name: rest[1], version: version)
            switch tail {
            case []: return .modelMetadata(model)
            case ["ready"]: return .modelReady(model)
            case ["infer"]: return .infer(model)
            case ["config"]: return .modelConfig(model)
            case ["stats"]: return .modelStatistics(model)
            default: break
            }
        default: break
        }
        throw notFound(path)
    }

    private static func notFound(_ path: String) -> HTTPError {
        HTTPError(.notFound, "no endpoint at \(path); see GET /v2 for the server and GET /v2/models/{name} for a model")
    }
}

/// An HTTP refusal: the status and the message of its `{"error": ...}` body.
struct HTTPError: Error, Equatable {
    var status: HTTPResponseStatus
    var message: String

    init(_ status: HTTPResponseStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    /// The status for a serving error (Triton's mapping, with deadlines as 504 like TF Serving).
    init(_ error: ServingError) {
        switch error.code {
        case .invalidArgument, .unspecified, .UNRECOGNIZED: status = .badRequest
        case .notFound: status = .notFound
        case .resourceExhausted, .unavailable: status = .serviceUnavailable
        case .deadlineExceeded: status = .gatewayTimeout
        case .internal: status = .internalServerError
        }
        message = error.message
    }
}

extension String {
    /// Percent-decoded, or unchanged when the escapes are malformed.
    var removingPercentEncodingIfValid: String {
        // utf8.contains: String's own contains(String) goes through Foundation, on every request.
        guard utf8.contains(UInt8(ascii: "%")) else { return self }
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(), high.isHexDigit, low.isHexDigit,
                      let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) else { return self }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

private extension UInt8 {
    var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self | 0x20)
    }
}
