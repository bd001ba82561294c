import CNNKernels
import NNCore
@testable import NNInference
import NNTestSupport
import XCTest

/// bf16 dot products (`dense_bf16`, the avx512bf16 set) for models stored as bf16: the kernel
/// against a double-precision sum over the same bf16 weights, and plans that use it only when
/// asked and where the CPU has it. Reported as skipped, naming the feature, on a CPU without
/// AVX512_BF16.
final class BF16Tests: XCTestCase {
    /// Round to nearest even, as nn_pack_weights_bf16 and the model files do.
    static func bf16(_ value: Float) -> Float {
        let bits = value.bitPattern
        return Float(bitPattern: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000)
    }

    static func roundedToBF16(_ graph: Graph) -> Graph {
        var graph = graph
        for index in graph.nodes.indices {
            guard case .dense(var dense) = graph.nodes[index].operation else { continue }
            dense.weights = Tensor(shape: dense.weights.shape, values: dense.weights.scalars.map(bf16))
            graph.nodes[index].operation = .dense(dense)
        }
        return graph
    }

    private func bf16Table() throws -> nn_kernel_table {
        try XCTSkipUnless(KernelSet.avx512bf16.isSupported,
                          "kernel set avx512bf16 not run: this CPU lacks \(KernelSet.avx512bf16.requiredFeatures)")
        return KernelSet.avx512bf16.table
    }

    /// Shapes: 1 and 2 rows, every row tail of the 8-row tile, odd k (a zero pair row), k over
    /// 512 (several blocks of rounded inputs), columns off the 16 and 48 grid. Each output is
    /// within 2⁻⁷·Σ|x·w| of the double sum (inputs rounded to 8 significant bits: at most 2⁻⁸
    /// per term, plus fp32's rounding of the accumulation), through the epilogue; softmax can
    /// double a logit's error in a probability.
    func testDenseBF16MatchesADoubleSumOverTheSameWeights() throws {
        let kernels = try bf16Table()
        var rng = CounterRNG(seed: 41)
        let shapes = [(1, 1, 1), (1, 784, 300), (2, 33, 47), (3, 300, 100), (8, 64, 48), (9, 1100, 17), (13, 7, 96), (20, 513, 10)]
        for (rows, k, n) in shapes {
            for (activation, residual) in [(Activation.linear, false), (.relu, true), (.tanh, false), (.softmax, false)] {
                let ldx = k + 3, ldy = n + 5
                var x = [Float](repeating: .nan, count: rows * ldx)
                for r in 0..<rows { for p in 0..<k { x[r * ldx + p] = rng.nextUniform() * 2 - 1 } }
                let w = (0..<k * n).map { _ in Self.bf16((rng.nextUniform() * 2 - 1) / Float(k).squareRoot()) }
                let bias = (0..<n).map { _ in rng.nextUniform() - 0.5 }
                let skip = (0..<rows * n).map { _ in rng.nextUniform() - 0.5 }
                var packed = [UInt16](repeating: 0xFFFF, count: nn_packed_weights_bf16_count(Int32(k), Int32(n), kernels.panel_columns))
                nn_pack_weights_bf16(Int32(k), Int32(n), w, Int32(n), kernels.panel_columns, &packed)
                var y = [Float](repeating: -777, count: rows * ldy)
                let (code, alpha) = activation.kernelCode
                bias.withUnsafeBufferPointer { bias in
                    skip.withUnsafeBufferPointer { skip in
                        var epilogue = nn_epilogue(bias: bias.baseAddress, activation: code, alpha: alpha,
                                                   residual: residual ? skip.baseAddress : nil, residual_ld: Int32(n),
                                                   post_activation: Int32(NN_ACT_LINEAR), post_alpha: 0)
                        kernels.dense_bf16(Int32(rows), Int32(k), Int32(n), x, Int32(ldx), packed, &y, Int32(ldy), &epilogue)
                    }
                }
                for r in 0..<rows {
                    var sums = [Double](repeating: 0, count: n), magnitudes = [Double](repeating: 0, count: n)
                    for j in 0..<n {
                        for p in 0..<k {
                            let term = Double(x[r * ldx + p]) * Double(w[p * n + j])
                            sums[j] += term
                            magnitudes[j] += abs(term)
                        }
                        sums[j] += Double(bias[j])
                    }
                    let logits = sums
                    let activated = activation == .softmax ? Activation.softmax(row: logits) : logits.map(activation.value)
                    let worstMagnitude = magnitudes.max() ?? 0
                    for j in 0..<n {
                        let expected = activated[j] + (residual ? Double(skip[r * n + j]) : 0)
                        let bound = (activation == .softmax ? 2 * worstMagnitude : magnitudes[j]) / 128 + 1e-6 * max(1, abs(expected))
                        XCTAssertEqual(Double(y[r * ldy + j]), expected, accuracy: bound, "\(activation) [\(rows)x\(k)x\(n)] at (\(r), \(j))")
                    }
                    for j in n..<ldy { XCTAssertEqual(y[r * ldy + j], -777, "wrote past row \(r) at column \(j)") }
                }
            }
        }
    }

    /// A bf16 plan of a bf16 model stays within bf16's precision of the fp32 plan of the same
    /// weights (two layers: each rounds its inputs once), and asks nothing of a set without
    /// bf16 dot products: there it is the fp32 plan, bit for bit.
    func testBF16PlansComputeInBF16OnlyWhereTheSetHasIt() throws {
        let graph = Self.roundedToBF16(GraphFixtures.mlp([64, 256, 10], seed: 5))
        let batch = GraphFixtures.randomBatch(rows: 37, width: 64)
        for kernels in KernelSet.supported {
            let fp32 = try Executor(plan: Plan(graph: graph, options: PlanOptions(kernels: kernels))).predict(["x": batch])
            let plan = try Plan(graph: graph, options: PlanOptions(kernels: kernels, storedWeights: .bfloat16, precisionChooser: .reducedWherePossible))
            XCTAssertEqual(plan.computesInBF16, kernels == .avx512bf16, "\(kernels)")
            // 64×256 weights in bf16; 256×10 (2,560, under bf16MinimumWeights) stays fp32.
            XCTAssertEqual(plan.stepDescriptions.filter { $0.hasSuffix(", bf16)") }.count, kernels == .avx512bf16 ? 1 : 0,
                           "\(kernels): \(plan.stepDescriptions)")
            let outputs = try Executor(plan: plan).predict(["x": batch])
            for (name, expected) in fp32 {
                let actual = try XCTUnwrap(outputs[name])
                guard kernels == .avx512bf16 else {
                    XCTAssertEqual(actual.scalars, expected.scalars, "\(kernels) ignores storedWeights")
                    continue
                }
                for row in 0..<expected.shape[0] {
                    let scale = (0..<expected.shape[1]).map { Double(abs(expected[row, $0])) }.max() ?? 1
                    for column in 0..<expected.shape[1] {
                        let error = abs(Double(actual[row, column]) - Double(expected[row, column]))
                        XCTAssertLessThanOrEqual(error, 2e-2 * max(scale, 1e-3), "bf16 plan, \(name) (\(row), \(column))")
                    }
                }
                XCTAssertNotEqual(actual.scalars, expected.scalars, "rounding the inputs to bf16 must show somewhere")
            }
        }
        // The fp32 sets are checked above on any CPU; the bf16 path is reported as not run here.
        _ = try bf16Table()
    }
}
