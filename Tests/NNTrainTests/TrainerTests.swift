import Foundation
import NNCore
import NNFormat
import NNInference
@testable import NNTrain
import XCTest

final class TrainerTests: XCTestCase {
    static let datasets = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../datasets").standardized.path

    private func digitsSpec(dropout: Float = 0.2) -> ModelSpec {
        ModelSpec(inputs: [.init(name: "pixels")],
                  layers: [.init(name: "h1", type: .dense, inputs: ["pixels"], units: 64, activation: "linear"),
                           .init(name: "bn1", type: .batchNorm, inputs: ["h1"]),
                           .init(name: "relu1", type: .activation, inputs: ["bn1"], activation: "relu"),
                           .init(name: "drop1", type: .dropout, inputs: ["relu1"], rate: dropout),
                           .init(name: "logits", type: .dense, inputs: ["drop1"], units: 10, activation: "softmax")],
                  outputs: [.init(name: "label", node: "logits", loss: .sparseCategoricalCrossEntropy, targets: ["label"])])
    }

    private func settings(epochs: Int) -> TrainingSettings {
        var settings = TrainingSettings()
        settings.epochs = epochs
        settings.batchSize = 32
        settings.learningRate = 3e-3
        settings.seed = 7
        return settings
    }

    private func temporaryPath(_ name: String) -> String {
        NSTemporaryDirectory() + "nntrain-\(UUID().uuidString)-\(name)"
    }

    func testLearnsDigitsToAtLeast96PercentValidationAccuracy() throws {
        let table = try CSVTable.read(Self.datasets + "/digits.csv")
        var trainer = try Trainer(spec: digitsSpec(), table: table, settings: settings(epochs: 15))
        try trainer.fit(checkpoint: nil)
        let accuracy = try XCTUnwrap(trainer.history.last?.metrics["val_accuracy"])
        XCTAssertGreaterThanOrEqual(accuracy, 0.96, "validation accuracy after 15 epochs")
    }

    func testSameSeedWritesBitIdenticalCheckpoints() throws {
        let table = try CSVTable.read(Self.datasets + "/digits.csv")
        var first = try Trainer(spec: digitsSpec(), table: table, settings: settings(epochs: 2))
        var second = try Trainer(spec: digitsSpec(), table: table, settings: settings(epochs: 2))
        let (a, b) = (temporaryPath("a.ckpt"), temporaryPath("b.ckpt"))
        try first.fit(checkpoint: a)
        try second.fit(checkpoint: b)
        XCTAssertEqual(FileManager.default.contents(atPath: a), FileManager.default.contents(atPath: b))
    }

    /// Products and Adam updates split over threads run the one-thread kernels on disjoint
    /// parts, so a run's weights do not depend on the thread count (with OpenBLAS they did).
    /// The layers are wide enough that the products (32 × 64 × 1024 multiply-adds and more)
    /// and the updates (262 k parameters) are split.
    func testTwoThreadsTrainTheWeightsOfOne() throws {
        let table = try CSVTable.read(Self.datasets + "/digits.csv")
        let spec = ModelSpec(inputs: [.init(name: "pixels")],
                             layers: [.init(name: "h1", type: .dense, inputs: ["pixels"], units: 1024, activation: "relu"),
                                      .init(name: "h2", type: .dense, inputs: ["h1"], units: 256, activation: "relu"),
                                      .init(name: "logits", type: .dense, inputs: ["h2"], units: 10, activation: "softmax")],
                             outputs: [.init(name: "label", node: "logits", loss: .sparseCategoricalCrossEntropy, targets: ["label"])])
        defer { SharedKernels.setTrainingThreads(1) }
        var graphs: [Graph] = []
        for threads in [1, 2] {
            SharedKernels.setTrainingThreads(threads)
            XCTAssertEqual(SharedKernels.trainingThreads, threads)
            var trainer = try Trainer(spec: spec, table: table, settings: settings(epochs: 1))
            try trainer.fit(checkpoint: nil)
            graphs.append(trainer.model.graph)
        }
        XCTAssertEqual(graphs[0], graphs[1], "weights after one epoch on 1 and on 2 threads")
    }

    func testResumingGivesTheWeightsOfAnUninterruptedRun() throws {
        let table = try CSVTable.read(Self.datasets + "/digits.csv")
        var uninterrupted = try Trainer(spec: digitsSpec(), table: table, settings: settings(epochs: 3))
        try uninterrupted.fit(checkpoint: nil)

        let path = temporaryPath("run.ckpt")
        var stopped = try Trainer(spec: digitsSpec(), table: table, settings: settings(epochs: 3))
        _ = try stopped.trainOneEpoch()
        try stopped.checkpointFile().write(to: path)
        var resumed = try Trainer.resume(try CheckpointFile.read(from: path), table: table, additionalEpochs: 2)
        try resumed.fit(checkpoint: nil)
        XCTAssertEqual(resumed.epoch, 3)
        XCTAssertEqual(resumed.model.graph, uninterrupted.model.graph, "weights and batch-norm statistics after 3 epochs")
    }

    func testSeparateValidationFileIsUsedAndRemembered() throws {
        let table = try CSVTable.read(Self.datasets + "/digits.csv")
        let header = table.header.joined(separator: ",")
        let width = table.header.count
        let rows = (0..<table.rowCount).map { row in (0..<width).map { "\(Int(table.values[row * width + $0]))" }.joined(separator: ",") }
        let trainPath = temporaryPath("train.csv"), validationPath = temporaryPath("validation.csv")
        try ([header] + rows[..<1500]).joined(separator: "\n").write(toFile: trainPath, atomically: true, encoding: .utf8)
        try ([header] + rows[1500...]).joined(separator: "\n").write(toFile: validationPath, atomically: true, encoding: .utf8)
        var trainer = try Trainer(spec: digitsSpec(), table: try CSVTable.read(trainPath), validationTable: try CSVTable.read(validationPath),
                                  settings: settings(epochs: 1))
        let path = temporaryPath("split.ckpt")
        try trainer.fit(checkpoint: path)
        let checkpoint = try CheckpointFile.read(from: path)
        XCTAssertEqual(checkpoint.state.split.trainingRows, 1500)
        XCTAssertEqual(checkpoint.state.split.validationRows, 297)
        XCTAssertEqual(checkpoint.state.split.validationFile, validationPath)
        var resumed = try Trainer.resume(checkpoint, table: try CSVTable.read(trainPath), additionalEpochs: 1)
        try resumed.fit(checkpoint: nil)
        XCTAssertNotNil(resumed.history.last?.metrics["val_accuracy"])
    }

    func testBadInputsStopWithMessagesNamingTheValue() throws {
        // Text and gaps are read; where a number is needed, they name their line and column.
        XCTAssertThrowsError(try CSVTable.parse("a,b\n1,2\n3,x\n", file: "t.csv").matrix(columns: ["a", "b"])) {
            XCTAssertEqual("\($0)", "t.csv:3: column 'b': 'x' is not a number")
        }
        XCTAssertThrowsError(try CSVTable.parse("a,b\n1,-inf\n", file: "t.csv").matrix(columns: ["b"])) {
            XCTAssertEqual("\($0)", "t.csv:2: column 'b': -inf is not finite")
        }
        XCTAssertThrowsError(try CSVTable.parse("a,b\n1,2,3\n", file: "t.csv")) {
            XCTAssertEqual("\($0)", "t.csv:2: 3 fields, the header has 2")
        }
        let table = try CSVTable.parse("f,label\n0.5,1\n0.1,0\n0.3,12\n0.2,1\n", file: "d.csv")
        var spec = digitsSpec()
        spec.inputs = [.init(name: "pixels", columns: ["f"])]
        XCTAssertThrowsError(try Trainer(spec: spec, table: table, settings: settings(epochs: 1))) {
            XCTAssertEqual("\($0)", "d.csv:4: target 'label' is 12.0; sparse_categorical_crossentropy needs a class index in 0..<10")
        }
        spec.inputs = [.init(name: "pixels", columns: ["g"])]
        XCTAssertThrowsError(try Trainer(spec: spec, table: table, settings: settings(epochs: 1))) {
            XCTAssertEqual("\($0)", "d.csv: no column 'g'; columns are f, label")
        }
        XCTAssertThrowsError(try ModelSpec.decode(json: Data(#"{"inputs": [], "layers": [{"name": "x"}], "outputs": []}"#.utf8), file: "m.json")) {
            XCTAssertTrue("\($0)".hasPrefix("m.json: missing 'type' at .layers[0]"), "\($0)")
        }
        // Found by fuzz-modeljson: two inputs with one name trapped in the graph builder.
        let twice = #"{"inputs": [{"name": "bn1"}, {"name": "bn1"}], "layers": [{"name": "d", "type": "dense", "inputs": ["bn1"], "units": 2}], "outputs": [{"name": "y", "node": "d", "loss": "mse"}]}"#
        XCTAssertThrowsError(try ModelSpec.decode(json: Data(twice.utf8), file: "m.json")) {
            XCTAssertEqual("\($0)", "m.json: the name 'bn1' is used by more than one input or layer")
        }
        // Found by fuzz-modeljson: a huge 'units' allocated before anything checked it.
        let huge = #"{"inputs": [{"name": "x"}], "layers": [{"name": "d", "type": "dense", "inputs": ["x"], "units": 1000000000000000000}], "outputs": [{"name": "y", "node": "d", "loss": "mse"}]}"#
        let hugeSpec = try ModelSpec.decode(json: Data(huge.utf8), file: "m.json")
        XCTAssertThrowsError(try ModelFactory.graph(hugeSpec, inputs: [GraphInput(name: "x", width: 3)], seed: 1, file: "m.json")) {
            XCTAssertEqual("\($0)", "m.json: layer 'd': 3 inputs × 1000000000000000000 units would take the model past 100000000 parameters")
        }
        var duplicated = digitsSpec()
        duplicated.layers.append(duplicated.layers[0])
        XCTAssertThrowsError(try Trainer(spec: duplicated, table: table, settings: settings(epochs: 1))) {
            XCTAssertTrue("\($0)".contains("is used by more than one input or layer"), "\($0)")
        }
    }

    func testDivergingLossNeverOverwritesTheCheckpoint() throws {
        let table = try CSVTable.read(Self.datasets + "/digits.csv")
        var settings = settings(epochs: 1)
        let path = temporaryPath("good.ckpt")
        var trainer = try Trainer(spec: digitsSpec(), table: table, settings: settings)
        try trainer.fit(checkpoint: path)
        let good = FileManager.default.contents(atPath: path)
        settings.learningRate = 1e30
        settings.optimizer = .sgd
        settings.epochs = 3
        var exploding = try Trainer(spec: digitsSpec(dropout: 0), table: table, settings: settings)
        XCTAssertThrowsError(try exploding.fit(checkpoint: path)) { error in
            XCTAssertTrue("\(error)".contains("training loss became"), "\(error)")
        }
        XCTAssertEqual(FileManager.default.contents(atPath: path), good)
    }
}

final class DiamondsTests: XCTestCase {
    /// Softplus output (prices are positive), huber loss on targets scaled by their standard
    /// deviation, price features routed straight to the output (wide & deep).
    func testDiamondsPriceRegressorReachesR2Of097() throws {
        let url = URL(fileURLWithPath: TrainerTests.datasets + "/../examples/diamonds.json").standardized
        let spec = try ModelSpec.decode(json: try Data(contentsOf: url), file: url.path)
        var settings = TrainingSettings()
        settings.epochs = 8
        settings.batchSize = 64
        settings.learningRate = 3e-3
        settings.schedule = .cosine
        var trainer = try Trainer(spec: spec, table: try CSVTable.read(TrainerTests.datasets + "/diamonds.csv"), settings: settings)
        try trainer.fit(checkpoint: nil)
        let metrics = try XCTUnwrap(trainer.history.last?.metrics)
        XCTAssertGreaterThanOrEqual(metrics["val_r2"] ?? 0, 0.97, "\(metrics)")
        XCTAssertGreaterThan(trainer.model.graph.outputs[0].scale, 1000, "prices are scaled by their standard deviation")
    }
}
