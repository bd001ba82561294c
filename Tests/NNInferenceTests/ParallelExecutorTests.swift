import CMallocCounter
import NNCore
import NNInference
import NNTestSupport
import XCTest

/// A batch split across threads gives what one executor gives, for every row count (split or
/// kept on the calling thread), and the split run allocates nothing.
final class ParallelExecutorTests: XCTestCase {
    private func assertMatchesOneExecutor(_ graph: Graph, threads: Int, rowCounts: [Int], file: StaticString = #filePath, line: UInt = #line) throws {
        let parallel = try ParallelExecutor(graph: graph, threads: threads)
        let single = Executor(plan: try Plan(graph: graph, options: PlanOptions(maxRows: parallel.maxRows)))
        for rows in rowCounts {
            var inputs: [[Float]] = []
            for (index, binding) in parallel.plan.inputs.enumerated() {
                let values = GraphFixtures.randomBatch(rows: rows, width: binding.width, seed: UInt64(rows * 10 + index)).scalars
                values.withUnsafeBufferPointer {
                    parallel.setInput(index, rows: rows, from: $0.baseAddress!)
                    single.setInput(index, rows: rows, from: $0.baseAddress!)
                }
                inputs.append(values)
            }
            parallel.run(rows: rows)
            single.run(rows: rows)
            for (index, binding) in parallel.plan.outputs.enumerated() {
                var split = [Float](repeating: .nan, count: rows * binding.width)
                var whole = [Float](repeating: .nan, count: rows * binding.width)
                parallel.copyOutput(index, rows: rows, to: &split)
                single.copyOutput(index, rows: rows, to: &whole)
                for (position, (a, b)) in zip(split, whole).enumerated() where abs(a - b) > 1e-5 * max(1, abs(b)) {
                    XCTFail("\(threads) threads, \(rows) rows: output '\(binding.name)' element \(position) is \(a), one executor gives \(b)",
                            file: file, line: line)
                    return
                }
            }
        }
    }

    func testSplitBatchesMatchOneExecutor() throws {
        try assertMatchesOneExecutor(GraphFixtures.mlp([784, 300, 100, 10]), threads: 2, rowCounts: [1, 2, 3, 8, 9, 64, 255, 256])
        try assertMatchesOneExecutor(GraphFixtures.wideAndDeep(), threads: 2, rowCounts: [1, 17, 100, 256])
        try assertMatchesOneExecutor(GraphFixtures.mlp([784, 300, 100, 10]), threads: 3, rowCounts: [5, 97, 256])
        try assertMatchesOneExecutor(RandomGraphs.make(seed: 21), threads: 2, rowCounts: [1, 40, 256])
    }

    func testSplitRunAllocatesNothing() throws {
        try XCTSkipUnless(nn_malloc_counter_available() != 0, "not run: a sanitizer build owns malloc, nothing is counted")
        let parallel = try ParallelExecutor(graph: GraphFixtures.mlp([784, 300, 100, 10]), threads: 2)
        for rows in [1, 64, 256] { parallel.run(rows: rows) }
        let batchSizes = [1, 8, 64, 129, 256]
        nn_malloc_counter_start()
        for iteration in 0..<40 { parallel.run(rows: batchSizes[iteration % batchSizes.count]) }
        XCTAssertEqual(nn_malloc_counter_stop(), 0)
    }
}
