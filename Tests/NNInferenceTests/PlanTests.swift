import NNCore
import NNInference
import NNTestSupport
import XCTest

final class PlanTests: XCTestCase {
    /// Stated tolerance: float32 inference against the Double reference, relative to each
    /// output row's largest magnitude.
    static let tolerance = 2e-4

    private func assertMatchesReference(_ graph: Graph, rows: Int, options: PlanOptions, label: String,
                                        file: StaticString = #filePath, line: UInt = #line) throws {
        let plan = try Plan(graph: graph, options: options)
        let executor = Executor(plan: plan)
        var inputs: [String: Tensor] = [:]
        for (index, input) in graph.inputs.enumerated() {
            inputs[input.name] = GraphFixtures.randomBatch(rows: rows, width: input.width, seed: UInt64(index + rows))
        }
        let outputs = try executor.predict(inputs)
        // The reference checks a spread of rows (first, last, and some between): rows are independent.
        let sample = Array(Set([0, rows - 1, rows / 2, rows / 3, (rows * 7) / 8])).sorted()
        let expected = try ReferenceExecutor.run(graph, inputs: inputs, rows: sample)
        for output in graph.outputs {
            let error = ReferenceExecutor.maxRelativeError(outputs[output.name]!, rows: sample, expected: expected[output.name]!)
            XCTAssertLessThanOrEqual(error, Self.tolerance, "\(label): output '\(output.name)' rows \(rows)", file: file, line: line)
        }
    }

    func testWideAndDeepMatchesReferenceFoldedAndUnfolded() throws {
        let graph = GraphFixtures.wideAndDeep()
        for rows in [1, 3, 8, 17, 64, 256, 300] {
            try assertMatchesReference(graph, rows: rows, options: PlanOptions(), label: "folded")
            try assertMatchesReference(graph, rows: rows, options: .unoptimized(), label: "unfolded")
        }
    }

    func testFoldedEqualsUnfolded() throws {
        let graph = GraphFixtures.wideAndDeep()
        let batch = GraphFixtures.randomBatch(rows: 40, width: 64)
        let folded = try Executor(plan: Plan(graph: graph)).predict(["features": batch])
        let unfolded = try Executor(plan: Plan(graph: graph, options: .unoptimized())).predict(["features": batch])
        for name in ["price", "class"] {
            for (a, b) in zip(folded[name]!.scalars, unfolded[name]!.scalars) {
                XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b)), name)
            }
        }
    }

    func testRewritesFoldFuseAndLayOutTheWideAndDeepModel() throws {
        let plan = try Plan(graph: GraphFixtures.wideAndDeep())
        XCTAssertEqual(plan.rewrites, [
            "folded the affine transform of 'features' into dense 'deep1'",
            "removed dropout 'drop1'",
            "folded the affine transform of 'drop1' into dense 'deep2'",
            "concat 'wide_and_deep' by layout",
            "folded the affine transform of 'wide_and_deep' into dense 'price'",
            "fused softmax 'class_probs' into dense 'class_logits'",
        ])
        // Batch norm after a relu cannot fold backward; where the add reads it, it is applied once.
        XCTAssertEqual(plan.stepDescriptions, [
            "dense deep1 (64→256, relu)", "dense deep2 (256→256, relu)", "affine bn2 (256)", "affine drop1 (256)",
            "add residual (2 inputs)", "dense price (320→1, linear)", "dense class_logits (256→3, softmax)",
        ])
    }

    func testResidualAddFusesIntoDenseEpilogue() throws {
        var rng = CounterRNG(seed: 8)
        let graph = Graph(inputs: [GraphInput(name: "x", width: 12)],
                          nodes: [GraphFixtures.dense("d1", from: "x", 12, 12, activation: .relu, rng: &rng),
                                  GraphFixtures.dense("d2", from: "d1", 12, 12, activation: .linear, rng: &rng),
                                  Node(name: "sum", operation: .add, inputs: ["x", "d2"]),
                                  Node(name: "act", operation: .activation(.elu(alpha: 1)), inputs: ["sum"])],
                          outputs: [GraphOutput(name: "y", node: "act")])
        let plan = try Plan(graph: graph)
        XCTAssertEqual(plan.stepDescriptions, ["dense d1 (12→12, relu)", "dense d2 (12→12, linear + residual elu(1.0))"])
        for rows in [1, 5, 40] { try assertMatchesReference(graph, rows: rows, options: PlanOptions(), label: "residual") }
    }

    func testBatchNormAfterLinearDenseFoldsBackward() throws {
        var rng = CounterRNG(seed: 4)
        let graph = Graph(inputs: [GraphInput(name: "x", width: 5)],
                          nodes: [GraphFixtures.dense("d", from: "x", 5, 7, activation: .linear, rng: &rng),
                                  GraphFixtures.batchNorm("bn", from: "d", width: 7, rng: &rng),
                                  Node(name: "relu", operation: .activation(.relu), inputs: ["bn"])],
                          outputs: [GraphOutput(name: "y", node: "relu")])
        let plan = try Plan(graph: graph)
        XCTAssertEqual(plan.stepDescriptions, ["dense d (5→7, relu)"])
        XCTAssertTrue(plan.rewrites.contains("folded batch norm 'bn' into the preceding dense 'd'"))
        try assertMatchesReference(graph, rows: 9, options: PlanOptions(), label: "backward fold")
    }

    func testRandomGraphsMatchReference() throws {
        var rng = CounterRNG(seed: 2024)
        for seed in 0..<60 {
            let graph = RandomGraphs.make(seed: UInt64(seed))
            let rows = 1 + Int(rng.nextWord() % 300)
            let options: PlanOptions = seed % 3 == 0 ? .unoptimized(maxRows: 1 + Int(rng.nextWord() % 64)) : PlanOptions(maxRows: 1 + Int(rng.nextWord() % 300))
            try assertMatchesReference(graph, rows: rows, options: options, label: "random graph \(seed) (\(graph.nodes.count) nodes, maxRows \(options.maxRows))")
        }
    }

    func testAVX512BF16KernelsMatchReference() throws { try assertKernelSetMatchesReference(.avx512bf16) }
    func testAVX512VNNIKernelsMatchReference() throws { try assertKernelSetMatchesReference(.avx512vnni) }
    func testAVX512KernelsMatchReference() throws { try assertKernelSetMatchesReference(.avx512) }
    func testAVX2KernelsMatchReference() throws { try assertKernelSetMatchesReference(.avx2) }
    func testPortableKernelsMatchReference() throws { try assertKernelSetMatchesReference(.portable) }

    /// Whole random graphs on one kernel set, whichever is the default here; row counts from 1
    /// to 256 (up to and past every tile height), with the arena's full 256 rows.
    private func assertKernelSetMatchesReference(_ kernels: KernelSet) throws {
        try XCTSkipUnless(kernels.isSupported, "kernel set \(kernels) not run: this CPU lacks \(kernels.requiredFeatures)")
        for seed in 100..<115 {
            let rows = [1, 2, 3, 9, 17, 64, 130, 256][seed % 8]
            try assertMatchesReference(RandomGraphs.make(seed: UInt64(seed)), rows: rows,
                                       options: PlanOptions(kernels: kernels), label: "\(kernels) \(seed) at \(rows) rows")
        }
    }

    func testSmallModelsRunInRowChunksWithTheSameResults() throws {
        var rng = CounterRNG(seed: 12)
        let graph = Graph(inputs: [GraphInput(name: "x", width: 8)],
                          nodes: [GraphFixtures.dense("d1", from: "x", 8, 30, activation: .relu, rng: &rng),
                                  GraphFixtures.dense("d2", from: "d1", 30, 30, activation: .relu, rng: &rng),
                                  GraphFixtures.dense("d3", from: "d2", 30, 30, activation: .linear, rng: &rng),
                                  Node(name: "sum", operation: .add, inputs: ["d3", "d1"]),
                                  GraphFixtures.dense("out", from: "sum", 30, 1, activation: .linear, rng: &rng)],
                          outputs: [GraphOutput(name: "y", node: "out")])
        let plan = try Plan(graph: graph)
        XCTAssertLessThan(plan.rowChunk, plan.maxRows, "a model this small should run in chunks")
        for rows in [plan.rowChunk - 1, plan.rowChunk, plan.rowChunk + 1, 250] {
            try assertMatchesReference(graph, rows: rows, options: PlanOptions(), label: "chunked")
        }
    }

    func testArenaReusesDeadBuffers() throws {
        let plan = try Plan(graph: GraphFixtures.mlp([64, 256, 256, 256, 256, 256, 1]), options: PlanOptions(maxRows: 8))
        // Five 256-wide hidden values, but at most two are alive at once (plus the input).
        XCTAssertLessThanOrEqual(plan.arenaFloats, 8 * (64 + 256 * 2 + 16))
    }

    func testPredictErrorsNameTheInput() throws {
        let executor = Executor(plan: try Plan(graph: GraphFixtures.mlp([8, 4, 1])))
        XCTAssertThrowsError(try executor.predict(["x": Tensor(zeros: [2, 7])])) {
            XCTAssertEqual("\($0)", "input 'x' has shape [2, 7]; the model expects [rows, 8]")
        }
        XCTAssertThrowsError(try executor.predict(["z": Tensor(zeros: [2, 8])])) {
            XCTAssertEqual("\($0)", "unknown input 'z'; the model's inputs are 'x'")
        }
        XCTAssertThrowsError(try executor.predict(["x": Tensor(zeros: [2, 8])], outputs: ["q"])) {
            XCTAssertEqual("\($0)", "unknown output 'q'; the model's outputs are 'y'")
        }
    }
}
