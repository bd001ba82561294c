import Dispatch
import NIOCore
import NNFormat

/// One connection of a load run: keeps `depth` requests in flight, sending the next one from
/// the event loop as each response arrives, like wrk does. No async hop per request, so the
/// load generator spends little of the CPU it shares with the server on itself.
final class LoadConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Result: Sendable {
        var latencies: [UInt64]
        var errors: Int
    }

    private var template: Nnserve_Request
    private let depth: Int
    private let end: UInt64
    private let done: EventLoopPromise<Result>
    private var sentAt: [UInt64: UInt64] = [:]
    private var nextID: UInt64 = 1
    private var latencies: [UInt64] = []
    private var errors = 0
    private var finished = false

    init(template: Nnserve_Request, depth: Int, end: UInt64, done: EventLoopPromise<Result>) {
        self.template = template
        self.depth = depth
        self.end = end
        self.done = done
        latencies.reserveCapacity(1 << 16)
        sentAt.reserveCapacity(depth)
    }

    func channelActive(context: ChannelHandlerContext) {
        var preface = context.channel.allocator.buffer(capacity: WireProtocol.preface.count)
        preface.writeBytes(WireProtocol.preface)
        context.write(wrapOutboundOut(preface), promise: nil)
        for _ in 0..<depth { send(context: context) }
        context.flush()
    }

    private func send(context: ChannelHandlerContext) {
        template.id = nextID
        guard let bytes = try? WireProtocol.frame(template) else { return }
        sentAt[nextID] = DispatchTime.now().uptimeNanoseconds
        nextID += 1
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let now = DispatchTime.now().uptimeNanoseconds
        guard let response = try? Nnserve_Response(serializedBytes: Array(frame.readableBytesView)),
              let sent = sentAt.removeValue(forKey: response.id) else {
            errors += 1
            return finish(context: context)
        }
        if case .predict? = response.kind {
            latencies.append(now - sent)
        } else {
            errors += 1
        }
        if now < end {
            send(context: context)
        } else if sentAt.isEmpty {
            finish(context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        errors += sentAt.count
        sentAt.removeAll()
        finish(context: context)
    }

    private func finish(context: ChannelHandlerContext) {
        guard !finished else { return }
        finished = true
        done.succeed(Result(latencies: latencies, errors: errors))
        context.close(promise: nil)
    }
}
