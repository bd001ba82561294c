// libFuzzer target: the binary protocol's framing and Request messages, as the server reads
// them. Invariants: scanning never reads past the bytes; a frame's length is within the limit;
// a Request that decodes re-encodes to bytes that decode to the same Request (compared as
// bytes: NaN data is never equal to itself).
import NNFormat
import SwiftProtobuf

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWire(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = WireProtocol.checkPreface(bytes)
    var offset = 0
    while offset < bytes.count, case .frame(let start, let length) = WireProtocol.scanFrame(bytes[offset...], maxFrameSize: 1 << 20) {
        precondition(length <= 1 << 20 && offset + start + length <= bytes.count, "frame outside the bytes")
        let payload = Array(bytes[(offset + start)..<(offset + start + length)])
        if let request = try? Nnserve_Request(serializedBytes: payload) {
            let encoded: [UInt8] = try! request.serializedBytes()
            let again: [UInt8] = try! Nnserve_Request(serializedBytes: encoded).serializedBytes()
            precondition(again == encoded, "a decoded Request does not survive a round trip")
        }
        offset += start + length
    }
    return 0
}
