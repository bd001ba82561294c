import Foundation
import NNCore
import NNFormat

extension Trainer {
    /// Validation metrics ("val_…"), or with no validation split the training rows' metrics in
    /// inference mode ("train_…": unprefixed, their "loss" collided with the epoch's training
    /// loss and replaced it in the history and --json); metrics of `data` unprefixed.
    public func evaluate(_ data: TrainingData? = nil) throws -> [String: Double] {
        let rows = data ?? (validation.rows > 0 ? validation : training)
        let prefix = data != nil ? "" : validation.rows > 0 ? "val_" : "train_"
        let metricHeads = zip(heads, spec.outputs).map { head, output in
            Metrics.Head(name: head.name, loss: head.loss, threshold: output.threshold.map(Double.init), weight: Double(head.weight))
        }
        let metrics = try Metrics.evaluate(model.graph, heads: metricHeads, data: rows)
        return Dictionary(uniqueKeysWithValues: metrics.map { (prefix + $0.key, $0.value) })
    }

    /// Metrics of the current model on another table with the training columns.
    public func evaluate(on table: CSVTable) throws -> [String: Double] {
        let (data, _) = try TrainingData.from(table, spec: spec, encoding: TableEncoding(graph: model.graph))
        try RunChecks.targets(data, file: table.file, spec: spec, graph: model.graph)
        return try evaluate(data)
    }

    /// Every name a monitor may watch (early stopping, a study's ranking): the training loss
    /// and the metrics an epoch reports.
    public func monitorableMetrics() throws -> [String] {
        [EpochReport.trainingLossName] + Array(try evaluate().keys)
    }

    /// The layers' behaviour on (up to `rows` of) the training rows, with advice; gradient
    /// norms are those of one full-batch step on the same rows (nothing is stepped).
    public func diagnose(rows: Int = 2048) -> Diagnostics.Report {
        let sample = training.subset(Array(0..<min(rows, training.rows))[...])
        var scratch = self
        let gradients = scratch.lossAndGradients(on: sample, step: optimizer.step).gradients
        return Diagnostics.diagnose(model.graph, inputs: sample.inputs, gradients: gradients)
    }

    /// `nntrain diagnose`: the checkpoint's layers on the first `rows` rows of `table`, which
    /// has the target columns (for gradient norms) or only the inputs.
    public static func diagnose(_ checkpoint: CheckpointFile, table: CSVTable, rows: Int) throws -> Diagnostics.Report {
        let table = table.prefix(rows)
        let state = checkpoint.state
        let spec = try state.modelSpec()
        guard spec.outputs.allSatisfy({ spec.targets(of: $0).allSatisfy(table.header.contains) }) else {
            return Diagnostics.diagnose(checkpoint.graph, inputs: try OfflinePrediction.inputs(for: checkpoint.graph, table: table))
        }
        let (data, _) = try TrainingData.from(table, spec: spec, encoding: TableEncoding(graph: checkpoint.graph))
        let setup = RunSetup(spec: spec, settings: try state.trainingSettings(), graph: checkpoint.graph, regularization: [:], training: data,
                             validation: data.subset([][...]), split: state.split, modelFile: "checkpoint")
        return try Trainer(setup).diagnose(rows: rows)
    }
}
