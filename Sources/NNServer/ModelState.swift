/// Where one version on disk stands. The repository index, readiness and the routing table
/// are all read from the same states, which only a reload changes. The names are Triton's
/// (the KServe repository extension reports them).
enum ModelState: Equatable, Sendable {
    /// Being read, self-tested and compiled.
    case loading
    case ready
    /// Served until now; its queued requests are being answered before it stops.
    case unloading
    case unavailable(Unavailable)

    enum Unavailable: Equatable, Sendable {
        /// The file failed to load or its self-test; the error (repository-relative paths).
        case refused(String)
        /// The version policy serves other versions.
        case notSelected
        /// Unloaded through the repository API; reloads skip the model until it is loaded again.
        case unloadedByRequest
    }

    var name: String {
        switch self {
        case .loading: "LOADING"
        case .ready: "READY"
        case .unloading: "UNLOADING"
        case .unavailable: "UNAVAILABLE"
        }
    }

    /// Why the version is not ready ("" when it is).
    var reason: String {
        switch self {
        case .ready: ""
        case .loading: "loading"
        case .unloading: "unloading: answering its queued requests"
        case .unavailable(.refused(let error)): error
        case .unavailable(.notSelected): "not selected by the version policy"
        case .unavailable(.unloadedByRequest): "unloaded by request"
        }
    }
}
