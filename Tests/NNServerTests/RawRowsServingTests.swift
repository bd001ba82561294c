import Foundation
import NNCore
import NNFormat
import NNInference
@testable import NNServer
import XCTest

/// The server's side of raw rows: BYTES tensors decoded from each wire form, labels in
/// Triton's classification answers, and the drift window of a model's raw columns.
final class RawRowsServingTests: XCTestCase {
    private func strings(_ values: TensorView.Values, shape: [Int64]) throws -> [String?] {
        let input = try TensorView(name: "c", shape: shape, datatype: "BYTES", values: values).rows()
        return try XCTUnwrap(input.text)
    }

    private func failure(_ values: TensorView.Values, shape: [Int64]) -> String {
        do {
            _ = try TensorView(name: "c", shape: shape, datatype: "BYTES", values: values).rows()
            return "accepted"
        } catch {
            return error.message
        }
    }

    func testBytesFromJSONAndTheLengthPrefixedForm() throws {
        let json = try JSONParser.parse(Array(#"["a", null, 2007, "é"]"#.utf8))
        XCTAssertEqual(try strings(.json(json), shape: [4]), ["a", nil, "2007", "é"], "strings, null as a gap, numbers as their text")
        let nested = try JSONParser.parse(Array(#"[["a"], ["b"]]"#.utf8))
        XCTAssertEqual(try strings(.json(nested), shape: [2, 1]), ["a", "b"])
        let binary = Data([1, 0, 0, 0, 0x61, 0, 0, 0, 0, 2, 0, 0, 0, 0xC3, 0xA9])
        XCTAssertEqual(try strings(.littleEndian(binary, from: .binaryDataSize), shape: [3, 1]), ["a", "", "é"])
        let sliced = Data([9, 9] + [1, 0, 0, 0, 0x62]).dropFirst(2)
        XCTAssertEqual(try strings(.littleEndian(sliced, from: .rawContents(index: 0)), shape: [1]), ["b"], "a slice of a larger buffer")

        XCTAssertEqual(failure(.littleEndian(Data([5, 0, 0, 0, 0x61]), from: .binaryDataSize), shape: [1]),
                       "input 'c' binary data element 0 says 5 bytes; 1 are left")
        XCTAssertEqual(failure(.littleEndian(Data([1, 0, 0]), from: .rawContents(index: 2)), shape: [1]),
                       "input 'c' raw_input_contents[2] element 0 has a truncated 4-byte length")
        XCTAssertEqual(failure(.littleEndian(Data([0, 0, 0, 0, 0, 0, 0, 0]), from: .typedContents), shape: [1]),
                       "input 'c' contents.bytes_contents holds more than the 1 elements of shape [1]")
        XCTAssertEqual(failure(.littleEndian(Data([1, 0, 0, 0, 0xFF]), from: .binaryDataSize), shape: [1]), "input 'c' element 0 is not UTF-8 text")
        XCTAssertEqual(failure(.json(try JSONParser.parse(Array(#"["a"]"#.utf8))), shape: [2]), "input 'c' has 1 strings; shape [2] needs 2")
        XCTAssertEqual(failure(.json(try JSONParser.parse(Array(#"["a", true]"#.utf8))), shape: [2]),
                       "input 'c' element 1 is a boolean; BYTES elements are strings (or null for a gap)")
    }

    func testClassificationNamesTheLabelsAndRanksABinaryHeadsTwoClasses() {
        XCTAssertEqual(Classification.top(2, of: [0.2, 0.7, 0.1], rows: 1, width: 3, labels: ["Adelie", "Chinstrap", "Gentoo"]),
                       ["0.700000:1:Chinstrap", "0.200000:0:Adelie"])
        XCTAssertEqual(Classification.top(2, of: [0.75, 0.25], rows: 2, width: 1, labels: ["no", "yes"]),
                       ["0.750000:1:yes", "0.250000:0:no", "0.750000:0:no", "0.250000:1:yes"])
        XCTAssertEqual(Classification.top(1, of: [0.75], rows: 1, width: 1), ["0.750000:0"], "no labels: Triton's one class per unit")
        XCTAssertEqual(GraphOutput.predictedClass([Float(0.75)]), 1)
        XCTAssertEqual(GraphOutput.predictedClass([Float(0.5)]), 0, "ties go to class 0, as classification ranks them")
        XCTAssertEqual(GraphOutput.predictedClass([Float(0.2), 0.7, 0.7]), 1)
    }

    /// A two-bin numeric column: the window holds exactly the last N values, in row order,
    /// whatever the request sizes.
    func testTheDriftWindowHoldsTheLastValuesInOrder() throws {
        let column = RawColumn(name: "x", kind: .numeric(.init(fill: 0, indicatesMissing: true)),
                               profile: ColumnProfile(rows: 100, missingRate: 0, minimum: 0, maximum: 10, mean: 5, std: 1, edges: [5], fractions: [0.5, 0.5]))
        let dense = DenseParameters(weights: Tensor(zeros: [2, 1]), bias: Tensor(zeros: [1]))
        let plan = try Plan(graph: Graph(inputs: [GraphInput(name: "in", columns: [column])],
                                         nodes: [Node(name: "out", operation: .dense(dense), inputs: ["in"])], outputs: [GraphOutput(name: "y", node: "out")]))
        let monitor = try XCTUnwrap(ColumnMonitor(plan: plan, windowRows: 4))
        func send(_ values: [Float]) throws {
            let block = try plan.rowBlock([NamedInput(name: "x", shape: [Int64(values.count)], values: values)], outputs: [], limits: .unbounded)
            monitor.record(block.tallies, plan: plan)
        }
        try send([1, 1, 9, 9])
        XCTAssertEqual(monitor.snapshot[0].windowRows, 4)
        XCTAssertEqual(monitor.snapshot[0].drift, 0, accuracy: 1e-9, "half and half, as trained")
        // One request larger than the window: only its last four values remain, a gap among them.
        try send([9, 9, 9, 9, 9, 1, .nan, 1, 1])
        let snapshot = monitor.snapshot[0]
        XCTAssertEqual(snapshot.values, 13)
        XCTAssertEqual(snapshot.missing, 1)
        XCTAssertEqual(snapshot.windowRows, 4)
        let expected = PopulationStability.index(expected: [0.5, 0.5, 0], actual: [0.75, 0, 0.25])
        XCTAssertEqual(snapshot.drift, expected, accuracy: 1e-9)
        XCTAssertGreaterThan(snapshot.drift, PopulationStability.majorShift)
        let text = String(decoding: ColumnMetricFamily.exposition(["m": []]), as: UTF8.self)
        XCTAssertEqual(text, "", "no model taking raw rows: no column families")
    }
}
