import NIOCore
import NIOEmbedded
@testable import NNServer
import XCTest

/// FlowControl and the slow-client verdict on an `EmbeddedChannel`: no sockets, exact events.
final class FlowControlTests: XCTestCase {
    /// Records the frames that reach the request handler and the reads that reach the socket.
    private final class Recorder: ChannelDuplexHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundIn = ByteBuffer
        var frames: [String] = []
        var readCompletes = 0

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var frame = unwrapInboundIn(data)
            frames.append(frame.readString(length: frame.readableBytes) ?? "")
        }

        func channelReadComplete(context: ChannelHandlerContext) { readCompletes += 1 }
    }

    private final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    private func frame(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    private func activeChannel(_ handlers: [any ChannelHandler]) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handlers: handlers)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    func testHoldsFramesPastTheInFlightLimitAndReleasesThemAsResponsesAreWritten() throws {
        let reads = ReadCounter(), recorder = Recorder()
        let channel = try activeChannel([reads, FlowControl(maxInFlight: 2), recorder])
        for name in ["a", "b", "c", "d"] { try channel.writeInbound(frame(name)) }
        XCTAssertEqual(recorder.frames, ["a", "b"], "two in flight at most")
        channel.read()
        XCTAssertEqual(reads.reads, 0, "no socket read while frames are held")

        // One response written (by the handler behind FlowControl): one more frame may pass.
        let completesBefore = recorder.readCompletes
        try channel.pipeline.syncOperations.context(handlerType: Recorder.self).write(NIOAny(frame("answer a")), promise: nil)
        channel.embeddedEventLoop.run()
        XCTAssertEqual(recorder.frames, ["a", "b", "c"])
        XCTAssertEqual(recorder.readCompletes, completesBefore + 1, "released frames end with a read-complete, so predictions are submitted")

        for answer in ["b", "c"] {
            try channel.pipeline.syncOperations.context(handlerType: Recorder.self).write(NIOAny(frame("answer \(answer)")), promise: nil)
        }
        channel.embeddedEventLoop.run()
        XCTAssertEqual(recorder.frames, ["a", "b", "c", "d"])
        XCTAssertEqual(reads.reads, 1, "the held read goes to the socket once the queue is empty and there is room")
        channel.flush()
        XCTAssertEqual(try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) }, "answer a")
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    func testPassesNothingWhileTheClientIsNotReadingItsResponses() throws {
        let reads = ReadCounter(), recorder = Recorder()
        let channel = try activeChannel([reads, FlowControl(maxInFlight: 100), recorder])
        try channel.writeInbound(frame("a"))
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        try channel.writeInbound(frame("b"))
        channel.read()
        XCTAssertEqual(recorder.frames, ["a"])
        XCTAssertEqual(reads.reads, 0)

        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        XCTAssertEqual(recorder.frames, ["a", "b"])
        XCTAssertEqual(reads.reads, 1)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    func testSlowClientVerdict() {
        let progress = MessageProgress()
        let start = NIODeadline.now()
        let timeout = TimeAmount.seconds(2)
        func verdict(after seconds: Double) -> String? {
            SlowClientGuard.verdict(progress, now: start + .milliseconds(Int64(seconds * 1000)), headerTimeout: timeout, minBytesPerSecond: 1000)
        }
        // A new connection awaits its first request's head.
        XCTAssertNil(verdict(after: 1))
        XCTAssertTrue(verdict(after: 3)?.contains("request head not received within 2 s") ?? false)

        progress.bytesArrived(10)
        progress.headArrived()
        XCTAssertNil(verdict(after: 1.5), "within the header timeout")
        XCTAssertTrue(verdict(after: 3)?.contains("under the minimum of 1000 bytes/s") ?? false, "10 bytes in 3 s")
        progress.bytesArrived(9_000)
        XCTAssertNil(verdict(after: 3), "9,010 bytes in 3 s")

        progress.completed(buffered: 0)
        XCTAssertNil(verdict(after: 100), "between requests only the idle timeout applies")
    }
}
