import NIOCore
import NIOHTTP1

/// gzip and deflate on the HTTP front: a request body sent with `Content-Encoding` is inflated
/// (to at most `--max-body-size`, the limit a plain body has), and a reply body of at least
/// `minimumCompressed` bytes is compressed when the client's `Accept-Encoding` takes it.
enum HTTPBodyCoding {
    /// Smaller bodies gain less than their compression costs (the gzip header alone is 18 bytes).
    static let minimumCompressed = 1024

    static func requestBody(_ body: ByteBuffer, headers: HTTPHeaders, limit: Int) throws(HTTPError) -> ByteBuffer {
        let declared = headers[canonicalForm: "content-encoding"]
        guard !declared.isEmpty else { return body }
        guard declared.count == 1 else {
            throw HTTPError(.unsupportedMediaType, "Content-Encoding '\(declared.joined(separator: ", "))': nnserve takes one of gzip, deflate, identity")
        }
        do {
            guard let coding = try ContentCoding(header: String(declared[0])) else { return body }
            return try coding.decompress(body, limit: limit)
        } catch .unsupported(let name) {
            throw HTTPError(.unsupportedMediaType, "Content-Encoding '\(name)' is not supported; nnserve takes gzip, deflate or identity")
        } catch .tooLarge {
            throw HTTPError(.payloadTooLarge, "request body inflates to more than the limit of \(limit) bytes (nnserve --max-body-size)")
        } catch {
            throw HTTPError(.badRequest, "request body (Content-Encoding \(declared[0])): \(error)")
        }
    }

    /// The reply compressed for a client that accepts it; `Vary` tells caches the body
    /// depends on `Accept-Encoding` either way.
    static func encode(_ reply: inout HTTPReply, for request: HTTPHeaders) {
        guard reply.body.count >= minimumCompressed else { return }
        reply.extraHeaders.append(("Vary", "Accept-Encoding"))
        guard let accepted = request.first(name: "accept-encoding"), let coding = ContentCoding.accepted(by: accepted) else { return }
        let compressed = coding.compress(ByteBuffer(bytes: reply.body))
        reply.body = Array(compressed.readableBytesView)
        reply.extraHeaders.append(("Content-Encoding", coding.rawValue))
    }
}
