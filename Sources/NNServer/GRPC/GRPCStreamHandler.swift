import NIOCore
import NIOHPACK
import NIOHTTP2
import NNWire

/// A unary gRPC call as the stream handler hands it to the service: the method's path, its
/// message, and the metadata nnserve reads.
struct GRPCCall: Sendable {
    /// "/inference.GRPCInferenceService/ModelInfer".
    var path: String
    var message: ByteBuffer
    /// The client's deadline (`grpc-timeout`), in microseconds; 0 = none.
    var timeoutMicros: Int64
    /// The `authorization` header (the admin token of load and unload).
    var authorization: String?
}

/// Unary gRPC over the frames of one HTTP/2 connection (NIOHTTP2Handler without a stream
/// multiplexer: no channel per stream). A stream's HEADERS name the method; its DATA carry one
/// length-prefixed message; at END_STREAM the call goes to `serve`, and its answer goes back as
/// HEADERS, DATA and trailers, or as trailers only for an error. This is all of gRPC nnserve
/// needs (every KServe RPC it serves is unary), without a generic RPC runtime's per-call tasks:
/// grpc-swift 2 cost ~320 µs of server CPU per call here, most of a request.
///
/// Invariants: runs on the connection's event loop; an answer that comes back from a batcher
/// thread hops to it, and is dropped if the client reset the stream meanwhile.
final class GRPCStreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// Serves a call: answers through the reply (a framed response message, `GRPCMessage`),
    /// or adds a prediction to the read's burst (submitted when the read completes) whose
    /// completion answers.
    typealias Serve = @Sendable (GRPCCall, inout PredictionBurst, @escaping @Sendable (Result<ByteBuffer, GRPCStatus>) -> Void) -> Void

    private struct Stream {
        var path: String
        var timeoutMicros: Int64
        var authorization: String?
        var body: ByteBuffer
        /// Answered already (an error before the body ended): the rest of the body is dropped.
        var answered = false
        /// Bytes received since the last WINDOW_UPDATE of this stream.
        var unacknowledged = 0
    }

    private static let responseHead = HPACKHeaders([(":status", "200"), ("content-type", "application/grpc")])
    private static let okTrailers = HPACKHeaders([("grpc-status", "0")])

    private let serve: Serve
    private let maxMessageSize: Int
    private let windowSize: Int
    private var streams: [HTTP2StreamID: Stream] = [:]
    private var burst = PredictionBurst()
    /// Bytes received on the connection since its last WINDOW_UPDATE.
    private var connectionUnacknowledged = 0
    /// Frames written and not yet flushed.
    private var pendingFlush = false
    private var flushScheduled = false

    /// `windowSize` is the stream window the connection advertises (SETTINGS_INITIAL_WINDOW_SIZE)
    /// and the connection window it keeps open; updates go out at half of it.
    init(maxMessageSize: Int, windowSize: Int, serve: @escaping Serve) {
        self.serve = serve
        self.maxMessageSize = maxMessageSize
        self.windowSize = windowSize
    }

    func channelActive(context: ChannelHandlerContext) {
        // The connection window starts at 65,535 bytes whatever the settings say: open it to
        // the stream window, so one large request does not wait for a round trip.
        if windowSize > 65_535 {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: windowSize - 65_535))), promise: nil)
            context.flush()
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            if streams[frame.streamID] != nil {
                // Trailers from the client end its half of the stream (gRPC clients send none).
                if headers.endStream { finish(frame.streamID, context: context) }
                return
            }
            begin(frame.streamID, headers: headers.headers, context: context)
            if headers.endStream { finish(frame.streamID, context: context) }
        case .data(let payload):
            guard case .byteBuffer(var bytes) = payload.data else { return }
            acknowledge(frame.streamID, bytes: bytes.readableBytes, endStream: payload.endStream, context: context)
            guard var stream = streams[frame.streamID] else { return }
            if !stream.answered {
                if stream.body.readableBytes + bytes.readableBytes > maxMessageSize + GRPCMessage.prefixSize {
                    stream.answered = true
                    let size = stream.body.readableBytes + bytes.readableBytes - GRPCMessage.prefixSize
                    respond(frame.streamID, .failure(GRPCStatus(.resourceExhausted, "the request message has at least \(size) bytes; nnserve takes at most \(maxMessageSize) (--max-frame-size)")), context: context)
                    stream.body.clear()
                } else if stream.body.readableBytes == 0 {
                    // The usual case, a message in one DATA frame: kept as it arrived, no copy.
                    stream.body = bytes
                } else {
                    stream.body.writeBuffer(&bytes)
                }
            }
            streams[frame.streamID] = stream
            if payload.endStream { finish(frame.streamID, context: context) }
        case .rstStream:
            streams[frame.streamID] = nil
        default:
            // SETTINGS, PING, GOAWAY, WINDOW_UPDATE and PRIORITY are NIOHTTP2Handler's.
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // A lone prediction may run inline here, and its answer is written before the flush.
        burst.submit()
        flushIfNeeded(context: context)
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let closed = event as? StreamClosedEvent {
            streams[closed.streamID] = nil
        } else if event is IdleStateHandler.IdleStateEvent {
            // Idle past the timeout: a GOAWAY tells the client not to open more streams here.
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: .maxID, errorCode: .noError, opaqueData: nil))))
                .whenComplete { _ in channel.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// A new stream's HEADERS: a POST of a gRPC message, or an answer that says why not.
    private func begin(_ id: HTTP2StreamID, headers: HPACKHeaders, context: ChannelHandlerContext) {
        guard let contentType = headers.first(name: "content-type"), contentType.hasPrefix("application/grpc") else {
            // Not gRPC at all: an HTTP status, as the gRPC spec says for a wrong content type.
            let answer = HPACKHeaders([(":status", "415"), ("content-type", "text/plain")])
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: answer, endStream: true)))), promise: nil)
            pendingFlush = true
            return
        }
        var stream = Stream(path: headers.first(name: ":path") ?? "", timeoutMicros: 0, authorization: headers.first(name: "authorization"),
                            body: ByteBuffer())
        if let timeout = headers.first(name: "grpc-timeout") {
            guard let micros = GRPCStatus.microseconds(timeout: timeout) else {
                stream.answered = true
                streams[id] = stream
                return respond(id, .failure(GRPCStatus(.invalidArgument, "grpc-timeout '\(timeout)' is not a gRPC timeout (1 to 8 digits and a unit of H, M, S, m, u, n)")), context: context)
            }
            stream.timeoutMicros = micros
        }
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" {
            stream.answered = true
            streams[id] = stream
            return respond(id, .failure(GRPCStatus(.unimplemented, "grpc-encoding '\(encoding)' is not supported; nnserve takes identity (uncompressed) messages")), context: context)
        }
        streams[id] = stream
    }

    /// END_STREAM: the message is complete; unwrap it and serve the call.
    private func finish(_ id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard var stream = streams[id], !stream.answered else { return }
        stream.answered = true
        streams[id] = stream
        let body: ByteBuffer
        switch GRPCMessage.unframe(stream.body) {
        case .message(let message): body = message
        case .missing(let bytes):
            return respond(id, .failure(GRPCStatus(.invalidArgument, "the request has no message (\(bytes) bytes; a gRPC message has a \(GRPCMessage.prefixSize)-byte prefix)")), context: context)
        case .compressed:
            return respond(id, .failure(GRPCStatus(.unimplemented, "the request message is compressed; nnserve takes identity (uncompressed) messages")), context: context)
        case .lengthMismatch(let declared, let following):
            return respond(id, .failure(GRPCStatus(.invalidArgument, "the request message prefix says \(declared) bytes and \(following) follow; a unary call carries exactly one message")), context: context)
        }
        let call = GRPCCall(path: stream.path, message: body, timeoutMicros: stream.timeoutMicros, authorization: stream.authorization)
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        serve(call, &burst) { result in
            // Inline (on the loop, within a read): channelReadComplete flushes. From a batcher
            // thread: one task per answer and one flush task behind them all, so the answers
            // of a batch leave in one write.
            if eventLoop.inEventLoop { return bound.value.handler.respond(id, result, context: bound.value.context) }
            eventLoop.execute {
                let (handler, context) = bound.value
                handler.respond(id, result, context: context)
                handler.scheduleFlush(context: context)
            }
        }
    }

    /// The answer: HEADERS, DATA (the framed message) and trailers; an error is
    /// trailers only. Nothing is written for a stream the client has reset.
    private func respond(_ id: HTTP2StreamID, _ result: Result<ByteBuffer, GRPCStatus>, context: ChannelHandlerContext) {
        guard streams[id] != nil else { return }
        switch result {
        case .success(let data):
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: Self.responseHead)))), promise: nil)
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(data))))), promise: nil)
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: Self.okTrailers, endStream: true)))), promise: nil)
        case .failure(let status):
            var trailers = HPACKHeaders([(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", String(status.code.rawValue))])
            if !status.message.isEmpty { trailers.add(name: "grpc-message", value: status.encodedMessage) }
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: trailers, endStream: true)))), promise: nil)
        }
        pendingFlush = true
    }

    /// WINDOW_UPDATEs for what arrived, at half a window, so a client never waits on them.
    private func acknowledge(_ id: HTTP2StreamID, bytes: Int, endStream: Bool, context: ChannelHandlerContext) {
        connectionUnacknowledged += bytes
        if connectionUnacknowledged >= windowSize / 2 {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: connectionUnacknowledged))), promise: nil)
            connectionUnacknowledged = 0
            pendingFlush = true
        }
        guard !endStream, var stream = streams[id] else { return }
        stream.unacknowledged += bytes
        if stream.unacknowledged >= windowSize / 2 {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: stream.unacknowledged))), promise: nil)
            stream.unacknowledged = 0
            pendingFlush = true
        }
        streams[id] = stream
    }

    private func scheduleFlush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            bound.value.handler.flushScheduled = false
            bound.value.handler.flushIfNeeded(context: bound.value.context)
        }
    }

    private func flushIfNeeded(context: ChannelHandlerContext) {
        guard pendingFlush else { return }
        pendingFlush = false
        context.flush()
    }
}
