import NNCore
import XCTest

/// The one encoder of raw values (tables at training, requests at serving), the graph's checks
/// of raw columns, the drift index against hand-computed values, and CSV's delimiters.
final class RawColumnTests: XCTestCase {
    private let age = RawColumn(name: "age", kind: .numeric(.init(fill: 30, indicatesMissing: true)),
                                profile: ColumnProfile(rows: 10, missingRate: 0.2, minimum: 1, maximum: 80, mean: 30, std: 14,
                                                       edges: [20, 40], fractions: [0.25, 0.5, 0.25]))
    private let klass = RawColumn(name: "class", kind: .categorical(Categories(vocabulary: ["3rd", "1st", "2007"], hasOther: true, hasMissing: true)),
                                  profile: ColumnProfile(rows: 10, missingRate: 0.1, fractions: [0.5, 0.3, 0.1, 0.1]))

    private func encode(_ column: RawColumn, _ value: RawValue) throws -> ([Float], RawObservation) {
        var features = [Float](repeating: -7, count: column.width)
        let observation = try features.withUnsafeMutableBufferPointer { try column.encode(value, into: $0.baseAddress!) }
        return (features, observation)
    }

    func testNumericValuesGapsAndTheirIndicator() throws {
        XCTAssertEqual(age.featureNames, ["age", "age:missing"])
        XCTAssertEqual(try encode(age, .number(25)).0, [25, 0])
        XCTAssertEqual(try encode(age, .number(25)).1, RawObservation(bin: 1))
        XCTAssertEqual(try encode(age, .text("40")).1, RawObservation(bin: 2), "an edge opens the bin above it")
        XCTAssertEqual(try encode(age, .missing).0, [30, 1], "a gap is the training mean, flagged")
        XCTAssertEqual(try encode(age, .missing).1, RawObservation(bin: nil))
        XCTAssertEqual(try encode(age, .number(90)).1, RawObservation(bin: 2, outsideRange: true))
        XCTAssertEqual(try encode(age, RawValue(number: .nan)).0, [30, 1], "NaN from an FP32 tensor is a gap")
        XCTAssertThrowsError(try encode(age, .text("twenty"))) {
            XCTAssertEqual("\($0)", "'twenty' is not a number (column 'age' is numeric)")
        }
        XCTAssertThrowsError(try encode(age, .text("inf"))) { XCTAssertEqual("\($0)", "inf is not finite (column 'age')") }
        let plain = RawColumn(name: "x", kind: .numeric(.init(fill: 2, indicatesMissing: false)), profile: age.profile)
        XCTAssertEqual(try encode(plain, .missing).0, [2], "no indicator: the fill alone")
    }

    func testCategoriesOneHotWithOtherAndMissingSlots() throws {
        XCTAssertEqual(klass.featureNames, ["class=3rd", "class=1st", "class=2007", "class=(other)", "class=(missing)"])
        XCTAssertEqual(try encode(klass, RawValue(field: " 1st ")).0, [0, 1, 0, 0, 0], "cells are trimmed")
        XCTAssertEqual(try encode(klass, .text("crew")).0, [0, 0, 0, 1, 0])
        XCTAssertEqual(try encode(klass, .text("crew")).1, RawObservation(bin: 3, unknown: true))
        XCTAssertEqual(try encode(klass, RawValue(field: "NA")).0, [0, 0, 0, 0, 1])
        for written in [RawValue.number(2007), .text("2007.0"), .text("2.007e3")] {
            XCTAssertEqual(try encode(klass, written).0, [0, 0, 1, 0, 0], "a number category is one category however it is written: \(written)")
        }
        XCTAssertThrowsError(try encode(klass, .text(String(repeating: "é", count: 129)))) {
            XCTAssertEqual("\($0)", "a category of 258 bytes (column 'class'); categories are at most 256 bytes")
        }
        let closed = RawColumn(name: "sex", kind: .categorical(Categories(vocabulary: ["f", "m"], hasOther: false, hasMissing: false)),
                               profile: ColumnProfile(fractions: [0.5, 0.5, 0]))
        XCTAssertEqual(try encode(closed, .text("x")).0, [0, 0], "no other slot: none of the known ones")
        XCTAssertEqual(try encode(closed, .missing).0, [0, 0])
    }

    func testMissingSpellings() {
        for gap in ["", "  ", "NA", "N/A", "NaN", "nan", "NULL", "null", "None", "<NA>", "#N/A"] {
            XCTAssertEqual(RawValue(field: gap), .missing, gap)
        }
        XCTAssertEqual(RawValue(field: "Na"), .text("Na"), "sodium is not a gap")
    }

    func testGraphChecksItsRawColumns() throws {
        let dense = DenseParameters(weights: Tensor(zeros: [7, 1]), bias: Tensor(zeros: [1]))
        func graph(_ inputs: [GraphInput]) -> Graph {
            Graph(inputs: inputs, nodes: [Node(name: "out", operation: .dense(dense), inputs: [inputs[0].name])], outputs: [GraphOutput(name: "y", node: "out")])
        }
        XCTAssertNoThrow(try graph([GraphInput(name: "x", columns: [age, klass])]).validate())
        var wrong = GraphInput(name: "x", columns: [age, klass])
        wrong.featureNames[0] = "years"
        XCTAssertThrowsError(try graph([wrong]).validate()) {
            XCTAssertEqual("\($0)", "input 'x': feature 0 is named 'years'; its raw column encodes 'age' there")
        }
        var bad = klass
        bad.profile.fractions = [1]
        XCTAssertThrowsError(try graph([GraphInput(name: "x", columns: [age, bad])]).validate()) {
            XCTAssertEqual("\($0)", "input 'x': column 'class' has 1 category fractions for 3 categories and other")
        }
        var huge = age
        huge.profile.edges = (0...ColumnProfile.maximumEdges).map(Float.init)
        huge.profile.fractions = [Float](repeating: 0, count: huge.profile.edges.count + 1)
        XCTAssertThrowsError(try graph([GraphInput(name: "x", columns: [huge, klass])]).validate(), "a file cannot make a server count a million bins")
        var clash = graph([GraphInput(name: "x", columns: [age, klass]), GraphInput(name: "age", width: 2)])
        XCTAssertThrowsError(try clash.validate()) {
            XCTAssertEqual("\($0)", "input 'x': raw column 'age' has the name of a numeric input; a request could not tell them apart")
        }
        clash.inputs.removeLast()
        clash.outputs[0].labels = ["no", "yes"]
        XCTAssertNoThrow(try clash.validate(), "a one-unit head has two labels")
        clash.outputs[0].labels = ["no", "yes", "maybe"]
        XCTAssertThrowsError(try clash.validate())
    }

    /// PSI against values worked by hand: Σ (a − e) ln(a / e).
    func testPopulationStabilityIndex() {
        XCTAssertEqual(PopulationStability.index(expected: [0.5, 0.5], actual: [0.5, 0.5]), 0)
        // (0.7 − 0.5) ln(0.7/0.5) + (0.3 − 0.5) ln(0.3/0.5) = 0.2·0.336472 + 0.2·0.510826 = 0.169460
        XCTAssertEqual(PopulationStability.index(expected: [0.5, 0.5], actual: [0.7, 0.3]), 0.169460, accuracy: 1e-6)
        // An empty bin counts at the 1e-4 floor: (1e-4 − 0.1) ln(1e-4/0.1) + (1 − 0.9) ln(1/0.9)
        XCTAssertEqual(PopulationStability.index(expected: [0.1, 0.9], actual: [0, 1]), 0.0999 * log(1000) + 0.1 * log(1 / 0.9), accuracy: 1e-9)
        for (got, want) in zip(PopulationStability.expected(age.profile), [0.2, 0.4, 0.2, 0.2]) {
            XCTAssertEqual(got, want, accuracy: 1e-7, "present bins scaled, then the gap bin")
        }
        XCTAssertEqual(PopulationStability.actual(bins: [1, 2, 1], missing: 0), [0.25, 0.5, 0.25, 0])
    }

    func testDelimitersAndBytesThatAreNotText() throws {
        XCTAssertEqual(try CSVReader.records("a;b\n\"x;y\";2\n", delimiter: 59).map(\.fields), [["a", "b"], ["x;y", "2"]])
        XCTAssertEqual(try CSVReader.records("a\tb\n1\t2\n", delimiter: CSVReader.delimiter(named: "tab")!).map(\.fields), [["a", "b"], ["1", "2"]])
        XCTAssertEqual(try CSVReader.records("\"a\"\t\"b\"\n\"x y\" \t2\n", delimiter: 9).map(\.fields), [["a", "b"], ["x y", "2"]],
                       "a tab after a closing quote is the delimiter, not padding")
        XCTAssertEqual(CSVReader.delimiter(named: "|"), 124)
        XCTAssertNil(CSVReader.delimiter(named: "\""))
        XCTAssertNil(CSVReader.delimiter(named: ";;"))
        let bytes: [UInt8] = Array("a,b\n1,2\n3,".utf8) + [0xFF, 0x0A]
        XCTAssertThrowsError(try bytes.withUnsafeBufferPointer { try CSVReader.records($0) }) {
            XCTAssertEqual("\($0)", "line 3: field 2 is not UTF-8 text")
        }
        XCTAssertEqual(CSVWriter.field("Allen, Miss. \"Elisabeth\""), "\"Allen, Miss. \"\"Elisabeth\"\"\"")
        XCTAssertEqual(try CSVReader.records(CSVWriter.field("a,\"b\"\nc")).map(\.fields), [["a,\"b\"\nc"]], "what the writer quotes, the reader reads back")
    }
}
