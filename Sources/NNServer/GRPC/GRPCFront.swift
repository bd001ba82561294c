import Dispatch
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOConcurrencyHelpers
import NNKServe

/// The KServe v2 gRPC front (`--grpc-port`): grpc-swift 2 over HTTP/2 on SwiftNIO, serving
/// `KServeGRPCService`. The rest of nnserve is synchronous, so the server runs in its own task
/// and `start`/`shutdown` wait for it.
public final class GRPCFront: Sendable {
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let running = NIOLockedValueBox<Task<Void, any Error>?>(nil)

    public init(store: ModelStore, configuration: ServerConfiguration, host: String, port: Int, tls: ServerTLS?) {
        let security: HTTP2ServerTransport.Posix.TransportSecurity = tls.map(Self.security) ?? .plaintext
        var transportConfiguration = HTTP2ServerTransport.Posix.Config.defaults
        // A request is at most what the binary protocol accepts in one frame.
        transportConfiguration.rpc.maxRequestPayloadSize = configuration.maxFrameSize
        server = GRPCServer(transport: .http2NIOPosix(address: .ipv4(host: host, port: port), transportSecurity: security,
                                                      config: transportConfiguration),
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
