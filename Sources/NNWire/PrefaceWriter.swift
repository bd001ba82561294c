import NIOCore
import NNFormat

/// The client's side of the preface: writes "NNSP" + version as the connection becomes
/// active, before anything a later handler writes there. Sits below the message codec (the
/// preface is the one thing on a connection that is not a frame).
public final class PrefaceWriter: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    public init() {}

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            writePreface(context: context)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    /// The preface goes out first; then the later handlers learn the connection is active (and
    /// may write requests); then this handler leaves the pipeline, its one job done.
    public func channelActive(context: ChannelHandlerContext) {
        writePreface(context: context)
        context.fireChannelActive()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func writePreface(context: ChannelHandlerContext) {
        var preface = context.channel.allocator.buffer(capacity: WireProtocol.preface.count)
        preface.writeBytes(WireProtocol.preface)
        context.writeAndFlush(wrapOutboundOut(preface), promise: nil)
    }
}
