import Foundation
import NNCore
import NNInference

/// Metrics per head, computed with NNInference on the inference graph: the numbers a user
/// sees while training are the numbers the server will give.
public enum Metrics {
    public static let topK = 3

    /// Losses and errors fall as a model improves ("val_loss", "val_price_rmse"); accuracy,
    /// r2 and the like rise. Early stopping and tuning rank by it.
    public static func lowerIsBetter(_ metric: String) -> Bool {
        let name = metric.split(separator: "_").last.map(String.init) ?? metric
        return ["loss", "rmse", "mae", "mse", "error"].contains(name)
    }

    public static func evaluate(_ graph: Graph, heads: [(name: String, loss: Loss)], data: TrainingData) throws -> [String: Double] {
        guard data.rows > 0 else { return [:] }
        let outputs = try Executor(plan: Plan(graph: graph)).predict(data.inputs)
        var metrics: [String: Double] = [:]
        for head in heads {
            let prediction = outputs[head.name]!
            let target = data.targets[head.name]!
            let prefix = heads.count > 1 ? "\(head.name)_" : ""
            let probabilities = outputsProbabilities(graph, head: head.name)
            switch head.loss {
            case .sparseCategoricalCrossEntropy, .categoricalCrossEntropy:
                var loss = 0.0, correct = 0, inTopK = 0
                for row in 0..<data.rows {
                    let scores = (0..<prediction.columns).map { Double(prediction[row, $0]) }
                    let label = head.loss == .sparseCategoricalCrossEntropy ? Int(target[row, 0])
                        : (0..<target.columns).max { target[row, $0] < target[row, $1] }!
                    let p = probabilities ? scores : Activation.softmax(row: scores)
                    loss -= log(max(p[label], 1e-12))
                    let ranked = p.indices.sorted { p[$0] > p[$1] }
                    if ranked[0] == label { correct += 1 }
                    if ranked.prefix(topK).contains(label) { inTopK += 1 }
                }
                metrics[prefix + "loss"] = loss / Double(data.rows)
                metrics[prefix + "accuracy"] = Double(correct) / Double(data.rows)
                metrics[prefix + "top\(topK)_accuracy"] = Double(inTopK) / Double(data.rows)
            case .binaryCrossEntropy:
                var loss = 0.0, correct = 0
                for index in 0..<prediction.count {
                    let p = probabilities ? Double(prediction[index]) : Activation.stableSigmoid(Double(prediction[index]))
                    let y = Double(target[index])
                    loss -= y * log(max(p, 1e-12)) + (1 - y) * log(max(1 - p, 1e-12))
                    if (p >= 0.5) == (y >= 0.5) { correct += 1 }
                }
                metrics[prefix + "loss"] = loss / Double(prediction.count)
                metrics[prefix + "accuracy"] = Double(correct) / Double(prediction.count)
            case .contrastive:
                metrics[prefix + "loss"] = head.loss.evaluate(prediction, target: target).value
            default:
                // The loss in the units training sees (targets / the head's scale), so it compares with the training loss.
                let scale = graph.outputs.first { $0.name == head.name }?.scale ?? 1
                metrics[prefix + "loss"] = head.loss.evaluate(prediction.mapped { $0 / scale }, target: target.mapped { $0 / scale }).value
                let errors = zip(prediction.scalars, target.scalars).map { Double($0) - Double($1) }
                let mean = target.scalars.reduce(0.0) { $0 + Double($1) } / Double(target.count)
                let total = target.scalars.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) }
                let squared = errors.reduce(0) { $0 + $1 * $1 }
                metrics[prefix + "rmse"] = (squared / Double(errors.count)).squareRoot()
                metrics[prefix + "mae"] = errors.reduce(0) { $0 + abs($1) } / Double(errors.count)
                metrics[prefix + "r2"] = total > 0 ? 1 - squared / total : 0
            }
        }
        return metrics
    }

    /// True when the head's node ends in softmax or sigmoid (its values are probabilities).
    static func outputsProbabilities(_ graph: Graph, head: String) -> Bool {
        guard let nodeName = graph.outputs.first(where: { $0.name == head })?.node else { return false }
        return endsInProbabilities(graph, node: nodeName)
    }

    private static func endsInProbabilities(_ graph: Graph, node nodeName: String) -> Bool {
        guard let node = graph.node(named: nodeName) else { return false }
        switch node.operation {
        case .dense(let dense): return dense.activation == .softmax || dense.activation == .sigmoid
        case .sharedDense(let owner): return endsInProbabilities(graph, node: owner)
        case .activation(let activation): return activation == .softmax || activation == .sigmoid
        default: return false
        }
    }
}
