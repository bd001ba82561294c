import NNCore
@testable import NNTrain
import NNTestSupport
import XCTest

/// Every layer, activation and loss: analytic gradients against central finite differences,
/// in training mode (batch statistics, dropout masks fixed by the step's stream).
final class GradientCheckTests: XCTestCase {
    private let mode = TrainingGraph.Mode.training(seed: 3, epoch: 1, step: 2)

    /// L = Σ output ⊙ probe (plus the head's loss when given), in Double.
    private func loss(_ graph: TrainingGraph, _ inputs: [String: Tensor], probe: Tensor) -> Double {
        var copy = graph
        let output = copy.outputs(of: copy.forward(inputs, mode: mode))["y"]!
        return zip(output.scalars, probe.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }

    private func check(_ graph: Graph, inputWidth: Int, rows: Int = 6, file: StaticString = #filePath, line: UInt = #line) throws {
        var training = try TrainingGraph(graph)
        let inputs = ["x": GraphFixtures.randomBatch(rows: rows, width: inputWidth, seed: 21)]
        let outputWidth = training.outputs(of: training.forward(inputs, mode: mode))["y"]!.columns
        let probe = GraphFixtures.randomBatch(rows: rows, width: outputWidth, scale: 1, seed: 22)
        let base = try TrainingGraph(graph)
        var pass = base
        let gradients = pass.backward(pass.forward(inputs, mode: mode), outputGradients: ["y": .value(probe)])
        var rng = CounterRNG(seed: 8)
        for name in base.parameterNames {
            let analytic = gradients[name]!
            for _ in 0..<6 {
                let index = Int(rng.nextWord() % UInt32(analytic.count))
                let step: Float = 1e-2
                var plus = base, minus = base
                plus.updateParameters { key, tensor in if key == name { tensor[index] += step } }
                minus.updateParameters { key, tensor in if key == name { tensor[index] -= step } }
                let numeric = (loss(plus, inputs, probe: probe) - loss(minus, inputs, probe: probe)) / Double(2 * step)
                let expected = Double(analytic[index])
                XCTAssertEqual(expected, numeric, accuracy: 2e-2 * max(abs(numeric), abs(expected)) + 2e-3,
                               "\(name)[\(index)]", file: file, line: line)
            }
        }
    }

    private func graph(_ nodes: [Node], inputWidth: Int, output: String) -> Graph {
        Graph(inputs: [GraphInput(name: "x", width: inputWidth)], nodes: nodes, outputs: [GraphOutput(name: "y", node: output)])
    }

    func testDenseWithEveryActivation() throws {
        for activation in Activation.allDefaults {
            var rng = CounterRNG(seed: 1)
            try check(graph([GraphFixtures.dense("d", from: "x", 5, 4, activation: activation, rng: &rng)], inputWidth: 5, output: "d"),
                      inputWidth: 5)
        }
    }

    func testActivationAndSoftmaxNodes() throws {
        for operation in Activation.allDefaults.map(NodeOperation.activation) {
            var rng = CounterRNG(seed: 2)
            try check(graph([GraphFixtures.dense("d", from: "x", 4, 5, activation: .linear, rng: &rng),
                             Node(name: "a", operation: operation, inputs: ["d"])], inputWidth: 4, output: "a"), inputWidth: 4)
        }
    }

    func testBatchNormInTrainingMode() throws {
        var rng = CounterRNG(seed: 3)
        try check(graph([GraphFixtures.dense("d", from: "x", 4, 5, activation: .tanh, rng: &rng),
                         GraphFixtures.batchNorm("bn", from: "d", width: 5, rng: &rng),
                         GraphFixtures.dense("out", from: "bn", 5, 3, activation: .linear, rng: &rng)], inputWidth: 4, output: "out"),
                  inputWidth: 4, rows: 8)
    }

    func testDropoutAndAlphaDropout() throws {
        for operation in [NodeOperation.dropout(rate: 0.3), .alphaDropout(rate: 0.2)] {
            var rng = CounterRNG(seed: 4)
            try check(graph([GraphFixtures.dense("d", from: "x", 4, 6, activation: .selu, rng: &rng),
                             Node(name: "drop", operation: operation, inputs: ["d"]),
                             GraphFixtures.dense("out", from: "drop", 6, 2, activation: .linear, rng: &rng)], inputWidth: 4, output: "out"),
                      inputWidth: 4)
        }
    }

    func testConcatAndAdd() throws {
        var rng = CounterRNG(seed: 5)
        try check(graph([GraphFixtures.dense("a", from: "x", 4, 3, activation: .relu, rng: &rng),
                         GraphFixtures.dense("b", from: "a", 3, 3, activation: .elu(alpha: 1), rng: &rng),
                         Node(name: "sum", operation: .add, inputs: ["a", "b"]),
                         Node(name: "cat", operation: .concat, inputs: ["x", "sum", "a"]),
                         GraphFixtures.dense("out", from: "cat", 10, 2, activation: .linear, rng: &rng)], inputWidth: 4, output: "out"),
                  inputWidth: 4)
    }

    func testSharedDenseAccumulatesBothUses() throws {
        var rng = CounterRNG(seed: 6)
        try check(graph([GraphFixtures.dense("a", from: "x", 4, 4, activation: .tanh, rng: &rng),
                         GraphFixtures.dense("enc", from: "x", 4, 3, activation: .elu(alpha: 1), rng: &rng),
                         Node(name: "enc_again", operation: .sharedDense(of: "enc"), inputs: ["a"]),
                         Node(name: "pair", operation: .concat, inputs: ["enc", "enc_again"]),
                         GraphFixtures.dense("out", from: "pair", 6, 2, activation: .linear, rng: &rng)], inputWidth: 4, output: "out"),
                  inputWidth: 4)
    }

    func testEveryLossGradient() {
        let prediction = GraphFixtures.randomBatch(rows: 5, width: 4, scale: 2, seed: 31)
        let dense = GraphFixtures.randomBatch(rows: 5, width: 4, scale: 2, seed: 32)
        let probabilities = Tensor(shape: [5, 4], values: (0..<5).flatMap { row in Activation.softmax(row: (0..<4).map { Double(dense[row, $0]) }).map(Float.init) })
        let cases: [(Loss, Tensor)] = [
            (.mse, dense), (.mae, dense), (.huber(delta: 1), dense), (.huber(delta: 0.3), dense),
            (.binaryCrossEntropy, probabilities.mapped { $0 > 0.25 ? 1 : 0 }),
            (.categoricalCrossEntropy, probabilities),
            (.sparseCategoricalCrossEntropy, Tensor(shape: [5, 1], values: [0, 3, 1, 2, 3])),
            (.contrastive(margin: 3), Tensor(shape: [5, 1], values: [1, 0, 0, 1, 0])),
        ]
        for (loss, target) in cases {
            let gradient = loss.evaluate(prediction, target: target).gradient
            for index in 0..<prediction.count {
                let step: Float = 1e-3
                var plus = prediction, minus = prediction
                plus[index] += step
                minus[index] -= step
                let numeric = (loss.evaluate(plus, target: target).value - loss.evaluate(minus, target: target).value) / Double(2 * step)
                XCTAssertEqual(Double(gradient[index]), numeric, accuracy: 1e-2 * abs(numeric) + 1e-3, "\(loss) at \(index)")
            }
        }
    }

    func testHuberOracle() {
        let huber = Loss.huber(delta: 1)
        XCTAssertEqual(huber.evaluate(Tensor(shape: [1, 1], values: [0.5]), target: Tensor(shape: [1, 1], values: [0])).value, 0.125)
        XCTAssertEqual(huber.evaluate(Tensor(shape: [1, 1], values: [2]), target: Tensor(shape: [1, 1], values: [0])).value, 1.5)
        XCTAssertEqual(huber.evaluate(Tensor(shape: [1, 1], values: [1]), target: Tensor(shape: [1, 1], values: [0])).value, 0.5)
        XCTAssertEqual(huber.evaluate(Tensor(shape: [1, 1], values: [-3]), target: Tensor(shape: [1, 1], values: [0])).gradient[0], -1)
    }

    func testCrossEntropyIsStableForHugeLogits() {
        let (value, gradient) = Loss.sparseCategoricalCrossEntropy.evaluate(Tensor(shape: [1, 3], values: [1000, -1000, 0]),
                                                                             target: Tensor(shape: [1, 1], values: [1]))
        XCTAssertEqual(value, 2000, accuracy: 1e-6)
        XCTAssertTrue(gradient.scalars.allSatisfy(\.isFinite))
        let binary = Loss.binaryCrossEntropy.evaluate(Tensor(shape: [1, 1], values: [-500]), target: Tensor(shape: [1, 1], values: [1]))
        XCTAssertEqual(binary.value, 500, accuracy: 1e-6)
    }

    func testBatchNormMovingAverageOracle() throws {
        // Constant batches with mean m from init 0: moving_mean = m·(1 - 0.99^k).
        var training = try TrainingGraph(graph([Node(name: "bn", operation: .batchNorm(BatchNorm(width: 2)), inputs: ["x"])],
                                               inputWidth: 2, output: "bn"))
        let batch = Tensor(shape: [4, 2], values: [3, -1, 3, -1, 3, -1, 3, -1])
        for _ in 0..<5 { _ = training.forward(["x": batch], mode: mode) }
        guard case .batchNorm(let norm) = training.graph.nodes[0].operation else { return XCTFail("not batch norm") }
        XCTAssertEqual(Double(norm.movingMean[0]), 3 * (1 - pow(0.99, 5)), accuracy: 1e-5)
        XCTAssertEqual(Double(norm.movingMean[1]), -1 * (1 - pow(0.99, 5)), accuracy: 1e-5)
        XCTAssertEqual(Double(norm.movingVariance[0]), pow(0.99, 5), accuracy: 1e-5, "variance decays from 1 toward 0")
    }
}
