import ArgumentParser
import Foundation
import NNCore
import NNFormat
import NNTrain

/// `--delimiter`: one character or `tab`.
enum DelimiterFlag {
    static func parse(_ text: String) throws -> UInt8 {
        guard let delimiter = CSVReader.delimiter(named: text) else {
            throw ValidationError("--delimiter \(text): give one character other than a quote or a line break (';', '|'), or tab")
        }
        return delimiter
    }
}

/// The flags that define a run (model, data, optimizer, schedule, …), shared by `fit` and
/// `lr-find`, so a sweep runs exactly the model and settings `fit` would train.
struct TrainingFlags: ParsableArguments {
    /// Every default is the settings type's: one place says what a run does unless told.
    private static let defaults = TrainingSettings()

    @Option(help: "Model file (JSON; see docs/TRAINING.md).") var model: String
    @Option(help: "Training data (CSV with a header row).") var data: String
    @Option(help: "Validation data (CSV); without it --validation-fraction of --data is held out.") var validationData: String?
    @Option(help: "The data files' field delimiter: one character (';', '|') or tab.", transform: DelimiterFlag.parse)
    var delimiter: UInt8 = CSVReader.comma
    @Option(help: "Target column(s) for the output that names none, comma separated.") var target: String?
    @Option(help: "Epochs.") var epochs = defaults.epochs
    @Option(help: "Rows per step.") var batchSize = defaults.batchSize
    @Option(help: ArgumentHelp(OptimizerKind.spellings.joined(separator: ", ") + "."), transform: OptimizerKind.spelled)
    var optimizer = defaults.optimizer
    @Option(name: .customLong("lr"), help: "Learning rate (peak rate for cosine and one_cycle), or auto: run lr-find first and train at its suggestion.")
    var learningRate: LearningRateChoice = .rate(defaults.learningRate)
    @Option(help: ArgumentHelp(ScheduleKind.spellings.joined(separator: ", ") + "."), transform: ScheduleKind.spelled)
    var schedule = defaults.schedule
    @Option(help: "Epochs of linear warmup at the start of the schedule (any schedule).") var warmupEpochs = defaults.warmupEpochs
    @Option(help: "linear: scale --lr by --batch-size / --base-batch-size (Goyal et al. 2017).", transform: LearningRateScaling.spelled)
    var scaleLr: LearningRateScaling?
    @Option(help: "The batch size --lr was chosen at (with --scale-lr linear).") var baseBatchSize: Int?
    @Option(help: "Clip gradients to this global L2 norm.") var clipNorm: Float?
    @Option(help: "Momentum of sgd with momentum or nesterov.") var momentum = defaults.momentum
    @Option(help: "Decoupled weight decay of adamw.") var weightDecay = defaults.weightDecay
    @Option(help: "Seed of initialization, split, shuffles and dropout.") var seed = defaults.seed
    @Option(help: "Fraction of rows held out for validation.") var validationFraction = defaults.validationFraction
    @Option(help: "Write the checkpoint every this many epochs.") var checkpointEvery = defaults.checkpointEvery
    @Option(help: "Stop once --monitor has not improved for this many epochs, and end with the best epoch's weights.") var earlyStoppingPatience: Int?
    @Option(help: "The metric early stopping watches: val_loss, val_accuracy, val_rmse, … or loss (training).") var monitor = "val_loss"
    @Option(help: "Early stopping counts an epoch as better only by more than this.") var minDelta = 0.0
    @Option(help: "Start from another run's weights: layers matched by name (shapes checked), a report of what was loaded.") var initFrom: String?
    @Option(help: "Layers the model file freezes (\"trainable\": false) learn from this epoch + 1 on (fine-tuning).") var unfreezeAfter: Int?
    @Option(help: "A column of per-row loss weights (0 or more; not a feature).") var sampleWeightColumn: String?

    var settings: TrainingSettings {
        var settings = TrainingSettings()
        settings.epochs = epochs
        settings.batchSize = batchSize
        settings.optimizer = optimizer
        // With auto the rate is set from the sweep; the sweep itself steps at its own rates.
        if case .rate(let rate) = learningRate { settings.learningRate = rate }
        settings.schedule = schedule
        settings.warmupEpochs = warmupEpochs
        settings.scaleLearningRate = scaleLr
        settings.baseBatchSize = baseBatchSize
        settings.clipNorm = clipNorm
        settings.momentum = momentum
        settings.weightDecay = weightDecay
        settings.seed = seed
        settings.validationFraction = validationFraction
        settings.checkpointEvery = checkpointEvery
        settings.earlyStopping = earlyStoppingPatience.map { EarlyStopping(patience: $0, monitor: monitor, minDelta: minDelta) }
        settings.unfreezeAfterEpochs = unfreezeAfter
        return settings
    }

    /// The trainer `fit` starts from: data read and split, weights initialized.
    func trainer() throws -> Trainer {
        let text = try FileProblem.contents(model).get()
        var spec = try ModelSpec.decode(json: text, file: model)
        if let target { spec = try spec.withTarget(target.split(separator: ",").map(String.init), file: model) }
        if let sampleWeightColumn { spec.sampleWeightColumn = sampleWeightColumn }
        let source = try initFrom.map { try CheckpointFile.read(from: $0) }
        // A run started from another keeps its vocabularies and labels, so the weights it
        // loads read the features they were trained on.
        var trainer = try Trainer(spec: spec, table: try CSVTable.read(data, delimiter: delimiter),
                                  validationTable: try validationData.map { try CSVTable.read($0, delimiter: delimiter) },
                                  settings: settings, modelFile: model, encoding: source.map { TableEncoding(graph: $0.graph) }) { warning in
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
        func say(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        if let initFrom, let source {
            let report = try trainer.initialize(from: source, file: initFrom)
            for line in report.lines { say("--init-from \(initFrom): \(line)") }
        }
        for (head, weights) in trainer.classWeights.sorted(by: { $0.key < $1.key }) {
            say("class weights of '\(head)': " + weights.sorted { $0.key < $1.key }.map { String(format: "%d → %.3g", $0.key, $0.value) }.joined(separator: ", "))
        }
        if let column = spec.sampleWeightColumn { say("sample weights from column '\(column)'") }
        let frozen = spec.frozenLayers
        if !frozen.isEmpty {
            say("frozen: \(frozen.joined(separator: ", "))" + (unfreezeAfter.map { " (until epoch \($0); they learn from epoch \($0 + 1) on)" } ?? ""))
        }
        return trainer
    }
}

/// `--lr 0.003` or `--lr auto`.
enum LearningRateChoice: ExpressibleByArgument, Equatable {
    case rate(Float)
    case auto

    init?(argument: String) {
        if argument == "auto" {
            self = .auto
        } else if let rate = Float(argument) {
            self = .rate(rate)
        } else {
            return nil
        }
    }

    var defaultValueDescription: String {
        switch self {
        case .rate(let rate): "\(rate)"
        case .auto: "auto"
        }
    }
}
