import NNCore

/// Builds the training graph of a spec: widths from the data, weights from the initializer
/// that suits each activation (or the one named), seeded by the run's seed.
public enum ModelFactory {
    /// Per-parameter L1/L2 penalties ("node/weights" → (l1, l2)).
    public typealias Regularization = [String: (l1: Float, l2: Float)]

    /// The penalties a spec's layers ask for.
    public static func regularization(_ spec: ModelSpec) -> Regularization {
        var result: Regularization = [:]
        for layer in spec.layers where layer.type == .dense && (layer.l1 != nil || layer.l2 != nil) {
            result["\(layer.name)/weights"] = (layer.l1 ?? 0, layer.l2 ?? 0)
        }
        return result
    }

    /// The most parameters a model file may ask for (400 MB of float32 weights). nntrain trains
    /// small networks on the CPU; a typo in 'units' should be an error naming the layer, not an
    /// allocation that takes the machine down (found by fuzzing: units ≈ 10^18).
    public static let maxParameters = 100_000_000

    public static func graph(_ spec: ModelSpec, inputs: [GraphInput], seed: UInt64, file: String,
                             warn: (String) -> Void = { _ in }) throws(DataError) -> (Graph, Regularization) {
        try spec.checkNamesAreUnique(file: file)
        var widths: [String: Int] = [:]
        for input in inputs where widths.updateValue(input.width, forKey: input.name) != nil {
            throw .invalidModel(file: file, detail: "the name '\(input.name)' is used by more than one input")
        }
        var nodes: [Node] = []
        var parameters = 0
        var seluLayers: Set<String> = []
        for (index, layer) in spec.layers.enumerated() {
            func fail(_ detail: String) -> DataError { .invalidModel(file: file, detail: "layer '\(layer.name)': \(detail)") }
            var inputWidths: [Int] = []
            for input in layer.inputs {
                guard let width = widths[input] else { throw fail("reads '\(input)', which is not an input or an earlier layer") }
                inputWidths.append(width)
            }
            guard !inputWidths.isEmpty else { throw fail("has no inputs") }
            let activation: Activation
            if let name = layer.activation {
                var parsed: Activation
                do { parsed = try Activation.named(name) } catch { throw fail(error.description) }
                if let alpha = layer.alpha {
                    if case .leakyRelu = parsed { parsed = .leakyRelu(alpha: alpha) }
                    if case .elu = parsed { parsed = .elu(alpha: alpha) }
                }
                activation = parsed
            } else {
                activation = .linear
            }
            let operation: NodeOperation
            switch layer.type {
            case .dense:
                guard let units = layer.units, units > 0 else { throw fail("dense needs a positive 'units'") }
                let (count, overflow) = (inputWidths[0] + 1).multipliedReportingOverflow(by: units)
                guard !overflow, parameters + count <= maxParameters else {
                    throw fail("\(inputWidths[0]) inputs × \(units) units would take the model past \(maxParameters) parameters")
                }
                parameters += count
                let initializer = layer.initializer ?? .suited(to: activation)
                var rng = CounterRNG(seed: seed, stream: CounterRNG.stream(epoch: 0xF_FFFF, step: 0, layer: index))
                let weights = initializer.kernel(fanIn: inputWidths[0], fanOut: units, rng: &rng)
                operation = .dense(DenseParameters(weights: weights, bias: Tensor(zeros: [units]), activation: activation))
            case .batchNorm:
                operation = .batchNorm(BatchNorm(width: inputWidths[0], epsilon: layer.epsilon ?? BatchNorm.defaultEpsilon,
                                                 momentum: layer.momentum ?? BatchNorm.defaultMomentum))
            case .dropout: operation = .dropout(rate: layer.rate ?? 0.5)
            case .alphaDropout: operation = .alphaDropout(rate: layer.rate ?? 0.1)
            case .activation: operation = .activation(activation)
            case .softmax: operation = .activation(.softmax)
            case .sharedDense:
                guard let owner = layer.shares else { throw fail("shared_dense needs 'shares': the dense layer whose weights it uses") }
                operation = .sharedDense(of: owner)
            case .concat: operation = .concat
            case .add: operation = .add
            }
            if activation == .selu || layer.type == .alphaDropout {
                for input in inputs where layer.inputs.contains(input.name) && input.standardization == nil {
                    warn("layer '\(layer.name)' uses selu on input '\(input.name)', which is not standardized: self-normalization needs inputs with mean 0 and variance 1")
                }
            }
            // SELU keeps mean 0 and variance 1 only with LeCun's initial variance (1/fan-in) and a
            // dropout that keeps them too (alpha_dropout); he_normal doubles the variance.
            if activation == .selu {
                seluLayers.insert(layer.name)
                if let initializer = layer.initializer, ![.lecunNormal, .lecunUniform].contains(initializer) {
                    warn("layer '\(layer.name)' uses selu with \(initializer) init: self-normalization needs LeCun's variance, lecun_normal (the default for selu) or lecun_uniform")
                }
            }
            if layer.type == .dropout, let source = layer.inputs.first(where: seluLayers.contains) {
                warn("layer '\(layer.name)' is dropout after the selu layer '\(source)': plain dropout breaks self-normalization; use \"type\": \"alpha_dropout\"")
            }
            if layer.type == .alphaDropout || layer.type == .dropout, layer.inputs.contains(where: seluLayers.contains) { seluLayers.insert(layer.name) }
            let node = Node(name: layer.name, operation: operation, inputs: layer.inputs)
            nodes.append(node)
            let graphSoFar = Graph(inputs: inputs, nodes: nodes, outputs: [GraphOutput(name: "_", node: layer.name)])
            do {
                widths = try graphSoFar.validate().widths
            } catch {
                throw .invalidModel(file: file, detail: "\(error)")
            }
        }
        let graph = Graph(inputs: inputs, nodes: nodes, outputs: spec.outputs.map { GraphOutput(name: $0.name, node: $0.node) })
        do { _ = try graph.validate() } catch { throw .invalidModel(file: file, detail: "\(error)") }
        return (graph, regularization(spec))
    }
}
