import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
@testable import NNServer
import NNWire
import XCTest

/// Unary gRPC over real HTTP/2: a client NIOHTTP2Handler and the server's NIOHTTP2Handler +
/// GRPCStreamHandler on two EmbeddedChannels, bytes carried between them, an echo service in
/// place of KServe's: what a client sends, what it gets back, and what it gets for each way a
/// call can be wrong.
final class GRPCStreamHandlerTests: XCTestCase {
    private typealias Connection = GRPCTestConnection

    private static let echo: GRPCStreamHandler.Serve = { call, _, reply in reply(.success(GRPCMessage.frame(bytes: call.message))) }

    private func connect(maxMessageSize: Int = 1024, windowSize: Int = 65_535, serve: @escaping GRPCStreamHandler.Serve = echo) throws -> Connection {
        try GRPCTestConnection.open(limits: GRPCLimits(maxMessageSize: maxMessageSize, windowSize: windowSize), serve: serve)
    }

    private func headers(_ stream: Int, path: String = "/inference.GRPCInferenceService/ServerLive", extra: [(String, String)] = [],
                         contentType: String = "application/grpc", endStream: Bool = false) -> HTTP2Frame {
        GRPCTestFrames.headers(stream, path: path, extra: extra, contentType: contentType, endStream: endStream)
    }

    private func message(_ stream: Int, _ bytes: [UInt8], compressed: Bool = false, declaredLength: Int? = nil, endStream: Bool = true) -> HTTP2Frame {
        GRPCTestFrames.message(stream, bytes, compressed: compressed, declaredLength: declaredLength, endStream: endStream)
    }

    private func send(_ connection: Connection, _ frames: HTTP2Frame...) throws {
        for frame in frames { connection.client.write(frame, promise: nil) }
        try connection.exchange()
    }

    private func trailers(_ payload: HTTP2Frame.FramePayload?) -> HPACKHeaders? {
        GRPCTestFrames.trailers(payload)
    }

    func testACallIsAnsweredWithHeadersTheMessageAndOKTrailers() throws {
        let connection = try connect()
        try send(connection, headers(1), message(1, [1, 2, 3]))
        let frames = try connection.received(on: HTTP2StreamID(1))
        XCTAssertEqual(frames.count, 3, "\(frames)")
        guard case .headers(let head) = frames[0], case .data(let data) = frames[1], case .byteBuffer(let body) = data.data else {
            return XCTFail("\(frames)")
        }
        XCTAssertEqual(head.headers.first(name: ":status"), "200")
        XCTAssertEqual(head.headers.first(name: "content-type"), "application/grpc")
        XCTAssertEqual(Array(body.readableBytesView), [0, 0, 0, 0, 3, 1, 2, 3], "a 5-byte prefix and the message")
        XCTAssertEqual(trailers(frames[2])?.first(name: "grpc-status"), "0")
        XCTAssertEqual(connection.handler.openStreams, 0, "the closed stream is forgotten")
    }

    func testTheMessageMayArriveInPiecesAndMetadataReachesTheService() throws {
        let seen = NIOLockedValueBox<GRPCCall?>(nil)
        let connection = try connect { call, _, reply in
            seen.withLockedValue { $0 = call }
            reply(.success(GRPCMessage.frame(bytes: ByteBuffer())))
        }
        var whole = ByteBuffer(bytes: [0, 0, 0, 0, 4, 9, 8, 7, 6])
        let first = whole.readSlice(length: 3)!
        try send(connection, headers(1, path: "/inference.GRPCInferenceService/ModelInfer", extra: [("grpc-timeout", "250m"), ("authorization", "Bearer t")]),
                 HTTP2Frame(streamID: HTTP2StreamID(1), payload: .data(.init(data: .byteBuffer(first)))))
        XCTAssertNil(seen.withLockedValue { $0 }, "not served before END_STREAM")
        try send(connection, HTTP2Frame(streamID: HTTP2StreamID(1), payload: .data(.init(data: .byteBuffer(whole), endStream: true))))
        let call = try XCTUnwrap(seen.withLockedValue { $0 })
        XCTAssertEqual(call.path, "/inference.GRPCInferenceService/ModelInfer")
        XCTAssertEqual(Array(call.message.readableBytesView), [9, 8, 7, 6])
        XCTAssertEqual(call.timeoutMicros, 250_000)
        XCTAssertEqual(call.authorization, "Bearer t")
    }

    func testEachWrongCallGetsItsStatus() throws {
        let cases: [(String, [HTTP2Frame], GRPCStatus.Code, String)] = [
            ("compressed without an encoding", [headers(1), message(1, [1], compressed: true)], .internalError,
             "a request message is marked compressed, and the call has no grpc-encoding"),
            ("encoding", [headers(1, extra: [("grpc-encoding", "snappy")]), message(1, [1])], .unimplemented, "grpc-encoding 'snappy' is not supported"),
            ("corrupt gzip", [headers(1, extra: [("grpc-encoding", "gzip")]), message(1, [1, 2, 3], compressed: true)], .invalidArgument,
             "the request message (grpc-encoding gzip)"),
            // 2,000 zero bytes in 29 compressed ones: refused at the message limit, not at its own size.
            ("bomb", [headers(1, extra: [("grpc-encoding", "gzip")]),
                      message(1, Array(ContentCoding.gzip.compress(ByteBuffer(bytes: [UInt8](repeating: 0, count: 2000))).readableBytesView), compressed: true)],
             .resourceExhausted, "the request message inflates to more than 1024 bytes"),
            ("timeout", [headers(1, extra: [("grpc-timeout", "+5S")]), message(1, [1])], .invalidArgument, "grpc-timeout '+5S' is not a gRPC timeout"),
            ("zero timeout", [headers(1, extra: [("grpc-timeout", "0m")]), message(1, [1])], .deadlineExceeded, "grpc-timeout '0m': the deadline had passed"),
            ("too large", [headers(1), message(1, Array(repeating: 7, count: 2000))], .resourceExhausted,
             "the request message has at least 2000 bytes; nnserve takes at most 1024"),
            ("no message", [headers(1, endStream: true)], .invalidArgument, "the request has no message"),
            ("prefix", [headers(1), message(1, [1, 2], declaredLength: 5)], .invalidArgument, "the request message prefix says 5 bytes and 2 follow"),
        ]
        for (name, frames, code, text) in cases {
            let connection = try connect()
            for frame in frames { try send(connection, frame) }
            let received = try connection.received(on: HTTP2StreamID(1))
            let trailers = try XCTUnwrap(received.lazy.compactMap(trailers).first, "\(name): \(received)")
            XCTAssertEqual(received.filter { if case .data = $0 { true } else { false } }.count, 0, "\(name): trailers only")
            XCTAssertEqual(trailers.first(name: "grpc-status"), String(code.rawValue), name)
            XCTAssertTrue((trailers.first(name: "grpc-message") ?? "").hasPrefix(GRPCStatus(code, text).encodedMessage), "\(name): \(trailers)")
            XCTAssertEqual(connection.handler.openStreams, 0, "\(name): nothing left behind")
        }
    }

    func testAGzipMessageIsInflatedAndTheAnswerCompressedWhenTheClientTakesIt() throws {
        let connection = try connect()
        // Python's gzip.compress(b"nnserve nnserve nnserve", mtime=0): an oracle from outside.
        let gzipped: [UInt8] = [31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 203, 203, 43, 78, 45, 42, 75, 85, 200, 67, 165, 1, 253, 93, 178, 184, 23, 0, 0, 0]
        try send(connection, headers(1, extra: [("grpc-encoding", "gzip"), ("grpc-accept-encoding", "identity,deflate,gzip")]),
                 message(1, gzipped, compressed: true))
        let frames = try connection.received(on: HTTP2StreamID(1))
        guard case .headers(let head) = frames.first, case .data(let data) = frames.dropFirst().first, case .byteBuffer(let body) = data.data,
              case .compressed(let answer) = GRPCMessage.unframe(body) else { return XCTFail("\(frames)") }
        XCTAssertEqual(head.headers.first(name: "grpc-encoding"), "gzip")
        XCTAssertEqual(String(buffer: try ContentCoding.gzip.decompress(answer, limit: 100)), "nnserve nnserve nnserve", "the echo, compressed")
        XCTAssertEqual(trailers(frames.last)?.first(name: "grpc-status"), "0")

        // Python's zlib.compress: deflate, answered uncompressed to a client that takes identity only.
        let deflated: [UInt8] = [120, 156, 203, 203, 43, 78, 45, 42, 75, 85, 200, 67, 165, 1, 111, 95, 9, 68]
        try send(connection, headers(3, extra: [("grpc-encoding", "deflate")]), message(3, deflated, compressed: true))
        let plain = try connection.received(on: HTTP2StreamID(3))
        guard case .data(let plainData) = plain.dropFirst().first, case .byteBuffer(let plainBody) = plainData.data else { return XCTFail("\(plain)") }
        XCTAssertEqual(GRPCMessage.unframe(plainBody), .message(ByteBuffer(string: "nnserve nnserve nnserve")))
    }

    /// An answer before the body is complete ends the upload with RST_STREAM(NO_ERROR).
    func testAnEarlyAnswerStopsTheUpload() throws {
        let connection = try connect()
        try send(connection, headers(1, extra: [("grpc-encoding", "snappy")]))
        let received = try connection.received(on: HTTP2StreamID(1))
        XCTAssertEqual(trailers(received.first)?.first(name: "grpc-status"), String(GRPCStatus.Code.unimplemented.rawValue))
        XCTAssertTrue(received.contains { if case .rstStream(.noError) = $0 { true } else { false } }, "\(received)")
    }

    /// Oversized messages that end their stream in the same frame leave nothing behind (their
    /// entries used to come back after the close event had removed them).
    func testOversizedMessagesLeaveNoStreamBehind() throws {
        let connection = try connect()
        for stream in stride(from: 1, through: 9, by: 2) {
            try send(connection, headers(stream), message(stream, Array(repeating: 7, count: 2000)))
        }
        XCTAssertEqual(connection.handler.openStreams, 0)
        XCTAssertEqual(connection.handler.bufferedBytes, 0)
    }

    func testANonGRPCRequestGetsAnHTTPStatus() throws {
        let connection = try connect()
        try send(connection, headers(1, contentType: "application/grpcx", endStream: true))
        XCTAssertEqual(trailers(try connection.received(on: HTTP2StreamID(1)).first)?.first(name: ":status"), "415")
    }

    func testAnAnswerForAStreamTheClientResetIsDropped() throws {
        let replies = NIOLockedValueBox<[@Sendable (Result<ByteBuffer, GRPCStatus>) -> Void]>([])
        let connection = try connect { _, _, reply in replies.withLockedValue { $0.append(reply) } }
        try send(connection, headers(1), message(1, [1]), headers(3), message(3, [3]))
        try send(connection, HTTP2Frame(streamID: HTTP2StreamID(1), payload: .rstStream(.cancel)))
        for reply in replies.withLockedValue({ $0 }) { reply(.success(GRPCMessage.frame(bytes: ByteBuffer(bytes: [5])))) }
        connection.server.embeddedEventLoop.run()
        try connection.exchange()
        let frames = try connection.received()
        XCTAssertEqual(frames.filter { $0.streamID == HTTP2StreamID(1) }.count, 0, "the reset stream gets nothing")
        XCTAssertEqual(frames.filter { $0.streamID == HTTP2StreamID(3) }.count, 3, "the other is answered")
    }

    /// A body of several windows completes: the handler reopens the stream's and the
    /// connection's windows as NIOHTTP2 reports them spent (without that the client's
    /// NIOHTTP2Handler would hold the rest of the body forever).
    func testABodyLargerThanTheWindowCompletes() throws {
        // The answer is the body's size (the client here reopens no windows of its own).
        let connection = try connect(maxMessageSize: 1 << 20) { call, _, reply in
            var size = ByteBuffer()
            size.writeInteger(UInt32(call.message.readableBytes))
            reply(.success(GRPCMessage.frame(bytes: size)))
        }
        let size = 200_000
        try send(connection, headers(1), message(1, Array(repeating: 1, count: size)))
        let received = try connection.received(on: HTTP2StreamID(1))
        let updates = received.filter { if case .windowUpdate = $0 { true } else { false } }
        XCTAssertGreaterThanOrEqual(updates.count, 2, "the stream's window reopened")
        let answer = received.filter { if case .windowUpdate = $0 { false } else { true } }
        guard answer.count == 3, case .data(let data) = answer[1], case .byteBuffer(var body) = data.data else {
            return XCTFail("\(received)")
        }
        body.moveReaderIndex(forwardBy: GRPCMessage.prefixSize)
        XCTAssertEqual(body.readInteger(as: UInt32.self), UInt32(size), "the whole message arrived")
        XCTAssertEqual(trailers(answer[2])?.first(name: "grpc-status"), "0")
    }
}

extension GRPCStreamHandlerTests {
    /// A connection refused for a bad preface (an HTTP/1 client) closes, and its handler is
    /// freed: the idle task, which holds it, ends with the connection.
    func testAClosedConnectionsHandlerIsFreed() throws {
        weak var released: GRPCStreamHandler?
        try {
            let handler = GRPCStreamHandler(maxMessageSize: 1024, windowSize: 1 << 16, serve: Self.echo)
            released = handler
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandlers([NIOHTTP2Handler(mode: .server), handler])
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            _ = try? channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
            _ = try? channel.finish()
        }()
        XCTAssertNil(released)
    }
}
