import NNCore

// The names a run is described with, as enums whose raw values are the spellings in model
// files, flags, search spaces and checkpoints (reading and "did you mean": NNCore's Spelled).
// Activations and initializers are NNCore's `Activation` and `Initializer`.

/// How parameters are updated (`--optimizer`); the update rules are `Optimizer.Rule`.
public enum OptimizerKind: String, Spelled {
    case sgd, momentum, nesterov, adam, adamw
    public static let noun = "optimizer"
}

/// How the learning rate moves over a run (`--schedule`); the shapes are `LearningRateSchedule`.
public enum ScheduleKind: String, Spelled {
    case constant, step, exponential, cosine
    case oneCycle = "one_cycle"
    public static let noun = "schedule"
}

/// `--scale-lr`: how a rate chosen at one batch size carries to another.
public enum LearningRateScaling: String, Spelled {
    /// The rate is multiplied by batch size / base batch size (Goyal et al. 2017).
    case linear
    public static let noun = "learning-rate scaling"
}

/// A head's loss as named in a model file; with its parameters it is a `Loss`.
public enum LossKind: String, Spelled {
    case mse, mae, huber
    case binaryCrossEntropy = "binary_crossentropy"
    case categoricalCrossEntropy = "categorical_crossentropy"
    case sparseCategoricalCrossEntropy = "sparse_categorical_crossentropy"
    case contrastive
    public static let noun = "loss"
}

/// A layer's `type` in a model file.
public enum LayerKind: String, Spelled {
    case dense
    case sharedDense = "shared_dense"
    case batchNorm = "batch_norm"
    case dropout
    case alphaDropout = "alpha_dropout"
    case activation, softmax, concat, add
    public static let noun = "layer type"

    /// Layers with parameters of their own: the ones `"trainable": false` can freeze.
    public var hasOwnParameters: Bool { self == .dense || self == .batchNorm }

    /// Layers that drop units in training (and vanish from the served model).
    public var dropsUnits: Bool { self == .dropout || self == .alphaDropout }
}
