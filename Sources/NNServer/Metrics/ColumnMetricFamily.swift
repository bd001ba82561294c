import Foundation

/// The raw-column families of models taking raw rows: counters of values, gaps, unknown
/// categories and out-of-range numbers, and the drift index with its window, per model,
/// version and column. Read from each model's `ColumnMonitor` at scrape time.
enum ColumnMetricFamily {
    static func exposition(_ served: [String: [LoadedModel]]) -> [UInt8] {
        let models = served.keys.sorted().flatMap { name in served[name]!.sorted { $0.version < $1.version } }
            .compactMap { model in model.columns.map { (model, $0.snapshot) } }
        guard !models.isEmpty else { return [] }
        var text = ""
        func family(_ name: String, _ type: String, _ value: (ColumnMonitor.Snapshot) -> String) {
            text += "# HELP \(name) \(MetricName.help[name]!)\n# TYPE \(name) \(type)\n"
            for (model, columns) in models {
                for column in columns {
                    text += "\(name){model=\"\(MetricName.escapedLabel(model.name))\",version=\"\(model.version)\",column=\"\(MetricName.escapedLabel(column.column))\"} \(value(column))\n"
                }
            }
        }
        family(MetricName.columnValues, "counter") { "\($0.values)" }
        family(MetricName.columnMissing, "counter") { "\($0.missing)" }
        family(MetricName.columnUnknown, "counter") { "\($0.unknown)" }
        family(MetricName.columnOutsideRange, "counter") { "\($0.outsideRange)" }
        family(MetricName.columnDrift, "gauge") { String(format: "%.6g", $0.drift) }
        family(MetricName.columnDriftWindow, "gauge") { "\($0.windowRows)" }
        return Array(text.utf8)
    }
}
