import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
@testable import NNServer
import NNWire
import XCTest

/// Unary gRPC over HTTP/2 frames, with an echo service in place of KServe's: what a client
/// sends, what it gets back, and what it gets for each way a call can be wrong.
final class GRPCStreamHandlerTests: XCTestCase {
    private let stream = HTTP2StreamID(1)

    private func channel(maxMessageSize: Int = 1024, windowSize: Int = 65_535,
                         serve: @escaping GRPCStreamHandler.Serve = { call, _, reply in reply(.success(GRPCMessage.frame(bytes: call.message))) }) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: GRPCStreamHandler(maxMessageSize: maxMessageSize, windowSize: windowSize, serve: serve))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    private func headers(path: String = "/inference.GRPCInferenceService/ServerLive", extra: [(String, String)] = [],
                         contentType: String = "application/grpc", endStream: Bool = false) -> HTTP2Frame {
        let fields = [(":method", "POST"), (":path", path), (":scheme", "http"), ("content-type", contentType), ("te", "trailers")] + extra
        return HTTP2Frame(streamID: stream, payload: .headers(.init(headers: HPACKHeaders(fields), endStream: endStream)))
    }

    private func message(_ bytes: [UInt8], compressed: Bool = false, declaredLength: Int? = nil, endStream: Bool = true) -> HTTP2Frame {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(compressed ? 1 : 0))
        buffer.writeInteger(UInt32(declaredLength ?? bytes.count))
        buffer.writeBytes(bytes)
        return HTTP2Frame(streamID: stream, payload: .data(.init(data: .byteBuffer(buffer), endStream: endStream)))
    }

    private func written(_ channel: EmbeddedChannel) throws -> [HTTP2Frame.FramePayload] {
        var frames: [HTTP2Frame.FramePayload] = []
        while let frame = try channel.readOutbound(as: HTTP2Frame.self) { frames.append(frame.payload) }
        return frames
    }

    private func trailers(_ payload: HTTP2Frame.FramePayload?) -> HPACKHeaders? {
        guard case .headers(let headers)? = payload, headers.endStream else { return nil }
        return headers.headers
    }

    func testACallIsAnsweredWithHeadersTheMessageAndOKTrailers() throws {
        let channel = try channel()
        try channel.writeInbound(headers())
        try channel.writeInbound(message([1, 2, 3]))
        let frames = try written(channel)
        XCTAssertEqual(frames.count, 3)
        guard case .headers(let head) = frames[0], case .data(let data) = frames[1], case .byteBuffer(let body) = data.data else {
            return XCTFail("\(frames)")
        }
        XCTAssertEqual(head.headers.first(name: ":status"), "200")
        XCTAssertEqual(head.headers.first(name: "content-type"), "application/grpc")
        XCTAssertEqual(Array(body.readableBytesView), [0, 0, 0, 0, 3, 1, 2, 3], "a 5-byte prefix and the message")
        XCTAssertEqual(trailers(frames[2])?.first(name: "grpc-status"), "0")
    }

    func testTheMessageMayArriveInPiecesAndMetadataReachesTheService() throws {
        let seen = NIOLockedValueBox<GRPCCall?>(nil)
        let channel = try channel { call, _, reply in
            seen.withLockedValue { $0 = call }
            reply(.success(GRPCMessage.frame(bytes: ByteBuffer())))
        }
        try channel.writeInbound(headers(path: "/inference.GRPCInferenceService/ModelInfer", extra: [("grpc-timeout", "250m"), ("authorization", "Bearer t")]))
        var whole = ByteBuffer(bytes: [0, 0, 0, 0, 4, 9, 8, 7, 6])
        let first = whole.readSlice(length: 3)!
        try channel.writeInbound(HTTP2Frame(streamID: stream, payload: .data(.init(data: .byteBuffer(first)))))
        XCTAssertNil(seen.withLockedValue { $0 }, "not served before END_STREAM")
        try channel.writeInbound(HTTP2Frame(streamID: stream, payload: .data(.init(data: .byteBuffer(whole), endStream: true))))
        let call = try XCTUnwrap(seen.withLockedValue { $0 })
        XCTAssertEqual(call.path, "/inference.GRPCInferenceService/ModelInfer")
        XCTAssertEqual(Array(call.message.readableBytesView), [9, 8, 7, 6])
        XCTAssertEqual(call.timeoutMicros, 250_000)
        XCTAssertEqual(call.authorization, "Bearer t")
    }

    func testEachWrongCallGetsItsStatus() throws {
        let cases: [(String, [HTTP2Frame], GRPCStatus.Code, String)] = [
            ("compressed", [headers(), message([1], compressed: true)], .unimplemented, "the request message is compressed"),
            ("encoding", [headers(extra: [("grpc-encoding", "gzip")]), message([1])], .unimplemented, "grpc-encoding 'gzip' is not supported"),
            ("timeout", [headers(extra: [("grpc-timeout", "soon")]), message([1])], .invalidArgument, "grpc-timeout 'soon' is not a gRPC timeout"),
            ("too large", [headers(), message(Array(repeating: 7, count: 2000))], .resourceExhausted,
             "the request message has at least 2000 bytes; nnserve takes at most 1024"),
            ("no message", [headers(endStream: true)], .invalidArgument, "the request has no message"),
            ("prefix", [headers(), message([1, 2], declaredLength: 5)], .invalidArgument, "the request message prefix says 5 bytes and 2 follow"),
        ]
        for (name, frames, code, text) in cases {
            let channel = try channel()
            for frame in frames { try channel.writeInbound(frame) }
            let written = try written(channel)
            XCTAssertEqual(written.count, 1, "\(name): trailers only")
            let trailers = try XCTUnwrap(trailers(written.first), name)
            XCTAssertEqual(trailers.first(name: "grpc-status"), String(code.rawValue), name)
            XCTAssertTrue((trailers.first(name: "grpc-message") ?? "").hasPrefix(GRPCStatus(code, text).encodedMessage), "\(name): \(trailers)")
        }
    }

    func testANonGRPCRequestGetsAnHTTPStatus() throws {
        let channel = try channel()
        try channel.writeInbound(headers(contentType: "application/json", endStream: true))
        let written = try written(channel)
        XCTAssertEqual(trailers(written.first)?.first(name: ":status"), "415")
    }

    func testAnAnswerForAStreamTheClientResetIsDropped() throws {
        let replies = NIOLockedValueBox<[@Sendable (Result<ByteBuffer, GRPCStatus>) -> Void]>([])
        let channel = try channel { _, _, reply in replies.withLockedValue { $0.append(reply) } }
        try channel.writeInbound(headers())
        try channel.writeInbound(message([1]))
        try channel.writeInbound(HTTP2Frame(streamID: stream, payload: .rstStream(.cancel)))
        replies.withLockedValue { $0 }.first?(.success(ByteBuffer(bytes: [5])))
        XCTAssertEqual(try written(channel).count, 0)
    }

    /// A body larger than half the window gets WINDOW_UPDATEs for the stream and the
    /// connection, so a client with a large request never waits for the window.
    func testLargeBodiesOpenTheWindowAgain() throws {
        let channel = try channel(maxMessageSize: 1 << 20, windowSize: 65_535)
        try channel.writeInbound(headers())
        try channel.writeInbound(message(Array(repeating: 1, count: 40_000), endStream: false))
        let updates = try written(channel).compactMap { payload -> Int? in
            if case .windowUpdate(let increment) = payload { return increment }
            return nil
        }
        XCTAssertEqual(updates, [40_005, 40_005], "the connection's and the stream's")
    }
}
