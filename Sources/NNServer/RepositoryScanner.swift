import Foundation
import Logging
import NNFormat

/// One model directory as a scan found it: its settings (config.pbtxt merged over the flags)
/// and the versions holding a model file, ascending.
struct ScannedModel: Equatable {
    var name: String
    var settings: ModelSettings
    var versions: [Int]
    /// Why its config.pbtxt was refused (a typo, a bad value): the model is not loaded on the
    /// flags' settings in its place, since the config said otherwise.
    var configError: String?
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
        let (config, error) = config(of: name)
        return ScannedModel(name: name, settings: ModelSettings(config: config, defaults: defaults), versions: layout.versions(of: name),
                            configError: error)
    }

    /// The model's config.pbtxt (nil when it has none), or why it was refused.
    private func config(of name: String) -> (Nnserve_ModelConfig?, String?) {
        let path = layout.configFile(name)
        guard FileManager.default.fileExists(atPath: path) else { return (nil, nil) }
        do {
            return (try ModelConfigFile.read(from: path), nil)
        } catch {
            logger.error("refused config \(error)", metadata: ["model": "\(name)"])
            return (nil, "refused config \(error)")
        }
    }
}
