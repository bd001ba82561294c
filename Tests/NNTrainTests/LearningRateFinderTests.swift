import Foundation
import NNCore
@testable import NNTrain
import XCTest

/// The learning-rate sweep against hand-computed values: its rates, its smoothing, its
/// stopping rule and its suggestion; then one real sweep on digits.
final class LearningRateFinderTests: XCTestCase {
    func testRatesGrowExponentiallyFromMinToMax() {
        var settings = LearningRateFinder.Settings()
        settings.minRate = 1e-4
        settings.maxRate = 1
        let rates = (0..<5).map { LearningRateFinder.rate(step: $0, of: 5, settings: settings) }
        for (rate, expected) in zip(rates, [Float(1e-4), 1e-3, 1e-2, 1e-1, 1]) {
            XCTAssertEqual(rate, expected, accuracy: expected * 1e-5)
        }
    }

    func testSmoothingIsABiasCorrectedMovingAverage() {
        // β = 0.5: averages 0.5, 1.25, 2.125; corrected by 1 - β^(i+1) = 0.5, 0.75, 0.875.
        let smoothed = LearningRateFinder.smooth([1, 2, 3], beta: 0.5)
        XCTAssertEqual(smoothed[0], 1, accuracy: 1e-12)
        XCTAssertEqual(smoothed[1], 1.25 / 0.75, accuracy: 1e-12)
        XCTAssertEqual(smoothed[2], 2.125 / 0.875, accuracy: 1e-12)
    }

    private func curve(_ losses: [Double], rates: [Float]) -> [LearningRateFinder.Point] {
        zip(losses.indices, zip(rates, losses)).map { LearningRateFinder.Point(step: $0, rate: $1.0, loss: $1.1, smoothed: $1.1) }
    }

    /// Rates 1e-6 … 1e0, a decade per 2 points; the loss falls fastest between 1e-3 and 1e-2.
    private let rates: [Float] = (0...12).map { Float(pow(10.0, -6 + Double($0) / 2)) }
    private let losses: [Double] = [2.30, 2.30, 2.29, 2.28, 2.25, 2.15, 1.60, 0.90, 0.60, 0.50, 0.55, 1.50, 9.0]

    func testRulesReadTheCurveAndTheLadderHangsBelowItsMinimum() {
        let points = curve(losses, rates: rates)
        // Central differences per decade: index 6 spans 2.15 → 0.90 over one decade (-1.25),
        // the most negative before the minimum at index 9 (rate 10^-1.5).
        XCTAssertEqual(LearningRateFinder.steepestIndex(points, before: 9), 6)
        XCTAssertEqual(LearningRateFinder.minimumIndex(points), 9)
        // The longest strictly falling subsequence runs from index 0 (2.30) over 2…9 to the
        // minimum (0.50): its middle is index 4.
        XCTAssertEqual(LearningRateFinder.valleyIndex(points), 4)
        let candidates = LearningRateFinder.candidates(points)
        let minimum = Double(rates[9])
        // minimum/30 … minimum/3000; steepest (10^-3) merges with minimum/30 (10^-2.98), the
        // valley (10^-4) with minimum/300 (10^-4.0), each keeping the lower rate.
        XCTAssertEqual(candidates.map(\.label), ["minimum/3000", "minimum/1000", "valley = minimum/300", "minimum/100", "steepest = minimum/30"])
        for (candidate, divisor) in zip(candidates, [3000.0, 1000, 300, 100, 30]) where candidate.rules.count == 1 {
            XCTAssertEqual(Double(candidate.rate), minimum / divisor, accuracy: minimum / divisor * 1e-5)
        }
        XCTAssertEqual(candidates[4].rate, rates[6], "the merged candidate keeps the steepest rate")
        XCTAssertEqual(candidates.map(\.rate), candidates.map(\.rate).sorted())
        // A minimum in the first tenth of the sweep is the average settling, not the curve.
        var settling = losses + Array(repeating: 9.0, count: 7)
        settling[0] = 0.1
        let later = LearningRateFinder.minimumIndex(curve(settling, rates: rates + Array(repeating: 1, count: 7)))
        XCTAssertEqual(later, 9)
        XCTAssertTrue(LearningRateFinder.candidates(curve([1, 2], rates: [1e-3, 1e-2])).isEmpty)
    }

    func testTrialsKeepTheLowestRateNearTheBestLoss() {
        func candidates(_ losses: [Double?]) -> [LearningRateFinder.Candidate] {
            losses.enumerated().map { LearningRateFinder.Candidate(rate: Float($0.offset + 1), rules: ["r\($0.offset)"], trialLoss: $0.element) }
        }
        // From an initial 2.0, the best is index 2 (0.50); index 1 (0.56) is within 15% of it and
        // made 96% of its progress, index 0 (0.70) is not.
        let chosen = LearningRateTrials.pick(candidates([0.70, 0.56, 0.50, 0.8]), initial: 2)
        XCTAssertEqual(chosen?.index, 1)
        XCTAssertTrue(chosen?.reason?.contains("r2 (3) reached 0.5") ?? false, chosen?.reason ?? "")
        XCTAssertEqual(LearningRateTrials.pick(candidates([0.70, 0.60, 0.50]), initial: 2)?.index, 2)
        XCTAssertNil(LearningRateTrials.pick(candidates([0.70, 0.60, 0.50]), initial: 2)?.reason)
        // On a plateau (initial 2.45) 2.31 is within 15% of 2.06 but made a third of its progress.
        XCTAssertEqual(LearningRateTrials.pick(candidates([2.31, 2.06]), initial: 2.45)?.index, 1)
        // Diverged trials never win, and with none finite there is no choice.
        XCTAssertEqual(LearningRateTrials.pick(candidates([.infinity, 0.9, .infinity]), initial: 2)?.index, 1)
        XCTAssertNil(LearningRateTrials.pick(candidates([.infinity, nil]), initial: 2))
    }

    private var datasets: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../datasets").standardized.path
    }

    private func digitsSpec() throws -> ModelSpec {
        try ModelSpec.decode(json: try Data(contentsOf: URL(fileURLWithPath: datasets + "/../examples/digits.json")), file: "digits.json")
    }

    func testASweepOnDigitsConfirmsACandidateItCanTrainWith() throws {
        var settings = TrainingSettings()
        settings.epochs = 3
        let trainer = try Trainer(spec: try digitsSpec(), table: try CSVTable.read(datasets + "/digits.csv"), settings: settings)
        var sweep = LearningRateFinder.Settings()
        sweep.steps = 44
        sweep.trialSteps = 40
        let result = LearningRateFinder.run(trainer, settings: sweep)
        XCTAssertGreaterThan(result.points.count, 20)
        XCTAssertEqual(result.points.first?.rate ?? 0, 1e-7, accuracy: 1e-12)
        // The loss stays near ln(10) at tiny rates, and falls well below it within the sweep.
        XCTAssertGreaterThan(result.points[0].smoothed, 1.8)
        XCTAssertLessThan(result.points.map(\.smoothed).min()!, 0.75 * result.points[0].smoothed)
        // A 44-step sweep over 8 decades is said to be coarse.
        XCTAssertTrue(result.notes.contains { $0.hasPrefix("a 44-step sweep multiplies the rate by 1.5 per step") }, "\(result.notes)")
        // Every candidate was tried, the suggestion is one of them, with the lowest loss or within 15% of it.
        XCTAssertGreaterThanOrEqual(result.candidates.count, 3)
        let losses = result.candidates.map { $0.trialLoss ?? .nan }
        XCTAssertTrue(losses.allSatisfy { !$0.isNaN }, "\(losses)")
        let chosen = try XCTUnwrap(result.candidates.first { $0.rate == result.suggestion })
        XCTAssertLessThanOrEqual(chosen.trialLoss!, losses.min()! * 1.15)
        XCTAssertEqual(result.trialMetric, "val_loss")
        XCTAssertTrue(result.rule.contains("confirmed"), result.rule)
        XCTAssertTrue((1e-4...0.1).contains(result.suggestion), "suggested \(result.suggestion)")
        // The sweep did not train the trainer it was given.
        XCTAssertEqual(trainer.optimizer.step, 0)
        // And the suggestion trains: 3 epochs at it reach a sensible accuracy.
        settings.learningRate = result.suggestion
        var fit = try Trainer(spec: try digitsSpec(), table: try CSVTable.read(datasets + "/digits.csv"), settings: settings)
        try fit.fit(checkpoint: nil)
        XCTAssertGreaterThan(fit.history.last?.metrics["val_accuracy"] ?? 0, 0.85)
    }

    /// Wine's epoch is 5 steps: the sweep runs 100 over 20 epochs, and says so.
    func testAShortEpochLengthensTheSweepAloud() throws {
        let text = #"{"inputs": [{"name": "x"}], "layers": [{"name": "h", "type": "dense", "inputs": ["x"], "units": 16, "activation": "relu"}, {"name": "p", "type": "dense", "inputs": ["h"], "units": 3, "activation": "softmax"}], "outputs": [{"name": "label", "node": "p", "loss": "sparse_categorical_crossentropy"}]}"#
        let spec = try ModelSpec.decode(json: Data(text.utf8), file: "wine.json")
        let trainer = try Trainer(spec: spec, table: try CSVTable.read(datasets + "/wine.csv"), settings: TrainingSettings())
        XCTAssertEqual(trainer.stepsPerEpoch, 5)
        var sweep = LearningRateFinder.Settings()
        sweep.confirm = false
        let result = LearningRateFinder.run(trainer, settings: sweep)
        XCTAssertEqual(result.notes.first, "one epoch is 5 steps (142 rows at batch 32), too few to read a curve: the sweep runs 100 steps, 20.0 epochs")
        XCTAssertGreaterThan(result.points.count, 50)
        XCTAssertTrue(result.rule.hasSuffix("unconfirmed"), result.rule)
    }

    /// Issue 27's case: three heads on digits, where the steepest descent (0.1) trained to 0.279
    /// label accuracy. The confirmed rate trains to 0.95 and more, and the run has a total val_loss.
    func testAutoRateTrainsTheThreeHeadModel() throws {
        let lines = try String(contentsOfFile: datasets + "/digits.csv", encoding: .utf8).split(separator: "\n")
        let label = lines[0].split(separator: ",").firstIndex(of: "label")!
        var text = String(lines[0]) + ",parity,loop\n"
        for line in lines.dropFirst() {
            let digit = Int(line.split(separator: ",")[label])!
            text += line + ",\(digit % 2),\([0, 6, 8, 9].contains(digit) ? 1 : 0)\n"
        }
        let table = try CSVTable.parse(text, file: "digits-tasks.csv")
        let pixels = (0..<64).map { "\"px\($0)\"" }.joined(separator: ", ")
        let json = """
        {"inputs": [{"name": "pixels", "columns": [\(pixels)]}],
         "layers": [{"name": "h1", "type": "dense", "inputs": ["pixels"], "units": 64, "activation": "relu"},
                    {"name": "h2", "type": "dense", "inputs": ["h1"], "units": 64, "activation": "relu"},
                    {"name": "label_head", "type": "dense", "inputs": ["h2"], "units": 10, "activation": "softmax"},
                    {"name": "parity_head", "type": "dense", "inputs": ["h2"], "units": 1, "activation": "sigmoid"},
                    {"name": "loop_head", "type": "dense", "inputs": ["h2"], "units": 1, "activation": "sigmoid"}],
         "outputs": [{"name": "label", "node": "label_head", "loss": "sparse_categorical_crossentropy"},
                     {"name": "parity", "node": "parity_head", "loss": "binary_crossentropy", "weight": 0.5},
                     {"name": "loop", "node": "loop_head", "loss": "binary_crossentropy"}]}
        """
        let spec = try ModelSpec.decode(json: Data(json.utf8), file: "multitask.json")
        var settings = TrainingSettings()
        settings.epochs = 15
        var trainer = try Trainer(spec: spec, table: table, settings: settings)
        let sweep = LearningRateFinder.run(trainer)
        try trainer.useRate(from: sweep)
        XCTAssertLessThan(sweep.suggestion, 0.05, sweep.rule)
        try trainer.fit(checkpoint: nil)
        let metrics = trainer.history.last?.metrics ?? [:]
        XCTAssertGreaterThanOrEqual(metrics["val_label_accuracy"] ?? 0, 0.95, "at \(sweep.suggestion): \(sweep.rule)")
        // The total is Σ weight × head loss, as trained.
        let total = metrics["val_label_loss"]! + 0.5 * metrics["val_parity_loss"]! + metrics["val_loop_loss"]!
        XCTAssertEqual(metrics["val_loss"] ?? .nan, total, accuracy: 1e-9)
        XCTAssertTrue(try trainer.monitorableMetrics().contains("val_loss"))
    }

    /// `fit --lr auto`: the trainer takes the sweep's suggestion before its first step, and the
    /// checkpoint keeps the choice (shown by summary, kept by resume).
    func testAutoRateIsUsedAndRecordedInTheCheckpoint() throws {
        let spec = try digitsSpec()
        var settings = TrainingSettings()
        settings.epochs = 1
        let table = try CSVTable.read(datasets + "/digits.csv")
        var trainer = try Trainer(spec: spec, table: table, settings: settings)
        var sweep = LearningRateFinder.Settings()
        sweep.steps = 30
        sweep.trialSteps = 10
        let result = LearningRateFinder.run(trainer, settings: sweep)
        try trainer.useRate(from: result)
        XCTAssertEqual(trainer.settings.learningRate, result.suggestion)
        XCTAssertEqual(trainer.optimizer.learningRate, result.suggestion)
        try trainer.fit(checkpoint: nil)
        let checkpoint = trainer.checkpointFile()
        XCTAssertTrue(RunSummary.describe(checkpoint).contains(String(format: "learning rate %.3g chosen by lr-find over %d steps", result.suggestion, result.points.count)))
        let resumed = try Trainer.resume(checkpoint, table: table, additionalEpochs: 1)
        XCTAssertEqual(resumed.rateSweep, LearningRateFinder.Record(result))
        XCTAssertEqual(resumed.settings.learningRate, result.suggestion)
    }

    /// A diverged trial's loss is +∞, which plain JSON cannot hold: the record kept it anyway
    /// (it was dropped from the checkpoint in silence).
    func testARecordWithADivergedTrialSurvivesTheCheckpoint() throws {
        var settings = TrainingSettings()
        settings.epochs = 1
        var trainer = try Trainer(spec: try digitsSpec(), table: try CSVTable.read(datasets + "/digits.csv"), settings: settings)
        let points = curve(losses, rates: rates)
        var candidates = LearningRateFinder.candidates(points)
        candidates[candidates.count - 1].trialLoss = .infinity
        candidates[0].trialLoss = 0.5
        try trainer.useRate(from: LearningRateFinder.Result(points: points, candidates: candidates, suggestion: candidates[0].rate,
                                                            rule: "test", stop: "test"))
        let stored = try XCTUnwrap(trainer.checkpointFile().state.rateSweep)
        XCTAssertEqual(stored.candidates?.last?.trialLoss, .infinity)
        XCTAssertEqual(stored.candidates?.first?.trialLoss, 0.5)
    }

    func testPlotsCarryBothCurvesAndEveryCandidate() throws {
        var points = curve(losses, rates: rates)
        // A raw loss above every smoothed value before the minimum must stay inside the chart.
        points[7].loss = 3.1
        var candidates = LearningRateFinder.candidates(points)
        for index in candidates.indices { candidates[index].trialLoss = 1 + Double(index) }
        candidates[0].trialLoss = .infinity
        let result = LearningRateFinder.Result(points: points, candidates: candidates, suggestion: candidates[1].rate, rule: "test", stop: "test")
        let range = LearningRatePlot.lossRange(points)
        XCTAssertGreaterThanOrEqual(range.high, 3.1)
        XCTAssertLessThan(range.high, 9.0, "the divergence after the minimum is clipped")
        let svg = LearningRatePlot.svg(result, title: "a <test>")
        XCTAssertTrue(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        XCTAssertTrue(svg.contains("a &lt;test&gt;"))
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 2, "raw and smoothed curves")
        XCTAssertTrue(svg.contains(String(format: "chosen %@ %.3g: trial 2", candidates[1].label, candidates[1].rate)), svg)
        XCTAssertTrue(svg.contains(String(format: "%@ %.3g: trial diverged", candidates[0].label, candidates[0].rate)))
        XCTAssertEqual(svg.components(separatedBy: "stroke-dasharray").count - 1, candidates.count)
        for decade in -6...0 { XCTAssertTrue(svg.contains(">1e\(decade)</text>"), "decade 1e\(decade) labelled") }
        XCTAssertEqual(LearningRatePlot.csv(result).split(separator: "\n").count, 14)
        let chart = LearningRatePlot.terminal(result, columns: 40, rows: 10)
        XCTAssertEqual(chart.split(separator: "\n").count, 12)
        XCTAssertTrue(chart.contains("*") && chart.contains("|") && chart.contains("."))
        let table = LearningRatePlot.candidateTable(result)
        XCTAssertTrue(table.contains("<- chosen") && table.contains("diverged"), table)
    }
}
