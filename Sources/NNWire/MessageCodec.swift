import NIOCore
import NNFormat
import SwiftProtobuf

/// Frames' payloads in, protobuf messages out; messages to send in, frames out. The server runs
/// it as `MessageCodec<Nnserve_Request, Nnserve_Response>`, the client the other way round. A
/// payload that is not an `Inbound` message is reported with `WireError.undecodableMessage`
/// through `errorCaught`, and every frame after it is dropped: the stream is no longer
/// trustworthy (the next handler decides what the peer is told before the connection closes).
public final class MessageCodec<Inbound: SwiftProtobuf.Message, Outbound: SwiftProtobuf.Message>: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Inbound
    public typealias OutboundIn = Outbound
    public typealias OutboundOut = ByteBuffer

    private var broken = false

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !broken else { return }
        let payload = unwrapInboundIn(data)
        let message: Inbound
        do {
            message = try WireProtocol.decode(Inbound.self, from: payload)
        } catch {
            broken = true
            context.fireErrorCaught(WireError.undecodableMessage(message: Self.name(of: Inbound.self), detail: "\(error)"))
            return
        }
        context.fireChannelRead(wrapInboundOut(message))
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        do {
            context.write(wrapOutboundOut(try WireProtocol.frameBuffer(unwrapOutboundIn(data))), promise: promise)
        } catch {
            promise?.fail(error)
            context.fireErrorCaught(error)
        }
    }

    /// "Request" for `Nnserve_Request`: the name the protocol documentation uses.
    private static func name(of type: Inbound.Type) -> String {
        let full = Inbound.protoMessageName
        return String(full[(full.lastIndex(of: ".").map(full.index(after:)) ?? full.startIndex)...])
    }
}
