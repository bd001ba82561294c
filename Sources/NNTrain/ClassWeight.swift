/// Per-class loss weights of a head (`"class_weight"` in the model file): `"balanced"` weighs
/// each class by rows / (classes × its rows) on the training split (scikit-learn's rule, so a
/// 10%-positive pair set weighs positives 5 and negatives 0.56), or `{"1": 9}` names them;
/// a class not named weighs 1.
public enum ClassWeight: Codable, Sendable, Equatable {
    case balanced
    case map([Int: Float])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let word = try? container.decode(String.self) {
            guard word == "balanced" else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "class_weight is \"balanced\" or a map of class → weight, not \"\(word)\"")
            }
            self = .balanced
            return
        }
        let named = try container.decode([String: Float].self)
        var weights: [Int: Float] = [:]
        for (key, weight) in named {
            guard let label = Int(key), label >= 0 else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "class_weight key '\(key)' is not a class index (0, 1, …)")
            }
            guard weight.isFinite, weight >= 0 else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "class_weight of class \(key) is \(weight); a weight is 0 or positive")
            }
            weights[label] = weight
        }
        self = .map(weights)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .balanced: try container.encode("balanced")
        case .map(let weights): try container.encode(Dictionary(uniqueKeysWithValues: weights.map { (String($0.key), $0.value) }))
        }
    }

    /// The weight of each class present in `labels` (balanced) or named in the map.
    public func resolved(labels: [Int]) -> [Int: Float] {
        switch self {
        case .map(let weights):
            return weights
        case .balanced:
            var counts: [Int: Int] = [:]
            for label in labels { counts[label, default: 0] += 1 }
            let classes = Float(counts.count)
            return counts.mapValues { Float(labels.count) / (classes * Float($0)) }
        }
    }
}
