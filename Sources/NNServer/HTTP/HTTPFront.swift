import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

extension InferenceServer {
    /// Binds the HTTP front (KServe v2 REST, /metrics) on the server's event loops; returns
    /// the bound port (useful with port 0).
    public func startHTTP(host: String, port: Int) throws -> Int {
        try startHTTP(host: host, port: port, front: .http)
    }

    /// Binds the health listener: /v2/health/live, /v2/health/ready and /metrics only, with its
    /// own connection limit (`maxHealthConnections`) and its own event loop, so orchestrators'
    /// probes are answered even while the main ports are flooded or their loops are busy.
    /// With TLS on it speaks TLS without asking for a client certificate (a kubelet's probe
    /// presents none), or plain HTTP when `plain`.
    public func startHealth(host: String, port: Int, plain: Bool = false) throws -> Int {
        try startHTTP(host: host, port: port, front: .health, plain: plain)
    }

    private func startHTTP(host: String, port: Int, front: Front, plain: Bool = false) throws -> Int {
        let endpoints = KServeEndpoints(store: store, configuration: configuration, healthOnly: front == .health)
        let configuration = configuration
        let accessLogger = configuration.accessLog ? store.logger : nil
        // Each HTTP request comes alone on its connection: inline only when the model is quiet.
        let bursts = LoopBursts(lonePolicy: .ifQuiet)
        return try listen(host: host, port: port, front: front, plain: plain) { [self] pipeline, _ in
            let progress = MessageProgress()
            try pipeline.addHandler(slowClientGuard(progress, front))
            // Not read while the client leaves its responses unread: pipelined requests then
            // wait in its TCP window, not in the server's memory.
            try pipeline.addHandler(BackPressureHandler())
            try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
            try pipeline.addHandlers([
                HTTPProgressReporter(progress: progress),
                IdleStateHandler(readTimeout: .seconds(Int64(configuration.idleTimeoutSeconds))),
                HTTPIdleCloser(),
                HTTPRequestHandler(endpoints: endpoints, maxBodySize: configuration.maxBodySize, accessLogger: accessLogger,
                                   burst: bursts.burst(for: pipeline.eventLoop)),
            ])
        }
    }
}

/// Tells the slow-client guard where HTTP requests' heads and ends are.
final class HTTPProgressReporter: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let progress: MessageProgress

    init(progress: MessageProgress) {
        self.progress = progress
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: progress.headArrived()
        case .body: break
        case .end: progress.completed(buffered: 0)
        }
        context.fireChannelRead(data)
    }
}

/// Closes an HTTP connection that stayed silent for the idle timeout.
final class HTTPIdleCloser: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
