/// Limits and batching settings of a server; every field has a default (`nnserve --help`).
public struct ServerConfiguration: Sendable {
    /// Rows merged into one batch at most (per model unless its config.pbtxt says otherwise).
    public var maxBatchSize = 64
    /// How long the first request of a batch waits for company, in microseconds.
    public var maxQueueDelayMicros = 100
    /// Executors (threads) per model version; one per core with single-thread BLAS.
    public var instances = 1
    /// Rows waiting per model beyond which requests are refused with resource exhausted.
    public var queueBoundRows = 16_384
    public var maxFrameSize = 16 << 20
    public var maxRowsPerRequest = 4_096
    public var maxConnections = 1_024
    /// Seconds a connection may stay silent (or hold a half frame) before it is closed.
    public var idleTimeoutSeconds = 60
    /// Largest HTTP request body in bytes.
    public var maxBodySize = 16 << 20
    /// Log one line per request (HTTP requests; binary-protocol predictions).
    public var accessLog = false
    /// Version policy when a model has no config.pbtxt: the newest version only.
    public var latestVersions = 1

    /// Output values one response may carry: no more than the largest request would hold as
    /// float32 (a binary response spends 4 bytes per value), so what a request can make the
    /// server build is bounded by the same limits as what it can send.
    public var maxResponseValues: Int { max(maxFrameSize, maxBodySize) / MemoryLayout<Float>.size }

    public init() {}
}
