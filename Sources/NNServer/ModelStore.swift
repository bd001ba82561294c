import Foundation
import Logging
import NNCore
import NNFormat
import NNInference

/// The loaded repository: every model's served versions, swapped atomically on reload.
///
/// Thread safety: `models`, `refused` and `unloadedByRequest` are read and replaced under
/// `lock`; reloads run one at a time on `reloads` (they read files and run self-tests, so never
/// on an event loop). `LoadedModel`s are immutable, so a request that looked one up finishes
/// on it even if a reload replaces it meanwhile.
public final class ModelStore: @unchecked Sendable {
    public let layout: RepositoryLayout
    public var root: String { layout.root }
    let configuration: ServerConfiguration
    let metrics: ServerMetrics
    let logger: Logger
    /// Where a sample of the answered predictions is written, if anywhere.
    public let requestLog: RequestLog?
    private let lock = NSLock()
    private let reloads = DispatchQueue(label: "nnserve.reload")
    private var models: [String: [Int: LoadedModel]] = [:]
    /// Files that failed to load and why, so a poll does not retry them until they change.
    private var refused: [String: (modified: Date, reason: String)] = [:]
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
    }

    /// Loads new versions, unloads versions the policy no longer serves (after they drain).
    /// Broken versions are logged and refused while the others keep serving.
    public func reload() {
        reloads.sync { reloadNow() }
    }

    private func reloadNow() {
        let skipped = lock.withLock { unloadedByRequest }
        var next: [String: [Int: LoadedModel]] = [:]
        let existing = lock.withLock { models }
        for name in modelDirectories() where !skipped.contains(name) {
            let settings = settings(of: name)
            let (candidates, wanted) = versionsToServe(name, config: settings)
            // Newest first; a version that fails to load is skipped, so an older one keeps serving.
            for version in candidates.reversed() where (next[name]?.count ?? 0) < wanted {
                if let loaded = existing[name]?[version] ?? load(name, version, settings) {
                    next[name, default: [:]][version] = loaded
                }
            }
        }
        let previous = lock.withLock { () -> [String: [Int: LoadedModel]] in
            let old = models
            models = next
            return old
        }
        for (name, versions) in next where previous[name].map({ Set($0.keys) }) != Set(versions.keys) {
            logger.info("serving \(name) versions \(versions.keys.sorted())", metadata: ["model": "\(name)"])
        }
        for (name, versions) in previous {
            for (version, model) in versions where next[name]?[version] == nil {
                model.batcher.drainAndStop()
                model.metrics.destroy()
                logger.info("unloaded \(name) v\(version)", metadata: ["model": "\(name)", "version": "\(version)"])
            }
        }
    }

    private func modelDirectories() -> [String] {
        layout.modelNames()
    }

    private func settings(of name: String) -> Nnserve_ModelConfig? {
        let path = layout.configFile(name)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try ModelConfigFile.read(from: path)
        } catch {
            logger.error("refused config \(error)", metadata: ["model": "\(name)"])
            return nil
        }
    }

    /// Every version holding a model file, ascending.
    private func availableVersions(_ name: String) -> [Int] {
        layout.versions(of: name)
    }

    /// The versions the policy may serve (ascending) and how many of them to serve.
    private func versionsToServe(_ name: String, config: Nnserve_ModelConfig?) -> (candidates: [Int], count: Int) {
        let available = availableVersions(name)
        switch config?.versionPolicy.policy {
        case .all?: return (available, available.count)
        case .specific(let specific)?:
            let chosen = available.filter { specific.versions.contains(Int64($0)) }
            return (chosen, chosen.count)
        case .latest(let latest)?: return (available, Int(max(latest.count, 1)))
        case nil: return (available, configuration.latestVersions)
        }
    }

    private func load(_ name: String, _ version: Int, _ config: Nnserve_ModelConfig?) -> LoadedModel? {
        let path = layout.modelFile(name, version: version)
        let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date()
        if lock.withLock({ refused[path]?.modified }) == modified { return nil }
        let started = DispatchTime.now().uptimeNanoseconds
        do {
            let file = try ModelFile.read(from: path)
            // nnexport always writes self-test rows: a file without them was made or altered by
            // something else, and nothing would notice wrong weights.
            guard !file.selfTests.isEmpty || configuration.allowUntestedModels else {
                throw ServingError(.invalidArgument, "has no self-test rows (nnexport always writes them); --allow-untested-models serves such files")
            }
            let cases = file.selfTests.map { test in
                (Dictionary(uniqueKeysWithValues: test.inputs.map { ($0.name, $0.tensor) }),
                 Dictionary(uniqueKeysWithValues: test.expectedOutputs.map { ($0.name, $0.tensor) }))
            }
            let error = try SelfTestCheck.maxRelativeError(graph: file.graph, cases: cases)
            let tolerance = Double(file.selfTests.map(\.tolerance).max() ?? 0)
            guard file.selfTests.isEmpty || error <= tolerance else {
                throw ServingError(.internal, "self-test max relative error \(error) exceeds \(tolerance)")
            }
            let loaded = try LoadedModel(
                name: name, version: version, file: file,
                maxBatchSize: Int(config?.maxBatchSize ?? 0) > 0 ? Int(config!.maxBatchSize) : configuration.maxBatchSize,
                maxQueueDelayMicros: Int(config?.maxQueueDelayMicros ?? 0) > 0 ? Int(config!.maxQueueDelayMicros) : configuration.maxQueueDelayMicros,
                instances: Int(config?.instances ?? 0) > 0 ? Int(config!.instances) : configuration.instances,
                queueBoundRows: Int(config?.queueBound ?? 0) > 0 ? Int(config!.queueBound) : configuration.queueBoundRows,
                preferredBatchSizes: config?.preferredBatchSizes.map(Int.init) ?? [],
                defaultTimeoutMicros: Int64(clamping: config?.defaultTimeoutMicros ?? 0),
                metrics: metrics.modelMetrics(name: name, version: version))
            let millis = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            logger.info("loaded \(name) v\(version) in \(String(format: "%.1f", millis)) ms, self-test \(file.selfTests.isEmpty ? "none" : String(format: "ok (max relative error %.2g)", error))",
                        metadata: ["model": "\(name)", "version": "\(version)"])
            lock.withLock { refused[path] = nil }
            return loaded
        } catch {
            lock.withLock { refused[path] = (modified, "\(error)") }
            logger.error("refused \(name) v\(version): \(error)", metadata: ["model": "\(name)", "version": "\(version)"])
            return nil
        }
    }

    /// The version to serve: the one asked for, or the newest loaded.
    func model(_ name: String, version: Int64) throws(ServingError) -> (LoadedModel, [Int]) {
        // 0 (or absent) asks for the newest; HTTP refuses a negative version in its path, and
        // the binary protocol gets the same answer here.
        guard version >= 0 else { throw ServingError(.invalidArgument, "model version \(version) is not a positive integer") }
        let versions = lock.withLock { models[name] }
        guard let versions, !versions.isEmpty else {
            let known = lock.withLock { models.keys.sorted() }
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
        let snapshot = lock.withLock { models }
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
        lock.withLock { models.mapValues { Array($0.values) } }
    }

    public var loadedCount: Int { lock.withLock { models.values.reduce(0) { $0 + $1.count } } }

    /// Answers everything queued in every model, then stops their workers.
    public func drainAll() {
        for versions in lock.withLock({ models.values }) {
            for model in versions.values { model.batcher.drainAndStop() }
        }
    }
}

// MARK: - Repository control (the KServe model_repository extension)

/// One row of the repository index: a version on disk and whether it is served.
struct RepositoryEntry: Equatable {
    var name: String
    var version: Int?
    var ready: Bool
    var reason: String
}

extension ModelStore {
    /// Every model directory and version file, served or not, and why not.
    func index() -> [RepositoryEntry] {
        let (served, refusals, skipped) = lock.withLock { (models, refused, unloadedByRequest) }
        var entries: [RepositoryEntry] = []
        for name in modelDirectories() {
            let versions = availableVersions(name)
            if versions.isEmpty {
                entries.append(RepositoryEntry(name: name, version: nil, ready: false, reason: "no <version>/model.nnm under '\(name)/'"))
            }
            for version in versions {
                let path = layout.modelFile(name, version: version)
                let ready = served[name]?[version] != nil
                let reason = ready ? ""
                    : skipped.contains(name) ? "unloaded by request"
                    : refusals[path].map { layout.relative($0.reason) } ?? "not selected by the version policy"
                entries.append(RepositoryEntry(name: name, version: version, ready: ready, reason: reason))
            }
        }
        return entries
    }

    /// Serves `name` again (re-reading its files); throws when no version of it could be loaded.
    func loadModel(_ name: String) throws(ServingError) {
        guard modelDirectories().contains(name) else {
            throw ServingError(.notFound, "no model directory '\(name)' in the repository")
        }
        lock.withLock {
            unloadedByRequest.remove(name)
            // An explicit load retries versions that were refused before.
            refused = refused.filter { !$0.key.hasPrefix(layout.modelDirectory(name) + "/") }
        }
        reload()
        guard lock.withLock({ models[name]?.isEmpty == false }) else {
            let reasons = index().filter { $0.name == name }.map { "v\($0.version.map(String.init) ?? "?"): \($0.reason)" }
            throw ServingError(.invalidArgument, "model '\(name)' could not be loaded: \(reasons.joined(separator: "; "))")
        }
        logger.info("loaded \(name) by request", metadata: ["model": "\(name)"])
    }

    /// Stops serving `name` (queued requests are answered first) until it is loaded again.
    func unloadModel(_ name: String) throws(ServingError) {
        guard lock.withLock({ models[name] != nil }) || modelDirectories().contains(name) else {
            throw ServingError(.notFound, "no model '\(name)' in the repository")
        }
        lock.withLock { _ = unloadedByRequest.insert(name) }
        reload()
        logger.info("unloaded \(name) by request", metadata: ["model": "\(name)"])
    }
}
