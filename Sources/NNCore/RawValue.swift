/// One field of a raw row, from a CSV cell or a request: nothing, a number, or text.
public enum RawValue: Sendable, Equatable {
    case missing
    case number(Float)
    case text(String)

    /// Cells that mean "no value", after trimming spaces: the empty cell and the spellings
    /// pandas and R write for a gap. A category spelled like one of these is a gap too.
    public static let missingSpellings: Set<String> = ["", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "<NA>", "#N/A"]

    /// The longest missing spelling, in bytes: longer text is never hashed to check.
    private static let longestMissingSpelling = 4

    /// A field as written: trimmed, a missing spelling becomes `.missing`.
    public init(field: String) {
        let trimmed = field.trimmingSpaces
        let bytes = trimmed.utf8.count
        self = bytes == 0 || (bytes <= Self.longestMissingSpelling && Self.missingSpellings.contains(trimmed)) ? .missing : .text(trimmed)
    }

    /// The category a (trimmed) text is: itself, or, when it reads as a finite number, that
    /// number's spelling (`categoryText(of:)`). Text that does not start like a number (a
    /// digit, a sign, a point) skips the float parser: "inf" and "nan" are the only other
    /// texts it reads, and they are not finite.
    public static func category(_ text: String) -> String {
        guard let first = text.utf8.first,
              (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) || first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: "."),
              let number = Float(text), number.isFinite else { return text }
        return categoryText(of: number)
    }

    /// A request's number: NaN is a gap (how FP32 tensors and pandas write one).
    public init(number: Float) {
        self = number.isNaN ? .missing : .number(number)
    }

    /// The text a category is looked up by: a number (sent as a number, or as text that reads
    /// as one) is spelled by its Float's shortest form, so `2007`, `"2007"` and `"2007.0"` are
    /// one category in a table and in a request alike.
    public static func categoryText(of number: Float) -> String {
        if number == number.rounded(), abs(number) < 1e15 { return String(Int64(number)) }
        return number.description
    }
}

/// Why a field cannot be a column's value; the caller adds where the field came from.
public enum RawValueError: Error, Equatable, CustomStringConvertible {
    /// Text in a numeric column.
    case notANumber(column: String, text: String)
    /// inf, or a number past Float's range.
    case notFinite(column: String, text: String)
    /// A category longer than `Categories.maximumBytes`.
    case categoryTooLong(column: String, bytes: Int)

    public var description: String {
        switch self {
        case .notANumber(let column, let text): "'\(text.prefix(64))' is not a number (column '\(column)' is numeric)"
        case .notFinite(let column, let text): "\(text.prefix(64)) is not finite (column '\(column)')"
        case .categoryTooLong(let column, let bytes):
            "a category of \(bytes) bytes (column '\(column)'); categories are at most \(Categories.maximumBytes) bytes"
        }
    }
}

/// What the encoder saw in one field: the server counts these per column.
public struct RawObservation: Sendable, Equatable {
    /// The drift bin (`ColumnProfile.fractions` index), or nil for a gap.
    public var bin: Int?
    /// A category outside the vocabulary (counted in the "other" bin).
    public var unknown = false
    /// A number below the training minimum or above the training maximum.
    public var outsideRange = false

    public init(bin: Int?, unknown: Bool = false, outsideRange: Bool = false) {
        self.bin = bin
        self.unknown = unknown
        self.outsideRange = outsideRange
    }
}

extension RawColumn {
    /// Writes this column's `width` features for `value` at `features` and says what it saw.
    /// The one encoder of raw values, for training tables and requests alike.
    /// - Precondition: `features` has room for `width` floats.
    public func encode(_ value: RawValue, into features: UnsafeMutablePointer<Float>) throws(RawValueError) -> RawObservation {
        switch kind {
        case .numeric(let numeric):
            let number: Float?
            switch value {
            case .missing: number = nil
            case .number(let given): number = given
            case .text(let text):
                guard let parsed = Float(text) else { throw .notANumber(column: name, text: text) }
                number = parsed
            }
            guard let number else {
                features[0] = numeric.fill
                if numeric.indicatesMissing { features[1] = 1 }
                return RawObservation(bin: nil)
            }
            guard number.isFinite else {
                if case .text(let text) = value { throw .notFinite(column: name, text: text) }
                throw .notFinite(column: name, text: "\(number)")
            }
            features[0] = number
            if numeric.indicatesMissing { features[1] = 0 }
            return RawObservation(bin: profile.bin(of: number), outsideRange: number < profile.minimum || number > profile.maximum)
        case .categorical(let categories):
            let category: String
            switch value {
            case .missing:
                features.update(repeating: 0, count: categories.width)
                if categories.hasMissing { features[categories.width - 1] = 1 }
                return RawObservation(bin: nil)
            case .number(let number):
                category = number.isNaN ? "" : RawValue.categoryText(of: number)
            case .text(let text):
                guard text.utf8.count <= Categories.maximumBytes else { throw .categoryTooLong(column: name, bytes: text.utf8.count) }
                category = RawValue.category(text)
            }
            features.update(repeating: 0, count: categories.width)
            if let slot = categories.slot(of: category) {
                features[slot] = 1
                return RawObservation(bin: slot)
            }
            if categories.hasOther { features[categories.otherSlot] = 1 }
            return RawObservation(bin: categories.otherSlot, unknown: true)
        }
    }
}

extension String {
    /// Without leading and trailing spaces and tabs (what a CSV cell's padding is); the
    /// string itself, uncopied, when it has none (the common case).
    var trimmingSpaces: String {
        let isPadding: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
        guard let first = utf8.first, let last = utf8.last else { return self }
        guard isPadding(first) || isPadding(last) else { return self }
        guard let start = utf8.firstIndex(where: { !isPadding($0) }), let end = utf8.lastIndex(where: { !isPadding($0) }) else { return "" }
        return String(self[start...end])
    }
}
