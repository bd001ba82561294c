import NNFormat

/// How a request ended, as the `outcome` label of nnserve_requests_total.
public enum RequestOutcome: String, CaseIterable, Sendable {
    case ok
    case invalidArgument = "invalid_argument"
    case notFound = "not_found"
    case resourceExhausted = "resource_exhausted"
    case deadlineExceeded = "deadline_exceeded"
    case unavailable
    case `internal`

    init(_ code: Nnserve_ErrorCode) {
        switch code {
        case .invalidArgument: self = .invalidArgument
        case .notFound: self = .notFound
        case .resourceExhausted: self = .resourceExhausted
        case .deadlineExceeded: self = .deadlineExceeded
        case .unavailable: self = .unavailable
        case .internal, .unspecified, .UNRECOGNIZED: self = .internal
        }
    }
}

/// Which front a request came through, as the `protocol` label.
public enum RequestProtocol: String, CaseIterable, Sendable {
    case binary
    case http
    case grpc
}
