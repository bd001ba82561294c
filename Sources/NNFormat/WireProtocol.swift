import SwiftProtobuf

/// Byte-level framing of the binary TCP protocol (DESIGN.md): a preface, then frames of a
/// 4-byte big-endian length and one protobuf message. The server's NIO handlers and the
/// client both use these functions, so the framing rules live in one place.
public enum WireProtocol {
    public static let version: UInt32 = 1
    public static let magic: [UInt8] = Array("NNSP".utf8)
    /// "NNSP" and the protocol version, big-endian: the first 8 bytes a client sends.
    public static let preface: [UInt8] = magic + withUnsafeBytes(of: version.bigEndian, Array.init)
    public static let lengthPrefixSize = 4
    /// 16 MiB: a request of 4,000 rows of 1,000 features, well past the default row limit.
    public static let defaultMaxFrameSize = 16 << 20

    /// What the first bytes of a connection say.
    public enum PrefaceCheck: Equatable {
        case needMoreBytes
        case accepted
        /// The peer spoke something else; `detail` says what it looks like.
        case rejected(detail: String)
    }

    public static func checkPreface(_ bytes: some Collection<UInt8>) -> PrefaceCheck {
        let head = Array(bytes.prefix(preface.count))
        if head.count < magic.count {
            return magic.starts(with: head) ? .needMoreBytes : .rejected(detail: describe(head))
        }
        guard Array(head.prefix(magic.count)) == magic else { return .rejected(detail: describe(head)) }
        guard head.count == preface.count else { return .needMoreBytes }
        let version = head[4...].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard version == Self.version else {
            return .rejected(detail: "protocol version \(version), this server speaks version \(Self.version)")
        }
        return .accepted
    }

    /// The result of looking for one frame at the start of a buffer.
    public enum FrameScan: Equatable {
        case needMoreBytes
        /// A whole frame: the message bytes are `bytes[payloadStart..<payloadStart+length]`.
        case frame(payloadStart: Int, length: Int)
        case tooLarge(length: Int)
    }

    /// Inlinable: it runs once per frame, and specialized for the caller's collection
    /// (NIO's ByteBufferView) it is a few loads instead of generic iteration.
    @inlinable
    public static func scanFrame(_ bytes: some Collection<UInt8>, maxFrameSize: Int = defaultMaxFrameSize) -> FrameScan {
        guard bytes.count >= lengthPrefixSize else { return .needMoreBytes }
        let length = Int(bytes.prefix(lengthPrefixSize).reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        guard length <= maxFrameSize else { return .tooLarge(length: length) }
        guard bytes.count >= lengthPrefixSize + length else { return .needMoreBytes }
        return .frame(payloadStart: lengthPrefixSize, length: length)
    }

    /// One frame holding `message`.
    public static func frame(_ message: some SwiftProtobuf.Message) throws -> [UInt8] {
        let payload: [UInt8] = try message.serializedBytes()
        return withUnsafeBytes(of: UInt32(payload.count).bigEndian, Array.init) + payload
    }

    private static func describe(_ head: [UInt8]) -> String {
        if let text = String(bytes: head, encoding: .ascii),
           ["GET ", "POST", "PUT ", "HEAD", "PRI ", "DELE", "OPTI"].contains(where: text.hasPrefix) {
            return "an HTTP request; the binary protocol needs the preface \"NNSP\" + version (HTTP is served on the HTTP port)"
        }
        return "bytes \(head.map { String($0, radix: 16) }.joined(separator: " ")) instead of the preface \"NNSP\" + version"
    }
}
