import Foundation

/// Pictures of a learning-rate sweep: an SVG (a `LineChart`: log-scale rate axis, the raw loss
/// faint, the smoothed loss bold, the suggestion marked), a terminal chart, and the CSV behind both.
public enum LearningRatePlot {
    public static func csv(_ result: LearningRateFinder.Result) -> String {
        "step,rate,loss,smoothed_loss\n" + result.points.map { point in
            "\(point.step),\(point.rate),\(point.loss),\(point.smoothed)"
        }.joined(separator: "\n") + "\n"
    }

    /// The visible range of the loss axis: everything up to the smoothed loss's minimum, the
    /// divergence after it clipped (it would otherwise flatten the part that matters).
    private static func lossRange(_ points: [LearningRateFinder.Point]) -> (low: Double, high: Double) {
        let smoothed = points.map(\.smoothed)
        guard let minimum = smoothed.indices.min(by: { smoothed[$0] < smoothed[$1] }) else { return (0, 1) }
        let low = smoothed[minimum]
        var high = smoothed[...minimum].max()! * 1.05
        if high <= low { high = low + max(abs(low) * 0.1, 1e-3) }
        return (low - (high - low) * 0.05, high)
    }

    public static func svg(_ result: LearningRateFinder.Result, title: String) -> String {
        var chart = LineChart(title: title, xLabel: "learning rate", yLabel: "loss", xScale: .log)
        let points = result.points
        chart.yRange = points.isEmpty ? nil : lossRange(points)
        chart.series = [
            .init(name: "loss", color: "#9ecae1", points: points.map { (Double($0.rate), $0.loss) }, width: 1),
            .init(name: "smoothed loss", color: "#08519c", points: points.map { (Double($0.rate), $0.smoothed) }, width: 2.5),
        ]
        chart.markers = [.init(x: Double(result.suggestion), label: String(format: "suggested %.3g", result.suggestion))]
        return chart.svg()
    }

    /// A chart for the terminal: `rows` lines of `columns` characters, the smoothed loss as `*`,
    /// the suggestion as a column of `|`.
    public static func terminal(_ result: LearningRateFinder.Result, columns: Int = 64, rows: Int = 14) -> String {
        let points = result.points
        guard let first = points.first, let last = points.last, columns > 1, rows > 1 else { return "(no points)\n" }
        let logLow = log10(Double(first.rate)), logHigh = max(log10(Double(last.rate)), logLow + 1e-9)
        let (low, high) = lossRange(points)
        func column(_ rate: Float) -> Int { min(columns - 1, max(0, Int((log10(Double(rate)) - logLow) / (logHigh - logLow) * Double(columns - 1) + 0.5))) }
        var grid = Array(repeating: Array(repeating: Character(" "), count: columns), count: rows)
        let marked = column(result.suggestion)
        for row in 0..<rows { grid[row][marked] = "|" }
        for point in points {
            let fraction = (min(max(point.smoothed, low), high) - low) / (high - low)
            let row = min(rows - 1, max(0, Int((1 - fraction) * Double(rows - 1) + 0.5)))
            grid[row][column(point.rate)] = "*"
        }
        var lines = grid.enumerated().map { index, characters -> String in
            let label = index == 0 ? String(format: "%9.3g", high) : index == rows - 1 ? String(format: "%9.3g", low) : String(repeating: " ", count: 9)
            return label + " ┤" + String(characters)
        }
        lines.append(String(repeating: " ", count: 10) + "└" + String(repeating: "─", count: columns))
        let axis = String(format: "%-.0e", Double(first.rate)).padding(toLength: columns - 8, withPad: " ", startingAt: 0) + String(format: "%.0e", Double(last.rate))
        lines.append(String(repeating: " ", count: 11) + axis)
        return lines.joined(separator: "\n") + "\n"
    }
}
