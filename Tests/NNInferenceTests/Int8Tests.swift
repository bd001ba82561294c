import CNNKernels
import NNCore
import NNFormat
@testable import NNInference
import NNTestSupport
import Synchronization
import XCTest

/// int8 dot products (`dense_int8`) for models stored as int8: every variant against the
/// reference's integers, the reference against a double-precision sum within the bound its
/// input quantization allows, and plans that take the int8 kernel only where it measures
/// faster. The VNNI variant is reported as skipped, naming the feature, on a CPU without it.
final class Int8Tests: XCTestCase {
    /// One layer's int8 operands, packed as the plan packs them.
    struct Layer {
        var rows: Int, k: Int, n: Int, ldx: Int, ldy: Int
        var x: [Float]
        var codes: [Int8]
        var scales: [Float]
        var packed: [Int8]
        var sums: [Int32]
        var bias: [Float]
        var skip: [Float]

        init(rows: Int, k: Int, n: Int, rng: inout CounterRNG) {
            (self.rows, self.k, self.n, ldx, ldy) = (rows, k, n, k + 3, n + 5)
            x = [Float](repeating: .nan, count: rows * ldx)
            for r in 0..<rows {
                // Mostly signed rows, some non-negative (a ReLU layer's inputs), one all zero.
                let shift: Float = r % 3 == 1 ? 1 : 0
                for p in 0..<k { x[r * ldx + p] = r == 2 ? 0 : (rng.nextUniform() * 2 - 1 + shift) * 3 }
            }
            let weights = (0..<k * n).map { _ in (rng.nextUniform() * 2 - 1) / Float(k).squareRoot() }
            (codes, scales) = Int8Quantization.columnCodes(weights, columns: n)
            packed = [Int8](repeating: 99, count: nn_packed_weights_int8_bytes(Int32(k), Int32(n)))
            sums = [Int32](repeating: 0, count: n)
            nn_pack_weights_int8(Int32(k), Int32(n), codes, Int32(n), &packed, &sums)
            bias = (0..<n).map { _ in rng.nextUniform() - 0.5 }
            skip = (0..<rows * n).map { _ in rng.nextUniform() - 0.5 }
        }

        /// Runs `kernel` (a table's dense_int8 or the reference at `levels`) with an epilogue.
        func run(activation: Activation, residual: Bool, kernel: (UnsafeMutablePointer<nn_epilogue>, UnsafeMutableRawPointer, inout [Float]) -> Void) -> [Float] {
            var y = [Float](repeating: -777, count: rows * ldy)
            var scratch = [UInt8](repeating: 0xAB, count: nn_int8_scratch_bytes(Int32(rows), Int32(k)) + 64)
            let (code, alpha) = activation.kernelCode
            bias.withUnsafeBufferPointer { bias in
                skip.withUnsafeBufferPointer { skip in
                    scratch.withUnsafeMutableBytes { raw in
                        // The caller's scratch is 64-byte aligned (the arena's); so is this one.
                        let aligned = raw.baseAddress!.alignedUp(toMultipleOf: 64)
                        var epilogue = nn_epilogue(bias: bias.baseAddress, activation: code, alpha: alpha,
                                                   residual: residual ? skip.baseAddress : nil, residual_ld: Int32(n),
                                                   post_activation: Int32(NN_ACT_LINEAR), post_alpha: 0)
                        kernel(&epilogue, aligned, &y)
                    }
                }
            }
            return y
        }

        func reference(levels: Int32, activation: Activation, residual: Bool) -> [Float] {
            run(activation: activation, residual: residual) { epilogue, scratch, y in
                nn_dense_int8_reference(levels, Int32(rows), Int32(k), Int32(n), x, Int32(ldx), packed, scales, sums, scratch, &y,
                                        Int32(ldy), epilogue)
            }
        }

        func variant(_ table: nn_kernel_table, activation: Activation, residual: Bool) -> [Float] {
            run(activation: activation, residual: residual) { epilogue, scratch, y in
                table.dense_int8(Int32(rows), Int32(k), Int32(n), x, Int32(ldx), packed, scales, sums, scratch, &y, Int32(ldy), epilogue)
            }
        }
    }

    /// Shapes: 1 and 2 rows, every row tail of the 4- and 8-row tiles, k off the quad grid
    /// (zero-padded rows of a panel) and past 1,024, columns off the 8, 16 and 48 grids.
    static let shapes = [(1, 1, 1), (1, 784, 300), (2, 33, 47), (3, 300, 100), (8, 64, 48), (9, 1100, 17), (13, 7, 96), (20, 513, 10)]

    /// Every set's variant computes the reference's integers at its own levels: linear and
    /// ReLU outputs are equal bit for bit (the same int32 sums, the same two fp32 multiplies);
    /// other activations differ only by their polynomials.
    func testEveryInt8VariantComputesTheReferenceIntegers() throws {
        var rng = CounterRNG(seed: 43)
        for (rows, k, n) in Self.shapes {
            let layer = Layer(rows: rows, k: k, n: n, rng: &rng)
            for kernels in KernelSet.supported {
                let table = kernels.table
                for (activation, residual) in [(Activation.linear, false), (.relu, true), (.tanh, false), (.softmax, false)] {
                    let expected = layer.reference(levels: table.int8_levels, activation: activation, residual: residual)
                    let actual = layer.variant(table, activation: activation, residual: residual)
                    for r in 0..<rows {
                        for j in 0..<n {
                            let (e, a) = (expected[r * layer.ldy + j], actual[r * layer.ldy + j])
                            if activation == .linear || activation == .relu {
                                XCTAssertEqual(a, e, "\(kernels) \(activation) [\(rows)x\(k)x\(n)] at (\(r), \(j))")
                            } else {
                                XCTAssertEqual(a, e, accuracy: 2e-6 * max(1, abs(e)), "\(kernels) \(activation) [\(rows)x\(k)x\(n)] at (\(r), \(j))")
                            }
                        }
                        for j in n..<layer.ldy { XCTAssertEqual(actual[r * layer.ldy + j], -777, "\(kernels) wrote past row \(r) at column \(j)") }
                    }
                }
            }
        }
        try XCTSkipUnless(KernelSet.avx512vnni.isSupported,
                          "kernel set avx512vnni not run: this CPU lacks \(KernelSet.avx512vnni.requiredFeatures)")
    }

    /// The reference against the exact sum over the stored weights (q·scale) in double: an input
    /// quantized to L levels over [lo, hi] moves by at most (hi - lo)/(2L), so an output by at
    /// most that times Σ_p |w_pj| (plus fp32's rounding of the final multiplies).
    func testReferenceIsWithinItsQuantizationBoundOfTheExactSum() {
        var rng = CounterRNG(seed: 44)
        for (rows, k, n) in Self.shapes {
            let layer = Layer(rows: rows, k: k, n: n, rng: &rng)
            for levels: Int32 in [127, 255] {
                let y = layer.reference(levels: levels, activation: .linear, residual: false)
                for r in 0..<rows {
                    let row = (0..<k).map { Double(layer.x[r * layer.ldx + $0]) }
                    let range = (row.max().map { max($0, 0) } ?? 0) - (row.min().map { min($0, 0) } ?? 0)
                    for j in 0..<n {
                        var exact = Double(layer.bias[j]), magnitude = 0.0
                        for p in 0..<k {
                            let w = Double(layer.codes[p * n + j]) * Double(layer.scales[j])
                            exact += row[p] * w
                            magnitude += abs(w)
                        }
                        let bound = range / (2 * Double(levels)) * magnitude * 1.0001 + 1e-5 * max(1, abs(exact))
                        XCTAssertEqual(Double(y[r * layer.ldy + j]), exact, accuracy: bound, "L=\(levels) [\(rows)x\(k)x\(n)] at (\(r), \(j))")
                    }
                }
            }
        }
    }

    /// The panel layout nn_kernels.h states: quad t of column j in panel j/16 at
    /// ((t·16 + j%16)·4 + i), zeros past n and k; column sums over the real rows.
    func testPanelsHoldQuadsPerColumnAndTheColumnSums() {
        var rng = CounterRNG(seed: 45)
        let (k, n) = (10, 21)
        let layer = Layer(rows: 1, k: k, n: n, rng: &rng)
        let quads = (k + 3) / 4
        XCTAssertEqual(layer.packed.count, 2 * 16 * quads * 4)
        for j in 0..<32 {
            for p in 0..<quads * 4 {
                let stored = layer.packed[(j / 16) * quads * 64 + ((p / 4) * 16 + j % 16) * 4 + p % 4]
                XCTAssertEqual(stored, j < n && p < k ? layer.codes[p * n + j] : 0, "column \(j), row \(p)")
            }
        }
        for j in 0..<n { XCTAssertEqual(layer.sums[j], (0..<k).reduce(Int32(0)) { $0 + Int32(layer.codes[$1 * n + j]) }) }
    }

    /// The file's codes and the plan's agree: weights read back as q·scale quantize to q again.
    func testCodesOfDecodedWeightsAreTheStoredCodes() {
        var rng = CounterRNG(seed: 46)
        let values = (0..<64 * 9).map { _ in rng.nextNormal() * 0.3 }
        let (codes, scales) = Int8Quantization.columnCodes(values, columns: 9)
        XCTAssertEqual(codes.map { abs(Int($0)) }.max(), 127)
        let decoded = codes.enumerated().map { Float($1) * scales[$0 % 9] }
        let again = Int8Quantization.columnCodes(decoded, columns: 9)
        XCTAssertEqual(again.codes, codes)
        XCTAssertEqual(again.scales, scales)
        // An all-zero column gets scale 1 and codes 0, never a division by zero.
        let zeros = Int8Quantization.columnCodes([0, 1, 0, -2], columns: 2)
        XCTAssertEqual(zeros.scales[0], 1)
        XCTAssertEqual(zeros.codes, [0, 64, 0, -127])
    }

    /// An int8 plan stays within int8's precision of the fp32 plan of the same weights on
    /// every set, and a chooser that times int8 slower keeps the fp32 plan, bit for bit: a
    /// reduced model is never served on a slower kernel.
    func testInt8PlansRunInt8OnlyWhereItMeasuresFaster() throws {
        let graph = GraphFixtures.mlp([64, 256, 10], seed: 5)
        let batch = GraphFixtures.randomBatch(rows: 37, width: 64)
        let slowInt8 = PrecisionChooser { _, precision, _, _, _, _ in precision == .int8 ? 3e-6 : 1e-6 }
        for kernels in KernelSet.supported {
            let fp32 = try Executor(plan: Plan(graph: graph, options: PlanOptions(kernels: kernels))).predict(["x": batch])
            let plan = try Plan(graph: graph, options: PlanOptions(kernels: kernels, storedWeights: .int8, precisionChooser: .reducedWherePossible))
            // 64×256 weights in int8; 256×10 (2,560, under minimumWeights) stays fp32.
            XCTAssertEqual(plan.densePrecisions, [.int8, .fp32], "\(kernels)")
            XCTAssertEqual(plan.stepDescriptions.filter { $0.hasSuffix(", int8)") }.count, 1, "\(kernels): \(plan.stepDescriptions)")
            let outputs = try Executor(plan: plan).predict(["x": batch])
            let expected = fp32["y"]!, actual = try XCTUnwrap(outputs["y"])
            for row in 0..<expected.shape[0] {
                let scale = (0..<expected.shape[1]).map { Double(abs(expected[row, $0])) }.max() ?? 1
                for column in 0..<expected.shape[1] {
                    XCTAssertEqual(Double(actual[row, column]), Double(expected[row, column]), accuracy: 3e-2 * max(scale, 1e-3),
                                   "\(kernels) int8 plan (\(row), \(column))")
                }
            }
            XCTAssertNotEqual(actual.scalars, expected.scalars, "quantizing the inputs must show somewhere")

            let refused = try Plan(graph: graph, options: PlanOptions(kernels: kernels, storedWeights: .int8, precisionChooser: slowInt8))
            XCTAssertEqual(refused.densePrecisions, [.fp32, .fp32], "\(kernels): a slower int8 kernel is not chosen")
            XCTAssertEqual(try Executor(plan: refused).predict(["x": batch])["y"]!.scalars, expected.scalars)
            XCTAssertTrue(refused.precisionChoices[0].hasPrefix("dense1 64→256: fp32 (8 rows int8 3.0 µs, fp32 1.0 µs; 64 rows int8 3.0 µs"), refused.precisionChoices[0])
            XCTAssertEqual(refused.precisionChoices[1], "dense2 256→10: fp32 (under 4096 weights, not timed)")
        }
    }

    /// A standardization folds into fp32 weights but not into int8 ones (a rescaled row would
    /// set its column's scale): int8 is timed with the affine step it then needs, and where fp32
    /// wins the affine folds as in any fp32 plan.
    func testAnInt8LayerIsTimedWithTheAffineItCannotAbsorb() throws {
        var graph = GraphFixtures.mlp([64, 256, 10], seed: 5)
        graph.inputs[0].standardization = Standardization(mean: [Float](repeating: 1, count: 64), std: [Float](repeating: 2, count: 64))
        let timedWithAffine = Mutex<[Bool]>([])
        let slow = PrecisionChooser { _, precision, _, _, _, affine in
            if precision == .int8 { timedWithAffine.withLock { $0.append(affine) } }
            return precision == .int8 ? 3e-6 : 1e-6
        }
        let fp32 = try Plan(graph: graph, options: PlanOptions(storedWeights: .int8, precisionChooser: slow))
        XCTAssertEqual(fp32.densePrecisions, [.fp32, .fp32])
        XCTAssertTrue(fp32.rewrites.contains("folded the affine transform of 'x' into dense 'dense1'"), "\(fp32.rewrites)")
        XCTAssertEqual(timedWithAffine.withLock { $0 }, [true, true, true, true, true, true], "3 rounds × 2 row counts, each with the affine")

        let int8 = try Plan(graph: graph, options: PlanOptions(storedWeights: .int8, precisionChooser: .reducedWherePossible))
        XCTAssertEqual(int8.densePrecisions, [.int8, .fp32])
        XCTAssertEqual(int8.stepDescriptions.first, "affine standardize 'x' (64)")
        let batch = GraphFixtures.randomBatch(rows: 9, width: 64)
        let exact = try Executor(plan: fp32).predict(["x": batch])["y"]!
        let reduced = try Executor(plan: int8).predict(["x": batch])["y"]!
        let largest = exact.scalars.map(abs).max()!
        for (a, e) in zip(reduced.scalars, exact.scalars) { XCTAssertEqual(a, e, accuracy: 3e-2 * largest) }
    }

    /// The measuring chooser times both kernels on this CPU, remembers the choice per shape,
    /// and reports both timings.
    func testTheMeasuringChooserTimesBothKernelsOnceAndRemembers() {
        let first = PrecisionChooser.measuring.choose(.int8, kernels: .detected, k: 256, n: 512)
        XCTAssertEqual(first.fp32Seconds.count, 2)
        XCTAssertEqual(first.reducedSeconds.count, 2)
        XCTAssertTrue(first.fp32Seconds.allSatisfy { $0 > 0 && $0 < 0.01 }, "\(first)")
        XCTAssertEqual(first.precision == .int8, zip(first.reducedSeconds, first.fp32Seconds).allSatisfy { $0 < $1 })
        XCTAssertEqual(PrecisionChooser.measuring.choose(.int8, kernels: .detected, k: 256, n: 512), first, "cached, not timed again")
        XCTAssertEqual(PrecisionChooser.measuring.choose(.float32, kernels: .detected, k: 256, n: 512).precision, .fp32)
        XCTAssertEqual(PrecisionChooser.measuring.choose(.float16, kernels: .detected, k: 256, n: 512).precision, .fp32)
    }
}
