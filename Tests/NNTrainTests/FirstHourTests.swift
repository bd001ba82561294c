import Foundation
import NNCore
import NNFormat
import NNTestSupport
@testable import NNTrain
import XCTest

/// Issue 27's first hour, tried as a new user would: each rough edge now has a message that
/// names the value, or a command that does what was meant. Each test runs what the user ran
/// (through the library, or the real nntrain) and reads what it says.
final class FirstHourTests: XCTestCase {
    private let datasets = TrainerTests.datasets
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "first-hour-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func spec(_ json: String, file: String = "m.json") throws -> ModelSpec {
        try ModelSpec.decode(json: Data(json.utf8), file: file)
    }

    private func nntrain(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try ProcessRunner.run(BuildProducts.executable("nntrain"), arguments)
    }

    /// digits.json (a 10-way head) on wine.csv (3 classes, 13 features) trained in silence.
    func testAModelFileForOtherDataIsRefusedNamingBothFiles() throws {
        let digits = try ModelSpec.decode(json: try Data(contentsOf: URL(fileURLWithPath: datasets + "/../examples/digits.json")), file: "examples/digits.json")
        XCTAssertThrowsError(try Trainer(spec: digits, table: try CSVTable.read(datasets + "/wine.csv"), settings: TrainingSettings(), modelFile: "examples/digits.json")) {
            XCTAssertTrue("\($0)".hasPrefix("examples/digits.json: output 'label' has 10 classes (layer 'probabilities' has 10 units), but \(self.datasets)/wine.csv has classes 0…2 only (3), and input 'pixels' takes 13 of its columns"), "\($0)")
        }
        // Digits 0…6 for the 10-way head (a subset to fine-tune from later) trains, with a warning.
        let lines = try String(contentsOfFile: datasets + "/digits.csv", encoding: .utf8).split(separator: "\n")
        let subset = ([lines[0]] + lines.dropFirst().filter { Int($0.split(separator: ",").last!)! <= 6 }).joined(separator: "\n") + "\n"
        var warnings: [String] = []
        _ = try Trainer(spec: digits, table: try CSVTable.parse(subset, file: "digits-0-6.csv"), settings: TrainingSettings()) { warnings.append($0) }
        XCTAssertTrue(warnings.contains("output 'label' has 10 classes, but digits-0-6.csv has classes 0…6 only: classes 7…9 are never trained"), "\(warnings)")
    }

    func testAMissingFileIsCalledMissing() throws {
        XCTAssertThrowsError(try CSVTable.read(directory + "/nope.csv")) { XCTAssertEqual("\($0)", "\(self.directory)/nope.csv: no such file") }
        XCTAssertThrowsError(try CSVTable.read(directory + "/nowhere/x.csv")) {
            XCTAssertEqual("\($0)", "\(self.directory)/nowhere/x.csv: no such file (no directory '\(self.directory)/nowhere')")
        }
        XCTAssertThrowsError(try CSVTable.read(directory)) { XCTAssertEqual("\($0)", "\(self.directory): is a directory, not a file") }
        let run = try nntrain(["fit", "--model", directory + "/missing.json", "--data", datasets + "/wine.csv"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.output.contains("\(directory)/missing.json: no such file"), run.output)
    }

    func testAJSONSyntaxErrorHasALineAndColumn() {
        XCTAssertThrowsError(try spec("{\"inputs\": [{\"name\": \"x\"}],\n \"layers\": [{\"name\": \"h\",, }]}")) {
            XCTAssertEqual("\($0)", "m.json: line 2, column 26: invalid value")
        }
        XCTAssertEqual(JSONSyntax.lineAndColumn(of: 5, in: Data("ab\ncd\nef".utf8)).line, 2)
        XCTAssertNil(JSONSyntax.error(in: Data("{\"a\": [1, 2]}".utf8)))
    }

    /// "the last good checkpoint was kept" was said when none had been written.
    func testADivergedRunSaysWhatTheCheckpointHolds() throws {
        let table = try CSVTable.parse("x,y\n" + (0..<64).map { "\($0),\(Double($0) * 1e30)" }.joined(separator: "\n") + "\n", file: "d.csv")
        let model = try spec(#"{"inputs": [{"name": "x", "standardize": false}], "layers": [{"name": "o", "type": "dense", "inputs": ["x"], "units": 1}], "outputs": [{"name": "y", "node": "o", "loss": "mse", "target_scale": 1}]}"#)
        var settings = TrainingSettings()
        settings.epochs = 3
        settings.learningRate = 1e30
        var trainer = try Trainer(spec: model, table: table, settings: settings)
        XCTAssertThrowsError(try trainer.fit(checkpoint: directory + "/run.ckpt")) {
            XCTAssertTrue("\($0)".contains("no checkpoint was written (none was due before it diverged)"), "\($0)")
            XCTAssertFalse("\($0)".contains("last good checkpoint"), "\($0)")
        }
        XCTAssertEqual(DataError.lossDiverged(epoch: 4, step: 9, loss: .nan, checkpointEpoch: 3).description.contains("the checkpoint keeps epoch 3's weights"), true)
    }

    /// The collapse advice blamed the learning rate when the diagnosis had found vanishing gradients.
    func testACollapsedOutputIsExplainedByTheVanishingGradientFound() {
        func dense(_ weights: [Float], _ bias: [Float], in inputs: Int, _ activation: Activation) -> NodeOperation {
            .dense(DenseParameters(weights: Tensor(shape: [inputs, weights.count / inputs], values: weights), bias: Tensor(shape: [bias.count], values: bias), activation: activation))
        }
        let graph = Graph(inputs: [GraphInput(name: "x", width: 2)],
                          nodes: [Node(name: "a", operation: dense([3, 4, 0, 0], [0, 0], in: 2, .tanh), inputs: ["x"]),
                                  Node(name: "b", operation: dense([0, 0], [0.5], in: 2, .linear), inputs: ["a"])],
                          outputs: [GraphOutput(name: "b", node: "b")])
        let inputs = ["x": Tensor(shape: [2, 2], values: [0.1, 0.2, -0.1, 0.3])]
        let vanishing = Diagnostics.diagnose(graph, inputs: inputs, gradients: ["a/weights": Tensor(shape: [2, 2], values: [0.0009, 0.0012, 0, 0]),
                                                                                 "b/weights": Tensor(shape: [2, 1], values: [2, 0])])
        let collapse = vanishing.findings.first { $0.hasPrefix("output 'b' is the same for every row") } ?? ""
        XCTAssertTrue(collapse.contains("the gradient vanishes at a (above)"), collapse)
        XCTAssertFalse(collapse.contains("learning rate far too high"), collapse)
        let plain = Diagnostics.diagnose(graph, inputs: inputs).findings.first { $0.hasPrefix("output 'b'") } ?? ""
        XCTAssertTrue(plain.contains("a learning rate far too high"), "without gradients, the rate is one of the causes: \(plain)")
    }

    func testSELUWarnsAboutHeInitAndPlainDropout() throws {
        let model = try spec(#"""
        {"inputs": [{"name": "x"}],
         "layers": [{"name": "h", "type": "dense", "inputs": ["x"], "units": 8, "activation": "selu", "initializer": "he_normal"},
                    {"name": "d", "type": "dropout", "inputs": ["h"], "rate": 0.1},
                    {"name": "o", "type": "dense", "inputs": ["d"], "units": 1}],
         "outputs": [{"name": "y", "node": "o", "loss": "mse"}]}
        """#)
        var warnings: [String] = []
        _ = try Trainer(spec: model, table: try CSVTable.parse("x,y\n1,2\n2,3\n3,5\n4,4\n", file: "d.csv"), settings: TrainingSettings()) { warnings.append($0) }
        XCTAssertTrue(warnings.contains("layer 'h' uses selu with he_normal init: self-normalization needs LeCun's variance, lecun_normal (the default for selu) or lecun_uniform"), "\(warnings)")
        XCTAssertTrue(warnings.contains("layer 'd' is dropout after the selu layer 'h': plain dropout breaks self-normalization; use \"type\": \"alpha_dropout\""), "\(warnings)")
    }

    /// The class-weighted training loss was printed beside an unweighted val_loss.
    func testAWeightedTrainingLossIsSaidToBeWeighted() throws {
        let model = try spec(#"{"inputs": [{"name": "x"}], "layers": [{"name": "o", "type": "dense", "inputs": ["x"], "units": 1, "activation": "sigmoid"}], "outputs": [{"name": "y", "node": "o", "loss": "binary_crossentropy", "class_weight": "balanced"}]}"#)
        let rows = (0..<40).map { "\($0),\($0 % 4 == 0 ? 1 : 0)" }.joined(separator: "\n")
        let trainer = try Trainer(spec: model, table: try CSVTable.parse("x,y\n" + rows + "\n", file: "d.csv"), settings: TrainingSettings())
        XCTAssertEqual(RunSummary.lossWeightingNote(trainer), "the training loss (\"weighted loss\") is weighted by class weights (y); val_loss and the other metrics are not, so the two do not compare")
        let line = RunSummary.progressLine(Trainer.EpochReport(epoch: 1, trainingLoss: 0.5, metrics: ["val_loss": 0.4], seconds: 1), of: 2, averageSeconds: 1, lossName: "weighted loss")
        XCTAssertTrue(line.hasPrefix("epoch 1/2  weighted loss 0.5000  val_loss 0.4000"), line)
    }

    /// Batch norm's γ and β per unit (the practice: "I didn't see anything in the summary"),
    /// and the settings in the spelling of model files.
    func testSummaryShowsALayerUnitByUnitAndSettingsInSnakeCase() throws {
        var settings = TrainingSettings()
        settings.epochs = 1
        let digits = try ModelSpec.decode(json: try Data(contentsOf: URL(fileURLWithPath: datasets + "/../examples/digits.json")), file: "digits.json")
        var trainer = try Trainer(spec: digits, table: try CSVTable.read(datasets + "/digits.csv"), settings: settings)
        try trainer.fit(checkpoint: nil)
        let checkpoint = trainer.checkpointFile()
        let report = try LayerReport.text(checkpoint.graph, layer: "bn1")
        let lines = report.split(separator: "\n")
        XCTAssertEqual(lines[1], "unit  gamma       beta        moving mean  moving variance")
        XCTAssertEqual(lines.filter { $0.first?.isNumber ?? false }.count, 128, "one line per unit")
        guard case .batchNorm(let norm) = checkpoint.graph.node(named: "bn1")!.operation else { return XCTFail("bn1 is batch norm") }
        XCTAssertTrue(lines[2].hasPrefix(String(format: "0     %-11.5g %-11.5g", norm.gamma[0], norm.beta[0])), String(lines[2]))
        XCTAssertTrue(try LayerReport.text(checkpoint.graph, layer: "hidden1").contains("dense hidden1: 64 inputs → 128 units, linear"))
        XCTAssertThrowsError(try LayerReport.text(checkpoint.graph, layer: "bn2")) {
            XCTAssertTrue("\($0)".hasPrefix("no layer 'bn2' (did you mean 'bn1'?); the layers are hidden1, bn1"), "\($0)")
        }
        let summary = RunSummary.describe(checkpoint)
        XCTAssertTrue(summary.contains("\"batch_size\":32"), summary)
        XCTAssertFalse(summary.contains("batchSize"), summary)
        XCTAssertEqual(SnakeCaseJSON.key("epochsPerGeneration"), "epochs_per_generation")
    }

    /// Accuracy after export, measured on the exported file: the checkpoint's graph written as a
    /// model file in fp16 gives (nearly) the checkpoint's metrics; predict reads it too.
    func testEvaluateAndPredictOpenAnExportedModelFile() throws {
        var settings = TrainingSettings()
        settings.epochs = 2
        let digits = try ModelSpec.decode(json: try Data(contentsOf: URL(fileURLWithPath: datasets + "/../examples/digits.json")), file: "digits.json")
        let table = try CSVTable.read(datasets + "/digits.csv")
        var trainer = try Trainer(spec: digits, table: table, settings: settings)
        try trainer.fit(checkpoint: nil)
        let path = directory + "/model.nnm"
        try ModelFile(name: "digits", graph: trainer.model.graph).write(to: path, options: WriteOptions(shuffle: true, compressionLevel: 3, weights: .float16))
        let graph = try XCTUnwrap(try ExportedModel.graph(at: path))
        XCTAssertEqual(ExportedModel.heads(of: graph).map(\.loss), [.sparseCategoricalCrossEntropy])
        let exported = try ExportedModel.evaluate(graph, table: table)
        let original = try trainer.evaluate(on: table)
        XCTAssertEqual(exported["accuracy"] ?? 0, original["accuracy"] ?? 1, accuracy: 0.003, "fp16 storage moves accuracy by a row or two at most")
        XCTAssertNil(try ExportedModel.graph(at: datasets + "/../examples/digits.json"), "a JSON file is no model file")
        let predicted = try OfflinePrediction.csv(graph, heads: ExportedModel.heads(of: graph), table: table.prefix(3))
        XCTAssertTrue(predicted.hasPrefix("label_0,label_1,"), predicted)
        XCTAssertTrue(predicted.split(separator: "\n")[0].hasSuffix("label_9,label_class"))
    }

    /// `nntrain train` said "Unknown option '--model'".
    func testAnUnknownCommandIsNamedWithTheOneMeant() throws {
        let run = try nntrain(["train", "--model", "m.json"])
        XCTAssertEqual(run.status, 64)
        XCTAssertTrue(run.output.hasPrefix("Error: 'train' is not an nntrain command (did you mean `nntrain fit`?); the commands are fit, lr-find,"), run.output)
        XCTAssertTrue(try nntrain(["lr-fnd"]).output.contains("(did you mean `nntrain lr-find`?)"))
        XCTAssertEqual(try nntrain(["help", "fit"]).status, 0)
    }

    /// Finishing an interrupted run needed `--epochs <remaining>` worked out by hand.
    func testResumeWithoutEpochsFinishesThePlannedRun() throws {
        let checkpoint = directory + "/run.ckpt"
        let data = directory + "/wine.csv"
        try FileManager.default.copyItem(atPath: datasets + "/wine.csv", toPath: data)
        let model = directory + "/wine.json"
        try #"{"inputs": [{"name": "x"}], "layers": [{"name": "p", "type": "dense", "inputs": ["x"], "units": 3, "activation": "softmax"}], "outputs": [{"name": "label", "node": "p", "loss": "sparse_categorical_crossentropy"}]}"#
            .write(toFile: model, atomically: true, encoding: .utf8)
        // An interrupted run: 5 epochs planned, stopped (by an error its report threw) after 2.
        var settings = TrainingSettings()
        settings.epochs = 5
        var trainer = try Trainer(spec: try ModelSpec.decode(json: try Data(contentsOf: URL(fileURLWithPath: model)), file: model),
                                  table: try CSVTable.read(data), settings: settings, modelFile: model)
        struct Interrupted: Error {}
        XCTAssertThrowsError(try trainer.fit(checkpoint: checkpoint) { if $0.epoch == 2 { throw Interrupted() } })
        let resumed = try nntrain(["resume", checkpoint])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resuming at epoch 2 of 5: 3 more to finish the run"), resumed.output)
        XCTAssertTrue(resumed.output.contains("epoch 5/5"), resumed.output)
        let finished = try nntrain(["resume", checkpoint])
        XCTAssertNotEqual(finished.status, 0)
        XCTAssertTrue(finished.output.contains("has finished the 5 epochs it planned (at epoch 5); --epochs N trains N more"), finished.output)
    }
}
