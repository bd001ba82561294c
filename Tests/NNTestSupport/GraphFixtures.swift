import NNCore

/// Small graphs with seeded random weights, shared by the test targets.
public enum GraphFixtures {
    /// A Dense node with He-normal weights and small random biases.
    public static func dense(_ name: String, from input: String, _ fanIn: Int, _ fanOut: Int,
                             activation: Activation = .relu, rng: inout CounterRNG) -> Node {
        let weights = Initializer.heNormal.kernel(fanIn: fanIn, fanOut: fanOut, rng: &rng)
        let bias = Tensor((0..<fanOut).map { _ in (rng.nextUniform() - 0.5) * 0.2 })
        return Node(name: name, operation: .dense(DenseParameters(weights: weights, bias: bias, activation: activation)), inputs: [input])
    }

    /// Batch norm with non-trivial statistics, as after training.
    public static func batchNorm(_ name: String, from input: String, width: Int, rng: inout CounterRNG) -> Node {
        func vector(_ low: Float, _ high: Float) -> Tensor {
            Tensor((0..<width).map { _ in low + (high - low) * rng.nextUniform() })
        }
        let norm = BatchNorm(gamma: vector(0.5, 1.5), beta: vector(-0.3, 0.3), movingMean: vector(-1, 1),
                             movingVariance: vector(0.2, 2))
        return Node(name: name, operation: .batchNorm(norm), inputs: [input])
    }

    /// An MLP `widths[0] -> widths[1] -> … ` with relu hidden layers and a linear output.
    public static func mlp(_ widths: [Int], seed: UInt64 = 1) -> Graph {
        var rng = CounterRNG(seed: seed)
        var nodes: [Node] = []
        var previous = "x"
        for layer in 1..<widths.count {
            let name = "dense\(layer)"
            nodes.append(dense(name, from: previous, widths[layer - 1], widths[layer],
                               activation: layer == widths.count - 1 ? .linear : .relu, rng: &rng))
            previous = name
        }
        return Graph(inputs: [GraphInput(name: "x", width: widths[0])], nodes: nodes,
                     outputs: [GraphOutput(name: "y", node: previous)])
    }

    /// Wide & deep with batch norm, dropout and standardized inputs: the M4 shape of the anchors
    /// (input → dense/relu → bn → dropout, twice; Dense(1) over concat(input, deep)), plus a
    /// residual add and a second softmax head so every operation appears.
    public static func wideAndDeep(inputWidth: Int = 64, hidden: Int = 256, seed: UInt64 = 2) -> Graph {
        var rng = CounterRNG(seed: seed)
        let standardization = Standardization(mean: (0..<inputWidth).map { _ in rng.nextUniform() * 4 - 2 },
                                              std: (0..<inputWidth).map { _ in 0.5 + rng.nextUniform() * 2 })
        let input = GraphInput(name: "features", width: inputWidth,
                               featureNames: (0..<inputWidth).map { "f\($0)" }, standardization: standardization)
        let nodes: [Node] = [
            dense("deep1", from: "features", inputWidth, hidden, rng: &rng),
            batchNorm("bn1", from: "deep1", width: hidden, rng: &rng),
            Node(name: "drop1", operation: .dropout(rate: 0.2), inputs: ["bn1"]),
            dense("deep2", from: "drop1", hidden, hidden, rng: &rng),
            batchNorm("bn2", from: "deep2", width: hidden, rng: &rng),
            Node(name: "residual", operation: .add, inputs: ["bn2", "drop1"]),
            Node(name: "wide_and_deep", operation: .concat, inputs: ["features", "residual"]),
            dense("price", from: "wide_and_deep", inputWidth + hidden, 1, activation: .linear, rng: &rng),
            dense("class_logits", from: "residual", hidden, 3, activation: .linear, rng: &rng),
            Node(name: "class_probs", operation: .activation(.softmax), inputs: ["class_logits"]),
        ]
        return Graph(inputs: [input], nodes: nodes,
                     outputs: [GraphOutput(name: "price", node: "price"), GraphOutput(name: "class", node: "class_probs")])
    }

    /// A [rows, width] tensor of uniform values in [-scale, scale).
    public static func randomBatch(rows: Int, width: Int, scale: Float = 2, seed: UInt64 = 3) -> Tensor {
        var rng = CounterRNG(seed: seed, stream: 99)
        return Tensor(shape: [rows, width], values: (0..<rows * width).map { _ in (rng.nextUniform() * 2 - 1) * scale })
    }
}
