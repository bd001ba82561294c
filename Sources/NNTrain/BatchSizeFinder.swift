import Foundation
import NNCore

/// `nntrain batch-find`: how fast a run trains and how much memory it takes at each batch size,
/// so the batch size is chosen from measurements ("how to determine the maximum batch size for
/// a given hardware?").
///
/// For batch sizes 8, 16, … up to the training rows, it times optimizer steps on a copy of the
/// trainer (the weights are not kept) and reads the process's peak resident memory while they
/// run. The knee is the first size whose doubling gains less than `kneeGain` throughput:
/// beyond it, larger batches only cost memory and generalization.
public enum BatchSizeFinder {
    public struct Settings: Sendable {
        /// Smallest size tried; then doubling.
        public var smallest = 8
        /// Each size is timed for at least this long and at least `minimumSteps` steps.
        public var secondsPerSize = 0.5
        public var minimumSteps = 3
        /// Bytes the process may hold; larger sizes are not tried once one exceeds it.
        public var memoryBudget: Int?
        public static let kneeGain = 0.05

        public init() {}
    }

    public struct Point: Sendable, Equatable, Codable {
        public var batchSize: Int
        public var steps: Int
        public var samplesPerSecond: Double
        /// The process's peak resident memory while stepping at this size (measured).
        public var peakResidentBytes: Int?
        /// Parameters + optimizer state + activations and their gradients (computed).
        public var parameterBytes: Int
        public var optimizerBytes: Int
        public var activationBytes: Int
        public var estimatedBytes: Int { parameterBytes + optimizerBytes + activationBytes }
    }

    public struct Result: Sendable, Codable {
        public var points: [Point]
        /// The first size where doubling gains less than 5% samples/s (the largest measured if none).
        public var knee: Int?
        /// The largest size whose measured peak stayed within the budget.
        public var largestWithinBudget: Int?
        public var memoryBudget: Int?
        /// Whether each size's peak was measured on its own (clear_refs allowed) or is the
        /// process's running peak.
        public var peaksResetPerSize: Bool
        /// Why the sweep stopped before the training rows, if it did.
        public var stoppedBecause: String?
    }

    /// Powers of two from `smallest` up to `rows`.
    public static func sizes(from smallest: Int, upTo rows: Int) -> [Int] {
        var sizes: [Int] = []
        var size = max(smallest, 1)
        while size <= rows {
            sizes.append(size)
            size *= 2
        }
        return sizes
    }

    /// The first size whose doubling gains less than `gain`; the largest if every doubling gains.
    public static func knee(_ points: [Point], gain: Double = Settings.kneeGain) -> Int? {
        for (point, next) in zip(points, points.dropFirst()) where next.samplesPerSecond < point.samplesPerSecond * (1 + gain) {
            return point.batchSize
        }
        return points.last?.batchSize
    }

    public static func run(_ trainer: Trainer, settings: Settings = Settings(), progress: (Point) -> Void = { _ in }) -> Result {
        let rows = trainer.training.rows
        // The widths of every input and node: the values a row carries through the graph.
        let valuesPerRow = ((try? trainer.model.graph.validate().widths) ?? [:]).values.reduce(0, +)
        var order = Array(0..<rows)
        var rng = CounterRNG(seed: trainer.settings.seed, stream: CounterRNG.stream(epoch: 0, step: 0, layer: 0xBA7))
        TrainingData.shuffle(&order, rng: &rng)
        let resets = ProcessMemory.resetPeak()
        var points: [Point] = []
        var stoppedBecause: String?
        for size in sizes(from: settings.smallest, upTo: rows) {
            let activationBytes = 2 * valuesPerRow * size * MemoryLayout<Float>.size
            if let budget = settings.memoryBudget, let last = points.last, let peak = last.peakResidentBytes,
               peak + activationBytes - last.activationBytes > budget {
                stoppedBecause = "batch \(size) would take about \(ProcessMemory.text(peak + activationBytes - last.activationBytes)), over the budget"
                break
            }
            var trial = trainer
            var start = 0
            func nextBatch() -> TrainingData {
                if start + size > rows { start = 0 }
                defer { start += size }
                return trainer.training.subset(order[start..<start + size])
            }
            ProcessMemory.resetPeak()
            // One untimed step: first-touch page faults and optimizer slots are set-up, not throughput.
            _ = try? trial.trainStep(on: nextBatch())
            var steps = 0
            let began = DispatchTime.now().uptimeNanoseconds
            var elapsed = 0.0
            while steps < settings.minimumSteps || elapsed < settings.secondsPerSize {
                // A diverging loss stops the step before the update; the work is the same.
                _ = try? trial.trainStep(on: nextBatch())
                steps += 1
                elapsed = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
            }
            let optimizerBytes = trial.optimizer.slots.values.reduce(0) { total, slots in
                total + slots.values.reduce(0) { $0 + $1.count * MemoryLayout<Float>.size }
            }
            let point = Point(batchSize: size, steps: steps, samplesPerSecond: Double(steps * size) / elapsed,
                              peakResidentBytes: ProcessMemory.peakResidentBytes,
                              parameterBytes: trial.model.graph.parameterCount * MemoryLayout<Float>.size,
                              optimizerBytes: optimizerBytes, activationBytes: activationBytes)
            points.append(point)
            progress(point)
            if let budget = settings.memoryBudget, let peak = point.peakResidentBytes, peak > budget {
                stoppedBecause = "batch \(size) peaked at \(ProcessMemory.text(peak)), over the budget"
                break
            }
        }
        var within = points.last?.batchSize
        if let budget = settings.memoryBudget { within = points.last { ($0.peakResidentBytes ?? 0) <= budget }?.batchSize }
        return Result(points: points, knee: knee(points), largestWithinBudget: within, memoryBudget: settings.memoryBudget,
                      peaksResetPerSize: resets, stoppedBecause: stoppedBecause)
    }
}

extension BatchSizeFinder.Result {
    /// Samples per second against the batch size (a `LineChart`, log-scale sizes), the knee and
    /// the largest size within the memory budget marked.
    public func svg(title: String) -> String {
        var chart = LineChart(title: title, xLabel: "batch size", yLabel: "samples/s", xScale: .log)
        chart.xTicks = points.map { Double($0.batchSize) }
        chart.series = [.init(name: "samples/s", color: "#08519c", points: points.map { (Double($0.batchSize), $0.samplesPerSecond) }, width: 2.5)]
        if let knee { chart.markers.append(.init(x: Double(knee), label: "knee \(knee)")) }
        if memoryBudget != nil, let largestWithinBudget, largestWithinBudget != knee {
            chart.markers.append(.init(x: Double(largestWithinBudget), label: "budget \(largestWithinBudget)", color: "#2ca02c"))
        }
        return chart.svg()
    }
}
