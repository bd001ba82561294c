import Foundation
import NNCore
import SwiftProtobuf

/// Reads `models/<name>/config.pbtxt`: a `ModelConfig` in protobuf text format.
public enum ModelConfigFile {
    /// 1 MiB: a config is a few lines; anything larger is a mistake.
    public static let maxSize: UInt64 = 1 << 20

    public static func parse(_ text: String, source: String) throws(FormatError) -> Nnserve_ModelConfig {
        let config: Nnserve_ModelConfig
        do {
            config = try Nnserve_ModelConfig(textFormatString: text)
        } catch TextFormatDecodingError.unknownField {
            // swift-protobuf says only "unknownField"; the typo is what the user needs to see.
            throw .invalidConfig(source: source, detail: unknownField(in: text) ?? "an unknown field (text format)")
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

    /// The fields of each message a config can hold, by the name of the field that holds it.
    static let fields: [String: [String]] = [
        "": ["name", "version_policy", "max_batch_size", "max_queue_delay_micros", "preferred_batch_sizes", "queue_bound",
             "instances", "default_timeout_micros"],
        "version_policy": ["latest", "all", "specific"],
        "latest": ["count"], "specific": ["versions"], "all": [],
    ]

    /// "line 3: unknown field 'max_batch' (did you mean 'max_batch_size'?); a ModelConfig has …":
    /// the first field name the text format's messages do not have, found by walking the text
    /// (names before `:` or `{`, nesting by braces). Nil when every name is known.
    static func unknownField(in text: String) -> String? {
        var stack = [""]
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let code = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            var scanner = Substring(code)
            while let match = scanner.firstMatch(of: /([A-Za-z_][A-Za-z0-9_]*)\s*(:?\s*\{|:)|(\})/) {
                scanner = scanner[match.range.upperBound...]
                guard let field = match.output.1 else {
                    if stack.count > 1 { stack.removeLast() }
                    continue
                }
                let name = String(field)
                let message = stack.last!
                let known = fields[message] ?? []
                guard known.contains(name) else {
                    let what = message.isEmpty ? "a ModelConfig" : "'\(message)'"
                    return "line \(index + 1): unknown field '\(name)' (did you mean '\(Spelling.nearest(to: name, in: known))'?); "
                        + "\(what) has \(known.joined(separator: ", "))"
                }
                if (match.output.2 ?? "").hasSuffix("{") { stack.append(name) } else {
                    // Skip the value: a string may hold a colon.
                    if let value = scanner.firstMatch(of: /^\s*("[^"]*"|\[[^\]]*\]|[^\s,;]+)/) { scanner = scanner[value.range.upperBound...] }
                }
            }
        }
        return nil
    }

    public static func read(from path: String) throws(FormatError) -> Nnserve_ModelConfig {
        let bytes = try AtomicFile.read(path, limit: maxSize)
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw .invalidConfig(source: path, detail: "is not UTF-8 text")
        }
        return try parse(text, source: path)
    }
}
