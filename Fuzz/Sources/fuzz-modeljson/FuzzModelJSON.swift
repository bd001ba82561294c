// libFuzzer target: nntrain's JSON model files. Invariant: decoded or refused with a DataError;
// a decoded spec builds a graph or is refused with a typed error, never a trap.
import Foundation
import NNCore
import NNTrain

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModelJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let spec = try? ModelSpec.decode(json: Data(bytes: data, count: size), file: "fuzz.json") else { return 0 }
    let inputs = spec.inputs.map { GraphInput(name: $0.name, width: max(1, min($0.columns?.count ?? 4, 64))) }
    _ = try? ModelFactory.graph(spec, inputs: inputs, seed: 1, file: "fuzz.json")
    return 0
}
