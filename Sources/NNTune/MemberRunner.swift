import Foundation
import NNCore
import NNFormat
import NNTrain

/// Trains one member through one generation: a fresh trainer in the first generation, else a
/// resume from the member's start file or from the progress file a stopped run left. Members
/// train with their own seeds on one split (the study's seed).
struct MemberRunner: Sendable {
    let definition: StudyDefinition
    let base: ModelSpec
    let table: CSVTable
    let validationTable: CSVTable?
    let files: StudyFiles

    /// What a member reached at the end of a generation (no value: its loss diverged).
    struct Result: Sendable {
        var metrics: [String: Double]
        var value: Double?
    }

    /// A member's own seed (initialization, shuffles, dropout); the split stays the study's.
    func seed(of member: Int) -> UInt64 {
        definition.seed &+ (UInt64(member) &+ 1) &* 0x9E37_79B9_7F4A_7C15
    }

    /// A fresh trainer for a member's first generation.
    func trainer(for member: Study.Member) throws -> Trainer {
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

    func train(_ member: Study.Member, generation: Int, logdir: String?, shouldStop: @escaping @Sendable () -> Bool,
               log: @escaping @Sendable (String) -> Void) throws -> Result {
        let end = (generation + 1) * definition.epochsPerGeneration
        let progressPath = files.progress(generation: generation, member: member.index)
        var run: Trainer
        if let progress = try? CheckpointFile.read(from: progressPath), progress.state.epoch > generation * definition.epochsPerGeneration {
            run = try Trainer.resume(progress, table: table, additionalEpochs: end - progress.state.epoch)
        } else if generation == 0 {
            run = try trainer(for: member)
        } else if let start = try? CheckpointFile.read(from: files.start(generation: generation, member: member.index)) {
            run = try Trainer.resume(start, table: table, additionalEpochs: definition.epochsPerGeneration)
        } else {
            // Diverged earlier with nothing to continue from (random search keeps no copy).
            return Result(metrics: [:], value: nil)
        }
        let memberLog = try logdir.map { try TrainingLog(directory: "\($0)/member\(member.index)") }
        do {
            try run.fit(checkpoint: progressPath, name: "member\(member.index)", log: memberLog) { _ in
                if shouldStop() { throw Study.Interrupted(generation: generation) }
            }
        } catch let error as DataError {
            guard case .lossDiverged = error else { throw error }
            log("member \(member.index): \(error)")
            return Result(metrics: [:], value: nil)
        }
        let last = run.history.last
        let value = last?.value(of: definition.monitor)
        log(String(format: "  member %d: %@ %.4f  (%@)", member.index, definition.monitor, value ?? .nan, Study.describe(member.hyperparameters)))
        return Result(metrics: last?.recordedMetrics ?? [:], value: value.flatMap { $0.isFinite ? $0 : nil })
    }

    /// Trains `members` through `generation`, `workers` at a time (threads claiming members in
    /// order; which worker trains a member does not change what it computes).
    func train(generation: Int, members: [Study.Member], workers: Int, logdir: String?,
               shouldStop: @escaping @Sendable () -> Bool, log: @escaping @Sendable (String) -> Void) throws -> [Result] {
        try files.createGeneration(generation)
        let results = ResultBox(count: members.count)
        let work = DispatchGroup()
        let queue = DispatchQueue(label: "nntune.workers", attributes: .concurrent)
        for _ in 0..<max(1, min(workers, members.count)) {
            queue.async(group: work) {
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
}

/// Results written by worker threads; the lock is the only shared state between them.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [MemberRunner.Result?]
    private var firstError: (any Error)?
    private var nextIndex = 0

    init(count: Int) { stored = Array(repeating: nil, count: count) }

    var values: [MemberRunner.Result?] { lock.withLock { stored } }
    var error: (any Error)? { lock.withLock { firstError } }

    /// The next member to train; nil when all are taken or a member failed.
    func claim() -> Int? {
        lock.withLock {
            guard firstError == nil, nextIndex < stored.count else { return nil }
            defer { nextIndex += 1 }
            return nextIndex
        }
    }

    func set(_ index: Int, _ result: MemberRunner.Result) { lock.withLock { stored[index] = result } }
    func fail(_ error: any Error) { lock.withLock { if firstError == nil { firstError = error } } }
}
