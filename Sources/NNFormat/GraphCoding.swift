import NNCore

/// Conversion between the graph IR and its stored form. Decoding checks every tensor and
/// then validates the graph, so what it returns is safe to compile.
enum GraphCoding {
    /// The storage of the Dense weights: fp16, bf16 or int8 when every Dense layer's weights
    /// have that type, else fp32.
    static func weightStorage(of graph: Nnserve_Graph) -> WeightStorage {
        let types = graph.nodes.compactMap { node -> Nnserve_DataType? in
            if case .dense(let dense)? = node.operation { return dense.weights.dataType }
            return nil
        }
        guard let first = types.first, types.allSatisfy({ $0 == first }) else { return .float32 }
        return WeightStorage.allCases.first { $0.dataType == first } ?? .float32
    }

    static func encode(_ graph: Graph, weights: WeightStorage = .float32) -> Nnserve_Graph {
        var stored = Nnserve_Graph()
        stored.inputs = graph.inputs.map { input in
            var storedInput = Nnserve_GraphInput()
            storedInput.name = input.name
            storedInput.width = Int64(input.width)
            storedInput.featureNames = input.featureNames
            if let standardization = input.standardization {
                storedInput.standardization.mean = standardization.mean
                storedInput.standardization.std = standardization.std
            }
            storedInput.columns = input.columns.map(RawColumnCoding.encode)
            return storedInput
        }
        stored.nodes = graph.nodes.map { encode($0, weights: weights) }
        stored.outputs = graph.outputs.map { output in
            var storedOutput = Nnserve_GraphOutput()
            storedOutput.name = output.name
            storedOutput.node = output.node
            storedOutput.scale = output.scale == 1 ? 0 : output.scale
            storedOutput.labels = output.labels
            return storedOutput
        }
        return stored
    }

    static func decode(_ stored: Nnserve_Graph, source: String) throws(FormatError) -> Graph {
        var inputs: [GraphInput] = []
        for storedInput in stored.inputs {
            guard storedInput.width > 0, storedInput.width <= Int64(Int32.max) else {
                throw .invalidGraph(source: source, error: .invalidInput(input: storedInput.name, detail: "width must be positive, got \(storedInput.width)"))
            }
            let standardization = storedInput.hasStandardization
                ? Standardization(mean: storedInput.standardization.mean, std: storedInput.standardization.std) : nil
            inputs.append(GraphInput(name: storedInput.name, width: Int(storedInput.width),
                                     featureNames: storedInput.featureNames, standardization: standardization,
                                     columns: storedInput.columns.map(RawColumnCoding.decode)))
        }
        var nodes: [Node] = []
        nodes.reserveCapacity(stored.nodes.count)
        for storedNode in stored.nodes {
            nodes.append(Node(name: storedNode.name, operation: try decodeOperation(of: storedNode, source: source),
                              inputs: storedNode.inputs))
        }
        let graph = Graph(inputs: inputs, nodes: nodes,
                          outputs: stored.outputs.map { GraphOutput(name: $0.name, node: $0.node, scale: $0.scale == 0 ? 1 : $0.scale, labels: $0.labels) })
        do {
            _ = try graph.validate()
        } catch {
            throw .invalidGraph(source: source, error: error)
        }
        return graph
    }

    private static func encode(_ node: Node, weights: WeightStorage) -> Nnserve_Node {
        var stored = Nnserve_Node()
        stored.name = node.name
        stored.inputs = node.inputs
        switch node.operation {
        case .dense(let dense):
            var storedDense = Nnserve_Dense()
            storedDense.weights = TensorCoding.encode(dense.weights, as: weights.dataType)
            storedDense.bias = TensorCoding.encode(dense.bias, as: weights.biasDataType)
            storedDense.activation = encode(dense.activation)
            stored.operation = .dense(storedDense)
        case .batchNorm(let norm):
            var storedNorm = Nnserve_BatchNorm()
            storedNorm.gamma = TensorCoding.encode(norm.gamma)
            storedNorm.beta = TensorCoding.encode(norm.beta)
            storedNorm.movingMean = TensorCoding.encode(norm.movingMean)
            storedNorm.movingVariance = TensorCoding.encode(norm.movingVariance)
            storedNorm.epsilon = norm.epsilon
            storedNorm.momentum = norm.momentum
            stored.operation = .batchNorm(storedNorm)
        case .dropout(let rate):
            var dropout = Nnserve_Dropout()
            dropout.rate = rate
            stored.operation = .dropout(dropout)
        case .alphaDropout(let rate):
            var dropout = Nnserve_AlphaDropout()
            dropout.rate = rate
            stored.operation = .alphaDropout(dropout)
        case .activation(let activation):
            stored.operation = .activation(encode(activation))
        case .concat:
            stored.operation = .concat(Nnserve_Concat())
        case .add:
            stored.operation = .add(Nnserve_Add())
        case .sharedDense(let owner):
            var shared = Nnserve_SharedDense()
            shared.node = owner
            stored.operation = .sharedDense(shared)
        }
        return stored
    }

    private static func decodeOperation(of node: Nnserve_Node, source: String) throws(FormatError) -> NodeOperation {
        func tensor(_ stored: Nnserve_Tensor, _ parameter: String) throws(FormatError) -> Tensor {
            try TensorCoding.decode(stored, name: "\(node.name)/\(parameter)", source: source)
        }
        switch node.operation {
        case .dense(let dense):
            return .dense(DenseParameters(weights: try tensor(dense.weights, "weights"), bias: try tensor(dense.bias, "bias"),
                                activation: try decode(dense.activation, node: node.name, source: source)))
        case .batchNorm(let norm):
            return .batchNorm(BatchNorm(gamma: try tensor(norm.gamma, "gamma"), beta: try tensor(norm.beta, "beta"),
                                        movingMean: try tensor(norm.movingMean, "moving_mean"),
                                        movingVariance: try tensor(norm.movingVariance, "moving_variance"),
                                        epsilon: norm.epsilon, momentum: norm.momentum))
        case .dropout(let dropout): return .dropout(rate: dropout.rate)
        case .alphaDropout(let dropout): return .alphaDropout(rate: dropout.rate)
        case .activation(let activation): return .activation(try decode(activation, node: node.name, source: source))
        case .concat: return .concat
        case .add: return .add
        // Files may hold a Softmax node; it means the same as a softmax activation, and the IR
        // has one form for it, so no consumer needs two branches.
        case .softmax: return .activation(.softmax)
        case .sharedDense(let shared): return .sharedDense(of: shared.node)
        case nil:
            throw .malformedMessage(source: source, detail: "node '\(node.name)' has no operation this build knows (written by a newer nnserve?)")
        }
    }

    private static func encode(_ activation: Activation) -> Nnserve_Activation {
        var stored = Nnserve_Activation()
        switch activation {
        case .linear: stored.kind = .activationLinear
        case .relu: stored.kind = .activationRelu
        case .leakyRelu(let alpha):
            stored.kind = .activationLeakyRelu
            stored.alpha = alpha
        case .elu(let alpha):
            stored.kind = .activationElu
            stored.alpha = alpha
        case .selu: stored.kind = .activationSelu
        case .sigmoid: stored.kind = .activationSigmoid
        case .tanh: stored.kind = .activationTanh
        case .softplus: stored.kind = .activationSoftplus
        case .gelu: stored.kind = .activationGelu
        case .softmax: stored.kind = .activationSoftmax
        }
        return stored
    }

    private static func decode(_ stored: Nnserve_Activation, node: String, source: String) throws(FormatError) -> Activation {
        switch stored.kind {
        case .activationLinear: return .linear
        case .activationRelu: return .relu
        case .activationLeakyRelu: return .leakyRelu(alpha: stored.alpha)
        case .activationElu: return .elu(alpha: stored.alpha)
        case .activationSelu: return .selu
        case .activationSigmoid: return .sigmoid
        case .activationTanh: return .tanh
        case .activationSoftplus: return .softplus
        case .activationGelu: return .gelu
        case .activationSoftmax: return .softmax
        case .UNRECOGNIZED(let raw):
            throw .malformedMessage(source: source, detail: "node '\(node)' has unknown activation \(raw)")
        }
    }
}
