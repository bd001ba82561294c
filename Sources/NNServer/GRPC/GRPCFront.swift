import Dispatch
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCNIOTransportCore
import NIOConcurrencyHelpers
import NIOCore
import NNKServe

/// The KServe v2 gRPC front (`--grpc-port`): grpc-swift 2 over HTTP/2 on SwiftNIO, serving
/// `KServeGRPCService`. The rest of nnserve is synchronous, so the server runs in its own task
/// and `start`/`shutdown` wait for it.
public final class GRPCFront: Sendable {
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let running = NIOLockedValueBox<Task<Void, any Error>?>(nil)

    /// Binds `host` as the other fronts do (a name such as localhost is resolved; IPv6 works).
    public init(store: ModelStore, configuration: ServerConfiguration, host: String, port: Int, tls: ServerTLS?) throws {
        let security: HTTP2ServerTransport.Posix.TransportSecurity = tls.map(Self.security) ?? .plaintext
        var transport = HTTP2ServerTransport.Posix.Config.defaults
        // The limits the other fronts have, in HTTP/2's terms: a request is at most one binary
        // frame, a connection carries at most maxInFlightPerConnection calls at once, an idle
        // connection is closed, and a draining one gets a bounded grace.
        transport.rpc.maxRequestPayloadSize = configuration.maxFrameSize
        transport.http2.maxConcurrentStreams = configuration.maxInFlightPerConnection
        transport.connection.maxIdleTime = .seconds(Int64(configuration.idleTimeoutSeconds))
        transport.connection.maxGraceTime = .seconds(Int64(max(1, configuration.idleTimeoutSeconds)))
        let admission = ConnectionAdmission(limit: configuration.maxConnections(.grpc), metrics: store.metrics)
        transport.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in admission.admit(channel) }
        let resolved: NIOCore.SocketAddress
        do { resolved = try NIOCore.SocketAddress.makeAddressResolvingHost(host, port: port) } catch {
            throw GRPCFrontError(description: "the gRPC front cannot bind \(host):\(port): \(error)")
        }
        let address: GRPCNIOTransportCore.SocketAddress = switch resolved {
        case .v6: .ipv6(host: resolved.ipAddress ?? host, port: port)
        default: .ipv4(host: resolved.ipAddress ?? host, port: port)
        }
        server = GRPCServer(transport: .http2NIOPosix(address: address, transportSecurity: security, config: transport),
                            services: [KServeGRPCService(store: store, configuration: configuration)])
    }

    /// Starts serving; returns the bound port (useful with port 0), or throws why it could not bind.
    public func start() throws -> Int {
        let server = server
        running.withLockedValue { $0 = Task { try await server.serve() } }
        let bound = Blocking.wait { try await server.listeningAddress }
        switch bound {
        case .success(let address):
            guard let address, let port = address.ipv4?.port ?? address.ipv6?.port else {
                throw GRPCFrontError(description: "the gRPC front bound \(address.map { "\($0)" } ?? "nothing"), not an IP port")
            }
            return port
        case .failure(let error):
            throw GRPCFrontError(description: "the gRPC front could not listen: \(error)")
        }
    }

    /// Stops accepting; RPCs in flight finish first.
    public func shutdown() {
        server.beginGracefulShutdown()
        if let task = running.withLockedValue({ $0 }) { _ = Blocking.wait { try await task.value } }
    }

    /// The same certificate, key and client CA as the other fronts.
    private static func security(_ tls: ServerTLS) -> HTTP2ServerTransport.Posix.TransportSecurity {
        let chain: [TLSConfig.CertificateSource] = [.file(path: tls.certificateChainPath, format: .pem)]
        let key: TLSConfig.PrivateKeySource = .file(path: tls.privateKeyPath, format: .pem)
        guard let clientCA = tls.clientCAPath else { return .tls(certificateChain: chain, privateKey: key) }
        return .mTLS(certificateChain: chain, privateKey: key) { config in
            config.trustRoots = .certificates([.file(path: clientCA, format: .pem)])
            // Client certificates name users, not hosts (as on the other fronts).
            config.clientCertificateVerification = .noHostnameVerification
        }
    }
}

/// Counts the gRPC front's connections against `--max-grpc-connections`. grpc-swift owns the
/// channels and offers its accept callback as the one place to see them; a connection over the
/// limit fails there and is closed (HTTP/2 gives no place for a readable refusal before it).
final class ConnectionAdmission: Sendable {
    private let open = NIOLockedValueBox(0)
    private let limit: Int
    private let metrics: ServerMetrics

    init(limit: Int, metrics: ServerMetrics) {
        self.limit = limit
        self.metrics = metrics
    }

    func admit(_ channel: any Channel) -> EventLoopFuture<Void> {
        let admitted = open.withLockedValue { count -> Bool in
            guard count < limit else { return false }
            count += 1
            return true
        }
        guard admitted else {
            metrics.connectionRefused(.grpc)
            // Closed at once: a failed setup alone left the client waiting for its connect timeout.
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(GRPCFrontError(description: "nnserve is at its limit of \(limit) gRPC connections"))
        }
        metrics.connectionOpened(.grpc)
        let open = open, metrics = metrics
        channel.closeFuture.whenComplete { _ in
            open.withLockedValue { $0 -= 1 }
            metrics.connectionClosed(.grpc)
        }
        return channel.eventLoop.makeSucceededVoidFuture()
    }
}

public struct GRPCFrontError: Error, CustomStringConvertible {
    public var description: String
}

/// Waits on a thread outside Swift's cooperative pool for async work to finish: the callers are
/// nnserve's start-up and shutdown, which are synchronous.
enum Blocking {
    static func wait<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) -> Result<T, any Error> {
        let done = DispatchSemaphore(value: 0)
        let result = NIOLockedValueBox<Result<T, any Error>?>(nil)
        Task {
            do {
                let value = try await work()
                result.withLockedValue { $0 = .success(value) }
            } catch {
                result.withLockedValue { $0 = .failure(error) }
            }
            done.signal()
        }
        done.wait()
        return result.withLockedValue { $0! }
    }
}
