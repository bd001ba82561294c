import NNCore

/// What a run's model and data must agree on, checked before the first step.
enum RunChecks {
    /// The scale a head trains at: regression targets' standard deviation unless the spec
    /// names one; classification and contrastive heads are never scaled.
    static func targetScale(_ head: ModelSpec.Head, loss: Loss, targets: Tensor, file: String) throws(DataError) -> Float {
        switch loss {
        case .mse, .mae, .huber:
            if let scale = head.targetScale {
                guard scale.isFinite, scale > 0 else {
                    throw .invalidModel(file: file, detail: "output '\(head.name)': target_scale must be positive, got \(scale)")
                }
                return scale
            }
            let std = TrainingData.standardization(of: targets).std
            return std.reduce(0, +) / Float(max(std.count, 1))
        default:
            return 1
        }
    }

    /// Each head must have as many units as its loss reads target columns: a 4-unit mse head
    /// with one target column read past the targets and trapped inside the loss.
    static func headWidths(_ spec: ModelSpec, graph: Graph, file: String) throws(DataError) {
        // Widths before labels: a head whose labels do not fit is what this reports.
        var unlabeled = graph
        for index in unlabeled.outputs.indices { unlabeled.outputs[index].labels = [] }
        let widths = (try? unlabeled.validate().widths) ?? [:]
        for (index, head) in spec.outputs.enumerated() {
            let columns = spec.targets(of: head)
            let node = graph.outputs[index].node
            let width = widths[node] ?? 0
            let loss = spec.loss(of: head)
            let named = columns.map { "'\($0)'" }.joined(separator: ", ")
            let labels = graph.outputs[index].labels
            if !labels.isEmpty {
                let binary = loss.name == LossKind.binaryCrossEntropy.rawValue
                let expected = binary ? 2 : width
                guard labels.count == expected, !binary || width == 1 else {
                    throw .invalidModel(file: file, detail: "output '\(head.name)' reads '\(node)', which has \(width) unit\(width == 1 ? "" : "s"), but its target \(named) "
                                        + "has \(labels.count) labels (\(labels.joined(separator: ", "))); "
                                        + (binary ? (labels.count == 2 ? "binary_crossentropy with labels needs 1 unit" : "binary_crossentropy takes 2 labels; use sparse_categorical_crossentropy")
                                           : "give it \(labels.count) units"))
                }
                // A label is chosen from a probability (p > 0.5): the head must answer one.
                if binary, !graph.endsInSigmoid(node) {
                    throw .invalidModel(file: file, detail: "output '\(head.name)' has labels and one unit, so its layer '\(node)' must end in sigmoid (its answer is the probability of '\(labels[1])')")
                }
            }
            switch loss {
            case .sparseCategoricalCrossEntropy:
                guard columns.count == 1 else {
                    throw .invalidModel(file: file, detail: "output '\(head.name)': sparse_categorical_crossentropy reads one target column (the class index), got \(columns.count) (\(named))")
                }
            case .contrastive:
                break
            default:
                guard width == columns.count else {
                    throw .invalidModel(file: file, detail: "output '\(head.name)' reads '\(node)', which has \(width) unit\(width == 1 ? "" : "s"), "
                                        + "but \(columns.count) target column\(columns.count == 1 ? "" : "s") (\(named)); \(loss.name) needs one unit per target column")
                }
            }
        }
    }

    /// A class head much wider than the training file's classes is a model file meant for
    /// other data: digits.json (a 10-way head, 64 pixels) trained on wine.csv (3 classes, 13
    /// features) without a word. Refused when the head has more than twice the classes the
    /// file holds (naming both files and what each holds); a few missing top classes (a rare
    /// class, a subset to fine-tune from) are only warned about. Runs after `targets`, which
    /// names a target that is no class index at all.
    static func classesCoverHeads(_ data: TrainingData, table: String, spec: ModelSpec, graph: Graph, modelFile: String,
                                  warn: (String) -> Void) throws(DataError) {
        let widths = (try? graph.validate().widths) ?? [:]
        for (index, head) in spec.outputs.enumerated() where spec.loss(of: head) == .sparseCategoricalCrossEntropy {
            guard graph.outputs[index].labels.isEmpty, let target = data.targets[head.name], target.rows > 0,
                  let top = target.scalars.max(), top.isFinite, top >= 0, top < Float(Int32.max) else { continue }
            let units = widths[graph.outputs[index].node] ?? 0
            let classes = Int(top) + 1
            guard classes < units else { continue }
            let node = graph.outputs[index].node
            guard units > 2 * classes else {
                warn("output '\(head.name)' has \(units) classes, but \(table) has classes 0…\(classes - 1) only: classes \(classes)…\(units - 1) are never trained")
                continue
            }
            let inputs = graph.inputs.map { "input '\($0.name)' takes \($0.width) of its columns" }.joined(separator: ", ")
            throw .invalidModel(file: modelFile, detail: "output '\(head.name)' has \(units) classes (layer '\(node)' has \(units) units), "
                                + "but \(table) has classes 0…\(classes - 1) only (\(classes)), and \(inputs): is this the model file for \(table)? "
                                + "Give the layer \(classes) units, or train on a file with the classes it is for")
        }
    }

    /// Targets a loss cannot take are refused before training, with the line that holds them.
    static func targets(_ data: TrainingData, file: String, spec: ModelSpec, graph: Graph) throws(DataError) {
        let widths = (try? graph.validate().widths) ?? [:]
        for (index, head) in spec.outputs.enumerated() {
            let loss = spec.loss(of: head)
            let target = data.targets[head.name]!
            let columns = spec.targets(of: head)
            let classes = widths[graph.outputs[index].node] ?? 0
            for row in 0..<target.rows {
                for column in 0..<target.columns {
                    let value = target[row, column]
                    let problem: String? = switch loss {
                    case .sparseCategoricalCrossEntropy:
                        value == value.rounded() && value >= 0 && Int(value) < classes ? nil
                            : "sparse_categorical_crossentropy needs a class index in 0..<\(classes)"
                    case .binaryCrossEntropy, .categoricalCrossEntropy:
                        (0...1).contains(value) ? nil : "\(loss.name) needs targets in [0, 1]"
                    case .contrastive:
                        value == 0 || value == 1 ? nil : "contrastive needs 1 (similar) or 0 (dissimilar)"
                    default: nil
                    }
                    if let problem {
                        throw .targetOutOfRange(file: file, line: row + 2, column: columns[column], value: value, detail: problem)
                    }
                }
            }
        }
    }
}
