import Foundation

/// The confirmation stage of the learning-rate finder: each candidate rate trains a copy of
/// the run from its initial weights for the same steps on the same batches, and the
/// monitored validation loss afterwards decides. A rate near the divergence cliff may lead
/// the sweep's single pass yet lose a few dozen steps later (digits' multitask model at 0.1).
enum LearningRateTrials {
    static let minimumSteps = 100
    /// Trials that leave every candidate within this fraction of the initial loss learned
    /// nothing to compare (a deep sigmoid stack's plateau): they run again, twice as long,
    /// up to `maximumLengthening` times as long as the first.
    static let informativeImprovement = 0.1
    static let maximumLengthening = 8
    /// Trials favour high rates (they get further in few steps, and a whole run pays later
    /// for their instability: diamonds' wide & deep model wins a 100-step trial at 0.027 and
    /// collapses to a constant within 4 epochs there), so the lowest rate whose loss is
    /// within this fraction of the best trial's wins.
    static let lossTolerance = 0.15
    static let progressShare = 0.8

    struct Outcome {
        var index: Int
        var metric: String
        var steps: Int
        var reason: String?
    }

    /// Trains each candidate, records its loss (+∞ when it diverged), and returns the chosen
    /// one; nil when no trial had a finite loss lower than the initial one. `ceiling` is the sweep's minimum, the
    /// highest rate a plateau may climb to.
    static func run(_ candidates: inout [LearningRateFinder.Candidate], trainer: Trainer, steps first: Int, ceiling: Float,
                    progress: (LearningRateFinder.Progress) -> Void) -> Outcome? {
        guard let (metric, initial) = monitored(trainer) else { return nil }
        let first = max(1, first)
        var steps = first
        var previous: (candidates: [LearningRateFinder.Candidate], steps: Int)?
        while true {
            for index in candidates.indices {
                candidates[index].trialLoss = trial(trainer, rate: candidates[index].rate, steps: steps, metric: metric)
                progress(.trial(candidates[index], steps: steps))
            }
            let best = candidates.compactMap(\.trialLoss).min() ?? .infinity
            guard best.isFinite else {
                // Every longer trial diverged: the shorter round is what there is to go on.
                guard let previous else { return nil }
                (candidates, steps) = previous
                break
            }
            if initial - best >= informativeImprovement * abs(initial) || steps * 2 > maximumLengthening * first { break }
            previous = (candidates, steps)
            steps *= 2
        }
        if steps > first { climb(&candidates, trainer: trainer, steps: steps, metric: metric, ceiling: ceiling, progress: progress) }
        return pick(candidates, initial: initial).map { Outcome(index: $0.index, metric: metric, steps: steps, reason: $0.reason) }
    }

    /// On a plateau (a deep sigmoid stack: the trials had to run longer to learn anything)
    /// the sweep's minimum is no guide, and the best trial at the ladder's top rung says the
    /// rate wanted lies above it: rungs ×3 higher are tried while they improve, up to `ceiling`.
    static func climb(_ candidates: inout [LearningRateFinder.Candidate], trainer: Trainer, steps: Int, metric: String, ceiling: Float,
                      progress: (LearningRateFinder.Progress) -> Void) {
        while let top = candidates.last, let loss = top.trialLoss, loss == candidates.compactMap(\.trialLoss).min(), top.rate * 3 <= ceiling * 1.01 {
            let rate = top.rate * 3
            let divisor = Int((ceiling / rate).rounded())
            var candidate = LearningRateFinder.Candidate(rate: rate, rules: [divisor <= 1 ? "minimum" : "minimum/\(divisor)"])
            candidate.trialLoss = trial(trainer, rate: rate, steps: steps, metric: metric)
            progress(.trial(candidate, steps: steps))
            candidates.append(candidate)
        }
    }

    /// The loss the trials are compared by ("val_loss", or "train_loss" on the training
    /// rows without a validation split) and its value at the initial weights.
    static func monitored(_ trainer: Trainer) -> (metric: String, initial: Double)? {
        guard let metrics = try? trainer.evaluate() else { return nil }
        for metric in ["val_loss", "train_loss"] { if let value = metrics[metric], value.isFinite { return (metric, value) } }
        return nil
    }

    /// `steps` steps at `rate` on a copy of `trainer`, then `metric` (+∞ when not finite).
    static func trial(_ trainer: Trainer, rate: Float, steps: Int, metric: String) -> Double {
        var trial = trainer
        var batches = BatchStream(trainer, stream: 0xFFD)
        do {
            for _ in 0..<steps { _ = try trial.trainStep(on: batches.next(), rate: rate) }
            let loss = try trial.evaluate()[metric] ?? .infinity
            return loss.isFinite ? loss : .infinity
        } catch {
            return .infinity
        }
    }

    /// The lowest rate (candidates are sorted by rate) whose loss is within `lossTolerance` of
    /// the best trial's and which made `progressShare` of the best trial's progress from
    /// `initial` (on a plateau every loss is within 15% of every other).
    static func pick(_ candidates: [LearningRateFinder.Candidate], initial: Double) -> (index: Int, reason: String?)? {
        let losses = candidates.map { $0.trialLoss ?? .infinity }
        // No trial that improved on the initial weights confirms anything.
        guard let best = losses.indices.min(by: { losses[$0] < losses[$1] }), losses[best].isFinite, losses[best] < initial else { return nil }
        let bound = min(losses[best] * (1 + lossTolerance), initial - progressShare * (initial - losses[best]))
        guard let lower = losses.indices.first(where: { losses[$0] <= bound }), lower < best else { return (best, nil) }
        return (lower, String(format: "%@ (%.3g) reached %.4g, and a lower rate within %.0f%% of it is the safer one over a whole run",
                              candidates[best].label, candidates[best].rate, losses[best], lossTolerance * 100))
    }
}
