import Foundation
import NNCore
import NNFormat

/// Human-readable descriptions of a run: the per-epoch progress line and `nntrain summary`.
public enum RunSummary {
    /// "epoch 3/20  loss 0.1234  val_accuracy 0.9612  (1.2 s, ETA 20 s)"; `lossName` says what
    /// the training loss is when it is not comparable with val_loss ("weighted loss").
    public static func progressLine(_ report: Trainer.EpochReport, of epochs: Int, averageSeconds: Double, lossName: String = "loss") -> String {
        let metrics = report.metrics.keys.sorted().map { String(format: "%@ %.4f", $0, report.metrics[$0]!) }
        let remaining = Double(epochs - report.epoch) * averageSeconds
        return String(format: "epoch %d/%d  %@ %.4f  ", report.epoch, epochs, lossName, report.trainingLoss)
            + metrics.joined(separator: "  ") + String(format: "  (%.1f s, ETA %.0f s)", report.seconds, remaining)
    }

    /// What weighs the training loss but not the validation metrics (class weights, a sample
    /// weight column), said once before the first epoch; nil when the two compare directly.
    public static func lossWeightingNote(_ trainer: Trainer) -> String? {
        var weights: [String] = []
        if !trainer.classWeights.isEmpty { weights.append("class weights (\(trainer.classWeights.keys.sorted().joined(separator: ", ")))") }
        if let column = trainer.spec.sampleWeightColumn { weights.append("the sample weights in '\(column)'") }
        guard !weights.isEmpty else { return nil }
        return "the training loss (\"weighted loss\") is weighted by \(weights.joined(separator: " and ")); val_loss and the other metrics are not, so the two do not compare"
    }

    /// Layers, shapes, parameter counts, batch-norm statistics, the settings; the model file's
    /// text (tens of lines) only with `includeModelConfig`.
    public static func describe(_ checkpoint: CheckpointFile, includeModelConfig: Bool = false) -> String {
        let graph = checkpoint.graph
        var lines: [String] = []
        let state = checkpoint.state
        lines.append("run '\(state.name)': epoch \(state.epoch), step \(state.step), seed \(state.rng.seed)")
        for input in graph.inputs {
            lines.append("input \(input.name): \(input.width) features\(input.standardization == nil ? "" : ", standardized")"
                         + (input.featureNames.isEmpty ? "" : " (\(input.featureNames.prefix(6).joined(separator: ", "))\(input.width > 6 ? ", …" : ""))"))
            lines += input.columns.map { "  column \($0.summary)" }
        }
        for output in graph.outputs where !output.labels.isEmpty {
            lines.append("output \(output.name): labels \(output.labels.joined(separator: ", "))")
        }
        let widths = (try? graph.validate().widths) ?? [:]
        let spec = try? state.modelSpec()
        let settings = try? state.trainingSettings()
        let frozenByModel = Set(spec?.frozenLayers ?? [])
        // After --unfreeze-after's epoch the layers learn again: the table shows them as they are now.
        let thawed = settings?.unfreezeAfterEpochs.map { $0 < state.epoch } ?? false
        let frozen = thawed ? [] : frozenByModel
        lines.append(String(repeating: "-", count: 72))
        lines.append("layer".padding(toLength: 16, withPad: " ", startingAt: 0) + "kind".padding(toLength: 14, withPad: " ", startingAt: 0)
                     + "inputs".padding(toLength: 22, withPad: " ", startingAt: 0) + "width".padding(toLength: 8, withPad: " ", startingAt: 0) + "params")
        for node in graph.nodes {
            var kind = node.operation.kind
            if case .dense(let dense) = node.operation { kind += " \(dense.activation.name)" }
            if case .activation(let activation) = node.operation { kind = activation.name }
            lines.append(node.name.padding(toLength: 16, withPad: " ", startingAt: 0) + kind.padding(toLength: 14, withPad: " ", startingAt: 0)
                         + node.inputs.joined(separator: ",").padding(toLength: 22, withPad: " ", startingAt: 0)
                         + "\(widths[node.name] ?? 0)".padding(toLength: 8, withPad: " ", startingAt: 0) + "\(node.operation.parameterCount)"
                         + (frozen.contains(node.name) ? " (frozen)" : ""))
        }
        lines.append(String(repeating: "-", count: 72))
        // As Keras counts them: batch norm's moving mean and variance are not trained.
        let movingStatistics = graph.nodes.reduce(0) { total, node in
            if case .batchNorm(let norm) = node.operation { return total + norm.movingMean.count + norm.movingVariance.count }
            return total
        }
        let frozenParameters = graph.nodes.filter { frozen.contains($0.name) }.reduce(0) { total, node in
            if case .batchNorm(let norm) = node.operation { return total + norm.gamma.count * 2 }
            return total + node.operation.parameterCount
        }
        let fixed = switch (movingStatistics > 0, frozenParameters > 0) {
        case (true, false): ": batch-norm moving statistics"
        case (false, true): ": frozen layers"
        case (true, true): ": \(movingStatistics) batch-norm moving statistics, \(frozenParameters) in frozen layers"
        case (false, false): ""
        }
        lines.append("parameters: \(graph.parameterCount) (trainable \(graph.parameterCount - movingStatistics - frozenParameters), "
                     + "non-trainable \(movingStatistics + frozenParameters)\(fixed))")
        if !frozenByModel.isEmpty {
            let thaw = settings?.unfreezeAfterEpochs
            lines.append("frozen layers (\"trainable\": false): \(frozenByModel.sorted().joined(separator: ", "))"
                         + (thaw.map { thawed ? "; unfrozen after epoch \($0) (fine-tuned since)" : "; unfrozen after epoch \($0)" } ?? "; frozen throughout"))
        }
        if let source = settings?.initializedFrom { lines.append("initialized from \(source) (--init-from)") }
        for node in graph.nodes {
            guard case .batchNorm(let norm) = node.operation else { continue }
            lines.append("batch norm \(node.name): gamma \(stats(norm.gamma)), beta \(stats(norm.beta)), moving mean \(stats(norm.movingMean)), moving variance \(stats(norm.movingVariance))")
        }
        lines += history(state)
        lines.append("training settings: \(SnakeCaseJSON.display(state.trainingSettingsText))")
        if let settings, settings.scaleLearningRate != nil {
            lines.append(String(format: "learning rate %.4g: --lr %.4g × batch size %d / base batch size %d (--scale-lr linear)",
                                settings.effectiveLearningRate, settings.learningRate, settings.batchSize, settings.baseBatchSize ?? 0))
        }
        if let sweep = state.rateSweep {
            lines.append(String(format: "learning rate %.3g chosen by lr-find over %d steps from %.0e to %.2g: %@",
                                sweep.suggestion, sweep.rates.count, sweep.rates.first ?? 0, sweep.rates.last ?? 0, sweep.rule))
        }
        if includeModelConfig {
            lines.append("model config:\n\(state.modelConfig)")
        } else {
            lines.append("model config: \(state.modelConfig.split(separator: "\n").count) lines (nntrain summary --model-config prints them)")
        }
        return lines.joined(separator: "\n")
    }

    /// Every epoch's metrics, one row each, and what early stopping did.
    static func history(_ state: TrainingState) -> [String] {
        guard !state.history.isEmpty else { return [] }
        let loss = Trainer.EpochReport.trainingLossName
        let columns = [loss] + Set(state.history.flatMap(\.metrics.keys)).subtracting([loss]).sorted()
        let widths = columns.map { max($0.count, 8) + 2 }
        func trimmed(_ line: String) -> String { String(line.reversed().drop { $0 == " " }.reversed()) }
        var lines = ["history (\(state.history.count) epochs):",
                     trimmed("epoch  " + zip(columns, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined())]
        for record in state.history {
            let cells = zip(columns, widths).map { column, width in
                (record.metrics[column].map { String(format: "%.4f", $0) } ?? "-").padding(toLength: width, withPad: " ", startingAt: 0)
            }
            let mark = state.best?.epoch == record.epoch ? " *" : ""
            lines.append(trimmed(String(record.epoch).padding(toLength: 7, withPad: " ", startingAt: 0) + cells.joined()) + mark)
        }
        if let best = state.best {
            let settings = try? state.trainingSettings()
            let patience = settings?.earlyStopping?.patience ?? Int.max
            lines.append(String(format: "early stopping on %@: best %.4f at epoch %d (*)", best.monitor, best.value, best.epoch)
                         + (best.epochsWithoutImprovement >= patience
                            ? "; stopped at epoch \(state.epoch) after \(epochs(best.epochsWithoutImprovement)) without improvement, with epoch \(best.epoch)'s weights"
                            : "; \(best.epochsWithoutImprovement) of \(patience) epochs without improvement so far"))
        }
        return lines
    }

    private static func epochs(_ count: Int) -> String { count == 1 ? "1 epoch" : "\(count) epochs" }

    private static func stats(_ tensor: Tensor) -> String {
        let values = tensor.scalars.map(Double.init)
        let mean = values.reduce(0, +) / Double(max(values.count, 1))
        return String(format: "mean %.3f [%.3f, %.3f]", mean, values.min() ?? 0, values.max() ?? 0)
    }
}
