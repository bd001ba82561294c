import Dispatch
import Logging
import NIOCore
import NIOHTTP1

/// Collects one HTTP request (head, body up to the size limit), has the endpoints answer it and
/// writes the reply. NIO's pipeline handler in front keeps pipelined requests in order.
final class HTTPRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let endpoints: KServeEndpoints
    private let maxBodySize: Int
    private let accessLogger: Logger?
    /// Where predictions go: this event loop's burst (nil: each submitted alone, in tests).
    private let burst: LoopBurst?
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var bodyTooLarge = false
    private var started: UInt64 = 0
    /// True while the endpoints are being asked: a reply completed during that call is written
    /// from a new task, because NIO's pipelining handler delivers the next buffered request
    /// from inside our write, and synchronous replies would nest one level per request.
    private var respondingSynchronously = false
    /// Bodies are read into a buffer of at most this capacity up front; it grows with the data.
    private static let initialBodyCapacity = 64 * 1024

    init(endpoints: KServeEndpoints, maxBodySize: Int, accessLogger: Logger?, burst: LoopBurst? = nil) {
        self.endpoints = endpoints
        self.burst = burst
        self.maxBodySize = maxBodySize
        self.accessLogger = accessLogger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            started = DispatchTime.now().uptimeNanoseconds
            body.clear()
            let declared = requestHead.headers.first(name: "content-length").flatMap { Int($0) } ?? 0
            bodyTooLarge = declared > maxBodySize
            if body.capacity == 0 { body = context.channel.allocator.buffer(capacity: min(declared, Self.initialBodyCapacity)) }
            if requestHead.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                if bodyTooLarge {
                    // The client waits before sending the body: refuse now and end the connection.
                    head = nil
                    return write(.error(HTTPError(.badRequest, Self.tooLarge(maxBodySize))), for: requestHead, started: started,
                                 context: context, close: true)
                }
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: requestHead.version, status: .continue))), promise: nil)
            }
        case .body(var chunk):
            // Past the limit the rest is read and dropped, so the reply can still be sent.
            guard !bodyTooLarge else { return }
            if body.readableBytes + chunk.readableBytes > maxBodySize {
                bodyTooLarge = true
                body.clear()
            } else {
                body.writeBuffer(&chunk)
            }
        case .end:
            guard let requestHead = head else { return }
            head = nil
            respond(to: requestHead, context: context)
        }
    }

    /// A request NIO's parser rejects has been answered 400 (`HTTPServerProtocolErrorHandler`),
    /// and the stream cannot be read past it: the connection ends here, rather than at the
    /// header timeout with a second, unsolicited 408.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private static func tooLarge(_ limit: Int) -> String {
        "request body is larger than the limit of \(limit) bytes (nnserve --max-body-size)"
    }

    private func respond(to requestHead: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = String(requestHead.uri.prefix { $0 != "?" })
        let started = started
        if bodyTooLarge {
            return write(.error(HTTPError(.badRequest, Self.tooLarge(maxBodySize))), for: requestHead, started: started, context: context)
        }
        let plain: ByteBuffer
        do {
            plain = try HTTPBodyCoding.requestBody(body, headers: requestHead.headers, limit: maxBodySize)
        } catch {
            return write(.error(error), for: requestHead, started: started, context: context)
        }
        let request = KServeEndpoints.Request(method: requestHead.method, path: path, headers: requestHead.headers, body: plain)
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        respondingSynchronously = true
        defer { respondingSynchronously = false }
        endpoints.respond(to: request, on: context.eventLoop, burst: burst).whenComplete { result in
            var reply: HTTPReply
            switch result {
            case .success(let answer): reply = answer
            case .failure(let error): reply = .error(HTTPError(.internalServerError, "\(error)"))
            }
            HTTPBodyCoding.encode(&reply, for: requestHead.headers)
            let encoded = reply
            let (handler, context) = bound.value
            guard handler.respondingSynchronously else {
                return handler.write(encoded, for: requestHead, started: started, context: context)
            }
            context.eventLoop.execute {
                let (handler, context) = bound.value
                handler.write(encoded, for: requestHead, started: started, context: context)
            }
        }
    }

    private func write(_ reply: HTTPReply, for requestHead: HTTPRequestHead, started: UInt64, context: ChannelHandlerContext,
                       close: Bool = false) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(4 + reply.extraHeaders.count)
        if !reply.body.isEmpty { headers.add(name: "content-type", value: reply.contentType) }
        headers.add(name: "content-length", value: String(reply.body.count))
        for (name, value) in reply.extraHeaders { headers.add(name: name, value: value) }
        let keepAlive = requestHead.isKeepAlive && !close
        if !keepAlive {
            headers.add(name: "connection", value: "close")
        } else if requestHead.version.minor == 0 {
            // HTTP/1.0 closes by default: a client that asked to keep the connection is told it may.
            headers.add(name: "connection", value: "keep-alive")
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: requestHead.version, status: reply.status, headers: headers))), promise: nil)
        if requestHead.method != .HEAD, !reply.body.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: reply.body.count)
            buffer.writeBytes(reply.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
        }
        endpoints.store.metrics.httpResponse(status: Int(reply.status.code))
        if let accessLogger {
            let micros = (DispatchTime.now().uptimeNanoseconds - started) / 1000
            accessLogger.info("\(requestHead.method) \(requestHead.uri) \(reply.status.code) \(reply.body.count)B \(micros)us")
        }
    }
}
