import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
@testable import NNServer
import NNWire
import XCTest

/// What one gRPC client may make the server hold or do (docs/RELIABILITY.md), on a real
/// HTTP/2 connection in memory: each hostile pattern that once stalled the event loop, pinned
/// memory or kept work going for nobody meets its bound here.
final class GRPCAbuseTests: XCTestCase {
    private typealias Frames = GRPCTestFrames

    private static let echo: GRPCStreamHandler.Serve = { call, _, reply in reply(.success(GRPCMessage.frame(bytes: call.message))) }

    private func limits(maxMessageSize: Int = 1 << 20, windowSize: Int = 65_535, _ change: (inout GRPCLimits) -> Void = { _ in }) -> GRPCLimits {
        var limits = GRPCLimits(maxMessageSize: maxMessageSize, windowSize: windowSize)
        change(&limits)
        return limits
    }

    private func goAway(in frames: [HTTP2Frame]) -> HTTP2ErrorCode? {
        for frame in frames { if case .goAway(_, let code, _) = frame.payload { return code } }
        return nil
    }

    /// A message sent 64 bytes a frame arrives whole (it is appended in place: the copy per
    /// frame that made this quadratic is gone).
    func testAMessageInTinyFramesArrivesWhole() throws {
        let connection = try GRPCTestConnection.open(limits: limits(windowSize: 1 << 20), serve: Self.echo)
        let payload = (0..<12_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        guard case .data(let data) = Frames.message(1, payload).payload, case .byteBuffer(var bytes) = data.data else { return XCTFail() }
        try connection.send(Frames.headers(1, path: "/x/Echo"))
        while bytes.readableBytes > 0 {
            let piece = bytes.readSlice(length: min(64, bytes.readableBytes))!
            connection.client.write(HTTP2Frame(streamID: HTTP2StreamID(1), payload: .data(.init(data: .byteBuffer(piece), endStream: bytes.readableBytes == 0))), promise: nil)
        }
        try connection.exchange()
        let answer = try connection.received(on: HTTP2StreamID(1)).compactMap { payload -> ByteBuffer? in
            guard case .data(let data) = payload, case .byteBuffer(let body) = data.data else { return nil }
            return body
        }
        XCTAssertEqual(answer.count, 1)
        XCTAssertTrue(answer.first?.readableBytesView.dropFirst(GRPCMessage.prefixSize).elementsEqual(payload) == true, "the echo is the message")
        XCTAssertEqual(connection.handler.bufferedBytes, 0)
    }

    /// Thousands of WINDOW_UPDATEs of 1 (frames that need no answer, so NIOHTTP2's flood
    /// limits never trip) end the connection with GOAWAY ENHANCE_YOUR_CALM, counted.
    func testAWindowUpdateFloodEndsWithEnhanceYourCalm() throws {
        let reasons = NIOLockedValueBox<[AbuseReason]>([])
        let connection = try GRPCTestConnection.open(limits: limits(), onAbuse: { reason in reasons.withLockedValue { $0.append(reason) } }, serve: Self.echo)
        // Three budgets: what the clock earns back while a slow machine (a sanitizer) parses
        // them is far less.
        for _ in 0..<(3 * NoAnswerFrameBudget.capacity) {
            connection.client.write(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: 1)), promise: nil)
        }
        try connection.exchange()
        XCTAssertEqual(goAway(in: try connection.received()), .enhanceYourCalm)
        XCTAssertFalse(connection.server.isActive, "the connection is closed at once")
        XCTAssertEqual(reasons.withLockedValue { $0 }, [.windowUpdates])
    }

    /// A client that updates windows as it uses the connection is never near the budget: eight
    /// updates per call (what its HEADERS, DATA and answer explain), more in all than the
    /// budget holds.
    func testWindowUpdatesThatGoWithCallsAreWelcome() throws {
        let connection = try GRPCTestConnection.open(limits: limits(), serve: Self.echo)
        for call in 0..<(NoAnswerFrameBudget.capacity / 8 + 100) {
            let stream = 2 * call + 1
            connection.client.write(Frames.headers(stream), promise: nil)
            connection.client.write(Frames.message(stream, [1, 2, 3]), promise: nil)
            for increment in 1...8 {
                connection.client.write(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: increment)), promise: nil)
            }
            if call % 64 == 0 { try connection.exchange() }
        }
        try connection.exchange()
        XCTAssertNil(goAway(in: try connection.received()))
        XCTAssertTrue(connection.server.isActive)
    }

    /// A client that announces a zero window and never opens it: answers wait in NIOHTTP2's
    /// buffer, and past the bound the connection gets GOAWAY ENHANCE_YOUR_CALM.
    func testAnswersLeftUnreadPastTheBoundEndTheConnection() throws {
        let reasons = NIOLockedValueBox<[AbuseReason]>([])
        let answer = GRPCMessage.frame(bytes: ByteBuffer(repeating: 7, count: 100_000))
        let connection = try GRPCTestConnection.open(limits: limits { $0.unreadAnswerLimit = 250_000 },
                                                     clientSettings: [HTTP2Setting(parameter: .initialWindowSize, value: 0)],
                                                     onAbuse: { reason in reasons.withLockedValue { $0.append(reason) } }) { _, _, reply in reply(.success(answer)) }
        for stream in [1, 3] { try connection.send(Frames.headers(stream), Frames.message(stream, [1])) }
        XCTAssertEqual(connection.handler.unsentAnswerByteCount, 2 * answer.readableBytes, "both answers wait for the window")
        XCTAssertTrue(connection.server.isActive, "under the bound")
        try connection.send(Frames.headers(5), Frames.message(5, [1]))
        XCTAssertEqual(goAway(in: try connection.received()), .enhanceYourCalm)
        XCTAssertFalse(connection.server.isActive)
        XCTAssertEqual(reasons.withLockedValue { $0 }, [.unreadAnswers])
    }

    /// Answers that cannot leave are not progress: the connection is idle, gets a GOAWAY and
    /// closes (it used to be kept forever, since it had answers waiting).
    func testAConnectionWhoseAnswersNeverLeaveIsIdle() throws {
        let connection = try GRPCTestConnection.open(limits: limits { $0.idleTimeout = .milliseconds(100) },
                                                     clientSettings: [HTTP2Setting(parameter: .initialWindowSize, value: 0)], serve: Self.echo)
        try connection.send(Frames.headers(1), Frames.message(1, [1, 2, 3]))
        XCTAssertGreaterThan(connection.handler.unsentAnswerByteCount, 0)
        Thread.sleep(forTimeInterval: 0.15)
        connection.server.embeddedEventLoop.advanceTime(by: .milliseconds(100))
        try connection.exchange()
        XCTAssertEqual(goAway(in: try connection.received()), .noError)
        connection.server.embeddedEventLoop.advanceTime(by: .seconds(1))
        XCTAssertFalse(connection.server.isActive)
    }

    /// A message that trickles (headers, a little body, then silence) ends its stream with
    /// DEADLINE_EXCEEDED after the header timeout and its bytes are released; the connection
    /// and its other calls go on.
    func testAMessageArrivingTooSlowlyEndsItsStreamAndReleasesItsBytes() throws {
        let connection = try GRPCTestConnection.open(limits: limits { $0.headerTimeout = .milliseconds(50); $0.minBytesPerSecond = 1 << 20 },
                                                     serve: Self.echo)
        try connection.send(Frames.headers(1), Frames.message(1, Array(repeating: 1, count: 500), declaredLength: 60_000, endStream: false))
        XCTAssertEqual(connection.handler.bufferedBytes, 505)
        Thread.sleep(forTimeInterval: 0.1)
        connection.server.embeddedEventLoop.advanceTime(by: .milliseconds(50))
        try connection.exchange()
        let frames = try connection.received(on: HTTP2StreamID(1))
        let trailers = try XCTUnwrap(frames.lazy.compactMap(Frames.trailers).first, "\(frames)")
        XCTAssertEqual(trailers.first(name: "grpc-status"), String(GRPCStatus.Code.deadlineExceeded.rawValue))
        XCTAssertTrue(trailers.first(name: "grpc-message")?.contains("min-transfer-rate") == true, "\(trailers)")
        XCTAssertEqual(connection.handler.bufferedBytes, 0, "the half message is released")
        try connection.send(Frames.headers(3), Frames.message(3, [9]))
        XCTAssertEqual(try connection.received(on: HTTP2StreamID(3)).count, 3, "the connection still serves")
    }

    /// A reset stream, or a connection that closes, cancels its call: the batcher skips it if
    /// it has not started.
    func testAResetOrAClosedConnectionCancelsTheCall() throws {
        let calls = NIOLockedValueBox<[GRPCCall]>([])
        let connection = try GRPCTestConnection.open(limits: limits()) { call, _, _ in calls.withLockedValue { $0.append(call) } }
        try connection.send(Frames.headers(1, path: "/x/1"), Frames.message(1, [1]), Frames.headers(3, path: "/x/3"), Frames.message(3, [3]))
        let pending = calls.withLockedValue { $0 }.sorted { $0.path < $1.path }
        XCTAssertEqual(pending.count, 2)
        XCTAssertFalse(pending.contains { $0.cancellation?.isCancelled ?? true })
        try connection.send(HTTP2Frame(streamID: HTTP2StreamID(1), payload: .rstStream(.cancel)))
        XCTAssertEqual(pending.map { $0.cancellation?.isCancelled }, [true, false])
        try connection.server.close().wait()
        XCTAssertEqual(pending.map { $0.cancellation?.isCancelled }, [true, true])
        XCTAssertEqual(connection.handler.openStreams, 0)
    }

    /// Two authorization headers are refused rather than one of them believed.
    func testTwoAuthorizationHeadersAreRefused() throws {
        let connection = try GRPCTestConnection.open(limits: limits(), serve: Self.echo)
        try connection.send(Frames.headers(1, extra: [("authorization", "Bearer a"), ("authorization", "Bearer b")]), Frames.message(1, [1]))
        let trailers = try XCTUnwrap(try connection.received(on: HTTP2StreamID(1)).lazy.compactMap(Frames.trailers).first)
        XCTAssertEqual(trailers.first(name: "grpc-status"), String(GRPCStatus.Code.invalidArgument.rawValue))
    }

    /// A connection tells its slot when it is idle: the admission may reclaim it then, and
    /// reclaiming sends GOAWAY (NO_ERROR) and closes.
    func testAnIdleConnectionCanBeReclaimedAndABusyOneCannot() throws {
        let slot = ConnectionSlot()
        let held = NIOLockedValueBox<[@Sendable (Result<ByteBuffer, GRPCStatus>) -> Void]>([])
        let connection = try GRPCTestConnection.open(limits: limits(), slot: slot) { _, _, reply in held.withLockedValue { $0.append(reply) } }
        XCTAssertNotNil(slot.idleSince, "a new connection with no call is idle")
        try connection.send(Frames.headers(1), Frames.message(1, [1]))
        XCTAssertNil(slot.idleSince, "a call is open")
        XCTAssertNil(slot.takeReclaim(idleBefore: .now()))
        held.withLockedValue { $0 }.forEach { $0(.success(GRPCMessage.frame(bytes: ByteBuffer()))) }
        connection.server.embeddedEventLoop.run()
        try connection.exchange()
        let idle = try XCTUnwrap(slot.idleSince, "answered and closed: idle again")
        let reclaim = try XCTUnwrap(slot.takeReclaim(idleBefore: idle))
        XCTAssertNil(slot.takeReclaim(idleBefore: idle), "reclaimed once")
        reclaim()
        connection.server.embeddedEventLoop.run()
        try connection.exchange()
        XCTAssertTrue(try connection.received().contains { if case .goAway(_, .noError, _) = $0.payload { true } else { false } })
        connection.server.embeddedEventLoop.advanceTime(by: .seconds(1))
        XCTAssertFalse(connection.server.isActive)
    }
}

/// The budget's arithmetic on a clock the test sets.
final class NoAnswerFrameBudgetTests: XCTestCase {
    func testTheBudgetIsSpentEarnedByWorkAndRefilledByTime() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var budget = NoAnswerFrameBudget(now: start)
        for _ in 0..<NoAnswerFrameBudget.capacity { XCTAssertTrue(budget.spend(now: start)) }
        XCTAssertFalse(budget.spend(now: start), "spent, and no time has passed")
        budget.earn()
        for _ in 0..<NoAnswerFrameBudget.perUsefulFrame { XCTAssertTrue(budget.spend(now: start)) }
        XCTAssertFalse(budget.spend(now: start), "a frame of work explains perUsefulFrame more")
        let later = start + .milliseconds(500)
        for _ in 0..<(NoAnswerFrameBudget.perSecond / 2) { XCTAssertTrue(budget.spend(now: later)) }
        XCTAssertFalse(budget.spend(now: later), "half a second earns half of perSecond")
        let muchLater = start + .seconds(3600)
        for _ in 0..<NoAnswerFrameBudget.capacity { XCTAssertTrue(budget.spend(now: muchLater)) }
        XCTAssertFalse(budget.spend(now: muchLater), "time refills up to the capacity, no more")
    }
}

/// The admission at a front's limit: refuses, unless a connection has been idle long enough to
/// be reclaimed, and then reclaims the one idle longest.
final class ConnectionAdmissionTests: XCTestCase {
    func testAtTheLimitTheConnectionIdleLongestMakesRoom() throws {
        let admission = ConnectionAdmission(minimumIdle: .seconds(2))
        let reclaimed = NIOLockedValueBox<[Int]>([])
        var channels: [EmbeddedChannel] = []
        var slots: [ConnectionSlot] = []
        for index in 0..<3 {
            let channel = EmbeddedChannel()
            guard case .admitted(let slot) = admission.admit(channel, .grpc, limit: 3, onClose: {}) else { return XCTFail("\(index) refused") }
            slot.onReclaim { reclaimed.withLockedValue { $0.append(index) } }
            channels.append(channel)
            slots.append(slot)
        }
        guard case .refused = admission.admit(EmbeddedChannel(), .grpc, limit: 3, onClose: {}) else { return XCTFail("no idle connection: refused") }
        let now = NIODeadline.now()
        slots[2].markIdle(since: now - .seconds(5))
        slots[1].markIdle(since: now - .seconds(9))
        slots[0].markIdle(since: now)
        guard case .admittedReclaiming(_, let reclaim) = admission.admit(EmbeddedChannel(), .grpc, limit: 3, onClose: {}) else { return XCTFail("not admitted") }
        reclaim()
        XCTAssertEqual(reclaimed.withLockedValue { $0 }, [1], "the one idle longest")
        XCTAssertEqual(admission.count(.grpc), 4, "until the reclaimed one closes")
        try channels[1].close().wait()
        channels[1].embeddedEventLoop.run()
        XCTAssertEqual(admission.count(.grpc), 3)
        guard case .admittedReclaiming = admission.admit(EmbeddedChannel(), .grpc, limit: 3, onClose: {}) else { return XCTFail("slot 2 idle 5 s") }
        guard case .refused = admission.admit(EmbeddedChannel(), .grpc, limit: 3, onClose: {}) else {
            return XCTFail("slot 0 has been idle for less than the minimum")
        }
    }

    /// Fronts whose connections never say they are idle (binary, HTTP/1.1) refuse at the limit
    /// without searching, even if a slot were marked idle.
    func testOnlyReclaimableFrontsReclaim() {
        let admission = ConnectionAdmission(minimumIdle: .seconds(2))
        guard case .admitted(let slot) = admission.admit(EmbeddedChannel(), .http, limit: 1, onClose: {}) else { return XCTFail("refused") }
        slot.onReclaim {}
        slot.markIdle(since: .now() - .seconds(60))
        guard case .refused = admission.admit(EmbeddedChannel(), .http, limit: 1, onClose: {}) else { return XCTFail("http reclaimed") }
    }
}

/// The allocator settings nnserve starts with take effect (they once compiled to nothing, and
/// RSS stayed 14 MB above idle after an abusive client).
final class ServerMemoryTests: XCTestCase {
    func testGlibcTakesBothThresholds() {
        #if canImport(Glibc)
        XCTAssertTrue(ServerMemory.returnLargeBlocksWhenFreed())
        #else
        XCTAssertFalse(ServerMemory.returnLargeBlocksWhenFreed(), "without glibc neither setting exists")
        #endif
    }
}
