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
    /// Set when the client resets the stream or the connection closes before the answer.
    var cancellation: CallCancellation? = nil
}

/// How a method's messages travel on its stream.
enum GRPCMethodShape: Sendable {
    /// One request message, one answer.
    case unary
    /// A stream of request messages, each answered by one message in the order they came
    /// (ModelStreamInfer); the call ends OK once the client has ended its side and every
    /// message is answered.
    case bidirectional
    /// One request message; its answer is sent, then asked again at every deadline check and
    /// sent again when it changes, until the client ends the call (grpc.health.v1 Watch).
    case watch
    /// Not served: this status answers the call as soon as its HEADERS arrive (a client of a
    /// streaming method would otherwise wait for its own END_STREAM, or its deadline).
    case refused(GRPCStatus)
}

/// gRPC over the frames of one HTTP/2 connection (NIOHTTP2Handler without a stream
/// multiplexer: no channel per stream). A stream's HEADERS name the method, and `shape` says
/// how its messages travel (`GRPCMethodShape`). A unary call's DATA carry one length-prefixed
/// message; at END_STREAM it goes to `serve`, and its answer goes back as HEADERS, DATA and
/// trailers, or as trailers only for an error. A bidirectional call's messages go to `serve`
/// as each completes and are answered in order; a watch's one message is asked again at each
/// deadline check. This is all of gRPC nnserve needs, without a generic RPC runtime's
/// per-call tasks: grpc-swift 2 cost ~320 µs of server CPU per call here, most of a request.
///
/// What one client may make the server hold or do (`GRPCLimits`, docs/RELIABILITY.md):
/// - request bodies: a stream's window reopens only while its body is under the message limit,
///   the connection's only while the bodies it buffers are under `bufferedLimit`; a message
///   must arrive within the header timeout or at the minimum transfer rate, or its stream is
///   answered DEADLINE_EXCEEDED and its bytes released;
/// - answers: bytes waiting for the client's window are counted, and past the bound the
///   connection gets GOAWAY ENHANCE_YOUR_CALM;
/// - frames that need no answer: a budget (`NoAnswerFrameBudget`), then the same GOAWAY;
/// - idle: no request frame in and no answer byte out for the idle timeout, with no call
///   computing, is a GOAWAY and a close; an idle connection may also be reclaimed by the
///   admission when its front is full;
/// - cancellation: a reset stream or a closed connection cancels its calls, and the batcher
///   skips those that have not started.
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
        var body = ByteBuffer()
        /// Answered already (an error before the body ended), or handed to the service: the
        /// rest of the body is dropped.
        var answered = false
        /// Handed to the service, and its answer not back yet.
        var computing = false
        /// The client has sent END_STREAM.
        var clientDone = false
        /// When the HEADERS arrived, and the body bytes received since (the transfer rate).
        var startedAt: NIODeadline
        var received = 0
        var cancellation: CallCancellation?
        var shape = GRPCMethodShape.unary
        /// The call's `grpc-encoding` (its compressed messages are inflated with it), and the
        /// compression of its answers: the same, when the client's `grpc-accept-encoding` takes it.
        var coding: ContentCoding?
        var answerCoding: ContentCoding?
        /// Streaming calls: request messages handed to the service, answers written, answers
        /// back before an earlier one (written when it is), and the HEADERS sent.
        var messagesIn = 0
        var messagesOut = 0
        var early: [Int: ByteBuffer] = [:]
        var headSent = false
        /// The stream's inbound window as NIOHTTP2 last reported it (a backed-up streaming
        /// call's window is reopened from it when answers make room).
        var inboundWindow: Int?
        /// A watch: its request, and the answer last sent.
        var watched: GRPCCall?
        var lastAnswer: ByteBuffer?

        var isStreaming: Bool {
            switch shape {
            case .bidirectional, .watch: true
            case .unary, .refused: false
            }
        }
    }

    private static let responseHead = HPACKHeaders([(":status", "200"), ("content-type", "application/grpc")])
    private static let okTrailers = HPACKHeaders([("grpc-status", "0")])

    private let serve: Serve
    private let shape: @Sendable (String) -> GRPCMethodShape
    private let limits: GRPCLimits
    /// The connection's place in its front's admission (nil in tests without a server).
    private let slot: ConnectionSlot?
    /// The slow-client guard's view: it watches the connection until its preface has arrived.
    private var progress: MessageProgress?
    private let onAbuse: @Sendable (AbuseReason) -> Void
    private let onSlowCall: @Sendable () -> Void
    private var streams: [HTTP2StreamID: Stream] = [:]
    private var burst = PredictionBurst()
    /// Body bytes held by streams whose message is not complete yet.
    private var buffered = 0
    /// The connection's inbound window as NIOHTTP2 last reported it.
    private var connectionWindow = 65_535
    private var highestStream = HTTP2StreamID(0)
    /// The last request frame in or answer byte out.
    private var lastProgress = NIODeadline.now()
    private var deadlineCheck: RepeatedTask?
    private var budget = NoAnswerFrameBudget()
    /// Answer bytes written and not yet sent (waiting for the client's window, or in the
    /// socket's buffer), and how many answers they are; and those not yet flushed.
    private var unsentAnswerBytes = 0
    private var unsentAnswers = 0
    private var closing = false
    /// Frames written and not yet flushed.
    private var pendingFlush = false
    private var flushScheduled = false

    /// Streams not yet closed, and the body bytes they hold (for tests).
    var openStreams: Int { streams.count }
    var bufferedBytes: Int { buffered }
    var unsentAnswerByteCount: Int { unsentAnswerBytes }

    init(limits: GRPCLimits, slot: ConnectionSlot? = nil, progress: MessageProgress? = nil,
         onAbuse: @escaping @Sendable (AbuseReason) -> Void = { _ in }, onSlowCall: @escaping @Sendable () -> Void = {},
         shape: @escaping @Sendable (String) -> GRPCMethodShape = { _ in .unary }, serve: @escaping Serve) {
        self.serve = serve
        self.shape = shape
        self.limits = limits
        self.slot = slot
        self.progress = progress
        self.onAbuse = onAbuse
        self.onSlowCall = onSlowCall
    }

    convenience init(maxMessageSize: Int, windowSize: Int, idleTimeout: TimeAmount = .seconds(60), serve: @escaping Serve) {
        var limits = GRPCLimits(maxMessageSize: maxMessageSize, windowSize: windowSize)
        limits.idleTimeout = idleTimeout
        self.init(limits: limits, serve: serve)
    }

    func channelActive(context: ChannelHandlerContext) {
        // The connection window starts at 65,535 bytes whatever the settings say: open it to
        // the stream window, so one large request does not wait for a round trip.
        if limits.windowSize > connectionWindow {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: limits.windowSize - connectionWindow))), promise: nil)
            connectionWindow = limits.windowSize
            context.flush()
        }
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        slot?.onReclaim {
            eventLoop.execute {
                let (handler, context) = bound.value
                handler.goAway(.noError, context: context)
            }
        }
        slot?.markIdle()
        deadlineCheck = context.eventLoop.scheduleRepeatedTask(initialDelay: limits.checkInterval, delay: limits.checkInterval) { _ in
            let (handler, context) = bound.value
            handler.checkDeadlines(context: context)
        }
        context.fireChannelActive()
    }

    /// The connection is gone: its calls are cancelled (queued ones are not computed), the
    /// bodies it held are released, and the closures that hold this handler end with it.
    func channelInactive(context: ChannelHandlerContext) {
        deadlineCheck?.cancel()
        deadlineCheck = nil
        slot?.connectionClosed()
        for stream in streams.values { stream.cancellation?.cancel() }
        streams.removeAll()
        buffered = 0
        // A read cut short by a connection error leaves its burst unsubmitted: the batcher
        // answers its cancelled jobs at once, and their closures release this handler.
        burst.submit()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if let watched = progress {
            // The preface has arrived (NIOHTTP2 passes frames on only after it): the
            // connection's deadline is met, each stream keeps its own from here, and a client
            // may keep a connection open before its first call (the idle timeout rules then).
            watched.standDown()
            progress = nil
        }
        switch frame.payload {
        case .headers(let headers):
            madeProgress()
            if streams.index(forKey: frame.streamID) != nil {
                // Trailers from the client end its half of the stream (gRPC clients send none).
                if headers.endStream { finish(frame.streamID, context: context) }
                return
            }
            highestStream = max(highestStream, frame.streamID)
            begin(frame.streamID, headers: headers.headers, context: context)
            if headers.endStream { finish(frame.streamID, context: context) }
        case .data(let payload):
            guard case .byteBuffer(var bytes) = payload.data else { return }
            if bytes.readableBytes == 0 && !payload.endStream {
                return spendBudget(context: context)
            }
            madeProgress()
            receive(frame.streamID, &bytes, endStream: payload.endStream, context: context)
        case .rstStream:
            drop(frame.streamID)
        case .windowUpdate, .priority:
            spendBudget(context: context)
        default:
            // SETTINGS, PING and GOAWAY are NIOHTTP2Handler's (it limits their floods itself).
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

    private func madeProgress() {
        budget.earn()
        lastProgress = .now()
    }

    /// A frame that needs no answer: within the budget it costs nothing more.
    private func spendBudget(context: ChannelHandlerContext) {
        guard !budget.spend() else { return }
        closeAbusive(.windowUpdates, "more frames that need no answer (WINDOW_UPDATE, PRIORITY, empty DATA) than the connection's calls explain",
                     context: context)
    }

    /// A new stream's HEADERS: a POST of a gRPC message, or an answer that says why not. The
    /// stream enters the dictionary once (a copy in and out retains every field it holds).
    private func begin(_ id: HTTP2StreamID, headers: HPACKHeaders, context: ChannelHandlerContext) {
        if streams.isEmpty { slot?.markBusy() }
        var stream = Stream(path: headers.first(name: ":path") ?? "", timeoutMicros: 0, authorization: headers.first(name: "authorization"),
                            startedAt: .now())
        func refuse(_ status: GRPCStatus) {
            streams[id] = stream
            fail(id, status, context: context)
        }
        let contentType = headers.first(name: "content-type") ?? ""
        guard contentType == "application/grpc" || contentType.hasPrefix("application/grpc+") || contentType.hasPrefix("application/grpc;") else {
            // Not gRPC at all: an HTTP status, as the gRPC spec says for a wrong content type.
            stream.answered = true
            streams[id] = stream
            let answer = HPACKHeaders([(":status", "415"), ("content-type", "text/plain")])
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: answer, endStream: true)))), promise: nil)
            return endEarly(id, context: context)
        }
        if headers["authorization"].count > 1 {
            // Which one a proxy or a server believes differs, so none is.
            return refuse(GRPCStatus(.invalidArgument, "the call has \(headers["authorization"].count) authorization headers; send one"))
        }
        if let timeout = headers.first(name: "grpc-timeout") {
            guard let micros = GRPCStatus.microseconds(timeout: timeout) else {
                return refuse(GRPCStatus(.invalidArgument, "grpc-timeout '\(timeout)' is not a gRPC timeout (1 to 8 digits and a unit of H, M, S, m, u, n)"))
            }
            guard micros > 0 else {
                return refuse(GRPCStatus(.deadlineExceeded, "grpc-timeout '\(timeout)': the deadline had passed when the call arrived"))
            }
            stream.timeoutMicros = micros
        }
        do {
            stream.coding = try ContentCoding(header: headers.first(name: "grpc-encoding"))
        } catch {
            return refuse(GRPCStatus(.unimplemented, "grpc-encoding '\(headers.first(name: "grpc-encoding") ?? "")' is not supported; nnserve takes gzip, deflate or identity"))
        }
        if let coding = stream.coding, let accepted = headers.first(name: "grpc-accept-encoding"), coding.isAccepted(by: accepted) {
            stream.answerCoding = coding
        }
        let shape = shape(stream.path)
        if case .refused(let status) = shape { return refuse(status) }
        stream.shape = shape
        if stream.isStreaming {
            stream.cancellation = CallCancellation()
        }
        if case .watch = shape {
            // A watch is open until its client ends it, and its connection is not idle meanwhile.
            stream.computing = true
        }
        streams[id] = stream
    }

    /// A DATA frame's bytes join its stream's message. The stream is changed in place in the
    /// dictionary, never copied out: a copy would share the body's storage, and appending to
    /// it would then copy the whole body received so far for every frame (a 16 MiB message in
    /// 64-byte frames kept the event loop busy for seconds, health checks included).
    private func receive(_ id: HTTP2StreamID, _ bytes: inout ByteBuffer, endStream: Bool, context: ChannelHandlerContext) {
        guard let index = streams.index(forKey: id) else { return }
        if streams.values[index].isStreaming {
            return receiveStreamed(id, index, &bytes, endStream: endStream, context: context)
        }
        if !streams.values[index].answered {
            let held = streams.values[index].body.readableBytes
            if held + bytes.readableBytes > limits.maxMessageSize + GRPCMessage.prefixSize {
                let size = held + bytes.readableBytes - GRPCMessage.prefixSize
                release(index)
                streams.values[index].answered = true
                streams.values[index].clientDone = endStream
                return fail(id, GRPCStatus(.resourceExhausted, "the request message has at least \(size) bytes; nnserve takes at most \(limits.maxMessageSize) (--max-frame-size)"),
                            context: context)
            }
            buffered += bytes.readableBytes
            streams.values[index].received += bytes.readableBytes
            if held == 0 {
                // The usual case, a message in one DATA frame: kept as it arrived, no copy.
                streams.values[index].body = bytes
            } else {
                streams.values[index].body.writeBuffer(&bytes)
            }
        }
        if endStream { finish(id, context: context) }
    }

    /// The stream's buffered body is dropped (its bytes no longer count against the connection).
    private func release(_ index: Dictionary<HTTP2StreamID, Stream>.Index) {
        buffered -= streams.values[index].body.readableBytes
        streams.values[index].body = ByteBuffer()
    }

    /// END_STREAM: the message is complete; unwrap it and serve the call.
    private func finish(_ id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard let index = streams.index(forKey: id) else { return }
        if streams.values[index].isStreaming { return finishStreamed(id, index, context: context) }
        streams.values[index].clientDone = true
        guard !streams.values[index].answered else { return }
        let body = streams.values[index].body
        release(index)
        streams.values[index].answered = true
        reopenConnection(context: context)
        let message: ByteBuffer
        switch GRPCMessage.unframe(body) {
        case .message(let bytes): message = bytes
        case .missing(let bytes):
            return respond(id, .failure(GRPCStatus(.invalidArgument, "the request has no message (\(bytes) bytes; a gRPC message has a \(GRPCMessage.prefixSize)-byte prefix)")), context: context)
        case .compressed(let bytes):
            switch inflate(bytes, coding: streams.values[index].coding) {
            case .success(let plain): message = plain
            case .failure(let status): return respond(id, .failure(status), context: context)
            }
        case .lengthMismatch(let declared, let following):
            return respond(id, .failure(GRPCStatus(.invalidArgument, "the request message prefix says \(declared) bytes and \(following) follow; a unary call carries exactly one message")), context: context)
        }
        let cancellation = CallCancellation()
        streams.values[index].cancellation = cancellation
        streams.values[index].computing = true
        let call = GRPCCall(path: streams.values[index].path, message: message, timeoutMicros: streams.values[index].timeoutMicros,
                            authorization: streams.values[index].authorization, cancellation: cancellation)
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

    // MARK: - Streaming calls

    /// A streaming call's bytes: each message is handed on as soon as it is complete.
    private func receiveStreamed(_ id: HTTP2StreamID, _ index: Dictionary<HTTP2StreamID, Stream>.Index, _ bytes: inout ByteBuffer,
                                 endStream: Bool, context: ChannelHandlerContext) {
        if !streams.values[index].answered {
            buffered += bytes.readableBytes
            if streams.values[index].body.readableBytes == 0 {
                // A message begins: its clock starts now, not when the last one ended (a
                // stream may wait as long as it likes between messages).
                streams.values[index].startedAt = .now()
                streams.values[index].received = bytes.readableBytes
                streams.values[index].body = bytes
            } else {
                streams.values[index].received += bytes.readableBytes
                streams.values[index].body.writeBuffer(&bytes)
            }
            takeMessages(id, context: context)
        }
        if endStream { finish(id, context: context) }
    }

    /// Whether a bidirectional stream has as many requests unanswered as it may: its complete
    /// messages then wait in its body (and its window stays shut once that is full) until
    /// answers go out — a client that pipelines faster than the model computes is slowed, not
    /// refused.
    private func isBackedUp(_ index: Dictionary<HTTP2StreamID, Stream>.Index) -> Bool {
        let stream = streams.values[index]
        return stream.messagesIn - stream.messagesOut >= limits.streamedInFlight
    }

    /// Hands on every complete message at the front of the stream's body (as many as the
    /// in-flight bound allows).
    private func takeMessages(_ id: HTTP2StreamID, context: ChannelHandlerContext) {
        intake: while let index = streams.index(forKey: id), !streams.values[index].answered, !isBackedUp(index) {
            let before = streams.values[index].body.readableBytes
            let message: ByteBuffer
            switch GRPCMessage.next(from: &streams.values[index].body) {
            case .incomplete(let declared):
                guard let declared, declared > limits.maxMessageSize else { break intake }
                release(index)
                fail(id, GRPCStatus(.resourceExhausted, "a request message of the stream has \(declared) bytes; nnserve takes at most \(limits.maxMessageSize) (--max-frame-size)"),
                     context: context)
                return reopenConnection(context: context)
            case .compressed(let compressed):
                switch inflate(compressed, coding: streams.values[index].coding) {
                case .success(let plain): message = plain
                case .failure(let status):
                    buffered -= before - streams.values[index].body.readableBytes
                    release(index)
                    fail(id, status, context: context)
                    return reopenConnection(context: context)
                }
            case .message(let plain):
                message = plain
            }
            guard let index = streams.index(forKey: id), streams.values[index].body.readableBytes < before else { break intake }
            buffered -= before - streams.values[index].body.readableBytes
            if streams.values[index].body.readableBytes == 0 { streams.values[index].body = ByteBuffer() }
            // What follows in the body began arriving now: the next message's clock.
            streams.values[index].startedAt = .now()
            streams.values[index].received = streams.values[index].body.readableBytes
            dispatch(id, index, message, context: context)
        }
        reopenConnection(context: context)
    }

    private func dispatch(_ id: HTTP2StreamID, _ index: Dictionary<HTTP2StreamID, Stream>.Index, _ message: ByteBuffer, context: ChannelHandlerContext) {
        let stream = streams.values[index]
        let call = GRPCCall(path: stream.path, message: message, timeoutMicros: stream.timeoutMicros, authorization: stream.authorization,
                            cancellation: stream.cancellation)
        if case .watch = stream.shape {
            guard stream.watched == nil else {
                return fail(id, GRPCStatus(.invalidArgument, "a watch takes one request message; a second arrived"), context: context)
            }
            streams.values[index].watched = call
            return ask(call, stream: id, sequence: nil, context: context)
        }
        streams.values[index].messagesIn += 1
        // Computing while a request is unanswered: an open stream with nothing in flight is
        // idle like any other connection.
        streams.values[index].computing = true
        ask(call, stream: id, sequence: stream.messagesIn, context: context)
    }

    /// Hands a streaming call's message to the service; `sequence` orders a bidirectional
    /// call's answers (nil: a watch's answer, sent when it changed).
    private func ask(_ call: GRPCCall, stream id: HTTP2StreamID, sequence: Int?, context: ChannelHandlerContext) {
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        serve(call, &burst) { result in
            let answer: @Sendable () -> Void = {
                let (handler, context) = bound.value
                handler.respondStreamed(id, sequence, result, context: context)
                handler.scheduleFlush(context: context)
            }
            if eventLoop.inEventLoop { answer() } else { eventLoop.execute(answer) }
        }
    }

    private func respondStreamed(_ id: HTTP2StreamID, _ sequence: Int?, _ result: Result<ByteBuffer, GRPCStatus>, context: ChannelHandlerContext) {
        guard let index = streams.index(forKey: id), !streams.values[index].answered else { return }
        let data: ByteBuffer
        switch result {
        case .success(let bytes): data = bytes
        case .failure(let status): return fail(id, status, context: context)
        }
        guard let sequence else {
            guard streams.values[index].lastAnswer != data else { return }
            streams.values[index].lastAnswer = data
            return writeMessage(id, data, context: context)
        }
        streams.values[index].early[sequence] = data
        let wasBackedUp = isBackedUp(index)
        while let index = streams.index(forKey: id), let next = streams.values[index].early.removeValue(forKey: streams.values[index].messagesOut) {
            streams.values[index].messagesOut += 1
            writeMessage(id, next, context: context)
        }
        guard let index = streams.index(forKey: id) else { return }
        streams.values[index].computing = streams.values[index].messagesIn > streams.values[index].messagesOut
        if wasBackedUp, !isBackedUp(index) {
            // Requests that waited for room go on, and the window may open again.
            takeMessages(id, context: context)
            if let inbound = streams.values[index].inboundWindow { reopen(id, inbound: inbound, context: context) }
            if streams.values[index].clientDone { return finishStreamed(id, index, context: context) }
        }
        endIfAnswered(id, context: context)
    }

    /// END_STREAM of a streaming call: a bidirectional call ends once its answers are out; a
    /// watch goes on until the client resets it.
    private func finishStreamed(_ id: HTTP2StreamID, _ index: Dictionary<HTTP2StreamID, Stream>.Index, context: ChannelHandlerContext) {
        streams.values[index].clientDone = true
        guard !streams.values[index].answered else { return }
        // Complete requests waiting for room are taken when answers go out.
        if isBackedUp(index) { return }
        let partial = streams.values[index].body.readableBytes
        if partial > 0 {
            release(index)
            return fail(id, GRPCStatus(.invalidArgument, "the stream ended inside a message (\(partial) bytes of it had arrived)"), context: context)
        }
        if case .watch = streams.values[index].shape, streams.values[index].watched == nil {
            return fail(id, GRPCStatus(.invalidArgument, "the watch ended without its request message"), context: context)
        }
        endIfAnswered(id, context: context)
    }

    private func endIfAnswered(_ id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard let index = streams.index(forKey: id), case .bidirectional = streams.values[index].shape, streams.values[index].clientDone,
              streams.values[index].messagesOut == streams.values[index].messagesIn, !streams.values[index].answered else { return }
        streams.values[index].answered = true
        streams.values[index].computing = false
        let trailers = streams.values[index].headSent ? Self.okTrailers
            : HPACKHeaders([(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", "0")])
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: trailers, endStream: true)))), promise: nil)
        pendingFlush = true
    }

    /// An answer before the client has finished sending: trailers only, then RST_STREAM
    /// (NO_ERROR) so it stops uploading a body nobody reads.
    private func fail(_ id: HTTP2StreamID, _ status: GRPCStatus, context: ChannelHandlerContext) {
        streams[id]?.answered = true
        respond(id, .failure(status), context: context)
        endEarly(id, context: context)
    }

    private func endEarly(_ id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard let index = streams.index(forKey: id), !streams.values[index].clientDone else { return }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .rstStream(.noError))), promise: nil)
        pendingFlush = true
    }

    /// The answer: HEADERS, DATA (the framed message) and trailers; an error is trailers
    /// only. Nothing is written for a stream the client has reset.
    private func respond(_ id: HTTP2StreamID, _ result: Result<ByteBuffer, GRPCStatus>, context: ChannelHandlerContext) {
        guard let index = streams.index(forKey: id) else { return }
        streams.values[index].computing = false
        switch result {
        case .success(let data):
            writeMessage(id, data, context: context)
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: Self.okTrailers, endStream: true)))), promise: nil)
        case .failure(let status):
            // Trailers only, or after the messages of a streaming call.
            var trailers = streams.values[index].headSent ? HPACKHeaders()
                : HPACKHeaders([(":status", "200"), ("content-type", "application/grpc")])
            trailers.add(name: "grpc-status", value: String(status.code.rawValue))
            if !status.message.isEmpty { trailers.add(name: "grpc-message", value: status.encodedMessage) }
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: trailers, endStream: true)))), promise: nil)
        }
        pendingFlush = true
    }

    /// A compressed request message inflated with the call's encoding, to at most the message
    /// limit whatever it would expand to.
    private func inflate(_ message: ByteBuffer, coding: ContentCoding?) -> Result<ByteBuffer, GRPCStatus> {
        guard let coding else {
            return .failure(GRPCStatus(.internalError, "a request message is marked compressed, and the call has no grpc-encoding"))
        }
        do {
            return .success(try coding.decompress(message, limit: limits.maxMessageSize))
        } catch .tooLarge {
            return .failure(GRPCStatus(.resourceExhausted, "the request message inflates to more than \(limits.maxMessageSize) bytes (--max-frame-size)"))
        } catch {
            return .failure(GRPCStatus(.invalidArgument, "the request message (grpc-encoding \(coding.rawValue)): \(error)"))
        }
    }

    /// One answer message, after the HEADERS if they have not gone yet (compressed when the
    /// call's answers are). Counted until NIOHTTP2 has sent it: it holds DATA while the
    /// client's window is shut.
    private func writeMessage(_ id: HTTP2StreamID, _ framed: ByteBuffer, context: ChannelHandlerContext) {
        guard let index = streams.index(forKey: id) else { return }
        var data = framed
        let coding = streams.values[index].answerCoding
        if let coding, case .message(let message) = GRPCMessage.unframe(framed) {
            data = GRPCMessage.frame(bytes: coding.compress(message), compressed: true)
        }
        if !streams.values[index].headSent {
            streams.values[index].headSent = true
            var head = Self.responseHead
            if let coding { head.add(name: "grpc-encoding", value: coding.rawValue) }
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: head)))), promise: nil)
        }
        let bytes = data.readableBytes
        unsentAnswerBytes += bytes
        unsentAnswers += 1
        let sent = context.eventLoop.makePromise(of: Void.self)
        sent.futureResult.assumeIsolated().whenComplete { [self] _ in
            unsentAnswerBytes -= bytes
            unsentAnswers -= 1
            madeProgress()
        }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(data))))), promise: sent)
        pendingFlush = true
    }

    /// The stream is gone (closed or reset): what it buffered is released, and its call, if
    /// still queued, is not computed.
    private func drop(_ id: HTTP2StreamID) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        buffered -= stream.body.readableBytes
        stream.cancellation?.cancel()
        if streams.isEmpty { slot?.markIdle() }
    }

    /// Flow control from NIOHTTP2's own accounting (padding and frames it dropped included): a
    /// stream's window reopens while its message is incomplete and under the limit, the
    /// connection's while the buffered bodies are under `bufferedLimit`.
    private func reopen(_ id: HTTP2StreamID, inbound: Int, context: ChannelHandlerContext) {
        if id == .rootStream {
            connectionWindow = inbound
            return reopenConnection(context: context)
        }
        guard let index = streams.index(forKey: id) else { return }
        streams.values[index].inboundWindow = inbound
        guard inbound < limits.windowSize / 2, !streams.values[index].answered, !streams.values[index].clientDone,
              streams.values[index].body.readableBytes < limits.maxMessageSize + GRPCMessage.prefixSize, !isBackedUp(index) else { return }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: limits.windowSize - inbound))), promise: nil)
        pendingFlush = true
    }

    private func reopenConnection(context: ChannelHandlerContext) {
        guard connectionWindow < limits.windowSize / 2, buffered < limits.bufferedLimit else { return }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: limits.windowSize - connectionWindow))), promise: nil)
        connectionWindow = limits.windowSize
        pendingFlush = true
    }

    /// Every `checkInterval`: a message arriving too slowly ends its stream (the other fronts'
    /// header timeout and minimum transfer rate, per call), and a connection with no progress
    /// for the idle timeout ends, unless a call is computing. Answers left waiting for window
    /// are not progress: a client that never opens its window is idle.
    private func checkDeadlines(context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        // A streaming call may wait between its messages; only a message begun is held to time.
        let slow = streams.filter { !$0.value.answered && !$0.value.clientDone && now - $0.value.startedAt > limits.headerTimeout
            && (!$0.value.isStreaming || $0.value.body.readableBytes > 0)
            && $0.value.messagesIn - $0.value.messagesOut < limits.streamedInFlight }
        for (id, stream) in slow {
            let seconds = Double((now - stream.startedAt).nanoseconds) / 1e9
            let rate = Double(stream.received) / seconds
            guard rate < Double(limits.minBytesPerSecond), let index = streams.index(forKey: id) else { continue }
            release(index)
            onSlowCall()
            fail(id, GRPCStatus(.deadlineExceeded, String(format: "the request message arrived at %.0f bytes/s (%d bytes in %.1f s), under the minimum of %d bytes/s (--min-transfer-rate); send it faster",
                                                          rate, stream.received, seconds, limits.minBytesPerSecond)),
                 context: context)
            reopenConnection(context: context)
        }
        for (id, stream) in streams {
            if let call = stream.watched { ask(call, stream: id, sequence: nil, context: context) }
        }
        burst.submit()
        flushIfNeeded(context: context)
        let computing = streams.values.contains { $0.computing }
        guard !computing, now - lastProgress >= limits.idleTimeout else { return }
        goAway(.noError, context: context)
    }

    /// GOAWAY naming the last stream seen, then the connection closes a second later whether
    /// or not the GOAWAY could be written (idle, or reclaimed for a new connection).
    private func goAway(_ code: HTTP2ErrorCode, context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        deadlineCheck?.cancel()
        let frame = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: highestStream, errorCode: code, opaqueData: nil))
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        let channel = context.channel
        context.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
    }

    /// GOAWAY ENHANCE_YOUR_CALM with the reason, and the connection closes at once: what it
    /// holds is released now.
    private func closeAbusive(_ reason: AbuseReason, _ message: String, context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        onAbuse(reason)
        let frame = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: highestStream, errorCode: .enhanceYourCalm, opaqueData: ByteBuffer(string: message)))
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        context.close(promise: nil)
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

    /// Flushes, then holds the client to the bound on answers it leaves unsent: what the flush
    /// could not send is waiting for the client's window (or its socket).
    private func flushIfNeeded(context: ChannelHandlerContext) {
        guard pendingFlush else { return }
        pendingFlush = false
        context.flush()
        if unsentAnswers > 1 && unsentAnswerBytes > limits.unreadAnswerLimit {
            closeAbusive(.unreadAnswers, "\(unsentAnswers) answers (\(unsentAnswerBytes) bytes) are waiting for the client to open its flow-control window; the bound is \(limits.unreadAnswerLimit) bytes",
                         context: context)
        }
    }
}
