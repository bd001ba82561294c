import NNCore
import NNInference

/// Times one Dense layer with the kernel set's tiled kernel and with sgemm + epilogue at growing
/// row counts: the evidence behind `DenseKernelChoice` (ours at every row count).
struct KernelCrossover {
    var stopwatch: Stopwatch

    func rows(k: Int, n: Int, rowCounts: [Int]) throws -> [(rows: Int, small: Double, gemm: Double)] {
        var rng = CounterRNG(seed: 9)
        let dense = DenseParameters(weights: Initializer.heNormal.kernel(fanIn: k, fanOut: n, rng: &rng), bias: Tensor(zeros: [n]), activation: .relu)
        let graph = Graph(inputs: [GraphInput(name: "x", width: k)], nodes: [Node(name: "d", operation: .dense(dense), inputs: ["x"])],
                          outputs: [GraphOutput(name: "y", node: "d")])
        let maxRows = rowCounts.max()!
        let small = Executor(plan: try Plan(graph: graph, options: PlanOptions(maxRows: maxRows, smallKernelMaxRows: .max)))
        let gemm = Executor(plan: try Plan(graph: graph, options: PlanOptions(maxRows: maxRows, smallKernelMaxRows: 0)))
        return rowCounts.map { rows in
            (rows, stopwatch.secondsPerCall { small.run(rows: rows) }, stopwatch.secondsPerCall { gemm.run(rows: rows) })
        }
    }
}
