import Foundation
import NNCore
import NNFormat
import NNTrain

/// Runs a study: a population trained in synchronous generations of `epochsPerGeneration`
/// epochs, PBT's exploit and explore between them (or nothing, for random search), every
/// generation committed to the store.
///
/// Its parts: the store (`StudyStore`: definitions and committed records), the member files
/// (`StudyFiles`) under a lock (`StudyLock`), the members' training (`MemberRunner`, with a
/// pool of workers), and between generations `Exploitation`. A study killed at any point
/// continues from its files: finished epochs are kept, and an unfinished generation is
/// finished, not redone. Decisions depend only on committed records, so the result is the
/// same at any worker count.
public final class Study: Sendable {
    public let definition: StudyDefinition
    public let store: any StudyStore
    public let directory: String
    public let space: SearchSpace
    /// Held while the study is open (released with it).
    private let lock: StudyLock
    private let files: StudyFiles
    private let runner: MemberRunner

    public struct Member: Sendable {
        public var index: Int
        public var hyperparameters: Hyperparameters
        /// The member whose state this one continues from this generation.
        public var source: Int
    }

    /// Thrown when a stop was requested: every finished epoch is in the member files.
    public struct Interrupted: Error, CustomStringConvertible {
        public var generation: Int
        public var description: String { "stopped during generation \(generation + 1); finished epochs are kept" }
    }

    public struct GenerationReport: Sendable {
        public var generation: Int
        public var records: [MemberRecord]
        public var seconds: Double
    }

    /// Opens (or creates, with `definition`) the study in `store`, checking everything a study
    /// needs before any training: the space against the base model, the population, the monitor.
    public init(definition: StudyDefinition, store: any StudyStore, directory: String) throws {
        let stored = try store.definition()
        if let stored { try StudyDefinitionChecks.checkSame(stored, definition, database: store.location) }
        let definition = stored ?? definition
        self.definition = definition
        try StudyDefinitionChecks.validate(definition)
        space = try SearchSpace.decode(json: Data(definition.spaceText.utf8), file: definition.spaceFile)
        var base = try ModelSpec.decode(json: Data(definition.modelText.utf8), file: definition.modelFile)
        if let target = definition.target { base = try base.withTarget(target, file: definition.modelFile) }
        try MemberConfiguration.check(space, base: base, spaceFile: definition.spaceFile, modelFile: definition.modelFile)
        files = StudyFiles(directory: directory)
        runner = MemberRunner(definition: definition, base: base, table: try CSVTable.read(definition.dataFile),
                              validationTable: try definition.validationFile.map { try CSVTable.read($0) }, files: files)
        self.store = store
        self.directory = directory
        lock = try StudyLock(directory: directory)
        // The monitor must be a metric the heads report: a member's first evaluation tells.
        let reported = try runner.trainer(for: initialMembers()[0]).monitorableMetrics()
        guard reported.contains(definition.monitor) else {
            throw TuneError.invalidSetting(flag: "--monitor", value: definition.monitor, rule: "the members report \(reported.sorted().joined(separator: ", "))")
        }
        if stored == nil { try store.create(definition) }
    }

    /// The members' first hyperparameters: drawn in member order from the study's seed.
    private var sampler: CounterRNG { CounterRNG(seed: definition.seed, stream: 0x5A3B_0000_0000) }

    public func initialMembers() -> [Member] {
        var rng = sampler
        return (0..<definition.population).map { Member(index: $0, hyperparameters: space.sample(&rng), source: $0) }
    }

    /// Where the study stands: the generation to run next and its members.
    public func next() throws -> (generation: Int, members: [Member]) {
        let records = try store.members()
        let committed = records.map(\.generation).max().map { $0 + 1 } ?? 0
        guard committed > 0 else { return (0, initialMembers()) }
        let last = records.filter { $0.generation == committed - 1 }
        let decision = Exploitation.decide(after: last, definition: definition, space: space)
        return (committed, decision.hyperparameters.indices.map { Member(index: $0, hyperparameters: decision.hyperparameters[$0], source: decision.source[$0]) })
    }

    public var isComplete: Bool { get throws { try store.committedGenerations() >= definition.generations } }

    /// Runs the remaining generations with `workers` members training at a time.
    /// `shouldStop` is polled after every epoch; `log` receives progress lines from any thread.
    public func run(workers: Int, logdir: String? = nil, shouldStop: @escaping @Sendable () -> Bool = { false },
                    log: @escaping @Sendable (String) -> Void = { _ in }, generationDone: (GenerationReport) -> Void = { _ in }) throws {
        while true {
            let (generation, members) = try next()
            guard generation < definition.generations else { return }
            files.removeGenerations(before: generation)
            let started = DispatchTime.now().uptimeNanoseconds
            let results = try runner.train(generation: generation, members: members, workers: workers, logdir: logdir, shouldStop: shouldStop, log: log)
            var records = zip(members, results).map { member, result in
                MemberRecord(generation: generation, member: member.index, hyperparameters: member.hyperparameters,
                             metrics: result.metrics, value: result.value)
            }
            // The next generation's start files, then the commit: a kill between the two
            // re-derives the same files from the same records.
            let decision = Exploitation.decide(after: records, definition: definition, space: space)
            try files.createGeneration(generation + 1)
            for member in members {
                let source = generation + 1 < definition.generations ? decision.source[member.index] : member.index
                if source != member.index { records[member.index].replacedBy = source }
                // A member that diverged in its generation's first epoch has no progress file:
                // it continues from where the generation started it.
                guard let checkpoint = (try? CheckpointFile.read(from: files.progress(generation: generation, member: source)))
                        ?? (try? CheckpointFile.read(from: files.start(generation: generation, member: source))) else { continue }
                let next = source == member.index ? checkpoint
                    : try Exploitation.continuation(of: checkpoint, values: decision.hyperparameters[member.index], seed: runner.seed(of: member.index))
                try next.write(to: files.start(generation: generation + 1, member: member.index))
            }
            try store.commit(records)
            files.removeGenerations(before: generation + 1)
            generationDone(GenerationReport(generation: generation, records: records,
                                            seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9))
        }
    }

    /// "lr 0.0031, batch_size 64, units 128"
    public static func describe(_ values: Hyperparameters) -> String {
        values.keys.sorted().map { "\($0) \(values[$0]!)" }.joined(separator: ", ")
    }

    /// The best member's final checkpoint, once the study is complete.
    public func finalCheckpoint(member: Int) -> String { files.start(generation: definition.generations, member: member) }
}
