import NNCore

/// Why a file or frame could not be read or written; every case names its source (a file
/// path, or a label such as "frame from 127.0.0.1:5000") and what was wrong with which value.
public enum FormatError: Error, Equatable, CustomStringConvertible {
    case io(source: String, detail: String)
    case truncated(source: String, detail: String)
    case wrongMagic(source: String, expected: ContainerKind, found: [UInt8])
    case corruptHeader(source: String)
    case newerVersion(source: String, found: UInt16, supported: UInt16)
    /// Version 0: no nnserve ever wrote it, so the header was made by something else.
    case invalidVersion(source: String, found: UInt16)
    case unknownFlags(source: String, flags: UInt16)
    case checksumMismatch(source: String, expected: UInt32, actual: UInt32)
    case tooLarge(source: String, what: String, size: UInt64, limit: UInt64)
    case decompression(source: String, detail: String)
    case malformedMessage(source: String, detail: String)
    case invalidTensor(source: String, tensor: String, detail: String)
    case invalidGraph(source: String, error: GraphError)
    case invalidConfig(source: String, detail: String)

    public var description: String {
        switch self {
        case .io(let source, let detail):
            "\(source): \(detail)"
        case .truncated(let source, let detail):
            "\(source) is truncated: \(detail)"
        case .wrongMagic(let source, let expected, let found) where ContainerKind(magic: found) != nil:
            "\(source) is not \(expected.article) \(expected) file: it is \(ContainerKind(magic: found)!.article) \(ContainerKind(magic: found)!) file; \(ContainerKind(magic: found)!.openedBy)"
        case .wrongMagic(let source, let expected, let found):
            "\(source) is not \(expected.article) \(expected) file: it starts with \(found.map { String(format2: $0) }.joined(separator: " ")), expected \(expected.magic.map { String(format2: $0) }.joined(separator: " "))"
        case .corruptHeader(let source):
            "\(source) has a corrupted header (header checksum mismatch)"
        case .newerVersion(let source, let found, let supported):
            "\(source) uses container version \(found); this build reads versions up to \(supported): upgrade nnserve"
        case .invalidVersion(let source, let found):
            "\(source) claims container version \(found), which no nnserve writes (versions start at 1)"
        case .unknownFlags(let source, let flags):
            "\(source) sets container flags 0x\(String(flags, radix: 16)) that this build does not know"
        case .checksumMismatch(let source, let expected, let actual):
            "\(source) is corrupted: payload checksum is 0x\(String(actual, radix: 16)), header says 0x\(String(expected, radix: 16))"
        case .tooLarge(let source, let what, let size, let limit):
            "\(source): \(what) of \(size) bytes exceeds the limit of \(limit) bytes"
        case .decompression(let source, let detail):
            "\(source): zstd payload is corrupted: \(detail)"
        case .malformedMessage(let source, let detail):
            "\(source): protobuf payload is malformed: \(detail)"
        case .invalidTensor(let source, let tensor, let detail):
            "\(source): tensor '\(tensor)' \(detail)"
        case .invalidGraph(let source, let error):
            "\(source): invalid graph: \(error)"
        case .invalidConfig(let source, let detail):
            "\(source): \(detail)"
        }
    }
}

extension String {
    /// Two hex digits, for byte dumps in messages.
    fileprivate init(format2 byte: UInt8) {
        let digits = String(byte, radix: 16)
        self = digits.count == 1 ? "0" + digits : digits
    }
}
