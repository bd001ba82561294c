import NIOCore
@testable import NNServer
import XCTest

/// gzip and deflate against Python's zlib and gzip modules (the byte arrays below are their
/// output): several gzip members are one body, bytes after zlib data are refused, never
/// dropped, and the limit bounds what inflating produces, not what arrives.
final class ContentCodingTests: XCTestCase {
    func testGzipMembersFollowingEachOtherAreOneBody() throws {
        // gzip.compress(b"ab", mtime=0) + gzip.compress(b"cd", mtime=0)
        let members: [UInt8] = [31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 75, 76, 2, 0, 109, 72, 131, 158, 2, 0, 0, 0,
                                31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 75, 78, 1, 0, 218, 143, 214, 69, 2, 0, 0, 0]
        XCTAssertEqual(String(buffer: try ContentCoding.gzip.decompress(ByteBuffer(bytes: members), limit: 100)), "abcd")
        XCTAssertThrowsError(try ContentCoding.gzip.decompress(ByteBuffer(bytes: members), limit: 3)) { error in
            XCTAssertEqual(error as? ContentCoding.CodingError, .tooLarge(limit: 3), "the limit counts every member")
        }
    }

    func testBytesAfterZlibDataAreRefused() {
        // zlib.compress(b"ab") + b"xy"
        let data: [UInt8] = [120, 156, 75, 76, 2, 0, 1, 38, 0, 196, 120, 121]
        XCTAssertEqual(try ContentCoding.deflate.decompress(ByteBuffer(bytes: data.dropLast(2)), limit: 10), ByteBuffer(string: "ab"))
        XCTAssertThrowsError(try ContentCoding.deflate.decompress(ByteBuffer(bytes: data), limit: 10)) { error in
            XCTAssertEqual("\(error)", "2 bytes follow the end of the deflate data")
        }
    }

    func testRoundTripsAndTheLimitStopsABomb() throws {
        let text = ByteBuffer(bytes: (0..<100_000).map { UInt8(truncatingIfNeeded: $0 % 251) })
        for coding in ContentCoding.allCases {
            XCTAssertEqual(try coding.decompress(coding.compress(text), limit: 100_000), text, "\(coding)")
        }
        let bomb = ContentCoding.gzip.compress(ByteBuffer(bytes: [UInt8](repeating: 0, count: 50 << 20)))
        XCTAssertLessThan(bomb.readableBytes, 1 << 20, "50 MiB in well under 1 MiB")
        XCTAssertThrowsError(try ContentCoding.gzip.decompress(bomb, limit: 1 << 20)) { error in
            XCTAssertEqual(error as? ContentCoding.CodingError, .tooLarge(limit: 1 << 20))
        }
        XCTAssertThrowsError(try ContentCoding.gzip.decompress(ByteBuffer(bytes: Array(bomb.readableBytesView.prefix(1000))), limit: 100 << 20)) { error in
            XCTAssertEqual("\(error)", "the gzip data ends early")
        }
    }

    func testAcceptEncodingListsAreReadWithTheirQualities() throws {
        XCTAssertEqual(ContentCoding.accepted(by: "gzip, deflate, br"), .gzip)
        XCTAssertEqual(ContentCoding.accepted(by: "gzip;q=0, deflate"), .deflate)
        XCTAssertEqual(ContentCoding.accepted(by: "identity"), nil)
        XCTAssertEqual(ContentCoding.accepted(by: "*"), .gzip)
        XCTAssertEqual(try ContentCoding(header: "GZIP"), .gzip)
        XCTAssertNil(try ContentCoding(header: "identity"))
        XCTAssertThrowsError(try ContentCoding(header: "br"))
    }
}
