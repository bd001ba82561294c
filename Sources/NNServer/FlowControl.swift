import NIOCore

/// Bounds what one binary-protocol connection can make the server hold: at most
/// `maxInFlight` requests are between being decoded and having their response written, and
/// none is passed on while the connection's outbound buffer is over its high-water mark (the
/// client is not reading). Frames beyond that wait here, undecoded, and the socket is not read
/// until they drain, so a client that pipelines without reading stalls on its own TCP window
/// instead of growing the server's memory: a connection holds at most the high-water mark,
/// `maxInFlight` responses and one read of request bytes.
///
/// Sits between the frame decoder and the request handler, which answers every request with
/// exactly one response frame.
final class FlowControl: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let maxInFlight: Int
    private var inFlight = 0
    private var held = CircularBuffer<ByteBuffer>()
    private var readHeld = false
    private var releasing = false
    private var releaseScheduled = false

    init(maxInFlight: Int) {
        precondition(maxInFlight > 0)
        self.maxInFlight = maxInFlight
    }

    private func mayPass(_ context: ChannelHandlerContext) -> Bool {
        inFlight < maxInFlight && context.channel.isWritable
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if held.isEmpty && mayPass(context) {
            inFlight += 1
            context.fireChannelRead(wrapInboundOut(frame))
        } else {
            held.append(frame)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        // Error frames without a request (a broken frame) are written too: never below zero.
        inFlight = max(0, inFlight - 1)
        // Only a throttled connection has anything to release; do it on a later tick, not
        // inside the request handler's write.
        guard (!held.isEmpty || readHeld), !releaseScheduled else { return }
        releaseScheduled = true
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = loopBound.value
            handler.releaseScheduled = false
            handler.release(context)
        }
    }

    func read(context: ChannelHandlerContext) {
        if held.isEmpty && mayPass(context) {
            context.read()
        } else {
            readHeld = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            release(context)
        } else {
            context.flush()
        }
        context.fireChannelWritabilityChanged()
    }

    /// Passes held frames on while there is room, as one read burst (the request handler
    /// submits predictions at read-complete), then lets the socket be read again.
    private func release(_ context: ChannelHandlerContext) {
        guard !releasing, context.channel.isActive else { return }
        releasing = true
        defer { releasing = false }
        var passed = false
        while !held.isEmpty && mayPass(context) {
            inFlight += 1
            passed = true
            context.fireChannelRead(wrapInboundOut(held.removeFirst()))
        }
        if passed { context.fireChannelReadComplete() }
        if readHeld && held.isEmpty && mayPass(context) {
            readHeld = false
            context.read()
        }
    }
}
