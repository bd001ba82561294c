import Foundation
import NNCore
import NNTrain
@testable import NNTune
import XCTest

final class SearchSpaceTests: XCTestCase {
    private func space(_ json: String) throws -> SearchSpace { try SearchSpace.decode(json: Data(json.utf8), file: "s.json") }

    private func refusal(_ json: String) -> String {
        do {
            _ = try space(json)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    func testReadsEveryKindOfDistribution() throws {
        let decoded = try space("""
            {"learning_rate": {"log_uniform": [1e-4, 1e-1]}, "dropout": {"uniform": [0, 0.5]},
             "batch_size": {"choice": [64, 16, 32]}, "activation": {"choice": ["relu", "selu"]}, "units.hidden1": {"choice": [8]}}
            """)
        XCTAssertEqual(decoded.parameters.map(\.name), ["activation", "batch_size", "dropout", "learning_rate", "units.hidden1"])
        XCTAssertEqual(decoded.distribution(of: "learning_rate"), .logUniform(low: 1e-4, high: 1e-1))
        XCTAssertEqual(decoded.distribution(of: "batch_size"), .choice([.number(16), .number(32), .number(64)]), "numeric choices in order")
        XCTAssertEqual(decoded.distribution(of: "activation"), .choice([.text("relu"), .text("selu")]))
    }

    func testRefusesWhatNoStudyCanUseNamingTheValue() {
        XCTAssertEqual(refusal(#"{"learning_rte": {"log_uniform": [1e-4, 1e-1]}}"#),
                       "s.json: unknown hyperparameter 'learning_rte' (did you mean 'learning_rate'?); a space has learning_rate, batch_size, dropout, l2, momentum, units, layers, activation, optimizer, units.<layer>")
        XCTAssertEqual(refusal(#"{"dropout": {"uniform": [0.5, 0.1]}}"#), "s.json: 'dropout': the range [0.5, 0.1] is inverted; low must be below high")
        XCTAssertEqual(refusal(#"{"dropout": {"uniform": [0.3, 0.3]}}"#), "s.json: 'dropout': the range [0.3, 0.3] is empty; low must be below high")
        XCTAssertEqual(refusal(#"{"learning_rate": {"log_uniform": [0, 0.1]}}"#), "s.json: 'learning_rate': log_uniform needs low > 0, got 0.0")
        XCTAssertEqual(refusal(#"{"units": {"choice": []}}"#), "s.json: 'units': choice takes a non-empty list")
        XCTAssertEqual(refusal(#"{"units": {"choice": [16, 2.5]}}"#), "s.json: 'units': 2.5 is not a whole number of at least 1")
        XCTAssertEqual(refusal(#"{"units": {"choice": [true]}}"#), "s.json: 'units': true is not a whole number of at least 1")
        XCTAssertEqual(refusal(#"{"layers": {"choice": [1, 2]}}"#), "accepted")
        XCTAssertEqual(refusal(#"{"units": {"choice": [1e300]}}"#), "s.json: 'units': 1e+300 is more than 1048576")
        XCTAssertEqual(refusal(#"{"layers": {"choice": [65]}}"#), "s.json: 'layers': 65 is more than 64")
        XCTAssertEqual(refusal(#"{"activation": {"choice": ["relu", "swish"]}}"#),
                       "s.json: 'activation': 'swish' is not one of linear, relu, leaky_relu, elu, selu, sigmoid, tanh, softplus, gelu")
        XCTAssertEqual(refusal(#"{"units": {"uniform": [8, 64]}}"#), "s.json: 'units': uniform is for continuous hyperparameters; units takes {\"choice\": [...]}")
        XCTAssertEqual(refusal(#"{"dropout": {"normal": [0, 1]}}"#), "s.json: 'dropout': unknown distribution 'normal' (log_uniform, uniform, choice)")
        XCTAssertEqual(refusal(#"{"dropout": {"uniform": [0, 0.2], "choice": [0.1]}}"#),
                       "s.json: 'dropout' needs exactly one of log_uniform, uniform, choice, e.g. {\"choice\": [32, 64]}")
        XCTAssertEqual(refusal(#"{"dropout": {"uniform": [0, 1.5]}}"#), "s.json: 'dropout': [0.0, 1.5] leaves [0.0, 0.95]")
        XCTAssertEqual(refusal("{}"), "s.json: names no hyperparameter (learning_rate, batch_size, dropout, l2, momentum, units, layers, activation, optimizer)")
    }

    func testSamplesStayInTheirRangesAndRepeatWithTheSeed() throws {
        let decoded = try space(#"{"learning_rate": {"log_uniform": [1e-4, 1e-1]}, "batch_size": {"choice": [16, 32, 64]}, "dropout": {"uniform": [0.1, 0.3]}}"#)
        var rng = CounterRNG(seed: 5)
        var again = CounterRNG(seed: 5)
        var logRates: [Double] = []
        for _ in 0..<500 {
            let values = decoded.sample(&rng)
            XCTAssertEqual(values, decoded.sample(&again))
            let rate = try XCTUnwrap(values["learning_rate"]?.number)
            XCTAssertTrue((1e-4...1e-1).contains(rate))
            XCTAssertTrue([16, 32, 64].contains(values["batch_size"]?.number ?? 0))
            XCTAssertTrue((0.1...0.3).contains(values["dropout"]?.number ?? -1))
            logRates.append(log10(rate))
        }
        // Log-uniform: the exponent is uniform on [-4, -1], mean -2.5.
        XCTAssertEqual(logRates.reduce(0, +) / 500, -2.5, accuracy: 0.1)
    }

    func testExplorePerturbsByAFifthWithinTheRangeAndLeavesShapesAlone() throws {
        let decoded = try space(#"{"learning_rate": {"log_uniform": [1e-4, 1e-2]}, "batch_size": {"choice": [16, 32, 64]}, "units": {"choice": [8, 16]}}"#)
        let start: Hyperparameters = ["learning_rate": .number(1e-3), "batch_size": .number(32), "units": .number(8)]
        var rng = CounterRNG(seed: 9)
        var rates = Set<Double>(), sizes = Set<Double>()
        for _ in 0..<200 {
            let explored = decoded.explore(start, rng: &rng, resample: 0)
            rates.insert(explored["learning_rate"]!.number!)
            sizes.insert(explored["batch_size"]!.number!)
            XCTAssertEqual(explored["units"], .number(8), "a shape stays")
        }
        XCTAssertEqual(rates.map { ($0 * 1e6).rounded() / 1e6 }.sorted(), [0.0008, 0.0012])
        XCTAssertEqual(sizes.sorted(), [16, 64], "a choice moves to a neighbour")
        let atTheTop: Hyperparameters = ["learning_rate": .number(1e-2), "batch_size": .number(64)]
        for _ in 0..<50 {
            let explored = decoded.explore(atTheTop, rng: &rng, resample: 0)
            XCTAssertLessThanOrEqual(explored["learning_rate"]!.number!, 1e-2, "clamped to the range")
            XCTAssertTrue([32, 64].contains(explored["batch_size"]!.number!))
        }
        var resampled = Set<Double>()
        for _ in 0..<200 { resampled.insert(decoded.explore(start, rng: &rng, resample: 1)["learning_rate"]!.number!) }
        XCTAssertGreaterThan(resampled.count, 100, "resampling draws anew")
    }
}
