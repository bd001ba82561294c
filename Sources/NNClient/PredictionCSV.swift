import NNCore
import NNFormat

/// What `nnclient predict` prints: the answers as CSV.
public enum PredictionCSV {
    /// CSV of the outputs: `name` (or `name_0`, `name_1`, … for a wider output) as `nntrain
    /// predict` writes them, and `name_label` for a head with class names.
    public static func text(_ outputs: [String: Tensor], metadata: Nnserve_MetadataResponse, rows: Int) -> String {
        var header: [String] = []
        for output in metadata.outputs {
            header += GraphOutput.valueColumns(name: output.name, width: Int(output.width))
            if !output.labels.isEmpty { header.append("\(output.name)_label") }
        }
        var lines = [header.joined(separator: ",")]
        for row in 0..<rows {
            var fields: [String] = []
            for info in metadata.outputs {
                let output = outputs[info.name]!
                let values = (0..<output.shape[1]).map { output[row, $0] }
                fields += values.map { "\($0)" }
                if !info.labels.isEmpty {
                    fields.append(CSVWriter.field(info.labels[min(GraphOutput.predictedClass(values), info.labels.count - 1)]))
                }
            }
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
