import NNCore
import NNFormat

/// Stops a run once the monitored metric has not improved for `patience` epochs; the run then
/// ends with the weights of its best epoch (Keras's `restore_best_weights`).
public struct EarlyStopping: Codable, Sendable, Equatable {
    public var patience: Int
    /// A metric of the epoch report: "val_loss" (the default), "val_accuracy", "val_rmse", …,
    /// or "loss" (the training loss).
    public var monitor: String
    /// An epoch improves on the best only by more than this much.
    public var minDelta: Double

    public init(patience: Int, monitor: String = "val_loss", minDelta: Double = 0) {
        self.patience = patience
        self.monitor = monitor
        self.minDelta = minDelta
    }

    public var lowerIsBetter: Bool { Metrics.lowerIsBetter(monitor) }

    /// Whether `value` beats `best` by more than `minDelta` in the metric's direction.
    public func improves(_ value: Double, on best: Double) -> Bool {
        guard value.isFinite else { return false }
        return lowerIsBetter ? value < best - minDelta : value > best + minDelta
    }

    func validate() throws(DataError) {
        guard patience >= 1 else {
            throw .invalidSetting(flag: "--early-stopping-patience", value: "\(patience)", rule: "must be at least 1 epoch")
        }
        guard minDelta.isFinite, minDelta >= 0 else {
            throw .invalidSetting(flag: "--min-delta", value: "\(minDelta)", rule: "must be 0 or a positive number")
        }
    }

    /// Refuses a monitor the run does not report, listing those it does.
    func checkMonitor(reported metrics: [String]) throws(DataError) {
        guard !metrics.contains(monitor) else { return }
        let hint = monitor.hasPrefix("val_") && !metrics.contains { $0.hasPrefix("val_") }
            ? " (no validation rows: --validation-fraction is 0 and there is no --validation-data)" : ""
        throw .invalidSetting(flag: "--monitor", value: monitor,
                              rule: "this run reports \(metrics.sorted().joined(separator: ", "))\(hint)")
    }
}

/// Early stopping watching a run's epochs: it keeps the best epoch with its weights and says
/// when `patience` epochs have not improved on it. Without a rule it watches nothing.
struct EarlyStopWatch: Sendable {
    let rule: EarlyStopping?
    /// The best epoch so far (restored from a checkpoint when a run resumes).
    var best: TrainingState.BestEpoch?

    /// Whether the run has ended: `patience` epochs without improving on the best.
    var stopped: Bool {
        guard let patience = rule?.patience, let best else { return false }
        return best.epochsWithoutImprovement >= patience
    }

    /// Watches one more epoch, whose weights are `weights`; returns the best epoch's weights
    /// when this epoch ends the run (the trainer puts them back).
    mutating func observe(_ entry: Trainer.EpochReport, weights: Graph) -> Graph? {
        guard let rule else { return nil }
        let value = entry.value(of: rule.monitor)
        if let current = best, !rule.improves(value, on: current.value) {
            best?.epochsWithoutImprovement += 1
        } else if best != nil || value.isFinite {
            best = TrainingState.BestEpoch(epoch: entry.epoch, monitor: rule.monitor, value: value, epochsWithoutImprovement: 0, graph: weights)
        }
        return stopped ? best?.graph : nil
    }
}
