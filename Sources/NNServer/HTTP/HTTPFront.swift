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
        return try listen(host: host, port: port, front: .http) { pipeline in
            try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
            try pipeline.addHandlers([
                IdleStateHandler(readTimeout: .seconds(Int64(configuration.idleTimeoutSeconds))),
                HTTPIdleCloser(),
                HTTPRequestHandler(endpoints: endpoints, maxBodySize: configuration.maxBodySize, accessLogger: accessLogger),
            ])
        }
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
