/// How a run trains; stored in the checkpoint so `resume` continues with the same settings.
public struct TrainingSettings: Codable, Sendable, Equatable {
    public var epochs = 20
    public var batchSize = 32
    /// sgd, momentum, nesterov, adam, adamw
    public var optimizer = "adam"
    public var learningRate: Float = 1e-3
    /// constant, step, exponential, cosine, one_cycle
    public var schedule = "constant"
    public var warmupEpochs = 0
    public var clipNorm: Float?
    public var momentum: Float = 0.9
    public var weightDecay: Float = 1e-4
    public var seed: UInt64 = 42
    public var validationFraction = 0.2
    /// Write the checkpoint every this many epochs (and at the end).
    public var checkpointEvery = 1
    /// Epochs the learning-rate schedule spans (set when a resumed run goes past the original length).
    public var scheduleEpochs: Int?

    public init() {}

    func makeOptimizer(stepsPerEpoch: Int) throws(DataError) -> Optimizer {
        guard epochs >= 0, batchSize > 0 else {
            throw .invalidModel(file: "settings", detail: "epochs must be ≥ 0 and batch size positive (got \(epochs), \(batchSize))")
        }
        guard (0..<1).contains(validationFraction) else {
            throw .invalidModel(file: "settings", detail: "validation fraction must be in [0, 1), got \(validationFraction)")
        }
        let kind: Optimizer.Kind
        switch optimizer {
        case "sgd": kind = .sgd
        case "momentum": kind = .momentum(momentum)
        case "nesterov": kind = .nesterov(momentum)
        case "adam": kind = .adamDefault
        case "adamw": kind = .adamW(beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: weightDecay)
        default: throw .invalidModel(file: "--optimizer", detail: "unknown optimizer '\(optimizer)' (sgd, momentum, nesterov, adam, adamw)")
        }
        let (product, overflow) = (scheduleEpochs ?? epochs).multipliedReportingOverflow(by: stepsPerEpoch)
        let total = overflow ? Int.max : max(1, product)
        let scheduleValue: LearningRateSchedule
        switch schedule {
        case "constant": scheduleValue = .constant(learningRate)
        case "step": scheduleValue = .step(initial: learningRate, factor: 0.5, every: max(1, total / 4))
        case "exponential": scheduleValue = .exponential(initial: learningRate, decay: 0.1, decaySteps: total)
        case "cosine": scheduleValue = .cosine(peak: learningRate, warmupSteps: warmupEpochs * stepsPerEpoch, totalSteps: total, floor: 0)
        case "one_cycle": scheduleValue = .oneCycle(peak: learningRate, totalSteps: total)
        default: throw .invalidModel(file: "--schedule", detail: "unknown schedule '\(schedule)' (constant, step, exponential, cosine, one_cycle)")
        }
        return Optimizer(kind: kind, schedule: scheduleValue, clipNorm: clipNorm)
    }
}
