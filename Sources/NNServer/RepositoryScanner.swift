import Foundation
import Logging
import NNFormat

/// One model directory as a scan found it: its settings (config.pbtxt merged over the flags)
/// and the versions holding a model file, ascending.
struct ScannedModel: Equatable {
    var name: String
    var settings: ModelSettings
    var versions: [Int]
}

/// Reads the repository: which models, which versions, which settings. Reads files only; the
/// layout rules are NNFormat's `RepositoryLayout` (shared with nnexport).
struct RepositoryScanner {
    let layout: RepositoryLayout
    let defaults: ServerConfiguration
    let logger: Logger

    func scan() -> [ScannedModel] {
        layout.modelNames().map(scan)
    }

    func scan(_ name: String) -> ScannedModel {
        ScannedModel(name: name, settings: ModelSettings(config: config(of: name), defaults: defaults), versions: layout.versions(of: name))
    }

    /// The model's config.pbtxt; nil when it has none, or (logged) when it cannot be read, so
    /// the model is served with the flags' settings rather than not at all.
    private func config(of name: String) -> Nnserve_ModelConfig? {
        let path = layout.configFile(name)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try ModelConfigFile.read(from: path)
        } catch {
            logger.error("refused config \(error)", metadata: ["model": "\(name)"])
            return nil
        }
    }
}
