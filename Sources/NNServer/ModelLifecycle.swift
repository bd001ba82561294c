import Foundation
import Logging
import NNFormat
import NNExport
import NNInference

/// Loads a version (read, self-test, compile, start its batcher) and retires one (answer its
/// queue, stop its workers). Remembers the files it refused, with their modification time, so
/// a poll does not retry a broken file until it changes.
///
/// Thread safety: `refused` is read and written under `lock`; loads and retirements run on
/// the store's reload queue, `forgetRefusals` on any thread.
final class ModelLifecycle: @unchecked Sendable {
    private let layout: RepositoryLayout
    private let configuration: ServerConfiguration
    private let metrics: ServerMetrics
    private let logger: Logger
    private let lock = NSLock()
    private var refused: [String: (modified: Date, reason: String)] = [:]

    init(layout: RepositoryLayout, configuration: ServerConfiguration, metrics: ServerMetrics, logger: Logger) {
        self.layout = layout
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
    }

    enum LoadOutcome {
        case loaded(LoadedModel)
        /// The error, with repository-relative paths.
        case refused(String)
    }

    /// The version ready to serve, or why it cannot be.
    func load(_ name: String, _ version: Int, _ settings: ModelSettings) -> LoadOutcome {
        let path = layout.modelFile(name, version: version)
        let modified = Self.modified(path)
        if let known = lock.withLock({ refused[path] }), known.modified == modified { return .refused(known.reason) }
        let started = DispatchTime.now().uptimeNanoseconds
        do {
            // A model.onnx is converted here (OnnxImport). Its self-test rows are computed on the
            // converted graph before folding: they check folding and kernels; the conversion itself
            // is checked against ONNX Runtime by the test fixtures.
            let file = RepositoryLayout.isOnnx(path) ? try OnnxImport.modelFile(path, name: name) : try ModelFile.read(from: path)
            // nnexport always writes self-test rows: a file without them was made or altered by
            // something else, and nothing would notice wrong weights.
            guard !file.selfTests.isEmpty || configuration.allowUntestedModels else {
                throw ServingError(.invalidArgument, "has no self-test rows (nnexport always writes them); --allow-untested-models serves such files")
            }
            let served = try ServedModel(file, maxRows: settings.maxBatchSize)
            if case .failed = served.selfTest { throw ServingError(.internal, served.selfTest.description) }
            let loaded = LoadedModel(name: name, version: version, served: served, settings: settings,
                                         metrics: metrics.modelMetrics(name: name, version: version),
                                         driftWindowRows: configuration.driftWindowRows)
            let millis = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            logger.info("loaded \(name) v\(version) in \(String(format: "%.1f", millis)) ms\(loaded.plan.reducedPrecisionSummary), self-test \(served.selfTest)",
                        metadata: ["model": "\(name)", "version": "\(version)"])
            for choice in loaded.plan.precisionChoices {
                logger.info("\(name) v\(version) kernel choice: \(choice)", metadata: ["model": "\(name)", "version": "\(version)"])
            }
            lock.withLock { refused[path] = nil }
            metrics.modelLoadFinished(.loaded, nanoseconds: DispatchTime.now().uptimeNanoseconds - started)
            return .loaded(loaded)
        } catch {
            let reason = layout.relative("\(error)")
            lock.withLock { refused[path] = (modified, reason) }
            metrics.modelLoadFinished(.refused, nanoseconds: DispatchTime.now().uptimeNanoseconds - started)
            logger.error("refused \(name) v\(version): \(error)", metadata: ["model": "\(name)", "version": "\(version)"])
            return .refused(reason)
        }
    }

    /// Why a version that was not loaded this time was refused before, if it was and its file
    /// has not changed since.
    func refusal(_ name: String, _ version: Int) -> ModelState.Unavailable? {
        let path = layout.modelFile(name, version: version)
        guard let known = lock.withLock({ refused[path] }), known.modified == Self.modified(path) else { return nil }
        return .refused(known.reason)
    }

    /// Refuses a version that loaded but cannot be served (larger than `--memory-budget`),
    /// until its file changes or it is loaded by request.
    func refuse(_ name: String, _ version: Int, because reason: String) {
        let path = layout.modelFile(name, version: version)
        lock.withLock { refused[path] = (Self.modified(path), reason) }
    }

    private static func modified(_ path: String) -> Date {
        (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date()
    }

    /// An explicit load retries the versions of `name` that were refused before.
    func forgetRefusals(of name: String) {
        let prefix = layout.modelDirectory(name) + "/"
        lock.withLock { refused = refused.filter { !$0.key.hasPrefix(prefix) } }
    }

    /// Answers what is queued for the version, stops its workers, drops its metrics; `reason`
    /// goes into the log line.
    func retire(_ model: LoadedModel, because reason: String? = nil) {
        model.batcher.drainAndStop()
        model.metrics.destroy()
        logger.info("unloaded \(model.name) v\(model.version)\(reason.map { " (\($0))" } ?? "")",
                    metadata: ["model": "\(model.name)", "version": "\(model.version)"])
    }
}
