import Foundation
import NNCore

/// What an ONNX value is while converting: known now, a shape vector with the batch size
/// unknown, or a value the served graph computes.
enum OnnxValue {
    case constant(OnnxConstant)
    /// An integer vector (or scalar) with the batch size where `nil` stands: what
    /// `Shape → Gather → Concat` chains compute before a `Reshape`.
    case shape(ShapeVector)
    case tensor(TensorValue)
}

struct ShapeVector: Equatable {
    var elements: [Int?]
    var isScalar: Bool
}

/// A value of the served graph: `name` is the graph input or node holding it, `dims` its
/// dimensions after the batch (their product is the graph's width of the value).
struct TensorValue: Equatable {
    var name: String
    var dims: [Int]
    var width: Int { dims.reduce(1, *) }
}

/// One conversion's state: the ONNX graph indexed, the values resolved so far and the nodes
/// of the graph being built (in an order where each follows what it reads).
struct GraphConversion {
    static let maximumDepth = 2_000
    static let maximumRegion = 16

    let model: OnnxModel
    let tensors: OnnxTensorReader
    var notes: [String] = []

    /// Which node (and which of its outputs) defines each value.
    private var producers: [String: (node: Int, output: Int)] = [:]
    private var initializers: [String: Int] = [:]
    private var declaredInputs: [String: Onnx_ValueInfoProto] = [:]
    private var resolved: [String: OnnxValue] = [:]
    private var resolving: Set<String> = []
    private var constness: [String: Bool] = [:]
    private var depth = 0
    /// Numbers created by folding (Concat, elementwise folds) so far: a tiny file must not make
    /// the importer build constants of billions of numbers.
    private var derivedElements = 0
    static let maximumDerivedElements = 1 << 24
    private(set) var nodes: [Node] = []
    private var nodeNames: Set<String> = []
    private var graphInputs: [GraphInput] = []

    init(model: OnnxModel, tensors: OnnxTensorReader) throws(OnnxError) {
        self.model = model
        self.tensors = tensors
        let graph = model.graph
        for (index, initializer) in graph.initializer.enumerated() {
            guard initializers.updateValue(index, forKey: initializer.name) == nil else {
                throw .brokenGraph("initializer '\(initializer.name)' is defined twice")
            }
        }
        for input in graph.input where initializers[input.name] == nil {
            guard declaredInputs.updateValue(input, forKey: input.name) == nil else { throw .brokenGraph("input '\(input.name)' is declared twice") }
        }
        for (index, node) in graph.node.enumerated() {
            for (position, output) in node.output.enumerated() where !output.isEmpty {
                guard producers[output] == nil, initializers[output] == nil, declaredInputs[output] == nil else {
                    throw .brokenGraph("value '\(output)' is defined more than once (node '\(node.displayName)' defines it again)")
                }
                producers[output] = (index, position)
            }
        }
    }

    // MARK: - The graph

    mutating func convert(outputs selection: [String]?) throws(OnnxError) -> Graph {
        let declared = model.graph.output.map(\.name)
        guard !declared.isEmpty else { throw .brokenGraph("the graph declares no outputs") }
        if let selection, let unknown = selection.first(where: { !declared.contains($0) }) {
            throw .unsupportedValue(value: unknown, reason: "is not an output of the model; its outputs are \(declared.map { "'\($0)'" }.joined(separator: ", "))")
        }
        var outputs: [GraphOutput] = []
        var labelOutputs: [(name: String, label: ClassLabelOutput)] = []
        for name in selection ?? declared {
            if let label = try classLabelOutput(name) {
                if selection != nil { throw label.refusal(output: name) }
                labelOutputs.append((name, label))
                continue
            }
            let value = try tensor(name, role: "output")
            if value.dims.isEmpty { notes.append("output '\(name)' is [batch] in the ONNX file; nnserve serves it as [batch, 1]") }
            let labels = jsonList(model.metadata["\(OnnxExporter.labelsKey).\(name)"]) ?? []
            let fits = labels.count == value.width || (value.width == 1 && labels.count == 2)
            outputs.append(GraphOutput(name: name, node: value.name, labels: fits ? labels : []))
        }
        if outputs.isEmpty, let zipMap = labelOutputs.first(where: { $0.label.zipMap }) { throw zipMap.label.refusal(output: zipMap.name) }
        for (name, label) in labelOutputs {
            guard let probabilities = try? tensor(label.probabilities, role: "output"),
                  let index = outputs.firstIndex(where: { $0.node == probabilities.name }) else {
                throw label.refusal(output: name)
            }
            if let classes = label.classes, classes.count == probabilities.width || (probabilities.width == 1 && classes.count == 2) {
                outputs[index].labels = classes
            }
            notes.append("output '\(name)' (the class label, an ArgMax over '\(outputs[index].name)') is left out: ask '\(outputs[index].name)' for the classification extension's labels, or `--outputs` to choose")
        }
        guard !outputs.isEmpty else { throw .brokenGraph("no output left to serve") }
        // Every declared input, in the file's order: clients send what ONNX Runtime would take.
        var inputs: [GraphInput] = []
        for input in model.graph.input where initializers[input.name] == nil {
            _ = try tensor(input.name, role: "input")
            if let converted = graphInputs.first(where: { $0.name == input.name }) { inputs.append(converted) }
        }
        return pruned(Graph(inputs: inputs, nodes: nodes, outputs: outputs))
    }

    /// Only the nodes the outputs read: a value converted on the way to an output left out is
    /// not computed.
    private func pruned(_ graph: Graph) -> Graph {
        var needed = Set(graph.outputs.map(\.node))
        for node in graph.nodes.reversed() where needed.contains(node.name) { needed.formUnion(node.inputs) }
        return Graph(inputs: graph.inputs, nodes: graph.nodes.filter { needed.contains($0.name) }, outputs: graph.outputs)
    }

    // MARK: - Values

    func producer(of name: String) -> (node: Int, output: Int)? {
        producers[name]
    }

    mutating func resolve(_ name: String) throws(OnnxError) -> OnnxValue {
        if let value = resolved[name] { return value }
        if let index = initializers[name] {
            let value = OnnxValue.constant(try tensors.read(model.graph.initializer[index], name: name))
            resolved[name] = value
            return value
        }
        if let input = declaredInputs[name] {
            let value = OnnxValue.tensor(try graphInput(input))
            resolved[name] = value
            return value
        }
        guard let (index, position) = producers[name] else {
            throw .brokenGraph("value '\(name)' is read, but no node, initializer or input defines it")
        }
        guard resolving.insert(name).inserted else { throw .brokenGraph("value '\(name)' depends on itself (a cycle)") }
        guard depth < Self.maximumDepth else {
            throw .unsupportedModel("the graph is more than \(Self.maximumDepth) operations deep; nnserve imports MLPs")
        }
        depth += 1
        defer {
            depth -= 1
            resolving.remove(name)
        }
        let value = try convertNode(model.graph.node[index], output: position)
        resolved[name] = value
        return value
    }

    /// A value the graph computes (refusing a constant or a shape vector where one is needed).
    mutating func tensor(_ name: String, role: String) throws(OnnxError) -> TensorValue {
        switch try resolve(name) {
        case .tensor(let value): return value
        case .constant: throw .unsupportedValue(value: name, reason: "the \(role) is a constant; nnserve serves values computed from inputs")
        case .shape: throw .unsupportedValue(value: name, reason: "the \(role) is a shape, not values computed from inputs")
        }
    }

    /// Whether `name` is known without any input: an initializer, a Constant, or computed from
    /// those only. Asked before converting, so trying a pattern never emits nodes.
    mutating func isConstant(_ name: String) -> Bool {
        if initializers[name] != nil { return true }
        if declaredInputs[name] != nil { return false }
        if let known = constness[name] { return known }
        guard let (index, _) = producers[name] else { return false }
        constness[name] = false  // a cycle is not constant
        let node = model.graph.node[index]
        let constant = node.opType == "Constant" || (node.opType != "Shape" && !node.presentInputs.isEmpty && node.presentInputs.allSatisfy { isConstant($0) })
        constness[name] = constant
        return constant
    }

    private mutating func graphInput(_ info: Onnx_ValueInfoProto) throws(OnnxError) -> TensorValue {
        let name = info.name
        guard info.type.tensorType.elemType == 1 else {
            let type = OnnxTensorReader.ElementType(rawValue: Int(info.type.tensorType.elemType)).map { "\($0)" } ?? "not a tensor"
            throw .unsupportedValue(value: name, reason: "the input is \(type); nnserve takes float32 inputs (export with float32 features)")
        }
        let shape = info.type.tensorType.shape.dim
        guard shape.count >= 2 else {
            throw .unsupportedValue(value: name, reason: "the input has \(shape.count) dimension\(shape.count == 1 ? "" : "s"); nnserve takes [batch, features]")
        }
        var dims: [Int] = []
        for (axis, dimension) in shape.enumerated().dropFirst() {
            guard case .dimValue(let size)? = dimension.value, size > 0, size <= 1 << 20 else {
                throw .unsupportedValue(value: name, reason: "dimension \(axis) is \(dimension.dimParam.isEmpty ? "unknown" : "'\(dimension.dimParam)'"); nnserve needs a fixed number of features")
            }
            dims.append(Int(size))
        }
        guard let width = elementCount(dims), width <= 1 << 20 else {
            throw .unsupportedValue(value: name, reason: "the input has \(dims.map(String.init).joined(separator: " × ")) features; nnserve takes up to 2²⁰")
        }
        let value = TensorValue(name: name, dims: dims)
        if case .dimValue(let batch)? = shape[0].value {
            notes.append("input '\(name)' has a fixed batch of \(batch) in the ONNX file; nnserve serves it at any batch")
        }
        graphInputs.append(GraphInput(name: name, width: value.width, featureNames: featureNames(of: name, width: value.width)))
        return value
    }

    /// Feature names nnexport wrote as metadata (`nnserve.feature_names.<input>`, a JSON list).
    private func featureNames(of input: String, width: Int) -> [String] {
        guard let names = jsonList(model.metadata["\(OnnxExporter.featureNamesKey).\(input)"]), names.count == width else { return [] }
        return names
    }

    private func jsonList(_ text: String?) -> [String]? {
        text.flatMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String] }
    }

    /// Counts `count` numbers created by folding against `maximumDerivedElements`.
    mutating func chargeDerived(_ count: Int, node: Onnx_NodeProto) throws(OnnxError) {
        derivedElements += count
        guard derivedElements <= Self.maximumDerivedElements else {
            throw .unsupportedModel("node '\(node.displayName)' (\(node.opType)): folding constants would create more than \(Self.maximumDerivedElements) numbers; nnserve imports MLPs")
        }
    }

    // MARK: - Emitting nodes

    /// Adds a node named after the ONNX value it computes.
    mutating func emit(_ name: String, _ operation: NodeOperation, inputs: [String], dims: [Int]) -> OnnxValue {
        var unique = name.isEmpty ? "node" : name
        var suffix = 2
        while nodeNames.contains(unique) || declaredInputs[unique] != nil {
            unique = "\(name)#\(suffix)"
            suffix += 1
        }
        nodeNames.insert(unique)
        nodes.append(Node(name: unique, operation: operation, inputs: inputs))
        return .tensor(TensorValue(name: unique, dims: dims))
    }

    /// A per-feature affine transform by constants (`BatchNorm.affine`): the exporter and the
    /// plan builder fold it into the neighbouring dense layer where their rules allow, as they
    /// fold any batch norm.
    mutating func emitAffine(_ name: String, input: TensorValue, scale: [Double], shift: [Double]) -> OnnxValue {
        return emit(name, .batchNorm(.affine(scale: scale.map { Float($0) }, shift: shift.map { Float($0) })), inputs: [input.name], dims: input.dims)
    }

    // MARK: - Label outputs

    /// How scikit-learn classifiers expose their predicted class: `ArgMax` over the
    /// probabilities, mapped through `ArrayFeatureExtractor(classes)`, reshaped and cast.
    struct ClassLabelOutput {
        var probabilities: String
        var classes: [String]?
        var zipMap: Bool

        func refusal(output: String) -> OnnxError {
            if zipMap {
                return .unsupportedValue(value: output, reason: "comes from ZipMap (a list of dictionaries, not a tensor): export with `options={'zipmap': False}` and serve 'probabilities'")
            }
            return .unsupportedValue(value: output, reason: "comes from ArgMax over class labels: export with `options={'zipmap': False}` and serve 'probabilities', or use `--outputs probabilities`")
        }
    }

    private mutating func classLabelOutput(_ name: String) throws(OnnxError) -> ClassLabelOutput? {
        var current = name
        for _ in 0..<8 {
            guard let (index, _) = producers[current] else { return nil }
            let node = model.graph.node[index]
            switch node.opType {
            case _ where node.input.isEmpty:
                return nil  // refused where the node is converted
            case "Cast", "Reshape", "Identity", "Squeeze", "Flatten":
                current = node.input[0]
            case "ZipMap":
                return ClassLabelOutput(probabilities: node.input[0], classes: nil, zipMap: true)
            case "ArgMax":
                return ClassLabelOutput(probabilities: node.input[0], classes: nil, zipMap: false)
            case "ArrayFeatureExtractor":
                guard node.input.count == 2, let (argmaxIndex, _) = producers[node.input[1]],
                      model.graph.node[argmaxIndex].opType == "ArgMax", let probabilities = model.graph.node[argmaxIndex].input.first else { return nil }
                return ClassLabelOutput(probabilities: probabilities, classes: classNames(node.input[0]), zipMap: false)
            default:
                return nil
            }
        }
        return nil
    }

    /// The class names a classifier stores (int64 or string tensor), as text.
    private func classNames(_ name: String) -> [String]? {
        guard let index = initializers[name] else { return nil }
        let tensor = model.graph.initializer[index]
        if tensor.dataType == Int32(Onnx_TensorProto.DataType.string.rawValue) {
            return tensor.stringData.map { String(decoding: $0, as: UTF8.self) }
        }
        return (try? tensors.read(tensor, name: name))?.values.map { $0 == $0.rounded() ? String(Int64($0)) : String($0) }
    }
}
