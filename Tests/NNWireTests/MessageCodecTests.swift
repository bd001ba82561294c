import NIOCore
import NIOEmbedded
import NNFormat
import NNWire
import XCTest

/// The shared message codec: frames serialized straight into a ByteBuffer must be the bytes
/// `WireProtocol.frame` defines, and payloads decode in place to the message they hold.
final class MessageCodecTests: XCTestCase {
    private func serverSide() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([
            ByteToMessageHandler(FrameDecoder(expectsPreface: true)),
            RequestCodec(),
        ])
        return channel
    }

    private func predictRequest(id: UInt64) -> Nnserve_Request {
        var request = Nnserve_Request()
        request.id = id
        request.predict.model = "digits"
        var input = Nnserve_InputTensor()
        input.name = "pixels"
        input.shape = [2, 3]
        input.data = [1, 2, 3, 4, 5, 6.5]
        request.predict.inputs = [input]
        return request
    }

    func testRequestsDecodeFromTheStream() throws {
        let channel = try serverSide()
        let requests = [predictRequest(id: 1), predictRequest(id: 2)]
        try channel.writeInbound(ByteBuffer(bytes: WireProtocol.preface + requests.flatMap { try! WireProtocol.frame($0) }))
        XCTAssertEqual(try channel.readInbound(as: Nnserve_Request.self), requests[0])
        XCTAssertEqual(try channel.readInbound(as: Nnserve_Request.self), requests[1])
        XCTAssertNil(try channel.readInbound(as: Nnserve_Request.self))
    }

    func testResponsesAreWrittenAsTheFramesTheProtocolDefines() throws {
        let channel = try serverSide()
        var response = Nnserve_Response()
        response.id = 42
        response.error.code = .notFound
        response.error.message = "unknown model 'x'"
        try channel.writeOutbound(response)
        let written = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        XCTAssertEqual(Array(written.readableBytesView), try WireProtocol.frame(response))
        // An empty message is a frame of length 0.
        try channel.writeOutbound(Nnserve_Response())
        XCTAssertEqual(Array(try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self)).readableBytesView), [0, 0, 0, 0])
    }

    func testUndecodablePayloadIsReportedNotDroppedAndEndsTheStream() throws {
        let channel = try serverSide()
        // Field 1 as a length-delimited value running past the end of the payload, then a
        // good request in the same read: after a broken frame nothing more is trusted.
        var good = Nnserve_Request()
        good.id = 5
        good.health = Nnserve_HealthRequest()
        let stream = WireProtocol.preface + [0, 0, 0, 3, 0x0A, 0x09, 0x01] + (try WireProtocol.frame(good))
        XCTAssertThrowsError(try channel.writeInbound(ByteBuffer(bytes: stream))) { error in
            guard case .undecodableMessage(let message, _)? = error as? WireError else { return XCTFail("\(error)") }
            XCTAssertEqual(message, "Request")
            XCTAssertTrue("\(error)".hasPrefix("frame is not a valid Request message"), "\(error)")
        }
        XCTAssertNil(try channel.readInbound(as: Nnserve_Request.self))
    }
}
