import NIOCore

/// Ends a connection the server gives up on after a protocol error (a binary client at the
/// HTTP or gRPC port, an HTTP/2 client breaking the protocol) without destroying its last
/// words: the output is closed once they are written, and whatever the client still sends is
/// read and dropped for up to `lingerTime` before the socket closes (nginx's and Apache's
/// "lingering close").
///
/// Closing at once with unread or late client bytes makes the kernel answer with a reset, and
/// a reset that reaches the client before it has read the 400 or the GOAWAY discards them:
/// the client then saw "the connection closed" instead of being told it was at the wrong port
/// (the FirstHourServingTests flake, about one run in twenty). A client that closes its side
/// ends the linger at once; a hostile one holds the connection (and its slot) for at most
/// `lingerTime`, and its bytes go nowhere.
enum LingeringClose {
    static let lingerTime = TimeAmount.seconds(1)

    /// Starts the lingering close of `context`'s channel; a second call while one is under way
    /// does nothing. Event-loop confined (called from a handler's callbacks).
    static func start(_ context: ChannelHandlerContext) {
        let channel = context.channel
        let pipeline = context.pipeline.syncOperations
        guard (try? pipeline.handler(type: DropEverything.self)) == nil else { return }
        // First in the pipeline: no decoder sees another byte (TLS records included).
        guard (try? pipeline.addHandler(DropEverything(), position: .first)) != nil else {
            return channel.close(promise: nil)
        }
        let halfClosed = channel.eventLoop.makePromise(of: Void.self)
        halfClosed.futureResult.whenFailure { _ in channel.close(promise: nil) }
        // Pending writes are flushed before the output closes.
        channel.close(mode: .output, promise: halfClosed)
        channel.eventLoop.scheduleTask(in: lingerTime) { channel.close(promise: nil) }
    }

    /// Reads and drops everything; the channel closes on the client's end of stream by NIO's
    /// default (remote half-closure is not allowed on the server's sockets).
    final class DropEverything: ChannelInboundHandler {
        typealias InboundIn = NIOAny

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }
}
