import ArgumentParser
import Foundation
import NNTrain

extension NNTrainCommand {
    struct LearningRateFind: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "lr-find",
            abstract: "Find the learning rate: an exponential sweep within one epoch, with a suggestion, a chart, CSV and SVG.",
            discussion: """
            Trains the model `fit` would train, from its initial weights, for at most one epoch \
            (--steps), multiplying the rate each step from --min-lr to --max-lr, and stops when the \
            smoothed loss exceeds 4× its minimum. Suggests the rate where the smoothed loss falls \
            fastest (against log rate), with a tenth of the rate at its minimum as a cross-check. \
            The weights are not kept.
            """)

        @OptionGroup var training: TrainingFlags
        @Option(help: "First rate of the sweep.") var minLr: Float = 1e-7
        @Option(help: "Last rate of the sweep.") var maxLr: Float = 10
        @Option(help: "Steps of the sweep (default: one epoch, at most 300).") var steps: Int?
        @Option(help: "Write the curve as CSV here.") var csv = "lr-find.csv"
        @Option(help: "Write the plot as SVG here.") var svg = "lr-find.svg"
        @OptionGroup var options: RunOptions

        func validate() throws {
            guard minLr > 0, maxLr > minLr, maxLr.isFinite else {
                throw ValidationError("--min-lr \(minLr) --max-lr \(maxLr): need 0 < min-lr < max-lr")
            }
            if let steps, steps < 2 { throw ValidationError("--steps \(steps): a sweep needs at least 2 steps") }
        }

        func run() throws {
            options.apply()
            let trainer = try training.trainer()
            var settings = LearningRateFinder.Settings()
            settings.minRate = minLr
            settings.maxRate = maxLr
            settings.steps = steps
            let total = steps ?? min(trainer.stepsPerEpoch, 300)
            let result = LearningRateFinder.run(trainer, settings: settings) { point in
                if point.step % max(1, total / 10) == 0 {
                    FileHandle.standardError.write(Data(String(format: "step %d/%d  lr %.3g  loss %.4f\n", point.step + 1, total, point.rate, point.smoothed).utf8))
                }
            }
            guard !result.points.isEmpty else { throw ValidationError("the loss was not finite at the first rate \(minLr); lower --min-lr") }
            let name = URL(fileURLWithPath: training.model).deletingPathExtension().lastPathComponent
            try LearningRatePlot.csv(result).write(toFile: csv, atomically: true, encoding: .utf8)
            try LearningRatePlot.svg(result, title: "lr-find: \(name), \(training.optimizer), batch \(training.batchSize)")
                .write(toFile: svg, atomically: true, encoding: .utf8)
            print(LearningRatePlot.terminal(result), terminator: "")
            print(String(format: "%d steps, %@", result.points.count, result.stop))
            print(String(format: "suggested learning rate %.3g: %@", result.suggestion, result.rule))
            print("wrote \(csv) and \(svg)")
            if options.json {
                printJSON(["suggested_lr": Double(result.suggestion), "steepest_lr": Double(result.steepest),
                           "minimum_over_ten_lr": Double(result.minimumOverTen), "steps": Double(result.points.count)],
                          extra: ["csv": csv, "svg": svg])
            }
        }
    }
}
