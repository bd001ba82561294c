import Foundation

/// Pictures of a learning-rate sweep: an SVG (a `LineChart`: log-scale rate axis, the raw loss
/// faint, the smoothed loss bold, every candidate marked and the chosen one in red), a
/// terminal chart, and the CSV behind both.
public enum LearningRatePlot {
    public static func csv(_ result: LearningRateFinder.Result) -> String {
        "step,rate,loss,smoothed_loss\n" + result.points.map { point in
            "\(point.step),\(point.rate),\(point.loss),\(point.smoothed)"
        }.joined(separator: "\n") + "\n"
    }

    /// The visible range of the loss axis: the raw and the smoothed loss up to the smoothed
    /// minimum, both whole (the raw loss shows how far the smoothing lags), and the divergence
    /// after it clipped at the top (it would otherwise flatten the part that matters).
    static func lossRange(_ points: [LearningRateFinder.Point]) -> (low: Double, high: Double) {
        guard let minimum = LearningRateFinder.minimumIndex(points) else { return (0, 1) }
        let shown = points[...minimum].flatMap { [$0.loss, $0.smoothed] }.filter(\.isFinite)
        let low = min(shown.min() ?? 0, points.map(\.smoothed).min() ?? 0)
        var high = (shown.max() ?? 1) * 1.02
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
        chart.markers = result.candidates.map { candidate in
            let chosen = candidate.rate == result.suggestion
            var label = String(format: "%@ %.3g", candidate.label, candidate.rate)
            if let loss = candidate.trialLoss { label += loss.isFinite ? String(format: ": trial %.3g", loss) : ": trial diverged" }
            return .init(x: Double(candidate.rate), label: (chosen ? "chosen " : "") + label, color: chosen ? "#d62728" : "#969696")
        }
        if result.candidates.isEmpty {
            chart.markers = [.init(x: Double(result.suggestion), label: String(format: "suggested %.3g", result.suggestion))]
        }
        return chart.svg()
    }

    /// The candidates and their trials as lines of text.
    public static func candidateTable(_ result: LearningRateFinder.Result) -> String {
        guard !result.candidates.isEmpty else { return "" }
        let metric = result.trialMetric ?? "trial loss"
        var lines = ["candidate".padding(toLength: 30, withPad: " ", startingAt: 0) + "rate      " + (result.trialSteps > 0 ? "\(metric) after \(result.trialSteps) steps" : "")]
        for candidate in result.candidates {
            var line = candidate.label.padding(toLength: 30, withPad: " ", startingAt: 0) + String(format: "%-10.3g", candidate.rate)
            if let loss = candidate.trialLoss { line += loss.isFinite ? String(format: "%.4g", loss) : "diverged" }
            if candidate.rate == result.suggestion { line += "  <- chosen" }
            lines.append(line)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A chart for the terminal: `rows` lines of `columns` characters, the smoothed loss as `*`
    /// over the raw loss as `.`, the suggestion as a column of `|`.
    public static func terminal(_ result: LearningRateFinder.Result, columns: Int = 64, rows: Int = 14) -> String {
        let points = result.points
        guard let first = points.first, let last = points.last, columns > 1, rows > 1 else { return "(no points)\n" }
        let logLow = log10(Double(first.rate)), logHigh = max(log10(Double(last.rate)), logLow + 1e-9)
        let (low, high) = lossRange(points)
        func column(_ rate: Float) -> Int { min(columns - 1, max(0, Int((log10(Double(rate)) - logLow) / (logHigh - logLow) * Double(columns - 1) + 0.5))) }
        var grid = Array(repeating: Array(repeating: Character(" "), count: columns), count: rows)
        let marked = column(result.suggestion)
        for row in 0..<rows { grid[row][marked] = "|" }
        func row(_ loss: Double) -> Int {
            let fraction = (min(max(loss, low), high) - low) / (high - low)
            return min(rows - 1, max(0, Int((1 - fraction) * Double(rows - 1) + 0.5)))
        }
        for point in points where point.loss.isFinite { grid[row(point.loss)][column(point.rate)] = "." }
        for point in points { grid[row(point.smoothed)][column(point.rate)] = "*" }
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
