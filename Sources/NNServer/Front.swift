/// A listener of the server, each with its own connection limit and its own `protocol` label
/// on the connection metrics. (`RequestProtocol` labels requests; the health listener serves
/// no predictions.)
public enum Front: String, CaseIterable, Sendable {
    /// The binary protocol.
    case binary
    /// KServe v2 HTTP and /metrics.
    case http
    /// `--health-port`: /v2/health/live, /v2/health/ready and /metrics only, with its own
    /// connection limit, so probes are answered while the main ports are flooded.
    case health
    /// KServe v2 gRPC (HTTP/2).
    case grpc

    var index: Int {
        switch self {
        case .binary: 0
        case .http: 1
        case .health: 2
        case .grpc: 3
        }
    }

    /// Whether connections speak HTTP/1.1 (the form of their farewell).
    var speaksHTTP: Bool { self == .http || self == .health }
}
