import CMallocCounter
import NNCore
import NNFormat
import NNInference
import NNTestSupport
import XCTest

/// `Executor.run` allocates nothing once warm, on every kernel set: counted with an interposed
/// allocator. NNInference does not link OpenBLAS (its sgemm allocates inside for some shapes
/// with its AVX-512 "Cooperlake" and "SkylakeX" kernels); only nnbench compares against it.
final class AllocationTests: XCTestCase {
    func testRunAllocatesNothingAfterWarmUpAVX512BF16() throws { try assertRunAllocatesNothing(.avx512bf16) }
    func testRunAllocatesNothingAfterWarmUpAVX512VNNI() throws { try assertRunAllocatesNothing(.avx512vnni) }
    func testRunAllocatesNothingAfterWarmUpAVX512() throws { try assertRunAllocatesNothing(.avx512) }
    func testRunAllocatesNothingAfterWarmUpAVX2() throws { try assertRunAllocatesNothing(.avx2) }
    func testRunAllocatesNothingAfterWarmUpPortable() throws { try assertRunAllocatesNothing(.portable) }

    private func assertRunAllocatesNothing(_ kernels: KernelSet) throws {
        try XCTSkipUnless(kernels.isSupported, "kernel set \(kernels) not run: this CPU lacks \(kernels.requiredFeatures)")
        try XCTSkipUnless(nn_malloc_counter_available() != 0, "not run: a sanitizer build owns malloc, nothing is counted")
        // The two fixtures have layers wide enough for bf16 and int8 (PrecisionChooser.minimumWeights);
        // the random graph may not.
        let graphs = [(GraphFixtures.wideAndDeep(), true), (GraphFixtures.mlp([784, 300, 100, 10]), true), (RandomGraphs.make(seed: 7), false)]
        // Every set runs fp32 and int8 (inputs quantized into the arena's scratch); the bf16
        // set its bf16 path too (inputs rounded on the stack).
        let storages: [WeightStorage] = [.float32, .int8] + (kernels.hasBF16DotProducts ? [.bfloat16] : [])
        for (graph, hasWideLayers) in graphs {
            for storage in storages { try assertRunAllocatesNothing(graph, kernels: kernels, storage: storage, hasWideLayers: hasWideLayers) }
        }
    }

    private func assertRunAllocatesNothing(_ graph: Graph, kernels: KernelSet, storage: WeightStorage, hasWideLayers: Bool) throws {
        let options = PlanOptions(kernels: kernels, storedWeights: storage, precisionChooser: .reducedWherePossible)
        let executor = Executor(plan: try Plan(graph: graph, options: options))
        if hasWideLayers {
            XCTAssertEqual(executor.plan.computesInBF16, storage == .bfloat16)
            XCTAssertEqual(executor.plan.computesInInt8, storage == .int8)
        }
        for index in executor.plan.inputs.indices {
            let (pointer, leadingDimension) = executor.input(index)
            for row in 0..<executor.plan.maxRows {
                for column in 0..<executor.plan.inputs[index].width { pointer[row * leadingDimension + column] = Float(column % 7) - 3 }
            }
        }
        for rows in [1, 8, 64, 256] { executor.run(rows: rows) }
        nn_malloc_counter_start()
        let probe = [Float](repeating: 1, count: 1000)
        XCTAssertGreaterThan(nn_malloc_counter_stop(), 0, "the counter must see an ordinary allocation (\(probe.count))")

        let batchSizes = [1, 3, 8, 17, 64, 129, 200, 256]
        nn_malloc_counter_start()
        for iteration in 0..<64 { executor.run(rows: batchSizes[iteration % batchSizes.count]) }
        let allocations = nn_malloc_counter_stop()
        XCTAssertEqual(allocations, 0, "\(kernels), \(storage): allocations during run for graph with \(graph.nodes.count) nodes")
    }
}
