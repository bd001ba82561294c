import NNFormat

/// How one model is served: its config.pbtxt merged over the server's flags, once, when its
/// directory is scanned. A field config.pbtxt leaves at zero (or out) takes the flag's value.
struct ModelSettings: Equatable, Sendable {
    /// Which of the versions on disk are served.
    enum VersionPolicy: Equatable, Sendable {
        case latest(Int)
        case all
        case specific(Set<Int>)
    }

    var versionPolicy: VersionPolicy
    var maxBatchSize: Int
    var maxQueueDelayMicros: Int
    var instances: Int
    var queueBoundRows: Int
    var preferredBatchSizes: [Int]
    /// Timeout for requests that carry none (0: none).
    var defaultTimeoutMicros: Int64
    /// Under `--memory-budget`: loaded at start and never evicted.
    var pinned: Bool

    init(config: Nnserve_ModelConfig?, defaults: ServerConfiguration) {
        func positive<Value: BinaryInteger>(_ value: Value?, or fallback: Int) -> Int {
            guard let value, value > 0 else { return fallback }
            return Int(clamping: value)
        }
        switch config?.versionPolicy.policy {
        case .all?: versionPolicy = .all
        case .specific(let specific)?: versionPolicy = .specific(Set(specific.versions.map { Int(clamping: $0) }))
        case .latest(let latest)?: versionPolicy = .latest(max(Int(latest.count), 1))
        case nil: versionPolicy = .latest(defaults.latestVersions)
        }
        maxBatchSize = positive(config?.maxBatchSize, or: defaults.maxBatchSize)
        maxQueueDelayMicros = positive(config?.maxQueueDelayMicros, or: defaults.maxQueueDelayMicros)
        instances = positive(config?.instances, or: defaults.instances)
        queueBoundRows = positive(config?.queueBound, or: defaults.queueBoundRows)
        preferredBatchSizes = config?.preferredBatchSizes.map { Int(clamping: $0) } ?? []
        defaultTimeoutMicros = Int64(clamping: config?.defaultTimeoutMicros ?? 0)
        pinned = config?.pinned ?? false
    }

    /// The versions the policy may serve (ascending) and how many of them, newest first.
    func candidates(among available: [Int]) -> (versions: [Int], count: Int) {
        switch versionPolicy {
        case .all:
            return (available, available.count)
        case .specific(let wanted):
            let chosen = available.filter(wanted.contains)
            return (chosen, chosen.count)
        case .latest(let count):
            return (available, count)
        }
    }
}
