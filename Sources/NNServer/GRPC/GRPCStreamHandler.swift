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
/// thread hops to it, and is dropped if the client reset the stream meanwhile. Memory is
/// bounded by flow control: a stream's window reopens only while its body is under the
/// message limit, and the connection's only while the bodies it buffers are under
/// `bufferedLimit` (the client then waits, as HTTP/2 means it to).
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
        var body = ByteBuffer()
        /// Answered already (an error before the body ended): the rest of the body is dropped.
        var answered = false
        /// The client has sent END_STREAM.
        var clientDone = false
    }

    private static let responseHead = HPACKHeaders([(":status", "200"), ("content-type", "application/grpc")])
    private static let okTrailers = HPACKHeaders([("grpc-status", "0")])

    private let serve: Serve
    private let maxMessageSize: Int
    private let windowSize: Int
    private let bufferedLimit: Int
    private let idleTimeout: TimeAmount
    private var streams: [HTTP2StreamID: Stream] = [:]
    private var burst = PredictionBurst()
    /// Body bytes held by streams whose message is not complete yet.
    private var buffered = 0
    /// The connection's inbound window as NIOHTTP2 last reported it.
    private var connectionWindow = 65_535
    private var highestStream = HTTP2StreamID(0)
    private var lastActivity = NIODeadline.now()
    private var idleCheck: RepeatedTask?
    /// Frames written and not yet flushed.
    private var pendingFlush = false
    private var flushScheduled = false

    /// Streams not yet closed, and the body bytes they hold (for tests).
    var openStreams: Int { streams.count }
    var bufferedBytes: Int { buffered }

    /// `windowSize` is the stream window the connection advertises (SETTINGS_INITIAL_WINDOW_SIZE)
    /// and the connection window it keeps open.
    init(maxMessageSize: Int, windowSize: Int, idleTimeout: TimeAmount = .seconds(60), serve: @escaping Serve) {
        self.serve = serve
        self.maxMessageSize = maxMessageSize
        self.windowSize = windowSize
        self.idleTimeout = idleTimeout
        bufferedLimit = max(2 * (maxMessageSize + GRPCMessage.prefixSize), 4 * windowSize)
    }

    func channelActive(context: ChannelHandlerContext) {
        // The connection window starts at 65,535 bytes whatever the settings say: open it to
        // the stream window, so one large request does not wait for a round trip.
        if windowSize > connectionWindow {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: windowSize - connectionWindow))), promise: nil)
            connectionWindow = windowSize
            context.flush()
        }
        scheduleIdleCheck(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The task's closure holds this handler (and its context): released with the connection.
        idleCheck?.cancel()
        idleCheck = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            lastActivity = .now()
            if streams[frame.streamID] != nil {
                // Trailers from the client end its half of the stream (gRPC clients send none).
                if headers.endStream { finish(frame.streamID, context: context) }
                return
            }
            highestStream = max(highestStream, frame.streamID)
            begin(frame.streamID, headers: headers.headers, context: context)
            if headers.endStream { finish(frame.streamID, context: context) }
        case .data(let payload):
            lastActivity = .now()
            guard case .byteBuffer(var bytes) = payload.data, var stream = streams[frame.streamID] else { return }
            if !stream.answered {
                if stream.body.readableBytes + bytes.readableBytes > maxMessageSize + GRPCMessage.prefixSize {
                    let size = stream.body.readableBytes + bytes.readableBytes - GRPCMessage.prefixSize
                    buffered -= stream.body.readableBytes
                    stream.body = ByteBuffer()
                    stream.answered = true
                    stream.clientDone = payload.endStream
                    // Stored before answering: the answer may close the stream, and its close
                    // event must find the entry to remove.
                    streams[frame.streamID] = stream
                    return fail(frame.streamID, GRPCStatus(.resourceExhausted, "the request message has at least \(size) bytes; nnserve takes at most \(maxMessageSize) (--max-frame-size)"),
                                context: context)
                } else if stream.body.readableBytes == 0 {
                    // The usual case, a message in one DATA frame: kept as it arrived, no copy.
                    buffered += bytes.readableBytes
                    stream.body = bytes
                } else {
                    buffered += bytes.readableBytes
                    stream.body.writeBuffer(&bytes)
                }
            }
            streams[frame.streamID] = stream
            if payload.endStream { finish(frame.streamID, context: context) }
        case .rstStream:
            drop(frame.streamID)
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
            drop(closed.streamID)
        } else if let window = event as? NIOHTTP2WindowUpdatedEvent, let inbound = window.inboundWindowSize {
            reopen(window.streamID, inbound: inbound, context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// A connection error (a bad preface, a protocol violation): NIOHTTP2 has sent its GOAWAY;
    /// the connection ends here rather than at the idle timeout. A stream's error ends only
    /// that stream, which NIOHTTP2 has reset.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOHTTP2Errors.StreamError { return }
        context.close(promise: nil)
    }

    /// A new stream's HEADERS: a POST of a gRPC message, or an answer that says why not.
    private func begin(_ id: HTTP2StreamID, headers: HPACKHeaders, context: ChannelHandlerContext) {
        var stream = Stream(path: headers.first(name: ":path") ?? "", timeoutMicros: 0, authorization: headers.first(name: "authorization"))
        streams[id] = stream
        let contentType = headers.first(name: "content-type") ?? ""
        guard contentType == "application/grpc" || contentType.hasPrefix("application/grpc+") || contentType.hasPrefix("application/grpc;") else {
            // Not gRPC at all: an HTTP status, as the gRPC spec says for a wrong content type.
            stream.answered = true
            streams[id] = stream
            let answer = HPACKHeaders([(":status", "415"), ("content-type", "text/plain")])
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: answer, endStream: true)))), promise: nil)
            return endEarly(id, context: context)
        }
        if let timeout = headers.first(name: "grpc-timeout") {
            guard let micros = GRPCStatus.microseconds(timeout: timeout) else {
                return fail(id, GRPCStatus(.invalidArgument, "grpc-timeout '\(timeout)' is not a gRPC timeout (1 to 8 digits and a unit of H, M, S, m, u, n)"), context: context)
            }
            guard micros > 0 else {
                return fail(id, GRPCStatus(.deadlineExceeded, "grpc-timeout '\(timeout)': the deadline had passed when the call arrived"), context: context)
            }
            stream.timeoutMicros = micros
            streams[id] = stream
        }
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" {
            return fail(id, GRPCStatus(.unimplemented, "grpc-encoding '\(encoding)' is not supported; nnserve takes identity (uncompressed) messages"), context: context)
        }
    }

    /// END_STREAM: the message is complete; unwrap it and serve the call.
    private func finish(_ id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard var stream = streams[id] else { return }
        stream.clientDone = true
        guard !stream.answered else { return streams[id] = stream }
        buffered -= stream.body.readableBytes
        let body = stream.body
        stream.body = ByteBuffer()
        stream.answered = true
        streams[id] = stream
        reopenConnection(context: context)
        let message: ByteBuffer
        switch GRPCMessage.unframe(body) {
        case .message(let bytes): message = bytes
        case .missing(let bytes):
            return respond(id, .failure(GRPCStatus(.invalidArgument, "the request has no message (\(bytes) bytes; a gRPC message has a \(GRPCMessage.prefixSize)-byte prefix)")), context: context)
        case .compressed:
            return respond(id, .failure(GRPCStatus(.unimplemented, "the request message is compressed; nnserve takes identity (uncompressed) messages")), context: context)
        case .lengthMismatch(let declared, let following):
            return respond(id, .failure(GRPCStatus(.invalidArgument, "the request message prefix says \(declared) bytes and \(following) follow; a unary call carries exactly one message")), context: context)
        }
        let call = GRPCCall(path: stream.path, message: message, timeoutMicros: stream.timeoutMicros, authorization: stream.authorization)
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        serve(call, &burst) { result in
            // One flush task behind the answers, however many arrive (a batch's answers leave
            // in one write); inside a read, channelReadComplete flushes first anyway.
            let answer: @Sendable () -> Void = {
                let (handler, context) = bound.value
                handler.respond(id, result, context: context)
                handler.scheduleFlush(context: context)
            }
            if eventLoop.inEventLoop { answer() } else { eventLoop.execute(answer) }
        }
    }

    /// An answer before the client has finished sending: trailers only, then RST_STREAM
    /// (NO_ERROR) so it stops uploading a body nobody reads.
    private func fail(_ id: HTTP2StreamID, _ status: GRPCStatus, context: ChannelHandlerContext) {
        streams[id]?.answered = true
        respond(id, .failure(status), context: context)
        endEarly(id, context: context)
    }

    private func endEarly(_ id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard let stream = streams[id], !stream.clientDone else { return }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .rstStream(.noError))), promise: nil)
        pendingFlush = true
    }

    /// The answer: HEADERS, DATA (the framed message) and trailers; an error is trailers
    /// only. Nothing is written for a stream the client has reset.
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

    /// The stream is gone (closed or reset): what it buffered is released.
    private func drop(_ id: HTTP2StreamID) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        buffered -= stream.body.readableBytes
    }

    /// Flow control from NIOHTTP2's own accounting (padding and frames it dropped included): a
    /// stream's window reopens while its message is incomplete and under the limit, the
    /// connection's while the buffered bodies are under `bufferedLimit`.
    private func reopen(_ id: HTTP2StreamID, inbound: Int, context: ChannelHandlerContext) {
        if id == .rootStream {
            connectionWindow = inbound
            return reopenConnection(context: context)
        }
        guard inbound < windowSize / 2, let stream = streams[id], !stream.answered, !stream.clientDone,
              stream.body.readableBytes < maxMessageSize + GRPCMessage.prefixSize else { return }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: windowSize - inbound))), promise: nil)
        pendingFlush = true
    }

    private func reopenConnection(context: ChannelHandlerContext) {
        guard connectionWindow < windowSize / 2, buffered < bufferedLimit else { return }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: windowSize - connectionWindow))), promise: nil)
        connectionWindow = windowSize
        pendingFlush = true
    }

    /// Idle: no HEADERS or DATA for the idle timeout and no call waiting for its answer (PINGs
    /// do not count, and a body left half-sent does not keep a connection). The client is told
    /// with a GOAWAY naming the last stream seen; the connection closes a second later whether
    /// or not the GOAWAY could be written.
    private func scheduleIdleCheck(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        let interval = TimeAmount.nanoseconds(max(idleTimeout.nanoseconds / 4, 1_000_000))
        idleCheck = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { task in
            let (handler, context) = bound.value
            let waiting = handler.streams.values.contains { $0.answered && $0.clientDone }
            guard !waiting, NIODeadline.now() - handler.lastActivity >= handler.idleTimeout else { return }
            task.cancel()
            let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: handler.highestStream, errorCode: .noError, opaqueData: nil))
            context.writeAndFlush(handler.wrapOutboundOut(goAway), promise: nil)
            let channel = context.channel
            context.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        }
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
