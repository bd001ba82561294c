import Foundation
import NNCore
import NNFormat
@testable import NNTrain
import XCTest

/// `"trainable": false`, `--unfreeze-after` and `--init-from`.
final class TransferTests: XCTestCase {
    private func spec(frozen: Bool, hiddenUnits: Int = 16) -> ModelSpec {
        ModelSpec(
            inputs: [.init(name: "pixels")],
            layers: [.init(name: "encode", type: .dense, inputs: ["pixels"], units: hiddenUnits, activation: "linear", trainable: frozen ? false : nil),
                     .init(name: "bn", type: .batchNorm, inputs: ["encode"], trainable: frozen ? false : nil),
                     .init(name: "relu", type: .activation, inputs: ["bn"], activation: "relu"),
                     .init(name: "classes", type: .dense, inputs: ["relu"], units: 10, activation: "softmax")],
            outputs: [.init(name: "label", node: "classes", loss: .sparseCategoricalCrossEntropy, targets: ["label"])])
    }

    private func settings(epochs: Int = 2, unfreezeAfter: Int? = nil) -> TrainingSettings {
        var settings = TrainingSettings()
        settings.epochs = epochs
        settings.learningRate = 3e-3
        settings.unfreezeAfterEpochs = unfreezeAfter
        return settings
    }

    private var digits: CSVTable { get throws { try CSVTable.read(TrainerTests.datasets + "/digits.csv") } }

    private func operation(_ name: String, _ graph: Graph) -> NodeOperation { graph.node(named: name)!.operation }

    func testAFrozenLayerIsBitIdenticalAfterTrainingAndHasNoOptimizerState() throws {
        var trainer = try Trainer(spec: spec(frozen: true), table: digits, settings: settings())
        let before = trainer.model.graph
        try trainer.fit(checkpoint: nil)
        let after = trainer.model.graph
        XCTAssertEqual(operation("encode", after), operation("encode", before), "frozen dense: weights and bias bit-identical")
        XCTAssertEqual(operation("bn", after), operation("bn", before), "frozen batch norm: γ, β and the moving statistics bit-identical")
        XCTAssertNotEqual(operation("classes", after), operation("classes", before), "the head learns")
        XCTAssertEqual(Set(trainer.optimizer.slots.keys), ["classes/weights", "classes/bias"])
        XCTAssertGreaterThan(trainer.history.last!.metrics["val_accuracy"]!, 0.25, "a head on a frozen random encoder still learns (chance: 0.1)")
    }

    func testUnfreezeAfterThawsTheLayersWithTheirOwnBiasCorrection() throws {
        var trainer = try Trainer(spec: spec(frozen: true), table: digits, settings: settings(epochs: 2, unfreezeAfter: 1))
        let before = trainer.model.graph
        _ = try trainer.trainOneEpoch()
        XCTAssertEqual(operation("encode", trainer.model.graph), operation("encode", before), "frozen during epoch 1")
        let stepsOfEpochOne = trainer.optimizer.step
        _ = try trainer.trainOneEpoch()
        XCTAssertNotEqual(operation("encode", trainer.model.graph), operation("encode", before), "learns from epoch 2")
        XCTAssertEqual(trainer.optimizer.slots["encode/weights"]?["first_step"]?[0], Float(stepsOfEpochOne))
        XCTAssertNil(trainer.optimizer.slots["classes/weights"]?["first_step"], "layers that learned from step 1 keep the plain state")
    }

    func testUnfreezeAfterNeedsAFrozenLayer() throws {
        XCTAssertThrowsError(try Trainer(spec: spec(frozen: false), table: digits, settings: settings(unfreezeAfter: 1))) { error in
            XCTAssertTrue("\(error)".contains("freezes no layer"), "\(error)")
        }
    }

    func testTrainableOnALayerWithoutParametersIsRefused() throws {
        var model = spec(frozen: false)
        model.layers[2].trainable = false
        XCTAssertThrowsError(try Trainer(spec: model, table: digits, settings: settings())) { error in
            XCTAssertTrue("\(error)".contains("layer 'relu': trainable applies to dense and batch_norm"), "\(error)")
        }
    }

    func testInitFromLoadsLayersByNameAndReportsTheRest() throws {
        var source = try Trainer(spec: spec(frozen: false), table: digits, settings: settings(epochs: 1))
        try source.fit(checkpoint: nil)
        let checkpoint = source.checkpointFile()
        var target = spec(frozen: true)
        target.layers[3] = .init(name: "head", type: .dense, inputs: ["relu"], units: 10, activation: "softmax")
        target.outputs[0].node = "head"
        var trainer = try Trainer(spec: target, table: digits, settings: settings())
        let report = try trainer.initialize(from: checkpoint, file: "source.ckpt")
        XCTAssertEqual(report.loaded, ["encode (dense 64×16)", "bn (batch_norm 16)"])
        XCTAssertEqual(report.initialized, ["head"])
        XCTAssertEqual(report.unused, ["classes"])
        XCTAssertEqual(report.standardization, ["pixels"])
        XCTAssertEqual(operation("encode", trainer.model.graph), operation("encode", checkpoint.graph))
        XCTAssertEqual(operation("bn", trainer.model.graph), operation("bn", checkpoint.graph))
        XCTAssertEqual(trainer.model.graph.inputs[0].standardization, checkpoint.graph.inputs[0].standardization)
        XCTAssertEqual(trainer.settings.initializedFrom, "source.ckpt")
        try trainer.fit(checkpoint: nil)
        XCTAssertEqual(operation("encode", trainer.model.graph), operation("encode", checkpoint.graph), "loaded and frozen: unchanged")
    }

    func testInitFromRefusesAShapeMismatchNamingBothShapes() throws {
        var source = try Trainer(spec: spec(frozen: false, hiddenUnits: 8), table: digits, settings: settings(epochs: 1))
        try source.fit(checkpoint: nil)
        var trainer = try Trainer(spec: spec(frozen: false), table: digits, settings: settings())
        XCTAssertThrowsError(try trainer.initialize(from: source.checkpointFile(), file: "small.ckpt")) { error in
            XCTAssertEqual("\(error)", "small.ckpt: layer 'encode' is 64×16 here and 64×8 there; layers are matched by name, so rename one of them to initialize it here")
        }
    }

    /// A frozen batch norm is an affine map: its input gradient against central differences.
    func testFrozenBatchNormGradientMatchesFiniteDifferences() {
        let norm = BatchNorm(gamma: Tensor([1.5, -0.5]), beta: Tensor([0.1, 0.2]), movingMean: Tensor([0.3, -1]),
                             movingVariance: Tensor([2, 0.25]), epsilon: 1e-3, momentum: 0.99)
        let x = Tensor(shape: [2, 2], values: [0.4, -0.2, 1.1, 0.7])
        let dy = Tensor(shape: [2, 2], values: [1, -2, 0.5, 3])
        let dx = BatchNormLayer.backwardInference(dy, norm)
        let h: Float = 1e-2
        for index in 0..<4 {
            var plus = x, minus = x
            plus.withUnsafeMutableBufferPointer { $0[index] += h }
            minus.withUnsafeMutableBufferPointer { $0[index] -= h }
            let up = BatchNormLayer.forwardInference(plus, norm), down = BatchNormLayer.forwardInference(minus, norm)
            let numeric = (0..<4).reduce(Float(0)) { $0 + dy[$1] * (up[$1] - down[$1]) / (2 * h) }
            XCTAssertEqual(dx[index], numeric, accuracy: 1e-3)
        }
    }
}
