import NNCore

/// Random valid graphs for property tests: every operation, every activation, widths
/// 1-300, 1-6 layers of work, one or two inputs, one to three outputs.
public enum RandomGraphs {
    public static func make(seed: UInt64, maxWidth: Int = 300) -> Graph {
        var rng = CounterRNG(seed: seed, stream: 0xA11)
        func below(_ bound: Int) -> Int { Int(rng.nextWord() % UInt32(bound)) }
        func width() -> Int { below(4) == 0 ? 1 + below(8) : 1 + below(maxWidth) }
        func activation() -> Activation { Activation.allDefaults[below(Activation.allDefaults.count)] }

        var inputs: [GraphInput] = []
        for index in 0..<(1 + below(2)) {
            let inputWidth = width()
            let standardization = below(2) == 0 ? nil : Standardization(
                mean: (0..<inputWidth).map { _ in rng.nextUniform() * 2 - 1 },
                std: (0..<inputWidth).map { _ in 0.5 + rng.nextUniform() * 2 })
            inputs.append(GraphInput(name: "in\(index)", width: inputWidth, standardization: standardization))
        }
        var available: [(name: String, width: Int)] = inputs.map { ($0.name, $0.width) }
        var nodes: [Node] = []
        var counter = 0
        func fresh(_ kind: String) -> String {
            counter += 1
            return "\(kind)\(counter)"
        }
        func pick() -> (name: String, width: Int) {
            // Prefer recent values so graphs get deep, but reach back for skips and wide paths.
            below(3) == 0 ? available[below(available.count)] : available[available.count - 1 - below(min(2, available.count))]
        }
        func addDense(from source: (name: String, width: Int), width outputWidth: Int, activation: Activation) -> (String, Int) {
            let name = fresh("dense")
            nodes.append(GraphFixtures.dense(name, from: source.name, source.width, outputWidth, activation: activation, rng: &rng))
            return (name, outputWidth)
        }

        for _ in 0..<(1 + below(6)) {
            let source = pick()
            switch below(8) {
            case 0, 1:
                available.append(addDense(from: source, width: width(), activation: activation()))
            case 2:
                let dense = addDense(from: source, width: width(), activation: .linear)
                let name = fresh("bn")
                nodes.append(GraphFixtures.batchNorm(name, from: dense.0, width: dense.1, rng: &rng))
                available.append((name, dense.1))
                if below(2) == 0 {
                    let act = fresh("act")
                    nodes.append(Node(name: act, operation: .activation(activation()), inputs: [name]))
                    available.append((act, dense.1))
                }
            case 3:
                let name = fresh("bn")
                nodes.append(GraphFixtures.batchNorm(name, from: source.name, width: source.width, rng: &rng))
                available.append((name, source.width))
            case 4:
                let name = fresh("drop")
                let rate = Float(below(5)) / 10
                nodes.append(Node(name: name, operation: below(2) == 0 ? .dropout(rate: rate) : .alphaDropout(rate: rate),
                                  inputs: [source.name]))
                available.append((name, source.width))
            case 5:
                let name = fresh(below(3) == 0 ? "softmax" : "act")
                nodes.append(Node(name: name, operation: name.hasPrefix("softmax") ? .activation(.softmax) : .activation(activation()),
                                  inputs: [source.name]))
                available.append((name, source.width))
            case 6:
                let other = pick()
                let parts = below(2) == 0 ? [source, other] : [source, other, available[below(available.count)]]
                let name = fresh("concat")
                nodes.append(Node(name: name, operation: .concat, inputs: parts.map(\.name)))
                available.append((name, parts.reduce(0) { $0 + $1.width }))
            default:
                let branch = addDense(from: pick(), width: source.width, activation: activation())
                let name = fresh("add")
                nodes.append(Node(name: name, operation: .add, inputs: below(2) == 0 ? [branch.0, source.name] : [source.name, branch.0]))
                available.append((name, source.width))
            }
        }
        let produced = available.filter { candidate in nodes.contains { $0.name == candidate.name } }
        var outputs = [GraphOutput(name: "out0", node: produced.last?.name ?? available[0].name)]
        for index in 1..<(1 + below(3)) where !produced.isEmpty {
            outputs.append(GraphOutput(name: "out\(index)", node: produced[below(produced.count)].name))
        }
        return Graph(inputs: inputs, nodes: nodes, outputs: outputs)
    }
}
