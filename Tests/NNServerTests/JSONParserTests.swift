import Foundation
import NNCore
@testable import NNServer
import XCTest

/// JSONParser against oracles: Foundation's JSONSerialization writes the documents, Swift's
/// correctly rounded `Double(String)` reads the numbers, and RFC 8259's grammar decides
/// what must be refused.
final class JSONParserTests: XCTestCase {
    private func randomValue(_ rng: inout CounterRNG, depth: Int) -> Any {
        switch rng.nextWord() % (depth > 3 ? 4 : 6) {
        case 0: return Double(rng.nextNormal()) * pow(10, Double(Int(rng.nextWord() % 20) - 10))
        case 1: return rng.nextWord() % 2 == 0
        case 2: return ["plain", "with \"quotes\" and \\ slash", "tab\there\nnewline", "ünïcødé ✓ 😀", ""][Int(rng.nextWord() % 5)]
        case 3: return Int(rng.nextWord() % 100_000) - 50_000
        case 4: return (0..<Int(rng.nextWord() % 5)).map { _ in randomValue(&rng, depth: depth + 1) }
        default:
            var object: [String: Any] = [:]
            for index in 0..<Int(rng.nextWord() % 5) { object["key\(index)"] = randomValue(&rng, depth: depth + 1) }
            return object
        }
    }

    private func same(_ parsed: JSONValue, _ expected: Any) -> Bool {
        switch (parsed, expected) {
        case (.bool(let a), let b as Bool): return a == b
        case (.number(let a), let b as Int): return a == Double(b)
        case (.number(let a), let b as Double): return a == b
        case (.string(let a), let b as String): return a == b
        case (.array(let a), let b as [Any]): return a.count == b.count && zip(a, b).allSatisfy { same($0, $1) }
        case (.numbers(let a), let b as [Any]): return a.count == b.count && zip(a, b).allSatisfy { same(.number($0), $1) }
        case (.object(let a), let b as [String: Any]):
            return a.count == b.count && b.allSatisfy { key, value in a[key].map { same($0, value) } ?? false }
        default: return false
        }
    }

    func testDocumentsWrittenByFoundationReadBackTheSame() throws {
        var rng = CounterRNG(seed: 11)
        for _ in 0..<300 {
            let value: [String: Any] = ["inputs": [randomValue(&rng, depth: 0)], "id": "x"]
            let text = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted])
            let parsed = try JSONParser.parse(Array(text))
            XCTAssertTrue(same(parsed, value), String(decoding: text, as: UTF8.self))
        }
    }

    func testNumbersAreCorrectlyRounded() throws {
        let numbers = ["0", "-0", "0.1", "1e-7", "1E+2", "-12.5e-3", "2.2250738585072011e-308", "4.9e-324",
                       "1.7976931348623157e308", "123456789012345678901234567890", "0.30000000000000004", "3.4028235e38",
                       "1e999", "9007199254740993", "0.0001", "-0.5e-10", "123456789012345e7", "1234567890123456e-5",
                       "0.000000000000000000000000001", "7e22", "7e23", "0.1234", "100e-2", "5e-22", "5e-23"]
        for text in numbers {
            let parsed = try JSONParser.parse(Array("[\(text)]".utf8))
            XCTAssertEqual(parsed, .array([.number(Double(text)!)]), text)
        }
    }

    /// Decimals just above and below the point halfway between two floats: as a double they
    /// land exactly on it, and a second rounding to FP32 (ties to even) would pick the wrong
    /// float half the time. Swift's correctly rounded `Float(String)` is the oracle; integers
    /// that are exact halfway points keep their exact double.
    func testNumbersRoundCorrectlyToFloatThroughTheirDouble() throws {
        var rng = CounterRNG(seed: 17)
        var checked = 0
        for _ in 0..<2_000 {
            let low = Float(bitPattern: UInt32(truncatingIfNeeded: rng.nextWord()) & 0x7EFF_FFFF | 0x0080_0000)
            guard low.isFinite, low.nextUp.isFinite else { continue }
            let halfway = (Double(low) + Double(low.nextUp)) / 2
            // The halfway point's exact decimal digits, then a nudge far below a double's precision.
            let exact = String(format: "%.60e", halfway)
            let (digits, exponent) = (exact.prefix { $0 != "e" }, exact.drop { $0 != "e" })
            for text in ["\(digits)0000001\(exponent)", "\(String(digits.dropLast()))\(digits.last! == "0" ? "0" : String(Int(String(digits.last!))! - 1))9999999\(exponent)"] {
                guard Double(text)! == halfway else { continue }
                let parsed = try JSONParser.parse(Array(text.utf8))
                guard case .number(let value) = parsed else { return XCTFail(text) }
                XCTAssertEqual(Float(value), Float(text)!, text)
                XCTAssertLessThanOrEqual(abs(value - halfway), halfway.ulp, text)
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 1_000)
        for integer in ["16777217", "33554435", "-16777219"] {
            XCTAssertEqual(try JSONParser.parse(Array(integer.utf8)), .number(Double(integer)!), integer)
        }
    }

    /// The fast path (15 digits, |power| ≤ 22) against Swift's parser on random decimals.
    func testRandomDecimalsMatchSwiftsParser() throws {
        var rng = CounterRNG(seed: 5)
        for _ in 0..<20_000 {
            let digits = String((0..<(1 + Int(rng.nextWord() % 17))).map { _ in Character(String(rng.nextWord() % 10)) })
            let point = Int(rng.nextWord()) % (digits.count + 1)
            var text = String(digits.prefix(point)) + "." + String(digits.dropFirst(point))
            if text.hasPrefix(".") { text = "0" + text }
            if text.hasSuffix(".") { text += "0" }
            if text.count > 1, text.hasPrefix("0"), !text.hasPrefix("0.") { text = String(text.drop { $0 == "0" }); if text.hasPrefix(".") { text = "0" + text } }
            if rng.nextWord() % 2 == 0 { text += "e\(Int(rng.nextWord() % 60) - 30)" }
            let parsed = try JSONParser.parse(Array(text.utf8))
            XCTAssertEqual(parsed, .number(Double(text)!), text)
        }
    }

    func testEscapesAndSurrogatePairs() throws {
        XCTAssertEqual(try JSONParser.parse(Array(#""a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00""#.utf8)),
                       .string("a\"b\\c/d\u{08}\u{0C}\n\r\té😀"))
    }

    func testMalformedDocumentsAreRefusedWithTheirOffset() {
        let bad: [(String, Int)] = [
            ("01", 1), ("1.", 2), (".5", 0), ("+1", 0), ("[1,]", 3), (#"{"a":1,}"#, 7), ("tru", 0), (#""\x""#, 1),
            ("nan", 0), ("Infinity", 0), ("0x10", 1), ("1 2", 2), ("[1 2]", 3), ("\"a\u{01}\"", 2), (#"{"a" 1}"#, 5),
            ("", 0), ("[", 1), (#""abc"#, 4), ("{1:2}", 1), ("-", 1), ("1e", 2), ("[" + String(repeating: "[", count: 70), 64),
        ]
        for (text, offset) in bad {
            XCTAssertThrowsError(try JSONParser.parse(Array(text.utf8)), text) { error in
                XCTAssertEqual((error as? JSONParser.SyntaxError)?.offset, offset, "\(text): \(error)")
            }
        }
    }
}
