import NIOCore
import NNFormat
import NNWire

/// The last words to a connection the server closes on its own (over the limit, too slow):
/// an error frame on the binary port, an HTTP error response with `connection: close`. On the
/// gRPC port nothing: a GOAWAY that says why (tried) makes grpcio reconnect at once, in a loop
/// of hundreds of connections a second, while a plain close fails its call with UNAVAILABLE.
enum Farewell {
    static func bytes(_ front: Front, _ code: Nnserve_ErrorCode, _ message: String) -> ByteBuffer {
        if front == .grpc { return ByteBuffer() }
        switch front.speaksHTTP {
        case false:
            var response = Nnserve_Response()
            response.error = ServingError(code, message).response
            return (try? WireProtocol.frameBuffer(response)) ?? ByteBuffer()
        case true:
            var buffer = ByteBuffer()
            let status = code == .deadlineExceeded ? "408 Request Timeout" : "503 Service Unavailable"
            let body = JSONWriter.errorBody(message)
            buffer.writeString("HTTP/1.1 \(status)\r\ncontent-type: application/json\r\ncontent-length: \(body.count)\r\n"
                               + "retry-after: 1\r\nconnection: close\r\n\r\n")
            buffer.writeBytes(body)
            return buffer
        }
    }
}

/// The whole pipeline of a refused connection: once it is active, writes the farewell and
/// closes (a write before activation would be dropped).
final class SayAndClose: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let farewell: ByteBuffer

    init(_ farewell: ByteBuffer) {
        self.farewell = farewell
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        context.writeAndFlush(NIOAny(farewell)).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Whatever the client sends meanwhile is not read into any request.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
