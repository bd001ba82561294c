import NNCore
import XCTest

final class TensorTests: XCTestCase {
    func testStorageIsAlignedAndCopyOnWrite() {
        let original = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        original.withUnsafeBufferPointer { XCTAssertEqual(Int(bitPattern: $0.baseAddress) % AlignedStorage.alignment, 0) }
        var copy = original
        copy[1, 2] = 60
        XCTAssertEqual(original[1, 2], 6)
        XCTAssertEqual(copy[1, 2], 60)
        XCTAssertNotEqual(original, copy)
    }

    func testElementCountRejectsOverflowAndNegativeDimensions() {
        XCTAssertEqual(Tensor.elementCount(of: [3, 4]), 12)
        XCTAssertEqual(Tensor.elementCount(of: []), 1)
        XCTAssertNil(Tensor.elementCount(of: [Int.max, 2]))
        XCTAssertNil(Tensor.elementCount(of: [-1, 2]))
    }

    func testEqualityIsBitwise() {
        XCTAssertNotEqual(Tensor([0]), Tensor([-0.0]))
        XCTAssertEqual(Tensor([.nan]), Tensor([.nan]))
        XCTAssertNotEqual(Tensor(shape: [1, 2], values: [1, 2]), Tensor([1, 2]))
    }
}
