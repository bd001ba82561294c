// libFuzzer target: the binary protocol as the server reads it. The bytes go through the
// pure framing rules, then through the server's own NNWire pipeline (frame decoder with the
// preface, message codec) on an EmbeddedChannel, whole and split in two. Invariants: scanning
// never reads past the bytes; a frame's length is within the limit; the pipeline yields the
// same Requests however the bytes arrive, and stops (with the same WireError, nothing else)
// where the stream breaks; a Request that decodes re-encodes, through the codec's frame writer, to
// bytes that decode to the same bytes (compared as bytes: NaN data is never equal to itself).
import NIOCore
import NIOEmbedded
import NNFormat
import NNWire
import SwiftProtobuf

/// The Requests the server pipeline decodes from `chunks`, and the error it stopped on.
private func decodeThroughPipeline(_ chunks: [ArraySlice<UInt8>]) -> (requests: [[UInt8]], failure: WireError?) {
    let channel = EmbeddedChannel()
    try! channel.pipeline.syncOperations.addHandlers([
        ByteToMessageHandler(FrameDecoder(maxFrameSize: 1 << 20, expectsPreface: true)),
        RequestCodec(),
    ])
    var requests: [[UInt8]] = []
    var failure: WireError?
    for chunk in chunks where failure == nil {
        do {
            try channel.writeInbound(ByteBuffer(bytes: chunk))
        } catch let error as WireError {
            failure = error
        } catch {
            preconditionFailure("the wire pipeline failed with \(error), not a WireError")
        }
        while let request = try! channel.readInbound(as: Nnserve_Request.self) {
            let frame = try! WireProtocol.frameBuffer(request)
            let payload = frame.getSlice(at: frame.readerIndex + WireProtocol.lengthPrefixSize,
                                         length: frame.readableBytes - WireProtocol.lengthPrefixSize)!
            let encoded: [UInt8] = try! request.serializedBytes()
            precondition(Array(payload.readableBytesView) == encoded, "the codec's frame differs from the message's bytes")
            let again: [UInt8] = try! WireProtocol.decode(Nnserve_Request.self, from: payload).serializedBytes()
            precondition(again == encoded, "a decoded Request does not survive a round trip")
            requests.append(encoded)
        }
    }
    _ = try? channel.finish()
    return (requests, failure)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWire(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = WireProtocol.checkPreface(bytes)
    var offset = 0
    while offset < bytes.count, case .frame(let start, let length) = WireProtocol.scanFrame(bytes[offset...], maxFrameSize: 1 << 20) {
        precondition(length <= 1 << 20 && offset + start + length <= bytes.count, "frame outside the bytes")
        offset += start + length
    }
    let whole = decodeThroughPipeline([bytes[...]])
    let split = bytes.count / 3
    let halves = decodeThroughPipeline([bytes[..<split], bytes[split...]])
    precondition(whole.requests == halves.requests && sameFailure(whole.failure, halves.failure),
                 "the pipeline's Requests depend on how the bytes arrive")
    return 0
}

/// A bad preface is refused as soon as its first bytes show it; the message describes the
/// bytes seen so far, which depends on how they arrived. Every other failure must be equal.
private func sameFailure(_ a: WireError?, _ b: WireError?) -> Bool {
    if case .badPreface? = a, case .badPreface? = b { return true }
    return a == b
}
