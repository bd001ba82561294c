/// The model graph every part of nnserve shares: named inputs, nodes, named outputs.
///
/// Values are referenced by name: a node's `inputs` name graph inputs or other nodes, and each
/// output names the node whose value it exposes. Every value is a matrix [rows, width]; rows
/// are the batch, and `validate()` infers each width. A graph is plain data: the trainer
/// builds it, the file format stores it, the inference engine compiles it.
public struct Graph: Sendable, Equatable {
    public var inputs: [GraphInput]
    public var nodes: [Node]
    public var outputs: [GraphOutput]

    public init(inputs: [GraphInput], nodes: [Node], outputs: [GraphOutput]) {
        self.inputs = inputs
        self.nodes = nodes
        self.outputs = outputs
    }

    /// The node called `name`, if any.
    public func node(named name: String) -> Node? {
        nodes.first { $0.name == name }
    }

    /// Trainable and frozen numbers stored in the graph (kernels, biases, batch-norm vectors).
    public var parameterCount: Int {
        nodes.reduce(0) { $0 + $1.operation.parameterCount }
    }
}

/// A named model input of `width` features.
public struct GraphInput: Sendable, Equatable {
    public var name: String
    public var width: Int
    /// One name per feature (column names of the training CSV), or empty when unknown.
    public var featureNames: [String]
    /// Per-feature statistics the model expects inputs to be standardized with, applied by
    /// the model itself so callers send raw features.
    public var standardization: Standardization?
    /// The raw columns the features are encoded from (`RawColumn`), when the input takes raw
    /// rows — strings, gaps — rather than `width` numbers; empty for a numeric input.
    public var columns: [RawColumn]

    public init(name: String, width: Int, featureNames: [String] = [], standardization: Standardization? = nil, columns: [RawColumn] = []) {
        self.name = name
        self.width = width
        self.featureNames = featureNames
        self.standardization = standardization
        self.columns = columns
    }

    /// An input taking `columns` as raw rows: its width and feature names follow from them.
    public init(name: String, columns: [RawColumn], standardization: Standardization? = nil) {
        self.init(name: name, width: columns.reduce(0) { $0 + $1.width }, featureNames: columns.flatMap(\.featureNames),
                  standardization: standardization, columns: columns)
    }
}

/// x_std = (x - mean) / std, per feature.
public struct Standardization: Sendable, Equatable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }
}

/// A named output (head) exposing the value of `node`, times `scale`.
///
/// The scale lets a regression head train on targets of order 1 (prices in dollars divided
/// by their standard deviation) while the model still answers in the targets' units.
public struct GraphOutput: Sendable, Equatable {
    public var name: String
    public var node: String
    public var scale: Float
    /// Class names of a classification head, by class index ("no", "yes"; species names):
    /// training read them from a text target column; empty when the classes are numbers.
    public var labels: [String]

    public init(name: String, node: String, scale: Float = 1, labels: [String] = []) {
        self.name = name
        self.node = node
        self.scale = scale
        self.labels = labels
    }

    /// The CSV columns of an output's values, the one spelling every tool writes (nntrain
    /// predict, nnclient predict): `name` for a one-wide output, `name_0`, `name_1`, … for a
    /// wider one.
    public static func valueColumns(name: String, width: Int) -> [String] {
        width == 1 ? [name] : (0..<width).map { "\(name)_\($0)" }
    }

    /// The class a row of this output's values names: the largest value's index, or for a
    /// one-unit (binary, sigmoid) head 1 when its probability is over 0.5. Every tool that
    /// writes a label (nntrain predict, nnclient, the Python client) decides the same way.
    public static func predictedClass(_ values: some Collection<Float>) -> Int {
        if values.count == 1 { return values.first! > 0.5 ? 1 : 0 }
        var best = 0
        for (index, value) in values.enumerated() where value > values[values.index(values.startIndex, offsetBy: best)] { best = index }
        return best
    }
}

/// One operation applied to the values named in `inputs`.
public struct Node: Sendable, Equatable {
    public var name: String
    public var operation: NodeOperation
    public var inputs: [String]

    public init(name: String, operation: NodeOperation, inputs: [String]) {
        self.name = name
        self.operation = operation
        self.inputs = inputs
    }
}

/// The operations of the graph IR.
public enum NodeOperation: Sendable, Equatable {
    /// y = activation(x·W + b), W of shape [in, out], b of shape [out].
    case dense(DenseParameters)
    /// Batch normalization; at inference y = γ(x-μ)/√(σ²+ε) + β with the moving statistics.
    case batchNorm(BatchNorm)
    /// Inverted dropout with drop probability `rate`; identity at inference.
    case dropout(rate: Float)
    /// Alpha dropout (for SELU networks) with drop probability `rate`; identity at inference.
    case alphaDropout(rate: Float)
    case activation(Activation)
    /// Features of all inputs side by side, in input order.
    case concat
    /// Elementwise sum of inputs of equal width (residual connections).
    case add
    /// The Dense layer of node `of` (same weights, bias and activation) applied to this
    /// node's input: the second branch of a siamese encoder.
    case sharedDense(of: String)

    /// The short name used in messages and in model files.
    public var kind: String {
        switch self {
        case .dense: "dense"
        case .batchNorm: "batch_norm"
        case .dropout: "dropout"
        case .alphaDropout: "alpha_dropout"
        case .activation: "activation"
        case .concat: "concat"
        case .add: "add"
        case .sharedDense: "shared_dense"
        }
    }

    public var parameterCount: Int {
        switch self {
        case .dense(let dense): dense.weights.count + dense.bias.count
        case .batchNorm(let norm): norm.gamma.count * 4
        default: 0
        }
    }
}

/// The parameters of a fully connected layer.
public struct DenseParameters: Sendable, Equatable {
    /// Kernel of shape [in, out], row-major.
    public var weights: Tensor
    /// Bias of shape [out].
    public var bias: Tensor
    public var activation: Activation

    public init(weights: Tensor, bias: Tensor, activation: Activation = .linear) {
        self.weights = weights
        self.bias = bias
        self.activation = activation
    }

    public var inputWidth: Int { weights.rank == 2 ? weights.shape[0] : 0 }
    public var outputWidth: Int { weights.rank == 2 ? weights.shape[1] : 0 }
}

/// Batch normalization parameters and moving statistics of one layer.
public struct BatchNorm: Sendable, Equatable {
    /// Keras' defaults (training-math.md): moving = moving·momentum + batch·(1-momentum).
    public static let defaultMomentum: Float = 0.99
    public static let defaultEpsilon: Float = 1e-3

    public var gamma: Tensor
    public var beta: Tensor
    public var movingMean: Tensor
    public var movingVariance: Tensor
    public var epsilon: Float
    public var momentum: Float

    public init(gamma: Tensor, beta: Tensor, movingMean: Tensor, movingVariance: Tensor,
                epsilon: Float = defaultEpsilon, momentum: Float = defaultMomentum) {
        self.gamma = gamma
        self.beta = beta
        self.movingMean = movingMean
        self.movingVariance = movingVariance
        self.epsilon = epsilon
        self.momentum = momentum
    }

    /// Freshly initialized statistics for `width` features: γ=1, β=0, μ=0, σ²=1.
    public init(width: Int, epsilon: Float = defaultEpsilon, momentum: Float = defaultMomentum) {
        self.init(gamma: Tensor([Float](repeating: 1, count: width)), beta: Tensor(zeros: [width]),
                  movingMean: Tensor(zeros: [width]), movingVariance: Tensor([Float](repeating: 1, count: width)),
                  epsilon: epsilon, momentum: momentum)
    }

    public var width: Int { gamma.count }

    /// ε of `affine`: the smallest positive normal float, which √(1 + ε) rounds away.
    public static let affineEpsilon = Float.leastNormalMagnitude

    /// x·scale + shift per feature, as a frozen batch norm (μ = 0, σ² = 1): how an imported
    /// model's scaling by constants (ONNX `Add`/`Mul` by a vector, scikit-learn's `Scaler`)
    /// is held, so that folding treats it like any batch norm.
    public static func affine(scale: [Float], shift: [Float]) -> BatchNorm {
        BatchNorm(gamma: Tensor(scale), beta: Tensor(shift), movingMean: Tensor(zeros: [scale.count]),
                  movingVariance: Tensor([Float](repeating: 1, count: scale.count)), epsilon: affineEpsilon)
    }

    /// Whether this is an `affine` transform rather than a normalization learned in training.
    public var isAffine: Bool { epsilon == Self.affineEpsilon }

    /// "batch norm" or "scale and shift", for messages about folding it.
    public var kindDescription: String { isAffine ? "scale and shift" : "batch norm" }
}

extension Graph {
    /// The activation the value of `node` ends in: a dense layer's, or an activation node's
    /// (nil for any other node). Tells a classifier's output (softmax, sigmoid) from a value.
    public func activation(endingNode node: String) -> Activation? {
        switch self.node(named: node)?.operation {
        case .dense(let dense)?: dense.activation
        case .activation(let activation)?: activation
        default: nil
        }
    }

    /// Whether the value of `node` is a sigmoid's.
    public func endsInSigmoid(_ node: String) -> Bool { activation(endingNode: node) == .sigmoid }
}
