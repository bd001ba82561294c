import Foundation
import NNCore
@testable import NNTrain
import XCTest

/// The training vocabulary reads its spellings in one place: model files, flags and
/// checkpoints refuse an unknown name with the nearest one and the whole list.
final class VocabularyTests: XCTestCase {
    private func refusal(_ json: String) -> String {
        do {
            _ = try ModelSpec.decode(json: Data(json.utf8), file: "m.json")
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    func testAModelFileNamesTheNearestSpelling() {
        let layer = #"{"inputs": [{"name": "x"}], "layers": [{"name": "h", "type": "dnese", "inputs": ["x"], "units": 4}], "#
            + #""outputs": [{"name": "y", "node": "h", "loss": "mse"}]}"#
        XCTAssertEqual(refusal(layer), "m.json: unknown layer type 'dnese' (did you mean 'dense'?); one of dense, shared_dense, batch_norm, "
                       + "dropout, alpha_dropout, activation, softmax, concat, add at .layers[0].type")
        let loss = #"{"inputs": [{"name": "x"}], "layers": [{"name": "h", "type": "dense", "inputs": ["x"], "units": 1}], "#
            + #""outputs": [{"name": "y", "node": "h", "loss": "hubber"}]}"#
        XCTAssertTrue(refusal(loss).hasPrefix("m.json: unknown loss 'hubber' (did you mean 'huber'?)"), refusal(loss))
        let initializer = #"{"inputs": [{"name": "x"}], "layers": [{"name": "h", "type": "dense", "inputs": ["x"], "units": 1, "#
            + #""initializer": "he_normall"}], "outputs": [{"name": "y", "node": "h", "loss": "mse"}]}"#
        XCTAssertTrue(refusal(initializer).hasPrefix("m.json: unknown initializer 'he_normall' (did you mean 'he_normal'?)"), refusal(initializer))
    }

    func testAnUnknownActivationIsRefusedWithItsLayer() throws {
        let json = #"{"inputs": [{"name": "x"}], "layers": [{"name": "h", "type": "dense", "inputs": ["x"], "units": 1, "activation": "rleu"}], "#
            + #""outputs": [{"name": "y", "node": "h", "loss": "mse"}]}"#
        let spec = try ModelSpec.decode(json: Data(json.utf8), file: "m.json")
        let input = GraphInput(name: "x", width: 3, featureNames: ["a", "b", "c"], standardization: nil)
        XCTAssertThrowsError(try ModelFactory.graph(spec, inputs: [input], seed: 1, file: "m.json")) {
            XCTAssertTrue("\($0)".hasPrefix("m.json: layer 'h': unknown activation 'rleu' (did you mean 'relu'?); one of linear, relu"), "\($0)")
        }
    }

    func testSpellingsRoundTripAsTheyWereWritten() throws {
        // Checkpoints store settings as JSON: the enums must write the strings older builds wrote.
        var settings = TrainingSettings()
        settings.optimizer = .adamw
        settings.schedule = .oneCycle
        settings.scaleLearningRate = .linear
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(settings), as: UTF8.self)
        XCTAssertTrue(json.contains(#""optimizer":"adamw""#) && json.contains(#""schedule":"one_cycle""#)
                      && json.contains(#""scaleLearningRate":"linear""#), json)
        XCTAssertEqual(try JSONDecoder().decode(TrainingSettings.self, from: Data(json.utf8)), settings)
        XCTAssertEqual(LossKind.allCases.map { ModelSpec.Head(name: "y", node: "h", loss: $0) }.map { ModelSpec(inputs: [], layers: [], outputs: []).loss(of: $0).name },
                       LossKind.spellings, "every loss kind builds the loss of its name")
        XCTAssertThrowsError(try OptimizerKind.spelled("adma")) {
            XCTAssertEqual("\($0)", "unknown optimizer 'adma' (did you mean 'adam'?); one of sgd, momentum, nesterov, adam, adamw")
        }
    }
}

/// The training table reads through the one CSV reader: quoted numbers and headers, CRLF.
final class CSVTableQuotingTests: XCTestCase {
    func testQuotedHeadersAndNumbersAndCRLF() throws {
        let table = try CSVTable.parse("\"a\",\"b, c\"\r\n\"1.5\",2\r\n3,\" 4 \"\r\n", file: "q.csv")
        XCTAssertEqual(table.header, ["a", "b, c"])
        XCTAssertEqual(table.values, [1.5, 2, 3, 4])
        XCTAssertThrowsError(try CSVTable.parse("a,b\n1,2\n3\n", file: "q.csv")) {
            XCTAssertEqual("\($0)", "\(DataError.wrongFieldCount(file: "q.csv", line: 3, expected: 2, got: 1))")
        }
        XCTAssertThrowsError(try CSVTable.parse("a\n\"1\n", file: "q.csv")) {
            XCTAssertTrue("\($0)".contains("line 2: a quoted field opened here is never closed"), "\($0)")
        }
    }
}
