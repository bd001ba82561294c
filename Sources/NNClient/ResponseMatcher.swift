import NIOCore
import NNFormat
import NNWire

/// A request on its way to the matcher: the matcher gives it its id and completes `response`
/// with the response of that id, or fails it (timeout, connection closed, broken stream).
struct OutstandingRequest: Sendable {
    var request: Nnserve_Request
    var response: EventLoopPromise<Nnserve_Response>
    var timeout: TimeAmount
}

/// Matches responses to requests by id, on the event loop (in the spirit of swift-nio-extras'
/// `RequestResponseWithIDHandler`, with ids assigned here and a timeout per request).
/// Nothing is dropped in silence: a response for an id that is not waiting, or a frame that
/// does not decode, fails every waiting request with what happened and closes the connection,
/// since the stream is no longer in step. A response arriving after its request timed out is
/// expected and dropped. A response with id 0 is a connection-level error of the server and
/// is given to every waiting request.
final class ResponseMatcher: ChannelDuplexHandler {
    typealias InboundIn = Nnserve_Response
    typealias OutboundIn = OutstandingRequest
    typealias OutboundOut = Nnserve_Request

    private struct Waiting {
        var response: EventLoopPromise<Nnserve_Response>
        var timer: Scheduled<Void>
    }

    private var nextID: UInt64 = 1
    private var waiting: [UInt64: Waiting] = [:]
    /// Ids that timed out, newest last; their late responses are not an error. Bounded: after
    /// `expiredMemory` more timeouts an id is forgotten.
    private var expired = CircularBuffer<UInt64>()
    private let expiredMemory = 4096
    /// Why the connection is ending, once an error said so (the server speaks another
    /// protocol, a frame did not decode): a request written after that is failed with it, not
    /// with a bare "the connection closed".
    private var closing: ClientError?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var outstanding = unwrapOutboundIn(data)
        let id = nextID
        nextID += 1
        outstanding.request.id = id
        let timeout = outstanding.timeout
        let bound = NIOLoopBound((matcher: self, context: context), eventLoop: context.eventLoop)
        let timer = context.eventLoop.scheduleTask(in: timeout) {
            bound.value.matcher.expire(id, after: timeout)
        }
        waiting[id] = Waiting(response: outstanding.response, timer: timer)
        context.write(wrapOutboundOut(outstanding.request)).whenFailure { error in
            let matcher = bound.value.matcher
            matcher.finish(id, with: .failure(matcher.closing ?? ClientError.connectionClosed))
        }
        // The request is the matcher's now: what happens to it is told through its response.
        promise?.succeed(())
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let response = unwrapInboundIn(data)
        if response.id == 0 {
            failAll(with: nil, orAnswer: response)
            return
        }
        if waiting[response.id] != nil {
            finish(response.id, with: .success(response))
        } else if let index = expired.firstIndex(of: response.id) {
            expired.remove(at: index)
        } else {
            failAll(with: ClientError.unexpectedResponse(WireError.unknownResponseID(response.id).description))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(with: closing ?? ClientError.connectionClosed)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(with: closing ?? ClientError.connectionClosed)
    }

    /// A frame that does not decode leaves the stream out of step; any other failure (a TLS
    /// alert, a reset) leaves nothing to answer. Either way: tell the waiting requests, close.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let wire = error as? WireError {
            closing = closing ?? ClientError.unexpectedResponse(wire.description)
        } else if let client = error as? ClientError {
            closing = closing ?? client
        }
        failAll(with: closing ?? ClientError.connectionClosed)
        context.close(promise: nil)
    }

    private func finish(_ id: UInt64, with result: Result<Nnserve_Response, any Error>) {
        guard let entry = waiting.removeValue(forKey: id) else { return }
        entry.timer.cancel()
        entry.response.completeWith(result)
    }

    private func expire(_ id: UInt64, after timeout: TimeAmount) {
        guard waiting[id] != nil else { return }
        if expired.count == expiredMemory { expired.removeFirst() }
        expired.append(id)
        finish(id, with: .failure(ClientError.timedOut(seconds: Double(timeout.nanoseconds) / 1e9)))
    }

    /// Completes every waiting request: failed with `error`, or answered with `response`.
    private func failAll(with error: (any Error)?, orAnswer response: Nnserve_Response? = nil) {
        let entries = waiting
        waiting.removeAll()
        for entry in entries.values {
            entry.timer.cancel()
            if let error { entry.response.fail(error) } else if let response { entry.response.succeed(response) }
        }
    }
}
