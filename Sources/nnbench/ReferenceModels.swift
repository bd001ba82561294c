import NNCore

/// The reference models of bench/anchors/models.py (float32, relu hidden layers).
enum ReferenceModel: String, CaseIterable {
    case m1 = "M1"
    case m2 = "M2"
    case m3 = "M3"
    case m4 = "M4"

    var summary: String {
        switch self {
        case .m1: "8-30-30-1"
        case .m2: "784-300-100-10 softmax"
        case .m3: "256-1024-1024-1024-16"
        case .m4: "wide & deep 64 / 64-256-256 BN / concat-1"
        }
    }

    /// (k, n) of every matrix product, for the GEMM floor.
    var layerShapes: [(k: Int, n: Int)] {
        switch self {
        case .m1: [(8, 30), (30, 30), (30, 1)]
        case .m2: [(784, 300), (300, 100), (100, 10)]
        case .m3: [(256, 1024), (1024, 1024), (1024, 1024), (1024, 16)]
        case .m4: [(64, 256), (256, 256), (320, 1)]
        }
    }

    var inputWidth: Int { layerShapes[0].k }

    /// The graph with seeded random weights (He-normal, small biases; random BN statistics
    /// so folding is exercised on non-trivial values, as in the anchors).
    func graph(seed: UInt64 = 1234) -> Graph {
        var rng = CounterRNG(seed: seed)
        func dense(_ name: String, _ input: String, _ k: Int, _ n: Int, _ activation: Activation) -> Node {
            let weights = Initializer.heNormal.kernel(fanIn: k, fanOut: n, rng: &rng)
            let bias = Tensor((0..<n).map { _ in (rng.nextUniform() - 0.5) * 0.1 })
            return Node(name: name, operation: .dense(DenseParameters(weights: weights, bias: bias, activation: activation)), inputs: [input])
        }
        func batchNorm(_ name: String, _ input: String, _ width: Int) -> Node {
            func vector(_ low: Float, _ high: Float) -> Tensor { Tensor((0..<width).map { _ in low + (high - low) * rng.nextUniform() }) }
            return Node(name: name, operation: .batchNorm(BatchNorm(gamma: vector(0.5, 1.5), beta: vector(-0.2, 0.2),
                                                                   movingMean: vector(0, 1), movingVariance: vector(0.5, 2))),
                        inputs: [input])
        }
        let input = GraphInput(name: "x", width: inputWidth)
        switch self {
        case .m1, .m2, .m3:
            var nodes: [Node] = []
            var previous = "x"
            for (index, shape) in layerShapes.enumerated() {
                let last = index == layerShapes.count - 1
                nodes.append(dense("dense\(index + 1)", previous, shape.k, shape.n, last ? (self == .m2 ? .softmax : .linear) : .relu))
                previous = "dense\(index + 1)"
            }
            return Graph(inputs: [input], nodes: nodes, outputs: [GraphOutput(name: "y", node: previous)])
        case .m4:
            let nodes = [
                dense("deep1", "x", 64, 256, .relu), batchNorm("bn1", "deep1", 256),
                Node(name: "drop1", operation: .dropout(rate: 0.2), inputs: ["bn1"]),
                dense("deep2", "drop1", 256, 256, .relu), batchNorm("bn2", "deep2", 256),
                Node(name: "drop2", operation: .dropout(rate: 0.2), inputs: ["bn2"]),
                Node(name: "wide_deep", operation: .concat, inputs: ["x", "drop2"]),
                dense("out", "wide_deep", 320, 1, .linear),
            ]
            return Graph(inputs: [input], nodes: nodes, outputs: [GraphOutput(name: "y", node: "out")])
        }
    }
}
