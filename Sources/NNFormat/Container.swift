/// Which message a container holds; each kind has its own magic so a checkpoint is never
/// mistaken for a model file.
public enum ContainerKind: Sendable, CustomStringConvertible {
    case model
    case checkpoint

    public var magic: [UInt8] {
        switch self {
        case .model: Array("NNMF".utf8)
        case .checkpoint: Array("NNCK".utf8)
        }
    }

    public var description: String {
        switch self {
        case .model: "nnserve model (.nnm)"
        case .checkpoint: "nnserve checkpoint"
        }
    }

    /// The kind whose magic `bytes` start with, if any.
    public init?(magic bytes: some Collection<UInt8>) {
        guard let kind = [ContainerKind.model, .checkpoint].first(where: { $0.magic.elementsEqual(bytes.prefix(4)) }) else { return nil }
        self = kind
    }

    /// Which commands open a file of this kind (for the message when the wrong one did).
    public var openedBy: String {
        switch self {
        case .model: "nnexport inspect and nnserve open it"
        case .checkpoint: "nnexport, nntrain resume/evaluate/summary open it"
        }
    }

    var article: String { "an" }
}

/// Bits of the header's flags field.
public struct ContainerFlags: OptionSet, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Float tensors' bytes are stored byte-shuffled (see `ByteShuffle`).
    public static let shuffledTensors = ContainerFlags(rawValue: 1 << 0)

    public static let known: ContainerFlags = [.shuffledTensors]
}

/// Limits applied while reading, so a lying length can never cause a huge allocation.
public struct ReadLimits: Sendable {
    /// Largest decompressed payload accepted. 1 GiB holds a 250M-parameter float32 model,
    /// far beyond the small networks nnserve is for.
    public var maxPayloadBytes: UInt64

    public static let `default` = ReadLimits(maxPayloadBytes: 1 << 30)

    public init(maxPayloadBytes: UInt64) {
        self.maxPayloadBytes = maxPayloadBytes
    }
}

/// The container: a 32-byte header, then one zstd frame holding a serialized protobuf message.
///
/// Header (all integers little-endian):
///
///     offset size field
///          0    4 magic ("NNMF" model, "NNCK" checkpoint)
///          4    2 container version (currently 1)
///          6    2 flags (bit 0: byte-shuffled tensors)
///          8    8 length of the zstd frame that follows
///         16    8 length of the decompressed payload
///         24    4 CRC-32 of the zstd frame
///         28    4 CRC-32 of header bytes 0..<28
///
/// The zstd frame also carries its own content checksum and content size.
public enum Container {
    public static let version: UInt16 = 1
    public static let headerSize = 32

    /// Wraps `payload` (a serialized message) in a container.
    public static func encode(payload: [UInt8], kind: ContainerKind, flags: ContainerFlags,
                              compressionLevel: Int32 = Zstd.defaultLevel) throws(FormatError) -> [UInt8] {
        let frame = try Zstd.compress(payload, level: compressionLevel)
        var header = [UInt8]()
        header.reserveCapacity(headerSize + frame.count)
        header += kind.magic
        header.appendLittleEndian(version)
        header.appendLittleEndian(flags.rawValue)
        header.appendLittleEndian(UInt64(frame.count))
        header.appendLittleEndian(UInt64(payload.count))
        header.appendLittleEndian(CRC32.ieee.checksum(frame))
        header.appendLittleEndian(CRC32.ieee.checksum(header))
        return header + frame
    }

    /// Checks every field of the header and the checksums, then decompresses the payload.
    public static func decode(_ bytes: [UInt8], kind: ContainerKind, source: String,
                              limits: ReadLimits = .default) throws(FormatError) -> (payload: [UInt8], flags: ContainerFlags) {
        guard bytes.count >= headerSize else {
            if !bytes.isEmpty, !kind.magic.starts(with: bytes.prefix(4)) {
                throw .wrongMagic(source: source, expected: kind, found: Array(bytes.prefix(4)))
            }
            throw .truncated(source: source, detail: "\(bytes.count) bytes, shorter than the \(headerSize)-byte header")
        }
        guard Array(bytes[0..<4]) == kind.magic else {
            throw .wrongMagic(source: source, expected: kind, found: Array(bytes[0..<4]))
        }
        guard bytes.readLittleEndian(UInt32.self, at: 28) == CRC32.ieee.checksum(bytes[0..<28]) else {
            throw .corruptHeader(source: source)
        }
        let version = bytes.readLittleEndian(UInt16.self, at: 4)
        guard version >= 1 else { throw .invalidVersion(source: source, found: version) }
        guard version <= Container.version else {
            throw .newerVersion(source: source, found: version, supported: Container.version)
        }
        let flags = ContainerFlags(rawValue: bytes.readLittleEndian(UInt16.self, at: 6))
        guard ContainerFlags.known.isSuperset(of: flags) else {
            throw .unknownFlags(source: source, flags: flags.subtracting(.known).rawValue)
        }
        let frameLength = bytes.readLittleEndian(UInt64.self, at: 8)
        let payloadLength = bytes.readLittleEndian(UInt64.self, at: 16)
        let available = UInt64(bytes.count - headerSize)
        guard frameLength <= available else {
            throw .truncated(source: source, detail: "header announces \(frameLength) bytes of compressed payload, \(available) present")
        }
        guard frameLength == available else {
            throw .malformedMessage(source: source, detail: "\(available - frameLength) unexpected bytes after the compressed payload")
        }
        guard payloadLength <= limits.maxPayloadBytes else {
            throw .tooLarge(source: source, what: "decompressed payload", size: payloadLength, limit: limits.maxPayloadBytes)
        }
        let frame = bytes[headerSize...]
        let expectedChecksum = bytes.readLittleEndian(UInt32.self, at: 24)
        let actualChecksum = CRC32.ieee.checksum(frame)
        guard expectedChecksum == actualChecksum else {
            throw .checksumMismatch(source: source, expected: expectedChecksum, actual: actualChecksum)
        }
        let payload = try Zstd.decompress(frame, expectedSize: Int(payloadLength), source: source)
        return (payload, flags)
    }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    /// Precondition: `offset + MemoryLayout<T>.size <= count` (callers check the header size first).
    func readLittleEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for index in (0..<MemoryLayout<T>.size).reversed() {
            value = value << 8 | T(self[offset + index])
        }
        return value
    }
}
