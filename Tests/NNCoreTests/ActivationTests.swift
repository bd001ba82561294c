import Foundation
import NNCore
import XCTest

final class ActivationTests: XCTestCase {
    /// Oracles from docs/reference/training-math.md.
    func testPublishedValues() {
        XCTAssertEqual(Activation.selu.value(1), 1.0507009873554805, accuracy: 1e-15)
        XCTAssertEqual(Activation.selu.value(-1), -1.1113307378125628, accuracy: 1e-15)
        XCTAssertEqual(Activation.softplus.value(0), Foundation.log(2), accuracy: 1e-15)
        XCTAssertEqual(Activation.sigmoid.value(0), 0.5)
        XCTAssertEqual(Activation.gelu.value(1), 0.8413447460685429, accuracy: 1e-12)
    }

    func testStableAtExtremes() {
        for activation in Activation.allDefaults where activation.isElementwise {
            for x in [-1000.0, -80, 80, 1000] {
                XCTAssertTrue(activation.value(x).isFinite, "\(activation)(\(x)) = \(activation.value(x))")
                XCTAssertTrue(activation.derivative(x).isFinite, "\(activation)'(\(x))")
            }
        }
        XCTAssertEqual(Activation.softplus.value(1000), 1000)
        XCTAssertEqual(Activation.sigmoid.value(-1000), 0)
        let probabilities = Activation.softmax(row: [1000, 1000, -1000])
        XCTAssertEqual(probabilities[0], 0.5, accuracy: 1e-12)
        XCTAssertEqual(probabilities[2], 0)
    }

    /// Central differences away from kinks agree with the analytic derivative.
    func testDerivativesMatchFiniteDifferences() {
        let step = 1e-6
        for activation in Activation.allDefaults where activation.isElementwise {
            for x in stride(from: -4.0, through: 4.0, by: 0.37) {
                let numeric = (activation.value(x + step) - activation.value(x - step)) / (2 * step)
                XCTAssertEqual(activation.derivative(x), numeric, accuracy: 1e-6, "\(activation)'(\(x))")
            }
        }
    }

    func testNamesRoundTrip() {
        for activation in Activation.allDefaults {
            XCTAssertEqual(Activation(name: activation.name), activation)
        }
        XCTAssertNil(Activation(name: "swish"))
    }
}
