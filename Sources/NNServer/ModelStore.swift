import Foundation
import Logging
import NNCore
import NNFormat
import NNInference

/// The served repository: the routing table (every model's loaded versions) and the state of
/// every version on disk, both replaced together by a reload. Scanning the files is the
/// `RepositoryScanner`'s job, loading and retiring versions the `ModelLifecycle`'s; the store
/// decides what to serve and answers lookups. Readiness, the repository index and routing all
/// read the state the last reload left.
///
/// Under `--memory-budget` the store serves on demand (`OnDemandLoader`, `EvictionPolicy`): a
/// reload only scans (10,000 model directories take a scan, not 10,000 loads), each model's
/// servable versions are known from its version policy, and a version is loaded by its first
/// request and evicted, least recently used first, when another needs its memory.
///
/// Thread safety: `served`, `states`, `onDemand`, `evicted`, `unloadedByRequest` and
/// `shuttingDown` are read and replaced under `lock`; reloads and on-demand loads run one at a
/// time on `reloads` (they read files and run self-tests, so never on an event loop).
/// `LoadedModel`s are immutable, so a request that looked one up finishes on it even if a
/// reload replaces it or an eviction retires it meanwhile.
public final class ModelStore: @unchecked Sendable {
    public let layout: RepositoryLayout
    public var root: String { layout.root }
    let configuration: ServerConfiguration
    let metrics: ServerMetrics
    let logger: Logger
    /// Where a sample of the answered predictions is written, if anywhere.
    public let requestLog: RequestLog?
    private let scanner: RepositoryScanner
    private let lifecycle: ModelLifecycle
    private let lock = NSLock()
    private let reloads = DispatchQueue(label: "nnserve.reload")
    private var served: [String: [Int: LoadedModel]] = [:]
    /// Every model directory of the last scan, with the state of each of its versions.
    private var states: [String: [Int: ModelState]] = [:]
    /// Models unloaded through the repository API; reloads skip them until they are loaded again.
    private var unloadedByRequest: Set<String> = []
    private var shuttingDown = false
    /// Under a memory budget: every model of the last scan and the versions it serves, resident
    /// or not (empty without a budget).
    private var onDemand: [String: OnDemandModel] = [:]
    /// Versions evicted since their last load (the index says so).
    private var evicted: Set<VersionKey> = []
    /// Loads versions on their first request; nil without a memory budget.
    private var loader: OnDemandLoader?

    /// Readiness turns false (orchestrators stop sending new traffic) while predictions are
    /// still answered: the start of a graceful shutdown.
    public func beginShutdown() { lock.withLock { shuttingDown = true } }

    public var isShuttingDown: Bool { lock.withLock { shuttingDown } }

    public convenience init(root: String, configuration: ServerConfiguration, metrics: ServerMetrics = ServerMetrics(),
                logger: Logger = Logger(label: "nnserve")) {
        self.init(layout: RepositoryLayout(root: root), configuration: configuration, metrics: metrics, logger: logger)
    }

    public init(layout: RepositoryLayout, configuration: ServerConfiguration, metrics: ServerMetrics = ServerMetrics(),
                logger: Logger = Logger(label: "nnserve"), requestLog: RequestLog? = nil) {
        self.layout = layout
        self.requestLog = requestLog
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        scanner = RepositoryScanner(layout: layout, defaults: configuration, logger: logger)
        lifecycle = ModelLifecycle(layout: layout, configuration: configuration, metrics: metrics, logger: logger)
        if configuration.memoryBudgetBytes != nil {
            loader = OnDemandLoader(maxPendingLoads: configuration.maxPendingLoads, maxWaiting: configuration.maxRequestsAwaitingLoad,
                                    load: { [weak self] key in
                                        guard let self else { return .failure(ServingError(.unavailable, "the server is shutting down")) }
                                        // A load queued behind a drain does not run after it.
                                        return reloads.sync { loader?.isShutDown == true
                                            ? .failure(ServingError(.unavailable, "the server is shutting down; model \(key) is not loaded"))
                                            : loadOnDemand(key) }
                                    },
                                    refused: { [metrics] in metrics.loadQueueFull() })
        }
    }

    /// Runs `body` on the reload queue: no reload or load runs meanwhile (tests hold a load
    /// back this way).
    func withReloadsHeld(_ body: () -> Void) {
        reloads.sync(execute: body)
    }

    /// Bytes the resident versions may hold, when serving on demand.
    public var memoryBudgetBytes: Int? { configuration.memoryBudgetBytes }

    /// Loads new versions, retires versions the policy no longer serves (after they drain).
    /// Broken versions are refused (and say why in the index) while the others keep serving.
    public func reload() {
        reloads.sync { reloadNow() }
    }

    private func reloadNow() {
        if let budget = configuration.memoryBudgetBytes { return reloadOnDemand(budget: budget) }
        let (skipped, existing) = lock.withLock { (unloadedByRequest, served) }
        var next: [String: [Int: LoadedModel]] = [:]
        var nextStates: [String: [Int: ModelState]] = [:]
        for model in scanner.scan() {
            let name = model.name
            nextStates[name] = [:]
            if skipped.contains(name) {
                for version in model.versions { nextStates[name]![version] = .unavailable(.unloadedByRequest) }
                continue
            }
            if let configError = model.configError {
                // A config that cannot be read leaves what it configured as it was: versions
                // already serving keep their settings; nothing new loads on the flags' instead.
                for (version, loaded) in existing[name] ?? [:] where model.versions.contains(version) { next[name, default: [:]][version] = loaded }
                for version in model.versions { nextStates[name]![version] = next[name]?[version] != nil ? .ready : .unavailable(.refused(configError)) }
                continue
            }
            let (candidates, wanted) = model.settings.candidates(among: model.versions)
            var refusals: [Int: ModelState.Unavailable] = [:]
            // Newest first; a version that fails to load is skipped, so an older one keeps serving.
            for version in candidates.reversed() where (next[name]?.count ?? 0) < wanted {
                if let loaded = existing[name]?[version] {
                    next[name, default: [:]][version] = loaded
                    continue
                }
                lock.withLock { states[name, default: [:]][version] = .loading }
                switch lifecycle.load(name, version, model.settings) {
                case .loaded(let loaded): next[name, default: [:]][version] = loaded
                case .refused(let reason): refusals[version] = .refused(reason)
                }
            }
            for version in model.versions {
                nextStates[name]![version] = next[name]?[version] != nil ? .ready
                    : .unavailable(refusals[version] ?? lifecycle.refusal(name, version) ?? .notSelected)
            }
        }
        let retiring = existing.flatMap { name, versions in
            versions.filter { next[name]?[$0.key] == nil }.map(\.value)
        }
        lock.withLock {
            served = next
            states = nextStates
            for model in retiring where states[model.name]?[model.version] != nil { states[model.name]![model.version] = .unloading }
        }
        for (name, versions) in next where existing[name].map({ Set($0.keys) }) != Set(versions.keys) {
            logger.info("serving \(name) versions \(versions.keys.sorted())", metadata: ["model": "\(name)"])
        }
        for model in retiring {
            lifecycle.retire(model)
            lock.withLock {
                if states[model.name]?[model.version] == .unloading { states[model.name]![model.version] = nextStates[model.name]![model.version] }
            }
        }
    }

    /// Where a request for a model goes: a resident version, or (serving on demand) one that
    /// must be loaded first.
    enum Routed {
        case resident(LoadedModel)
        case notResident(VersionKey)
    }

    /// The version a request gets — the one asked for, or the newest served — and every
    /// version the model serves.
    private func lookup(_ name: String, version: Int64) throws(ServingError) -> (Routed, [Int]) {
        // 0 (or absent) asks for the newest; HTTP refuses a negative version in its path, and
        // the binary protocol gets the same answer here.
        guard version >= 0 else { throw ServingError(.invalidArgument, "model version \(version) is not a positive integer") }
        if loader != nil { return try lookupOnDemand(name, version: version) }
        let versions = lock.withLock { served[name] }
        guard let versions, !versions.isEmpty else {
            throw Self.unknownModel(name, known: lock.withLock { served.keys.sorted() })
        }
        let sorted = versions.keys.sorted()
        if version > 0 {
            guard let model = versions[Int(version)] else {
                throw ServingError(.notFound, "model '\(name)' has no version \(version); loaded versions are \(sorted.map(String.init).joined(separator: ", "))")
            }
            return (.resident(model), sorted)
        }
        return (.resident(versions[sorted.last!]!), sorted)
    }

    /// `lookup` under a memory budget: the versions the model serves are known without loading.
    private func lookupOnDemand(_ name: String, version: Int64) throws(ServingError) -> (Routed, [Int]) {
        lock.lock()
        guard let servable = onDemand[name]?.servable, let newest = servable.last else {
            let known = onDemand.filter { !$0.value.servable.isEmpty }.keys.sorted()
            lock.unlock()
            throw Self.unknownModel(name, known: known)
        }
        let chosen = version > 0 ? Int(version) : newest
        let resident = served[name]?[chosen]
        lock.unlock()
        guard version == 0 || servable.contains(chosen) else {
            throw ServingError(.notFound, "model '\(name)' has no version \(version); served versions are \(servable.map(String.init).joined(separator: ", "))")
        }
        return (resident.map(Routed.resident) ?? .notResident(VersionKey(name: name, version: chosen)), servable)
    }

    /// "unknown model 'x'; loaded models are 'a', 'b'" (the first ten of a large repository).
    private static func unknownModel(_ name: String, known: [String]) -> ServingError {
        let listed = known.prefix(10).map { "'\($0)'" }.joined(separator: ", ")
        let more = known.count > 10 ? " and \(known.count - 10) more" : ""
        return ServingError(.notFound, "unknown model '\(name)'; loaded models are \(listed)\(more)")
    }

    /// The version to serve, resident: the one asked for, or the newest. Serving on demand, a
    /// version not in memory starts loading and the caller is told to retry (the fronts ask
    /// through `afterLoading`, so this is rare: the version was evicted again meanwhile).
    func model(_ name: String, version: Int64) throws(ServingError) -> (LoadedModel, [Int]) {
        let (routed, versions) = try lookup(name, version: version)
        switch routed {
        case .resident(let model):
            return (model, versions)
        case .notResident(let key):
            loader?.prefetch(key)
            throw ServingError(.unavailable, "model \(key) is not in memory (nnserve --memory-budget keeps the most recently used versions): "
                               + "it is loading now; retry, or send an inference request, which waits for the load")
        }
    }

    /// Runs `body` once the version a request for `name` gets is resident: at once when it is
    /// (or when there is no such version: `body` then answers with the error), else on the
    /// loading thread after its load — whatever the load's outcome, which `body` reads by
    /// asking again. Metadata and configuration calls wait for a load this way.
    func afterLoading(_ name: String, version: Int64, _ body: @escaping @Sendable () -> Void) {
        guard loader != nil, case .notResident(let key)? = try? lookup(name, version: version).0 else { return body() }
        do {
            try whenLoaded(key, requestedMicros: 0) { _ in body() }
        } catch {
            body()
        }
    }

    /// Whether a request for the model would be served: it is resident, or (serving on demand)
    /// one of its versions is servable and would load.
    func isServable(_ name: String, version: Int64) -> Bool {
        (try? lookup(name, version: version)) != nil
    }

    /// The version a predict request goes to; a miss is counted as unrouted for `front`.
    func route(_ name: String, version: Int64, from front: RequestProtocol) throws(ServingError) -> Routed {
        do {
            let (routed, _) = try lookup(name, version: version)
            if loader != nil, case .resident(let model) = routed { model.touch() }
            return routed
        } catch {
            metrics.unroutedRequest(front)
            throw error
        }
    }

    /// Calls `then` once `key` is loaded (on the loading thread), or with why it could not
    /// be; a request waits up to its own timeout (`requestedMicros`), else its model's default
    /// timeout, else `--load-wait`. Throws at once when too many loads or requests wait.
    func whenLoaded(_ key: VersionKey, requestedMicros: Int64,
                    then: @escaping @Sendable (Result<LoadedModel, ServingError>) -> Void) throws(ServingError) {
        guard let loader else { preconditionFailure("whenLoaded without a memory budget: every served version is resident") }
        let modelDefault = lock.withLock { onDemand[key.name]?.settings.defaultTimeoutMicros } ?? 0
        let micros = requestedMicros > 0 ? requestedMicros : modelDefault > 0 ? modelDefault : Int64(configuration.loadWaitSeconds * 1e6)
        try loader.whenLoaded(key, waitMicros: min(micros, 365 * 86_400 * 1_000_000)) { result in
            if case .success(let model) = result { model.touch() }
            then(result)
        }
    }

    func summaries() -> [Nnserve_ModelSummary] {
        let snapshot = lock.withLock { served }
        return snapshot.keys.sorted().map { name in
            var summary = Nnserve_ModelSummary()
            summary.name = name
            summary.versions = snapshot[name]!.keys.sorted().map(Int64.init)
            summary.ready = true
            return summary
        }
    }

    /// Every served version, by model name.
    func servedModels() -> [String: [LoadedModel]] {
        lock.withLock { served.mapValues { Array($0.values) } }
    }

    /// Models a memory budget serves on demand (0 without a budget).
    public var onDemandModelCount: Int { lock.withLock { onDemand.count } }

    public var loadedCount: Int { lock.withLock { served.values.reduce(0) { $0 + $1.count } } }

    /// The served versions statistics are asked for: all of every model (no name), all of one
    /// model (version 0), or one version.
    func servedVersions(_ name: String?, version: Int64) throws(ServingError) -> [LoadedModel] {
        guard let name else {
            return servedModels().sorted { $0.key < $1.key }.flatMap { $0.value.sorted { $0.version < $1.version } }
        }
        // Resident versions only: asking for statistics loads nothing.
        let (routed, _) = try lookup(name, version: version)
        guard version == 0 else {
            if case .resident(let model) = routed { return [model] }
            return []
        }
        return (servedModels()[name] ?? []).sorted { $0.version < $1.version }
    }

    /// Answers everything queued in every model, then stops their workers. Serving on
    /// demand, requests waiting for a load are answered `unavailable` first, and a load under
    /// way finishes before the drain.
    public func drainAll() {
        loader?.shutDown()
        reloads.sync {}
        for versions in lock.withLock({ served.values }) {
            for model in versions.values { model.batcher.drainAndStop() }
        }
    }

    /// Every model directory and version of the last reload, in name and version order; a
    /// directory without versions is one entry with no version.
    func index() -> [RepositoryEntry] {
        let snapshot = loader != nil ? onDemandStates() : lock.withLock { states }
        return snapshot.keys.sorted().flatMap { name -> [RepositoryEntry] in
            let versions = snapshot[name]!
            guard !versions.isEmpty else {
                return [RepositoryEntry(name: name, version: nil, state: nil,
                                        reason: "no <version>/\(RepositoryLayout.modelFileName) or <version>/\(RepositoryLayout.onnxFileName) under '\(name)/'")]
            }
            return versions.keys.sorted().map { RepositoryEntry(name: name, version: $0, state: versions[$0]!, reason: versions[$0]!.reason) }
        }
    }

    /// Serves `name` again (re-reading its files); throws when no version of it could be loaded.
    func loadModel(_ name: String) throws(ServingError) {
        guard layout.modelNames().contains(name) else {
            throw ServingError(.notFound, "no model directory '\(name)' in the repository")
        }
        lock.withLock { _ = unloadedByRequest.remove(name) }
        lifecycle.forgetRefusals(of: name)
        reload()
        // Serving on demand, a reload loads nothing: the newest servable version loads now.
        if loader != nil, let newest = lock.withLock({ onDemand[name]?.servable.last }) {
            _ = reloads.sync { loadOnDemand(VersionKey(name: name, version: newest)) }
        }
        guard lock.withLock({ served[name]?.isEmpty == false }) else {
            let reasons = index().filter { $0.name == name }.map { "v\($0.version.map(String.init) ?? "?"): \($0.reason)" }
            throw ServingError(.invalidArgument, "model '\(name)' could not be loaded: \(reasons.joined(separator: "; "))")
        }
        logger.info("loaded \(name) by request", metadata: ["model": "\(name)"])
    }

    /// Stops serving `name` (queued requests are answered first) until it is loaded again.
    func unloadModel(_ name: String) throws(ServingError) {
        guard lock.withLock({ served[name] != nil }) || layout.modelNames().contains(name) else {
            throw ServingError(.notFound, "no model '\(name)' in the repository")
        }
        lock.withLock { _ = unloadedByRequest.insert(name) }
        reload()
        logger.info("unloaded \(name) by request", metadata: ["model": "\(name)"])
    }
}

// MARK: - Serving on demand (--memory-budget)

extension ModelStore {
    /// A reload under a memory budget: scans, keeps the resident versions that are still
    /// served, retires the others, and loads only the pinned versions (and, with `--preload`,
    /// others until the budget is full).
    fileprivate func reloadOnDemand(budget: Int) {
        let (skipped, existing) = lock.withLock { (unloadedByRequest, served) }
        var table: [String: OnDemandModel] = [:]
        var kept: [String: [Int: LoadedModel]] = [:]
        for model in scanner.scan() {
            let name = model.name
            var entry = OnDemandModel(name: name, settings: model.settings, versions: model.versions)
            if skipped.contains(name) {
                entry.unloadedByRequest = true
            } else if let configError = model.configError {
                // As without a budget: what is resident keeps serving on its settings; nothing loads.
                entry.configError = configError
                let resident = (existing[name] ?? [:]).filter { model.versions.contains($0.key) }
                entry.serve(Array(resident.keys).sorted(), wanted: resident.count)
                entry.settings = resident.values.first?.settings ?? model.settings
                kept[name] = resident.isEmpty ? nil : resident
            } else {
                let (candidates, wanted) = model.settings.candidates(among: model.versions)
                for version in candidates {
                    if case .refused(let reason)? = lifecycle.refusal(name, version) { entry.refusals[version] = reason }
                }
                entry.serve(candidates, wanted: wanted)
                for version in entry.servable { if let loaded = existing[name]?[version] { kept[name, default: [:]][version] = loaded } }
            }
            table[name] = entry
        }
        let retiring = existing.flatMap { name, versions in versions.filter { kept[name]?[$0.key] == nil }.map(\.value) }
        lock.withLock {
            served = kept
            onDemand = table
            evicted = evicted.filter { table[$0.name]?.versions.contains($0.version) == true }
        }
        for model in retiring { lifecycle.retire(model) }
        // Pinned versions first (never evicted), then, with --preload, the newest of each model by
        // name while they fit without evicting anything.
        let pinned = table.filter { $0.value.settings.pinned }.keys.sorted()
        for name in pinned {
            // Servable versions are read again after each load: a refused one hands its place
            // to an older version, which loads here too.
            var tried: Set<Int> = []
            while let version = lock.withLock({ onDemand[name]?.servable.first { served[name]?[$0] == nil && !tried.contains($0) } }) {
                tried.insert(version)
                _ = loadOnDemand(VersionKey(name: name, version: version))
            }
        }
        guard configuration.preload else { return }
        for name in table.keys.sorted() where !table[name]!.settings.pinned {
            guard let newest = table[name]!.servable.last, lock.withLock({ served[name]?[newest] == nil }) else { continue }
            let used = lock.withLock { served.values.joined().reduce(0) { $0 + $1.value.residentBytes } }
            guard used < budget else { break }
            _ = loadOnDemand(VersionKey(name: name, version: newest), evicting: false)
        }
    }

    /// Loads `key` under the budget, evicting the least recently used unpinned versions to make
    /// room (unless `evicting` is false: then it is refused instead). On `reloads`: it reads the
    /// file, runs the self-test and answers the evicted versions' queued requests first. The new
    /// version is compiled before the others go, so memory peaks at the budget plus one version.
    fileprivate func loadOnDemand(_ key: VersionKey, evicting: Bool = true) -> Result<LoadedModel, ServingError> {
        let budget = configuration.memoryBudgetBytes!
        let (entry, resident) = lock.withLock { (onDemand[key.name], served[key.name]?[key.version]) }
        if let resident { return .success(resident) }
        guard let entry, entry.servable.contains(key.version) else {
            return .failure(ServingError(.notFound, "model \(key) is no longer served (the repository changed while it waited to load)"))
        }
        let model: LoadedModel
        switch lifecycle.load(key.name, key.version, entry.settings) {
        case .refused(let reason):
            lock.withLock { onDemand[key.name]?.refuse(key.version, reason) }
            return .failure(ServingError(.notFound, "model \(key) could not be loaded: \(reason)"))
        case .loaded(let loaded):
            model = loaded
        }
        let room = lock.withLock {
            EvictionPolicy.makeRoom(for: key, bytes: model.residentBytes, budget: budget, resident: served.values.joined().map { _, model in
                EvictionPolicy.Resident(key: VersionKey(name: model.name, version: model.version), bytes: model.residentBytes,
                                        lastUsed: model.lastUsed.load(ordering: .relaxed), pinned: model.settings.pinned)
            })
        }
        guard case .fits(let victims) = room, evicting || victims.isEmpty else {
            lifecycle.retire(model, because: "it does not fit in --memory-budget")
            guard case .tooLarge(let reason) = room else {
                return .failure(ServingError(.resourceExhausted, "model \(key) does not fit beside the resident versions without evicting one"))
            }
            // Until its file changes: an older version may fit in its place.
            lifecycle.refuse(key.name, key.version, because: reason)
            lock.withLock { onDemand[key.name]?.refuse(key.version, reason) }
            return .failure(ServingError(.resourceExhausted, reason))
        }
        let evictedModels = lock.withLock { () -> [LoadedModel] in
            var removed: [LoadedModel] = []
            for victim in victims {
                if let model = served[victim.name]?.removeValue(forKey: victim.version) { removed.append(model) }
                if served[victim.name]?.isEmpty == true { served[victim.name] = nil }
                evicted.insert(victim)
            }
            served[key.name, default: [:]][key.version] = model
            evicted.remove(key)
            return removed
        }
        // Their queued requests are answered first; requests routed to them meanwhile still run.
        for victim in evictedModels {
            lifecycle.retire(victim, because: "evicted, least recently used, for \(key)")
            metrics.modelEvicted()
        }
        if !evictedModels.isEmpty { ServerMemory.releaseFreedMemorySoon() }
        return .success(model)
    }

    /// Each version's state under a memory budget, from the last scan and what is resident now.
    fileprivate func onDemandStates() -> [String: [Int: ModelState]] {
        let (table, resident, evictedNow): ([String: OnDemandModel], [String: Set<Int>], Set<VersionKey>) = lock.withLock {
            (onDemand, served.mapValues { Set($0.keys) }, evicted)
        }
        return table.mapValues { entry in
            let residentVersions = resident[entry.name] ?? []
            return Dictionary(uniqueKeysWithValues: entry.versions.map { version in
                (version, entry.state(of: version, resident: residentVersions.contains(version),
                                      evicted: evictedNow.contains(VersionKey(name: entry.name, version: version))))
            })
        }
    }
}

/// One model of the repository as a reload under a memory budget found it: its settings and
/// the versions it serves (by its version policy, newest first, skipping refused ones),
/// resident or not.
struct OnDemandModel {
    var name: String
    var settings: ModelSettings
    /// Every version on disk, ascending.
    var versions: [Int]
    /// Ascending; what requests may ask for (version 0: the last).
    private(set) var servable: [Int] = []
    /// Why a version the policy would serve is not, by version.
    var refusals: [Int: String] = [:]
    var unloadedByRequest = false
    var configError: String?
    private var candidates: [Int] = []
    private var wanted = 0

    init(name: String, settings: ModelSettings, versions: [Int]) {
        self.name = name
        self.settings = settings
        self.versions = versions
    }

    /// Serves the newest `wanted` of `candidates` (ascending) that were not refused.
    mutating func serve(_ candidates: [Int], wanted: Int) {
        self.candidates = candidates
        self.wanted = wanted
        servable = Array(candidates.filter { refusals[$0] == nil }.suffix(wanted))
    }

    /// Where `version` stands, given whether it is resident and was evicted.
    func state(of version: Int, resident: Bool, evicted: Bool) -> ModelState {
        if resident { return .ready }
        if unloadedByRequest { return .unavailable(.unloadedByRequest) }
        if let reason = refusals[version] ?? configError { return .unavailable(.refused(reason)) }
        if servable.contains(version) { return .unavailable(.notResident(evicted: evicted)) }
        return .unavailable(.notSelected)
    }

    /// A version failed to load (or cannot fit): an older candidate serves in its place.
    mutating func refuse(_ version: Int, _ reason: String) {
        refusals[version] = reason
        serve(candidates, wanted: wanted)
    }
}

/// One row of the repository index: a version on disk (or a directory without one) and its state.
struct RepositoryEntry: Equatable {
    var name: String
    var version: Int?
    /// Nil for a directory without versions.
    var state: ModelState?
    var reason: String

    var ready: Bool { state == .ready }
}
