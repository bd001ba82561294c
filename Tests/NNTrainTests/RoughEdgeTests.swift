import Foundation
import NNCore
import NNFormat
@testable import NNTrain
import XCTest

/// What a new user ran into (issue 12's rough edges): each now stops with a message naming
/// the value, instead of training something else in silence.
final class RoughEdgeTests: XCTestCase {
    private let modelJSON = #"{"inputs": [{"name": "x"}], "layers": [{"name": "h", "type": "dense", "inputs": ["x"], "units": 4, "activaton": "selu"}, {"name": "out", "type": "dense", "inputs": ["h"], "units": 1}], "outputs": [{"name": "y", "node": "out", "loss": "mse"}]}"#

    func testUnknownModelKeysNameTheKeyThePathAndTheNearestKey() {
        XCTAssertThrowsError(try ModelSpec.decode(json: Data(modelJSON.utf8), file: "m.json")) {
            XCTAssertTrue("\($0)".hasPrefix("m.json: unknown key 'activaton' at .layers[0] (did you mean 'activation'?); a layer has name, type, inputs, units, activation"), "\($0)")
        }
        let initialiser = modelJSON.replacingOccurrences(of: #""activaton": "selu""#, with: #""initialiser": "lecun_normal""#)
        XCTAssertThrowsError(try ModelSpec.decode(json: Data(initialiser.utf8), file: "m.json")) {
            XCTAssertTrue("\($0)".contains("unknown key 'initialiser' at .layers[0] (did you mean 'initializer'?)"), "\($0)")
        }
        let topLevel = modelJSON.replacingOccurrences(of: #""outputs""#, with: #""outputs": [], "output""#)
        XCTAssertThrowsError(try ModelSpec.decode(json: Data(topLevel.utf8), file: "m.json")) {
            XCTAssertTrue("\($0)".contains("unknown key 'output' at top level (did you mean 'outputs'?)"), "\($0)")
        }
        let head = #"{"inputs": [{"name": "x"}], "layers": [{"name": "h", "type": "dense", "inputs": ["x"], "units": 1}], "outputs": [{"name": "y", "node": "h", "loss": "mse", "target_scales": 1}]}"#
        XCTAssertThrowsError(try ModelSpec.decode(json: Data(head.utf8), file: "m.json")) {
            XCTAssertTrue("\($0)".contains("unknown key 'target_scales' at .outputs[0] (did you mean 'target_scale'?)"), "\($0)")
        }
        let fixed = modelJSON.replacingOccurrences(of: "activaton", with: "activation")
        XCTAssertEqual(try ModelSpec.decode(json: Data(fixed.utf8), file: "m.json").layers[0].activation, "selu")
    }

    /// A head with more units than target columns trapped inside the loss (found writing the
    /// test below); now it is refused before training, naming both counts.
    func testAHeadWhoseWidthDiffersFromItsTargetsIsRefused() throws {
        let table = try CSVTable.parse("x,y\n1,2\n2,4\n3,6\n", file: "d.csv")
        let wide = #"{"inputs": [{"name": "x"}], "layers": [{"name": "h", "type": "dense", "inputs": ["x"], "units": 4}], "outputs": [{"name": "y", "node": "h", "loss": "mse"}]}"#
        let spec = try ModelSpec.decode(json: Data(wide.utf8), file: "m.json")
        XCTAssertThrowsError(try Trainer(spec: spec, table: table, settings: TrainingSettings(), modelFile: "m.json")) {
            XCTAssertEqual("\($0)", "m.json: output 'y' reads 'h', which has 4 units, but 1 target column ('y'); mse needs one unit per target column")
        }
    }

    /// Resuming a run whose cosine schedule has ended trained the added epochs at a rate of
    /// about 0 in silence; now it says so, and a restart starts a new schedule for them.
    func testResumingAFinishedScheduleWarnsAndARestartStartsANewOne() throws {
        let rows = (0..<40).map { i in "\(Double(i) / 10),\(Double(i) / 5)" }.joined(separator: "\n")
        let table = try CSVTable.parse("x,y\n" + rows + "\n", file: "d.csv")
        let spec = try ModelSpec.decode(json: Data(modelJSON.replacingOccurrences(of: "activaton", with: "activation").utf8), file: "m.json")
        var settings = TrainingSettings()
        settings.epochs = 2
        settings.schedule = .cosine
        settings.learningRate = 0.01
        var trainer = try Trainer(spec: spec, table: table, settings: settings)
        try trainer.fit(checkpoint: nil)
        let checkpoint = trainer.checkpointFile()
        var warnings: [String] = []
        let continued = try Trainer.resume(checkpoint, table: table, additionalEpochs: 3) { warnings.append($0) }
        XCTAssertEqual(warnings, ["the run's cosine schedule ended at epoch 2: the 3 added epochs train at its final rate; "
                                  + "`nntrain resume --schedule NAME [--lr RATE]` starts a new schedule for them"])
        XCTAssertLessThan(continued.optimizer.learningRate, 1e-6)
        warnings.removeAll()
        let restarted = try Trainer.resume(checkpoint, table: table, additionalEpochs: 3,
                                           restart: .init(schedule: .cosine, learningRate: 0.005)) { warnings.append($0) }
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(restarted.optimizer.learningRate, 0.005, accuracy: 1e-7, "a new cosine starts at its peak")
        let steps = restarted.stepsPerEpoch
        XCTAssertEqual(restarted.optimizer.schedule.rate(atStep: 2 * steps + 3 * steps), 0, accuracy: 1e-7, "and ends with the added epochs")
        _ = try Trainer.resume(checkpoint, table: table, additionalEpochs: 0) { warnings.append($0) }
        XCTAssertEqual(warnings, [], "evaluate resumes with 0 added epochs: nothing to warn about")
    }

    func testEditDistance() {
        XCTAssertEqual(Spelling.editDistance("activaton", "activation"), 1)
        XCTAssertEqual(Spelling.editDistance("kitten", "sitting"), 3)
        XCTAssertEqual(Spelling.editDistance("", "abc"), 3)
        XCTAssertEqual(Spelling.editDistance("same", "same"), 0)
    }

    func testSettingsNoRunCanUseAreRefusedNamingTheFlag() throws {
        let table = try CSVTable.parse("x,y\n1,2\n2,4\n3,6\n4,8\n5,10\n", file: "d.csv")
        let spec = try ModelSpec.decode(json: Data(modelJSON.replacingOccurrences(of: "activaton", with: "activation").utf8), file: "m.json")
        func refusal(_ change: (inout TrainingSettings) -> Void) -> String {
            var settings = TrainingSettings()
            change(&settings)
            do {
                _ = try Trainer(spec: spec, table: table, settings: settings)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(refusal { $0.epochs = 0 }, "--epochs 0: a run trains at least 1 epoch")
        XCTAssertEqual(refusal { $0.learningRate = -1 }, "--lr -1.0: must be a positive number")
        XCTAssertEqual(refusal { $0.learningRate = .nan }, "--lr nan: must be a positive number")
        XCTAssertEqual(refusal { $0.batchSize = 0 }, "--batch-size 0: must be at least 1")
        XCTAssertEqual(refusal { $0.validationFraction = 1 }, "--validation-fraction 1.0: must be in [0, 1)")
        XCTAssertEqual(refusal { $0.momentum = 1.5 }, "--momentum 1.5: must be in [0, 1)")
        XCTAssertEqual(refusal { $0.clipNorm = 0 }, "--clip-norm 0.0: must be a positive number")
        XCTAssertEqual(refusal { $0.checkpointEvery = 0 }, "--checkpoint-every 0: must be at least 1")
        XCTAssertEqual(refusal { $0.epochs = 1 }, "accepted")
    }

    /// Without a validation split the epoch's metrics are the training rows' in inference mode,
    /// named train_…: unprefixed, their loss replaced the training loss in the history.
    func testWithoutValidationTheMetricsAreNamedTrainAndKeepTheLoss() throws {
        let rows = (0..<40).map { i in "\(Double(i) / 10),\(Double(i) / 5)" }.joined(separator: "\n")
        let table = try CSVTable.parse("x,y\n" + rows + "\n", file: "d.csv")
        let spec = try ModelSpec.decode(json: Data(modelJSON.replacingOccurrences(of: "activaton", with: "activation").utf8), file: "m.json")
        var settings = TrainingSettings()
        settings.epochs = 2
        settings.validationFraction = 0
        var trainer = try Trainer(spec: spec, table: table, settings: settings)
        try trainer.fit(checkpoint: nil)
        let last = try XCTUnwrap(trainer.history.last)
        XCTAssertEqual(Set(last.metrics.keys), ["train_loss", "train_rmse", "train_mae", "train_r2"])
        XCTAssertNotEqual(last.metrics["train_loss"], last.trainingLoss, "two different numbers, both kept")
    }

    func testOpeningTheWrongKindOfFileSaysWhatItIsAndWhatOpensIt() throws {
        let path = NSTemporaryDirectory() + "rough-\(UUID().uuidString).nnm"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let graph = Graph(inputs: [GraphInput(name: "x", width: 2)],
                          nodes: [Node(name: "d", operation: .dense(DenseParameters(weights: Tensor(zeros: [2, 1]), bias: Tensor(zeros: [1]), activation: .linear)), inputs: ["x"])],
                          outputs: [GraphOutput(name: "y", node: "d")])
        try ModelFile(name: "m", graph: graph).write(to: path)
        XCTAssertThrowsError(try CheckpointFile.read(from: path)) {
            XCTAssertEqual("\($0)", "\(path) is not an nnserve checkpoint file: it is an nnserve model (.nnm) file; nnexport inspect and nnserve open it")
        }
    }

    func testSummaryCountsTrainableAndNonTrainableParameters() {
        let norm = BatchNorm(width: 4, epsilon: 1e-3, momentum: 0.99)
        let graph = Graph(inputs: [GraphInput(name: "x", width: 3)],
                          nodes: [Node(name: "d", operation: .dense(DenseParameters(weights: Tensor(zeros: [3, 4]), bias: Tensor(zeros: [4]), activation: .relu)), inputs: ["x"]),
                                  Node(name: "bn", operation: .batchNorm(norm), inputs: ["d"])],
                          outputs: [GraphOutput(name: "y", node: "bn")])
        // dense 3·4 + 4 = 16 and batch norm γ, β = 8 trainable; moving mean and variance 8 not.
        XCTAssertTrue(RunSummary.describe(CheckpointFile(graph: graph, state: TrainingState())).contains("parameters: 32 (trainable 24, non-trainable 8: batch-norm moving statistics)"))
    }

    func testSummaryLeavesTheModelFileOutUnlessAsked() {
        var state = TrainingState()
        state.modelConfig = "{\n  \"inputs\": []\n}"
        let checkpoint = CheckpointFile(graph: Graph(inputs: [], nodes: [], outputs: []), state: state)
        XCTAssertTrue(RunSummary.describe(checkpoint).hasSuffix("model config: 3 lines (nntrain summary --model-config prints them)"))
        XCTAssertTrue(RunSummary.describe(checkpoint, includeModelConfig: true).hasSuffix("model config:\n{\n  \"inputs\": []\n}"))
    }
}
