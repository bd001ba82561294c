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
        /// Served under `--memory-budget` but not in memory: its next request loads it.
        /// `evicted`: it was loaded before and made room for others.
        case notResident(evicted: Bool)
    }

    /// Whether a request for the version would be served (now, or after its load).
    var isServable: Bool {
        switch self {
        case .ready, .unavailable(.notResident): true
        default: false
        }
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
        case .unavailable(.notResident(evicted: false)): "not loaded yet (--memory-budget): its first request loads it"
        case .unavailable(.notResident(evicted: true)): "evicted (--memory-budget, least recently used): its next request loads it again"
        }
    }
}
