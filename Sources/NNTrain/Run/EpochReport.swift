import NNFormat

extension Trainer {
    /// What one epoch did: its mean training loss, its metrics ("val_…" or "train_…") and time.
    ///
    /// The training loss is kept apart from the metrics but is read by the name "loss" (a
    /// `--monitor`, a study's ranking, a checkpoint's history): `value(of:)` and
    /// `recordedMetrics` are where the two meet.
    public struct EpochReport: Sendable {
        /// The name the training loss is monitored and recorded by.
        public static let trainingLossName = "loss"

        public var epoch: Int
        public var trainingLoss: Double
        public var metrics: [String: Double]
        public var seconds: Double

        public init(epoch: Int, trainingLoss: Double, metrics: [String: Double], seconds: Double) {
            self.epoch = epoch
            self.trainingLoss = trainingLoss
            self.metrics = metrics
            self.seconds = seconds
        }

        /// The value a monitor watches: the training loss for "loss", else the metric (NaN
        /// when the epoch did not report it).
        public func value(of monitor: String) -> Double {
            monitor == Self.trainingLossName ? trainingLoss : metrics[monitor] ?? .nan
        }

        /// The metrics with the training loss under "loss": a checkpoint's history, a study's record.
        public var recordedMetrics: [String: Double] {
            metrics.merging([Self.trainingLossName: trainingLoss]) { $1 }
        }

        /// An epoch as a checkpoint records it (run times are kept out of the file).
        var record: TrainingState.EpochRecord {
            TrainingState.EpochRecord(epoch: epoch, metrics: recordedMetrics)
        }

        /// The epoch a checkpoint recorded.
        init(record: TrainingState.EpochRecord) {
            self.init(epoch: record.epoch, trainingLoss: record.metrics[Self.trainingLossName] ?? .nan,
                      metrics: record.metrics.filter { $0.key != Self.trainingLossName }, seconds: record.seconds)
        }
    }
}
