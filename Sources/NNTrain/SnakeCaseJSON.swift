import Foundation

/// Settings stored as Swift's JSON (camelCase keys: `batchSize`) shown in the spelling of
/// model files and flags (`batch_size`), so what `nntrain summary` prints can be copied into
/// a model file or read against `--batch-size`. Only the display changes: checkpoints keep
/// the bytes they always had.
public enum SnakeCaseJSON {
    /// `text` with every object key in snake_case and keys sorted; `text` itself when it is not JSON.
    public static func display(_ text: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)),
              let data = try? JSONSerialization.data(withJSONObject: convert(object), options: [.sortedKeys, .withoutEscapingSlashes]) else { return text }
        return String(decoding: data, as: UTF8.self)
    }

    /// "batchSize" → "batch_size", "minDelta" → "min_delta"; snake_case keys stay as they are.
    public static func key(_ camel: String) -> String {
        var result = ""
        for character in camel {
            if character.isUppercase, !result.isEmpty { result += "_" }
            result += character.lowercased()
        }
        return result
    }

    private static func convert(_ value: Any) -> Any {
        if let dictionary = value as? [String: Any] {
            return Dictionary(dictionary.map { (key($0.key), convert($0.value)) }, uniquingKeysWith: { first, _ in first })
        }
        if let array = value as? [Any] { return array.map(convert) }
        return value
    }
}
