import NNCore
import NNTrain

/// The hyperparameters a search space may name, spelled as in space files and study records.
/// `units` may also be set per layer: the key "units.<layer>".
public enum Hyperparameter: String, Spelled {
    case learningRate = "learning_rate"
    case batchSize = "batch_size"
    case dropout, l2, momentum, units, layers, activation, optimizer
    public static let noun = "hyperparameter"

    /// The hyperparameter a space key names: "units.hidden2" → units; nil for an unknown key.
    public init?(key: String) {
        if key.hasPrefix("units."), key != "units." { self = .units; return }
        self.init(rawValue: key)
    }

    /// PBT's explore may change it between generations (the network's shape stays fixed).
    public var isMutable: Bool { [.learningRate, .batchSize, .dropout, .l2, .momentum].contains(self) }

    /// Drawn from a range (log_uniform, uniform), not only from a list.
    public var isContinuous: Bool { [.learningRate, .dropout, .l2, .momentum].contains(self) }

    /// Where a range of it must lie.
    var bounds: (low: Double, high: Double) {
        switch self {
        case .dropout: (0, 0.95)
        case .momentum: (0, 0.999)
        default: (0, .infinity)
        }
    }

    /// The names a choice may list, for the hyperparameters that are names.
    var names: [String]? {
        switch self {
        case .activation: Activation.elementwiseNames
        case .optimizer: OptimizerKind.spellings
        default: nil
        }
    }

    /// The largest whole number a choice may list, for counts and sizes (bounded so a typo
    /// cannot ask for an impossible network); nil for the others.
    var mostWholeNumber: Double? {
        switch self {
        case .layers: 64
        case .batchSize, .units: Double(1 << 20)
        default: nil
        }
    }
}

extension Dictionary where Key == String, Value == HyperValue {
    /// A member's value of `parameter` (not a per-layer `units.<layer>`).
    public subscript(_ parameter: Hyperparameter) -> HyperValue? {
        get { self[parameter.rawValue] }
        set { self[parameter.rawValue] = newValue }
    }
}
