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

    func testSuggestionIsTheSteepestDescentBeforeTheMinimum() {
        // Rates 1e-6 … 1e0 (a decade per 2 points); the loss falls fastest between 1e-3 and 1e-2.
        let rates: [Float] = (0...12).map { Float(pow(10.0, -6 + Double($0) / 2)) }
        let losses: [Double] = [2.30, 2.30, 2.29, 2.28, 2.25, 2.15, 1.60, 0.90, 0.60, 0.50, 0.55, 1.50, 9.0]
        let (steepest, minimumOverTen, suggestion, rule) = LearningRateFinder.suggest(curve(losses, rates: rates))
        // Central differences per decade: index 6 spans 2.15 → 0.90 over one decade (-1.25),
        // the most negative before the minimum at index 9 (rate 10^-1.5).
        XCTAssertEqual(steepest, rates[6], accuracy: rates[6] * 1e-5)
        XCTAssertEqual(suggestion, steepest)
        XCTAssertEqual(minimumOverTen, rates[9] / 10, accuracy: rates[9] * 1e-6)
        XCTAssertTrue(rule.hasPrefix("steepest descent"), rule)
        // A minimum in the first steps leaves no slope to read: minimum/10 is the suggestion.
        let early = LearningRateFinder.suggest(curve([1.0, 0.5, 3, 9, 20, 40], rates: Array(rates.prefix(6))))
        XCTAssertEqual(early.suggestion, rates[1] / 10, accuracy: rates[1] * 1e-6)
        XCTAssertTrue(early.rule.hasPrefix("minimum/10"), early.rule)
    }

    func testASweepOnDigitsStopsOnDivergenceAndSuggestsARateItCanTrainWith() throws {
        let datasets = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../datasets").standardized.path
        let spec = try ModelSpec.decode(json: try Data(contentsOf: URL(fileURLWithPath: datasets + "/../examples/digits.json")), file: "digits.json")
        var settings = TrainingSettings()
        settings.epochs = 3
        let trainer = try Trainer(spec: spec, table: try CSVTable.read(datasets + "/digits.csv"), settings: settings)
        var sweep = LearningRateFinder.Settings()
        sweep.steps = 44
        let result = LearningRateFinder.run(trainer, settings: sweep)
        XCTAssertGreaterThan(result.points.count, 20)
        XCTAssertEqual(result.points.first?.rate ?? 0, 1e-7, accuracy: 1e-12)
        // The loss stays near ln(10) at tiny rates, and falls well below it within the sweep.
        XCTAssertGreaterThan(result.points[0].smoothed, 1.8)
        XCTAssertLessThan(result.points.map(\.smoothed).min()!, 0.75 * result.points[0].smoothed)
        XCTAssertTrue((1e-4...1).contains(result.suggestion), "suggested \(result.suggestion)")
        // The sweep did not train the trainer it was given.
        XCTAssertEqual(trainer.optimizer.step, 0)
        // And the suggestion trains: 3 epochs at it reach a sensible accuracy.
        settings.learningRate = result.suggestion
        var fit = try Trainer(spec: spec, table: try CSVTable.read(datasets + "/digits.csv"), settings: settings)
        try fit.fit(checkpoint: nil)
        XCTAssertGreaterThan(fit.history.last?.metrics["val_accuracy"] ?? 0, 0.85)
    }

    /// `fit --lr auto`: the trainer takes the sweep's suggestion before its first step, and the
    /// checkpoint keeps the choice (shown by summary, kept by resume).
    func testAutoRateIsUsedAndRecordedInTheCheckpoint() throws {
        let datasets = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../datasets").standardized.path
        let spec = try ModelSpec.decode(json: try Data(contentsOf: URL(fileURLWithPath: datasets + "/../examples/digits.json")), file: "digits.json")
        var settings = TrainingSettings()
        settings.epochs = 1
        let table = try CSVTable.read(datasets + "/digits.csv")
        var trainer = try Trainer(spec: spec, table: table, settings: settings)
        var sweep = LearningRateFinder.Settings()
        sweep.steps = 30
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

    func testPlotsCarryTheCurveAndTheSuggestion() throws {
        let rates: [Float] = (0...12).map { Float(pow(10.0, -6 + Double($0) / 2)) }
        let points = curve([2.30, 2.30, 2.29, 2.28, 2.25, 2.15, 1.60, 0.90, 0.60, 0.50, 0.55, 1.50, 9.0], rates: rates)
        let (steepest, minimumOverTen, suggestion, rule) = LearningRateFinder.suggest(points)
        let result = LearningRateFinder.Result(points: points, steepest: steepest, minimumOverTen: minimumOverTen,
                                               suggestion: suggestion, rule: rule, stop: "test")
        let svg = LearningRatePlot.svg(result, title: "a <test>")
        XCTAssertTrue(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        XCTAssertTrue(svg.contains("a &lt;test&gt;"))
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 2, "raw and smoothed curves")
        XCTAssertTrue(svg.contains(String(format: "suggested %.3g", suggestion)))
        for decade in -6...0 { XCTAssertTrue(svg.contains(">1e\(decade)</text>"), "decade 1e\(decade) labelled") }
        XCTAssertEqual(LearningRatePlot.csv(result).split(separator: "\n").count, 14)
        let chart = LearningRatePlot.terminal(result, columns: 40, rows: 10)
        XCTAssertEqual(chart.split(separator: "\n").count, 12)
        XCTAssertTrue(chart.contains("*") && chart.contains("|"))
    }
}
