@testable import NNTrain
import XCTest

/// The one chart writer: axes in the scale asked for, markers where they belong, a clipped
/// range, nothing drawn off the plot.
final class LineChartTests: XCTestCase {
    private func xs(of polyline: Substring) -> [Double] {
        polyline.split(separator: " ").compactMap { Double($0.split(separator: ",")[0]) }
    }

    func testLogAxesTicksMarkersAndClipping() throws {
        var chart = LineChart(title: "t", xLabel: "rate", yLabel: "loss", xScale: .log)
        chart.series = [.init(name: "s", color: "#000", points: [(1e-4, 1), (1e-3, 2), (1e-2, 50), (-1, 3)])]
        chart.yRange = (0, 4)
        chart.markers = [.init(x: 1e-3, label: "here & now")]
        let svg = chart.svg()
        for decade in -4 ... -2 { XCTAssertTrue(svg.contains(">1e\(decade)</text>"), "decade 1e\(decade)") }
        XCTAssertTrue(svg.contains("here &amp; now"))
        XCTAssertTrue(svg.contains("rate (log scale)"))
        let points = try XCTUnwrap(svg.components(separatedBy: "points=\"").dropFirst().first?.prefix { $0 != "\"" })
        let x = xs(of: points)
        XCTAssertEqual(x.count, 3, "a negative x has no place on a log axis")
        XCTAssertEqual(x[1] - x[0], x[2] - x[1], accuracy: 0.2, "decades are evenly spaced")
        let ys = points.split(separator: " ").compactMap { Double($0.split(separator: ",")[1]) }
        XCTAssertEqual(ys[2], 40, accuracy: 0.1, "50 is clipped to the top of the 0…4 range")
    }

    func testBatchFindChartMarksTheKnee() {
        let points = [8, 16, 32, 64].map { size in
            BatchSizeFinder.Point(batchSize: size, steps: 3, samplesPerSecond: Double(size) * 100, peakResidentBytes: nil,
                                  parameterBytes: 1, optimizerBytes: 1, activationBytes: 1)
        }
        let result = BatchSizeFinder.Result(points: points, knee: 32, largestWithinBudget: 64, memoryBudget: 1 << 30,
                                            peaksResetPerSize: true, stoppedBecause: nil)
        let svg = result.svg(title: "b")
        XCTAssertTrue(svg.contains(">knee 32</text>") && svg.contains(">budget 64</text>"))
        for size in [8, 16, 32, 64] { XCTAssertTrue(svg.contains(">\(size)</text>"), "batch size \(size) is a tick") }
    }
}
