import NNCore

/// A graph with its forward and backward passes for training.
///
/// The graph itself holds the parameters and batch-norm statistics, so what is trained is
/// exactly what is checkpointed and exported. Values are [rows, width] tensors keyed by name.
public struct TrainingGraph: Sendable {
    public private(set) var graph: Graph
    let order: [Int]
    /// Layers that do not learn this epoch (`"trainable": false`): the trainer drops their
    /// gradients, and a frozen batch norm normalizes with its moving statistics in training
    /// passes too (and does not move them), as Keras does.
    public var frozenLayers: Set<String> = []

    /// How a forward pass runs.
    public enum Mode: Sendable {
        /// Batch statistics (moving averages updated), dropout masks drawn from the stream of
        /// (seed, epoch, step, node index).
        case training(seed: UInt64, epoch: Int, step: Int)
        /// Moving statistics, no dropout: what the exported model computes.
        case inference
    }

    /// What a backward pass starts from at one output.
    public enum OutputGradient {
        /// dL/d(output value).
        case value(Tensor)
        /// dL/d(logits) of an output whose last operation is softmax or sigmoid: the fused
        /// cross-entropy gradient, which skips that activation's backward.
        case logits(Tensor)
    }

    /// Values and caches of one forward pass.
    public struct Pass {
        public var values: [String: Tensor]
        var caches: [Int: NodeCache]
    }

    enum NodeCache {
        case dense(DenseLayer.Cache)
        case batchNorm(BatchNormLayer.Cache)
        case dropout(DropoutLayer.Cache)
        case activation(z: Tensor, y: Tensor)
    }

    public init(_ graph: Graph) throws(GraphError) {
        order = try graph.validate().order
        self.graph = graph
    }

    /// Puts back the parameters and statistics of an earlier copy of this graph (early
    /// stopping's best epoch); the structure, and so the order, is the same.
    mutating func restore(_ earlier: Graph) {
        precondition(earlier.nodes.map(\.name) == graph.nodes.map(\.name), "an earlier copy of the same graph")
        graph = earlier
    }

    /// Runs the graph on raw inputs (standardized here with each input's statistics).
    public mutating func forward(_ inputs: [String: Tensor], mode: Mode) -> Pass {
        var values: [String: Tensor] = [:]
        for input in graph.inputs {
            values[input.name] = Self.standardized(inputs[input.name]!, input.standardization)
        }
        var caches: [Int: NodeCache] = [:]
        for index in order {
            let node = graph.nodes[index]
            let x = values[node.inputs[0]]!
            switch node.operation {
            case .dense, .sharedDense:
                let dense = denseParameters(of: node)
                let (y, cache) = DenseLayer.forward(x, weights: dense.weights, bias: dense.bias, activation: dense.activation)
                values[node.name] = y
                caches[index] = .dense(cache)
            case .batchNorm(var norm):
                if case .training = mode, !frozenLayers.contains(node.name) {
                    let (y, cache) = BatchNormLayer.forwardTraining(x, &norm)
                    graph.nodes[index].operation = .batchNorm(norm)
                    values[node.name] = y
                    caches[index] = .batchNorm(cache)
                } else {
                    values[node.name] = BatchNormLayer.forwardInference(x, norm)
                }
            case .dropout(let rate), .alphaDropout(let rate):
                if case .training(let seed, let epoch, let step) = mode {
                    var rng = CounterRNG(seed: seed, stream: CounterRNG.stream(epoch: epoch, step: step, layer: index))
                    let alpha = if case .alphaDropout = node.operation { true } else { false }
                    let (y, cache) = DropoutLayer.forward(x, rate: rate, alpha: alpha, rng: &rng)
                    values[node.name] = y
                    caches[index] = .dropout(cache)
                } else {
                    values[node.name] = x
                }
            case .activation(let activation):
                let y = ActivationLayer.forward(x, activation)
                values[node.name] = y
                caches[index] = .activation(z: x, y: y)
            case .concat:
                values[node.name] = Tensor.concatenatingColumns(node.inputs.map { values[$0]! })
            case .add:
                values[node.name] = node.inputs.dropFirst().reduce(x) { $0.zipped(with: values[$1]!, +) }
            }
        }
        return Pass(values: values, caches: caches)
    }

    /// The output values of a pass, by output name.
    public func outputs(of pass: Pass) -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: graph.outputs.map { ($0.name, pass.values[$0.node]!) })
    }

    /// Gradients of every parameter ("node/weights", "node/bias", "node/gamma", "node/beta").
    public func backward(_ pass: Pass, outputGradients: [String: OutputGradient]) -> [String: Tensor] {
        var valueGradients: [String: Tensor] = [:]
        var logitGradients: [String: Tensor] = [:]
        func accumulate(_ gradient: Tensor, into name: String) {
            valueGradients[name] = valueGradients[name].map { $0.zipped(with: gradient, +) } ?? gradient
        }
        for output in graph.outputs {
            switch outputGradients[output.name] {
            case .value(let gradient)?: accumulate(gradient, into: output.node)
            case .logits(let gradient)?: logitGradients[output.node] = gradient
            case nil: break
            }
        }
        var parameterGradients: [String: Tensor] = [:]
        for index in order.reversed() {
            let node = graph.nodes[index]
            let dy = valueGradients[node.name]
            let dLogits = logitGradients[node.name]
            guard dy != nil || dLogits != nil else { continue }
            switch (node.operation, pass.caches[index]) {
            case (.dense, .dense(let cache)?), (.sharedDense, .dense(let cache)?):
                let dense = denseParameters(of: node)
                let owner = if case .sharedDense(let owner) = node.operation { owner } else { node.name }
                var dz = dy.map { ActivationLayer.backward($0, z: cache.preActivation, y: cache.output, dense.activation) }
                if let dLogits { dz = dz.map { $0.zipped(with: dLogits, +) } ?? dLogits }
                // No gradient flows into graph inputs, so their dx (a third of the layer's work) is skipped.
                let needsInputGradient = !graph.inputs.contains { $0.name == node.inputs[0] }
                let (dx, dWeights, dBias) = DenseLayer.backward(dz: dz!, cache: cache, weights: dense.weights,
                                                                inputGradient: needsInputGradient)
                // A shared dense adds its gradients to its owner's: one set of weights, two uses.
                for (key, gradient) in [("\(owner)/weights", dWeights), ("\(owner)/bias", dBias)] {
                    parameterGradients[key] = parameterGradients[key].map { $0.zipped(with: gradient, +) } ?? gradient
                }
                if let dx { accumulate(dx, into: node.inputs[0]) }
            case (.batchNorm(let norm), .batchNorm(let cache)?):
                let (dx, dGamma, dBeta) = BatchNormLayer.backward(dy!, cache: cache, norm)
                parameterGradients["\(node.name)/gamma"] = dGamma
                parameterGradients["\(node.name)/beta"] = dBeta
                accumulate(dx, into: node.inputs[0])
            case (.batchNorm(let norm), nil):
                // A frozen batch norm ran on its moving statistics: an affine map per feature.
                accumulate(BatchNormLayer.backwardInference(dy!, norm), into: node.inputs[0])
            case (.dropout, .dropout(let cache)?), (.alphaDropout, .dropout(let cache)?):
                accumulate(DropoutLayer.backward(dy!, cache: cache), into: node.inputs[0])
            case (.dropout, nil), (.alphaDropout, nil):
                accumulate(dy!, into: node.inputs[0])
            case (.activation(let activation), .activation(let z, let y)?):
                var dz = dy.map { ActivationLayer.backward($0, z: z, y: y, activation) }
                if let dLogits { dz = dz.map { $0.zipped(with: dLogits, +) } ?? dLogits }
                accumulate(dz!, into: node.inputs[0])
            case (.concat, _):
                var start = 0
                for input in node.inputs {
                    let width = pass.values[input]!.columns
                    accumulate(dy!.columnSlice(start, width: width), into: input)
                    start += width
                }
            case (.add, _):
                for input in node.inputs { accumulate(dy!, into: input) }
            default:
                preconditionFailure("node '\(node.name)' has no cache from a training pass")
            }
        }
        return parameterGradients
    }

    /// The Dense parameters a dense or shared-dense node applies.
    func denseParameters(of node: Node) -> DenseParameters {
        switch node.operation {
        case .dense(let dense): return dense
        case .sharedDense(let owner):
            guard case .dense(let dense)? = graph.node(named: owner)?.operation else { preconditionFailure("validated graph") }
            return dense
        default: preconditionFailure("'\(node.name)' is not a dense node")
        }
    }

    /// Names of the trainable parameters, in graph order.
    public var parameterNames: [String] {
        graph.nodes.flatMap { node -> [String] in
            switch node.operation {
            case .dense: ["\(node.name)/weights", "\(node.name)/bias"]
            case .batchNorm: ["\(node.name)/gamma", "\(node.name)/beta"]
            default: []
            }
        }
    }

    /// Calls `update` on every trainable parameter in place.
    ///
    /// Each node's operation is swapped out of the graph and its payload taken out of the enum
    /// (the enum set to a placeholder) while its parameters are updated, so the tensors are
    /// uniquely referenced and the update writes in place. A `switch` over the operation keeps
    /// the matched value alive through the case (measured: the weights were shared in every
    /// update), so each step copied every weight tensor first — 0.9 MB for M2's first layer.
    public mutating func updateParameters(_ update: (String, inout Tensor) -> Void) {
        for index in graph.nodes.indices {
            let name = graph.nodes[index].name
            var operation = NodeOperation.concat
            swap(&operation, &graph.nodes[index].operation)
            if case .dense(var dense) = operation {
                operation = .concat
                update("\(name)/weights", &dense.weights)
                update("\(name)/bias", &dense.bias)
                operation = .dense(dense)
            } else if case .batchNorm(var norm) = operation {
                operation = .concat
                update("\(name)/gamma", &norm.gamma)
                update("\(name)/beta", &norm.beta)
                operation = .batchNorm(norm)
            }
            swap(&operation, &graph.nodes[index].operation)
        }
    }

    static func standardized(_ x: Tensor, _ standardization: Standardization?) -> Tensor {
        guard let standardization else { return x }
        let width = x.columns
        var result = x
        result.withUnsafeMutableBufferPointer { values in
            for index in values.indices {
                let j = index % width
                values[index] = (values[index] - standardization.mean[j]) / standardization.std[j]
            }
        }
        return result
    }
}

extension TrainingGraph {
    /// The logits behind an output that ends in softmax or sigmoid (for fused cross-entropy),
    /// or nil when the node's value is itself the logits.
    func logits(of nodeName: String, in pass: Pass) -> Tensor? {
        guard let index = graph.nodes.firstIndex(where: { $0.name == nodeName }) else { return nil }
        switch (graph.nodes[index].operation, pass.caches[index]) {
        case (.dense, .dense(let cache)?), (.sharedDense, .dense(let cache)?):
            let activation = denseParameters(of: graph.nodes[index]).activation
            return activation == .softmax || activation == .sigmoid ? cache.preActivation : nil
        case (.activation(let activation), .activation(let z, _)?) where activation == .softmax || activation == .sigmoid:
            return z
        default:
            return nil
        }
    }
}
