import Foundation
import NNCore
import NNFormat
import NNTrain
@testable import NNTune
import GRDB
import XCTest

/// Exploit/explore, the member's model and settings, the store and the lineage, on hand-built
/// records whose answers are known.
final class PopulationTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path

    private func digits() throws -> ModelSpec {
        try ModelSpec.decode(json: try Data(contentsOf: URL(fileURLWithPath: Self.root + "/examples/digits.json")), file: "digits.json")
    }

    private func space(_ json: String) throws -> SearchSpace { try SearchSpace.decode(json: Data(json.utf8), file: "s.json") }

    private func definition(_ algorithm: StudyDefinition.Algorithm = .pbt, population: Int) -> StudyDefinition {
        StudyDefinition(algorithm: algorithm, population: population, generations: 3, epochsPerGeneration: 1, monitor: "val_accuracy", seed: 3,
                        modelFile: "m.json", modelText: "", spaceFile: "s.json", spaceText: "", dataFile: "d.csv", settings: TrainingSettings())
    }

    func testMembersModelTakesTheShapeAndRates() throws {
        let base = try digits()
        let spec = MemberConfiguration.model(base, ["units": .number(48), "activation": .text("elu"), "dropout": .number(0.35), "l2": .number(1e-4)])
        XCTAssertEqual(spec.layers.first { $0.name == "hidden1" }?.units, 48)
        XCTAssertEqual(spec.layers.first { $0.name == "relu1" }?.activation, "elu", "the activation layer of the block")
        XCTAssertEqual(spec.layers.first { $0.name == "drop1" }?.rate, 0.35)
        XCTAssertEqual(spec.layers.filter { $0.type == .dense }.map(\.l2), [1e-4, 1e-4])
        XCTAssertEqual(spec.layers.first { $0.name == "probabilities" }?.units, 10, "the head keeps its width")

        let deeper = MemberConfiguration.model(base, ["layers": .number(3), "units": .number(16)])
        XCTAssertEqual(deeper.layers.map(\.name), ["hidden1", "bn1", "relu1", "drop1", "hidden1_rep2", "bn1_rep2", "relu1_rep2", "drop1_rep2",
                                                   "hidden1_rep3", "bn1_rep3", "relu1_rep3", "drop1_rep3", "probabilities"])
        XCTAssertEqual(deeper.layers.map { $0.inputs[0] }, ["pixels"] + deeper.layers.dropLast().map(\.name), "each block reads the one before")
        XCTAssertEqual(deeper.layers.filter { $0.type == .dense }.map(\.units), [16, 16, 16, 10])
        let settings = MemberConfiguration.settings(TrainingSettings(), ["learning_rate": .number(0.02), "batch_size": .number(64), "optimizer": .text("sgd")])
        XCTAssertEqual(settings.learningRate, 0.02)
        XCTAssertEqual(settings.batchSize, 64)
        XCTAssertEqual(settings.optimizer, .sgd)
    }

    func testASpaceTheBaseModelCannotTakeIsRefused() throws {
        let base = try digits()
        func refusal(_ json: String, _ spec: ModelSpec) throws -> String {
            do {
                try MemberConfiguration.check(try space(json), base: spec, spaceFile: "s.json", modelFile: "m.json")
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(try refusal(#"{"units.hidden2": {"choice": [8]}}"#, base), "s.json: 'units.hidden2': m.json has no hidden dense layer 'hidden2' (it has hidden1)")
        var noDropout = base
        noDropout.layers.removeAll { $0.type == .dropout }
        noDropout.layers[noDropout.layers.count - 1].inputs = ["relu1"]
        XCTAssertEqual(try refusal(#"{"dropout": {"uniform": [0, 0.5]}}"#, noDropout), "s.json: 'dropout': m.json has no dropout layer to set the rate of")
        var branching = base
        branching.layers[3].inputs = ["bn1"]
        XCTAssertEqual(try refusal(#"{"layers": {"choice": [1, 2]}}"#, branching),
                       "s.json: 'layers' repeats or drops blocks of a sequential model; m.json branches at 'drop1' (it reads bn1, not 'relu1')")
        XCTAssertEqual(try refusal(#"{"layers": {"choice": [1, 2]}, "units.hidden1": {"choice": [8]}}"#, base), "accepted")
    }

    private func record(_ member: Int, _ value: Double?, rate: Double, generation: Int = 0) -> MemberRecord {
        MemberRecord(generation: generation, member: member, hyperparameters: ["learning_rate": .number(rate), "units": .number(Double(8 * (member + 1)))],
                     metrics: value.map { ["val_accuracy": $0] } ?? [:], value: value)
    }

    func testTheBottomFifthCopiesTheTopFifthAndExplores() throws {
        XCTAssertEqual(Exploitation.groupSize(population: 8, truncation: 0.2), 2)
        XCTAssertEqual(Exploitation.groupSize(population: 5, truncation: 0.2), 1)
        XCTAssertEqual(Exploitation.groupSize(population: 2, truncation: 0.2), 1)
        XCTAssertEqual(Exploitation.groupSize(population: 3, truncation: 0.5), 1, "never overlapping")
        let searched = try space(#"{"learning_rate": {"log_uniform": [1e-4, 1e-1]}, "units": {"choice": [8, 16, 24, 32, 40]}}"#)
        // Member 2 is best, member 4 diverged (ranks last), member 0 is next to last.
        let records = [record(0, 0.5, rate: 1e-3), record(1, 0.8, rate: 2e-3), record(2, 0.9, rate: 3e-3),
                       record(3, 0.7, rate: 4e-3), record(4, nil, rate: 5e-3)]
        let decision = Exploitation.decide(after: records, definition: definition(population: 5), space: searched)
        XCTAssertEqual(decision.source, [0, 1, 2, 3, 2], "one bottom member (the diverged one) copies the one top member")
        XCTAssertEqual(decision.hyperparameters[4]["units"], .number(24), "it takes the source's shape")
        // Without resampling, explore can only multiply the source's rate by 0.8 or 1.2.
        var perturbOnly = definition(population: 5)
        perturbOnly.resample = 0
        let perturbed = Exploitation.decide(after: records, definition: perturbOnly, space: searched)
        let rate = try XCTUnwrap(perturbed.hyperparameters[4]["learning_rate"]?.number)
        XCTAssertTrue(abs(rate - 3e-3 * 0.8) < 1e-12 || abs(rate - 3e-3 * 1.2) < 1e-12, "\(rate)")
        // A diverged member is never copied: with all diverged nothing changes.
        let diverged = (0..<5).map { record($0, nil, rate: 1e-3) }
        XCTAssertEqual(Exploitation.decide(after: diverged, definition: definition(population: 5), space: searched).source, [0, 1, 2, 3, 4])
        XCTAssertEqual(Array(decision.hyperparameters[0..<4]), records[0..<4].map(\.hyperparameters), "the rest keep theirs")
        XCTAssertEqual(Exploitation.decide(after: records, definition: definition(population: 5), space: searched), decision, "a pure function")
        let random = Exploitation.decide(after: records, definition: definition(.random, population: 5), space: searched)
        XCTAssertEqual(random.source, [0, 1, 2, 3, 4])
    }

    func testAContinuationCarriesTheNewRatesThroughResume() throws {
        let table = try CSVTable.read(Self.root + "/datasets/digits.csv")
        var settings = TrainingSettings()
        settings.epochs = 1
        settings.seed = 1
        var trainer = try Trainer(spec: try digits(), table: table, settings: settings)
        try trainer.fit(checkpoint: nil)
        let values: Hyperparameters = ["learning_rate": .number(0.01), "batch_size": .number(64), "dropout": .number(0.4), "l2": .number(1e-3),
                                       "units": .number(999)]
        let next = try Exploitation.continuation(of: trainer.checkpointFile(), values: values, seed: 77)
        XCTAssertEqual(next.graph.nodes.first { $0.name == "drop1" }?.operation, .dropout(rate: 0.4))
        XCTAssertEqual(next.graph.nodes.first { $0.name == "hidden1" }.map { $0.operation.parameterCount },
                       trainer.model.graph.nodes.first { $0.name == "hidden1" }.map { $0.operation.parameterCount }, "shapes never change on a live member")
        let resumed = try Trainer.resume(next, table: table, additionalEpochs: 1)
        XCTAssertEqual(resumed.settings.learningRate, 0.01)
        XCTAssertEqual(resumed.settings.batchSize, 64)
        XCTAssertEqual(resumed.settings.seed, 77)
        XCTAssertEqual(resumed.settings.splitSeed, nil)
        XCTAssertEqual(resumed.spec.layers.filter { $0.type == .dense }.map(\.l2), [1e-3, 1e-3])
        XCTAssertEqual(resumed.optimizer.step, trainer.optimizer.step, "the optimizer state comes along")
        XCTAssertEqual(resumed.model.graph.nodes.first { $0.name == "hidden1" }?.operation, trainer.model.graph.nodes.first { $0.name == "hidden1" }?.operation)
    }

    func testTheStoreKeepsRecordsWhole() throws {
        let path = NSTemporaryDirectory() + "study-\(UUID().uuidString).db"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SQLiteStudyStore(path: path)
        XCTAssertNil(try store.definition())
        var definition = definition(population: 2)
        definition.modelText = "{\"inputs\": []}"
        try store.create(definition)
        let records = [MemberRecord(generation: 0, member: 0, hyperparameters: ["activation": .text("selu"), "learning_rate": .number(0.003)],
                                    metrics: ["val_accuracy": 0.9, "loss": 0.2], value: 0.9, replacedBy: nil),
                       MemberRecord(generation: 0, member: 1, hyperparameters: ["activation": .text("relu")], metrics: [:], value: nil, replacedBy: 0)]
        try store.commit(records)
        let reopened = try SQLiteStudyStore(path: path)
        XCTAssertEqual(try reopened.definition(), definition)
        XCTAssertEqual(try reopened.members(), records)
        XCTAssertEqual(try reopened.committedGenerations(), 1)
        XCTAssertThrowsError(try reopened.commit(records), "a generation is committed once")
        XCTAssertEqual(try reopened.members(), records, "and a failed commit leaves nothing behind")
    }

    func testTheLineageFollowsTheWeightsBackThroughEachCopy() {
        // Generation 0: member 1 copies 0. Generation 1: member 0 copies 1. Best at the end: member 0.
        let records = [
            record(0, 0.9, rate: 0.1), MemberRecord(generation: 0, member: 1, hyperparameters: ["learning_rate": .number(0.2)], metrics: [:], value: 0.1, replacedBy: 0),
            MemberRecord(generation: 1, member: 0, hyperparameters: ["learning_rate": .number(0.1)], metrics: [:], value: 0.5, replacedBy: 1),
            MemberRecord(generation: 1, member: 1, hyperparameters: ["learning_rate": .number(0.08)], metrics: [:], value: 0.95),
            MemberRecord(generation: 2, member: 0, hyperparameters: ["learning_rate": .number(0.064)], metrics: [:], value: 0.97),
            MemberRecord(generation: 2, member: 1, hyperparameters: ["learning_rate": .number(0.08)], metrics: [:], value: 0.96),
        ]
        let report = StudyReport(definition: definition(population: 2), records: records)
        XCTAssertEqual(report.best?.member, 0)
        XCTAssertEqual(report.lineage.map { [$0.generation, $0.member] }, [[0, 0], [1, 1], [2, 0]])
        XCTAssertEqual(report.lineage.map { $0.hyperparameters["learning_rate"] }, [.number(0.1), .number(0.08), .number(0.064)])
        XCTAssertEqual(report.leaderboard.map(\.member), [0, 1])
        XCTAssertTrue(report.lineageSVG(title: "t").contains("<polyline"))
        XCTAssertTrue(report.populationSVG(title: "t").contains("<circle"))
    }

    func testACommitWaitsForAReaderInsteadOfFailing() throws {
        // `sqlite3 study.db` reading while a generation commits made the commit throw.
        let path = NSTemporaryDirectory() + "study-\(UUID().uuidString).db"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SQLiteStudyStore(path: path)
        try store.create(definition(population: 2))
        let reader = try DatabaseQueue(path: path)
        let released = DispatchSemaphore(value: 0)
        let holding = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            try? reader.inDatabase { db in
                try db.execute(sql: "BEGIN IMMEDIATE")
                holding.signal()
                Thread.sleep(forTimeInterval: 0.3)
                try db.execute(sql: "COMMIT")
            }
            released.signal()
        }
        holding.wait()
        try store.commit([record(0, 0.5, rate: 1e-3), record(1, 0.6, rate: 2e-3)])
        released.wait()
        XCTAssertEqual(try store.committedGenerations(), 1)
    }
}
