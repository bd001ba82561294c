import Foundation

/// The project's one chart writer: an SVG of series drawn as lines, steps or dots, over linear
/// or log-scale axes, with ticks, a legend, labelled vertical markers and an optional clipped
/// y range. lr-find, batch-find and the tuning reports draw with it.
public struct LineChart: Sendable {
    public enum Style: Sendable { case line, step, dots }
    public enum Scale: Sendable { case linear, log }

    public struct Series: Sendable {
        public var name: String
        public var color: String
        public var points: [(x: Double, y: Double)]
        public var style: Style
        public var width: Double

        public init(name: String, color: String, points: [(x: Double, y: Double)], style: Style = .line, width: Double = 2) {
            self.name = name
            self.color = color
            self.points = points
            self.style = style
            self.width = width
        }
    }

    /// A dashed vertical line across the plot, labelled at the top ("suggested 3e-3").
    public struct Marker: Sendable {
        public var x: Double
        public var label: String
        public var color: String

        public init(x: Double, label: String, color: String = "#d62728") {
            self.x = x
            self.label = label
            self.color = color
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var xScale: Scale
    public var yScale: Scale
    public var series: [Series] = []
    public var markers: [Marker] = []
    /// The y values shown; points outside are drawn at the edge (nil: all points, padded 5%).
    public var yRange: (low: Double, high: Double)?
    /// Where x ticks go (nil: decades on a log axis, about ten whole numbers on a linear one).
    public var xTicks: [Double]?
    public var width = 720.0
    public var height = 420.0

    public init(title: String, xLabel: String, yLabel: String, xScale: Scale = .linear, yScale: Scale = .linear) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.xScale = xScale
        self.yScale = yScale
    }

    public func svg() -> String {
        let left = 92.0, right = 150.0, top = 40.0, bottom = 50.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let drawable = series.map { $0.points.filter(isDrawable) }
        let all = drawable.flatMap { $0 }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int((left + width - right) / 2))" y="22" text-anchor="middle" font-size="15">\(Self.escape(title))</text>

        """
        guard let xMin = all.map(\.x).min(), let xMax = all.map(\.x).max(), let yMin = all.map(\.y).min(), let yMax = all.map(\.y).max() else {
            return svg + "<text x=\"20\" y=\"60\">no points</text>\n</svg>\n"
        }
        let (xLow, xHigh) = Self.span(scaled(xMin, xScale), scaled(xMax, xScale), scale: xScale, padded: false)
        let (yLow, yHigh) = yRange.map { (scaled($0.low, yScale), scaled($0.high, yScale)) }
            ?? Self.span(scaled(yMin, yScale), scaled(yMax, yScale), scale: yScale, padded: true)
        func x(_ value: Double) -> Double { left + (scaled(value, xScale) - xLow) / (xHigh - xLow) * plotWidth }
        func y(_ value: Double) -> Double {
            top + (1 - (min(max(scaled(value, yScale), yLow), yHigh) - yLow) / (yHigh - yLow)) * plotHeight
        }
        for tick in 0...4 {
            let level = yLow + (yHigh - yLow) * Double(tick) / 4
            let value = yScale == .log ? pow(10, level) : level
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", left, y(value), left + plotWidth, y(value))
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%@</text>\n", left - 6, y(value) + 4, Self.tickLabel(value))
        }
        for (tick, label) in xTickLabels(low: xLow, high: xHigh) {
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", x(tick), top, x(tick), top + plotHeight)
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%@</text>\n", x(tick), top + plotHeight + 18, label)
        }
        svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", left, top, plotWidth, plotHeight)
        for (index, (line, points)) in zip(series, drawable).enumerated() {
            switch line.style {
            case .dots:
                for point in points {
                    svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\" fill-opacity=\"0.6\"/>\n", x(point.x), y(point.y), line.color)
                }
            case .line, .step:
                var coordinates: [String] = []
                for (position, point) in points.enumerated() {
                    if line.style == .step, position > 0 { coordinates.append(String(format: "%.1f,%.1f", x(point.x), y(points[position - 1].y))) }
                    coordinates.append(String(format: "%.1f,%.1f", x(point.x), y(point.y)))
                }
                svg += "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"\(line.width)\" points=\"\(coordinates.joined(separator: " "))\"/>\n"
            }
            let legendY = top + 14 + Double(index) * 18
            svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"4\" fill=\"%@\"/>\n", left + plotWidth + 12, legendY - 5, line.color)
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\">%@</text>\n", left + plotWidth + 32, legendY, Self.escape(line.name))
        }
        for marker in markers where isDrawable((marker.x, 1)) {
            let position = x(marker.x)
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"1.5\" stroke-dasharray=\"5,4\"/>\n",
                          position, top, position, top + plotHeight, marker.color)
            // Along the line, reading downwards: markers half a decade apart do not overlap.
            svg += String(format: "<text transform=\"translate(%.1f %.1f) rotate(90)\" fill=\"%@\" font-size=\"11\" stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\">%@</text>\n",
                          position + 3, top + 6, marker.color, Self.escape(marker.label))
        }
        svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%@</text>\n", left + plotWidth / 2, height - 10,
                      Self.escape(xLabel + (xScale == .log ? " (log scale)" : "")))
        svg += String(format: "<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.1f)\">%@</text>\n",
                      top + plotHeight / 2, top + plotHeight / 2, Self.escape(yLabel + (yScale == .log ? " (log scale)" : "")))
        return svg + "</svg>\n"
    }

    private func isDrawable(_ point: (x: Double, y: Double)) -> Bool {
        point.x.isFinite && point.y.isFinite && (xScale == .linear || point.x > 0) && (yScale == .linear || point.y > 0)
    }

    private func scaled(_ value: Double, _ scale: Scale) -> Double { scale == .log ? log10(value) : value }

    /// A non-empty range around [low, high], padded by 5% for the y axis.
    private static func span(_ low: Double, _ high: Double, scale: Scale, padded: Bool) -> (Double, Double) {
        var (low, high) = (low, high)
        if high - low < 1e-12 {
            // A flat series: half a decade around it on a log axis, ±5% (at least 1e-3) on a linear one.
            let pad = scale == .log ? 0.5 : max(abs(low) * 0.05, 1e-3)
            (low, high) = (low - pad, high + pad)
        }
        guard padded else { return (low, high) }
        let pad = (high - low) * 0.05
        return (low - pad, high + pad)
    }

    /// Tick positions (in data units) and labels within the scaled range [low, high].
    private func xTickLabels(low: Double, high: Double) -> [(Double, String)] {
        if let xTicks { return xTicks.filter { isDrawable(($0, 1)) }.map { ($0, String(format: "%g", $0)) } }
        if xScale == .log {
            let (first, last) = (Int(ceil(low)), Int(floor(high)))
            return first <= last ? (first...last).map { (pow(10, Double($0)), "1e\($0)") } : []
        }
        let step = max(1.0, ((high - low) / 10).rounded(.up))
        return stride(from: low.rounded(.up), through: high, by: step).map { ($0, String(format: "%g", $0)) }
    }

    /// "0.0123", "2.5", "7190", "1.2e+07": three significant digits, no exponent for the
    /// magnitudes axes usually span.
    static func tickLabel(_ value: Double) -> String {
        let magnitude = abs(value)
        return magnitude >= 100 && magnitude < 1e6 ? String(format: "%.0f", value) : String(format: "%.3g", value)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
