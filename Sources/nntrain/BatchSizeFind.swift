import ArgumentParser
import Foundation
import NNCore
import NNTrain

extension NNTrainCommand {
    struct BatchSizeFind: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "batch-find",
            abstract: "Throughput and peak memory per batch size (8, 16, … the training rows), the knee, and the largest size within a memory budget.",
            discussion: """
            Times optimizer steps of the model `fit` would train at each batch size (the weights \
            are not kept) and reads the process's peak resident memory while they run (measured; \
            next to it, the computed parameters + optimizer state + activations). The knee is the \
            first size whose doubling gains less than 5% samples/s. A larger batch takes a larger \
            rate: `fit --scale-lr linear --base-batch-size B` scales --lr found at batch B.
            """)

        @OptionGroup var training: TrainingFlags
        @Option(help: "Memory the process may use (e.g. 512MB, 2GiB, or bytes); larger sizes are not tried past it.") var memoryBudget: MemoryAmount?
        @Option(help: "Time each batch size for at least this long.") var secondsPerSize = 0.5
        @Option(help: "Write samples/s per batch size, with the knee marked, as SVG here.") var svg = "batch-find.svg"
        @Option(help: "Smallest batch size (then doubling).") var smallest = 8
        @OptionGroup var options: RunOptions

        func validate() throws {
            guard smallest >= 1 else { throw ValidationError("--smallest \(smallest): batch sizes start at 1 or more") }
            guard secondsPerSize > 0, secondsPerSize.isFinite else { throw ValidationError("--seconds-per-size \(secondsPerSize): must be positive") }
        }

        func run() throws {
            options.apply()
            let trainer = try training.trainer()
            var settings = BatchSizeFinder.Settings()
            settings.smallest = smallest
            settings.secondsPerSize = secondsPerSize
            settings.memoryBudget = memoryBudget?.bytes
            // Unbuffered, so each row shows as it is measured.
            func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
            say("batch   steps  samples/s    peak RSS    estimate (params + optimizer + activations)")
            let result = BatchSizeFinder.run(trainer, settings: settings) { point in
                say(String(format: "%-7d %-6d %-12.0f %-11@ %@ (%@ + %@ + %@)", point.batchSize, point.steps, point.samplesPerSecond,
                             point.peakResidentBytes.map(ProcessMemory.text) ?? "-", ProcessMemory.text(point.estimatedBytes),
                             ProcessMemory.text(point.parameterBytes), ProcessMemory.text(point.optimizerBytes), ProcessMemory.text(point.activationBytes)))
            }
            guard !result.points.isEmpty else { throw ValidationError("no batch size from \(smallest) fits the \(trainer.trainingRows) training rows") }
            if !result.peaksResetPerSize { say("(peak RSS is the process's running peak: /proc/self/clear_refs cannot be written here)") }
            if let reason = result.stoppedBecause { say("stopped: \(reason)") }
            if let knee = result.knee {
                let index = result.points.firstIndex { $0.batchSize == knee }!
                let gain = index + 1 < result.points.count ? String(format: "doubling to %d gains %+.0f%%", result.points[index + 1].batchSize,
                                                                    100 * (result.points[index + 1].samplesPerSecond / result.points[index].samplesPerSecond - 1)) : "the largest measured"
                say("knee: batch \(knee) (\(gain); the knee is where doubling gains < 5%)")
                if knee != training.batchSize {
                    say("to train at batch \(knee) with the rate chosen at batch \(training.batchSize): --batch-size \(knee) --scale-lr linear --base-batch-size \(training.batchSize)")
                }
            }
            if let budget = result.memoryBudget {
                say("largest batch within --memory-budget \(memoryBudget?.argument ?? "") (\(ProcessMemory.text(budget))): \(result.largestWithinBudget.map(String.init) ?? "none")")
            }
            try result.svg(title: "batch-find: \((training.model as NSString).lastPathComponent), \(training.optimizer)").write(toFile: svg, atomically: true, encoding: .utf8)
            say("wrote \(svg)")
            if options.json, let data = try? JSONEncoder().encode(result) { say(String(decoding: data, as: UTF8.self)) }
        }
    }
}

/// `--memory-budget 512MB`, read by `ProcessMemory.bytes(in:)`.
struct MemoryAmount: ExpressibleByArgument {
    var bytes: Int
    /// As the user wrote it.
    var argument: String

    init?(argument: String) {
        guard let bytes = ProcessMemory.bytes(in: argument) else { return nil }
        self.bytes = bytes
        self.argument = argument
    }
}
