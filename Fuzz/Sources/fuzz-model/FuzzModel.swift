// libFuzzer target: model files, from the container to a compiled plan. Invariants: a file
// either decodes or is refused with a FormatError; a decoded graph compiles or is refused with
// an InferenceError; a decoded model re-encodes to a file that decodes to the same graph.
import NNFormat
import NNInference

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModel(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // Inputs that do not start with the container's magic are taken as the decompressed
    // protobuf payload and wrapped in a valid container: mutations of a real file almost never
    // get past its CRCs and zstd frame, so the decoder behind them would go unfuzzed.
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if !bytes.starts(with: Array("NNMF".utf8)) {
        guard let wrapped = try? Container.encode(payload: bytes, kind: .model, flags: [], compressionLevel: 1) else { return 0 }
        bytes = wrapped
    }
    var limits = ReadLimits.default
    limits.maxPayloadBytes = 4 << 20
    guard let model = try? ModelFile.decode(bytes, source: "fuzz", limits: limits) else { return 0 }
    // Compiled as served, the reduced kernels' packing included (bf16 and int8 panels), without
    // timing them.
    _ = try? Plan(graph: model.graph, options: PlanOptions(maxRows: 4, storedWeights: model.weightStorage,
                                                          precisionChooser: .reducedWherePossible))
    let again = try! ModelFile.decode(try! model.encoded(), source: "re-encoded")
    precondition(again.graph == model.graph, "a decoded model does not survive a round trip")
    return 0
}
