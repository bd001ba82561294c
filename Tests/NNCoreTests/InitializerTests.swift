import NNCore
import XCTest

final class InitializerTests: XCTestCase {
    private func moments(_ tensor: Tensor) -> (mean: Double, std: Double, maxAbs: Double) {
        let values = tensor.scalars.map(Double.init)
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
        return (mean, variance.squareRoot(), values.map(abs).max() ?? 0)
    }

    /// Each initializer's variance is the one its formula states.
    func testVariancesMatchFormulas() {
        let fanIn = 400, fanOut = 300
        let expectedStd: [Initializer: Double] = [
            .glorotUniform: (2.0 / Double(fanIn + fanOut)).squareRoot(),
            .glorotNormal: (2.0 / Double(fanIn + fanOut)).squareRoot(),
            .heUniform: (2.0 / Double(fanIn)).squareRoot(),
            .heNormal: (2.0 / Double(fanIn)).squareRoot(),
            .lecunUniform: (1.0 / Double(fanIn)).squareRoot(),
            .lecunNormal: (1.0 / Double(fanIn)).squareRoot(),
        ]
        for (initializer, std) in expectedStd {
            var rng = CounterRNG(seed: 5)
            let stats = moments(initializer.kernel(fanIn: fanIn, fanOut: fanOut, rng: &rng))
            XCTAssertEqual(stats.mean, 0, accuracy: std * 0.02, "\(initializer)")
            XCTAssertEqual(stats.std, std, accuracy: std * 0.02, "\(initializer)")
            let bound = initializer.rawValue.hasSuffix("uniform") ? std * 3.0.squareRoot() : 2 * std / 0.87962566103423978
            XCTAssertLessThanOrEqual(stats.maxAbs, bound * 1.0001, "\(initializer)")
        }
        var rng = CounterRNG(seed: 5)
        XCTAssertTrue(Initializer.zeros.kernel(fanIn: 3, fanOut: 2, rng: &rng).scalars.allSatisfy { $0 == 0 })
    }

    func testDefaultFollowsActivation() {
        XCTAssertEqual(Initializer.suited(to: .relu), .heNormal)
        XCTAssertEqual(Initializer.suited(to: .selu), .lecunNormal)
        XCTAssertEqual(Initializer.suited(to: .tanh), .glorotUniform)
        XCTAssertEqual(Initializer.suited(to: .sigmoid), .glorotUniform)
    }

    func testSameSeedSameWeights() {
        var first = CounterRNG(seed: 77), second = CounterRNG(seed: 77)
        XCTAssertEqual(Initializer.heNormal.kernel(fanIn: 10, fanOut: 5, rng: &first),
                       Initializer.heNormal.kernel(fanIn: 10, fanOut: 5, rng: &second))
    }
}
