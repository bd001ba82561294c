import Foundation
import NNCore
import NNFormat

/// The training loop: seeded shuffles, dropout from counter-based streams, optimizer steps,
/// metrics through NNInference each epoch, atomic checkpoints that a NaN never overwrites.
public struct Trainer {
    /// What one epoch did.
    public struct EpochReport: Sendable {
        public var epoch: Int
        public var trainingLoss: Double
        public var metrics: [String: Double]
        public var seconds: Double
    }

    public private(set) var model: TrainingGraph
    public private(set) var optimizer: Optimizer
    public let spec: ModelSpec
    public private(set) var settings: TrainingSettings
    /// The learning-rate sweep that chose this run's rate (`fit --lr auto`); kept in the
    /// checkpoint (settings "lr_find") and shown by `nntrain summary`.
    public private(set) var rateSweep: LearningRateFinder.Record?
    public private(set) var epoch: Int
    public private(set) var history: [EpochReport] = []
    /// Early stopping's best epoch so far (nil without early stopping).
    public private(set) var best: TrainingState.BestEpoch?
    let heads: [(name: String, loss: Loss, weight: Float)]
    /// Each head's resolved class weights (from its `class_weight`; balanced ones from the
    /// training split), empty for heads without.
    public let classWeights: [String: [Int: Float]]
    let regularization: ModelFactory.Regularization
    let training: TrainingData
    let validation: TrainingData
    let split: TrainingState.DataSplit

    /// A new run: splits and standardizes `table`, builds and initializes the graph.
    /// With `validationTable`, every row of `table` trains and the validation metrics come
    /// from that file; otherwise a seeded `settings.validationFraction` of `table` is held out.
    public init(spec: ModelSpec, table: CSVTable, validationTable: CSVTable? = nil, settings: TrainingSettings,
                modelFile: String = "model", warn: (String) -> Void = { _ in }) throws(DataError) {
        try settings.validate()
        var settings = settings
        if validationTable != nil { settings.validationFraction = 0 }
        // Weights are optional when reading data (metrics do not use them), not for training.
        if let column = spec.sampleWeightColumn { _ = try table.columnIndex(column) }
        let (data, featureColumns) = try TrainingData.from(table, spec: spec)
        let splitSeed = settings.splitSeed ?? settings.seed
        let (trainRows, validationRows) = TrainingData.split(rows: data.rows, validationFraction: settings.validationFraction, seed: splitSeed)
        let training = data.subset(trainRows[...])
        var inputs: [GraphInput] = []
        for input in spec.inputs {
            let columns = featureColumns[input.name]!
            let statistics = input.standardize == false ? nil : TrainingData.standardization(of: training.inputs[input.name]!)
            inputs.append(GraphInput(name: input.name, width: columns.count, featureNames: columns, standardization: statistics))
        }
        var (graph, regularization) = try ModelFactory.graph(spec, inputs: inputs, seed: settings.seed, file: modelFile, warn: warn)
        try Self.checkHeadWidths(spec, graph: graph, file: modelFile)
        for (index, head) in spec.outputs.enumerated() {
            graph.outputs[index].scale = try Self.targetScale(head, loss: spec.loss(of: head),
                                                              targets: training.targets[head.name]!, file: modelFile)
        }
        var split = TrainingState.DataSplit()
        split.trainingFile = table.file
        split.validationFile = validationTable?.file ?? ""
        split.validationFraction = settings.validationFraction
        split.splitSeed = splitSeed
        split.trainingRows = trainRows.count
        split.validationRows = validationRows.count
        split.targetColumns = spec.outputs.flatMap(spec.targets(of:))
        var validation = data.subset(validationRows[...])
        if let validationTable {
            validation = try TrainingData.from(validationTable, spec: spec).0
            split.validationRows = validation.rows
        }
        try self.init(spec: spec, settings: settings, graph: graph, regularization: regularization, training: training,
                      validation: validation, split: split, modelFile: modelFile)
        try checkTargets(data, file: table.file)
        if let validationTable { try checkTargets(validation, file: validationTable.file) }
        optimizer = try settings.makeOptimizer(stepsPerEpoch: stepsPerEpoch)
    }

    /// The scale a head trains at: regression targets' standard deviation unless the spec
    /// names one; classification and contrastive heads are never scaled.
    static func targetScale(_ head: ModelSpec.Head, loss: Loss, targets: Tensor, file: String) throws(DataError) -> Float {
        switch loss {
        case .mse, .mae, .huber:
            if let scale = head.targetScale {
                guard scale.isFinite, scale > 0 else {
                    throw .invalidModel(file: file, detail: "output '\(head.name)': target_scale must be positive, got \(scale)")
                }
                return scale
            }
            let std = TrainingData.standardization(of: targets).std
            return std.reduce(0, +) / Float(max(std.count, 1))
        default:
            return 1
        }
    }

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

    /// Continues the run of `checkpoint` on the same data file for `additionalEpochs` more
    /// epochs. By default the learning-rate schedule keeps the original run's length, so an
    /// interrupted run continues bit-identically; a run whose decaying schedule has ended would
    /// train at its final rate (about 0 for cosine and one_cycle), which `warn` says, and
    /// `restart` starts a new schedule spanning the added epochs instead.
    public static func resume(_ checkpoint: CheckpointFile, table: CSVTable, additionalEpochs: Int,
                              restart: ScheduleRestart? = nil, warn: (String) -> Void = { _ in }) throws -> Trainer {
        let state = checkpoint.state
        let spec = try ModelSpec.decode(json: Data(state.modelConfig.utf8), file: "checkpoint model config")
        let decoder = JSONDecoder()
        var settings = try decoder.decode(TrainingSettings.self, from: Data((state.settings["training"] ?? "{}").utf8))
        let (data, _) = try TrainingData.from(table, spec: spec)
        let separateValidation = !state.split.validationFile.isEmpty
        let expectedRows = state.split.trainingRows + (separateValidation ? 0 : state.split.validationRows)
        guard data.rows == expectedRows else {
            throw DataError.unreadable(file: table.file, detail: "has \(data.rows) rows; the checkpoint was trained on \(expectedRows)")
        }
        let (trainRows, validationRows) = TrainingData.split(rows: data.rows, validationFraction: settings.validationFraction, seed: state.split.splitSeed)
        let validation = separateValidation
            ? try TrainingData.from(try CSVTable.read(state.split.validationFile), spec: spec).0 : data.subset(validationRows[...])
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
        var trainer = try Trainer(spec: spec, settings: settings, graph: checkpoint.graph,
                                  regularization: ModelFactory.regularization(spec), training: data.subset(trainRows[...]),
                                  validation: validation, split: state.split, modelFile: "checkpoint")
        let base = try settings.makeOptimizer(stepsPerEpoch: trainer.stepsPerEpoch)
        trainer.optimizer = Optimizer(rule: base.rule, schedule: base.schedule, clipNorm: base.clipNorm,
                                      step: state.optimizer.step, slots: state.optimizer.slots)
        trainer.rateSweep = state.settings["lr_find"].flatMap { try? JSONDecoder().decode(LearningRateFinder.Record.self, from: Data($0.utf8)) }
        trainer.epoch = state.epoch
        trainer.history = state.history.map { EpochReport(epoch: $0.epoch, trainingLoss: $0.metrics["loss"] ?? .nan,
                                                          metrics: $0.metrics.filter { $0.key != "loss" }, seconds: $0.seconds) }
        trainer.best = state.best
        if additionalEpochs > 0, trainer.stoppedEarly, let best = trainer.best {
            // Training on after an early stop is on purpose: from the best weights (the
            // checkpoint's graph), with a fresh patience.
            warn("the run stopped early at epoch \(state.epoch) and holds epoch \(best.epoch)'s weights (\(best.monitor) \(best.value)); "
                 + "the \(additionalEpochs) added epochs train on from them with a fresh patience")
            trainer.best?.epochsWithoutImprovement = 0
        }
        return trainer
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
        state.modelConfig = (try? spec.encodedJSON()).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        state.settings = ["training": (try? encoder.encode(settings)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"]
        if let rateSweep, let json = try? encoder.encode(rateSweep) { state.settings["lr_find"] = String(decoding: json, as: UTF8.self) }
        state.optimizer = TrainingState.OptimizerState(kind: optimizer.rule.kind.rawValue, step: optimizer.step, slots: optimizer.slots)
        state.history = history.map { report in
            TrainingState.EpochRecord(epoch: report.epoch, metrics: report.metrics.merging(["loss": report.trainingLoss]) { $1 })
        }
        state.metadata.producer = "nntrain"
        state.metadata.trainingMetrics = weightsEpoch?.metrics ?? [:]
        state.best = best
        return CheckpointFile(graph: model.graph, state: state)
    }

    init(spec: ModelSpec, settings: TrainingSettings, graph: Graph, regularization: ModelFactory.Regularization,
                 training: TrainingData, validation: TrainingData, split: TrainingState.DataSplit, modelFile: String) throws(DataError) {
        do { model = try TrainingGraph(graph) } catch { throw .invalidModel(file: modelFile, detail: "\(error)") }
        self.spec = spec
        self.settings = settings
        self.regularization = regularization
        self.training = training
        self.validation = validation
        self.split = split
        epoch = 0
        var heads: [(String, Loss, Float)] = []
        var classWeights: [String: [Int: Float]] = [:]
        for head in spec.outputs {
            let loss = spec.loss(of: head)
            heads.append((head.name, loss, head.weight ?? 1))
            guard let classWeight = head.classWeight else { continue }
            guard let labels = loss.classLabels(of: training.targets[head.name]!) else {
                throw .invalidModel(file: modelFile, detail: "output '\(head.name)': class_weight needs a classification or pair head; \(loss.name) has no classes")
            }
            classWeights[head.name] = classWeight.resolved(labels: labels)
        }
        self.heads = heads
        self.classWeights = classWeights
        for layer in spec.layers where layer.trainable != nil && !layer.type.hasOwnParameters {
            throw .invalidModel(file: modelFile, detail: "layer '\(layer.name)': trainable applies to dense and batch_norm layers (a \(layer.type) has no parameters of its own)")
        }
        if let epochs = settings.unfreezeAfterEpochs, spec.frozenLayers.isEmpty || epochs < 0 {
            throw .invalidSetting(flag: "--unfreeze-after", value: "\(epochs)", rule: spec.frozenLayers.isEmpty
                                  ? "the model file freezes no layer (\"trainable\": false)" : "must be 0 or more")
        }
        optimizer = Optimizer(rule: .sgd, schedule: .constant(0))
        // Steps before the first epoch (the learning-rate and batch-size finders) see the
        // model as epoch 1 will train it.
        model.frozenLayers = frozenLayers(atEpoch: epoch + 1)
    }

    /// The layers frozen while training epoch `epoch` (1-based): the model file's
    /// `"trainable": false` layers, until `--unfreeze-after` epochs have passed.
    public func frozenLayers(atEpoch epoch: Int) -> Set<String> {
        if let thaw = settings.unfreezeAfterEpochs, epoch > thaw { return [] }
        return Set(spec.frozenLayers)
    }

    /// Per-row loss weights of a head on `batch`: sample weight × class weight (nil = all 1).
    func rowWeights(of head: (name: String, loss: Loss, weight: Float), in batch: TrainingData) -> [Float]? {
        let classes = classWeights[head.name]
        guard classes != nil || batch.sampleWeights != nil else { return nil }
        let labels = classes != nil ? head.loss.classLabels(of: batch.targets[head.name]!) : nil
        return (0..<batch.rows).map { row in
            (batch.sampleWeights?[row, 0] ?? 1) * (labels.flatMap { classes?[$0[row]] } ?? 1)
        }
    }

    public var trainingRows: Int { training.rows }
    public var stepsPerEpoch: Int { (training.rows + settings.batchSize - 1) / max(settings.batchSize, 1) }

    /// Trains until `settings.epochs` (or until early stopping ends the run), calling `report`
    /// after each epoch, appending to `log`, and writing the checkpoint every
    /// `checkpointEvery` epochs and at the end. An error `report` throws ends the run after
    /// that epoch's checkpoint is written (a clean stop loses no finished epoch).
    public mutating func fit(checkpoint path: String?, name: String = "run", log: TrainingLog? = nil,
                             report: (EpochReport) throws -> Void = { _ in }) throws {
        if let stopping = settings.earlyStopping, epoch < settings.epochs {
            try stopping.checkMonitor(reported: ["loss"] + Array(try evaluate().keys))
        }
        while epoch < settings.epochs, !stoppedEarly {
            let started = DispatchTime.now().uptimeNanoseconds
            let loss = try trainOneEpoch()
            let metrics = try evaluate()
            let entry = EpochReport(epoch: epoch, trainingLoss: loss, metrics: metrics,
                                    seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
            history.append(entry)
            // Logged before a stop restores the best weights (the log shows this epoch's), but a
            // log that cannot be written must not cost the epoch's checkpoint: its error waits.
            var logError: (any Error)?
            do { try log?.record(entry, of: self) } catch { logError = error }
            watchForEarlyStop(entry)
            if let path, epoch % max(settings.checkpointEvery, 1) == 0 || epoch == settings.epochs || stoppedEarly {
                try checkpointFile(name: name).write(to: path)
            }
            if let logError { throw logError }
            try report(entry)
        }
    }

    /// The epoch whose weights the model holds: the best one once early stopping ended the
    /// run, else the last. Its metrics are the run's result (`--json`, the exported model).
    public var weightsEpoch: EpochReport? {
        if stoppedEarly, let best { return history.first { $0.epoch == best.epoch } }
        return history.last
    }

    /// Whether early stopping has ended the run (its weights are then the best epoch's).
    public var stoppedEarly: Bool {
        guard let patience = settings.earlyStopping?.patience, let best else { return false }
        return best.epochsWithoutImprovement >= patience
    }

    /// Keeps the best epoch's weights; once `patience` epochs have not improved on it, puts
    /// them back into the model.
    private mutating func watchForEarlyStop(_ entry: EpochReport) {
        guard let stopping = settings.earlyStopping else { return }
        let value = stopping.monitor == "loss" ? entry.trainingLoss : entry.metrics[stopping.monitor] ?? .nan
        if let current = best, !stopping.improves(value, on: current.value) {
            best?.epochsWithoutImprovement += 1
        } else if best != nil || value.isFinite {
            best = TrainingState.BestEpoch(epoch: entry.epoch, monitor: stopping.monitor, value: value,
                                           epochsWithoutImprovement: 0, graph: model.graph)
        }
        if stoppedEarly, let best { model.restore(best.graph) }
    }

    /// A run over prepared data and an initialized graph (benchmarks, and callers that
    /// build graphs with the Swift API): no validation split, no checkpoint file.
    public init(graph: Graph, heads: [ModelSpec.Head], training: TrainingData, settings: TrainingSettings) throws {
        let spec = ModelSpec(inputs: graph.inputs.map { .init(name: $0.name) }, layers: [], outputs: heads)
        try self.init(spec: spec, settings: settings, graph: graph, regularization: [:], training: training,
                      validation: training.subset([][...]), split: TrainingState.DataSplit(), modelFile: "graph")
        optimizer = try settings.makeOptimizer(stepsPerEpoch: stepsPerEpoch)
    }

    /// One pass over the training rows; returns the mean training loss.
    public mutating func trainOneEpoch() throws -> Double {
        epoch += 1
        model.frozenLayers = frozenLayers(atEpoch: epoch)
        var order = Array(0..<training.rows)
        var rng = CounterRNG(seed: settings.seed, stream: CounterRNG.stream(epoch: epoch, step: 0, layer: 0xFFF))
        TrainingData.shuffle(&order, rng: &rng)
        var total = 0.0
        for stepInEpoch in 0..<stepsPerEpoch {
            let start = stepInEpoch * settings.batchSize
            let batch = training.subset(order[start..<min(start + settings.batchSize, training.rows)])
            total += try trainStep(on: batch) * Double(batch.rows)
        }
        return total / Double(max(training.rows, 1))
    }

    /// One optimizer step on `batch` at the optimizer's current rate; returns the batch's loss
    /// (with regularization). A non-finite loss stops before the step changes anything.
    mutating func trainStep(on batch: TrainingData) throws -> Double {
        let globalStep = optimizer.step
        var (loss, parameterGradients) = lossAndGradients(on: batch, step: globalStep)
        // Frozen layers get no update, no penalty and no optimizer state.
        let frozen = model.frozenLayers
        if !frozen.isEmpty { parameterGradients = parameterGradients.filter { !frozen.contains(Self.layer(ofParameter: $0.key)) } }
        loss += applyRegularization(&parameterGradients)
        guard loss.isFinite else { throw DataError.lossDiverged(epoch: epoch, step: globalStep, loss: loss) }
        optimizer.apply(parameterGradients, to: &model)
        return loss
    }

    /// The heads' weighted loss on `batch` and its gradient for every trainable parameter
    /// (without regularization), from a training-mode pass at `step` (its dropout masks; batch
    /// norm's moving statistics move, as in a step).
    mutating func lossAndGradients(on batch: TrainingData, step: Int) -> (loss: Double, gradients: [String: Tensor]) {
        let pass = model.forward(batch.inputs, mode: .training(seed: settings.seed, epoch: epoch, step: step))
        var gradients: [String: TrainingGraph.OutputGradient] = [:]
        var loss = 0.0
        for head in heads {
            let output = model.graph.outputs.first { $0.name == head.name }!
            let node = output.node
            let target = output.scale == 1 ? batch.targets[head.name]! : batch.targets[head.name]!.mapped { $0 / output.scale }
            let weights = rowWeights(of: head, in: batch)
            if head.loss.takesLogits, let logits = model.logits(of: node, in: pass) {
                let (value, gradient) = head.loss.evaluate(logits, target: target, rowWeights: weights)
                loss += Double(head.weight) * value
                gradients[head.name] = .logits(gradient.mapped { $0 * head.weight })
            } else {
                let (value, gradient) = head.loss.evaluate(pass.values[node]!, target: target, rowWeights: weights)
                loss += Double(head.weight) * value
                gradients[head.name] = .value(gradient.mapped { $0 * head.weight })
            }
        }
        return (loss, model.backward(pass, outputGradients: gradients))
    }

    /// Starts from another run's weights (`--init-from`): layers matched by name, shapes
    /// checked. Only a run that has not stepped yet can be initialized this way.
    public mutating func initialize(from checkpoint: CheckpointFile, file: String) throws -> Transfer.Report {
        precondition(optimizer.step == 0, "weights are loaded before training")
        var graph = model.graph
        let report = try Transfer.load(into: &graph, from: checkpoint.graph, file: file)
        let frozen = model.frozenLayers
        model = try TrainingGraph(graph)
        model.frozenLayers = frozen
        settings.initializedFrom = file
        return report
    }

    /// "enc1/weights" → "enc1".
    static func layer(ofParameter name: String) -> String {
        String(name[..<(name.lastIndex(of: "/") ?? name.endIndex)])
    }

    /// Trains at the rate a sweep suggested (`fit --lr auto`), from the initial weights: only a
    /// trainer that has not stepped yet may change its rate this way.
    public mutating func useRate(from sweep: LearningRateFinder.Result) throws {
        precondition(optimizer.step == 0, "the rate is chosen before training")
        settings.learningRate = sweep.suggestion
        // The sweep measured rates at this batch size: nothing to scale.
        settings.scaleLearningRate = nil
        try settings.validate()
        optimizer = try settings.makeOptimizer(stepsPerEpoch: stepsPerEpoch)
        rateSweep = LearningRateFinder.Record(sweep)
    }

    /// The layers' behaviour on (up to `rows` of) the training rows, with advice; gradient
    /// norms are those of one full-batch step on the same rows (nothing is stepped).
    public func diagnose(rows: Int = 2048) -> Diagnostics.Report {
        let sample = training.subset(Array(0..<min(rows, training.rows))[...])
        var scratch = self
        let gradients = scratch.lossAndGradients(on: sample, step: optimizer.step).gradients
        return Diagnostics.diagnose(model.graph, inputs: sample.inputs, gradients: gradients)
    }

    /// `nntrain diagnose`: the checkpoint's layers on the first `rows` rows of `table`, which
    /// has the target columns (for gradient norms) or only the inputs.
    public static func diagnose(_ checkpoint: CheckpointFile, table: CSVTable, rows: Int) throws -> Diagnostics.Report {
        var table = table
        if table.rowCount > rows { table.values = Array(table.values.prefix(rows * table.header.count)) }
        let state = checkpoint.state
        let spec = try ModelSpec.decode(json: Data(state.modelConfig.utf8), file: "checkpoint model config")
        guard spec.outputs.allSatisfy({ spec.targets(of: $0).allSatisfy(table.header.contains) }) else {
            return Diagnostics.diagnose(checkpoint.graph, inputs: try OfflinePrediction.inputs(for: checkpoint.graph, table: table))
        }
        let settings = try JSONDecoder().decode(TrainingSettings.self, from: Data((state.settings["training"] ?? "{}").utf8))
        let (data, _) = try TrainingData.from(table, spec: spec)
        let trainer = try Trainer(spec: spec, settings: settings, graph: checkpoint.graph, regularization: [:], training: data,
                                  validation: data.subset([][...]), split: state.split, modelFile: "checkpoint")
        return trainer.diagnose(rows: rows)
    }

    /// One step at a fixed `rate`, whatever the schedule says (the learning-rate sweep).
    mutating func trainStep(on batch: TrainingData, rate: Float) throws -> Double {
        optimizer.schedule = .constant(rate)
        return try trainStep(on: batch)
    }

    /// Adds L1/L2 penalties to the gradients; returns the penalty added to the loss.
    private func applyRegularization(_ gradients: inout [String: Tensor]) -> Double {
        guard !regularization.isEmpty else { return 0 }
        var penalty = 0.0
        var copy = model
        copy.updateParameters { name, weights in
            guard let (l1, l2) = regularization[name], let gradient = gradients[name] else { return }
            penalty += weights.scalars.reduce(0.0) { $0 + Double(l1) * Double(abs($1)) + Double(l2) * Double($1 * $1) }
            gradients[name] = gradient.zipped(with: weights) { g, w in g + l1 * (w > 0 ? 1 : (w < 0 ? -1 : 0)) + 2 * l2 * w }
        }
        return penalty
    }

    /// Validation metrics ("val_…"), or with no validation split the training rows' metrics in
    /// inference mode ("train_…": unprefixed, their "loss" collided with the epoch's training
    /// loss and replaced it in the history and --json); metrics of `data` unprefixed.
    public func evaluate(_ data: TrainingData? = nil) throws -> [String: Double] {
        let rows = data ?? (validation.rows > 0 ? validation : training)
        let prefix = data != nil ? "" : validation.rows > 0 ? "val_" : "train_"
        let metricHeads = zip(heads, spec.outputs).map { head, output in
            Metrics.Head(name: head.name, loss: head.loss, threshold: output.threshold.map(Double.init))
        }
        let metrics = try Metrics.evaluate(model.graph, heads: metricHeads, data: rows)
        return Dictionary(uniqueKeysWithValues: metrics.map { (prefix + $0.key, $0.value) })
    }

    /// Metrics of the current model on another table with the training columns.
    public func evaluate(on table: CSVTable) throws -> [String: Double] {
        let (data, _) = try TrainingData.from(table, spec: spec)
        try checkTargets(data, file: table.file)
        return try evaluate(data)
    }

    /// Each head must have as many units as its loss reads target columns: a 4-unit mse head
    /// with one target column read past the targets and trapped inside the loss.
    static func checkHeadWidths(_ spec: ModelSpec, graph: Graph, file: String) throws(DataError) {
        let widths = (try? graph.validate().widths) ?? [:]
        for (index, head) in spec.outputs.enumerated() {
            let columns = spec.targets(of: head)
            let node = graph.outputs[index].node
            let width = widths[node] ?? 0
            let loss = spec.loss(of: head)
            let named = columns.map { "'\($0)'" }.joined(separator: ", ")
            switch loss {
            case .sparseCategoricalCrossEntropy:
                guard columns.count == 1 else {
                    throw .invalidModel(file: file, detail: "output '\(head.name)': sparse_categorical_crossentropy reads one target column (the class index), got \(columns.count) (\(named))")
                }
            case .contrastive:
                break
            default:
                guard width == columns.count else {
                    throw .invalidModel(file: file, detail: "output '\(head.name)' reads '\(node)', which has \(width) unit\(width == 1 ? "" : "s"), "
                                        + "but \(columns.count) target column\(columns.count == 1 ? "" : "s") (\(named)); \(loss.name) needs one unit per target column")
                }
            }
        }
    }

    /// Targets a loss cannot take are refused before training, with the line that holds them.
    private func checkTargets(_ data: TrainingData, file: String) throws(DataError) {
        let widths = (try? model.graph.validate().widths) ?? [:]
        for (index, head) in heads.enumerated() {
            let target = data.targets[head.name]!
            let columns = spec.targets(of: spec.outputs[index])
            let classes = widths[model.graph.outputs[index].node] ?? 0
            for row in 0..<target.rows {
                for column in 0..<target.columns {
                    let value = target[row, column]
                    let problem: String? = switch head.loss {
                    case .sparseCategoricalCrossEntropy:
                        value == value.rounded() && value >= 0 && Int(value) < classes ? nil
                            : "sparse_categorical_crossentropy needs a class index in 0..<\(classes)"
                    case .binaryCrossEntropy, .categoricalCrossEntropy:
                        (0...1).contains(value) ? nil : "\(head.loss.name) needs targets in [0, 1]"
                    case .contrastive:
                        value == 0 || value == 1 ? nil : "contrastive needs 1 (similar) or 0 (dissimilar)"
                    default: nil
                    }
                    if let problem {
                        throw .targetOutOfRange(file: file, line: row + 2, column: columns[column], value: value, detail: problem)
                    }
                }
            }
        }
    }
}
