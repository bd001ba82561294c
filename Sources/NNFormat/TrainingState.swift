import NNCore

/// Everything a resumed training run needs besides its graph: the value a checkpoint stores
/// (NNFormat encodes it as the `Checkpoint` message; no generated type leaves this module).
public struct TrainingState: Sendable, Equatable {
    /// Where the run's random numbers are: the seed and the counter generator's position.
    public struct RNGPosition: Sendable, Equatable {
        public var seed: UInt64 = 0
        public var stream: UInt64 = 0
        public var block: UInt64 = 0
        public var lane: UInt32 = 0

        public init(seed: UInt64 = 0, stream: UInt64 = 0, block: UInt64 = 0, lane: UInt32 = 0) {
            self.seed = seed
            self.stream = stream
            self.block = block
            self.lane = lane
        }
    }

    /// Which data the run trained and validated on, so a resume can check it is the same.
    public struct DataSplit: Sendable, Equatable {
        public var trainingFile = ""
        /// Empty when the validation rows were split off the training file.
        public var validationFile = ""
        public var validationFraction = 0.0
        public var splitSeed: UInt64 = 0
        public var trainingRows = 0
        public var validationRows = 0
        public var targetColumns: [String] = []
        /// The data files' field delimiter (`--delimiter`): resume and evaluate read them so.
        public var delimiter: UInt8 = 44

        public init() {}
    }

    /// The optimizer's step and per-parameter slots ("m", "v", "velocity", …).
    public struct OptimizerState: Sendable, Equatable {
        public var kind = ""
        public var step = 0
        /// Parameter ("dense1/weights") → slot name → tensor.
        public var slots: [String: [String: Tensor]] = [:]
        public var hyperparameters: [String: Double] = [:]

        public init(kind: String = "", step: Int = 0, slots: [String: [String: Tensor]] = [:], hyperparameters: [String: Double] = [:]) {
            self.kind = kind
            self.step = step
            self.slots = slots
            self.hyperparameters = hyperparameters
        }
    }

    /// One epoch's metrics ("loss", "val_loss", …); run times are kept out of checkpoints.
    public struct EpochRecord: Sendable, Equatable {
        public var epoch: Int
        public var metrics: [String: Double]
        public var seconds: Double

        public init(epoch: Int, metrics: [String: Double], seconds: Double = 0) {
            self.epoch = epoch
            self.metrics = metrics
            self.seconds = seconds
        }
    }

    /// Early stopping's best epoch so far: the monitored value and the weights it was reached
    /// with. The checkpoint's graph holds the latest weights, which a resume continues from.
    public struct BestEpoch: Sendable, Equatable {
        public var epoch: Int
        /// The metric watched ("val_loss", "val_accuracy", …).
        public var monitor: String
        public var value: Double
        public var epochsWithoutImprovement: Int
        public var graph: Graph

        public init(epoch: Int, monitor: String, value: Double, epochsWithoutImprovement: Int, graph: Graph) {
            self.epoch = epoch
            self.monitor = monitor
            self.value = value
            self.epochsWithoutImprovement = epochsWithoutImprovement
            self.graph = graph
        }
    }

    public var name = ""
    public var step = 0
    public var epoch = 0
    public var rng = RNGPosition()
    public var split = DataSplit()
    /// The model file's text as the user wrote it.
    public var modelConfig = ""
    /// Resolved settings as JSON, by kind ("training").
    public var settings: [String: String] = [:]
    public var optimizer = OptimizerState()
    public var history: [EpochRecord] = []
    public var metadata = ModelMetadata()
    /// Nil unless the run stops early.
    public var best: BestEpoch?

    public init() {}
}

// MARK: - The stored form

extension TrainingState {
    /// The checkpoint message without its graph (CheckpointFile adds it). Maps are written in
    /// key order, so equal states give equal bytes.
    var stored: Nnserve_Checkpoint {
        var stored = Nnserve_Checkpoint()
        stored.name = name
        stored.step = Int64(step)
        stored.epoch = Int32(clamping: epoch)
        stored.rng.seed = rng.seed
        stored.rng.stream = rng.stream
        stored.rng.block = rng.block
        stored.rng.lane = rng.lane
        stored.split.trainingFile = split.trainingFile
        stored.split.validationFile = split.validationFile
        stored.split.validationFraction = split.validationFraction
        stored.split.splitSeed = split.splitSeed
        stored.split.trainingRows = Int64(split.trainingRows)
        stored.split.validationRows = Int64(split.validationRows)
        stored.split.targetColumns = split.targetColumns
        // A comma is stored as nothing: checkpoints of comma-separated runs keep their bytes.
        stored.split.delimiter = split.delimiter == 44 ? 0 : UInt32(split.delimiter)
        stored.modelConfig = modelConfig
        stored.settings = settings
        stored.optimizer.kind = optimizer.kind
        stored.optimizer.step = Int64(optimizer.step)
        stored.optimizer.hyperparameters = optimizer.hyperparameters
        stored.optimizer.slots = optimizer.slots.keys.sorted().map { parameter in
            var slot = Nnserve_OptimizerSlot()
            slot.parameter = parameter
            let named = optimizer.slots[parameter]!
            slot.slots = named.keys.sorted().map { key in
                var tensor = Nnserve_NamedTensor()
                tensor.name = key
                tensor.tensor = TensorCoding.encode(named[key]!)
                return tensor
            }
            return slot
        }
        stored.history = history.map { record in
            var entry = Nnserve_EpochMetrics()
            entry.epoch = Int32(clamping: record.epoch)
            entry.metrics = record.metrics
            entry.seconds = record.seconds
            return entry
        }
        stored.metadata = metadata.stored
        if let best {
            stored.best.epoch = Int32(clamping: best.epoch)
            stored.best.monitor = best.monitor
            stored.best.value = best.value
            stored.best.epochsWithoutImprovement = Int32(clamping: best.epochsWithoutImprovement)
            stored.best.graph = GraphCoding.encode(best.graph)
        }
        return stored
    }

    /// The state a checkpoint message holds; every optimizer slot's tensor is checked.
    init(_ stored: Nnserve_Checkpoint, source: String) throws(FormatError) {
        name = stored.name
        step = Int(stored.step)
        epoch = Int(stored.epoch)
        rng = RNGPosition(seed: stored.rng.seed, stream: stored.rng.stream, block: stored.rng.block, lane: stored.rng.lane)
        split.trainingFile = stored.split.trainingFile
        split.validationFile = stored.split.validationFile
        split.validationFraction = stored.split.validationFraction
        split.splitSeed = stored.split.splitSeed
        split.trainingRows = Int(stored.split.trainingRows)
        split.validationRows = Int(stored.split.validationRows)
        split.targetColumns = stored.split.targetColumns
        split.delimiter = stored.split.delimiter == 0 || stored.split.delimiter > 127 ? 44 : UInt8(stored.split.delimiter)
        modelConfig = stored.modelConfig
        settings = stored.settings
        optimizer.kind = stored.optimizer.kind
        optimizer.step = Int(stored.optimizer.step)
        optimizer.hyperparameters = stored.optimizer.hyperparameters
        for slot in stored.optimizer.slots {
            for named in slot.slots {
                optimizer.slots[slot.parameter, default: [:]][named.name] =
                    try TensorCoding.decode(named.tensor, name: "optimizer slot \(slot.parameter)/\(named.name)", source: source)
            }
        }
        history = stored.history.map { EpochRecord(epoch: Int($0.epoch), metrics: $0.metrics, seconds: $0.seconds) }
        metadata = ModelMetadata(stored.metadata)
        if stored.hasBest {
            best = BestEpoch(epoch: Int(stored.best.epoch), monitor: stored.best.monitor, value: stored.best.value,
                             epochsWithoutImprovement: Int(stored.best.epochsWithoutImprovement),
                             graph: try GraphCoding.decode(stored.best.graph, source: "\(source) (best epoch's weights)"))
        }
    }
}
