import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NNFormat

/// The binary-protocol server: a SwiftNIO pipeline per connection (idle timeout → frame
/// decoder → request handler) over a shared model store.
public final class InferenceServer: Sendable {
    public let store: ModelStore
    public let configuration: ServerConfiguration
    let group: MultiThreadedEventLoopGroup
    /// The bound server channels (binary protocol, HTTP), closed first on shutdown.
    private let listeners = NIOLockedValueBox<[any Channel]>([])
    private let connections = NIOLockedValueBox(0)

    public init(store: ModelStore, configuration: ServerConfiguration, eventLoopThreads: Int = 1) {
        self.store = store
        self.configuration = configuration
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, eventLoopThreads))
    }

    /// Binds the binary protocol and starts accepting; returns the bound port (useful with port 0).
    public func start(host: String, port: Int) throws -> Int {
        let store = store, configuration = configuration
        return try listen(host: host, port: port, front: .binary) { pipeline in
            try pipeline.addHandlers([
                IdleStateHandler(readTimeout: .seconds(Int64(configuration.idleTimeoutSeconds))),
                ByteToMessageHandler(FrameDecoder(maxFrameSize: configuration.maxFrameSize)),
                RequestHandler(store: store, configuration: configuration),
            ])
        }
    }

    /// Binds a front on the shared event loops: connections are admitted against
    /// `maxConnections`, then `handlers` builds their pipeline. Returns the bound port.
    func listen(host: String, port: Int, front: RequestProtocol,
                handlers: @escaping @Sendable (ChannelPipeline.SynchronousOperations) throws -> Void) throws -> Int {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                guard admit(channel, front) else { return channel.close() }
                return channel.eventLoop.makeCompletedFuture { try handlers(channel.pipeline.syncOperations) }
            }
        let bound = try bootstrap.bind(host: host, port: port).wait()
        listeners.withLockedValue { $0.append(bound) }
        return bound.localAddress?.port ?? port
    }

    /// Counts a new connection of either front against `maxConnections` (false: refuse it).
    func admit(_ channel: any Channel, _ front: RequestProtocol) -> Bool {
        let admitted = connections.withLockedValue { count -> Bool in
            guard count < configuration.maxConnections else { return false }
            count += 1
            return true
        }
        guard admitted else { return false }
        let metrics = store.metrics, connections = connections
        metrics.connectionOpened(front)
        channel.closeFuture.whenComplete { _ in
            connections.withLockedValue { $0 -= 1 }
            metrics.connectionClosed(front)
        }
        return true
    }


    /// Stops accepting, answers what is queued, closes connections.
    public func shutdown() {
        for listener in listeners.withLockedValue({ $0 }) {
            try? listener.close().wait()
        }
        store.logger.info("stopped accepting connections; answering queued requests")
        store.drainAll()
        try? group.syncShutdownGracefully()
    }
}
