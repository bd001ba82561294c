import Foundation

/// A strict RFC 8259 JSON parser into `JSONValue`, written for request bodies that are mostly
/// long arrays of numbers: one pass over the bytes where they lie (no copy of the body), an
/// array of numbers kept as one `[Double]` (`JSONValue.numbers`, no value per element), numbers
/// converted correctly rounded in place — to a double that also rounds correctly to FP32, the
/// type models compute in — and errors that give the byte offset. Foundation's JSONDecoder
/// with a value enum was 20x slower on a 784-number body (docs/BENCHMARKS.md, HTTP).
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
        let parsed = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(SyntaxError) -> JSONValue in try parse(buffer) }
        } ?? Array(bytes).withUnsafeBufferPointer { buffer in
            Result { () throws(SyntaxError) -> JSONValue in try parse(buffer) }
        }
        return try parsed.get()
    }

    private static func parse(_ buffer: UnsafeBufferPointer<UInt8>) throws(SyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: buffer, end: buffer.count)
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == buffer.count else { throw parser.error("unexpected text after the JSON value") }
        return value
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
        if isNumberStart {
            // Tensor data: numbers only, kept as doubles until an element that is not one.
            var numbers: [Double] = []
            while true {
                numbers.append(try number())
                skipWhitespace()
                guard position < end else { throw error("unterminated array") }
                if bytes[position] == UInt8(ascii: "]") {
                    position += 1
                    return .numbers(numbers)
                }
                guard bytes[position] == UInt8(ascii: ",") else { throw error("expected ',' or ']' in an array") }
                position += 1
                skipWhitespace()
                if !isNumberStart { break }
            }
            elements = numbers.map(JSONValue.number)
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

    private var isNumberStart: Bool {
        position < end && (bytes[position] == UInt8(ascii: "-") || isDigit(bytes[position]))
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
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            while position < end, isDigit(bytes[position]) {
                accumulateDigit(&mantissa, &significantDigits)
                position += 1
            }
        }
        if position < end, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard position < end, isDigit(bytes[position]) else { throw error("invalid number: digits must follow '.'") }
            while position < end, isDigit(bytes[position]) {
                accumulateDigit(&mantissa, &significantDigits)
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
        var value: Double
        if exponentIsSmall, significantDigits <= 15, abs(power) <= 22 {
            value = power >= 0 ? Double(mantissa) * Self.powerOfTen(power) : Double(mantissa) / Self.powerOfTen(-power)
            if negative { value = -value }
        } else {
            value = withTerminatedText(from: start) { strtod($0, nil) }
        }
        // A double exactly halfway between two floats would round a second time on its way to
        // FP32 (ties to even), which is wrong when the decimal was not exactly halfway: strtof
        // decides those, and the double moves one ulp toward its answer. A value the double
        // holds exactly (every integer that fits) rounds the same either way and is kept.
        let magnitude = value.magnitude
        if value.bitPattern & 0x1FFF_FFFF == 0x1000_0000, magnitude >= Double(Float.leastNormalMagnitude),
           magnitude <= Double(Float.greatestFiniteMagnitude) {
            let correct = withTerminatedText(from: start) { strtof($0, nil) }
            let twice = Float(value)
            if correct != twice { value = correct > twice ? value.nextUp : value.nextDown }
        }
        return value
    }

    /// The number's text (`start..<position`, checked by the grammar) with the terminator the
    /// C parsers need, in a stack buffer: the body itself is not copied.
    private func withTerminatedText<T>(from start: Int, _ parse: (UnsafePointer<CChar>) -> T) -> T {
        let length = position - start
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { text in
            UnsafeMutableRawBufferPointer(text).copyMemory(from: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<position])))
            text[length] = 0
            return parse(text.baseAddress!)
        }
    }

    @inline(__always)
    private func accumulateDigit(_ mantissa: inout UInt64, _ significantDigits: inout Int) {
        let digit = bytes[position] &- UInt8(ascii: "0")
        if mantissa == 0 && digit == 0 { return }
        significantDigits += 1
        if significantDigits <= 19 { mantissa = mantissa &* 10 &+ UInt64(digit) }
    }

    /// 10^0 ... 10^22, each exact in a Double (a switch: no lazily initialized table to check).
    @inline(__always)
    private static func powerOfTen(_ exponent: Int) -> Double {
        switch exponent {
        case 0: 1e0
        case 1: 1e1
        case 2: 1e2
        case 3: 1e3
        case 4: 1e4
        case 5: 1e5
        case 6: 1e6
        case 7: 1e7
        case 8: 1e8
        case 9: 1e9
        case 10: 1e10
        case 11: 1e11
        case 12: 1e12
        case 13: 1e13
        case 14: 1e14
        case 15: 1e15
        case 16: 1e16
        case 17: 1e17
        case 18: 1e18
        case 19: 1e19
        case 20: 1e20
        case 21: 1e21
        default: 1e22
        }
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
