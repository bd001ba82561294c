import NIOConcurrencyHelpers
import NIOCore
import NIOHPACK
import NIOHTTP2
@testable import NNServer
import NNWire
import XCTest

/// Streaming gRPC calls over real HTTP/2 (EmbeddedChannels): a bidirectional call's messages
/// are each handed on as they complete and answered in their order whatever order the answers
/// come back in; a method the server does not serve is refused as its HEADERS arrive; a stream
/// that ends inside a message is told so.
final class GRPCStreamingTests: XCTestCase {
    private static let streamPath = "/inference.GRPCInferenceService/ModelStreamInfer"

    private func connect(serve: @escaping GRPCStreamHandler.Serve) throws -> GRPCTestConnection {
        try GRPCTestConnection.open(limits: GRPCLimits(maxMessageSize: 1024, windowSize: 65_535), shape: { path in
            switch path {
            case Self.streamPath: .bidirectional
            case "/inference.GRPCInferenceService/ModelInfer": .unary
            default: .refused(GRPCStatus(.unimplemented, "not served: \(path)"))
            }
        }, serve: serve)
    }

    private func send(_ connection: GRPCTestConnection, _ frames: HTTP2Frame...) throws {
        for frame in frames { connection.client.write(frame, promise: nil) }
        try connection.exchange()
    }

    /// The messages of the DATA frames, in order.
    private func messages(_ frames: [HTTP2Frame.FramePayload]) -> [[UInt8]] {
        var messages: [[UInt8]] = []
        for frame in frames {
            guard case .data(let data) = frame, case .byteBuffer(var body) = data.data else { continue }
            while case .message(let message) = GRPCMessage.next(from: &body) { messages.append(Array(message.readableBytesView)) }
        }
        return messages
    }

    func testEachMessageIsAnsweredInOrderAndTheCallEndsAfterTheLastAnswer() throws {
        let pending = NIOLockedValueBox<[(ByteBuffer, @Sendable (Result<ByteBuffer, GRPCStatus>) -> Void)]>([])
        let connection = try connect { call, _, reply in pending.withLockedValue { $0.append((call.message, reply)) } }
        // Three messages, the second split across two DATA frames.
        var second = ByteBuffer(bytes: [0, 0, 0, 0, 2, 20, 21])
        let head = second.readSlice(length: 3)!
        try send(connection, GRPCTestFrames.headers(1, path: Self.streamPath),
                 GRPCTestFrames.message(1, [10], endStream: false),
                 HTTP2Frame(streamID: HTTP2StreamID(1), payload: .data(.init(data: .byteBuffer(head)))))
        XCTAssertEqual(pending.withLockedValue { $0.count }, 1, "the first message is served before the stream ends")
        try send(connection, HTTP2Frame(streamID: HTTP2StreamID(1), payload: .data(.init(data: .byteBuffer(second)))),
                 GRPCTestFrames.message(1, [30], endStream: true))
        let calls = pending.withLockedValue { $0 }
        XCTAssertEqual(calls.map { Array($0.0.readableBytesView) }, [[10], [20, 21], [30]])

        // Answers come back last first: nothing may be written before the first one.
        calls[2].1(.success(GRPCMessage.frame(bytes: ByteBuffer(bytes: [3]))))
        calls[1].1(.success(GRPCMessage.frame(bytes: ByteBuffer(bytes: [2]))))
        try connection.exchange()
        XCTAssertTrue(try connection.received(on: HTTP2StreamID(1)).isEmpty)
        calls[0].1(.success(GRPCMessage.frame(bytes: ByteBuffer(bytes: [1]))))
        try connection.exchange()
        let frames = try connection.received(on: HTTP2StreamID(1))
        guard case .headers(let responseHead) = frames.first else { return XCTFail("\(frames)") }
        XCTAssertEqual(responseHead.headers.first(name: ":status"), "200")
        XCTAssertEqual(messages(frames), [[1], [2], [3]])
        XCTAssertEqual(GRPCTestFrames.trailers(frames.last)?.first(name: "grpc-status"), "0")
        XCTAssertEqual(connection.handler.openStreams, 0)
    }

    /// A client that sends faster than answers come back is slowed, not refused: past the
    /// in-flight bound its messages wait in the stream's body and are taken as answers go out.
    func testAStreamAheadOfItsAnswersWaitsAndLosesNothing() throws {
        var limits = GRPCLimits(maxMessageSize: 1024, windowSize: 65_535)
        limits.streamedInFlight = 4
        let pending = NIOLockedValueBox<[(ByteBuffer, @Sendable (Result<ByteBuffer, GRPCStatus>) -> Void)]>([])
        let connection = try GRPCTestConnection.open(limits: limits, shape: { _ in .bidirectional }) { call, _, reply in
            pending.withLockedValue { $0.append((call.message, reply)) }
        }
        var frames = [GRPCTestFrames.headers(1, path: Self.streamPath)]
        for value in 0..<20 { frames.append(GRPCTestFrames.message(1, [UInt8(value)], endStream: value == 19)) }
        try send(connection, frames: frames)
        XCTAssertEqual(pending.withLockedValue { $0.count }, 4, "four in flight, the rest wait")
        var answered = 0
        while answered < 20 {
            let batch = pending.withLockedValue { calls in defer { calls.removeAll() }; return calls }
            XCTAssertFalse(batch.isEmpty, "answers made room for more after \(answered)")
            if batch.isEmpty { break }
            for (message, reply) in batch { reply(.success(GRPCMessage.frame(bytes: message))) }
            answered += batch.count
            try connection.exchange()
        }
        let received = try connection.received(on: HTTP2StreamID(1))
        XCTAssertEqual(messages(received), (0..<20).map { [UInt8($0)] })
        XCTAssertEqual(GRPCTestFrames.trailers(received.last)?.first(name: "grpc-status"), "0")
        XCTAssertEqual(connection.handler.bufferedBytes, 0)
    }

    private func send(_ connection: GRPCTestConnection, frames: [HTTP2Frame]) throws {
        for frame in frames { connection.client.write(frame, promise: nil) }
        try connection.exchange()
    }

    func testAMethodNotServedIsRefusedWhenItsHeadersArrive() throws {
        let connection = try connect { _, _, _ in XCTFail("nothing is served") }
        // A reflection client keeps its side open: the answer may not wait for END_STREAM.
        try send(connection, GRPCTestFrames.headers(1, path: "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"))
        let frames = try connection.received(on: HTTP2StreamID(1))
        let trailers = try XCTUnwrap(GRPCTestFrames.trailers(frames.first), "\(frames)")
        XCTAssertEqual(trailers.first(name: "grpc-status"), String(GRPCStatus.Code.unimplemented.rawValue))
        XCTAssertEqual(trailers.first(name: "grpc-message"), "not served: /grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
    }

    func testAStreamThatEndsInsideAMessageIsTold() throws {
        let connection = try connect { call, _, reply in reply(.success(GRPCMessage.frame(bytes: call.message))) }
        try send(connection, GRPCTestFrames.headers(1, path: Self.streamPath), GRPCTestFrames.message(1, [7], endStream: false),
                 HTTP2Frame(streamID: HTTP2StreamID(1), payload: .data(.init(data: .byteBuffer(ByteBuffer(bytes: [0, 0, 0])), endStream: true))))
        let frames = try connection.received(on: HTTP2StreamID(1))
        XCTAssertEqual(messages(frames), [[7]], "the complete message is answered")
        let trailers = try XCTUnwrap(GRPCTestFrames.trailers(frames.last))
        XCTAssertEqual(trailers.first(name: "grpc-status"), String(GRPCStatus.Code.invalidArgument.rawValue))
        XCTAssertNil(trailers.first(name: ":status"), "trailers after the messages carry no :status")
        XCTAssertEqual(trailers.first(name: "grpc-message"), "the stream ended inside a message (3 bytes of it had arrived)")
    }
}
