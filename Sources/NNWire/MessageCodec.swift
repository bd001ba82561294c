import NIOCore
import NNFormat
import SwiftProtobuf

// Frames' payloads in, protobuf messages out; messages to send in, frames out: `RequestCodec`
// on the server, `ResponseCodec` on the client. A payload that is not the expected message is
// reported with `WireError.undecodableMessage` through `errorCaught`, and every frame after it
// is dropped: the stream is no longer trustworthy (the next handler decides what the peer is
// told before the connection closes).
//
// Two concrete classes rather than one generic handler: NIO calls a handler through its
// protocol, and a generic class's methods then run unspecialized (a dynamic cast per unwrap,
// generic metadata lookups per message: 3-6% of a saturated M1 server). The steps they share
// are generic functions that are specialized here, where the message types are known.

/// The server's codec: `Nnserve_Request`s in, `Nnserve_Response`s out.
public final class RequestCodec: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Nnserve_Request
    public typealias OutboundIn = Nnserve_Response
    public typealias OutboundOut = ByteBuffer

    private var broken = false

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let message = CodecSteps.decode(InboundOut.self, unwrapInboundIn(data), name: "Request", broken: &broken, context: context) else { return }
        context.fireChannelRead(wrapInboundOut(message))
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard let frame = CodecSteps.frame(unwrapOutboundIn(data), promise: promise, context: context) else { return }
        context.write(wrapOutboundOut(frame), promise: promise)
    }
}

/// The client's codec: `Nnserve_Response`s in, `Nnserve_Request`s out.
public final class ResponseCodec: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Nnserve_Response
    public typealias OutboundIn = Nnserve_Request
    public typealias OutboundOut = ByteBuffer

    private var broken = false

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let message = CodecSteps.decode(InboundOut.self, unwrapInboundIn(data), name: "Response", broken: &broken, context: context) else { return }
        context.fireChannelRead(wrapInboundOut(message))
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard let frame = CodecSteps.frame(unwrapOutboundIn(data), promise: promise, context: context) else { return }
        context.write(wrapOutboundOut(frame), promise: promise)
    }
}

/// What both codecs do, generic over the message and specialized for each codec.
enum CodecSteps {
    /// The message a payload holds; nil (reported once, then silent) once the stream broke.
    @inline(__always)
    static func decode<M: SwiftProtobuf.Message>(_ type: M.Type, _ payload: ByteBuffer, name: String, broken: inout Bool,
                                                 context: ChannelHandlerContext) -> M? {
        guard !broken else { return nil }
        do {
            return try WireProtocol.decode(M.self, from: payload)
        } catch {
            broken = true
            context.fireErrorCaught(WireError.undecodableMessage(message: name, detail: "\(error)"))
            return nil
        }
    }

    /// The frame of a message to send; nil (the write failed, and the pipeline told) if it
    /// cannot be serialized.
    @inline(__always)
    static func frame<M: SwiftProtobuf.Message>(_ message: M, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) -> ByteBuffer? {
        do {
            return try WireProtocol.frameBuffer(message)
        } catch {
            promise?.fail(error)
            context.fireErrorCaught(error)
            return nil
        }
    }
}
