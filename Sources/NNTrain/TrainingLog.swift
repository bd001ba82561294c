import NNCore
import NNFormat

/// A run's TensorBoard log (`--logdir DIR`): per epoch, the losses, metrics and learning rate
/// as scalars, and each layer's weights, biases (batch norm's gamma and beta) and activations
/// as histograms.
///
/// As Keras does, the training side goes to DIR/train and the validation metrics, without
/// their "val_" prefix, to DIR/validation: TensorBoard then draws a metric's two curves on one
/// chart ("loss" of train and of validation).
public final class TrainingLog {
    public let directory: String
    let train: TensorBoardEventFile
    let validation: TensorBoardEventFile
    /// Training rows the activation histograms are computed on.
    let activationRows: Int

    public init(directory: String, activationRows: Int = 512) throws(FormatError) {
        self.directory = directory
        train = try TensorBoardEventFile(directory: "\(directory)/train")
        validation = try TensorBoardEventFile(directory: "\(directory)/validation")
        self.activationRows = activationRows
    }

    func record(_ entry: Trainer.EpochReport, of trainer: Trainer) throws(FormatError) {
        let step = entry.epoch
        var trainScalars: [(tag: String, value: Double)] = [(Trainer.EpochReport.trainingLossName, entry.trainingLoss)]
        var validationScalars: [(tag: String, value: Double)] = []
        for key in entry.metrics.keys.sorted() {
            if key.hasPrefix("val_") {
                validationScalars.append((String(key.dropFirst(4)), entry.metrics[key]!))
            } else {
                trainScalars.append((key, entry.metrics[key]!))
            }
        }
        // The rate of the epoch's last step (a schedule moves it every step).
        let optimizer = trainer.optimizer
        trainScalars.append(("learning_rate", Double(optimizer.schedule.rate(atStep: max(optimizer.step - 1, 0)))))
        try train.scalars(trainScalars, step: step)
        if !validationScalars.isEmpty { try validation.scalars(validationScalars, step: step) }
        try train.histograms(Self.histograms(of: trainer, rows: activationRows), step: step)
    }

    /// "<layer>/weights", "<layer>/bias" of every dense layer and "<layer>/activations" of
    /// every layer, in inference mode on the first `rows` training rows.
    static func histograms(of trainer: Trainer, rows: Int) -> [(tag: String, values: [Float])] {
        var model = trainer.model
        let sample = trainer.training.subset(Array(0..<min(rows, trainer.training.rows))[...])
        let pass = model.forward(sample.inputs, mode: .inference)
        var histograms: [(tag: String, values: [Float])] = []
        for node in model.graph.nodes {
            switch node.operation {
            case .dense(let dense):
                histograms.append(("\(node.name)/weights", dense.weights.scalars))
                histograms.append(("\(node.name)/bias", dense.bias.scalars))
            case .batchNorm(let norm):
                // γ and β, the two numbers per unit batch norm learns (the practice asked where to see them).
                histograms.append(("\(node.name)/gamma", norm.gamma.scalars))
                histograms.append(("\(node.name)/beta", norm.beta.scalars))
            case .sharedDense, .activation:
                break
            default:
                continue
            }
            if let values = pass.values[node.name] { histograms.append(("\(node.name)/activations", values.scalars)) }
        }
        return histograms
    }
}
