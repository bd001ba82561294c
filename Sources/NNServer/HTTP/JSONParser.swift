import Foundation

/// A strict RFC 8259 JSON parser into `JSONValue`, written for request bodies that are mostly
/// long arrays of numbers: one pass over the bytes, numbers converted correctly rounded in
/// place, errors that give the byte offset. Foundation's JSONDecoder with a
/// value enum was 20x slower on a 784-number body (docs/BENCHMARKS.md, HTTP).
struct JSONParser {
    struct SyntaxError: Error, Equatable {
        var offset: Int
        var problem: String
        var description: String { "\(problem) at byte \(offset)" }
    }

    /// Deeper nesting is refused rather than risk the stack (tensors nest by their rank).
    static let maxDepth = 64

    /// Parses a whole body: one value, surrounded only by whitespace.
    static func parse(_ bytes: some Collection<UInt8>) throws(SyntaxError) -> JSONValue {
        // strtod needs a terminator after the last number: parse a NUL-terminated copy.
        var copy = [UInt8]()
        copy.reserveCapacity(bytes.count + 1)
        copy.append(contentsOf: bytes)
        copy.append(0)
        let length = copy.count - 1
        return try copy.withUnsafeBufferPointer { buffer in
            Result { () throws(SyntaxError) -> JSONValue in
                var parser = JSONParser(bytes: buffer, end: length)
                let value = try parser.value(depth: 0)
                parser.skipWhitespace()
                guard parser.position == length else { throw parser.error("unexpected text after the JSON value") }
                return value
            }
        }.get()
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private let end: Int
    private var position = 0

    private init(bytes: UnsafeBufferPointer<UInt8>, end: Int) {
        self.bytes = bytes
        self.end = end
    }

    private func error(_ problem: String) -> SyntaxError {
        SyntaxError(offset: position, problem: problem)
    }

    private mutating func skipWhitespace() {
        while position < end {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    private mutating func value(depth: Int) throws(SyntaxError) -> JSONValue {
        skipWhitespace()
        guard position < end else { throw error("unexpected end of the body") }
        switch bytes[position] {
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected character '\(Unicode.Scalar(bytes[position]))'")
        }
    }

    private mutating func literal(_ word: StaticString) throws(SyntaxError) {
        let count = word.utf8CodeUnitCount
        guard position + count <= end, memcmp(bytes.baseAddress! + position, word.utf8Start, count) == 0 else {
            throw error("invalid literal (expected \(word))")
        }
        position += count
    }

    private mutating func array(depth: Int) throws(SyntaxError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth)") }
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < end, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            elements.append(try value(depth: depth))
            skipWhitespace()
            guard position < end else { throw error("unterminated array") }
            switch bytes[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return .array(elements)
            default: throw error("expected ',' or ']' in an array")
            }
        }
    }

    private mutating func object(depth: Int) throws(SyntaxError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth)") }
        position += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if position < end, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < end, bytes[position] == UInt8(ascii: "\"") else { throw error("expected a member name in quotes") }
            let key = try string()
            skipWhitespace()
            guard position < end, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':' after member \"\(key)\"") }
            position += 1
            members[key] = try value(depth: depth)
            skipWhitespace()
            guard position < end else { throw error("unterminated object") }
            switch bytes[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return .object(members)
            default: throw error("expected ',' or '}' in an object")
            }
        }
    }

    /// A number in JSON's grammar (checked here: strtod alone would also take "0x1p3",
    /// "inf" or "1."). Up to 15 significant digits and a power of ten up to 22 — nearly every
    /// number a client sends — are converted exactly (Clinger's fast path: both operands are
    /// exact doubles, so one multiply or divide rounds correctly); the rest go to strtod.
    private mutating func number() throws(SyntaxError) -> Double {
        let start = position
        let negative = bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        guard position < end, isDigit(bytes[position]) else { throw error("invalid number") }
        var mantissa: UInt64 = 0
        var significantDigits = 0
        var decimalExponent = 0
        func accumulate(_ byte: UInt8) {
            if mantissa == 0 && byte == UInt8(ascii: "0") { return }
            significantDigits += 1
            if significantDigits <= 19 { mantissa = mantissa &* 10 &+ UInt64(byte &- UInt8(ascii: "0")) }
        }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            while position < end, isDigit(bytes[position]) { accumulate(bytes[position]); position += 1 }
        }
        if position < end, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard position < end, isDigit(bytes[position]) else { throw error("invalid number: digits must follow '.'") }
            while position < end, isDigit(bytes[position]) {
                accumulate(bytes[position])
                decimalExponent -= 1
                position += 1
            }
        }
        var exponent = 0
        var exponentIsSmall = true
        if position < end, bytes[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            var exponentNegative = false
            if position < end, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                exponentNegative = bytes[position] == UInt8(ascii: "-")
                position += 1
            }
            guard position < end, isDigit(bytes[position]) else { throw error("invalid number: digits must follow the exponent") }
            while position < end, isDigit(bytes[position]) {
                if exponent < 10_000 { exponent = exponent * 10 + Int(bytes[position] - UInt8(ascii: "0")) } else { exponentIsSmall = false }
                position += 1
            }
            if exponentNegative { exponent = -exponent }
        }
        let power = decimalExponent + exponent
        if exponentIsSmall, significantDigits <= 15, abs(power) <= 22 {
            let value = power >= 0 ? Double(mantissa) * Self.powersOfTen[power] : Double(mantissa) / Self.powersOfTen[-power]
            return negative ? -value : value
        }
        // The grammar check above guarantees strtod reads exactly start..<position.
        let pointer = UnsafeRawPointer(bytes.baseAddress! + start).assumingMemoryBound(to: CChar.self)
        return strtod(pointer, nil)
    }

    /// 10^0 ... 10^22, each exact in a Double.
    private static let powersOfTen: [Double] = (0...22).map { exponent in
        (0..<exponent).reduce(1.0) { value, _ in value * 10 }
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte &- UInt8(ascii: "0") < 10
    }

    private mutating func string() throws(SyntaxError) -> String {
        position += 1
        let start = position
        var plain = true
        while position < end {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                defer { position += 1 }
                let raw = UnsafeBufferPointer(rebasing: bytes[start..<position])
                if plain { return String(decoding: raw, as: UTF8.self) }
                return try unescape(raw, at: start)
            }
            if byte == UInt8(ascii: "\\") {
                plain = false
                position += 2
                continue
            }
            guard byte >= 0x20 else { throw error("control character in a string") }
            position += 1
        }
        throw error("unterminated string")
    }

    private func unescape(_ raw: UnsafeBufferPointer<UInt8>, at offset: Int) throws(SyntaxError) -> String {
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        var index = 0
        func flush() {
            scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
            utf8.removeAll()
        }
        /// Exactly four hex digits (UInt32(_:radix:) would also take a sign).
        func hex(_ at: Int) -> UInt32? {
            guard at + 4 <= raw.count else { return nil }
            var value: UInt32 = 0
            for byte in raw[at..<(at + 4)] {
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        while index < raw.count {
            let byte = raw[index]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                index += 1
                continue
            }
            guard index + 1 < raw.count else { throw SyntaxError(offset: offset + index, problem: "invalid escape") }
            let escaped = raw[index + 1]
            index += 2
            switch escaped {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escaped)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                guard var code = hex(index) else { throw SyntaxError(offset: offset + index, problem: "invalid \\u escape") }
                index += 4
                // A surrogate pair spells one scalar beyond the basic plane.
                if (0xD800..<0xDC00).contains(code), index + 6 <= raw.count, raw[index] == UInt8(ascii: "\\"),
                   raw[index + 1] == UInt8(ascii: "u"), let low = hex(index + 2), (0xDC00..<0xE000).contains(low) {
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                }
                flush()
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default:
                throw SyntaxError(offset: offset + index - 2, problem: "invalid escape '\\\(Unicode.Scalar(escaped))'")
            }
        }
        flush()
        return String(scalars)
    }
}
