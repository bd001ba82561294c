import Foundation
import NNCore
import NNFormat
import NNInference

/// Predictions of a checkpoint for the rows of a CSV file, through NNInference's plan of the
/// graph in inference mode: the numbers the exported model will give in nnserve. The file needs
/// the columns the run's inputs were built from (by name, in any order); target columns may be
/// there or not.
public enum OfflinePrediction {
    /// The graph's inputs from the table's columns, found by the names the run used; an input
    /// taking raw columns encodes them as training did.
    public static func inputs(for graph: Graph, table: CSVTable) throws -> [String: Tensor] {
        var inputs: [String: Tensor] = [:]
        let encoding = TableEncoding(graph: graph)
        try table.requireColumns(graph.inputs.flatMap { $0.columns.isEmpty ? $0.featureNames : $0.columns.map(\.name) })
        for input in graph.inputs {
            if !input.columns.isEmpty {
                inputs[input.name] = try encoding.features(of: input.name, columns: input.columns, table: table)
                continue
            }
            let columns = input.featureNames.isEmpty ? table.header : input.featureNames
            let (values, _) = try table.matrix(columns: columns)
            inputs[input.name] = Tensor(shape: [table.rowCount, columns.count], values: values)
        }
        return inputs
    }

    /// A CSV with one column per output value (`name` for a one-wide output, `name_0`, … for a
    /// wider one) and, for classification heads, `name_class` (the most likely class) and, for
    /// heads trained on text labels, `name_label` (that class's name).
    public static func csv(_ checkpoint: CheckpointFile, table: CSVTable) throws -> String {
        let spec = try? checkpoint.state.modelSpec()
        return try csv(checkpoint.graph, heads: spec?.outputs ?? [], table: table)
    }

    /// The same for a graph whose heads are `heads` (an exported model's: `ExportedModel.heads`).
    public static func csv(_ graph: Graph, heads: [ModelSpec.Head], table: CSVTable) throws -> String {
        let inputs = try self.inputs(for: graph, table: table)
        let outputs = try Executor(plan: Plan(graph: graph)).predict(inputs)
        let classifiers = Set(heads.filter { [LossKind.sparseCategoricalCrossEntropy, .categoricalCrossEntropy].contains($0.loss) }.map(\.name))
        var header: [String] = []
        for output in graph.outputs {
            let width = outputs[output.name]!.shape[1]
            header += GraphOutput.valueColumns(name: output.name, width: width)
            if classifiers.contains(output.name) { header.append("\(output.name)_class") }
            if !output.labels.isEmpty { header.append("\(output.name)_label") }
        }
        var lines = [header.joined(separator: ",")]
        for row in 0..<table.rowCount {
            var fields: [String] = []
            for output in graph.outputs {
                let tensor = outputs[output.name]!
                let values = (0..<tensor.shape[1]).map { tensor[row, $0] }
                fields += values.map { "\($0)" }
                if classifiers.contains(output.name) { fields.append("\(values.indices.max { values[$0] < values[$1] }!)") }
                if !output.labels.isEmpty { fields.append(CSVWriter.field(output.labels[GraphOutput.predictedClass(values)])) }
            }
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
