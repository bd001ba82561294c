import Foundation
@testable import NNFormat
import XCTest

/// The event file's framing against published values; Tests/python/test_tensorboard_logs.py
/// reads whole files back with TensorBoard's own reader.
final class TensorBoardEventFileTests: XCTestCase {
    func testCRC32CMatchesTheCheckValueOfItsStandard() {
        // RFC 3720 (iSCSI) B.4 and the CRC catalogue: CRC-32C of "123456789".
        XCTAssertEqual(CRC32.castagnoli.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32.castagnoli.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA, "RFC 3720 B.4: 32 bytes of zeros")
        XCTAssertEqual(CRC32.ieee.checksum(Array("123456789".utf8)), 0xCBF4_3926, "the container's CRC is unchanged")
    }

    func testMaskingRotatesRightBy15AndAddsTheConstant() {
        let crc = CRC32.castagnoli.checksum(Array("123456789".utf8))
        let rotated = (crc >> 15) | (crc << 17)
        XCTAssertEqual(TensorBoardEventFile.maskedCRC32C(Array("123456789".utf8)), rotated &+ 0xA282_EAD8)
        XCTAssertEqual(rotated, 0x2507_C60D, "0xE3069283 rotated right by 15, by hand")
    }

    func testRecordIsLengthChecksumDataChecksum() {
        let data: [UInt8] = [1, 2, 3]
        let record = TensorBoardEventFile.record(data)
        XCTAssertEqual(record.count, 8 + 4 + 3 + 4)
        XCTAssertEqual(Array(record[0..<8]), [3, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(record.readLittleEndian(UInt32.self, at: 8), TensorBoardEventFile.maskedCRC32C(Array(record[0..<8])))
        XCTAssertEqual(Array(record[12..<15]), data)
        XCTAssertEqual(record.readLittleEndian(UInt32.self, at: 15), TensorBoardEventFile.maskedCRC32C(data))
    }

    func testHistogramCountsEachValueInItsEqualWidthBucket() {
        let histogram = TensorBoardEventFile.histogram(of: [0, 1, 2, 3, 4, .nan], buckets: 4)
        XCTAssertEqual(histogram.min, 0)
        XCTAssertEqual(histogram.max, 4)
        XCTAssertEqual(histogram.num, 5, "the NaN is left out")
        XCTAssertEqual(histogram.sum, 10)
        XCTAssertEqual(histogram.sumSquares, 30)
        XCTAssertEqual(histogram.bucketLimit, [1, 2, 3, 4])
        XCTAssertEqual(histogram.bucket, [1, 1, 1, 2], "the largest value falls in the last bucket")
        let constant = TensorBoardEventFile.histogram(of: [2, 2, 2])
        XCTAssertEqual(constant.bucketLimit, [2])
        XCTAssertEqual(constant.bucket, [3])
    }

    func testFileStartsWithTheVersionRecordAndAppendsEvents() throws {
        let directory = NSTemporaryDirectory() + "tb-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try TensorBoardEventFile(directory: directory, wallTime: 1_700_000_000)
        XCTAssertTrue(file.path.hasPrefix("\(directory)/events.out.tfevents.1700000000."))
        try file.scalars([("loss", 0.5)], step: 3, wallTime: 1_700_000_001)
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: file.path)).map { $0 }
        var events: [Tensorflow_Event] = []
        var offset = 0
        while offset < bytes.count {
            let length = Int(bytes.readLittleEndian(UInt64.self, at: offset))
            events.append(try Tensorflow_Event(serializedBytes: Array(bytes[offset + 12 ..< offset + 12 + length])))
            offset += 12 + length + 4
        }
        XCTAssertEqual(offset, bytes.count)
        XCTAssertEqual(events.count, 2)
        XCTAssertEqual(events[0].fileVersion, "brain.Event:2")
        XCTAssertEqual(events[1].step, 3)
        XCTAssertEqual(events[1].summary.value.map(\.tag), ["loss"])
        XCTAssertEqual(events[1].summary.value.first?.simpleValue, 0.5)
    }
}
