import NIOCore
import NIOEmbedded
@testable import NNClient
import NNFormat
import NNWire
import XCTest

/// The client's response matcher on an `EmbeddedChannel`: responses find their requests in
/// any order; an unknown id or an undecodable frame fails the waiting requests at once
/// (instead of leaving them to their timeouts) and closes the connection.
final class ResponseMatcherTests: XCTestCase {
    private func connection() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([
            ByteToMessageHandler(FrameDecoder(maxFrameSize: .max, expectsPreface: false)),
            ResponseCodec(),
            ResponseMatcher(),
        ])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// Sends a health request; returns its future response and the id the matcher gave it.
    private func send(on channel: EmbeddedChannel, timeout: TimeAmount = .seconds(30)) throws -> (EventLoopFuture<Nnserve_Response>, UInt64) {
        var request = Nnserve_Request()
        request.health = Nnserve_HealthRequest()
        let promise = channel.eventLoop.makePromise(of: Nnserve_Response.self)
        try channel.writeOutbound(OutstandingRequest(request: request, response: promise, timeout: timeout))
        let frame = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        var rest = frame
        let length = try XCTUnwrap(rest.readInteger(as: UInt32.self))
        let sent = try WireProtocol.decode(Nnserve_Request.self, from: try XCTUnwrap(rest.readSlice(length: Int(length))))
        return (promise.futureResult, sent.id)
    }

    private func answer(_ id: UInt64, on channel: EmbeddedChannel, ready: Bool = true) throws {
        var response = Nnserve_Response()
        response.id = id
        response.health.live = true
        response.health.ready = ready
        try channel.writeInbound(ByteBuffer(bytes: try WireProtocol.frame(response)))
    }

    /// The error a future has already failed with (the embedded loop completes it in place).
    private func failure(of future: EventLoopFuture<Nnserve_Response>) -> ClientError? {
        do {
            _ = try future.wait()
            return nil
        } catch {
            return error as? ClientError
        }
    }

    func testResponsesOutOfOrderFindTheirRequests() throws {
        let channel = try connection()
        let (first, firstID) = try send(on: channel)
        let (second, secondID) = try send(on: channel)
        XCTAssertNotEqual(firstID, secondID)
        try answer(secondID, on: channel, ready: false)
        try answer(firstID, on: channel, ready: true)
        XCTAssertEqual(try first.wait().id, firstID)
        XCTAssertTrue(try first.wait().health.ready)
        XCTAssertFalse(try second.wait().health.ready)
        XCTAssertTrue(channel.isActive)
    }

    func testUnknownIDFailsTheWaitingRequestsAndCloses() throws {
        let channel = try connection()
        let (waiting, _) = try send(on: channel)
        try answer(99, on: channel)
        XCTAssertEqual(failure(of: waiting), .unexpectedResponse("response for request id 99, which is not waiting for one"))
        XCTAssertFalse(channel.isActive)
    }

    func testUndecodableResponseFailsTheWaitingRequestsAndCloses() throws {
        let channel = try connection()
        let (waiting, _) = try send(on: channel)
        XCTAssertNoThrow(try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 2, 0x0A, 0x09])))
        guard case .unexpectedResponse(let detail)? = failure(of: waiting) else { return XCTFail("not failed") }
        XCTAssertTrue(detail.hasPrefix("frame is not a valid Response message"), detail)
        XCTAssertFalse(channel.isActive)
    }

    func testTimeoutFailsOneRequestAndItsLateResponseIsDropped() throws {
        let channel = try connection()
        let (late, lateID) = try send(on: channel, timeout: .milliseconds(100))
        let (other, otherID) = try send(on: channel, timeout: .seconds(30))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(150))
        XCTAssertEqual(failure(of: late), .timedOut(seconds: 0.1))
        try answer(lateID, on: channel)
        XCTAssertTrue(channel.isActive, "a response after its timeout is expected, not a broken stream")
        try answer(otherID, on: channel)
        XCTAssertEqual(try other.wait().id, otherID)
    }

    func testConnectionErrorWithIDZeroReachesEveryWaitingRequest() throws {
        let channel = try connection()
        let (first, _) = try send(on: channel)
        let (second, _) = try send(on: channel)
        var response = Nnserve_Response()
        response.error.code = .deadlineExceeded
        response.error.message = "connection idle"
        try channel.writeInbound(ByteBuffer(bytes: try WireProtocol.frame(response)))
        XCTAssertEqual(try first.wait().error.message, "connection idle")
        XCTAssertEqual(try second.wait().error.message, "connection idle")
    }

    func testClosedConnectionFailsTheWaitingRequests() throws {
        let channel = try connection()
        let (waiting, _) = try send(on: channel)
        try channel.close().wait()
        XCTAssertEqual(failure(of: waiting), .connectionClosed)
    }
}
