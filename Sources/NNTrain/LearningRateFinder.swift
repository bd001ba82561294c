import Foundation
import NNCore

/// The learning-rate range test (Smith 2017; fastai's `lr_find`), made safe to act on: train
/// from the run's initial weights while the rate grows exponentially from `minRate` to
/// `maxRate`, one step per rate, and watch the loss: it falls while the rate is useful and
/// explodes once it is too large. Three rules read candidate rates off the curve
/// (`candidates`), and short **confirmation trials** from the same initial weights train at
/// each and keep the one with the lowest validation loss (`LearningRateTrials`). The run's
/// weights are not kept.
///
/// The budget is one epoch where an epoch is long enough to read a curve: the sweep takes at
/// most 300 steps and the trials share the rest. A small dataset's epoch (wine: 5 steps) is
/// not, so the sweep then runs `minimumSteps` over several epochs and says so.
public enum LearningRateFinder {
    public struct Settings: Sendable, Equatable {
        public var minRate: Float = 1e-7
        public var maxRate: Float = 10
        /// Steps of the sweep; nil: one epoch, at least `minimumSteps`, at most 300.
        public var steps: Int?
        /// Fewer steps than this cannot resolve eight decades of rate (each step would multiply
        /// the rate by more than 1.2); shorter epochs are swept over several.
        public var minimumSteps = 100
        /// β of the exponential moving average of the loss (bias-corrected); nil: automatic,
        /// min(0.98, 1 - 5/steps), a memory of about a fifth of the sweep (fastai's fixed 0.98
        /// remembers ~50 steps, longer than a whole epoch of a small dataset: on digits' 45
        /// steps the smoothed curve lagged so far it never came down).
        public var smoothing: Double?
        /// The sweep stops once the smoothed loss exceeds this multiple of its minimum.
        public var divergence = 4.0
        /// Confirm the candidates with trial fits (false: the steepest descent where it falls
        /// in the ladder's range, else minimum/100, unconfirmed).
        public var confirm = true
        /// Steps of each trial; nil: the epoch's steps the sweep left, shared, at least 100.
        public var trialSteps: Int?

        public init() {}
    }

    public struct Point: Sendable, Equatable {
        public var step: Int
        public var rate: Float
        public var loss: Double
        public var smoothed: Double

        public init(step: Int, rate: Float, loss: Double, smoothed: Double) {
            self.step = step
            self.rate = rate
            self.loss = loss
            self.smoothed = smoothed
        }
    }

    public struct Result: Sendable {
        public var points: [Point]
        /// Every rule's rate, lowest first, with its trial's loss when confirmed.
        public var candidates: [Candidate]
        /// What `nntrain fit --lr auto` uses.
        public var suggestion: Float
        /// How the suggestion was chosen, in a sentence.
        public var rule: String
        /// Why the sweep ended: "diverged" (past `divergence` × the minimum, or a non-finite
        /// loss) or "reached the maximum rate".
        public var stop: String
        /// What the user should know about this sweep: a lengthened sweep, a short curve.
        public var notes: [String] = []
        /// The monitored loss of the trials ("val_loss", or "train_loss" without a validation split).
        public var trialMetric: String?
        public var trialSteps = 0

        public func rate(of rule: String) -> Float? { candidates.first { $0.rules.contains(rule) }?.rate }
        /// The rate at the smoothed loss's minimum, which the ladder hangs from.
        public var minimumRate: Float? { minimumIndex(points).map { points[$0].rate } }
        /// The steepest descent and the valley, read off the curve whether or not they fall in
        /// the ladder's range (where they are candidates).
        public var steepestRate: Float? {
            minimumIndex(points).flatMap { steepestIndex(points, before: $0) }.map { points[$0].rate }
        }
        public var valleyRate: Float? { valleyIndex(points).map { points[$0].rate } }
    }

    /// What a checkpoint keeps of a sweep that chose the run's rate: the choice, its rule, the
    /// smoothed curve and the candidates with their trials (absent in older checkpoints).
    public struct Record: Codable, Sendable, Equatable {
        public var suggestion: Float
        public var rule: String
        public var stop: String
        public var rates: [Float]
        public var smoothedLosses: [Double]
        public var candidates: [Candidate]?
        public var notes: [String]?

        public init(_ result: Result) {
            suggestion = result.suggestion
            rule = result.rule
            stop = result.stop
            rates = result.points.map(\.rate)
            smoothedLosses = result.points.map(\.smoothed)
            candidates = result.candidates
            notes = result.notes.isEmpty ? nil : result.notes
        }
    }

    public enum Progress {
        case sweep(Point, of: Int)
        case trial(Candidate, steps: Int)
    }

    /// The rate of step `step` of `steps`: minRate · (maxRate / minRate)^(step / (steps - 1)).
    public static func rate(step: Int, of steps: Int, settings: Settings) -> Float {
        guard steps > 1 else { return settings.minRate }
        let ratio = Double(settings.maxRate) / Double(settings.minRate)
        return Float(Double(settings.minRate) * pow(ratio, Double(step) / Double(steps - 1)))
    }

    /// Bias-corrected exponential moving average: avg_i = β·avg_{i-1} + (1-β)·loss_i,
    /// smoothed_i = avg_i / (1 - β^(i+1)), so early points are not pulled towards 0.
    public static func smooth(_ losses: [Double], beta: Double) -> [Double] {
        var average = SmoothedLoss(beta: beta)
        return losses.map { average.add($0) }
    }

    /// The running form of `smooth`: one loss in, the smoothed value so far out.
    struct SmoothedLoss {
        let beta: Double
        private var average = 0.0
        private var correction = 1.0

        init(beta: Double) { self.beta = beta }

        mutating func add(_ loss: Double) -> Double {
            average = beta * average + (1 - beta) * loss
            correction *= beta
            return average / (1 - correction)
        }
    }

    /// The sweep's length for `trainer`, and why it is not one epoch when it is not.
    static func sweepLength(_ trainer: Trainer, settings: Settings) -> (steps: Int, note: String?) {
        if let steps = settings.steps {
            let note = steps < settings.minimumSteps
                ? "a \(steps)-step sweep multiplies the rate by \(String(format: "%.2g", pow(Double(settings.maxRate / settings.minRate), 1 / Double(max(steps - 1, 1))))) per step: too coarse to read reliably (--steps \(settings.minimumSteps) or more)"
                : nil
            return (max(2, steps), note)
        }
        let epoch = trainer.stepsPerEpoch
        guard epoch < settings.minimumSteps else { return (min(epoch, 300), nil) }
        let steps = settings.minimumSteps
        return (steps, String(format: "one epoch is %d steps (%d rows at batch %d), too few to read a curve: the sweep runs %d steps, %.1f epochs",
                              epoch, trainer.trainingRows, trainer.settings.batchSize, steps, Double(steps) / Double(max(epoch, 1))))
    }

    /// Runs the sweep and the trials on copies of `trainer` (initial weights, as `fit` would start).
    public static func run(_ trainer: Trainer, settings: Settings = Settings(), progress: (Progress) -> Void = { _ in }) -> Result {
        let (steps, lengthNote) = sweepLength(trainer, settings: settings)
        var sweeping = trainer
        var batches = BatchStream(trainer, stream: 0xFFE)
        var points: [Point] = []
        var average = SmoothedLoss(beta: settings.smoothing ?? min(0.98, 1 - 5 / Double(steps)))
        var lowest = Double.infinity
        var stop = "reached the maximum rate"
        for step in 0..<steps {
            let rate = rate(step: step, of: steps, settings: settings)
            guard let loss = try? sweeping.trainStep(on: batches.next(), rate: rate) else {
                stop = "diverged (the loss was not finite at rate \(String(format: "%.3g", rate)))"
                break
            }
            let point = Point(step: step, rate: rate, loss: loss, smoothed: average.add(loss))
            points.append(point)
            progress(.sweep(point, of: steps))
            lowest = min(lowest, point.smoothed)
            if point.smoothed > settings.divergence * lowest {
                stop = "diverged (smoothed loss \(String(format: "%.4g", point.smoothed)) > \(settings.divergence) × its minimum \(String(format: "%.4g", lowest)))"
                break
            }
        }
        var result = Result(points: points, candidates: candidates(points), suggestion: 0, rule: "", stop: stop)
        if let lengthNote { result.notes.append(lengthNote) }
        let smoothed = points.map(\.smoothed)
        if let low = smoothed.min(), let high = smoothed.max(), points.count >= 10, high - low <= 0.01 * abs(high) {
            result.notes.append("the loss did not move over the sweep (within 1%): the curve says nothing about the rate; check the data and the model, or widen --min-lr/--max-lr")
        } else if let minimum = minimumIndex(points), minimum < 20 {
            result.notes.append("the loss was lowest at step \(minimum + 1) of the sweep, too early to read a descent: lower --min-lr (now \(String(format: "%.0e", settings.minRate)))")
        }
        choose(&result, trainer: trainer, sweepSteps: steps, settings: settings, progress: progress)
        return result
    }

    /// Picks the suggestion: the confirmed candidate, or without trials the steepest descent
    /// (minimum/100 when the curve has no slope before its minimum).
    static func choose(_ result: inout Result, trainer: Trainer, sweepSteps: Int, settings: Settings, progress: (Progress) -> Void) {
        guard !result.candidates.isEmpty else {
            if let minimum = minimumIndex(result.points) {
                result.suggestion = result.points[minimum].rate / 10
                result.rule = "minimum/10: \(result.points.count) points are too few for any other rule"
            } else {
                result.rule = "no points"
            }
            return
        }
        if settings.confirm {
            let share = (trainer.stepsPerEpoch - sweepSteps) / result.candidates.count
            let steps = settings.trialSteps ?? max(LearningRateTrials.minimumSteps, share)
            let ceiling = result.minimumRate ?? settings.maxRate
            if let chosen = LearningRateTrials.run(&result.candidates, trainer: trainer, steps: steps, ceiling: ceiling, progress: progress) {
                let winner = result.candidates[chosen.index]
                result.suggestion = winner.rate
                result.trialMetric = chosen.metric
                result.trialSteps = chosen.steps
                if chosen.steps > steps {
                    result.notes.append("after \(steps) steps no trial had moved the loss \(Int(LearningRateTrials.informativeImprovement * 100))% from its start: the trials ran \(chosen.steps) steps")
                }
                result.rule = String(format: "%@ (%.3g), confirmed: %d candidates trained %d steps each from the initial weights; its %@ %.4g",
                                     winner.label, winner.rate, result.candidates.count, chosen.steps, chosen.metric, winner.trialLoss ?? .nan)
                if let reason = chosen.reason { result.rule += "; \(reason)" }
                return
            }
            result.notes.append("no confirmation trial lowered the loss from the initial weights: the suggestion is unconfirmed")
        }
        let fallback = result.candidates.first { $0.rules.contains(steepestRule) } ?? result.candidates.first { $0.rules.contains(fallbackRule) }
            ?? result.candidates[result.candidates.count / 2]
        result.suggestion = fallback.rate
        result.rule = String(format: "%@ (%.3g), unconfirmed", fallback.label, fallback.rate)
    }
}

/// Training batches drawn in a seeded shuffled order, reshuffled after each pass (as a new
/// epoch would), for steps that are not a run's epochs: the sweep and its trials.
struct BatchStream {
    private let data: TrainingData
    private let batchSize: Int
    private let seed: UInt64
    private let stream: Int
    private var order: [Int] = []
    private var position = 0
    private var pass = 0

    init(_ trainer: Trainer, stream: Int) {
        data = trainer.training
        batchSize = max(trainer.settings.batchSize, 1)
        seed = trainer.settings.seed
        self.stream = stream
    }

    mutating func next() -> TrainingData {
        if position >= order.count {
            pass += 1
            order = Array(0..<data.rows)
            var rng = CounterRNG(seed: seed, stream: CounterRNG.stream(epoch: pass, step: 0, layer: stream))
            TrainingData.shuffle(&order, rng: &rng)
            position = 0
        }
        defer { position += batchSize }
        return data.subset(order[position..<min(position + batchSize, order.count)])
    }
}
