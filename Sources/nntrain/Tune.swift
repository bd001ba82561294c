import ArgumentParser
import Dispatch
import Foundation
import NNCore
import NNFormat
import NNInference
import NNTrain
import NNTune

extension NNTrainCommand {
    struct Tune: ParsableCommand {
        /// The settings members start from where the space sets nothing: a run's defaults.
        private static let defaults = TrainingSettings()

        static let configuration = CommandConfiguration(
            abstract: "Search hyperparameters: population based training or random search, in a study database.",
            discussion: """
            A population of --population members, drawn from the --space file applied to the \
            --model file, trains in --generations synchronous generations of \
            --epochs-per-generation epochs. With --algorithm pbt, after each generation the \
            bottom 20% by --monitor copy the weights, optimizer state and hyperparameters of a \
            random top-20% member and explore them (×0.8 or ×1.2, or resampled); with random, \
            members only train. Every generation is committed to --study (SQLite); \
            `nntrain tune --resume study.db` continues a stopped or killed study. Ctrl-C stops \
            after the members' current epoch.
            """)

        @Option(help: "Search space (JSON; see docs/TUNING.md).") var space: String?
        @Option(help: "Base model file the space applies to.") var model: String?
        @Option(help: "Training data (CSV).") var data: String?
        @Option(help: "Validation data (CSV); without it --validation-fraction of --data is held out.") var validationData: String?
        @Option(help: "Target column(s) for the output that names none, comma separated.") var target: String?
        @Option(help: "pbt or random.", transform: StudyDefinition.Algorithm.spelled) var algorithm = StudyDefinition.Algorithm.pbt
        @Option(help: "Members.") var population = 8
        @Option(help: "Generations.") var generations = 5
        @Option(help: "Epochs each member trains per generation.") var epochsPerGeneration = 2
        @Option(help: "Validation metric members are ranked by (val_loss, val_accuracy, val_rmse, …).") var monitor = "val_loss"
        @Option(help: "Seed of the members' hyperparameters, weights and decisions, and of the split.") var seed = Self.defaults.seed
        @Option(help: "Batch size where the space sets none.") var batchSize = Self.defaults.batchSize
        @Option(help: "Learning rate where the space sets none.") var lr = Self.defaults.learningRate
        @Option(help: "Optimizer where the space sets none.", transform: OptimizerKind.spelled) var optimizer = Self.defaults.optimizer
        @Option(help: "Fraction of rows held out for validation.") var validationFraction = Self.defaults.validationFraction
        @Option(help: "The study database (SQLite), created if missing.") var study = "study.db"
        @Option(help: "Continue the study in this database (its model, space and data are stored in it); `nntrain resume study.db` does the same.") var resume: String?
        @Option(help: "Members training at once (each on one thread).") var workers = 1
        @Option(help: "Write the best member's final checkpoint here.") var out = "tune-best.ckpt"
        @Option(help: "Prefix of the report files: PREFIX-lineage.svg, -lineage.csv, -population.svg.") var report = "tune"
        @Option(help: "TensorBoard logs per member (DIR/member<i>/train, …).") var logdir: String?
        @Flag(help: "Print a final line as JSON: the best member, its value and hyperparameters.") var json = false

        func validate() throws {
            guard resume != nil || (space != nil && model != nil && data != nil) else {
                throw ValidationError("a new study needs --space, --model and --data; or --resume study.db")
            }
            guard workers >= 1 else { throw ValidationError("--workers \(workers): at least 1") }
        }

        func run() throws {
            // Workers train side by side, one core each.
            SharedKernels.setTrainingThreads(1)
            AllocatorTuning.keepLargeBlocksOnTheHeap()
            let databasePath = resume ?? study
            let store: SQLiteStudyStore
            let definition: StudyDefinition
            let createdNow = !FileManager.default.fileExists(atPath: databasePath)
            let membersExisted = FileManager.default.fileExists(atPath: databasePath + ".members")
            if createdNow {
                guard resume == nil else { throw ValidationError("--resume \(databasePath): no such study database; start one with --space, --model and --data") }
                definition = try given(stored: nil)!
                store = try SQLiteStudyStore.create(path: databasePath, definition: definition)
            } else {
                store = try SQLiteStudyStore(path: databasePath)
                if let stored = try store.definition() {
                    definition = try given(stored: stored) ?? stored
                } else {
                    // A database from before studies were created whole, killed before its
                    // definition was stored: the flags that started it start it again.
                    guard let fresh = try given(stored: nil) else {
                        throw ValidationError("--resume \(databasePath): the study was stopped before its definition was stored; run the command that started it again (with --space, --model and --data)")
                    }
                    definition = fresh
                }
            }
            let study: Study
            do {
                study = try Study(definition: definition, store: store, directory: databasePath + ".members")
            } catch {
                // A study refused before its first member (a bad space, model or monitor) leaves
                // nothing behind: no empty database to trip the next --resume.
                if createdNow { SQLiteStudyStore.remove(path: databasePath, members: membersExisted ? nil : databasePath + ".members") }
                throw error
            }
            let stop = StopRequest.installed()
            let total = definition.generations
            let say: @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
            say("study \(databasePath): \(definition.algorithm.rawValue), \(definition.population) members × \(total) generations × "
                + "\(definition.epochsPerGeneration) epochs = \(definition.epochBudget) epochs, \(workers) worker\(workers == 1 ? "" : "s"), ranked by \(definition.monitor)")
            var seconds: [Double] = []
            do {
                try study.run(workers: workers, logdir: logdir, shouldStop: { stop.requested }, log: say) { generation in
                    seconds.append(generation.seconds)
                    let best = Ranking.best(generation.records, monitor: definition.monitor)
                    let values = Ranking.ordered(generation.records, monitor: definition.monitor).compactMap(\.value)
                    let eta = Double(total - generation.generation - 1) * seconds.reduce(0, +) / Double(seconds.count)
                    let replaced = generation.records.filter { $0.replacedBy != nil }.map { "\($0.member)←\($0.replacedBy!)" }
                    let median = values.isEmpty ? Double.nan : (values[(values.count - 1) / 2] + values[values.count / 2]) / 2
                    say(String(format: "generation %d/%d  best %@ %.4f (member %d)  median %.4f  (%.1f s, ETA %.0f s)%@", generation.generation + 1, total,
                               definition.monitor, best?.value ?? .nan, best?.member ?? -1, median,
                               generation.seconds, eta, replaced.isEmpty ? "" : "  exploit: " + replaced.joined(separator: " ")))
                }
            } catch let interrupted as Study.Interrupted {
                say("\(interrupted); continue with: nntrain tune --resume \(databasePath)")
                throw ExitCode(130)
            }
            try finish(study, store: store, say: say)
        }

        /// The definition the flags describe; with a stored study, nil when no flag asks for a
        /// different one (a plain --resume), else the flags' (which the study then checks).
        private func given(stored: StudyDefinition?) throws -> StudyDefinition? {
            guard let space, let model, let data else { return nil }
            let modelText = String(decoding: try FileProblem.contents(model).get(), as: UTF8.self)
            guard let spaceText = FileManager.default.contents(atPath: space).map({ String(decoding: $0, as: UTF8.self) }) else {
                throw ValidationError("cannot read space file '\(space)'")
            }
            var settings = TrainingSettings()
            settings.batchSize = batchSize
            settings.learningRate = lr
            settings.optimizer = optimizer
            settings.validationFraction = validationFraction
            try settings.validate()
            return StudyDefinition(algorithm: algorithm, population: population, generations: generations,
                                   epochsPerGeneration: epochsPerGeneration, monitor: monitor, seed: seed,
                                   modelFile: model, modelText: modelText, spaceFile: space, spaceText: spaceText, dataFile: data,
                                   validationFile: validationData, target: target.map { $0.split(separator: ",").map(String.init) }, settings: settings)
        }

        private func finish(_ study: Study, store: SQLiteStudyStore, say: (String) -> Void) throws {
            let report = StudyReport(definition: study.definition, records: try store.members())
            print("leaderboard (generation \((report.lastGeneration ?? 0) + 1)):")
            print(report.leaderboardText)
            guard let best = report.best else {
                say("no member finished with a finite \(study.definition.monitor)")
                throw ExitCode.failure
            }
            print("\nlineage of member \(best.member), whose weights \(out) holds (the hyperparameters they trained with, generation by generation):")
            print(report.lineageText)
            let name = URL(fileURLWithPath: study.definition.modelFile).deletingPathExtension().lastPathComponent
            try report.lineageCSV.write(toFile: "\(self.report)-lineage.csv", atomically: true, encoding: .utf8)
            try report.lineageSVG(title: "\(name): the learning rate of the best member's lineage (\(URL(fileURLWithPath: out).lastPathComponent))").write(toFile: "\(self.report)-lineage.svg", atomically: true, encoding: .utf8)
            try report.populationSVG(title: "\(name): \(study.definition.monitor) of every member, per generation")
                .write(toFile: "\(self.report)-population.svg", atomically: true, encoding: .utf8)
            var checkpoint = try CheckpointFile.read(from: study.finalCheckpoint(member: best.member))
            checkpoint.state.name = name
            try checkpoint.write(to: out)
            print("\nwrote \(out) (member \(best.member), \(study.definition.monitor) \(String(format: "%.4f", best.value!)); nnexport \(out) exports it), "
                  + "\(self.report)-lineage.svg, \(self.report)-lineage.csv, \(self.report)-population.svg")
            if json {
                var object: [String: Any] = ["best_member": best.member, "value": best.value!, "monitor": study.definition.monitor,
                                             "checkpoint": out, "epochs": study.definition.epochBudget]
                object["hyperparameters"] = best.hyperparameters.mapValues { value -> Any in value.number ?? value.text ?? "" }
                if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) { print(String(decoding: data, as: UTF8.self)) }
            }
        }
    }
}

/// Ctrl-C (SIGINT) or SIGTERM asks a study to stop after the members' current epoch; a
/// second one ends the process at once.
final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var sources: [any DispatchSourceSignal] = []

    var requested: Bool { lock.withLock { count > 0 } }

    static func installed() -> StopRequest {
        let request = StopRequest()
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                // Said before the request is visible: once it is, the study may stop and the
                // process exit before a later write.
                if !request.requested { FileHandle.standardError.write(Data("stopping after the current epoch (again to quit now)\n".utf8)) }
                let count = request.lock.withLock { request.count += 1; return request.count }
                if count > 1 { exit(130) }
            }
            source.resume()
            request.sources.append(source)
        }
        return request
    }
}
