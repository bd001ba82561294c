import Foundation
import NNCore
import NNFormat
import NNInference
import NNOnnx

/// ONNX files into nnserve: `nnexport import` publishes a verified `.nnm`, and nnserve
/// converts a `model.onnx` found in a version directory when it loads it. Both go through
/// `OnnxImporter` and get self-test rows computed on the graph as converted, before folding.
public enum OnnxImport {
    /// Converts `path` and publishes it like an export (next free version, folding, weight
    /// storage, self-test rows, verification). The name defaults to the file's base name.
    public static func publish(_ path: String, options: Exporter.Options, producerVersion: String = "0.1.0") throws -> Exporter.Report {
        let conversion = try OnnxImporter.convert(contentsOf: path, outputs: options.outputs)
        var options = options
        options.outputs = nil  // the conversion selected them
        let file = (path as NSString).lastPathComponent
        let name = options.name ?? (file as NSString).deletingPathExtension
        options.name = name
        return try Exporter.publish(conversion.graph, name: name, description: description(of: conversion, file: file),
                                    notes: conversion.notes, options: options, producerVersion: producerVersion)
    }

    /// The model file nnserve serves for a `model.onnx`: converted, folded, self-tested.
    public static func modelFile(_ path: String, name: String) throws -> ModelFile {
        let conversion = try OnnxImporter.convert(contentsOf: path)
        let unfolded = conversion.graph
        let inputs = Exporter.syntheticRows(unfolded, rows: 8, seed: 7)
        let expected = try Executor(plan: Plan(graph: unfolded, options: .unoptimized())).predict(
            Dictionary(uniqueKeysWithValues: inputs.map { ($0.name, $0.tensor) }))
        let (graph, rewrites) = GraphSurgery.foldAffine(unfolded)
        let test = SelfTestCase(inputs: inputs, expectedOutputs: graph.outputs.map { NamedTensor(name: $0.name, tensor: expected[$0.name]!) },
                                tolerance: Float(Exporter.float32Tolerance))
        let metadata = ModelMetadata(producer: "nnserve (ONNX import at load)", description: description(of: conversion, file: (path as NSString).lastPathComponent),
                                     folds: conversion.notes + rewrites)
        return ModelFile(name: name, graph: graph, metadata: metadata, selfTests: [test])
    }

    private static func description(of conversion: OnnxImporter.Conversion, file: String) -> String {
        "imported from \(file) (\(conversion.producer.isEmpty ? "unknown producer" : conversion.producer), opset \(conversion.opset))"
    }
}

/// nnserve models out as ONNX: `nnexport run.ckpt --format onnx` publishes `model.onnx` into a
/// version directory (Triton's layout, which nnserve serves too), `nnexport to-onnx` writes
/// a model file's graph to any path. Both are verified by reading the written file back with
/// the importer and comparing its outputs with the unfolded graph's on the self-test rows.
public enum OnnxExport {
    public struct Written: Sendable {
        public var path: String
        public var bytes: Int
        public var maxRelativeError: Double
        public var rewrites: [String]
    }

    /// A checkpoint's graph (outputs selected, dropout removed, folded) as `model.onnx` in the repository.
    public static func publish(_ checkpoint: CheckpointFile, options: Exporter.Options, producerVersion: String = "0.1.0") throws -> (Written, version: Int) {
        var graph = checkpoint.graph
        if let until = options.until { graph = try GraphSurgery.until(graph, node: until) }
        if let outputs = options.outputs { graph = try GraphSurgery.selectOutputs(graph, outputs) }
        let name = options.name ?? (checkpoint.state.name.isEmpty ? "model" : checkpoint.state.name)
        let (bytes, check, rewrites) = try encode(graph, name: name, producerVersion: producerVersion, fold: options.fold)
        let repository = ModelRepository(root: options.repository)
        var measured = 0.0
        let version = try repository.publish(Array(bytes), name: name, version: options.version, fileName: RepositoryLayout.onnxFileName) { file in
            if options.verify { measured = try check(file) }
        }
        return (Written(path: "\(repository.layout.modelDirectory(name))/\(version)/\(RepositoryLayout.onnxFileName)", bytes: bytes.count,
                        maxRelativeError: measured, rewrites: rewrites), version)
    }

    /// A model file's graph (it is folded already) as an ONNX file at `path`.
    public static func write(_ model: ModelFile, to path: String, producerVersion: String = "0.1.0") throws -> Written {
        let (bytes, check, rewrites) = try encode(model.graph, name: model.name, producerVersion: producerVersion, fold: false)
        do {
            try AtomicFile.write(Array(bytes), to: path)
        } catch {
            throw ExportError.file(error)
        }
        do {
            return Written(path: path, bytes: bytes.count, maxRelativeError: try check(path), rewrites: rewrites)
        } catch {
            try? FileManager.default.removeItem(atPath: path)  // an unverified file is not left behind
            throw error
        }
    }

    private static func encode(_ graph: Graph, name: String, producerVersion: String, fold: Bool)
        throws -> (Data, check: (String) throws -> Double, rewrites: [String]) {
        let rows = Exporter.syntheticRows(graph, rows: 8, seed: 1)
        let inputs = Dictionary(uniqueKeysWithValues: rows.map { ($0.name, $0.tensor) })
        let expected = try Executor(plan: Plan(graph: graph, options: .unoptimized())).predict(inputs)
        var (exported, rewrites) = GraphSurgery.removeDropout(graph)
        if fold {
            let (folded, foldRewrites) = GraphSurgery.foldAffine(exported)
            exported = folded
            rewrites += foldRewrites
        }
        let bytes = try OnnxExporter.bytes(of: exported, name: name, producerVersion: producerVersion)
        let tolerance = Exporter.float32Tolerance
        let check = { (file: String) throws -> Double in
            let reread = try OnnxImporter.convert(contentsOf: file).graph
            let cases = [(inputs: inputs, expected: Dictionary(uniqueKeysWithValues: exported.outputs.map { ($0.name, expected[$0.name]!) }))]
            let error = try SelfTestCheck.maxRelativeError(plan: Plan(graph: reread), cases: cases)
            guard error <= tolerance else { throw ExportError.verificationFailed(path: file, maxRelativeError: error, tolerance: tolerance) }
            return error
        }
        return (bytes, check, rewrites)
    }
}
