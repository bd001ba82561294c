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

    /// A head as metrics see it: its loss, and the decision threshold of precision/recall.
    public struct Head: Sendable {
        public var name: String
        public var loss: Loss
        /// A probability for binary heads (default 0.5), a distance for contrastive heads
        /// (default margin / 2).
        public var threshold: Double?
        /// The head's weight in the training loss (`"weight"` of the output).
        public var weight: Double

        public init(name: String, loss: Loss, threshold: Double? = nil, weight: Double = 1) {
            self.name = name
            self.loss = loss
            self.threshold = threshold
            self.weight = weight
        }
    }

    public static func evaluate(_ graph: Graph, heads: [Head], data: TrainingData) throws -> [String: Double] {
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
                var scores: [Double] = []
                let threshold = head.threshold ?? 0.5
                for index in 0..<prediction.count {
                    let p = probabilities ? Double(prediction[index]) : Activation.stableSigmoid(Double(prediction[index]))
                    let y = Double(target[index])
                    loss -= y * log(max(p, 1e-12)) + (1 - y) * log(max(1 - p, 1e-12))
                    if (p >= threshold) == (y >= 0.5) { correct += 1 }
                    scores.append(p)
                }
                metrics[prefix + "loss"] = loss / Double(prediction.count)
                metrics[prefix + "accuracy"] = Double(correct) / Double(prediction.count)
                if prediction.columns == 1 {
                    let positives = (0..<target.rows).map { target[$0, 0] >= 0.5 }
                    addRanking(&metrics, prefix: prefix, scores: scores, positives: positives, threshold: threshold)
                }
            case .contrastive(let margin):
                metrics[prefix + "loss"] = head.loss.evaluate(prediction, target: target).value
                // Similar pairs should be close: the score is the negated distance.
                let half = prediction.columns / 2
                let distances = (0..<prediction.rows).map { row in
                    (0..<half).reduce(0.0) { sum, j in
                        let d = Double(prediction[row, j]) - Double(prediction[row, half + j])
                        return sum + d * d
                    }.squareRoot()
                }
                let positives = (0..<target.rows).map { target[$0, 0] >= 0.5 }
                addRanking(&metrics, prefix: prefix, scores: distances.map { -$0 }, positives: positives,
                           threshold: -(head.threshold ?? Double(margin) / 2))
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
        if heads.count > 1 {
            // The total, weighted as trained (Σ weight × head loss, without class weights): the
            // default monitor of early stopping and tuning, for one head or many.
            metrics["loss"] = heads.reduce(0) { $0 + $1.weight * metrics["\($1.name)_loss"]! }
        }
        return metrics
    }

    /// ROC AUC of `scores` (higher = more likely positive) and precision/recall of the rule
    /// score ≥ threshold; a metric a split cannot define (one class only) is left out.
    static func addRanking(_ metrics: inout [String: Double], prefix: String, scores: [Double], positives: [Bool], threshold: Double) {
        if let auc = rocAUC(scores: scores, positives: positives) { metrics[prefix + "auc"] = auc }
        var truePositives = 0, predictedPositives = 0
        for (score, positive) in zip(scores, positives) where score >= threshold {
            predictedPositives += 1
            if positive { truePositives += 1 }
        }
        let actualPositives = positives.filter { $0 }.count
        if predictedPositives > 0 { metrics[prefix + "precision"] = Double(truePositives) / Double(predictedPositives) }
        if actualPositives > 0 { metrics[prefix + "recall"] = Double(truePositives) / Double(actualPositives) }
    }

    /// The probability that a random positive scores above a random negative (ties count
    /// half): the Mann-Whitney U statistic over (positives × negatives), from average ranks.
    public static func rocAUC(scores: [Double], positives: [Bool]) -> Double? {
        let positiveCount = positives.filter { $0 }.count, negativeCount = positives.count - positiveCount
        guard positiveCount > 0, negativeCount > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSum = 0.0
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count, scores[order[end + 1]] == scores[order[start]] { end += 1 }
            let averageRank = Double(start + end + 2) / 2
            for index in order[start...end] where positives[index] { rankSum += averageRank }
            start = end + 1
        }
        let u = rankSum - Double(positiveCount) * Double(positiveCount + 1) / 2
        return u / (Double(positiveCount) * Double(negativeCount))
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
