/// Names written as text — in model files, flags, search spaces and checkpoints — and read
/// back into enums. Each vocabulary is an enum whose raw values are its spellings; this file
/// is the one place that reads them and says what was meant when a name is unknown.
public protocol Spelled: RawRepresentable, CaseIterable, Codable, Sendable, CustomStringConvertible
where RawValue == String {
    /// What one of these is called in an error: "optimizer", "layer type".
    static var noun: String { get }
}

/// A name that is not in its vocabulary: says the nearest spelling and lists them all.
public struct UnknownSpelling: Error, Equatable, CustomStringConvertible {
    public var noun: String
    public var given: String
    public var known: [String]

    public init(noun: String, given: String, known: [String]) {
        self.noun = noun
        self.given = given
        self.known = known
    }

    public var description: String {
        "unknown \(noun) '\(given)' (did you mean '\(Spelling.nearest(to: given, in: known))'?); one of \(known.joined(separator: ", "))"
    }
}

extension Spelled {
    public static var spellings: [String] { allCases.map(\.rawValue) }

    /// The value spelled `text`, or an error naming the nearest spelling.
    public static func spelled(_ text: String) throws(UnknownSpelling) -> Self {
        guard let value = Self(rawValue: text) else { throw UnknownSpelling(noun: noun, given: text, known: spellings) }
        return value
    }

    public var description: String { rawValue }

    /// Decodes the spelling, refusing an unknown one with the same message as a flag.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try Self.spelled(text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }
}

public enum Spelling {
    /// The entry of `known` closest to `text` (edit distance; the first of equals).
    public static func nearest(to text: String, in known: [String]) -> String {
        known.min { editDistance(text, $0) < editDistance(text, $1) } ?? ""
    }

    /// Levenshtein distance, for suggesting the name that was meant.
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
