import NIOCore
import NNFormat
import SwiftProtobuf

// SwiftProtobuf reads and writes any `SwiftProtobufContiguousBytes`; these two adapt ByteBuffer
// so that a message is decoded from the receive buffer in place and serialized straight into
// the frame that is sent, length prefix included: no intermediate [UInt8] either way.

/// A frame being built: `init(repeating:count:)` is SwiftProtobuf asking for a buffer of the
/// serialized size; it gets a ByteBuffer holding the 4-byte length prefix followed by `count`
/// bytes, which `withUnsafeMutableBytes` exposes for the message to be written into.
/// Invariant: `buffer` is always prefix + payload, and `count` is the payload's size.
struct FrameBytes: SwiftProtobufContiguousBytes {
    private(set) var buffer: ByteBuffer

    init(repeating byte: UInt8, count: Int) {
        buffer = ByteBufferAllocator().buffer(capacity: WireProtocol.lengthPrefixSize + count)
        buffer.writeInteger(UInt32(count))
        buffer.writeRepeatingByte(byte, count: count)
    }

    init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
        let payload = Array(sequence)
        buffer = ByteBufferAllocator().buffer(capacity: WireProtocol.lengthPrefixSize + payload.count)
        buffer.writeInteger(UInt32(payload.count))
        buffer.writeBytes(payload)
    }

    var count: Int { buffer.readableBytes - WireProtocol.lengthPrefixSize }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeReadableBytes { try body(UnsafeRawBufferPointer(rebasing: $0.dropFirst(WireProtocol.lengthPrefixSize))) }
    }

    mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeMutableReadableBytes { try body(UnsafeMutableRawBufferPointer(rebasing: $0.dropFirst(WireProtocol.lengthPrefixSize))) }
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
        let frame: FrameBytes = try message.serializedBytes()
        return frame.buffer
    }

    /// The message a frame's payload holds, decoded in place.
    public static func decode<M: SwiftProtobuf.Message>(_ type: M.Type, from payload: ByteBuffer) throws -> M {
        try M(serializedBytes: PayloadBytes(payload))
    }
}
