import NIOCore
import NIOEmbedded
import NNFormat
import NNWire
import XCTest

/// The shared frame decoder on an `EmbeddedChannel`: how bytes arrive (split anywhere,
/// several frames in one read) must not change which frames come out.
final class FrameDecoderTests: XCTestCase {
    private func makeChannel(expectsPreface: Bool, maxFrameSize: Int = 64) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maxFrameSize: maxFrameSize, expectsPreface: expectsPreface)))
        return channel
    }

    private func frame(_ payload: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt32(payload.count).bigEndian, Array.init) + payload
    }

    private func frames(from channel: EmbeddedChannel) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        while let buffer = try channel.readInbound(as: ByteBuffer.self) { out.append(Array(buffer.readableBytesView)) }
        return out
    }

    func testFramesSplitAtEveryByteComeOutWhole() throws {
        let payloads: [[UInt8]] = [[1, 2, 3], [], Array(repeating: 9, count: 40)]
        let stream = WireProtocol.preface + payloads.flatMap(frame)
        for split in 1..<stream.count {
            let channel = try makeChannel(expectsPreface: true)
            try channel.writeInbound(ByteBuffer(bytes: stream[..<split]))
            try channel.writeInbound(ByteBuffer(bytes: stream[split...]))
            XCTAssertEqual(try frames(from: channel), payloads, "split at byte \(split)")
            XCTAssertTrue(try channel.finish().isClean)
        }
    }

    func testCoalescedFramesInOneReadComeOutInOrder() throws {
        let channel = try makeChannel(expectsPreface: false)
        let payloads: [[UInt8]] = (0..<10).map { Array(repeating: UInt8($0), count: $0) }
        try channel.writeInbound(ByteBuffer(bytes: payloads.flatMap(frame)))
        XCTAssertEqual(try frames(from: channel), payloads)
    }

    func testOversizeFrameIsRefusedBeforeItsBytesArrive() throws {
        let channel = try makeChannel(expectsPreface: false, maxFrameSize: 64)
        // Only the length prefix: the decoder must not wait for 65 bytes it will never accept.
        XCTAssertThrowsError(try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 65]))) { error in
            XCTAssertEqual(error as? WireError, .frameTooLarge(length: 65, limit: 64))
        }
    }

    func testBadPrefaceIsRefusedNamingWhatItLooksLike() throws {
        let channel = try makeChannel(expectsPreface: true)
        XCTAssertThrowsError(try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))) { error in
            guard case .badPreface(let detail)? = error as? WireError else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.contains("HTTP request"), detail)
        }
        let versioned = try makeChannel(expectsPreface: true)
        XCTAssertThrowsError(try versioned.writeInbound(ByteBuffer(bytes: WireProtocol.magic + [0, 0, 0, 9]))) { error in
            XCTAssertEqual(error as? WireError, .badPreface("protocol version 9, this server speaks version 1"))
        }
    }

    func testPrefaceArrivingByteByByteIsAccepted() throws {
        let channel = try makeChannel(expectsPreface: true)
        for byte in WireProtocol.preface { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
        try channel.writeInbound(ByteBuffer(bytes: frame([7])))
        XCTAssertEqual(try frames(from: channel), [[7]])
    }
}
