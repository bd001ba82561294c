import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
@testable import NNServer
import NNWire

/// A real HTTP/2 connection in memory: a client NIOHTTP2Handler and the server's
/// NIOHTTP2Handler + GRPCStreamHandler on two EmbeddedChannels, bytes carried between them.
struct GRPCTestConnection {
    var client: EmbeddedChannel
    var server: EmbeddedChannel
    var handler: GRPCStreamHandler

    /// `clientSettings` are what the client announces (a zero initial window, say).
    static func open(limits: GRPCLimits, clientSettings: HTTP2Settings = nioDefaultSettings, slot: ConnectionSlot? = nil,
                     onAbuse: @escaping @Sendable (AbuseReason) -> Void = { _ in },
                     shape: @escaping @Sendable (String) -> GRPCMethodShape = { _ in .unary },
                     serve: @escaping GRPCStreamHandler.Serve) throws -> GRPCTestConnection {
        let handler = GRPCStreamHandler(limits: limits, slot: slot, onAbuse: onAbuse, shape: shape, serve: serve)
        let server = EmbeddedChannel()
        try server.pipeline.syncOperations.addHandlers([
            NIOHTTP2Handler(mode: .server, initialSettings: [HTTP2Setting(parameter: .initialWindowSize, value: limits.windowSize)]), handler,
        ])
        let client = EmbeddedChannel(handler: NIOHTTP2Handler(mode: .client, initialSettings: clientSettings))
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        let connection = GRPCTestConnection(client: client, server: server, handler: handler)
        try connection.exchange()
        return connection
    }

    /// Carries bytes both ways until neither side has anything to send (or one has closed).
    func exchange() throws {
        var moved = true
        while moved {
            moved = false
            guard client.isActive, server.isActive else { return }
            client.flush()
            server.flush()
            while let bytes = try client.readOutbound(as: ByteBuffer.self) { try server.writeInbound(bytes); moved = true }
            while let bytes = try server.readOutbound(as: ByteBuffer.self) { try client.writeInbound(bytes); moved = true }
        }
    }

    func send(_ frames: HTTP2Frame...) throws {
        for frame in frames { client.write(frame, promise: nil) }
        try exchange()
    }

    /// The frames the client received since the last call, on `stream` (the others are read
    /// and left out).
    func received(on stream: HTTP2StreamID) throws -> [HTTP2Frame.FramePayload] {
        try received().filter { $0.streamID == stream }.map(\.payload)
    }

    func received() throws -> [HTTP2Frame] {
        var frames: [HTTP2Frame] = []
        while let frame = try client.readInbound(as: HTTP2Frame.self) { frames.append(frame) }
        return frames
    }
}

/// The frames a gRPC client sends.
enum GRPCTestFrames {
    static func headers(_ stream: Int, path: String = "/inference.GRPCInferenceService/ServerLive", extra: [(String, String)] = [],
                        contentType: String = "application/grpc", endStream: Bool = false) -> HTTP2Frame {
        let fields = [(":method", "POST"), (":path", path), (":scheme", "http"), (":authority", "x"), ("content-type", contentType), ("te", "trailers")] + extra
        return HTTP2Frame(streamID: HTTP2StreamID(stream), payload: .headers(.init(headers: HPACKHeaders(fields), endStream: endStream)))
    }

    static func message(_ stream: Int, _ bytes: [UInt8], compressed: Bool = false, declaredLength: Int? = nil, endStream: Bool = true) -> HTTP2Frame {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(compressed ? 1 : 0))
        buffer.writeInteger(UInt32(declaredLength ?? bytes.count))
        buffer.writeBytes(bytes)
        return HTTP2Frame(streamID: HTTP2StreamID(stream), payload: .data(.init(data: .byteBuffer(buffer), endStream: endStream)))
    }

    static func trailers(_ payload: HTTP2Frame.FramePayload?) -> HPACKHeaders? {
        guard case .headers(let headers)? = payload, headers.endStream else { return nil }
        return headers.headers
    }
}
