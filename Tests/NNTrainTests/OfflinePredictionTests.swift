import Foundation
import NNCore
import NNFormat
@testable import NNTrain
import NNTestSupport
import XCTest

/// `nntrain predict`: a checkpoint's predictions for CSV rows, against the Double reference
/// interpreter of the training graph in inference mode; columns found by name in any order,
/// target columns not needed.
final class OfflinePredictionTests: XCTestCase {
    func testPredictionsMatchTheReferenceAndNeedNoTargets() throws {
        let datasets = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../datasets").standardized.path
        let spec = try ModelSpec.decode(json: try Data(contentsOf: URL(fileURLWithPath: datasets + "/../examples/digits.json")), file: "digits.json")
        var settings = TrainingSettings()
        settings.epochs = 1
        var trainer = try Trainer(spec: spec, table: try CSVTable.read(datasets + "/digits.csv"), settings: settings)
        try trainer.fit(checkpoint: nil)
        let checkpoint = trainer.checkpointFile()

        // Five rows of the features only, in reverse column order.
        let full = try CSVTable.read(datasets + "/digits.csv")
        let features = checkpoint.graph.inputs[0].featureNames
        let columns = Array(features.reversed())
        let (values, _) = try full.matrix(columns: columns)
        let rows = (0..<5).map { row in (0..<columns.count).map { "\(values[row * columns.count + $0])" }.joined(separator: ",") }
        let table = try CSVTable.parse(columns.joined(separator: ",") + "\n" + rows.joined(separator: "\n") + "\n", file: "rows.csv")

        let lines = try OfflinePrediction.csv(checkpoint, table: table).split(separator: "\n")
        XCTAssertEqual(lines[0], "label_0,label_1,label_2,label_3,label_4,label_5,label_6,label_7,label_8,label_9,label_class")
        XCTAssertEqual(lines.count, 6)
        let (ordered, _) = try full.matrix(columns: features)
        let inputs = [checkpoint.graph.inputs[0].name: Tensor(shape: [5, features.count], values: Array(ordered[0..<(5 * features.count)]))]
        let expected = try ReferenceExecutor.run(checkpoint.graph, inputs: inputs, rows: Array(0..<5))["label"]!
        for (row, line) in lines.dropFirst().enumerated() {
            let fields = line.split(separator: ",").map { Double($0)! }
            for column in 0..<10 { XCTAssertEqual(fields[column], expected[row][column], accuracy: 1e-4) }
            XCTAssertEqual(Int(fields[10]), expected[row].indices.max { expected[row][$0] < expected[row][$1] })
        }
        let missing = try CSVTable.parse("x\n1\n", file: "bad.csv")
        XCTAssertThrowsError(try OfflinePrediction.csv(checkpoint, table: missing)) {
            XCTAssertTrue("\($0)".hasPrefix("bad.csv: no column"), "\($0)")
        }
    }
}
