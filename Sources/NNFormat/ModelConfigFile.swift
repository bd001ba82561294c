import Foundation
import SwiftProtobuf

/// Reads `models/<name>/config.pbtxt`: a `ModelConfig` in protobuf text format.
public enum ModelConfigFile {
    /// 1 MiB: a config is a few lines; anything larger is a mistake.
    public static let maxSize: UInt64 = 1 << 20

    public static func parse(_ text: String, source: String) throws(FormatError) -> Nnserve_ModelConfig {
        let config: Nnserve_ModelConfig
        do {
            config = try Nnserve_ModelConfig(textFormatString: text)
        } catch {
            throw .invalidConfig(source: source, detail: "not a valid ModelConfig in text format: \(error)")
        }
        if config.maxBatchSize > 0, let bad = config.preferredBatchSizes.first(where: { $0 == 0 || $0 > config.maxBatchSize }) {
            throw .invalidConfig(source: source, detail: "preferred_batch_sizes contains \(bad); each must be in 1...max_batch_size (\(config.maxBatchSize))")
        }
        if case .specific(let specific)? = config.versionPolicy.policy {
            if let bad = specific.versions.first(where: { $0 <= 0 }) {
                throw .invalidConfig(source: source, detail: "version_policy.specific lists version \(bad); versions are positive integers")
            }
            if specific.versions.isEmpty {
                throw .invalidConfig(source: source, detail: "version_policy.specific lists no versions")
            }
        }
        if case .latest(let latest)? = config.versionPolicy.policy, latest.count == 0 {
            throw .invalidConfig(source: source, detail: "version_policy.latest.count must be at least 1")
        }
        return config
    }

    public static func read(from path: String) throws(FormatError) -> Nnserve_ModelConfig {
        let bytes = try AtomicFile.read(path, limit: maxSize)
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw .invalidConfig(source: path, detail: "is not UTF-8 text")
        }
        return try parse(text, source: path)
    }
}
