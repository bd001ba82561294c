import Foundation

/// A small SVG chart: series of points as lines, steps or dots, a linear or log-scale y axis,
/// ticks, a legend. The tuning plots are drawn with it.
struct LineChart {
    enum Style { case line, step, dots }

    struct Series {
        var name: String
        var color: String
        var points: [(x: Double, y: Double)]
        var style: Style = .line
        var width = 2.0
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var logY = false
    var series: [Series] = []
    var width = 720.0
    var height = 420.0

    func svg() -> String {
        let left = 92.0, right = 150.0, top = 40.0, bottom = 50.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let all = series.flatMap(\.points).filter { $0.y.isFinite && (!logY || $0.y > 0) }
        var header = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int((left + width - right) / 2))" y="22" text-anchor="middle" font-size="15">\(Self.escape(title))</text>

        """
        guard let xLow = all.map(\.x).min(), let xHigh = all.map(\.x).max(), let yMin = all.map(\.y).min(), let yMax = all.map(\.y).max() else {
            return header + "<text x=\"20\" y=\"60\">no points</text>\n</svg>\n"
        }
        func scaled(_ y: Double) -> Double { logY ? log10(y) : y }
        var low = scaled(yMin), high = scaled(yMax)
        if high - low < 1e-12 { (low, high) = (low - (logY ? 0.5 : max(abs(low) * 0.05, 1e-3)), high + (logY ? 0.5 : max(abs(high) * 0.05, 1e-3))) }
        let pad = (high - low) * 0.05
        (low, high) = (low - pad, high + pad)
        let xSpan = max(xHigh - xLow, 1e-12)
        func x(_ value: Double) -> Double { left + (value - xLow) / xSpan * plotWidth }
        func y(_ value: Double) -> Double { top + (1 - (scaled(value) - low) / (high - low)) * plotHeight }

        for tick in 0...4 {
            let level = low + (high - low) * Double(tick) / 4
            let value = logY ? pow(10, level) : level
            header += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", left, y(value), left + plotWidth, y(value))
            header += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", left - 6, y(value) + 4, value)
        }
        // Whole-number x ticks (generations), at most about ten.
        let stepSize = max(1.0, (xSpan / 10).rounded(.up))
        for tick in stride(from: xLow.rounded(.up), through: xHigh, by: stepSize) {
            header += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", x(tick), top, x(tick), top + plotHeight)
            header += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", x(tick), top + plotHeight + 18, tick)
        }
        var body = String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", left, top, plotWidth, plotHeight)
        for (index, line) in series.enumerated() {
            let points = line.points.filter { $0.y.isFinite && (!logY || $0.y > 0) }
            switch line.style {
            case .dots:
                for point in points {
                    body += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\" fill-opacity=\"0.6\"/>\n", x(point.x), y(point.y), line.color)
                }
            case .line, .step:
                var coordinates: [String] = []
                for (position, point) in points.enumerated() {
                    if line.style == .step, position > 0 { coordinates.append(String(format: "%.1f,%.1f", x(point.x), y(points[position - 1].y))) }
                    coordinates.append(String(format: "%.1f,%.1f", x(point.x), y(point.y)))
                }
                body += "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"\(line.width)\" points=\"\(coordinates.joined(separator: " "))\"/>\n"
            }
            let legendY = top + 14 + Double(index) * 18
            body += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"4\" fill=\"%@\"/>\n", left + plotWidth + 12, legendY - 5, line.color)
            body += String(format: "<text x=\"%.1f\" y=\"%.1f\">%@</text>\n", left + plotWidth + 32, legendY, Self.escape(line.name))
        }
        body += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%@</text>\n", left + plotWidth / 2, height - 10, Self.escape(xLabel))
        body += String(format: "<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.1f)\">%@</text>\n",
                       top + plotHeight / 2, top + plotHeight / 2, Self.escape(yLabel + (logY ? " (log scale)" : "")))
        return header + body + "</svg>\n"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
