import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NNCore
import NNFormat
import NNTrain

/// Runs a study: a population trained in synchronous generations of `epochsPerGeneration`
/// epochs, PBT's exploit and explore between them (or nothing, for random search), every
/// generation committed to the store.
///
/// Files, in `directory`: `g<G>/m<i>.ckpt` is member i's state at the start of generation G
/// (written before generation G-1 is committed), `g<G>/m<i>.progress.ckpt` its checkpoint
/// after each epoch of generation G. A study killed at any point continues from them: finished
/// epochs are kept, and an unfinished generation is finished, not redone. Members train
/// with their own seeds on one split (the study's seed) and one BLAS thread each; decisions
/// depend only on committed records, so the result is the same at any worker count.
public final class Study: Sendable {
    public let definition: StudyDefinition
    public let store: any StudyStore
    public let directory: String
    public let space: SearchSpace
    /// An exclusive lock on the member files, held while the study is open: a second runner
    /// would rewrite and delete them under the first.
    private let lock: Int32
    let base: ModelSpec
    let table: CSVTable
    let validationTable: CSVTable?

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
        if let stored = try store.definition() {
            try Self.checkSame(stored, definition, database: (store as? SQLiteStudyStore)?.path ?? "the study store")
            self.definition = stored
        } else {
            self.definition = definition
        }
        let definition = self.definition
        try Self.validate(definition)
        space = try SearchSpace.decode(json: Data(definition.spaceText.utf8), file: definition.spaceFile)
        var base = try ModelSpec.decode(json: Data(definition.modelText.utf8), file: definition.modelFile)
        if let target = definition.target { base = try base.withTarget(target, file: definition.modelFile) }
        self.base = base
        try MemberConfiguration.check(space, base: base, spaceFile: definition.spaceFile, modelFile: definition.modelFile)
        table = try CSVTable.read(definition.dataFile)
        validationTable = try definition.validationFile.map(CSVTable.read)
        self.store = store
        self.directory = directory
        lock = try Self.lockDirectory(directory)
        // The monitor must be a metric the heads report: a member's first evaluation tells.
        let probe = try trainer(for: initialMembers()[0])
        let reported = try probe.monitorableMetrics()
        guard reported.contains(definition.monitor) else {
            throw TuneError.invalidSetting(flag: "--monitor", value: definition.monitor, rule: "the members report \(reported.sorted().joined(separator: ", "))")
        }
        if try store.definition() == nil { try store.create(definition) }
    }

    deinit { close(lock) }

    private static func lockDirectory(_ directory: String) throws(TuneError) -> Int32 {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw .database(path: directory, detail: "cannot create the member directory: \(error.localizedDescription)")
        }
        let descriptor = open("\(directory)/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .database(path: directory, detail: "cannot open its lock file: \(String(cString: strerror(errno)))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw .database(path: directory, detail: "another nntrain tune is running this study")
        }
        return descriptor
    }

    /// Refuses to continue a study with different inputs or settings: its records would not
    /// mean anything, and reporting the old study as if it were the asked one would mislead.
    static func checkSame(_ stored: StudyDefinition, _ given: StudyDefinition, database: String) throws(TuneError) {
        if given.modelText != stored.modelText {
            throw .studyMismatch(database: database, detail: "the study was made for the base model \(stored.modelFile), not \(given.modelFile) (their texts differ)")
        }
        if given.spaceText != stored.spaceText {
            throw .studyMismatch(database: database, detail: "the study was made for the space \(stored.spaceFile), not \(given.spaceFile) (their texts differ)")
        }
        // Every other field, by its JSON name (file names of equal texts may differ).
        func fields(_ definition: StudyDefinition) -> [String: String] {
            var copy = definition
            (copy.modelFile, copy.spaceFile, copy.modelText, copy.spaceText) = ("", "", "", "")
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            guard let data = try? encoder.encode(copy), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
            return object.mapValues { value in
                (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])).map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
            }
        }
        let (old, new) = (fields(stored), fields(given))
        if let key = Set(old.keys).union(new.keys).sorted().first(where: { old[$0] != new[$0] }) {
            throw .studyMismatch(database: database, detail: "the study was made with \(key) \(old[key] ?? "(none)"), not \(new[key] ?? "(none)"); "
                                 + "continue it with `nntrain tune --resume \(database)` alone, or start another with --study")
        }
    }

    static func validate(_ definition: StudyDefinition) throws(TuneError) {
        guard definition.population >= 2 else {
            throw .invalidSetting(flag: "--population", value: "\(definition.population)", rule: "a population has at least 2 members")
        }
        guard definition.generations >= 1 else {
            throw .invalidSetting(flag: "--generations", value: "\(definition.generations)", rule: "a study runs at least 1 generation")
        }
        guard definition.epochsPerGeneration >= 1 else {
            throw .invalidSetting(flag: "--epochs-per-generation", value: "\(definition.epochsPerGeneration)", rule: "a generation trains at least 1 epoch")
        }
        guard definition.truncation > 0, definition.truncation <= 0.5 else {
            throw .invalidSetting(flag: "--truncation", value: "\(definition.truncation)", rule: "must be in (0, 0.5]")
        }
        guard definition.resample >= 0, definition.resample <= 1 else {
            throw .invalidSetting(flag: "--resample", value: "\(definition.resample)", rule: "must be in [0, 1]")
        }
    }

    /// The members' first hyperparameters: drawn in member order from the study's seed.
    private var sampler: CounterRNG { CounterRNG(seed: definition.seed, stream: 0x5A3B_0000_0000) }

    public func initialMembers() -> [Member] {
        var rng = sampler
        return (0..<definition.population).map { Member(index: $0, hyperparameters: space.sample(&rng), source: $0) }
    }

    /// A member's own seed (initialization, shuffles, dropout); the split stays the study's.
    func seed(of member: Int) -> UInt64 {
        definition.seed &+ (UInt64(member) &+ 1) &* 0x9E37_79B9_7F4A_7C15
    }

    /// A fresh trainer for a member's first generation.
    func trainer(for member: Member) throws -> Trainer {
        var settings = MemberConfiguration.settings(definition.settings, member.hyperparameters)
        settings.seed = seed(of: member.index)
        settings.splitSeed = definition.seed
        settings.epochs = definition.epochsPerGeneration
        settings.checkpointEvery = 1
        // PBT makes the schedule: a member trains at its current rate.
        settings.schedule = .constant
        settings.warmupEpochs = 0
        settings.earlyStopping = nil
        let spec = MemberConfiguration.model(base, member.hyperparameters)
        return try Trainer(spec: spec, table: table, validationTable: validationTable, settings: settings, modelFile: definition.modelFile)
    }

    func path(generation: Int, member: Int, progress: Bool = false) -> String {
        "\(directory)/g\(generation)/m\(member)\(progress ? ".progress" : "").ckpt"
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
            removeGenerations(before: generation)
            let started = DispatchTime.now().uptimeNanoseconds
            let results = try train(generation: generation, members: members, workers: workers, logdir: logdir, shouldStop: shouldStop, log: log)
            var records = zip(members, results).map { member, result in
                MemberRecord(generation: generation, member: member.index, hyperparameters: member.hyperparameters,
                             metrics: result.metrics, value: result.value)
            }
            // The next generation's start files, then the commit: a kill between the two
            // re-derives the same files from the same records.
            let decision = Exploitation.decide(after: records, definition: definition, space: space)
            try FileManager.default.createDirectory(atPath: "\(directory)/g\(generation + 1)", withIntermediateDirectories: true)
            for member in members {
                let source = generation + 1 < definition.generations ? decision.source[member.index] : member.index
                if source != member.index { records[member.index].replacedBy = source }
                // A member that diverged in its generation's first epoch has no progress file:
                // it continues from where the generation started it.
                guard let checkpoint = (try? CheckpointFile.read(from: path(generation: generation, member: source, progress: true)))
                        ?? (try? CheckpointFile.read(from: path(generation: generation, member: source))) else { continue }
                let next = source == member.index ? checkpoint
                    : try Exploitation.continuation(of: checkpoint, values: decision.hyperparameters[member.index], seed: seed(of: member.index))
                try next.write(to: path(generation: generation + 1, member: member.index))
            }
            try store.commit(records)
            removeGenerations(before: generation + 1)
            generationDone(GenerationReport(generation: generation, records: records,
                                            seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9))
        }
    }

    struct MemberResult: Sendable {
        var metrics: [String: Double]
        var value: Double?
    }

    /// Trains every member through `generation`, continuing from its progress file if a
    /// stopped run left one.
    private func train(generation: Int, members: [Member], workers: Int, logdir: String?,
                       shouldStop: @escaping @Sendable () -> Bool, log: @escaping @Sendable (String) -> Void) throws -> [MemberResult] {
        try FileManager.default.createDirectory(atPath: "\(directory)/g\(generation)", withIntermediateDirectories: true)
        let results = ResultBox(count: members.count)
        let work = DispatchGroup()
        let queue = DispatchQueue(label: "nntune.workers", attributes: .concurrent)
        for _ in 0..<max(1, min(workers, members.count)) {
            queue.async(group: work) {
                // Members are claimed in order as workers free up; which worker trains a
                // member does not change what it computes.
                while let index = results.claim() {
                    do {
                        results.set(index, try self.train(members[index], generation: generation, logdir: logdir, shouldStop: shouldStop, log: log))
                    } catch {
                        results.fail(error)
                    }
                }
            }
        }
        work.wait()
        if let error = results.error { throw error }
        return results.values.map { $0! }
    }

    private func train(_ member: Member, generation: Int, logdir: String?, shouldStop: @escaping @Sendable () -> Bool,
                       log: @escaping @Sendable (String) -> Void) throws -> MemberResult {
        let end = (generation + 1) * definition.epochsPerGeneration
        let progressPath = path(generation: generation, member: member.index, progress: true)
        let trainer: Trainer
        if let progress = try? CheckpointFile.read(from: progressPath), progress.state.epoch > generation * definition.epochsPerGeneration {
            trainer = try Trainer.resume(progress, table: table, additionalEpochs: end - progress.state.epoch)
        } else if generation == 0 {
            trainer = try self.trainer(for: member)
        } else if let start = try? CheckpointFile.read(from: path(generation: generation, member: member.index)) {
            trainer = try Trainer.resume(start, table: table, additionalEpochs: definition.epochsPerGeneration)
        } else {
            // Diverged earlier with nothing to continue from (random search keeps no copy).
            return MemberResult(metrics: [:], value: nil)
        }
        let memberLog = try logdir.map { try TrainingLog(directory: "\($0)/member\(member.index)") }
        var run = trainer
        do {
            try run.fit(checkpoint: progressPath, name: "member\(member.index)", log: memberLog) { _ in
                if shouldStop() { throw Interrupted(generation: generation) }
            }
        } catch let error as DataError {
            guard case .lossDiverged = error else { throw error }
            log("member \(member.index): \(error)")
            return MemberResult(metrics: [:], value: nil)
        }
        let last = run.history.last
        let metrics = last?.recordedMetrics ?? [:]
        let value = last?.value(of: definition.monitor)
        log(String(format: "  member %d: %@ %.4f  (%@)", member.index, definition.monitor, value ?? .nan, Self.describe(member.hyperparameters)))
        return MemberResult(metrics: metrics, value: value.flatMap { $0.isFinite ? $0 : nil })
    }

    /// "lr 0.0031, batch_size 64, units 128"
    public static func describe(_ values: Hyperparameters) -> String {
        values.keys.sorted().map { "\($0) \(values[$0]!)" }.joined(separator: ", ")
    }

    private func removeGenerations(before generation: Int) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for entry in entries where entry.hasPrefix("g") {
            if let number = Int(entry.dropFirst()), number < generation {
                try? FileManager.default.removeItem(atPath: "\(directory)/\(entry)")
            }
        }
    }

    /// The best member's final checkpoint, once the study is complete.
    public func finalCheckpoint(member: Int) -> String { path(generation: definition.generations, member: member) }
}

/// Results written by worker threads; the lock is the only shared state between them.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Study.MemberResult?]
    private var firstError: (any Error)?
    private var nextIndex = 0

    init(count: Int) { stored = Array(repeating: nil, count: count) }

    var values: [Study.MemberResult?] { lock.withLock { stored } }
    var error: (any Error)? { lock.withLock { firstError } }

    /// The next member to train; nil when all are taken or a member failed.
    func claim() -> Int? {
        lock.withLock {
            guard firstError == nil, nextIndex < stored.count else { return nil }
            defer { nextIndex += 1 }
            return nextIndex
        }
    }

    func set(_ index: Int, _ result: Study.MemberResult) { lock.withLock { stored[index] = result } }
    func fail(_ error: any Error) { lock.withLock { if firstError == nil { firstError = error } } }
}
