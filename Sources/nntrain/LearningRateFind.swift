import ArgumentParser
import Foundation
import NNTrain

extension NNTrainCommand {
    struct LearningRateFind: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "lr-find",
            abstract: "Find the learning rate: an exponential sweep within one epoch, with a suggestion, a chart, CSV and SVG.",
            discussion: """
            Trains the model `fit` would train, from its initial weights, for one epoch (--steps; \
            at least 100 steps, over several epochs when one is shorter, said aloud), multiplying \
            the rate each step from --min-lr to --max-lr, and stops when the smoothed loss exceeds \
            4× its minimum. Candidates: a ladder of half-decades from minimum/30 to minimum/3000, \
            with the steepest descent and the valley (the middle of the longest descent) where they \
            fall in it. Each candidate trains a short trial from the same initial weights \
            (--trial-steps), and the lowest rate whose validation loss is within 15% of the best \
            trial's wins. The weights are not kept.
            """)

        @OptionGroup var training: TrainingFlags
        @Option(help: "First rate of the sweep.") var minLr: Float = 1e-7
        @Option(help: "Last rate of the sweep.") var maxLr: Float = 10
        @Option(help: "Steps of the sweep (default: one epoch, at least 100, at most 300).") var steps: Int?
        @Option(help: "Steps of each confirmation trial (default: the rest of the epoch, shared, at least 100).") var trialSteps: Int?
        @Flag(help: "Skip the confirmation trials: suggest the steepest descent (when it lies in the ladder's range, else minimum/100).") var noConfirm = false
        @Option(help: "Write the curve as CSV here.") var csv = "lr-find.csv"
        @Option(help: "Write the plot as SVG here.") var svg = "lr-find.svg"
        @OptionGroup var options: RunOptions

        func validate() throws {
            guard minLr > 0, maxLr > minLr, maxLr.isFinite else {
                throw ValidationError("--min-lr \(minLr) --max-lr \(maxLr): need 0 < min-lr < max-lr")
            }
            if let steps, steps < 2 { throw ValidationError("--steps \(steps): a sweep needs at least 2 steps") }
            if let trialSteps, trialSteps < 1 { throw ValidationError("--trial-steps \(trialSteps): a trial needs at least 1 step") }
        }

        func run() throws {
            options.apply()
            let trainer = try training.trainer()
            var settings = LearningRateFinder.Settings()
            settings.minRate = minLr
            settings.maxRate = maxLr
            settings.steps = steps
            settings.trialSteps = trialSteps
            settings.confirm = !noConfirm
            let result = LearningRateFinder.run(trainer, settings: settings, progress: LearningRateProgress.printer())
            guard !result.points.isEmpty else { throw ValidationError("the loss was not finite at the first rate \(minLr); lower --min-lr") }
            let name = URL(fileURLWithPath: training.model).deletingPathExtension().lastPathComponent
            try LearningRatePlot.csv(result).write(toFile: csv, atomically: true, encoding: .utf8)
            try LearningRatePlot.svg(result, title: "lr-find: \(name), \(training.optimizer), batch \(training.batchSize)")
                .write(toFile: svg, atomically: true, encoding: .utf8)
            print(LearningRatePlot.terminal(result), terminator: "")
            print(String(format: "%d steps, %@", result.points.count, result.stop))
            print(LearningRatePlot.candidateTable(result), terminator: "")
            for note in result.notes { print("note: \(note)") }
            print(String(format: "suggested learning rate %.3g: %@", result.suggestion, result.rule))
            print("wrote \(csv) and \(svg)")
            if options.json {
                var values = ["suggested_lr": Double(result.suggestion), "steps": Double(result.points.count)]
                if let rate = result.steepestRate { values["steepest_lr"] = Double(rate) }
                if let rate = result.valleyRate { values["valley_lr"] = Double(rate) }
                if let minimum = result.minimumRate {
                    values["minimum_lr"] = Double(minimum)
                    values["minimum_over_ten_lr"] = Double(minimum / 10)
                }
                printJSON(values, extra: ["csv": csv, "svg": svg])
            }
        }
    }
}

/// The sweep's and the trials' progress on standard error: a line every tenth of the sweep,
/// one per trial.
enum LearningRateProgress {
    static func printer() -> (LearningRateFinder.Progress) -> Void {
        { event in
            switch event {
            case .sweep(let point, let total):
                if point.step % max(1, total / 10) == 0 {
                    FileHandle.standardError.write(Data(String(format: "step %d/%d  lr %.3g  loss %.4f\n", point.step + 1, total, point.rate, point.smoothed).utf8))
                }
            case .trial(let candidate, let steps):
                let loss = candidate.trialLoss.map { $0.isFinite ? String(format: "%.4f", $0) : "diverged" } ?? "-"
                FileHandle.standardError.write(Data(String(format: "trial %@ lr %.3g: %d steps, loss %@\n", candidate.label, candidate.rate, steps, loss).utf8))
            }
        }
    }
}

