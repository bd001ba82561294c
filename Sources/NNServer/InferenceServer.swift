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

    /// Binds and starts accepting; returns the bound port (useful with port 0).
    public func start(host: String, port: Int) throws -> Int {
        let store = store, configuration = configuration
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                guard admit(channel, .binary) else { return channel.close() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(readTimeout: .seconds(Int64(configuration.idleTimeoutSeconds))),
                        ByteToMessageHandler(FrameDecoder(maxFrameSize: configuration.maxFrameSize)),
                        RequestHandler(store: store, configuration: configuration),
                    ])
                }
            }
        let bound = try bootstrap.bind(host: host, port: port).wait()
        addListener(bound)
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

    func addListener(_ channel: any Channel) {
        listeners.withLockedValue { $0.append(channel) }
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
