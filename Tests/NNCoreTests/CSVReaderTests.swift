import NNCore
import XCTest

/// RFC 4180 as the raw tables of the wild write it: quotes, doubled quotes, line breaks inside
/// quotes, CRLF, a byte-order mark; and the two ways text is not CSV.
final class CSVReaderTests: XCTestCase {
    private func fields(_ text: String) throws -> [[String]] { try CSVReader.records(text).map(\.fields) }

    func testQuotedFieldsHoldCommasQuotesAndLineBreaks() throws {
        let text = "name,price,note\r\n\"Acme, Inc.\",3.5,\"say \"\"hi\"\"\"\r\nplain,4,\"two\nlines\"\r\n,,\r\n"
        XCTAssertEqual(try fields(text), [["name", "price", "note"], ["Acme, Inc.", "3.5", "say \"hi\""], ["plain", "4", "two\nlines"], ["", "", ""]])
        XCTAssertEqual(try CSVReader.records(text).map(\.line), [1, 2, 3, 5], "a record keeps the line it starts on")
    }

    func testByteOrderMarkTrailingBlankLinesAndNoFinalNewline() throws {
        XCTAssertEqual(try fields("\u{FEFF}a,b\n1,2\n\n\n"), [["a", "b"], ["1", "2"]])
        XCTAssertEqual(try fields("a\n\"\""), [["a"], [""]], "a quoted empty field is a value")
        XCTAssertEqual(try fields("a,b\n\n1,2"), [["a", "b"], [""], ["1", "2"]], "a blank line inside is a record; callers decide")
        XCTAssertEqual(try fields("x\n5'6\"\n"), [["x"], ["5'6\""]], "a quote inside an unquoted field is text")
        XCTAssertEqual(try fields(""), [])
    }

    func testTextThatIsNotCSVNamesItsLine() {
        XCTAssertThrowsError(try CSVReader.records("a,b\n1,\"open\n2,3\n")) {
            XCTAssertEqual("\($0)", "line 2: a quoted field opened here is never closed")
        }
        XCTAssertThrowsError(try CSVReader.records("a\n\"x\"y\n")) {
            XCTAssertEqual("\($0)", "line 2: text after the closing quote of a field (a quote inside a quoted field is written \"\")")
        }
    }
}

extension CSVReaderTests {
    func testSpacesBeforeAQuoteAndALoneCarriageReturn() throws {
        XCTAssertEqual(try fields("\"a\", \"b\"\r1, 2\r"), [["a", "b"], ["1", " 2"]])
    }
}
