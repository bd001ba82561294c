import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NNFormat
import NNWire

/// The binary-protocol server: a SwiftNIO pipeline per connection (idle timeout → frame
/// decoder → request handler) over a shared model store.
public final class InferenceServer: Sendable {
    public let store: ModelStore
    public let configuration: ServerConfiguration
    let group: MultiThreadedEventLoopGroup
    /// The health listener's own event loop: liveness is answered whatever the serving loops
    /// are doing (a client keeping them busy once made `/v2/health/live` time out).
    let healthGroup: MultiThreadedEventLoopGroup
    /// The bound server channels (binary protocol, HTTP), closed first on shutdown.
    private let listeners = NIOLockedValueBox<[any Channel]>([])
    /// Open connections per front: each front has its own limit, so a flood on one port does
    /// not shut out the other (or its health endpoints).
    let admission = ConnectionAdmission()

    /// When set, both fronts speak TLS only.
    let tls: ServerTLS?

    public init(store: ModelStore, configuration: ServerConfiguration, eventLoopThreads: Int = 1, tls: ServerTLS? = nil) {
        self.store = store
        self.configuration = configuration
        self.tls = tls
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, eventLoopThreads))
        healthGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Binds the binary protocol and starts accepting; returns the bound port (useful with port 0).
    public func start(host: String, port: Int) throws -> Int {
        let store = store, configuration = configuration
        return try listen(host: host, port: port, front: .binary) { [self] pipeline, _ in
            let progress = MessageProgress()
            try pipeline.addHandlers([
                slowClientGuard(progress, .binary),
                IdleStateHandler(readTimeout: .seconds(Int64(configuration.idleTimeoutSeconds))),
                ByteToMessageHandler(FrameDecoder(maxFrameSize: configuration.maxFrameSize, expectsPreface: true, progress: progress)),
                FlowControl(maxInFlight: configuration.maxInFlightPerConnection),
                RequestCodec(),
                RequestRouter(store: store, configuration: configuration),
            ])
        }
    }

    /// Binds a front on the shared event loops (the health listener on its own): connections
    /// are admitted against `maxConnections`, then `handlers` builds their pipeline. With TLS
    /// configured the front speaks it unless `plain`. Returns the bound port.
    ///
    /// Each read of a connection takes at most `maxMessagesPerRead` socket reads (of at most
    /// 64 KiB each) before the loop moves on to the next connection: one client's flood is
    /// served in turns with everyone else's requests.
    func listen(host: String, port: Int, front: Front, plain: Bool = false,
                handlers: @escaping @Sendable (ChannelPipeline.SynchronousOperations, ConnectionSlot) throws -> Void) throws -> Int {
        let bootstrap = ServerBootstrap(group: front == .health ? healthGroup : group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelOption(.writeBufferWaterMark, value: ChannelOptions.Types.WriteBufferWaterMark(low: 32 * 1024, high: 64 * 1024))
            .childChannelInitializer { [self] channel in
                if let tls, !plain {
                    do { try channel.pipeline.syncOperations.addHandler(tls.handler(for: front)) } catch { return channel.eventLoop.makeFailedFuture(error) }
                }
                guard let slot = admit(channel, front) else { return refuse(channel, front) }
                return channel.eventLoop.makeCompletedFuture { try handlers(channel.pipeline.syncOperations, slot) }
            }
        let bound = try bootstrap.bind(host: host, port: port).wait()
        listeners.withLockedValue { $0.append(bound) }
        return bound.localAddress?.port ?? port
    }

    /// Counts a new connection against its front's limit (nil: refuse it), closing an idle
    /// connection of the front to make room where there is one.
    func admit(_ channel: any Channel, _ front: Front) -> ConnectionSlot? {
        let metrics = store.metrics
        let onClose: @Sendable () -> Void = {
            metrics.connectionClosed(front)
            ServerMemory.releaseFreedMemorySoon()
        }
        switch admission.admit(channel, front, limit: configuration.maxConnections(front), onClose: onClose) {
        case .refused:
            return nil
        case .admitted(let slot):
            metrics.connectionOpened(front)
            return slot
        case .admittedReclaiming(let slot, let reclaim):
            metrics.connectionOpened(front)
            metrics.idleConnectionReclaimed(front)
            reclaim()
            return slot
        }
    }

    /// A connection over its front's limit gets an answer it can read (an error frame; a 503),
    /// then is closed: a client then backs off instead of retrying a reset at once.
    private func refuse(_ channel: any Channel, _ front: Front) -> EventLoopFuture<Void> {
        let reason = "nnserve is at its limit of \(configuration.maxConnections(front)) \(front.rawValue) connections; retry later"
        store.metrics.connectionRefused(front)
        let farewell = Farewell.bytes(front, .resourceExhausted, reason)
        return channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(SayAndClose(farewell)) }
    }

    /// The guard against requests that arrive too slowly, for a connection of `front`.
    func slowClientGuard(_ progress: MessageProgress, _ front: Front) -> SlowClientGuard {
        let metrics = store.metrics
        return SlowClientGuard(progress: progress, headerTimeout: .milliseconds(Int64(configuration.headerTimeoutSeconds * 1000)),
                               minBytesPerSecond: configuration.minTransferBytesPerSecond,
                               farewell: { Farewell.bytes(front, .deadlineExceeded, $0) },
                               onClose: { metrics.slowClientClosed(front) })
    }


    /// Stops accepting, answers what is queued, closes connections.
    public func shutdown() {
        for listener in listeners.withLockedValue({ $0 }) {
            try? listener.close().wait()
        }
        store.logger.info("stopped accepting connections; answering queued requests")
        store.drainAll()
        try? group.syncShutdownGracefully()
        try? healthGroup.syncShutdownGracefully()
    }
}
