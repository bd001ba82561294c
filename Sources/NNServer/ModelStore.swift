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
/// Thread safety: `served`, `states`, `unloadedByRequest` and `shuttingDown` are read and
/// replaced under `lock`; reloads run one at a time on `reloads` (they read files and run
/// self-tests, so never on an event loop). `LoadedModel`s are immutable, so a request that
/// looked one up finishes on it even if a reload replaces it meanwhile.
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
    }

    /// Loads new versions, retires versions the policy no longer serves (after they drain).
    /// Broken versions are refused (and say why in the index) while the others keep serving.
    public func reload() {
        reloads.sync { reloadNow() }
    }

    private func reloadNow() {
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

    /// The version to serve: the one asked for, or the newest loaded.
    func model(_ name: String, version: Int64) throws(ServingError) -> (LoadedModel, [Int]) {
        // 0 (or absent) asks for the newest; HTTP refuses a negative version in its path, and
        // the binary protocol gets the same answer here.
        guard version >= 0 else { throw ServingError(.invalidArgument, "model version \(version) is not a positive integer") }
        let versions = lock.withLock { served[name] }
        guard let versions, !versions.isEmpty else {
            let known = lock.withLock { served.keys.sorted() }
            throw ServingError(.notFound, "unknown model '\(name)'; loaded models are \(known.map { "'\($0)'" }.joined(separator: ", "))")
        }
        let sorted = versions.keys.sorted()
        if version > 0 {
            guard let model = versions[Int(version)] else {
                throw ServingError(.notFound, "model '\(name)' has no version \(version); loaded versions are \(sorted.map(String.init).joined(separator: ", "))")
            }
            return (model, sorted)
        }
        return (versions[sorted.last!]!, sorted)
    }

    /// The version a predict request goes to; a miss is counted as unrouted for `front`.
    func route(_ name: String, version: Int64, from front: RequestProtocol) throws(ServingError) -> LoadedModel {
        do {
            return try model(name, version: version).0
        } catch {
            metrics.unroutedRequest(front)
            throw error
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

    public var loadedCount: Int { lock.withLock { served.values.reduce(0) { $0 + $1.count } } }

    /// The served versions statistics are asked for: all of every model (no name), all of one
    /// model (version 0), or one version.
    func servedVersions(_ name: String?, version: Int64) throws(ServingError) -> [LoadedModel] {
        guard let name else {
            return servedModels().sorted { $0.key < $1.key }.flatMap { $0.value.sorted { $0.version < $1.version } }
        }
        let (model, _) = try self.model(name, version: version)
        guard version == 0 else { return [model] }
        return (servedModels()[name] ?? []).sorted { $0.version < $1.version }
    }

    /// Answers everything queued in every model, then stops their workers.
    public func drainAll() {
        for versions in lock.withLock({ served.values }) {
            for model in versions.values { model.batcher.drainAndStop() }
        }
    }

    /// Every model directory and version of the last reload, in name and version order; a
    /// directory without versions is one entry with no version.
    func index() -> [RepositoryEntry] {
        let snapshot = lock.withLock { states }
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

/// One row of the repository index: a version on disk (or a directory without one) and its state.
struct RepositoryEntry: Equatable {
    var name: String
    var version: Int?
    /// Nil for a directory without versions.
    var state: ModelState?
    var reason: String

    var ready: Bool { state == .ready }
}
