import ArgumentParser
import NNCore
import Foundation
import NNFormat
import NNInference
import NNTrain

@main
struct NNTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nntrain",
        abstract: "Train small neural networks on tabular data and write a checkpoint (run.ckpt).",
        subcommands: [Fit.self, LearningRateFind.self, BatchSizeFind.self, Tune.self, Resume.self, Evaluate.self, Predict.self, Diagnose.self, Summary.self, Pairs.self]
    )
}

/// Options every training command shares.
struct RunOptions: ParsableArguments {
    func apply() {
        SharedKernels.setTrainingThreads(threads)
        AllocatorTuning.keepLargeBlocksOnTheHeap()
    }

    @Option(help: "Threads for matrix products and Adam updates. Runs are bit-identical at any count.")
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
    let weighting = RunSummary.lossWeightingNote(trainer)
    if let weighting { FileHandle.standardError.write(Data("note: \(weighting)\n".utf8)) }
    try trainer.fit(checkpoint: checkpoint, name: name, log: log) { report in
        seconds.append(report.seconds)
        let line = RunSummary.progressLine(report, of: epochs, averageSeconds: seconds.reduce(0, +) / Double(seconds.count),
                                           lossName: weighting == nil ? "loss" : "weighted loss")
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
                let sweep = LearningRateFinder.run(trainer, progress: LearningRateProgress.printer())
                guard !sweep.points.isEmpty else { throw ValidationError("--lr auto: the loss was not finite at the sweep's first rate") }
                try trainer.useRate(from: sweep)
                for note in sweep.notes { FileHandle.standardError.write(Data("--lr auto: note: \(note)\n".utf8)) }
                FileHandle.standardError.write(Data(String(format: "--lr auto: %.3g (%@; %d-step sweep, %@)\n",
                                                           sweep.suggestion, sweep.rule, sweep.points.count, sweep.stop).utf8))
            }
            let runName = name ?? URL(fileURLWithPath: training.model).deletingPathExtension().lastPathComponent
            try runToCompletion(&trainer, checkpoint: checkpoint, name: runName, logdir: logdir, options: options)
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Continue a run from its checkpoint, bit-identically.")

        @Argument(help: "The checkpoint to continue (rewritten as the run goes on), or a study database (as `nntrain tune --resume study.db`).")
        var checkpoint: String
        @Option(help: "More epochs to train (default: the rest of the run's planned epochs, for a run that was interrupted).") var epochs: Int?
        @Option(help: "Training data (default: the file the run was started on).") var data: String?
        @Option(help: ArgumentHelp("Start a new learning-rate schedule (\(ScheduleKind.spellings.joined(separator: ", "))) spanning the added epochs, instead of continuing the run's (which, once a decaying schedule has ended, trains at its final rate)."),
                transform: ScheduleKind.spelled)
        var schedule: ScheduleKind?
        @Option(name: .customLong("lr"), help: "Peak rate of the new --schedule (default: the run's).") var learningRate: Float?
        @Option(help: "Append TensorBoard event files here (as fit --logdir).") var logdir: String?
        @OptionGroup var options: RunOptions

        func run() throws {
            // `resume run.ckpt` and `tune --resume study.db` continue the two kinds of run: each
            // takes the other's file too, so the one a user remembers works.
            if Self.isStudyDatabase(checkpoint) {
                guard epochs == nil, schedule == nil, learningRate == nil, logdir == nil else {
                    throw ValidationError("\(checkpoint) is a study database: it continues with the settings it stores (no --epochs, --schedule, --lr or --logdir)")
                }
                let tune = try Tune.parse(["--resume", checkpoint] + (options.json ? ["--json"] : []))
                try tune.run()
                return
            }
            options.apply()
            guard schedule != nil || learningRate == nil else { throw ValidationError("--lr goes with --schedule (a new schedule for the added epochs)") }
            let file = try CheckpointFile.read(from: checkpoint)
            let stored = try file.state.trainingSettings()
            let planned = stored.epochs
            if self.epochs == nil, let patience = stored.earlyStopping?.patience, let best = file.state.best, best.epochsWithoutImprovement >= patience {
                throw ValidationError("\(checkpoint) was ended by early stopping at epoch \(file.state.epoch) (best epoch \(best.epoch)); --epochs N trains N more")
            }
            let epochs = self.epochs ?? planned - file.state.epoch
            guard epochs >= 1 else {
                throw ValidationError(self.epochs == nil
                    ? "\(checkpoint) has finished the \(planned) epochs it planned (at epoch \(file.state.epoch)); --epochs N trains N more"
                    : "--epochs \(epochs): resume trains at least 1 more epoch")
            }
            if self.epochs == nil {
                FileHandle.standardError.write(Data("resuming at epoch \(file.state.epoch) of \(planned): \(epochs) more to finish the run\n".utf8))
            }
            let table = try CSVTable.read(data ?? file.state.split.trainingFile, delimiter: file.state.split.delimiter)
            var trainer = try Trainer.resume(file, table: table, additionalEpochs: epochs,
                                             restart: schedule.map { Trainer.ScheduleRestart(schedule: $0, learningRate: learningRate) }) { warning in
                FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
            }
            try runToCompletion(&trainer, checkpoint: checkpoint, name: file.state.name, logdir: logdir, options: options)
        }

        /// SQLite's 16-byte header, "SQLite format 3\0".
        static func isStudyDatabase(_ path: String) -> Bool {
            guard let handle = FileHandle(forReadingAtPath: path) else { return false }
            defer { try? handle.close() }
            return (try? handle.read(upToCount: 16)) == Data("SQLite format 3\0".utf8)
        }
    }

    struct Evaluate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Metrics of a checkpoint on a CSV file (inference mode, through NNInference), or an encoder's N-way one-shot accuracy.",
            discussion: "With --one-shot: each episode draws --ways classes of --support, one example of each, and one query of --data from one of them; the query takes the class of the nearest support example in the embedding (a contrastive head's encoder, or --head). Also prints the nearest-neighbour accuracy of every query against every support row.")

        @Argument(help: "The checkpoint, or an exported model file (.nnm: its accuracy after folding and fp16/bf16 storage; each output's target column is named like it).")
        var checkpoint: String
        @Option(help: "Data to evaluate on (CSV with the training columns); with --one-shot, the queries.") var data: String
        @Option(help: "The data file's field delimiter: one character (';', '|') or tab (default: the run's).", transform: DelimiterFlag.parse)
        var delimiter: UInt8?
        @Flag(help: "N-way one-shot accuracy of the model's embedding instead of its metrics.") var oneShot = false
        @Option(help: "With --one-shot: labeled examples to draw the shots from (CSV with the features and --label).") var support: String?
        @Option(help: "With --one-shot: the class column of --support and --data.") var label = "label"
        @Option(help: "With --one-shot: classes per episode (default: every class of --support).") var ways: Int?
        @Option(help: "With --one-shot: episodes to average.") var episodes = 2000
        @Option(help: "With --one-shot: the head whose value is the embedding (default: the contrastive head).") var head: String?
        @Option(help: "With --one-shot: seed of the episodes.") var seed: UInt64 = 42
        @OptionGroup var options: RunOptions

        func validate() throws {
            if oneShot, support == nil { throw ValidationError("--one-shot needs --support (labeled examples to draw the shots from)") }
            if !oneShot, support != nil || ways != nil || head != nil { throw ValidationError("--support, --ways and --head go with --one-shot") }
        }

        func run() throws {
            options.apply()
            if let graph = try ExportedModel.graph(at: checkpoint) {
                guard !oneShot else { throw ValidationError("--one-shot reads the run's heads: give the checkpoint, not the exported \(checkpoint)") }
                let metrics = try ExportedModel.evaluate(graph, table: try CSVTable.read(data, delimiter: delimiter ?? CSVReader.comma))
                FileHandle.standardError.write(Data("note: \(ExportedModel.assumptions(of: graph))\n".utf8))
                printMetrics(metrics)
                return
            }
            let file = try CheckpointFile.read(from: checkpoint)
            let metrics: [String: Double]
            if oneShot, let support {
                let result = try OneShotEvaluation.evaluate(file, support: try CSVTable.read(support), queries: try CSVTable.read(data), label: label,
                                                            head: head, ways: ways, episodes: episodes, seed: seed)
                metrics = result.metrics
                if !options.json {
                    print(String(format: "%d-way one-shot accuracy %.4f over %d episodes (chance %.4f); nearest neighbour among all %d support rows: %.4f on %d queries",
                                 result.ways, result.accuracy, result.episodes, result.chance, result.supportRows, result.nearestNeighbourAccuracy, result.queryRows))
                    return
                }
            } else {
                let split = file.state.split
                metrics = try Trainer.resume(file, table: try CSVTable.read(split.trainingFile, delimiter: split.delimiter), additionalEpochs: 0)
                    .evaluate(on: try CSVTable.read(data, delimiter: delimiter ?? split.delimiter))
            }
            printMetrics(metrics)
        }

        private func printMetrics(_ metrics: [String: Double]) {
            if options.json {
                printJSON(metrics, extra: ["data": data])
            } else {
                for key in metrics.keys.sorted() { print(String(format: "%@ %.6f", key, metrics[key]!)) }
            }
        }
    }

    struct Pairs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a pair file for a siamese network: two rows' features side by side (left_<column>, right_<column>) and similar (1 when their labels agree).",
            discussion: "Without --positive-fraction pairs are drawn uniformly, as unbalanced as the classes make them (about 10% similar for 10 even classes); --positive-fraction 0.5 balances them.")

        @Option(help: "Labeled rows (CSV).") var data: String
        @Option(help: "The class column.") var label = "label"
        @Option(help: "Number of pairs.") var pairs: Int
        @Option(help: "Share of similar pairs (0...1); default: the natural share of uniform draws.") var positiveFraction: Double?
        @Option(help: "Feature columns, comma separated (default: every column but --label).") var columns: String?
        @Option(help: "Seed of the draws.") var seed: UInt64 = 42
        @Option(help: "The pair file to write.") var out: String

        func validate() throws {
            guard pairs >= 1 else { throw ValidationError("--pairs \(pairs): write at least 1 pair") }
            if let positiveFraction, !(0...1).contains(positiveFraction) { throw ValidationError("--positive-fraction \(positiveFraction): must be in [0, 1]") }
        }

        func run() throws {
            let result = try PairSampler.sample(try CSVTable.read(data), label: label, count: pairs, positiveFraction: positiveFraction, seed: seed,
                                                columns: columns.map { $0.split(separator: ",").map(String.init) })
            try result.table.csvText.write(toFile: out, atomically: true, encoding: .utf8)
            FileHandle.standardError.write(Data(String(format: "wrote %@: %d pairs, %d similar (%.1f%%), from %d classes\n",
                                                       out, pairs, result.similar, 100 * Double(result.similar) / Double(pairs), result.classes).utf8))
        }
    }

    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Predictions of a checkpoint for the rows of a CSV file, through NNInference (the numbers nnserve will give).")

        @Argument(help: "The checkpoint, or an exported model file (.nnm: the graph nnserve serves, at its stored precision).") var checkpoint: String
        @Option(help: "Rows to predict (CSV with the columns the run's inputs were built from: numbers, or raw strings and gaps for a run on a raw table).") var data: String
        @Option(help: "The data file's field delimiter: one character (';', '|') or tab (default: the run's).", transform: DelimiterFlag.parse)
        var delimiter: UInt8?
        @Option(help: "Write the predictions here (CSV); default: standard output.") var out: String?

        func run() throws {
            let text: String
            if let graph = try ExportedModel.graph(at: checkpoint) {
                text = try OfflinePrediction.csv(graph, heads: ExportedModel.heads(of: graph), table: try CSVTable.read(data, delimiter: delimiter ?? CSVReader.comma))
            } else {
                let file = try CheckpointFile.read(from: checkpoint)
                text = try OfflinePrediction.csv(file, table: try CSVTable.read(data, delimiter: delimiter ?? file.state.split.delimiter))
            }
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
            let file = try CheckpointFile.read(from: checkpoint)
            print(try Trainer.diagnose(file, table: try CSVTable.read(data, delimiter: file.state.split.delimiter), rows: rows).text)
        }
    }

    struct Summary: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Layers, shapes, parameter counts, batch-norm statistics and config of a checkpoint.")

        @Argument(help: "The checkpoint.") var checkpoint: String
        @Flag(help: "Also print the model file the run was started from.") var modelConfig = false
        @Option(help: "Print one layer unit by unit instead: batch norm's gamma, beta and moving statistics, a dense layer's weight norms and biases.")
        var layer: String?

        func run() throws {
            let file = try CheckpointFile.read(from: checkpoint)
            if let layer {
                print(try LayerReport.text(file.graph, layer: layer), terminator: "")
            } else {
                print(RunSummary.describe(file, includeModelConfig: modelConfig))
            }
        }
    }
}
