import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

extension InferenceServer {
    /// Binds the HTTP front (KServe v2 REST, /metrics) on the server's event loops; returns
    /// the bound port (useful with port 0).
    public func startHTTP(host: String, port: Int) throws -> Int {
        let endpoints = KServeEndpoints(store: store, configuration: configuration)
        let configuration = configuration
        let accessLogger = configuration.accessLog ? store.logger : nil
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                guard admit(channel, .http) else { return channel.close() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(readTimeout: .seconds(Int64(configuration.idleTimeoutSeconds))),
                        HTTPIdleCloser(),
                        HTTPRequestHandler(endpoints: endpoints, maxBodySize: configuration.maxBodySize, accessLogger: accessLogger),
                    ])
                }
            }
        let bound = try bootstrap.bind(host: host, port: port).wait()
        addListener(bound)
        return bound.localAddress?.port ?? port
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
