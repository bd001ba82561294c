import NIOCore

/// Tells a binary-protocol client pointed at another front what it reached: an HTTP server
/// answers "HTTP/1.1 400…" (which the frame decoder would read as a 1.2 GB length prefix and
/// wait for, until "the connection closed"), a gRPC server an HTTP/2 frame. Looks at the first
/// bytes of the connection only, then passes everything on.
final class ProtocolSniffer: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum Front: String, Sendable { case http = "HTTP/1.1 (the --http-port)", grpc = "HTTP/2 (the --grpc-port)" }

    /// The other protocol the bytes `prefix` open, if they open one.
    static func front(of prefix: ByteBufferView) -> Front? {
        let bytes = Array(prefix.prefix(9))
        if bytes.starts(with: Array("HTTP/".utf8)) { return .http }
        // An HTTP/2 frame header: 24-bit length, type SETTINGS (4) or GOAWAY (7), flags, stream 0.
        if bytes.count == 9, bytes[0] == 0, [4, 7].contains(bytes[3]), bytes[5...].allSatisfy({ $0 == 0 }) { return .grpc }
        return nil
    }

    private var checked = false
    /// Told what was found, before the connection closes (a request written after the close
    /// is failed with it).
    private let found: @Sendable (ClientError) -> Void

    init(found: @escaping @Sendable (ClientError) -> Void) {
        self.found = found
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        defer { checked = true }
        if !checked, let front = Self.front(of: unwrapInboundIn(data).readableBytesView) {
            found(.wrongProtocol(front.rawValue))
            context.fireErrorCaught(ClientError.wrongProtocol(front.rawValue))
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
    }
}
