import NNCore
@testable import NNTrain
import XCTest

/// Diagnostics on hand-built weights whose answers are known.
final class DiagnosticsTests: XCTestCase {
    private func dense(_ weights: [Float], _ bias: [Float], in k: Int, _ activation: Activation) -> NodeOperation {
        .dense(DenseParameters(weights: Tensor(shape: [k, bias.count], values: weights), bias: Tensor(bias), activation: activation))
    }

    func testDeadSaturatedAndCollapsedUnitsAreCountedAndAdvised() throws {
        // Inputs are positive. h (relu): unit 0 = -(x0 + x1) - 1 < 0 always (dead), units 1 and
        // 2 positive. t (tanh): 100·x0 saturates, 0.001·x1 does not. y: zero weights, a constant.
        let graph = Graph(
            inputs: [GraphInput(name: "x", width: 2)],
            nodes: [Node(name: "h", operation: dense([-1, 1, 2, -1, 1, 0], [-1, 0, 0], in: 2, .relu), inputs: ["x"]),
                    Node(name: "t", operation: dense([100, 0, 0, 0.001], [0, 0], in: 2, .tanh), inputs: ["x"]),
                    Node(name: "y", operation: dense([0, 0, 0], [0.5], in: 3, .linear), inputs: ["h"])],
            outputs: [GraphOutput(name: "y", node: "y"), GraphOutput(name: "t", node: "t")])
        let rows: [Float] = [1, 2, 2, 1, 3, 3, 0.5, 4]
        let report = Diagnostics.diagnose(graph, inputs: ["x": Tensor(shape: [4, 2], values: rows)])
        XCTAssertEqual(report.rows, 4)
        let h = try XCTUnwrap(report.layers.first { $0.name == "h" })
        XCTAssertEqual(h.deadUnits, 1)
        XCTAssertEqual(h.units, 3)
        // h = [0, x0 + x1, 2·x0]: rows (1,2) → [0,3,2], (2,1) → [0,3,4], (3,3) → [0,6,6], (0.5,4) → [0,4.5,1].
        let values: [Double] = [0, 3, 2, 0, 3, 4, 0, 6, 6, 0, 4.5, 1]
        let mean = values.reduce(0, +) / 12
        XCTAssertEqual(h.mean, mean, accuracy: 1e-6)
        XCTAssertEqual(h.standardDeviation, (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 12).squareRoot(), accuracy: 1e-5)
        XCTAssertEqual(h.weightNorm ?? 0, Double(1 + 1 + 4 + 1 + 1).squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(report.layers.first { $0.name == "t" }?.saturatedUnits, 1)
        XCTAssertEqual(report.collapsedOutputs, ["y"])
        XCTAssertEqual(report.findings.count, 3, report.findings.joined(separator: "\n"))
        guard report.findings.count == 3 else { return }
        XCTAssertTrue(report.findings[0].hasPrefix("h: 33% of relu units dead (1 of 3, zero on every row)"), report.findings[0])
        XCTAssertTrue(report.findings[1].hasPrefix("t: 50% of tanh units saturated"), report.findings[1])
        XCTAssertTrue(report.findings[2].hasPrefix("output 'y' is the same for every row"), report.findings[2])
    }

    func testSeluLayersAreCheckedForSelfNormalization() {
        // Identity weights. A ±1 sample stays near the fixed point (selu(1) = 1.051,
        // selu(-1) = -1.111: mean -0.03, std 1.08): nothing to say. A ±2 sample does not
        // (2.101 and -1.520: mean 0.29, std 1.81): reported.
        let graph = Graph(inputs: [GraphInput(name: "x", width: 1)],
                          nodes: [Node(name: "s", operation: dense([1], [0], in: 1, .selu), inputs: ["x"])],
                          outputs: [GraphOutput(name: "s", node: "s")])
        let calm = Diagnostics.diagnose(graph, inputs: ["x": Tensor(shape: [4, 1], values: [1, -1, 1, -1])])
        XCTAssertEqual(calm.findings, [])
        XCTAssertEqual(calm.layers[0].mean, (1.0507 - 1.1113) / 2, accuracy: 1e-3)
        let wide = Diagnostics.diagnose(graph, inputs: ["x": Tensor(shape: [4, 1], values: [2, -2, 2, -2])])
        XCTAssertEqual(wide.findings.count, 1)
        XCTAssertTrue(wide.findings.first?.hasPrefix("s: selu output has mean 0.29, std 1.81") ?? false, "\(wide.findings)")
    }

    func testGradientNormsAreReportedAndJudgedAgainstTheWeights() throws {
        // Two dense layers with weight norms 5 (3-4-0-0) and 1. Gradients: a's is 3e-4 of its
        // weights' norm, b's 2 times: a is 6,667× less lively (vanishing); then b is made to
        // explode (20 times its weights).
        let graph = Graph(inputs: [GraphInput(name: "x", width: 2)],
                          nodes: [Node(name: "a", operation: dense([3, 4, 0, 0], [0, 0], in: 2, .tanh), inputs: ["x"]),
                                  Node(name: "b", operation: dense([1, 0], [0], in: 2, .linear), inputs: ["a"])],
                          outputs: [GraphOutput(name: "b", node: "b")])
        let inputs = ["x": Tensor(shape: [2, 2], values: [0.1, 0.2, -0.1, 0.3])]
        var gradients = ["a/weights": Tensor(shape: [2, 2], values: [0.0009, 0.0012, 0, 0]), "b/weights": Tensor(shape: [2, 1], values: [2, 0])]
        let vanishing = Diagnostics.diagnose(graph, inputs: inputs, gradients: gradients)
        XCTAssertEqual(vanishing.layers[0].gradientNorm ?? 0, 0.0015, accuracy: 1e-9)
        XCTAssertEqual(vanishing.layers[1].gradientNorm ?? 0, 2, accuracy: 1e-9)
        XCTAssertEqual(vanishing.findings, ["a: gradient 0.0003 of its weights' norm, 6667× less than b's — vanishing gradients: use relu/elu/selu (with he/lecun init) or batch norm, or fewer layers"])
        gradients["b/weights"] = Tensor(shape: [2, 1], values: [20, 0])
        let exploding = Diagnostics.diagnose(graph, inputs: inputs, gradients: gradients)
        XCTAssertEqual(exploding.findings.first, "b: gradient norm 20 times the weights' — exploding gradients: clip them (--clip-norm 1) or lower the learning rate")
        XCTAssertNil(Diagnostics.diagnose(graph, inputs: inputs).layers[0].gradientNorm, "no gradients, no column")
    }

    func testADeepSigmoidStackOnDigitsIsFoundToHaveVanishingGradients() throws {
        // Each sigmoid passes back at most a quarter of its gradient: ten of them leave the first
        // layer a gradient orders of magnitude smaller than the last one's.
        var layers: [ModelSpec.Layer] = []
        var previous = "pixels"
        for index in 1...10 {
            layers.append(.init(name: "s\(index)", type: .dense, inputs: [previous], units: 16, activation: "sigmoid"))
            previous = "s\(index)"
        }
        layers.append(.init(name: "logits", type: .dense, inputs: [previous], units: 10, activation: "softmax"))
        let spec = ModelSpec(inputs: [.init(name: "pixels")], layers: layers,
                             outputs: [.init(name: "label", node: "logits", loss: .sparseCategoricalCrossEntropy, targets: ["label"])])
        let table = try CSVTable.read(TrainerTests.datasets + "/digits.csv")
        let trainer = try Trainer(spec: spec, table: table, settings: TrainingSettings())
        let report = trainer.diagnose(rows: 512)
        let s1 = try XCTUnwrap(report.layers.first { $0.name == "s1" }?.gradientNorm)
        let last = try XCTUnwrap(report.layers.first { $0.name == "logits" }?.gradientNorm)
        XCTAssertLessThan(s1, last * 1e-3)
        XCTAssertTrue(report.findings.contains { $0.hasPrefix("s1: gradient") && $0.contains("vanishing gradients") }, report.findings.joined(separator: "\n"))
    }
}
