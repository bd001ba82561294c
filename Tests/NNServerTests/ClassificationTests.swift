@testable import NNServer
import XCTest

/// Triton's classification format: "score:index", highest first, six decimals as C's %f
/// writes them (1e-7 prints as 0.000000 yet ranks above 0); equal scores in index order; k
/// past the width gives every class.
final class ClassificationTests: XCTestCase {
    func testTopClassesPerRowInTritonsFormat() {
        let values: [Float] = [0.5, 0.5, 0.9, 0.1,
                               -1, 2.25, 0, 1e-7]
        XCTAssertEqual(Classification.top(3, of: values, rows: 2, width: 4),
                       ["0.900000:2", "0.500000:0", "0.500000:1", "2.250000:1", "0.000000:3", "0.000000:2"])
        XCTAssertEqual(Classification.top(9, of: values, rows: 2, width: 4).count, 8, "k past the width: every class")
    }

    func testBinaryElementsAreLengthPrefixedLittleEndian() {
        XCTAssertEqual(Classification.binary(["ab", ""]), [2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0])
    }
}
