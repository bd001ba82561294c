import Foundation

/// Pictures of a learning-rate sweep: an SVG (log-scale rate axis, the raw loss faint, the
/// smoothed loss bold, the suggestion marked), a terminal chart, and the CSV behind both.
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
        let width = 720.0, height = 440.0
        let left = 70.0, right = 20.0, top = 40.0, bottom = 50.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let points = result.points
        guard let first = points.first, let last = points.last else {
            return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"60\"><text x=\"10\" y=\"30\">no points</text></svg>\n"
        }
        let logLow = log10(Double(first.rate)), logHigh = max(log10(Double(last.rate)), logLow + 1e-9)
        let (low, high) = lossRange(points)
        func x(_ rate: Float) -> Double { left + (log10(Double(rate)) - logLow) / (logHigh - logLow) * plotWidth }
        func y(_ loss: Double) -> Double { top + (1 - (min(max(loss, low), high) - low) / (high - low)) * plotHeight }
        func polyline(_ values: KeyPath<LearningRateFinder.Point, Double>) -> String {
            points.map { String(format: "%.1f,%.1f", x($0.rate), y($0[keyPath: values])) }.joined(separator: " ")
        }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(width / 2))" y="22" text-anchor="middle" font-size="15">\(escape(title))</text>

        """
        // Decades on the rate axis.
        for decade in Int(ceil(logLow))...Int(floor(logHigh)) {
            let position = left + (Double(decade) - logLow) / (logHigh - logLow) * plotWidth
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", position, top, position, top + plotHeight)
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">1e%d</text>\n", position, top + plotHeight + 18, decade)
        }
        for tick in 0...4 {
            let loss = low + (high - low) * Double(tick) / 4
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", left, y(loss), left + plotWidth, y(loss))
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", left - 6, y(loss) + 4, loss)
        }
        svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", left, top, plotWidth, plotHeight)
        svg += "<polyline fill=\"none\" stroke=\"#9ecae1\" stroke-width=\"1\" points=\"\(polyline(\.loss))\"/>\n"
        svg += "<polyline fill=\"none\" stroke=\"#08519c\" stroke-width=\"2.5\" points=\"\(polyline(\.smoothed))\"/>\n"
        let suggestionX = x(result.suggestion)
        svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" stroke-width=\"1.5\" stroke-dasharray=\"5,4\"/>\n",
                      suggestionX, top, suggestionX, top + plotHeight)
        svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"#d62728\">suggested %.3g</text>\n", min(suggestionX + 6, left + plotWidth - 110), top + 16, result.suggestion)
        svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">learning rate (log scale)</text>\n", left + plotWidth / 2, height - 10)
        svg += String(format: "<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.1f)\">loss (smoothed: bold)</text>\n",
                      top + plotHeight / 2, top + plotHeight / 2)
        svg += "</svg>\n"
        return svg
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

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
