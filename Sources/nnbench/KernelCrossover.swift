import COpenBLAS
import NNCore
import NNInference

/// Times one Dense layer with the kernel set's tiled kernel (through a plan, as served: bias
/// and relu fused) and with OpenBLAS's sgemm alone at growing row counts: the evidence that
/// the serving path needs no sgemm. sgemm's side leaves out bias and activation, so it is a
/// floor for a BLAS-based layer. sgemm lives here only: nnserve does not link OpenBLAS.
struct KernelCrossover {
    var stopwatch: Stopwatch

    func rows(k: Int, n: Int, rowCounts: [Int]) throws -> [(rows: Int, small: Double, gemm: Double)] {
        var rng = CounterRNG(seed: 9)
        let weights = Initializer.heNormal.kernel(fanIn: k, fanOut: n, rng: &rng)
        let dense = DenseParameters(weights: weights, bias: Tensor(zeros: [n]), activation: .relu)
        let graph = Graph(inputs: [GraphInput(name: "x", width: k)], nodes: [Node(name: "d", operation: .dense(dense), inputs: ["x"])],
                          outputs: [GraphOutput(name: "y", node: "d")])
        let maxRows = rowCounts.max()!
        let tiled = Executor(plan: try Plan(graph: graph, options: PlanOptions(maxRows: maxRows)))
        let input = (0..<maxRows * k).map { _ in rng.nextUniform() * 2 - 1 }
        var output = [Float](repeating: 0, count: maxRows * n)
        return rowCounts.map { rows in
            let gemm = stopwatch.secondsPerCall {
                weights.withUnsafeBufferPointer { w in
                    output.withUnsafeMutableBufferPointer { y in
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(n), Int32(k), 1,
                                    input, Int32(k), w.baseAddress, Int32(n), 0, y.baseAddress, Int32(n))
                    }
                }
            }
            return (rows, stopwatch.secondsPerCall { tiled.run(rows: rows) }, gemm)
        }
    }
}
