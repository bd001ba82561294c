import NNCore
@testable import NNInference
import XCTest

/// A plan of a model taking raw rows: requests send one tensor per raw column (numbers with
/// NaN gaps, or text), `rowBlock` encodes them exactly as the trainer encoded its table, and
/// counts what it saw for the server's metrics.
final class RawRowsTests: XCTestCase {
    private let sex = RawColumn(name: "sex", kind: .categorical(Categories(vocabulary: ["male", "female"], hasOther: false, hasMissing: false)),
                                profile: ColumnProfile(rows: 4, fractions: [0.5, 0.5, 0]))
    private let age = RawColumn(name: "age", kind: .numeric(.init(fill: 30, indicatesMissing: true)),
                                profile: ColumnProfile(rows: 4, missingRate: 0.25, minimum: 1, maximum: 80, mean: 30, std: 10, edges: [30], fractions: [0.5, 0.5]))

    /// y = features · (1, 2, 4, 8): each feature's contribution is visible in the answer.
    private func plan() throws -> Plan {
        let input = GraphInput(name: "passenger", columns: [sex, age])
        let dense = DenseParameters(weights: Tensor(shape: [4, 1], values: [1, 2, 4, 8]), bias: Tensor(zeros: [1]))
        return try Plan(graph: Graph(inputs: [input], nodes: [Node(name: "out", operation: .dense(dense), inputs: ["passenger"])],
                                     outputs: [GraphOutput(name: "y", node: "out")]))
    }

    func testColumnsAsTextOrNumbersEncodeLikeTheTrainer() throws {
        let plan = try plan()
        XCTAssertEqual(plan.requestInputs.map(\.name), ["sex", "age"])
        XCTAssertTrue(plan.takesRawRows)
        let block = try plan.rowBlock([NamedInput(name: "sex", shape: [4, 1], text: ["female", "male", nil, "robot"]),
                                       NamedInput(name: "age", shape: [4], values: [20, .nan, 50, 90])],
                                      outputs: [], limits: RequestLimits(maxRows: 64, maxOutputValues: 1024))
        XCTAssertEqual(block.rows, 4)
        XCTAssertEqual(block.inputs[0], [0, 1, 20, 0,
                                         1, 0, 30, 1,
                                         0, 0, 50, 0,
                                         0, 0, 90, 0])
        let executor = Executor(plan: plan)
        XCTAssertEqual(executor.run([block])[0][0], [2 + 80, 1 + 120 + 8, 200, 360])
        XCTAssertEqual(block.tallies.map(\.input), [0, 1])
        XCTAssertEqual(block.tallies[0].rows, 4)
        XCTAssertEqual(block.tallies[0].missing, 1)
        XCTAssertEqual(block.tallies[0].unknown, 1)
        XCTAssertEqual(block.tallies[0].bins, [1, 1, 1], "female, male, then 'robot' in the other bin")
        XCTAssertEqual(block.tallies[1].bins, [1, 2])
        XCTAssertEqual(block.tallies[1].outsideRange, 1)
        let asText = try plan.rowBlock([NamedInput(name: "sex", shape: [1], text: ["male"]), NamedInput(name: "age", shape: [1], text: [" NA "])],
                                       outputs: [], limits: .unbounded)
        XCTAssertEqual(asText.inputs[0], [1, 0, 30, 1], "numbers may come as text, gaps as their spellings")
    }

    func testBadRequestsNameTheColumnAndRow() throws {
        let plan = try plan()
        let limits = RequestLimits(maxRows: 2, maxOutputValues: 1024)
        func refusal(_ inputs: [NamedInput]) -> String {
            do {
                _ = try plan.rowBlock(inputs, outputs: [], limits: limits)
                return "accepted"
            } catch {
                return error.message(model: "model 'titanic' v1")
            }
        }
        let sexes = NamedInput(name: "sex", shape: [2, 1], text: ["male", "female"])
        XCTAssertEqual(refusal([sexes]), "input 'age' is missing; model 'titanic' v1 needs it")
        XCTAssertEqual(refusal([sexes, NamedInput(name: "age", shape: [2, 1], text: ["3", "old"])]),
                       "input 'age' row 1: 'old' is not a number (column 'age' is numeric)")
        XCTAssertEqual(refusal([sexes, NamedInput(name: "age", shape: [2, 2], values: [1, 2, 3, 4])]),
                       "input 'age' has shape [2, 2]; model 'titanic' v1 expects [rows, 1]")
        XCTAssertEqual(refusal([sexes, NamedInput(name: "age", shape: [3], values: [1, 2, 3])]),
                       "input 'age' has 3 rows; requests carry at most 2")
        XCTAssertEqual(refusal([sexes, NamedInput(name: "age", shape: [1], values: [1])]), "input 'age' has 1 rows, the other inputs 2")
        XCTAssertEqual(refusal([sexes, NamedInput(name: "age", shape: [2], values: [1, .infinity])]), "input 'age' row 1: inf is not finite (column 'age')")
        XCTAssertEqual(refusal([NamedInput(name: "passenger", shape: [1, 4], values: [0, 1, 2, 0])]),
                       "unknown input 'passenger'; model 'titanic' v1 takes 'sex', 'age'")
        XCTAssertEqual(refusal([sexes, NamedInput(name: "age", shape: [2], values: [1, 2]), NamedInput(name: "x", shape: [1], values: [1])]),
                       "unknown input 'x'; model 'titanic' v1 takes 'sex', 'age'")
    }

    func testNumericInputsRefuseTextAndToolsPassEncodedFeatures() throws {
        let numeric = try Plan(graph: Graph(inputs: [GraphInput(name: "x", width: 2)],
                                            nodes: [Node(name: "out", operation: .dense(DenseParameters(weights: Tensor(shape: [2, 1], values: [1, 1]), bias: Tensor(zeros: [1]))), inputs: ["x"])],
                                            outputs: [GraphOutput(name: "y", node: "out")]))
        XCTAssertFalse(numeric.takesRawRows)
        XCTAssertThrowsError(try numeric.rowBlock([NamedInput(name: "x", shape: [1, 2], text: ["1", "2"])], outputs: [], limits: .unbounded)) {
            XCTAssertEqual(($0 as? InputError)?.message(model: "model 'm'"), "input 'x' is text (BYTES); model 'm' takes it as [rows, 2] numbers (FP32)")
        }
        XCTAssertEqual(try numeric.rowBlock([NamedInput(name: "x", shape: [2], values: [1, 2])], outputs: [], limits: .unbounded).rows, 1,
                       "a flat [features] tensor is one row")
        let raw = try plan()
        let outputs = try Executor(plan: raw).predict(["passenger": Tensor(shape: [1, 4], values: [0, 1, 20, 0])])
        XCTAssertEqual(outputs["y"]?.scalars, [82], "Executor.predict takes the graph's inputs as features")
    }
}
