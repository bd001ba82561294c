import Foundation
import NNCore
import NNFormat

/// The training loop: seeded shuffles, dropout from counter-based streams, optimizer steps,
/// metrics through NNInference each epoch, atomic checkpoints that a NaN never overwrites.
///
/// A run is set up by `RunSetup` (new, resumed, prepared) and made a trainer by `init(_:)`,
/// the one way in; checkpoints and resuming are in Trainer+Checkpoint, evaluation and
/// diagnosis in Trainer+Evaluation, early stopping is an `EarlyStopWatch`.
public struct Trainer {
    public private(set) var model: TrainingGraph
    public private(set) var optimizer: Optimizer
    public let spec: ModelSpec
    public private(set) var settings: TrainingSettings
    /// The learning-rate sweep that chose this run's rate (`fit --lr auto`); kept in the
    /// checkpoint (settings "lr_find") and shown by `nntrain summary`.
    public private(set) var rateSweep: LearningRateFinder.Record?
    public private(set) var epoch: Int
    public private(set) var history: [EpochReport]
    var earlyStop: EarlyStopWatch
    let heads: [(name: String, loss: Loss, weight: Float)]
    /// Each head's resolved class weights (from its `class_weight`; balanced ones from the
    /// training split), empty for heads without.
    public let classWeights: [String: [Int: Float]]
    let regularization: ModelFactory.Regularization
    let training: TrainingData
    let validation: TrainingData
    let split: TrainingState.DataSplit

    /// A trainer for `setup`: the graph made trainable, heads and class weights resolved, the
    /// targets checked, the optimizer made from the settings (with a resumed run's state).
    init(_ setup: RunSetup) throws(DataError) {
        do { model = try TrainingGraph(setup.graph) } catch { throw .invalidModel(file: setup.modelFile, detail: "\(error)") }
        spec = setup.spec
        settings = setup.settings
        regularization = setup.regularization
        training = setup.training
        validation = setup.validation
        split = setup.split
        let progress = setup.progress
        epoch = progress?.epoch ?? 0
        history = progress?.history ?? []
        rateSweep = progress?.rateSweep
        earlyStop = EarlyStopWatch(rule: settings.earlyStopping, best: progress?.best)
        var heads: [(String, Loss, Float)] = []
        var classWeights: [String: [Int: Float]] = [:]
        for head in spec.outputs {
            let loss = spec.loss(of: head)
            heads.append((head.name, loss, head.weight ?? 1))
            guard let classWeight = head.classWeight else { continue }
            guard let labels = loss.classLabels(of: training.targets[head.name]!) else {
                throw .invalidModel(file: setup.modelFile, detail: "output '\(head.name)': class_weight needs a classification or pair head; \(loss.name) has no classes")
            }
            classWeights[head.name] = classWeight.resolved(labels: labels)
        }
        self.heads = heads
        self.classWeights = classWeights
        for layer in spec.layers where layer.trainable != nil && !layer.type.hasOwnParameters {
            throw .invalidModel(file: setup.modelFile, detail: "layer '\(layer.name)': trainable applies to dense and batch_norm layers (a \(layer.type) has no parameters of its own)")
        }
        if let epochs = settings.unfreezeAfterEpochs, spec.frozenLayers.isEmpty || epochs < 0 {
            throw .invalidSetting(flag: "--unfreeze-after", value: "\(epochs)", rule: spec.frozenLayers.isEmpty
                                  ? "the model file freezes no layer (\"trainable\": false)" : "must be 0 or more")
        }
        for (file, data) in setup.targetChecks { try RunChecks.targets(data, file: file, spec: spec, graph: model.graph) }
        // A placeholder until self is whole: `stepsPerEpoch` (which the schedule needs) reads it.
        optimizer = Optimizer(rule: .sgd, schedule: .constant(0))
        let fresh = try settings.makeOptimizer(stepsPerEpoch: stepsPerEpoch)
        optimizer = Optimizer(rule: fresh.rule, schedule: fresh.schedule, clipNorm: fresh.clipNorm,
                              step: progress?.optimizerStep ?? 0, slots: progress?.optimizerSlots ?? [:])
        // Steps before the next epoch (the learning-rate and batch-size finders) see the
        // model as that epoch will train it.
        model.frozenLayers = frozenLayers(atEpoch: epoch + 1)
    }

    /// A new run from a table (`RunSetup.newRun`); `encoding` gives inputs and heads raw
    /// columns and labels (another run's, for `--init-from`) instead of learning them.
    public init(spec: ModelSpec, table: CSVTable, validationTable: CSVTable? = nil, settings: TrainingSettings,
                modelFile: String = "model", encoding: TableEncoding? = nil, warn: (String) -> Void = { _ in }) throws(DataError) {
        try self.init(RunSetup.newRun(spec: spec, table: table, validationTable: validationTable, settings: settings,
                                      modelFile: modelFile, keeping: encoding ?? TableEncoding(), warn: warn))
    }

    /// A run over prepared data and an initialized graph (`RunSetup.prepared`).
    public init(graph: Graph, heads: [ModelSpec.Head], training: TrainingData, settings: TrainingSettings) throws {
        try self.init(RunSetup.prepared(graph: graph, heads: heads, training: training, settings: settings))
    }

    /// Early stopping's best epoch so far (nil without early stopping).
    public var best: TrainingState.BestEpoch? { earlyStop.best }

    /// Whether early stopping has ended the run (its weights are then the best epoch's).
    public var stoppedEarly: Bool { earlyStop.stopped }

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
            try stopping.checkMonitor(reported: try monitorableMetrics())
        }
        // The epoch the checkpoint on disk holds: a resumed run's file holds where it resumed.
        var checkpointEpoch = path != nil && epoch > 0 && FileManager.default.fileExists(atPath: path!) ? epoch : nil
        while epoch < settings.epochs, !stoppedEarly {
            let started = DispatchTime.now().uptimeNanoseconds
            let loss: Double
            do { loss = try trainOneEpoch() } catch DataError.lossDiverged(let epoch, let step, let value, _) {
                throw DataError.lossDiverged(epoch: epoch, step: step, loss: value, checkpointEpoch: checkpointEpoch)
            }
            let metrics = try evaluate()
            let entry = EpochReport(epoch: epoch, trainingLoss: loss, metrics: metrics,
                                    seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
            history.append(entry)
            // Logged before a stop restores the best weights (the log shows this epoch's), but a
            // log that cannot be written must not cost the epoch's checkpoint: its error waits.
            var logError: (any Error)?
            do { try log?.record(entry, of: self) } catch { logError = error }
            if let bestWeights = earlyStop.observe(entry, weights: model.graph) { model.restore(bestWeights) }
            if let path, epoch % max(settings.checkpointEvery, 1) == 0 || epoch == settings.epochs || stoppedEarly {
                try checkpointFile(name: name).write(to: path)
                checkpointEpoch = epoch
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
}
