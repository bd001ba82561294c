import CZlib
import Foundation
import NIOCore

/// The compressions nnserve takes and gives: HTTP `Content-Encoding` / `Accept-Encoding`
/// (gzip, deflate) and gRPC `grpc-encoding` / `grpc-accept-encoding` (gzip, deflate).
/// "deflate" is the zlib format (RFC 9110 §8.4.1.2, and what gRPC means by it).
///
/// Decompression is bounded by the output, not the input: a decompression bomb (a few KiB
/// that inflate to gigabytes) is stopped after at most `limit` bytes are produced, whatever it
/// would expand to, so what a request may hold is the front's limit on a plain body.
enum ContentCoding: String, Sendable, CaseIterable {
    case gzip
    case deflate

    /// Parses a `Content-Encoding` / `grpc-encoding` value; nil for identity (or absent).
    init?(header: String?) throws(CodingError) {
        guard let header, !header.isEmpty else { return nil }
        let name = header.trimmingCharacters(in: .whitespaces).lowercased()
        if name == "identity" { return nil }
        guard let coding = ContentCoding(rawValue: name) else { throw .unsupported(header) }
        self = coding
    }

    /// The first of gzip, deflate an `Accept-Encoding` / `grpc-accept-encoding` list accepts
    /// (a quality of 0 refuses; `*` accepts gzip).
    static func accepted(by header: String) -> ContentCoding? {
        let accepted = acceptance(header)
        return allCases.first { accepted[$0.rawValue] ?? accepted["*"] ?? false }
    }

    /// Whether an `Accept-Encoding` / `grpc-accept-encoding` list takes this coding.
    func isAccepted(by header: String) -> Bool {
        let accepted = Self.acceptance(header)
        return accepted[rawValue] ?? accepted["*"] ?? false
    }

    /// The names of a list, each with whether it is accepted (a quality of 0 refuses).
    private static func acceptance(_ header: String) -> [String: Bool] {
        var accepted: [String: Bool] = [:]
        for item in header.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let name = parts.first, !name.isEmpty else { continue }
            accepted[name] = !parts.dropFirst().contains { $0.hasPrefix("q=") && (Double($0.dropFirst(2)) ?? 1) == 0 }
        }
        return accepted
    }

    static let acceptList = "gzip, deflate"

    enum CodingError: Error, Equatable {
        case unsupported(String)
        /// The data would inflate to more than the limit.
        case tooLarge(limit: Int)
        case corrupt(String)
    }

    /// zlib's window bits: 15 for the zlib format, +16 for gzip.
    private var windowBits: Int32 { self == .gzip ? 15 + 16 : 15 }

    func decompress(_ input: ByteBuffer, limit: Int) throws(CodingError) -> ByteBuffer {
        var output = ByteBufferAllocator().buffer(capacity: min(max(input.readableBytes * 4, 4096), limit + 1))
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .corrupt("zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var status = Z_OK
        var trailing = 0
        // Invariant: next_in points into `input`'s bytes and next_out into `output`'s writable
        // tail, each only inside the closure that lends it.
        input.withUnsafeReadableBytes { source in
            stream.next_in = UnsafeMutablePointer(mutating: source.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(source.count)
            while status == Z_OK && output.readableBytes <= limit {
                // One byte past the limit is room enough to know it is exceeded.
                let room = min(64 * 1024, limit + 1 - output.readableBytes)
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { target in
                    stream.next_out = target.bindMemory(to: Bytef.self).baseAddress
                    stream.avail_out = uInt(room)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return room - Int(stream.avail_out)
                }
                // Bytes after the end: gzip allows further members (`cat a.gz b.gz`), inflated
                // under the same limit; after zlib data they are refused, never dropped.
                if status == Z_STREAM_END && stream.avail_in > 0 {
                    guard self == .gzip else {
                        trailing = Int(stream.avail_in)
                        return
                    }
                    status = inflateReset(&stream)
                }
            }
        }
        if output.readableBytes > limit { throw .tooLarge(limit: limit) }
        if trailing > 0 { throw .corrupt("\(trailing) bytes follow the end of the \(rawValue) data") }
        guard status == Z_STREAM_END else {
            throw .corrupt(status == Z_BUF_ERROR ? "the \(rawValue) data ends early" : "the \(rawValue) data is corrupt (zlib \(status))")
        }
        return output
    }

    /// The bytes compressed at level 1: answers are small and latency matters more than ratio.
    func compress(_ input: ByteBuffer) -> ByteBuffer {
        var stream = z_stream()
        precondition(deflateInit2_(&stream, 1, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK,
                     "zlib's deflate could not start")
        defer { deflateEnd(&stream) }
        var output = ByteBufferAllocator().buffer(capacity: Int(deflateBound(&stream, uLong(input.readableBytes))))
        input.withUnsafeReadableBytes { source in
            stream.next_in = UnsafeMutablePointer(mutating: source.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(source.count)
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { target in
                stream.next_out = target.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(target.count)
                // deflateBound leaves room for everything: one call finishes.
                let status = CZlib.deflate(&stream, Z_FINISH)
                precondition(status == Z_STREAM_END, "deflate into deflateBound's room must finish (zlib \(status))")
                return target.count - Int(stream.avail_out)
            }
        }
        return output
    }
}

extension ContentCoding.CodingError: CustomStringConvertible {
    var description: String {
        switch self {
        case .unsupported(let name): "encoding '\(name)' is not supported; nnserve takes gzip, deflate or identity"
        case .tooLarge(let limit): "the body inflates to more than \(limit) bytes, the limit on a request"
        case .corrupt(let problem): problem
        }
    }
}
