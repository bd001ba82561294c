import NIOCore
import NNWire

/// What one connection's decoder reports about the request it is receiving, for
/// `SlowClientGuard`. Event-loop confined: the guard and the decoder of one connection share it.
final class MessageProgress: FrameProgress {
    /// A request has started arriving (or, on a new connection, is awaited) and is not complete.
    private(set) var inMessage = true
    private(set) var startedAt = NIODeadline.now()
    private(set) var receivedBytes = 0
    /// The head (HTTP) or the length prefix (binary) has arrived: the rest is the body.
    private(set) var headComplete = false
    /// False once the front watches its requests itself (`standDown`).
    private var watching = true

    /// Bytes came off the socket: they start a request if none was in progress.
    func bytesArrived(_ count: Int) {
        guard watching else { return }
        if !inMessage { start() }
        receivedBytes += count
    }

    /// The connection has opened (gRPC: its HTTP/2 preface arrived) and its front keeps each
    /// request's deadline from now on (per stream, several at once); the guard has nothing
    /// left to watch.
    func standDown() {
        watching = false
        inMessage = false
    }

    func headArrived() { headComplete = true }

    /// A request is complete; `buffered` bytes of the next one are already in the decoder.
    func completed(buffered: Int) {
        if buffered > 0 {
            start()
            receivedBytes = buffered
        } else {
            inMessage = false
        }
    }

    private func start() {
        inMessage = true
        startedAt = .now()
        receivedBytes = 0
        headComplete = false
    }
}

/// Closes a connection whose request arrives too slowly: the head (HTTP headers; the binary
/// preface and length prefix) must arrive within `headerTimeout` of the request's first byte
/// (of the connection's opening, for its first request), and after that the request must
/// average at least `minBytesPerSecond` since its first byte. The idle timeout cannot do this:
/// it measures silence, and a client trickling a byte a second is never silent, so 1,030 such
/// clients held every connection slot indefinitely. Between requests the idle timeout rules.
///
/// First in the pipeline after TLS, so it sees every byte; the decoder behind it reports where
/// requests end through the shared `MessageProgress`. Before closing it writes `farewell` (an
/// error frame, a 408) so the client can tell why. The clock starts at accept, so a TLS
/// handshake that stalls is cut like a slow head: the farewell then cannot be written (TLS
/// holds it until a handshake that never completes), so the close does not wait for it.
final class SlowClientGuard: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let progress: MessageProgress
    private let headerTimeout: TimeAmount
    private let minBytesPerSecond: Int
    private let farewell: (String) -> ByteBuffer
    private let onClose: () -> Void
    private var check: RepeatedTask?

    init(progress: MessageProgress, headerTimeout: TimeAmount, minBytesPerSecond: Int,
         farewell: @escaping (String) -> ByteBuffer, onClose: @escaping () -> Void) {
        self.progress = progress
        self.headerTimeout = headerTimeout
        self.minBytesPerSecond = minBytesPerSecond
        self.farewell = farewell
        self.onClose = onClose
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let interval = TimeAmount.nanoseconds(max(headerTimeout.nanoseconds / 4, TimeAmount.milliseconds(50).nanoseconds))
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let (handler, context) = loopBound.value
            handler.enforce(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        progress.bytesArrived(unwrapInboundIn(data).readableBytes)
        context.fireChannelRead(data)
    }

    /// Why the request in progress is too slow, or nil.
    static func verdict(_ progress: MessageProgress, now: NIODeadline, headerTimeout: TimeAmount, minBytesPerSecond: Int) -> String? {
        guard progress.inMessage else { return nil }
        let elapsed = now - progress.startedAt
        guard elapsed > headerTimeout else { return nil }
        let seconds = Double(elapsed.nanoseconds) / 1e9
        if !progress.headComplete {
            return String(format: "request head not received within %.0f s (%d bytes so far); closing", Double(headerTimeout.nanoseconds) / 1e9,
                          progress.receivedBytes)
        }
        let rate = Double(progress.receivedBytes) / seconds
        guard rate < Double(minBytesPerSecond) else { return nil }
        return String(format: "request arriving at %.0f bytes/s (%d bytes in %.1f s), under the minimum of %d bytes/s; closing",
                      rate, progress.receivedBytes, seconds, minBytesPerSecond)
    }

    private func enforce(context: ChannelHandlerContext) {
        guard let reason = Self.verdict(progress, now: .now(), headerTimeout: headerTimeout, minBytesPerSecond: minBytesPerSecond),
              context.channel.isActive else { return }
        check?.cancel()
        check = nil
        onClose()
        let channel = context.channel
        context.writeAndFlush(NIOAny(farewell(reason))).whenComplete { _ in channel.close(promise: nil) }
        context.eventLoop.scheduleTask(in: Self.farewellGrace) { channel.close(promise: nil) }
    }

    /// How long the farewell may take to leave before the connection closes without it.
    static let farewellGrace = TimeAmount.seconds(1)
}
