import NNFormat

/// Limits and batching settings of a server; every field has a default (`nnserve --help`).
public struct ServerConfiguration: Sendable {
    /// Rows merged into one batch at most (per model unless its config.pbtxt says otherwise).
    public var maxBatchSize = 64
    /// How long the first request of a batch waits for company, in microseconds.
    public var maxQueueDelayMicros = 100
    /// Executors (threads) per model version; each runs its batches on one core.
    public var instances = 1
    /// Rows waiting per model beyond which requests are refused with resource exhausted.
    public var queueBoundRows = 16_384
    public var maxFrameSize = WireProtocol.defaultMaxFrameSize
    public var maxRowsPerRequest = 4_096
    /// Open binary-protocol connections at most; more are refused with an error frame.
    public var maxConnections = 1_024
    /// Open HTTP connections at most (a separate limit, so a flood on one front leaves the
    /// other, and its health endpoints, usable); more are answered 503.
    public var maxHTTPConnections = 1_024
    /// Open gRPC connections at most (each multiplexes up to `maxInFlightPerConnection` calls).
    public var maxGRPCConnections = 1_024
    /// Requests of one binary connection between being decoded and answered; past it (or
    /// while the client is not reading its responses) the connection is not read.
    /// Open connections of the health listener (`--health-port`) at most: probes need few.
    public var maxHealthConnections = 64
    public var maxInFlightPerConnection = 256
    /// Seconds for a request's head (HTTP headers; the binary preface and length prefix) to
    /// arrive after its first byte, or after the connection opened for its first request.
    public var headerTimeoutSeconds = 10.0
    /// Past the header timeout, a request must average at least this many bytes per second
    /// since its first byte (trickling clients are closed in seconds, not at the idle timeout).
    public var minTransferBytesPerSecond = 32 * 1024
    /// Seconds a connection may stay silent (or hold a half frame) before it is closed.
    public var idleTimeoutSeconds = 60
    /// Largest HTTP request body in bytes.
    public var maxBodySize = 16 << 20
    /// Log one line per request (HTTP requests; predictions on every front).
    public var accessLog = false
    /// Metric families exposed beside nnserve's own on /metrics.
    public var metricsCompat: Set<MetricsCompatibility> = []
    /// Version policy when a model has no config.pbtxt: the newest version only.
    public var latestVersions = 1
    /// Serve model files without self-test rows (refused by default).
    public var allowUntestedModels = false
    /// Rows per raw column the drift index is measured over (models taking raw rows).
    public var driftWindowRows = 10_000
    /// Who may load and unload models over HTTP.
    public var admin = AdminAccess.loopbackOnly
    /// Bytes the resident model versions may hold (`LoadedModel.residentBytes`); nil: every
    /// selected version is loaded at start and stays. With a budget, versions load on their
    /// first request and the least recently used are evicted to make room (`OnDemandLoading`).
    public var memoryBudgetBytes: Int?
    /// With a budget: load versions at start too (pinned ones first, then by name) until the
    /// budget is full, instead of on their first request.
    public var preload = false
    /// With a budget: versions waiting to load at most; requests for another one are refused
    /// (resource exhausted) rather than queueing unbounded loads.
    public var maxPendingLoads = 64
    /// With a budget: requests waiting for their version's load at most, over all versions.
    public var maxRequestsAwaitingLoad = 4_096
    /// With a budget: seconds a request without a timeout of its own waits for its load.
    public var loadWaitSeconds = 30.0

    /// Output values one response may carry: no more than the largest request would hold as
    /// float32 (a binary response spends 4 bytes per value), so what a request can make the
    /// server build is bounded by the same limits as what it can send.
    public var maxResponseValues: Int { max(maxFrameSize, maxBodySize) / MemoryLayout<Float>.size }

    public init() {}

    func maxConnections(_ front: Front) -> Int {
        switch front {
        case .binary: maxConnections
        case .http: maxHTTPConnections
        case .health: maxHealthConnections
        case .grpc: maxGRPCConnections
        }
    }
}
