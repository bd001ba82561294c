// libFuzzer target: ONNX files, from protobuf bytes to a compiled plan and back out as ONNX.
// Invariants: a file either converts or is refused with an OnnxError (never a crash, a hang
// or an allocation the file's size does not justify); a converted graph validates, compiles
// and runs; and what the exporter writes for it converts again.
import Foundation
import NNCore
import NNInference
import NNOnnx

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOnnx(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    // No directory: external data is refused, so the fuzzer never reads the file system.
    guard let conversion = try? OnnxImporter.convert(bytes: bytes) else { return 0 }
    let graph = conversion.graph
    precondition((try? graph.validate()) != nil, "a converted graph does not validate")
    guard graph.inputs.allSatisfy({ $0.width <= 4096 }), let plan = try? Plan(graph: graph, options: PlanOptions(maxRows: 2)) else { return 0 }
    let inputs = Dictionary(uniqueKeysWithValues: graph.inputs.map { ($0.name, Tensor(zeros: [2, $0.width])) })
    _ = try? Executor(plan: plan).predict(inputs)
    let exported = try! OnnxExporter.bytes(of: graph, name: "fuzz", producerVersion: "fuzz")
    precondition((try? OnnxImporter.convert(bytes: exported)) != nil, "an exported graph does not convert again")
    return 0
}
