import NIOSSL

/// TLS for the client (swift-nio-ssl): the CA bundle that the server's certificate must chain
/// to (the system's when nil) and, for servers that require one, a client certificate.
public struct ClientTLS: Sendable {
    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    let context: NIOSSLContext
    /// The name the server's certificate must carry; nil checks the address connected to.
    let serverName: String?

    public init(trustRoots: String? = nil, certificateChain: String? = nil, privateKey: String? = nil, serverName: String? = nil) throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let trustRoots {
            do { configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(trustRoots)) } catch {
                throw LoadError(description: "'\(trustRoots)': not a PEM certificate bundle (\(error))")
            }
        }
        switch (certificateChain, privateKey) {
        case (let chain?, let key?):
            do {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(chain).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            } catch {
                throw LoadError(description: "client certificate '\(chain)' / key '\(key)': \(error)")
            }
        case (nil, nil):
            break
        default:
            throw LoadError(description: "a client certificate needs both its chain and its private key")
        }
        do { context = try NIOSSLContext(configuration: configuration) } catch {
            throw LoadError(description: "TLS configuration: \(error)")
        }
        self.serverName = serverName
    }

    func handler(host: String) throws -> NIOSSLClientHandler {
        // An address is checked against the certificate's IP names, a host name against its DNS names.
        let isAddress = host.allSatisfy { $0.isHexDigit || $0 == "." || $0 == ":" }
        return try NIOSSLClientHandler(context: context, serverHostname: serverName ?? (isAddress ? nil : host))
    }
}
