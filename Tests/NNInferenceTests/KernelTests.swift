import CNNKernels
import NNCore
@testable import NNInference
import NNTestSupport
import XCTest

/// Each fused kernel against a naive loop over the NNCore scalar definitions, once per kernel
/// set, with leading dimensions wider than the matrices. A set this CPU lacks is reported as
/// skipped, naming the missing features.
final class KernelTests: XCTestCase {
    private func table(_ kernels: KernelSet) throws -> nn_kernel_table {
        try XCTSkipUnless(kernels.isSupported, "kernel set \(kernels) not run: this CPU lacks \(kernels.requiredFeatures)")
        return kernels.table
    }

    private func naiveDense(_ x: [Float], _ w: [Float], _ bias: [Float], residual: [Float]?, rows: Int, k: Int, n: Int,
                            activation: Activation, post: Activation) -> [Double] {
        var result: [Double] = []
        for r in 0..<rows {
            var row = (0..<n).map { j in (0..<k).reduce(Double(bias[j])) { $0 + Double(x[r * k + $1]) * Double(w[$1 * n + j]) } }
            row = activation == .softmax ? Activation.softmax(row: row) : row.map(activation.value)
            if let residual { row = row.indices.map { row[$0] + Double(residual[r * n + $0]) } }
            result += row.map(post.value)
        }
        return result
    }

    func testDenseKernelMatchesNaiveLoopAVX512BF16() throws { try checkDenseKernel(table(.avx512bf16)) }
    func testDenseKernelMatchesNaiveLoopAVX512() throws { try checkDenseKernel(table(.avx512)) }
    func testDenseKernelMatchesNaiveLoopAVX2() throws { try checkDenseKernel(table(.avx2)) }
    func testDenseKernelMatchesNaiveLoopPortable() throws { try checkDenseKernel(table(.portable)) }
    func testActivationKernelIsStableAtExtremesAVX512() throws { try checkActivationsAtExtremes(table(.avx512)) }
    func testActivationKernelIsStableAtExtremesAVX2() throws { try checkActivationsAtExtremes(table(.avx2)) }
    func testActivationKernelIsStableAtExtremesPortable() throws { try checkActivationsAtExtremes(table(.portable)) }
    func testVectorSoftplusAndGeluAreAccurateAVX512() throws { try checkVectorSoftplusAndGelu(table(.avx512)) }
    func testVectorSoftplusAndGeluAreAccurateAVX2() throws { try checkVectorSoftplusAndGelu(table(.avx2)) }

    /// Every set's transpose moves each element to its mirrored place and writes nothing else:
    /// shapes off the 8×8 block grid and past the 64×64 tiles, leading dimensions wider than
    /// the matrices.
    func testTransposeMovesEveryElementOnEverySet() throws {
        for kernels in KernelSet.supported {
            let table = kernels.table
            for (rows, n) in [(1, 1), (7, 9), (8, 8), (16, 24), (70, 130), (256, 1024), (1024, 16)] {
                let (ldx, ldy) = (n + 3, rows + 5)
                let x = (0..<rows * ldx).map { Float($0) }
                var y = [Float](repeating: -1, count: n * ldy)
                table.transpose(Int32(rows), Int32(n), x, Int32(ldx), &y, Int32(ldy))
                for j in 0..<n {
                    for r in 0..<ldy {
                        XCTAssertEqual(y[j * ldy + r], r < rows ? x[r * ldx + j] : -1, "\(kernels) [\(rows)x\(n)] at (\(j), \(r))")
                    }
                }
            }
        }
    }

    /// Shapes cover 1 and 2 rows (streamed or tiled), every row tail of the 4- and 8-row tiles, columns
    /// that are not a multiple of 8 or 16 (masked tails), one column, and several panels.
    private func checkDenseKernel(_ kernels: nn_kernel_table) {
        var rng = CounterRNG(seed: 11)
        let shapes = [(1, 1, 1), (1, 8, 30), (3, 30, 30), (4, 17, 25), (5, 64, 47), (8, 100, 10), (13, 33, 70), (16, 300, 24),
                      (7, 30, 1), (3, 8, 1), (9, 320, 1), (2, 16, 1), (1, 40, 100), (2, 19, 33), (1, 3, 64), (11, 50, 97),
                      (20, 7, 48), (6, 12, 16), (33, 130, 49), (70, 24, 17),
                      // One row over weights past 1 MB: the AVX-512 stream prefetches.
                      (1, 520, 530)]
        for (rows, k, n) in shapes {
            for activation in Activation.allDefaults {
                let useResidual = activation != .softmax && rows % 2 == 1
                let post: Activation = useResidual ? .tanh : .linear
                let ldx = k + 3, ldy = n + 5
                let x = (0..<rows * k).map { _ in rng.nextUniform() * 2 - 1 }
                let w = (0..<k * n).map { _ in (rng.nextUniform() * 2 - 1) / Float(k).squareRoot() }
                let bias = (0..<n).map { _ in rng.nextUniform() - 0.5 }
                let residual = (0..<rows * n).map { _ in rng.nextUniform() - 0.5 }
                let expected = naiveDense(x, w, bias, residual: useResidual ? residual : nil, rows: rows, k: k, n: n,
                                          activation: activation, post: post)
                var paddedX = [Float](repeating: .nan, count: rows * ldx)
                for r in 0..<rows { for p in 0..<k { paddedX[r * ldx + p] = x[r * k + p] } }
                do {
                    for viaGEMM in [false, true] {
                        var y = [Float](repeating: -777, count: rows * ldy)
                        let (code, alpha) = activation.kernelCode
                        let (postCode, postAlpha) = post.kernelCode
                        bias.withUnsafeBufferPointer { biasPointer in
                            residual.withUnsafeBufferPointer { residualPointer in
                                var epilogue = nn_epilogue(bias: biasPointer.baseAddress, activation: code, alpha: alpha,
                                                           residual: useResidual ? residualPointer.baseAddress : nil, residual_ld: Int32(n),
                                                           post_activation: postCode, post_alpha: postAlpha)
                                if viaGEMM {
                                    // What a GEMM leaves in y: the plain products, before any epilogue.
                                    let products = naiveDense(x, w, [Float](repeating: 0, count: n), residual: nil, rows: rows, k: k, n: n,
                                                              activation: .linear, post: .linear)
                                    for r in 0..<rows { for j in 0..<n { y[r * ldy + j] = Float(products[r * n + j]) } }
                                    kernels.epilogue_apply(Int32(rows), Int32(n), &y, Int32(ldy), &epilogue)
                                } else {
                                    let panel = kernels.panel_columns
                                    var packed = [Float](repeating: .nan, count: nn_packed_weights_count(Int32(k), Int32(n), panel))
                                    nn_pack_weights(Int32(k), Int32(n), w, Int32(n), panel, &packed)
                                    kernels.dense(Int32(rows), Int32(k), Int32(n), paddedX, Int32(ldx), w, Int32(n), packed,
                                                  &y, Int32(ldy), &epilogue)
                                }
                            }
                        }
                        for r in 0..<rows {
                            for j in 0..<n {
                                let actual = Double(y[r * ldy + j]), wanted = expected[r * n + j]
                                XCTAssertEqual(actual, wanted, accuracy: 2e-5 * max(1, abs(wanted)),
                                               "\(String(cString: kernels.name)) gemm=\(viaGEMM) \(activation) [\(rows)x\(k)x\(n)] at (\(r), \(j))")
                            }
                            for j in n..<ldy { XCTAssertEqual(y[r * ldy + j], -777, "wrote past the row at column \(j)") }
                        }
                    }
                }
            }
        }
    }

    /// Softplus and GELU have vector forms (a vector log and erfc): relative to the value
    /// itself, not only to 1, so the tiny values of GELU's and softplus' negative side count.
    private func checkVectorSoftplusAndGelu(_ kernels: nn_kernel_table) {
        let inputs = stride(from: -30.0, through: 30.0, by: 0.0137).map { Float($0) } + [-1e-30, -1e-7, 0, 1e-7, 1e-30]
        for activation in [Activation.softplus, .gelu] {
            var output = [Float](repeating: 0, count: inputs.count)
            let (code, alpha) = activation.kernelCode
            kernels.activation(1, Int32(inputs.count), inputs, Int32(inputs.count), &output, Int32(inputs.count), code, alpha)
            var (worst, worstTiny) = (0.0, 0.0)
            for (x, y) in zip(inputs, output) {
                let expected = activation.value(Double(x))
                guard abs(expected) > 1e-30 else { continue }  // below float's normal range
                let error = abs(Double(y) - expected) / abs(expected)
                // GELU is about e^(-x²/2) for negative x: float32 rounds x²/2 to a relative 6e-8,
                // which e^ turns into a relative error of up to 3e-6 at x = -6 and more below
                // 1e-10 (x < -6.4, x²/2 up to 80).
                if abs(expected) >= 1e-10 { worst = max(worst, error) } else { worstTiny = max(worstTiny, error) }
            }
            XCTAssertLessThan(worst, 5e-6, "\(String(cString: kernels.name)) \(activation): worst relative error \(worst)")
            XCTAssertLessThan(worstTiny, 3e-5, "\(String(cString: kernels.name)) \(activation): worst relative error below 1e-10: \(worstTiny)")
        }
    }

    private func checkActivationsAtExtremes(_ kernels: nn_kernel_table) {
        let inputs: [Float] = [-1e30, -1000, -88, -20, -1, -1e-6, 0, 1e-6, 1, 20, 88, 1000, 1e30]
        do {
            for activation in Activation.allDefaults where activation.isElementwise {
                var output = [Float](repeating: 0, count: inputs.count)
                let (code, alpha) = activation.kernelCode
                kernels.activation(1, Int32(inputs.count), inputs, Int32(inputs.count), &output, Int32(inputs.count), code, alpha)
                for (x, y) in zip(inputs, output) {
                    let expected = activation.value(Double(x))
                    XCTAssertFalse(y.isNaN, "\(String(cString: kernels.name)) \(activation)(\(x)) is NaN")
                    XCTAssertEqual(Double(y), expected, accuracy: 1e-6 * max(1, abs(expected)), "\(String(cString: kernels.name)) \(activation)(\(x))")
                }
            }
            var logits: [Float] = [1000, 999, -1000, 0, 5, 7, 1000, 3, 2]
            kernels.activation(1, 9, logits, 9, &logits, 9, Int32(NN_ACT_SOFTMAX), 0)
            let expected = Activation.softmax(row: [1000, 999, -1000, 0, 5, 7, 1000, 3, 2])
            for (actual, wanted) in zip(logits, expected) { XCTAssertEqual(Double(actual), wanted, accuracy: 1e-6) }
        }
    }
}
