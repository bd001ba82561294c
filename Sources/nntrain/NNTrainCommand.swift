import ArgumentParser
import Foundation
import NNFormat
import NNInference
import NNTrain

@main
struct NNTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nntrain",
        abstract: "Train small neural networks on tabular data and write a checkpoint (run.ckpt).",
        subcommands: [Fit.self, LearningRateFind.self, BatchSizeFind.self, Tune.self, Resume.self, Evaluate.self, Predict.self, Diagnose.self, Summary.self]
    )
}

/// Options every training command shares.
struct RunOptions: ParsableArguments {
    func apply() {
        BLASThreads.set(threads)
        AllocatorTuning.keepLargeBlocksOnTheHeap()
    }

    @Option(help: "OpenBLAS threads. Runs are bit-reproducible for a fixed thread count.")
    var threads: Int = 1

    @Flag(help: "Print a final line of metrics as JSON.")
    var json = false
}

func printJSON(_ object: [String: Double], extra: [String: String] = [:]) {
    var dictionary: [String: Any] = object
    for (key, value) in extra { dictionary[key] = value }
    if let data = try? JSONSerialization.data(withJSONObject: dictionary, options: [.sortedKeys]) {
        print(String(decoding: data, as: UTF8.self))
    }
}

func runToCompletion(_ trainer: inout Trainer, checkpoint: String, name: String, logdir: String?, options: RunOptions) throws {
    var seconds: [Double] = []
    let epochs = trainer.settings.epochs
    let log = try logdir.map { try TrainingLog(directory: $0) }
    try trainer.fit(checkpoint: checkpoint, name: name, log: log) { report in
        seconds.append(report.seconds)
        let line = RunSummary.progressLine(report, of: epochs, averageSeconds: seconds.reduce(0, +) / Double(seconds.count))
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
    if trainer.stoppedEarly, let best = trainer.best {
        FileHandle.standardError.write(Data(String(format: "early stop at epoch %d: %@ did not improve for %d epochs; the checkpoint holds epoch %d's weights (%@ %.4f)\n",
                                                   trainer.epoch, best.monitor, best.epochsWithoutImprovement, best.epoch, best.monitor, best.value).utf8))
    }
    FileHandle.standardError.write(Data("wrote \(checkpoint)\n".utf8))
    if let log { FileHandle.standardError.write(Data("TensorBoard log: \(log.directory) (tensorboard --logdir \(log.directory))\n".utf8)) }
    // The short diagnosis: findings only (`nntrain diagnose` prints the whole table).
    for finding in trainer.diagnose().findings { FileHandle.standardError.write(Data("diagnosis: \(finding)\n".utf8)) }
    // The epoch the checkpoint's weights are from (the best one after an early stop).
    if options.json, let result = trainer.weightsEpoch {
        printJSON(result.metrics.merging(["loss": result.trainingLoss, "epoch": Double(result.epoch)]) { $1 }, extra: ["checkpoint": checkpoint])
    }
}

extension NNTrainCommand {
    struct Fit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Train a model file (JSON) on a CSV file.")

        @OptionGroup var training: TrainingFlags
        @Option(help: "Checkpoint to write (atomically, every --checkpoint-every epochs and at the end).") var checkpoint = "run.ckpt"
        @Option(help: "Run name, stored in the checkpoint (nnexport's default model name); default: the model file's name.") var name: String?
        @Option(help: "Write TensorBoard event files here (DIR/train, DIR/validation): losses, metrics, learning rate, weight and activation histograms.") var logdir: String?
        @OptionGroup var options: RunOptions

        func run() throws {
            options.apply()
            var trainer = try training.trainer()
            if training.learningRate == .auto {
                let sweep = LearningRateFinder.run(trainer)
                guard !sweep.points.isEmpty else { throw ValidationError("--lr auto: the loss was not finite at the sweep's first rate") }
                try trainer.useRate(from: sweep)
                FileHandle.standardError.write(Data(String(format: "--lr auto: %.3g (%@; %d-step sweep, %@)\n",
                                                           sweep.suggestion, sweep.rule, sweep.points.count, sweep.stop).utf8))
            }
            let runName = name ?? URL(fileURLWithPath: training.model).deletingPathExtension().lastPathComponent
            try runToCompletion(&trainer, checkpoint: checkpoint, name: runName, logdir: logdir, options: options)
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Continue a run from its checkpoint, bit-identically.")

        @Argument(help: "The checkpoint to continue (rewritten as the run goes on).") var checkpoint: String
        @Option(help: "More epochs to train.") var epochs: Int
        @Option(help: "Training data (default: the file the run was started on).") var data: String?
        @Option(help: "Start a new learning-rate schedule (constant, step, exponential, cosine, one_cycle) spanning the added epochs, instead of continuing the run's (which, once a decaying schedule has ended, trains at its final rate).") var schedule: String?
        @Option(name: .customLong("lr"), help: "Peak rate of the new --schedule (default: the run's).") var learningRate: Float?
        @Option(help: "Append TensorBoard event files here (as fit --logdir).") var logdir: String?
        @OptionGroup var options: RunOptions

        func run() throws {
            options.apply()
            guard epochs >= 1 else { throw ValidationError("--epochs \(epochs): resume trains at least 1 more epoch") }
            guard schedule != nil || learningRate == nil else { throw ValidationError("--lr goes with --schedule (a new schedule for the added epochs)") }
            let file = try CheckpointFile.read(from: checkpoint)
            let table = try CSVTable.read(data ?? file.state.split.trainingFile)
            var trainer = try Trainer.resume(file, table: table, additionalEpochs: epochs,
                                             restart: schedule.map { Trainer.ScheduleRestart(schedule: $0, learningRate: learningRate) }) { warning in
                FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
            }
            try runToCompletion(&trainer, checkpoint: checkpoint, name: file.state.name, logdir: logdir, options: options)
        }
    }

    struct Evaluate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Metrics of a checkpoint on a CSV file (inference mode, through NNInference).")

        @Argument(help: "The checkpoint.") var checkpoint: String
        @Option(help: "Data to evaluate on (CSV with the training columns).") var data: String
        @OptionGroup var options: RunOptions

        func run() throws {
            options.apply()
            let file = try CheckpointFile.read(from: checkpoint)
            let metrics = try Trainer.resume(file, table: try CSVTable.read(file.state.split.trainingFile), additionalEpochs: 0)
                .evaluate(on: try CSVTable.read(data))
            if options.json {
                printJSON(metrics, extra: ["data": data])
            } else {
                for key in metrics.keys.sorted() { print(String(format: "%@ %.6f", key, metrics[key]!)) }
            }
        }
    }

    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Predictions of a checkpoint for the rows of a CSV file, through NNInference (the numbers nnserve will give).")

        @Argument(help: "The checkpoint.") var checkpoint: String
        @Option(help: "Rows to predict (CSV with the columns the run's inputs were built from).") var data: String
        @Option(help: "Write the predictions here (CSV); default: standard output.") var out: String?

        func run() throws {
            let text = try OfflinePrediction.csv(try CheckpointFile.read(from: checkpoint), table: try CSVTable.read(data))
            if let out {
                try text.write(toFile: out, atomically: true, encoding: .utf8)
                FileHandle.standardError.write(Data("wrote \(out)\n".utf8))
            } else {
                print(text, terminator: "")
            }
        }
    }

    struct Diagnose: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Per layer: dead relu units, saturated units, activation mean/std (the SELU check), weight and gradient norms, collapsed outputs; with advice.")

        @Argument(help: "The checkpoint.") var checkpoint: String
        @Option(help: "Rows to run (CSV with the columns the run's inputs were built from, and its target columns for gradient norms).") var data: String
        @Option(help: "Use at most this many rows.") var rows = 4096

        func validate() throws {
            guard rows >= 1 else { throw ValidationError("--rows \(rows): a diagnosis needs at least 1 row") }
        }

        func run() throws {
            print(try Trainer.diagnose(try CheckpointFile.read(from: checkpoint), table: try CSVTable.read(data), rows: rows).text)
        }
    }

    struct Summary: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Layers, shapes, parameter counts, batch-norm statistics and config of a checkpoint.")

        @Argument(help: "The checkpoint.") var checkpoint: String
        @Flag(help: "Also print the model file the run was started from.") var modelConfig = false

        func run() throws {
            print(RunSummary.describe(try CheckpointFile.read(from: checkpoint), includeModelConfig: modelConfig))
        }
    }
}
