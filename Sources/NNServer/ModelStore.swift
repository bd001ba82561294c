import Foundation
import NNCore
import NNFormat
import NNInference

/// The loaded repository: every model's served versions, swapped atomically on reload.
///
/// Thread safety: `models` is read and replaced under `lock`; `LoadedModel`s are immutable,
/// so a request that looked one up finishes on it even if a reload replaces it meanwhile.
public final class ModelStore: @unchecked Sendable {
    public let root: String
    let configuration: ServerConfiguration
    let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var models: [String: [Int: LoadedModel]] = [:]
    /// Files that failed to load, so a poll does not retry them until they change.
    private var refused: [String: Date] = [:]

    public init(root: String, configuration: ServerConfiguration, log: @escaping @Sendable (String) -> Void) {
        self.root = root
        self.configuration = configuration
        self.log = log
    }

    /// Loads new versions, unloads versions the policy no longer serves (after they drain).
    /// Broken versions are logged and refused while the others keep serving.
    public func reload() {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        var next: [String: [Int: LoadedModel]] = [:]
        let existing = lock.withLock { models }
        for name in names {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: "\(root)/\(name)", isDirectory: &isDirectory), isDirectory.boolValue else { continue }
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
        for (name, versions) in previous {
            for (version, model) in versions where next[name]?[version] == nil {
                model.batcher.drainAndStop()
                log("unloaded \(name) v\(version)")
            }
        }
    }

    private func settings(of name: String) -> Nnserve_ModelConfig? {
        let path = "\(root)/\(name)/config.pbtxt"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try ModelConfigFile.read(from: path)
        } catch {
            log("refused config \(error)")
            return nil
        }
    }

    /// The versions the policy may serve (ascending) and how many of them to serve.
    private func versionsToServe(_ name: String, config: Nnserve_ModelConfig?) -> (candidates: [Int], count: Int) {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/\(name)")) ?? []
        let available = entries.compactMap { entry -> Int? in
            guard let version = Int(entry), version > 0, String(version) == entry,
                  FileManager.default.fileExists(atPath: "\(root)/\(name)/\(entry)/model.nnm") else { return nil }
            return version
        }.sorted()
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
        let path = "\(root)/\(name)/\(version)/model.nnm"
        let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date()
        if lock.withLock({ refused[path] }) == modified { return nil }
        let started = DispatchTime.now().uptimeNanoseconds
        do {
            let file = try ModelFile.read(from: path)
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
                queueBoundRows: Int(config?.queueBound ?? 0) > 0 ? Int(config!.queueBound) : configuration.queueBoundRows)
            let millis = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            log(String(format: "loaded %@ v%d in %.1f ms, self-test %@", name, version, millis,
                       file.selfTests.isEmpty ? "none" : String(format: "ok (max relative error %.2g)", error)))
            return loaded
        } catch {
            lock.withLock { refused[path] = modified }
            log("refused \(name) v\(version): \(error)")
            return nil
        }
    }

    /// The version to serve: the one asked for, or the newest loaded.
    func model(_ name: String, version: Int64) throws(ServingError) -> (LoadedModel, [Int]) {
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

    public var loadedCount: Int { lock.withLock { models.values.reduce(0) { $0 + $1.count } } }

    /// Answers everything queued in every model, then stops their workers.
    public func drainAll() {
        for versions in lock.withLock({ models.values }) {
            for model in versions.values { model.batcher.drainAndStop() }
        }
    }
}
