import Foundation
import NNCore
import SwiftProtobuf

/// nnserve graph → ONNX, for running a model nntrain made in any ONNX runtime.
///
/// Writes opset 17 at IR 8 (what ONNX Runtime 1.14 and later accept): per dense layer a
/// `Gemm(transB=1)` followed by its activation node, the pattern ONNX Runtime fuses; the batch
/// dimension named `batch`; input, output and feature names kept (features and class labels
/// as metadata, which the importer reads back).
public enum OnnxExporter {
    public static let opset: Int64 = 17
    public static let irVersion: Int64 = 8
    /// Metadata keys: `<key>.<input>` holds a JSON list of feature names, `<key>.<output>` of labels.
    public static let featureNamesKey = "nnserve.feature_names"
    public static let labelsKey = "nnserve.labels"

    public enum ExportError: Error, Equatable, CustomStringConvertible {
        case rawColumns(input: String)
        case invalidGraph(String)

        public var description: String {
            switch self {
            case .rawColumns(let input):
                "input '\(input)' takes raw columns (text categories, gaps); ONNX models take numbers, and nnserve's column encoding has no ONNX form: serve this model with nnserve, or train on numeric columns"
            case .invalidGraph(let detail): "the graph is invalid: \(detail)"
            }
        }
    }

    /// The ONNX model of `graph` (already folded as the caller wants it).
    public static func model(of graph: Graph, name: String, producerVersion: String, description: String = "") throws(ExportError) -> Onnx_ModelProto {
        if let raw = graph.inputs.first(where: { !$0.columns.isEmpty }) { throw .rawColumns(input: raw.name) }
        let analysis: GraphAnalysis
        do { analysis = try graph.validate() } catch { throw .invalidGraph("\(error)") }
        // Output names are given to Identity (or scaling) nodes at the end; a node sharing one
        // is renamed so that every ONNX value is defined once.
        var builder = Builder(reserved: Set(graph.outputs.map(\.name)))
        var metadata: [(String, String)] = []
        for input in graph.inputs {
            builder.graph.input.append(valueInfo(input.name, width: input.width))
            var value = input.name
            if let standardization = input.standardization {
                value = builder.affine(NNCore.AffineTransform(standardization), of: value, name: "\(input.name)/standardized")
            }
            builder.values[input.name] = value
            if !input.featureNames.isEmpty { metadata.append(("\(featureNamesKey).\(input.name)", json(input.featureNames))) }
        }
        // Weights first: a shared dense node may come before its owner in the order.
        for node in graph.nodes { builder.addWeights(of: node) }
        for index in analysis.order { builder.add(graph.nodes[index], in: graph) }
        for output in graph.outputs {
            var value = builder.values[output.node]!
            if output.scale != 1 {
                value = builder.binary("Mul", value, builder.constant([output.scale], shape: [], name: "\(output.name)/scale"), name: "\(output.name)/scaled")
            }
            if value != output.name { builder.node("Identity", [value], output.name) }
            builder.graph.output.append(valueInfo(output.name, width: analysis.widths[output.node]!))
            if !output.labels.isEmpty { metadata.append(("\(labelsKey).\(output.name)", json(output.labels))) }
        }
        var model = Onnx_ModelProto()
        model.irVersion = irVersion
        model.producerName = "nnexport"
        model.producerVersion = producerVersion
        model.docString = description
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Self.opset
        model.opsetImport = [opset]
        builder.graph.name = name
        model.graph = builder.graph
        model.metadataProps = metadata.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        return model
    }

    public static func bytes(of graph: Graph, name: String, producerVersion: String, description: String = "") throws(ExportError) -> Data {
        do {
            return try model(of: graph, name: name, producerVersion: producerVersion, description: description).serializedData()
        } catch let error as ExportError {
            throw error
        } catch {
            throw .invalidGraph("\(error)")
        }
    }

    private static func valueInfo(_ name: String, width: Int) -> Onnx_ValueInfoProto {
        var batch = Onnx_TensorShapeProto.Dimension()
        batch.dimParam = "batch"
        var features = Onnx_TensorShapeProto.Dimension()
        features.dimValue = Int64(width)
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type.tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        info.type.tensorType.shape.dim = [batch, features]
        return info
    }

    private static func json(_ strings: [String]) -> String {
        (try? JSONSerialization.data(withJSONObject: strings)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }

    /// The ONNX graph under construction: `values` maps each nnserve value to the ONNX value
    /// holding it.
    private struct Builder {
        var graph = Onnx_GraphProto()
        var values: [String: String] = [:]
        private var dense: [String: (weights: String, bias: String)] = [:]
        /// The graph's output names, which no node's value may take.
        let reserved: Set<String>

        init(reserved: Set<String>) {
            self.reserved = reserved
        }

        mutating func add(_ node: Node, in source: Graph) {
            let inputs = node.inputs.map { values[$0]! }
            let name = reserved.contains(node.name) ? "\(node.name)/value" : node.name
            switch node.operation {
            case .dense(let parameters):
                let own = dense[node.name]!
                values[node.name] = gemm(inputs[0], own.weights, own.bias, activation: parameters.activation, name: name)
            case .sharedDense(let owner):
                // Validation checked that the owner is a dense node.
                guard case .dense(let parameters)? = source.node(named: owner)?.operation, let shared = dense[owner] else {
                    preconditionFailure("shared dense '\(node.name)' reads '\(owner)', which validation accepted as a dense node")
                }
                values[node.name] = gemm(inputs[0], shared.weights, shared.bias, activation: parameters.activation, name: name)
            case .batchNorm(let norm):
                let parts = [norm.gamma, norm.beta, norm.movingMean, norm.movingVariance].enumerated().map { index, tensor in
                    initializer(tensor.scalars, shape: [norm.width], name: "\(name)/\(["scale", "bias", "mean", "variance"][index])")
                }
                self.node("BatchNormalization", [inputs[0]] + parts, name, attributes: [float("epsilon", norm.epsilon)])
                values[node.name] = name
            case .dropout, .alphaDropout:
                values[node.name] = inputs[0]
            case .activation(let activation):
                values[node.name] = self.activation(activation, of: inputs[0], name: name)
            case .concat:
                self.node("Concat", inputs, name, attributes: [int("axis", 1)])
                values[node.name] = name
            case .add:
                values[node.name] = binary("Add", inputs[0], inputs[1], name: name)
            }
        }

        /// A dense node's weights (transposed for `transB=1`) and bias as initializers.
        mutating func addWeights(of node: Node) {
            guard case .dense(let parameters) = node.operation else { return }
            let name = reserved.contains(node.name) ? "\(node.name)/value" : node.name
            let weights = initializer(transposed(parameters.weights), shape: [parameters.outputWidth, parameters.inputWidth], name: "\(name)/weights")
            let bias = initializer(parameters.bias.scalars, shape: [parameters.outputWidth], name: "\(name)/bias")
            dense[node.name] = (weights, bias)
        }

        private mutating func gemm(_ input: String, _ weights: String, _ bias: String, activation: Activation, name: String) -> String {
            let linear = activation == .linear ? name : "\(name)/linear"
            node("Gemm", [input, weights, bias], linear, attributes: [int("transB", 1)])
            return self.activation(activation, of: linear, name: name)
        }

        /// The activation node(s); GELU is spelled with Erf, as opset 17 has no Gelu.
        mutating func activation(_ activation: Activation, of input: String, name: String) -> String {
            switch activation {
            case .linear:
                return input
            case .relu: node("Relu", [input], name)
            case .leakyRelu(let alpha): node("LeakyRelu", [input], name, attributes: [float("alpha", alpha)])
            case .elu(let alpha): node("Elu", [input], name, attributes: [float("alpha", alpha)])
            case .selu: node("Selu", [input], name, attributes: [float("alpha", Float(Activation.seluAlpha)), float("gamma", Float(Activation.seluLambda))])
            case .sigmoid: node("Sigmoid", [input], name)
            case .tanh: node("Tanh", [input], name)
            case .softplus: node("Softplus", [input], name)
            case .softmax: node("Softmax", [input], name, attributes: [int("axis", -1)])
            case .gelu:
                // x · ½(1 + erf(x/√2))
                let scaled = binary("Div", input, constant([Float(2).squareRoot()], shape: [], name: "\(name)/sqrt2"), name: "\(name)/scaled")
                node("Erf", [scaled], "\(name)/erf")
                let shifted = binary("Add", "\(name)/erf", constant([1], shape: [], name: "\(name)/one"), name: "\(name)/erf_plus_one")
                let product = binary("Mul", input, shifted, name: "\(name)/product")
                return binary("Mul", product, constant([0.5], shape: [], name: "\(name)/half"), name: name)
            }
            return name
        }

        mutating func affine(_ transform: NNCore.AffineTransform, of input: String, name: String) -> String {
            let scale = constant(transform.scale.map { Float($0) }, shape: [transform.scale.count], name: "\(name)/scale")
            let shift = constant(transform.shift.map { Float($0) }, shape: [transform.shift.count], name: "\(name)/shift")
            let scaled = binary("Mul", input, scale, name: "\(name)/scaled")
            return binary("Add", scaled, shift, name: name)
        }

        @discardableResult
        mutating func binary(_ op: String, _ left: String, _ right: String, name: String) -> String {
            node(op, [left, right], name)
            return name
        }

        mutating func constant(_ values: [Float], shape: [Int], name: String) -> String {
            initializer(values, shape: shape, name: name)
        }

        mutating func initializer(_ values: [Float], shape: [Int], name: String) -> String {
            var tensor = Onnx_TensorProto()
            tensor.name = name
            tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            tensor.dims = shape.map { Int64($0) }
            var bytes = Data(capacity: values.count * 4)
            for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
            tensor.rawData = bytes
            graph.initializer.append(tensor)
            return name
        }

        mutating func node(_ op: String, _ inputs: [String], _ output: String, attributes: [Onnx_AttributeProto] = []) {
            var node = Onnx_NodeProto()
            node.opType = op
            node.name = output
            node.input = inputs
            node.output = [output]
            node.attribute = attributes
            graph.node.append(node)
        }

        private func transposed(_ weights: Tensor) -> [Float] {
            let (rows, columns) = (weights.shape[0], weights.shape[1])
            var result = [Float](repeating: 0, count: rows * columns)
            for row in 0..<rows { for column in 0..<columns { result[column * rows + row] = weights[row * columns + column] } }
            return result
        }

        private func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
            var attribute = Onnx_AttributeProto()
            attribute.name = name
            attribute.type = .float
            attribute.f = value
            return attribute
        }

        private func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
            var attribute = Onnx_AttributeProto()
            attribute.name = name
            attribute.type = .int
            attribute.i = Int64(value)
            return attribute
        }
    }
}
