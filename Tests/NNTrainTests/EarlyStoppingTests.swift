import Foundation
import NNCore
import NNFormat
@testable import NNTrain
import XCTest

final class EarlyStoppingTests: XCTestCase {
    private struct SimulatedCrash: Error {}

    private let spec = ModelSpec(
        inputs: [.init(name: "pixels")],
        layers: [.init(name: "h1", type: .dense, inputs: ["pixels"], units: 32, activation: "relu"),
                 .init(name: "drop1", type: .dropout, inputs: ["h1"], rate: 0.1),
                 .init(name: "logits", type: .dense, inputs: ["drop1"], units: 10, activation: "softmax")],
        outputs: [.init(name: "label", node: "logits", loss: .sparseCategoricalCrossEntropy, targets: ["label"])])

    /// Patience 1 with a wide margin: digits stops within a few epochs, long before 30.
    private func settings(patience: Int? = 1, monitor: String = "val_loss", minDelta: Double = 0.03) -> TrainingSettings {
        var settings = TrainingSettings()
        settings.epochs = 30
        settings.learningRate = 3e-3
        settings.seed = 11
        settings.earlyStopping = patience.map { EarlyStopping(patience: $0, monitor: monitor, minDelta: minDelta) }
        return settings
    }

    private func temporaryPath(_ name: String) -> String { NSTemporaryDirectory() + "nntrain-\(UUID().uuidString)-\(name)" }

    func testDirectionAndMarginFollowTheMetric() {
        let loss = EarlyStopping(patience: 2, monitor: "val_loss", minDelta: 0.1)
        XCTAssertTrue(loss.lowerIsBetter)
        XCTAssertTrue(loss.improves(0.79, on: 0.9))
        XCTAssertFalse(loss.improves(0.8, on: 0.9), "by exactly min_delta is not better")
        XCTAssertFalse(loss.improves(.nan, on: 0.9))
        let accuracy = EarlyStopping(patience: 2, monitor: "val_accuracy")
        XCTAssertFalse(accuracy.lowerIsBetter)
        XCTAssertTrue(accuracy.improves(0.91, on: 0.9))
        XCTAssertFalse(accuracy.improves(0.9, on: 0.9))
        XCTAssertTrue(EarlyStopping(patience: 1, monitor: "val_price_rmse").lowerIsBetter)
        XCTAssertFalse(EarlyStopping(patience: 1, monitor: "val_r2").lowerIsBetter)
    }

    func testStopsAndEndsWithTheBestEpochsWeights() throws {
        let table = try CSVTable.read(TrainerTests.datasets + "/digits.csv")
        var trainer = try Trainer(spec: spec, table: table, settings: settings())
        let path = temporaryPath("stopped.ckpt")
        try trainer.fit(checkpoint: path)
        let best = try XCTUnwrap(trainer.best)
        XCTAssertTrue(trainer.stoppedEarly)
        XCTAssertLessThan(trainer.epoch, 30, "stopped early")
        XCTAssertEqual(trainer.epoch, best.epoch + 1, "patience 1: the first epoch that does not improve ends the run")
        XCTAssertEqual(trainer.history.count, trainer.epoch, "the history keeps every epoch, the ones after the best too")
        let values = trainer.history.map { $0.metrics["val_loss"]! }
        XCTAssertEqual(best.value, values[best.epoch - 1])
        XCTAssertFalse(values[trainer.epoch - 1] < best.value - 0.03)

        // The same run trained only to the best epoch has the checkpoint's weights.
        var shorter = settings(patience: nil)
        shorter.epochs = best.epoch
        var reference = try Trainer(spec: spec, table: table, settings: shorter)
        try reference.fit(checkpoint: nil)
        let checkpoint = try CheckpointFile.read(from: path)
        XCTAssertEqual(checkpoint.graph, reference.model.graph)
        XCTAssertEqual(checkpoint.state.best?.graph, reference.model.graph)
        XCTAssertEqual(checkpoint.state.history.count, trainer.epoch)
        XCTAssertEqual(checkpoint.state.metadata.trainingMetrics, trainer.history[best.epoch - 1].metrics, "the metrics of the weights kept")
        XCTAssertEqual(trainer.weightsEpoch?.epoch, best.epoch)
        let summary = RunSummary.describe(checkpoint)
        XCTAssertTrue(summary.contains("history (\(trainer.epoch) epochs):\nepoch  loss      val_accuracy  val_loss  val_top3_accuracy\n1 "), summary)
        XCTAssertTrue(summary.contains(String(format: "early stopping on val_loss: best %.4f at epoch %d (*); stopped at epoch %d after 1 epoch without improvement, with epoch %d's weights",
                                              best.value, best.epoch, trainer.epoch, best.epoch)), summary)
    }

    func testACrashedRunResumesToTheSameCheckpointBytes() throws {
        let table = try CSVTable.read(TrainerTests.datasets + "/digits.csv")
        let (whole, interrupted) = (temporaryPath("whole.ckpt"), temporaryPath("interrupted.ckpt"))
        var uninterrupted = try Trainer(spec: spec, table: table, settings: settings())
        try uninterrupted.fit(checkpoint: whole)
        let stopEpoch = uninterrupted.epoch
        XCTAssertGreaterThan(stopEpoch, 2)

        // Stops after epoch 2 of the run (or the stop epoch), once it is written.
        let crashEpoch = min(2, stopEpoch - 1)
        var crashing = try Trainer(spec: spec, table: table, settings: settings())
        XCTAssertThrowsError(try crashing.fit(checkpoint: interrupted) { if $0.epoch == crashEpoch { throw SimulatedCrash() } })
        let saved = try CheckpointFile.read(from: interrupted)
        XCTAssertEqual(saved.state.epoch, crashEpoch)
        XCTAssertNotNil(saved.state.best)

        var resumed = try Trainer.resume(saved, table: table, additionalEpochs: 30 - saved.state.epoch)
        try resumed.fit(checkpoint: interrupted)
        XCTAssertEqual(resumed.epoch, stopEpoch)
        XCTAssertEqual(FileManager.default.contents(atPath: interrupted), FileManager.default.contents(atPath: whole))
    }

    func testResumingAStoppedRunTrainsOnFromTheBestWeights() throws {
        let table = try CSVTable.read(TrainerTests.datasets + "/digits.csv")
        var trainer = try Trainer(spec: spec, table: table, settings: settings())
        try trainer.fit(checkpoint: nil)
        var warnings: [String] = []
        var resumed = try Trainer.resume(trainer.checkpointFile(), table: table, additionalEpochs: 1) { warnings.append($0) }
        XCTAssertFalse(resumed.stoppedEarly, "a fresh patience")
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings[0].hasPrefix("the run stopped early at epoch \(trainer.epoch) and holds epoch \(trainer.best!.epoch)'s weights"), warnings[0])
        try resumed.fit(checkpoint: nil)
        XCTAssertEqual(resumed.epoch, trainer.epoch + 1)
    }

    func testAMonitorTheRunDoesNotReportIsRefusedWithTheOnesItDoes() throws {
        let table = try CSVTable.read(TrainerTests.datasets + "/digits.csv")
        var noValidation = settings(monitor: "val_accuracy")
        noValidation.validationFraction = 0
        var trainer = try Trainer(spec: spec, table: table, settings: noValidation)
        XCTAssertThrowsError(try trainer.fit(checkpoint: nil)) { error in
            XCTAssertEqual("\(error)", "--monitor val_accuracy: this run reports loss, train_accuracy, train_loss, train_top3_accuracy "
                           + "(no validation rows: --validation-fraction is 0 and there is no --validation-data)")
        }
        XCTAssertEqual(trainer.epoch, 0, "refused before training")
        var zeroPatience = settings()
        zeroPatience.earlyStopping?.patience = 0
        XCTAssertThrowsError(try Trainer(spec: spec, table: table, settings: zeroPatience)) { error in
            XCTAssertEqual("\(error)", "--early-stopping-patience 0: must be at least 1 epoch")
        }
    }
}
