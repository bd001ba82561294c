import NIOSSL

/// TLS for both fronts (swift-nio-ssl): the server's certificate chain and key and, for mutual
/// TLS, the CA bundle that client certificates must chain to. Built once at start-up, so a
/// bad file stops nnserve with its name instead of failing each handshake.
public struct ServerTLS: Sendable {
    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    let context: NIOSSLContext
    /// The same, offering HTTP/2 by ALPN ("h2"), which gRPC clients require.
    let http2Context: NIOSSLContext
    /// The same certificate without asking for a client's: for the health listener, since
    /// orchestrators' probes (a kubelet's HTTPS probe) present none.
    let probeContext: NIOSSLContext
    /// Whether clients must present a certificate signed by the client CA.
    public let requiresClientCertificate: Bool

    public init(certificateChain: String, privateKey: String, clientCA: String? = nil) throws {
        let chain: [NIOSSLCertificate], key: NIOSSLPrivateKey
        do { chain = try NIOSSLCertificate.fromPEMFile(certificateChain) } catch {
            throw LoadError(description: "--tls-cert '\(certificateChain)': not a PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else { throw LoadError(description: "--tls-cert '\(certificateChain)' holds no certificate") }
        do { key = try NIOSSLPrivateKey(file: privateKey, format: .pem) } catch {
            throw LoadError(description: "--tls-key '\(privateKey)': not a PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let clientCA {
            do { configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(clientCA)) } catch {
                throw LoadError(description: "--tls-client-ca '\(clientCA)': not a PEM certificate bundle (\(error))")
            }
            // Client certificates name users, not hosts: the chain is checked, the name is not.
            configuration.certificateVerification = .noHostnameVerification
        }
        requiresClientCertificate = clientCA != nil
        var http2 = configuration
        http2.applicationProtocols = ["h2"]
        var probe = configuration
        probe.certificateVerification = .none
        probe.trustRoots = .default
        do {
            context = try NIOSSLContext(configuration: configuration)
            http2Context = try NIOSSLContext(configuration: http2)
            probeContext = try NIOSSLContext(configuration: probe)
        } catch {
            throw LoadError(description: "TLS with --tls-cert '\(certificateChain)' and --tls-key '\(privateKey)': \(error)")
        }
    }

    /// The first handler of a connection's pipeline on `front`.
    func handler(for front: Front) -> NIOSSLServerHandler {
        switch front {
        case .grpc: NIOSSLServerHandler(context: http2Context)
        case .health: NIOSSLServerHandler(context: probeContext)
        case .binary, .http: NIOSSLServerHandler(context: context)
        }
    }
}
