import Foundation
import NNCore
import NNFormat
import NNTrain
@testable import NNTune
import XCTest

/// Whole studies on digits: the same at any worker count, the same after a stop, and refused
/// before any training when they cannot mean anything.
final class StudyTests: XCTestCase {
    private let model = """
        {"inputs": [{"name": "pixels"}],
         "layers": [{"name": "hidden1", "type": "dense", "inputs": ["pixels"], "units": 16, "activation": "relu"},
                    {"name": "drop1", "type": "dropout", "inputs": ["hidden1"], "rate": 0.1},
                    {"name": "probabilities", "type": "dense", "inputs": ["drop1"], "units": 10, "activation": "softmax"}],
         "outputs": [{"name": "label", "node": "probabilities", "loss": "sparse_categorical_crossentropy"}]}
        """
    private let space = """
        {"learning_rate": {"log_uniform": [3e-4, 3e-2]}, "batch_size": {"choice": [32, 64]},
         "dropout": {"uniform": [0.0, 0.3]}, "units": {"choice": [8, 16]}}
        """

    private func definition(population: Int = 4, generations: Int = 3, monitor: String = "val_accuracy", model: String? = nil) -> StudyDefinition {
        StudyDefinition(algorithm: .pbt, population: population, generations: generations, epochsPerGeneration: 1, monitor: monitor, seed: 21,
                        modelFile: "tiny.json", modelText: model ?? self.model, spaceFile: "tiny-space.json", spaceText: space,
                        dataFile: PopulationTests.root + "/datasets/digits.csv", settings: TrainingSettings())
    }

    private func temporaryStudy() -> String { NSTemporaryDirectory() + "study-\(UUID().uuidString).db" }

    private func run(_ definition: StudyDefinition, workers: Int, at path: String, shouldStop: @escaping @Sendable () -> Bool = { false }) throws -> Study {
        let study = try Study(definition: definition, store: try SQLiteStudyStore(path: path), directory: path + ".members")
        try study.run(workers: workers, shouldStop: shouldStop)
        return study
    }

    private func finalBytes(_ study: Study) throws -> [Data?] {
        (0..<study.definition.population).map { FileManager.default.contents(atPath: study.finalCheckpoint(member: $0)) }
    }

    func testTheSameSeedGivesTheSameStudyAtOneAndTwoWorkers() throws {
        let (one, two) = (temporaryStudy(), temporaryStudy())
        let serial = try run(definition(), workers: 1, at: one)
        let parallel = try run(definition(), workers: 2, at: two)
        let records = try serial.store.members()
        XCTAssertEqual(records.count, 12)
        XCTAssertEqual(records, try parallel.store.members())
        XCTAssertEqual(try finalBytes(serial), try finalBytes(parallel), "every member's final checkpoint, byte for byte")
        XCTAssertTrue(records.contains { $0.replacedBy != nil }, "PBT replaced someone")
        XCTAssertTrue(try serial.isComplete)
        let report = StudyReport(definition: serial.definition, records: records)
        XCTAssertGreaterThan(report.best?.value ?? 0, 0.5, "3 epochs of an 8-16 unit network learn something")
        let best = try CheckpointFile.read(from: serial.finalCheckpoint(member: report.best!.member))
        XCTAssertEqual(best.state.epoch, 3, "the best member trained every epoch of its lineage")
    }

    func testAStoppedStudyResumesToTheSameResult() throws {
        let (whole, stopped) = (temporaryStudy(), temporaryStudy())
        let uninterrupted = try run(definition(), workers: 2, at: whole)
        // Asks to stop after the fifth finished member-epoch: generation 2 is then part-trained.
        let polls = Counter()
        XCTAssertThrowsError(try run(definition(), workers: 2, at: stopped) { polls.increment() >= 5 }) { error in
            XCTAssertTrue(error is Study.Interrupted, "\(error)")
        }
        let partial = try SQLiteStudyStore(path: stopped)
        XCTAssertEqual(try partial.committedGenerations(), 1)
        let resumed = try run(definition(), workers: 1, at: stopped)
        XCTAssertEqual(try resumed.store.members(), try uninterrupted.store.members())
        XCTAssertEqual(try finalBytes(resumed), try finalBytes(uninterrupted))
    }

    func testBadStudiesAreRefusedBeforeAnyTraining() throws {
        func refusal(_ definition: StudyDefinition, at path: String? = nil) -> String {
            let path = path ?? temporaryStudy()
            do {
                _ = try Study(definition: definition, store: try SQLiteStudyStore(path: path), directory: path + ".members")
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(refusal(definition(population: 1)), "--population 1: a population has at least 2 members")
        XCTAssertEqual(refusal(definition(generations: 0)), "--generations 0: a study runs at least 1 generation")
        XCTAssertEqual(refusal(definition(monitor: "val_rmse")),
                       "--monitor val_rmse: the members report loss, val_accuracy, val_loss, val_top3_accuracy")
        let path = temporaryStudy()
        _ = try Study(definition: definition(), store: try SQLiteStudyStore(path: path), directory: path + ".members")
        XCTAssertEqual(refusal(definition(model: model.replacingOccurrences(of: "\"units\": 16", with: "\"units\": 32")), at: path),
                       "\(path): the study was made for the base model tiny.json, not tiny.json (their texts differ)")
        XCTAssertEqual(refusal(definition(population: 6), at: path),
                       "\(path): the study was made with population 4, not 6; continue it with `nntrain tune --resume \(path)` alone, or start another with --study")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".members/g0/m0.progress.ckpt"), "nothing trained")
        // One runner at a time: a second one would rewrite the first's member files.
        let open = try Study(definition: definition(), store: try SQLiteStudyStore(path: path), directory: path + ".members")
        XCTAssertEqual(refusal(definition(), at: path), "\(path).members: another nntrain tune is running this study")
        withExtendedLifetime(open) {}
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func increment() -> Int { lock.withLock { count += 1; return count } }
}
