// libFuzzer target: checkpoint files. Invariant: decoded or refused with a FormatError, and a
// decoded checkpoint re-encodes to one that decodes to the same graph and state.
import NNFormat

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // Inputs that do not start with the container's magic are taken as the decompressed
    // protobuf payload and wrapped in a valid container: mutations of a real file almost never
    // get past its CRCs and zstd frame, so the decoder behind them would go unfuzzed.
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if !bytes.starts(with: Array("NNCK".utf8)) {
        guard let wrapped = try? Container.encode(payload: bytes, kind: .checkpoint, flags: [], compressionLevel: 1) else { return 0 }
        bytes = wrapped
    }
    var limits = ReadLimits.default
    limits.maxPayloadBytes = 4 << 20
    guard let checkpoint = try? CheckpointFile.decode(bytes, source: "fuzz", limits: limits) else { return 0 }
    let encoded = try! checkpoint.encoded()
    let again = try! CheckpointFile.decode(encoded, source: "re-encoded")
    // Graphs compare bitwise; the state is a message with floats (NaN != NaN): compare bytes.
    precondition(again.graph == checkpoint.graph && (try! again.encoded()) == encoded, "a checkpoint does not survive a round trip")
    return 0
}
