import Foundation
import NNCore
import NNFormat

extension Trainer {
    /// A new learning-rate schedule for the epochs a resume adds.
    public struct ScheduleRestart: Sendable {
        public var schedule: ScheduleKind
        /// The new peak (or constant) rate; nil keeps the run's.
        public var learningRate: Float?

        public init(schedule: ScheduleKind, learningRate: Float? = nil) {
            self.schedule = schedule
            self.learningRate = learningRate
        }
    }

    /// Everything needed to resume, as a checkpoint. Deterministic: two runs with the same
    /// seed write the same bytes (no timestamps; run times are kept out of the file).
    public func checkpointFile(name: String = "run") -> CheckpointFile {
        var state = TrainingState()
        state.name = name
        state.step = optimizer.step
        state.epoch = epoch
        state.rng.seed = settings.seed
        state.split = split
        // Both are plain Codable values: encoding them cannot fail in practice, and a checkpoint
        // is written whatever happens (a missing model config only costs `summary` a section).
        try? state.store(spec: spec)
        try? state.store(settings: settings)
        state.store(rateSweep: rateSweep)
        state.optimizer = TrainingState.OptimizerState(kind: optimizer.rule.kind.rawValue, step: optimizer.step, slots: optimizer.slots)
        state.history = history.map(\.record)
        state.metadata.producer = "nntrain"
        state.metadata.trainingMetrics = weightsEpoch?.metrics ?? [:]
        state.best = best
        return CheckpointFile(graph: model.graph, state: state)
    }

    /// Continues the run of `checkpoint` on the same data file for `additionalEpochs` more
    /// epochs. By default the learning-rate schedule keeps the original run's length, so an
    /// interrupted run continues bit-identically; a run whose decaying schedule has ended would
    /// train at its final rate (about 0 for cosine and one_cycle), which `warn` says, and
    /// `restart` starts a new schedule spanning the added epochs instead.
    public static func resume(_ checkpoint: CheckpointFile, table: CSVTable, additionalEpochs: Int,
                              restart: ScheduleRestart? = nil, warn: (String) -> Void = { _ in }) throws -> Trainer {
        let state = checkpoint.state
        let spec = try state.modelSpec()
        var settings = try state.trainingSettings()
        let (data, trainRows, validation) = try splitRows(checkpoint, table: table)
        // Pinned only when the run grows past its length: a crashed run resumed to its planned
        // end writes the uninterrupted run's bytes.
        if state.epoch + additionalEpochs != settings.epochs { settings.scheduleEpochs = settings.scheduleEpochs ?? settings.epochs }
        if let restart {
            settings.schedule = restart.schedule
            settings.learningRate = restart.learningRate ?? settings.learningRate
            settings.scheduleStartEpoch = state.epoch
            settings.scheduleEpochs = additionalEpochs
        } else if additionalEpochs > 0, let end = settings.scheduleEnd, state.epoch >= end {
            warn("the run's \(settings.schedule) schedule ended at epoch \(end): the \(additionalEpochs) added epochs train at its final rate; "
                 + "`nntrain resume --schedule NAME [--lr RATE]` starts a new schedule for them")
        }
        settings.epochs = state.epoch + additionalEpochs
        if restart != nil { try settings.validate() }
        var setup = RunSetup(spec: spec, settings: settings, graph: checkpoint.graph, regularization: ModelFactory.regularization(spec),
                             training: data.subset(trainRows[...]), validation: validation, split: state.split, modelFile: "checkpoint")
        var best = state.best
        if additionalEpochs > 0, EarlyStopWatch(rule: settings.earlyStopping, best: best).stopped, let stopped = best {
            // Training on after an early stop is on purpose: from the best weights (the
            // checkpoint's graph), with a fresh patience.
            warn("the run stopped early at epoch \(state.epoch) and holds epoch \(stopped.epoch)'s weights (\(stopped.monitor) \(stopped.value)); "
                 + "the \(additionalEpochs) added epochs train on from them with a fresh patience")
            best?.epochsWithoutImprovement = 0
        }
        setup.progress = RunSetup.Progress(epoch: state.epoch, optimizerStep: state.optimizer.step, optimizerSlots: state.optimizer.slots,
                                           history: state.history.map(EpochReport.init(record:)), best: best, rateSweep: state.rateSweep)
        return try Trainer(setup)
    }

    /// The rows of `checkpoint`'s run read from its data file `table`, with the run's split:
    /// the training rows' indices and the validation data (its own file's, or the rows split
    /// off `table` with the run's seed).
    static func splitRows(_ checkpoint: CheckpointFile, table: CSVTable) throws -> (data: TrainingData, trainRows: [Int], validation: TrainingData) {
        let state = checkpoint.state
        let spec = try state.modelSpec()
        let settings = try state.trainingSettings()
        let encoding = TableEncoding(graph: checkpoint.graph)
        let (data, _) = try TrainingData.from(table, spec: spec, encoding: encoding)
        let separateValidation = !state.split.validationFile.isEmpty
        let expectedRows = state.split.trainingRows + (separateValidation ? 0 : state.split.validationRows)
        guard data.rows == expectedRows else {
            throw DataError.unreadable(file: table.file, detail: "has \(data.rows) rows; the checkpoint was trained on \(expectedRows)")
        }
        let (trainRows, validationRows) = TrainingData.split(rows: data.rows, validationFraction: settings.validationFraction, seed: state.split.splitSeed)
        let validation = separateValidation
            ? try TrainingData.from(try CSVTable.read(state.split.validationFile, delimiter: state.split.delimiter), spec: spec, encoding: encoding).0 : data.subset(validationRows[...])
        return (data, trainRows, validation)
    }

    /// Held-out rows for `checkpoint`'s model, with its heads' targets: `table`'s rows when
    /// given, else the run's validation rows read again from the files it names (what
    /// `nnexport --weights int8` measures the reduced model on).
    public static func heldOutRows(of checkpoint: CheckpointFile, table: CSVTable? = nil) throws -> TrainingData {
        if let table {
            return try TrainingData.from(table, spec: try checkpoint.state.modelSpec(), encoding: TableEncoding(graph: checkpoint.graph)).0
        }
        let split = checkpoint.state.split
        return try splitRows(checkpoint, table: try CSVTable.read(split.trainingFile, delimiter: split.delimiter)).validation
    }
}
