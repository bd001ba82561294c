/// How a run trains; stored in the checkpoint so `resume` continues with the same settings.
public struct TrainingSettings: Codable, Sendable, Equatable {
    public var epochs = 20
    public var batchSize = 32
    public var optimizer = OptimizerKind.adam
    public var learningRate: Float = 1e-3
    public var schedule = ScheduleKind.constant
    /// Epochs of linear warmup at the start of any schedule (cosine has it built in).
    public var warmupEpochs = 0
    /// Linear: the rate is `learningRate` × batchSize / baseBatchSize (Goyal et al. 2017),
    /// so a rate found at one batch size carries to another.
    public var scaleLearningRate: LearningRateScaling?
    public var baseBatchSize: Int?
    public var clipNorm: Float?
    public var momentum: Float = 0.9
    public var weightDecay: Float = 1e-4
    public var seed: UInt64 = 42
    /// Seed of the training/validation split when it is not `seed` (the members of a tuning
    /// study train from their own seeds on one split).
    public var splitSeed: UInt64?
    public var validationFraction = 0.2
    /// Write the checkpoint every this many epochs (and at the end).
    public var checkpointEvery = 1
    /// Epochs the learning-rate schedule spans (set when a resumed run goes past the original length).
    public var scheduleEpochs: Int?
    /// The epoch the schedule began at: 0, or where `resume --schedule` started a new one.
    public var scheduleStartEpoch: Int?
    /// Stop when the monitored metric stops improving, ending with the best epoch's weights.
    public var earlyStopping: EarlyStopping?
    /// The model file's frozen layers (`"trainable": false`) learn from this epoch + 1 on
    /// (fine-tuning after training a new head on a pretrained encoder); nil = frozen throughout.
    public var unfreezeAfterEpochs: Int?
    /// The checkpoint `--init-from` loaded weights from (shown by `nntrain summary`).
    public var initializedFrom: String?

    /// The epoch a decaying schedule has run its course at (nil for a constant rate).
    public var scheduleEnd: Int? {
        schedule == .constant ? nil : (scheduleStartEpoch ?? 0) + (scheduleEpochs ?? epochs)
    }

    public init() {}

    /// Refuses settings no run can use, naming the flag and the value: `--epochs 0` used to
    /// print "wrote run.ckpt" and write nothing, and `--lr=-1` trained (to a loss of 166,882).
    public func validate() throws(DataError) {
        func require(_ holds: Bool, _ flag: String, _ value: some CustomStringConvertible, _ rule: String) throws(DataError) {
            guard holds else { throw .invalidSetting(flag: flag, value: value.description, rule: rule) }
        }
        try require(epochs >= 1, "--epochs", epochs, "a run trains at least 1 epoch")
        try require(batchSize >= 1, "--batch-size", batchSize, "must be at least 1")
        try require(learningRate.isFinite && learningRate > 0, "--lr", learningRate, "must be a positive number")
        try require(warmupEpochs >= 0, "--warmup-epochs", warmupEpochs, "must be 0 or more")
        try require(clipNorm.map { $0.isFinite && $0 > 0 } ?? true, "--clip-norm", clipNorm.map { "\($0)" } ?? "", "must be a positive number")
        try require(momentum.isFinite && momentum >= 0 && momentum < 1, "--momentum", momentum, "must be in [0, 1)")
        try require(weightDecay.isFinite && weightDecay >= 0, "--weight-decay", weightDecay, "must be 0 or a positive number")
        try require(validationFraction >= 0 && validationFraction < 1, "--validation-fraction", validationFraction, "must be in [0, 1)")
        try require(checkpointEvery >= 1, "--checkpoint-every", checkpointEvery, "must be at least 1")
        try require(scaleLearningRate == nil || (baseBatchSize ?? 0) >= 1, "--base-batch-size", baseBatchSize.map(String.init) ?? "(none)",
                    "--scale-lr linear needs the batch size the rate was chosen at")
        try earlyStopping?.validate()
    }

    /// The rate the schedule peaks at: `learningRate`, scaled with the batch size when asked.
    public var effectiveLearningRate: Float {
        guard scaleLearningRate == .linear, let base = baseBatchSize, base > 0 else { return learningRate }
        return learningRate * Float(batchSize) / Float(base)
    }

    func makeOptimizer(stepsPerEpoch: Int) throws(DataError) -> Optimizer {
        guard epochs >= 0, batchSize > 0 else {
            throw .invalidModel(file: "settings", detail: "epochs must be ≥ 0 and batch size positive (got \(epochs), \(batchSize))")
        }
        guard (0..<1).contains(validationFraction) else {
            throw .invalidModel(file: "settings", detail: "validation fraction must be in [0, 1), got \(validationFraction)")
        }
        let rule: Optimizer.Rule = switch optimizer {
        case .sgd: .sgd
        case .momentum: .momentum(momentum)
        case .nesterov: .nesterov(momentum)
        case .adam: .adamDefault
        case .adamw: .adamW(beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: weightDecay)
        }
        let (product, overflow) = (scheduleEpochs ?? epochs).multipliedReportingOverflow(by: stepsPerEpoch)
        let total = overflow ? Int.max : max(1, product)
        let rate = effectiveLearningRate
        var scheduleValue: LearningRateSchedule = switch schedule {
        case .constant: .constant(rate)
        case .step: .step(initial: rate, factor: 0.5, every: max(1, total / 4))
        case .exponential: .exponential(initial: rate, decay: 0.1, decaySteps: total)
        case .cosine: .cosine(peak: rate, warmupSteps: warmupEpochs * stepsPerEpoch, totalSteps: total, floor: 0)
        case .oneCycle: .oneCycle(peak: rate, totalSteps: total)
        }
        // Cosine warms up inside its own shape; every other schedule is ramped up linearly.
        if warmupEpochs > 0, schedule != .cosine { scheduleValue = .warmup(steps: warmupEpochs * stepsPerEpoch, scheduleValue) }
        let start = (scheduleStartEpoch ?? 0) * stepsPerEpoch
        return Optimizer(rule: rule, schedule: start > 0 ? .startingAt(step: start, scheduleValue) : scheduleValue, clipNorm: clipNorm)
    }
}
