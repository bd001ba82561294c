import Foundation
import NNCore

/// ONNX → nnserve graph: the MLPs PyTorch, scikit-learn and Keras export, as `Graph` data the
/// exporter folds and the inference engine compiles like any model nntrain made.
///
/// Conversion walks back from the outputs served: each value is resolved once, from the node
/// producing it, to a constant, a shape vector or a graph value. What cannot be expressed
/// exactly is refused, naming the node, its op type and opset, and what to do.
public enum OnnxImporter {
    /// The graph, and what the user should know about how it was read.
    public struct Conversion: Sendable {
        public var graph: Graph
        /// "input 'x' has a fixed batch of 1; nnserve serves it at any batch", outputs left out…
        public var notes: [String]
        public var producer: String
        public var opset: Int
    }

    /// Converts the model in `path`; external data files are read from its directory.
    /// `outputs` selects the outputs to serve (default: all, leaving out class-label outputs
    /// when another output carries the probabilities).
    public static func convert(contentsOf path: String, outputs: [String]? = nil) throws(OnnxError) -> Conversion {
        let bytes: Data
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            if let size = attributes[.size] as? Int, size > OnnxModel.maximumBytes {
                throw OnnxError.unsupportedModel("the file has \(size) bytes; ONNX files end at 2 GiB")
            }
            bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch let error as OnnxError {
            throw error
        } catch {
            throw .unreadable("cannot read \(path): \(error.localizedDescription)")
        }
        let directory = (path as NSString).deletingLastPathComponent
        return try convert(bytes: bytes, directory: directory.isEmpty ? "." : directory, outputs: outputs)
    }

    /// Converts a model held in memory; `directory` is where its external data files are.
    public static func convert(bytes: Data, directory: String? = nil, outputs: [String]? = nil) throws(OnnxError) -> Conversion {
        let model = try OnnxModel(bytes: bytes)
        var state = try GraphConversion(model: model, tensors: OnnxTensorReader(directory: directory))
        let graph = try state.convert(outputs: outputs)
        do {
            _ = try graph.validate()
        } catch {
            throw .brokenGraph("the converted graph is invalid: \(error)")
        }
        let producer = [model.proto.producerName, model.proto.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        return Conversion(graph: graph, notes: state.notes, producer: producer, opset: model.opsetByDomain[""] ?? 0)
    }
}
