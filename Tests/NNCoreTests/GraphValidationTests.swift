import NNCore
import NNTestSupport
import XCTest

final class GraphValidationTests: XCTestCase {
    private func expectError(_ graph: Graph, _ expected: GraphError, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try graph.validate(), file: file, line: line) { error in
            XCTAssertEqual(error as? GraphError, expected, file: file, line: line)
        }
    }

    func testWidthsOfAValidGraph() throws {
        let analysis = try GraphFixtures.wideAndDeep(inputWidth: 8, hidden: 16).validate()
        XCTAssertEqual(analysis.widths["wide_and_deep"], 24)
        XCTAssertEqual(analysis.widths["price"], 1)
        XCTAssertEqual(analysis.widths["class_probs"], 3)
        XCTAssertEqual(analysis.order.count, 10)
    }

    func testOrderPutsProducersFirstWhateverTheDeclarationOrder() throws {
        var graph = GraphFixtures.mlp([4, 3, 2, 1])
        graph.nodes.reverse()
        let analysis = try graph.validate()
        XCTAssertEqual(analysis.order.map { graph.nodes[$0].name }, ["dense1", "dense2", "dense3"])
    }

    func testMissingNodeIsNamed() {
        var graph = GraphFixtures.mlp([4, 3, 1])
        graph.nodes[1].inputs = ["dense7"]
        expectError(graph, .unknownReference(node: "dense2", reference: "dense7"))
        XCTAssertEqual(GraphError.unknownReference(node: "dense2", reference: "dense7").description,
                       "node 'dense2' reads 'dense7', which is neither a graph input nor a node")
    }

    func testWidthMismatchNamesNodeAndShapes() {
        var graph = GraphFixtures.mlp([4, 3, 1])
        graph.inputs[0].width = 5
        expectError(graph, .widthMismatch(node: "dense1", detail: "input 'x' has 5 features, kernel [4, 3] expects 4"))
    }

    func testStructuralErrors() {
        var cyclic = GraphFixtures.mlp([2, 2, 2])
        cyclic.nodes[0].inputs = ["dense2"]
        expectError(cyclic, .cycle(nodes: ["dense1", "dense2"]))

        var duplicate = GraphFixtures.mlp([2, 2, 2])
        duplicate.nodes[1].name = "dense1"
        expectError(duplicate, .duplicateName("dense1"))

        var noOutputs = GraphFixtures.mlp([2, 2])
        noOutputs.outputs = []
        expectError(noOutputs, .noOutputs)

        var badOutput = GraphFixtures.mlp([2, 2])
        badOutput.outputs[0].node = "nowhere"
        expectError(badOutput, .unknownOutputNode(output: "y", node: "nowhere"))

        var add = GraphFixtures.mlp([2, 3])
        add.nodes.append(Node(name: "sum", operation: .add, inputs: ["x", "dense1"]))
        expectError(add, .widthMismatch(node: "sum", detail: "add needs inputs of equal width: 'x' has 2, 'dense1' has 3 features"))
    }

    func testParameterErrors() {
        var graph = GraphFixtures.mlp([2, 3])
        guard case .dense(var dense) = graph.nodes[0].operation else { return XCTFail("fixture changed") }
        dense.bias = Tensor([1, 2])
        graph.nodes[0].operation = .dense(dense)
        expectError(graph, .invalidParameter(node: "dense1", detail: "bias has shape [2], kernel [2, 3] needs [3]"))

        var dropout = GraphFixtures.mlp([2, 3])
        dropout.nodes.append(Node(name: "drop", operation: .dropout(rate: 1), inputs: ["dense1"]))
        expectError(dropout, .invalidParameter(node: "drop", detail: "dropout rate must be in [0, 1), got 1.0"))

        var standardized = GraphFixtures.mlp([2, 3])
        standardized.inputs[0].standardization = Standardization(mean: [0, 0], std: [1, 0])
        expectError(standardized, .invalidInput(input: "x", detail: "standard deviation of feature 1 is 0.0; it must be finite and positive"))

        // A NaN slope makes every negative input NaN: refused, in a dense node or on its own.
        var leaky = GraphFixtures.mlp([2, 3])
        guard case .dense(var slope) = leaky.nodes[0].operation else { return XCTFail("fixture changed") }
        slope.activation = .leakyRelu(alpha: .nan)
        leaky.nodes[0].operation = .dense(slope)
        expectError(leaky, .invalidParameter(node: "dense1", detail: "leaky_relu alpha is nan; it must be finite"))
        var elu = GraphFixtures.mlp([2, 3])
        elu.nodes.append(Node(name: "act", operation: .activation(.elu(alpha: .infinity)), inputs: ["dense1"]))
        expectError(elu, .invalidParameter(node: "act", detail: "elu alpha is inf; it must be finite"))
    }
}
