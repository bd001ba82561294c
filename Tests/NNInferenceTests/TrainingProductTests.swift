import CNNKernels
import NNCore
@testable import NNInference
import NNTestSupport
import XCTest

/// Training's matrix products (the kernel tables' `gemm`, `nn_transpose`, and their split over
/// threads) against a naive loop in Double, once per kernel set; a set this CPU lacks is
/// reported as skipped, naming the missing features.
final class TrainingProductTests: XCTestCase {
    private func table(_ kernels: KernelSet) throws -> nn_kernel_table {
        try XCTSkipUnless(kernels.isSupported, "kernel set \(kernels) not run: this CPU lacks \(kernels.requiredFeatures)")
        return kernels.table
    }

    func testProductMatchesNaiveLoopAVX512BF16() throws { try checkProducts(table(.avx512bf16)) }
    func testProductMatchesNaiveLoopAVX512() throws { try checkProducts(table(.avx512)) }
    func testProductMatchesNaiveLoopAVX2() throws { try checkProducts(table(.avx2)) }
    func testProductMatchesNaiveLoopPortable() throws { try checkProducts(table(.portable)) }

    /// Row tails of the 6- and 8-row tiles, columns that are not a multiple of 8, 16 or 48
    /// (masked loads and stores), 1 row, 1 column, k = 0 and 1, several panels, several k blocks
    /// read in place and packed; op(a) plain and
    /// transposed, with and without bias; leading dimensions wider than the matrices, and
    /// sentinels after every row of c.
    private func checkProducts(_ kernels: nn_kernel_table) {
        var rng = CounterRNG(seed: 29)
        let shapes = [(1, 1, 1), (1, 300, 784), (32, 300, 784), (7, 1, 30), (9, 17, 1), (13, 47, 5), (8, 48, 64), (6, 16, 16),
                      (25, 97, 33), (784, 300, 32), (3, 130, 100), (17, 49, 2), (50, 10, 100), (2, 200, 3),
                      // Several k blocks read in place, and from 128 rows packed (resumed from c).
                      (70, 53, 300), (65, 130, 257), (130, 53, 300), (128, 100, 257), (129, 16, 129),
                      // An empty sum: c is the bias (or zeros).
                      (3, 5, 0)]
        for (m, n, k) in shapes {
            for transposeA in [false, true] {
                for withBias in [false, true] {
                    // a is [m, k] (or [k, m] for aᵀ) inside rows of lda floats.
                    let (aRows, aColumns) = transposeA ? (k, m) : (m, k)
                    let lda = aColumns + 3, ldb = n + 2, ldc = n + 5
                    let a = (0..<aRows * lda).map { index in index % lda < aColumns ? rng.nextUniform() * 2 - 1 : .nan }
                    let b = (0..<k * ldb).map { index in index % ldb < n ? rng.nextUniform() * 2 - 1 : .nan }
                    let bias = (0..<n).map { _ in rng.nextUniform() - 0.5 }
                    var c = [Float](repeating: -777, count: m * ldc)
                    bias.withUnsafeBufferPointer { bias in
                        kernels.gemm(Int32(m), Int32(n), Int32(k), a, lda, transposeA ? 1 : 0, b, Int32(ldb),
                                     withBias ? bias.baseAddress : nil, &c, Int32(ldc))
                    }
                    let name = "\(String(cString: kernels.name)) [\(m)x\(n)x\(k)] transposeA=\(transposeA) bias=\(withBias)"
                    for i in 0..<m {
                        for j in 0..<n {
                            var expected = withBias ? Double(bias[j]) : 0
                            var magnitude = abs(expected)
                            for p in 0..<k {
                                let term = Double(transposeA ? a[p * lda + i] : a[i * lda + p]) * Double(b[p * ldb + j])
                                expected += term
                                magnitude += abs(term)
                            }
                            // The worst-case bound of a float sum of k + 1 terms: (k + 1)·u·Σ|terms|,
                            // u = 2⁻²⁴ (doubled for the final rounding to Float).
                            XCTAssertEqual(Double(c[i * ldc + j]), expected, accuracy: 1.2e-7 * Double(k + 1) * max(1, magnitude),
                                           "\(name) at (\(i), \(j))")
                        }
                        for j in n..<ldc { XCTAssertEqual(c[i * ldc + j], -777, "\(name) wrote past row \(i) at column \(j)") }
                    }
                }
            }
        }
    }

    func testTransposeSwapsRowsAndColumns() {
        for (rows, columns) in [(1, 1), (1, 9), (9, 1), (8, 8), (13, 21), (300, 100)] {
            let x = (0..<rows * columns).map(Float.init)
            var y = [Float](repeating: .nan, count: rows * columns)
            nn_transpose(Int32(rows), Int32(columns), x, Int32(columns), &y, Int32(rows))
            for r in 0..<rows { for j in 0..<columns { XCTAssertEqual(y[j * rows + r], x[r * columns + j], "[\(rows)x\(columns)] (\(r), \(j))") } }
        }
    }

    /// Split over 2 and 3 threads, by columns (wide products) and by rows (narrow ones), the
    /// product is bit-identical to the calling thread's alone: each share runs the same kernel
    /// over whole register tiles, and every element sums in the same order.
    func testSplitProductEqualsOneThreadBitForBit() {
        let kernels = KernelSet.detected.table
        var rng = CounterRNG(seed: 31)
        for threads in [2, 3] {
            let products = ParallelTrainingKernels(threads: threads, table: kernels)
            for (m, n, k, transposeA) in [(32, 300, 784, false), (784, 300, 32, true), (200, 40, 300, false), (300, 10, 400, true),
                                          (64, 97, 200, false), (100, 1000, 11, false)] {
                XCTAssertTrue(products.splits(m: m, n: n, k: k) || m * n * k < ParallelTrainingKernels.minimumMultiplyAddsToSplit,
                              "[\(m)x\(n)x\(k)] is large enough and has room for two shares")
                let lda = transposeA ? m : k
                let a = (0..<m * k).map { _ in rng.nextUniform() * 2 - 1 }
                let b = (0..<k * n).map { _ in rng.nextUniform() * 2 - 1 }
                let bias = (0..<n).map { _ in rng.nextUniform() }
                var alone = [Float](repeating: -1, count: m * n), split = [Float](repeating: -2, count: m * n)
                kernels.gemm(Int32(m), Int32(n), Int32(k), a, lda, transposeA ? 1 : 0, b, Int32(n), bias, &alone, Int32(n))
                a.withUnsafeBufferPointer { a in
                    b.withUnsafeBufferPointer { b in
                        bias.withUnsafeBufferPointer { bias in
                            split.withUnsafeMutableBufferPointer { c in
                                products.multiply(m: m, n: n, k: k, a: a.baseAddress!, lda: lda, transposeA: transposeA, b: b.baseAddress!,
                                                  ldb: n, bias: bias.baseAddress, c: c.baseAddress!, ldc: n)
                            }
                        }
                    }
                }
                XCTAssertEqual(split, alone, "\(threads) threads, [\(m)x\(n)x\(k)] transposeA=\(transposeA)")
            }
        }
    }

    /// An Adam step split over 2 and 3 threads equals the one-thread step bit for bit, on a
    /// count that is not a multiple of the share quantum.
    func testSplitAdamStepEqualsOneThreadBitForBit() {
        let kernels = KernelSet.detected.table
        var rng = CounterRNG(seed: 37)
        let count = 100_003
        XCTAssertGreaterThanOrEqual(count, ParallelTrainingKernels.minimumParametersToSplit)
        let gradient = (0..<count).map { _ in rng.nextUniform() - 0.5 }
        let start = (0..<count).map { _ in rng.nextUniform() }
        let m0 = (0..<count).map { _ in (rng.nextUniform() - 0.5) * 0.1 }
        let v0 = (0..<count).map { _ in rng.nextUniform() * 0.01 }
        var (w1, m1, v1) = (start, m0, v0)
        kernels.adam_update(count, &w1, gradient, &m1, &v1, 0.9, 0.999, 0.01, 0.19, 0.002, 1e-7, 1e-4)
        for threads in [2, 3] {
            let parallel = ParallelTrainingKernels(threads: threads, table: kernels)
            XCTAssertTrue(parallel.splits(parameters: count))
            var (w, m, v) = (start, m0, v0)
            w.withUnsafeMutableBufferPointer { w in
                m.withUnsafeMutableBufferPointer { m in
                    v.withUnsafeMutableBufferPointer { v in
                        gradient.withUnsafeBufferPointer { g in
                            parallel.adamUpdate(.init(count: count, weights: w.baseAddress!, gradient: g.baseAddress!, m: m.baseAddress!,
                                                      v: v.baseAddress!, beta1: 0.9, beta2: 0.999, rate: 0.01, correction1: 0.19,
                                                      correction2: 0.002, epsilon: 1e-7, decay: 1e-4))
                        }
                    }
                }
            }
            XCTAssertEqual(w, w1, "\(threads) threads: weights")
            XCTAssertEqual(m, m1, "\(threads) threads: first moments")
            XCTAssertEqual(v, v1, "\(threads) threads: second moments")
        }
    }
}
