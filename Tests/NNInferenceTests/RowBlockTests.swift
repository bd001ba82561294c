import NNCore
@testable import NNInference
import NNTestSupport
import XCTest

/// The one request path: inputs checked into row blocks, blocks run together or in chunks,
/// each block's outputs equal to running it alone.
final class RowBlockTests: XCTestCase {
    private let graph = GraphFixtures.mlp([5, 16, 3])

    private func block(_ plan: Plan, rows: Int, seed: UInt64) throws -> (RowBlock, Tensor) {
        let tensor = GraphFixtures.randomBatch(rows: rows, width: 5, seed: seed)
        let block = try plan.rowBlock([NamedInput(name: "x", shape: [Int64(rows), 5], values: tensor.scalars)], outputs: [],
                                      limits: RequestLimits(maxRows: 1000, maxOutputValues: 1 << 20))
        return (block, tensor)
    }

    func testBlocksRunTogetherOrChunkedGiveEachItsOwnRows() throws {
        let plan = try Plan(graph: graph, options: PlanOptions(maxRows: 16))
        let reference = Executor(plan: try Plan(graph: graph, options: .unoptimized()))
        let executor = Executor(plan: plan)
        // 3 + 9 fit one run, 7 starts the next, 40 runs alone in chunks, 1 after it.
        let made = try [3, 9, 7, 40, 1].enumerated().map { try block(plan, rows: $1, seed: UInt64($0)) }
        var runs: [Int] = []
        let results = executor.run(made.map(\.0)) { rows, _ in runs.append(rows) }
        XCTAssertEqual(runs, [12, 7, 16, 16, 8, 1])
        for ((block, tensor), outputs) in zip(made, results) {
            let expected = try reference.predict(["x": tensor])["y"]!
            XCTAssertEqual(outputs.count, 1)
            XCTAssertEqual(outputs[0].count, block.rows * 3)
            for (got, want) in zip(outputs[0], expected.scalars) { XCTAssertEqual(got, want, accuracy: 1e-4) }
        }
    }

    func testRefusalsNameTheValue() throws {
        var named = graph
        named.inputs[0].featureNames = ["a", "b", "c", "d", "e"]
        let plan = try Plan(graph: named)
        let limits = RequestLimits(maxRows: 4, maxOutputValues: 9)
        func refusal(_ inputs: [NamedInput], outputs: [String] = []) -> String {
            do {
                _ = try plan.rowBlock(inputs, outputs: outputs, limits: limits)
                return "accepted"
            } catch {
                return error.message(model: "model 'm' v1")
            }
        }
        let nan = NamedInput(name: "x", shape: [1, 5], values: [0, 0, .nan, 0, 0])
        XCTAssertEqual(refusal([nan]), "input 'x' row 0 feature 'c' is nan; values must be finite")
        XCTAssertEqual(refusal([NamedInput(name: "x", shape: [5, 5], values: Array(repeating: 0, count: 25))]),
                       "input 'x' has 5 rows; requests carry at most 4")
        XCTAssertEqual(refusal([NamedInput(name: "x", shape: [0, 5], values: [])]), "input 'x' has no rows: the batch is empty")
        let four = NamedInput(name: "x", shape: [4, 5], values: Array(repeating: 0, count: 20))
        XCTAssertEqual(refusal([four], outputs: ["y", "y"]), "output 'y' is requested more than once; name each output at most once")
        XCTAssertTrue(refusal([four]).hasPrefix("the response would carry 12 values"), refusal([four]))
        XCTAssertEqual(refusal([NamedInput(name: "x", shape: [1, 5], values: [1, 2, 3])]), "input 'x' has 3 values for shape [1, 5]")
    }
}
