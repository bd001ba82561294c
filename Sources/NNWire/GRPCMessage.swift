import NIOCore
import SwiftProtobuf

/// gRPC's length-prefixed message, the body of a unary call's request and response: a
/// compressed flag (1: compressed with the call's `grpc-encoding`), a big-endian
/// 4-byte length, the protobuf message. The gRPC front and the gRPC load generator both frame
/// and unframe with it; messages are serialized straight into the buffer that is sent and
/// decoded in place (`WireProtocol.decode`), as the binary protocol's are.
public enum GRPCMessage {
    public static let prefixSize = 5

    /// What a complete request or response body holds.
    public enum Body: Equatable {
        case message(ByteBuffer)
        /// A message compressed with the call's `grpc-encoding`.
        case compressed(ByteBuffer)
        /// Fewer bytes than a prefix.
        case missing(bytes: Int)
        /// The prefix's length is not what follows (a unary call carries exactly one message).
        case lengthMismatch(declared: Int, following: Int)
    }

    /// `message` serialized after its prefix, in one buffer.
    public static func frame(_ message: some SwiftProtobuf.Message) throws -> ByteBuffer {
        let bytes: PrefixedBytes<GRPCPrefix> = try message.serializedBytes()
        return bytes.buffer
    }

    /// Already serialized (or compressed: `compressed` sets the prefix's flag) bytes after their prefix.
    public static func frame(bytes: ByteBuffer, compressed: Bool = false) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: prefixSize + bytes.readableBytes)
        buffer.writeInteger(UInt8(compressed ? 1 : 0))
        buffer.writeInteger(UInt32(bytes.readableBytes))
        buffer.writeImmutableBuffer(bytes)
        return buffer
    }

    /// What the front of a streaming call's body holds.
    public enum Next: Equatable {
        case message(ByteBuffer)
        case compressed(ByteBuffer)
        /// Not a whole message yet; `declared` is its length when the prefix has arrived.
        case incomplete(declared: Int?)
    }

    /// Takes the next complete message off the front of `body` (a stream's messages arrive
    /// one after another, split across DATA frames anyhow).
    public static func next(from body: inout ByteBuffer) -> Next {
        guard let flag = body.getInteger(at: body.readerIndex, as: UInt8.self),
              let length = body.getInteger(at: body.readerIndex + 1, as: UInt32.self) else { return .incomplete(declared: nil) }
        guard body.readableBytes >= prefixSize + Int(length) else { return .incomplete(declared: Int(length)) }
        body.moveReaderIndex(forwardBy: prefixSize)
        let message = body.readSlice(length: Int(length))!
        return flag == 0 ? .message(message) : .compressed(message)
    }

    public static func unframe(_ body: ByteBuffer) -> Body {
        var body = body
        guard let compressed = body.readInteger(as: UInt8.self), let length = body.readInteger(as: UInt32.self) else {
            return .missing(bytes: body.readableBytes)
        }
        guard Int(length) == body.readableBytes else { return .lengthMismatch(declared: Int(length), following: body.readableBytes) }
        return compressed == 0 ? .message(body) : .compressed(body)
    }
}

/// gRPC's prefix: the compressed flag (0) and a big-endian 4-byte length.
enum GRPCPrefix: MessagePrefix {
    static var size: Int { GRPCMessage.prefixSize }

    static func write(length: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(length))
    }
}
