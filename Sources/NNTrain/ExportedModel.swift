import Foundation
import NNCore
import NNFormat

/// `nntrain evaluate` and `predict` on an exported model file (`.nnm`): the graph nnserve
/// serves, with its folds and its reduced-precision weights (fp16/bf16 read back as the
/// values they store), so the accuracy after export is measured, not assumed.
public enum ExportedModel {
    /// The graph of `path` when it is a model file (nil for a checkpoint).
    public static func graph(at path: String) throws -> Graph? {
        let head = try FileProblem.contents(path).get().prefix(4)
        guard ContainerKind(magic: head) == .model else { return nil }
        return try ModelFile.read(from: path).graph
    }

    /// A model file keeps no losses: each head's is read from what it ends in (softmax: a class
    /// index or label; a one-unit sigmoid: 0/1 or one of two labels; anything else: values,
    /// scored by RMSE, MAE and R²), and its target column is the output's name.
    public static func heads(of graph: Graph) -> [ModelSpec.Head] {
        graph.outputs.map { output in
            let width = (try? graph.validate().widths[output.node]) ?? nil
            let loss: LossKind
            switch graph.activation(endingNode: output.node) {
            case .softmax?: loss = .sparseCategoricalCrossEntropy
            case .sigmoid? where width == 1: loss = .binaryCrossEntropy
            default: loss = .mse
            }
            return ModelSpec.Head(name: output.name, node: output.node, loss: loss, targets: [output.name])
        }
    }

    /// What `heads` assumed, said beside the metrics: a model file does not store the run's
    /// losses, weights or thresholds.
    public static func assumptions(of graph: Graph) -> String {
        let heads = heads(of: graph).map { "'\($0.name)' as \($0.loss.rawValue) against column '\($0.name)'" }
        return "a model file keeps no losses: read \(heads.joined(separator: ", ")) (weight 1, threshold 0.5); "
            + "the checkpoint's own evaluate uses the run's"
    }

    /// Metrics of the exported graph on `table`, which has the inputs' columns and a column
    /// per output (named like it) holding the targets.
    public static func evaluate(_ graph: Graph, table: CSVTable) throws -> [String: Double] {
        let (spec, data) = try rows(graph, table: table)
        return try Metrics.evaluate(graph, heads: spec.outputs.map { Metrics.Head(name: $0.name, loss: spec.loss(of: $0)) }, data: data)
    }

    /// `table`'s rows as the graph's inputs (features) and, per output, the targets of the column
    /// named like it (`heads`).
    public static func rows(_ graph: Graph, table: CSVTable) throws -> (spec: ModelSpec, data: TrainingData) {
        let inputs = graph.inputs.map { input in
            var spec = ModelSpec.Input(name: input.name)
            spec.columns = input.columns.isEmpty ? (input.featureNames.isEmpty ? nil : input.featureNames) : input.columns.map(\.name)
            return spec
        }
        let spec = ModelSpec(inputs: inputs, layers: [], outputs: heads(of: graph))
        return (spec, try TrainingData.from(table, spec: spec, encoding: TableEncoding(graph: graph)).0)
    }
}
