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
    /// the first field name the config's messages do not have. A small reader of the text
    /// format: fields are names followed by `:` and a value, or by a message in `{ }` or
    /// `< >` (on the same line or the next); strings, lists and comments are skipped. Nil when
    /// every name is known, or when the text is not what this reader understands (then the
    /// generic message is the honest one).
    static func unknownField(in text: String) -> String? {
        var tokens = TextFormatTokens(text)
        var stack = [""]
        while let token = tokens.next() {
            switch token.kind {
            case .close:
                guard stack.count > 1 else { return nil }
                stack.removeLast()
            case .name:
                let message = stack.last!
                guard let known = fields[message] else { return nil }
                guard known.contains(token.text) else {
                    let what = message.isEmpty ? "a ModelConfig" : "'\(message)'"
                    return "line \(token.line): unknown field '\(token.text)' (did you mean '\(Spelling.nearest(to: token.text, in: known))'?); "
                        + "\(what) has \(known.joined(separator: ", "))"
                }
                var next = tokens.next()
                if next?.kind == .colon { next = tokens.next() }
                switch next?.kind {
                case .open?: stack.append(token.text)
                case .value?: break
                default: return nil
                }
            default:
                return nil
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

/// The tokens of protobuf text format that `ModelConfigFile.unknownField` reads: names, `:`,
/// message brackets, and values (a number, an identifier after `:`, a string, a `[…]` list)
/// as one token each; `#` comments skipped; with the line each starts on.
struct TextFormatTokens {
    enum Kind { case name, colon, open, close, value }
    struct Token { var kind: Kind; var text: String; var line: Int }

    private let characters: [Character]
    private var index = 0
    private var line = 1
    private var afterColon = false

    init(_ text: String) { characters = Array(text) }

    mutating func next() -> Token? {
        skipSpaceAndComments()
        guard index < characters.count else { return nil }
        let start = line, character = characters[index]
        defer { afterColon = false }
        switch character {
        case ":":
            index += 1
            defer { afterColon = true }
            return Token(kind: .colon, text: ":", line: start)
        case "{", "<":
            index += 1
            return Token(kind: .open, text: String(character), line: start)
        case "}", ">":
            index += 1
            return Token(kind: .close, text: String(character), line: start)
        case "\"", "'":
            index += 1
            while index < characters.count, characters[index] != character {
                if characters[index] == "\\" { index += 1 }
                if index < characters.count, characters[index].isNewline { line += 1 }
                index += 1
            }
            index += 1
            return Token(kind: .value, text: "string", line: start)
        case "[":
            while index < characters.count, characters[index] != "]" {
                if characters[index].isNewline { line += 1 }
                index += 1
            }
            index += 1
            return Token(kind: .value, text: "list", line: start)
        default:
            let word = readWord()
            guard !word.isEmpty else {
                index += 1
                return Token(kind: .value, text: String(character), line: start)
            }
            // A name where a field may start; an identifier value (an enum) right after ':'.
            let isName = !afterColon && (word.first!.isLetter || word.first == "_")
            return Token(kind: isName ? .name : .value, text: word, line: start)
        }
    }

    private mutating func readWord() -> String {
        var word = ""
        while index < characters.count, characters[index].isLetter || characters[index].isNumber || "_.-+".contains(characters[index]) {
            word.append(characters[index])
            index += 1
        }
        return word
    }

    private mutating func skipSpaceAndComments() {
        while index < characters.count {
            let character = characters[index]
            if character == "#" {
                while index < characters.count, !characters[index].isNewline { index += 1 }
            } else if character.isWhitespace || character == "," || character == ";" {
                if character.isNewline { line += 1 }
                index += 1
            } else {
                return
            }
        }
    }
}
