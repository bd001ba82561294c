import Foundation
import NNCore
@testable import NNTrain
import XCTest

/// Class weights (`"class_weight"`) and sample weights (`--sample-weight-column`).
final class WeightingTests: XCTestCase {
    func testBalancedWeightsFollowTheClassCounts() {
        let weights = ClassWeight.balanced.resolved(labels: Array(repeating: 0, count: 9) + [1])
        XCTAssertEqual(weights[0]!, 10 / (2 * 9), accuracy: 1e-6)
        XCTAssertEqual(weights[1]!, 5, accuracy: 1e-6)
        XCTAssertEqual(ClassWeight.map([1: 3]).resolved(labels: [0, 1]), [1: 3])
    }

    func testClassWeightDecodesFromTheModelFile() throws {
        func head(_ json: String) throws -> ModelSpec.Head {
            let text = #"{"inputs": [{"name": "x"}], "layers": [], "outputs": [{"name": "y", "node": "x", "loss": "binary_crossentropy", "class_weight": \#(json)}]}"#
            return try ModelSpec.decode(json: Data(text.utf8), file: "m.json").outputs[0]
        }
        XCTAssertEqual(try head(#""balanced""#).classWeight, .balanced)
        XCTAssertEqual(try head(#"{"0": 1, "1": 9.5}"#).classWeight, .map([0: 1, 1: 9.5]))
        XCTAssertThrowsError(try head(#""even""#)) { XCTAssertTrue("\($0)".contains("\"balanced\" or a map"), "\($0)") }
        XCTAssertThrowsError(try head(#"{"cat": 2}"#)) { XCTAssertTrue("\($0)".contains("'cat' is not a class index"), "\($0)") }
        XCTAssertThrowsError(try head(#"{"1": -2}"#)) { XCTAssertTrue("\($0)".contains("is 0 or positive"), "\($0)") }
    }

    /// Cross-entropy of two rows by hand: ln(1 + e^-z) for y = 1 and ln(1 + e^z) for y = 0,
    /// weighted 3 and 1 and divided by the 2 rows (Keras' sum over the batch size).
    func testARowWeightScalesItsLossAndGradientAsByHand() {
        let logits = Tensor(shape: [2, 1], values: [0.5, -1.0]), target = Tensor(shape: [2, 1], values: [1, 0])
        let (value, gradient) = Loss.binaryCrossEntropy.evaluate(logits, target: target, rowWeights: [3, 1])
        let expected = (3 * log(1 + exp(-0.5)) + log(1 + exp(-1.0))) / 2
        XCTAssertEqual(value, expected, accuracy: 1e-9)
        let sigmoid = { (z: Double) in 1 / (1 + exp(-z)) }
        XCTAssertEqual(Double(gradient[0]), 3 * (sigmoid(0.5) - 1) / 2, accuracy: 1e-6)
        XCTAssertEqual(Double(gradient[1]), sigmoid(-1.0) / 2, accuracy: 1e-6)
        let unweighted = Loss.binaryCrossEntropy.evaluate(logits, target: target)
        XCTAssertEqual(Loss.binaryCrossEntropy.evaluate(logits, target: target, rowWeights: [1, 1]).value, unweighted.value)
    }

    /// The trainer's loss with {1: 3} is (n0·L0 + 3·n1·L1) / N, where L0, L1 are the unweighted
    /// losses of each class's rows: the class weight reaches the loss as the formula says.
    func testTheTrainersLossCarriesTheClassWeight() throws {
        let table = try cancer()
        func trainer(_ weight: ClassWeight?) throws -> Trainer {
            let spec = ModelSpec(inputs: [.init(name: "x")],
                                 layers: [.init(name: "out", type: .dense, inputs: ["x"], units: 1, activation: "sigmoid")],
                                 outputs: [.init(name: "malignant", node: "out", loss: .binaryCrossEntropy, classWeight: weight)])
            return try Trainer(spec: spec, table: table, settings: TrainingSettings())
        }
        var weighted = try trainer(.map([1: 3]))
        var plain = try trainer(nil)
        let rows = weighted.training.subset(Array(0..<64)[...])
        let labels = (0..<64).map { rows.targets["malignant"]![$0, 0] }
        let positives = rows.subset(labels.indices.filter { labels[$0] == 1 }[...])
        let negatives = rows.subset(labels.indices.filter { labels[$0] == 0 }[...])
        XCTAssertGreaterThan(positives.rows, 0)
        XCTAssertGreaterThan(negatives.rows, 0)
        let lossPositive = plain.lossAndGradients(on: positives, step: 0).loss
        let lossNegative = plain.lossAndGradients(on: negatives, step: 0).loss
        let expected = (Double(negatives.rows) * lossNegative + 3 * Double(positives.rows) * lossPositive) / 64
        XCTAssertEqual(weighted.lossAndGradients(on: rows, step: 0).loss, expected, accuracy: 1e-9)
        XCTAssertEqual(weighted.classWeights["malignant"], [1: 3])
    }

    func testSampleWeightsComeFromTheirColumnAndAreNotAFeature() throws {
        var table = try cancer()
        // A weight column: 2 for every row, so the loss doubles.
        let width = table.header.count
        var values: [Float] = []
        for row in 0..<table.rowCount { values += table.values[row * width..<(row + 1) * width] + [2] }
        table = CSVTable(file: "weighted.csv", header: table.header + ["w"], values: values)
        let spec = ModelSpec(inputs: [.init(name: "x")],
                             layers: [.init(name: "out", type: .dense, inputs: ["x"], units: 1, activation: "sigmoid")],
                             outputs: [.init(name: "malignant", node: "out", loss: .binaryCrossEntropy)])
        var withWeights = spec
        withWeights.sampleWeightColumn = "w"
        var weighted = try Trainer(spec: withWeights, table: table, settings: TrainingSettings())
        var plain = try Trainer(spec: spec, table: try cancer(), settings: TrainingSettings())
        XCTAssertEqual(weighted.model.graph.inputs[0].width, plain.model.graph.inputs[0].width, "the weight column is not a feature")
        let batch = Array(0..<32)[...]
        XCTAssertEqual(weighted.lossAndGradients(on: weighted.training.subset(batch), step: 0).loss,
                       2 * plain.lossAndGradients(on: plain.training.subset(batch), step: 0).loss, accuracy: 1e-9)

        XCTAssertThrowsError(try Trainer(spec: withWeights, table: try cancer(), settings: TrainingSettings())) { error in
            XCTAssertTrue("\(error)".contains("no column 'w'"), "\(error)")
        }
        values[width] = -1
        XCTAssertThrowsError(try Trainer(spec: withWeights, table: CSVTable(file: "bad.csv", header: table.header, values: values),
                                         settings: TrainingSettings())) { error in
            XCTAssertEqual("\(error)", "bad.csv:2: column 'w': sample weight -1.0 is not a finite number of 0 or more")
        }
    }

    func testClassWeightOnARegressionHeadIsRefused() throws {
        let spec = ModelSpec(inputs: [.init(name: "x")],
                             layers: [.init(name: "out", type: .dense, inputs: ["x"], units: 1)],
                             outputs: [.init(name: "malignant", node: "out", loss: .mse, classWeight: .balanced)])
        XCTAssertThrowsError(try Trainer(spec: spec, table: try cancer(), settings: TrainingSettings())) { error in
            XCTAssertTrue("\(error)".contains("class_weight needs a classification or pair head; mse has no classes"), "\(error)")
        }
    }

    private func cancer() throws -> CSVTable { try CSVTable.read(TrainerTests.datasets + "/breast_cancer.csv") }
}
