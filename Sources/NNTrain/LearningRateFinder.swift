import Foundation
import NNCore

/// The learning-rate range test (Smith 2017; fastai's `lr_find`): train from the run's initial
/// weights for at most one epoch while the rate grows exponentially from `minRate` to
/// `maxRate`, one step per rate, and watch the loss. It falls while the rate is useful, and
/// explodes once it is too large. The run's weights are not kept.
public enum LearningRateFinder {
    public struct Settings: Sendable, Equatable {
        public var minRate: Float = 1e-7
        public var maxRate: Float = 10
        /// Steps of the sweep; nil: one epoch, at most 300.
        public var steps: Int?
        /// β of the exponential moving average of the loss (bias-corrected); nil: automatic,
        /// min(0.98, 1 - 5/steps), a memory of about a fifth of the sweep (fastai's fixed 0.98
        /// remembers ~50 steps, longer than a whole epoch of a small dataset: on digits' 45
        /// steps the smoothed curve lagged so far it never came down).
        public var smoothing: Double?
        /// The sweep stops once the smoothed loss exceeds this multiple of its minimum.
        public var divergence = 4.0

        public init() {}
    }

    public struct Point: Sendable, Equatable {
        public var step: Int
        public var rate: Float
        public var loss: Double
        public var smoothed: Double
    }

    public struct Result: Sendable {
        public var points: [Point]
        /// The rate where the smoothed loss falls fastest against log(rate).
        public var steepest: Float
        /// A tenth of the rate at the smoothed loss's minimum (the cross-check).
        public var minimumOverTen: Float
        /// What `nntrain fit --lr auto` would use: `steepest`, or `minimumOverTen` when the curve
        /// has too few points before its minimum to have a slope.
        public var suggestion: Float
        public var rule: String
        /// Why the sweep ended: "diverged" (past `divergence` × the minimum, or a non-finite
        /// loss) or "reached the maximum rate".
        public var stop: String
    }

    /// What a checkpoint keeps of a sweep that chose the run's rate: the choice, its rule and
    /// the smoothed curve.
    public struct Record: Codable, Sendable, Equatable {
        public var suggestion: Float
        public var rule: String
        public var stop: String
        public var rates: [Float]
        public var smoothedLosses: [Double]

        public init(_ result: Result) {
            suggestion = result.suggestion
            rule = result.rule
            stop = result.stop
            rates = result.points.map(\.rate)
            smoothedLosses = result.points.map(\.smoothed)
        }
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

    /// The suggested rate from a curve (points in sweep order). Steepest descent: the point
    /// before the minimum of the smoothed loss where d(smoothed)/d(log10 rate), by central
    /// differences, is most negative; the first tenth of the sweep is skipped (the average
    /// is still settling there). Cross-check: a tenth of the rate at the minimum.
    public static func suggest(_ points: [Point]) -> (steepest: Float, minimumOverTen: Float, suggestion: Float, rule: String) {
        guard let minimum = points.indices.min(by: { points[$0].smoothed < points[$1].smoothed }) else {
            return (0, 0, 0, "no points")
        }
        let minimumOverTen = points[minimum].rate / 10
        let first = max(1, points.count / 10)
        guard minimum - first >= 2 else {
            return (minimumOverTen, minimumOverTen, minimumOverTen,
                    "minimum/10: the loss was lowest within the first steps, so the curve has no slope to read")
        }
        var best = first, bestSlope = Double.infinity
        for index in first..<minimum {
            let left = points[index - 1], right = points[index + 1]
            let run = log10(Double(right.rate)) - log10(Double(left.rate))
            let slope = (right.smoothed - left.smoothed) / run
            if slope < bestSlope {
                bestSlope = slope
                best = index
            }
        }
        return (points[best].rate, minimumOverTen, points[best].rate,
                "steepest descent of the smoothed loss (at step \(points[best].step)); cross-check minimum/10 = \(String(format: "%.3g", minimumOverTen))")
    }

    /// Runs the sweep on a copy of `trainer` (initial weights, as `fit` would start).
    public static func run(_ trainer: Trainer, settings: Settings = Settings(), progress: (Point) -> Void = { _ in }) -> Result {
        var trainer = trainer
        let steps = max(2, settings.steps ?? min(trainer.stepsPerEpoch, 300))
        let batchSize = trainer.settings.batchSize
        var order: [Int] = []
        var position = 0
        var points: [Point] = []
        var average: SmoothedLoss
        var lowest = Double.infinity
        var stop = "reached the maximum rate"
        average = SmoothedLoss(beta: settings.smoothing ?? min(0.98, 1 - 5 / Double(steps)))
        for step in 0..<steps {
            if position >= order.count {
                // A sweep longer than an epoch reshuffles, as a new epoch would.
                order = Array(0..<trainer.training.rows)
                var rng = CounterRNG(seed: trainer.settings.seed, stream: CounterRNG.stream(epoch: step + 1, step: 0, layer: 0xFFE))
                TrainingData.shuffle(&order, rng: &rng)
                position = 0
            }
            let batch = trainer.training.subset(order[position..<min(position + batchSize, order.count)])
            position += batchSize
            let rate = rate(step: step, of: steps, settings: settings)
            guard let loss = try? trainer.trainStep(on: batch, rate: rate) else {
                stop = "diverged (the loss was not finite at rate \(String(format: "%.3g", rate)))"
                break
            }
            let smoothed = average.add(loss)
            let point = Point(step: step, rate: rate, loss: loss, smoothed: smoothed)
            points.append(point)
            progress(point)
            lowest = min(lowest, smoothed)
            if smoothed > settings.divergence * lowest {
                stop = "diverged (smoothed loss \(String(format: "%.4g", smoothed)) > \(settings.divergence) × its minimum \(String(format: "%.4g", lowest)))"
                break
            }
        }
        let (steepest, minimumOverTen, suggestion, rule) = suggest(points)
        return Result(points: points, steepest: steepest, minimumOverTen: minimumOverTen, suggestion: suggestion, rule: rule, stop: stop)
    }
}
