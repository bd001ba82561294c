import NIOCore
import NNFormat
import SwiftProtobuf

// SwiftProtobuf reads and writes any `SwiftProtobufContiguousBytes`; these two adapt ByteBuffer
// so that a message is decoded from the receive buffer in place and serialized straight into
// the frame that is sent, length prefix included: no intermediate [UInt8] either way.

/// A message being serialized after its prefix: `init(repeating:count:)` is SwiftProtobuf
/// asking for a buffer of the serialized size; it gets a ByteBuffer holding the prefix followed
/// by `count` bytes, which `withUnsafeMutableBytes` exposes for the message to be written into.
/// The binary protocol's frames (a 4-byte length) and gRPC's messages (a flag and a length)
/// differ only in `Prefix`. Invariant: `buffer` is always prefix + payload, and `count` is the
/// payload's size.
struct PrefixedBytes<Prefix: MessagePrefix>: SwiftProtobufContiguousBytes {
    private(set) var buffer: ByteBuffer

    init(repeating byte: UInt8, count: Int) {
        buffer = ByteBufferAllocator().buffer(capacity: Prefix.size + count)
        Prefix.write(length: count, into: &buffer)
        buffer.writeRepeatingByte(byte, count: count)
    }

    init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
        let payload = Array(sequence)
        buffer = ByteBufferAllocator().buffer(capacity: Prefix.size + payload.count)
        Prefix.write(length: payload.count, into: &buffer)
        buffer.writeBytes(payload)
    }

    var count: Int { buffer.readableBytes - Prefix.size }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeReadableBytes { try body(UnsafeRawBufferPointer(rebasing: $0.dropFirst(Prefix.size))) }
    }

    mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeMutableReadableBytes { try body(UnsafeMutableRawBufferPointer(rebasing: $0.dropFirst(Prefix.size))) }
    }
}

/// What stands before a serialized message on the wire.
protocol MessagePrefix {
    static var size: Int { get }
    static func write(length: Int, into buffer: inout ByteBuffer)
}

/// The binary protocol's frame: a big-endian 4-byte length.
enum LengthPrefix: MessagePrefix {
    static var size: Int { WireProtocol.lengthPrefixSize }

    static func write(length: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(length))
    }
}

/// A received message's bytes (a frame's payload slice), read in place by SwiftProtobuf.
/// Only the reading half is ever used; the writing half exists for the protocol's sake.
struct PayloadBytes: SwiftProtobufContiguousBytes {
    var buffer: ByteBuffer

    init(_ buffer: ByteBuffer) { self.buffer = buffer }

    init(repeating byte: UInt8, count: Int) {
        buffer = ByteBufferAllocator().buffer(capacity: count)
        buffer.writeRepeatingByte(byte, count: count)
    }

    init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
        buffer = ByteBufferAllocator().buffer(capacity: 0)
        buffer.writeBytes(Array(sequence))
    }

    var count: Int { buffer.readableBytes }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeReadableBytes(body)
    }

    mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeMutableReadableBytes(body)
    }
}

extension WireProtocol {
    /// One frame holding `message`, serialized straight into the buffer that is sent.
    public static func frameBuffer(_ message: some SwiftProtobuf.Message) throws -> ByteBuffer {
        let frame: PrefixedBytes<LengthPrefix> = try message.serializedBytes()
        return frame.buffer
    }

    /// The message a frame's payload holds, decoded in place.
    public static func decode<M: SwiftProtobuf.Message>(_ type: M.Type, from payload: ByteBuffer) throws -> M {
        try M(serializedBytes: PayloadBytes(payload))
    }
}
