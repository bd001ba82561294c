import NNCore

/// The Swift functional API: layers are values called on symbolic tensors, as in Keras'
/// functional models, and the result is the same `ModelSpec` a JSON model file gives.
///
///     let x = Input("features")
///     let h = Dense(30, activation: .relu)(x)
///     let price = Dense(1, activation: .softplus)(Concat(x, h))
///     let spec = Model(heads: [Head(price, name: "price", loss: .huber(delta: 1))])
///
/// A layer value called twice creates two layers; to apply the *same* weights to another
/// input (a siamese encoder), use `Shared(leftEmbedding)(right)`.
public struct Symbol: Sendable {
    public let name: String
    let inputs: [ModelSpec.Input]
    let layers: [ModelSpec.Layer]

    /// A symbol for a new layer reading `operands`, carrying every layer before it.
    static func layer(_ layer: ModelSpec.Layer, after operands: [Symbol]) -> Symbol {
        var inputs: [ModelSpec.Input] = []
        var layers: [ModelSpec.Layer] = []
        for operand in operands {
            for input in operand.inputs where !inputs.contains(where: { $0.name == input.name }) { inputs.append(input) }
            for earlier in operand.layers where !layers.contains(where: { $0.name == earlier.name }) { layers.append(earlier) }
        }
        return Symbol(name: layer.name, inputs: inputs, layers: layers + [layer])
    }
}

/// Names layers that were not named: kind plus a per-model counter, in call order.
private func autoName(_ kind: String, _ operands: [Symbol]) -> String {
    let existing = Set(operands.flatMap { $0.layers.map(\.name) } + operands.flatMap { $0.inputs.map(\.name) })
    var index = 1
    while existing.contains("\(kind)\(index)") { index += 1 }
    return "\(kind)\(index)"
}

/// The model file's `alpha` for activations that take one.
private func alphaParameter(_ activation: Activation) -> Float? {
    switch activation {
    case .leakyRelu(let alpha), .elu(let alpha): alpha
    default: nil
    }
}

/// A model input: CSV `columns` (nil = every column that is not a target).
public func Input(_ name: String, columns: [String]? = nil, standardize: Bool = true) -> Symbol {
    Symbol(name: name, inputs: [ModelSpec.Input(name: name, columns: columns, standardize: standardize)], layers: [])
}

public struct Dense: Sendable {
    public var units: Int
    public var activation: Activation
    public var initializer: Initializer?
    public var l1: Float?
    public var l2: Float?
    public var name: String?

    public init(_ units: Int, activation: Activation = .linear, initializer: Initializer? = nil,
                l1: Float? = nil, l2: Float? = nil, name: String? = nil) {
        self.units = units
        self.activation = activation
        self.initializer = initializer
        self.l1 = l1
        self.l2 = l2
        self.name = name
    }

    public func callAsFunction(_ x: Symbol) -> Symbol {
        .layer(ModelSpec.Layer(name: name ?? autoName("dense", [x]), type: .dense, inputs: [x.name], units: units,
                                      activation: activation.name, alpha: alphaParameter(activation), initializer: initializer, l1: l1, l2: l2),
                      after: [x])
    }
}

public struct BatchNormalization: Sendable {
    public var momentum: Float
    public var epsilon: Float
    public var name: String?

    public init(momentum: Float = BatchNorm.defaultMomentum, epsilon: Float = BatchNorm.defaultEpsilon, name: String? = nil) {
        self.momentum = momentum
        self.epsilon = epsilon
        self.name = name
    }

    public func callAsFunction(_ x: Symbol) -> Symbol {
        .layer(ModelSpec.Layer(name: name ?? autoName("batch_norm", [x]), type: .batchNorm, inputs: [x.name],
                               momentum: momentum, epsilon: epsilon), after: [x])
    }
}

public struct Dropout: Sendable {
    public var rate: Float
    public var alpha: Bool
    public var name: String?

    /// Inverted dropout, or alpha dropout (for SELU networks) when `alpha` is true.
    public init(_ rate: Float, alpha: Bool = false, name: String? = nil) {
        self.rate = rate
        self.alpha = alpha
        self.name = name
    }

    public func callAsFunction(_ x: Symbol) -> Symbol {
        let type: LayerKind = alpha ? .alphaDropout : .dropout
        return .layer(ModelSpec.Layer(name: name ?? autoName(type.rawValue, [x]), type: type, inputs: [x.name], rate: rate), after: [x])
    }
}

/// An activation as its own layer (after batch norm, say).
public struct Activate: Sendable {
    public var activation: Activation
    public var name: String?

    public init(_ activation: Activation, name: String? = nil) {
        self.activation = activation
        self.name = name
    }

    public func callAsFunction(_ x: Symbol) -> Symbol {
        .layer(ModelSpec.Layer(name: name ?? autoName("activation", [x]), type: .activation, inputs: [x.name],
                               activation: activation.name, alpha: alphaParameter(activation)), after: [x])
    }
}

/// The Dense layer that produced `owner`, applied with the same weights to another input.
public struct Shared: Sendable {
    public var owner: Symbol
    public var name: String?

    public init(_ owner: Symbol, name: String? = nil) {
        self.owner = owner
        self.name = name
    }

    public func callAsFunction(_ x: Symbol) -> Symbol {
        .layer(ModelSpec.Layer(name: name ?? autoName("shared", [x, owner]), type: .sharedDense, inputs: [x.name], shares: owner.name),
               after: [owner, x])
    }
}

/// Features of all operands side by side (wide & deep: route raw features to the output).
public func Concat(_ operands: Symbol..., name: String? = nil) -> Symbol {
    .layer(ModelSpec.Layer(name: name ?? autoName("concat", operands), type: .concat, inputs: operands.map(\.name)), after: operands)
}

/// Elementwise sum (residual connections).
public func Add(_ operands: Symbol..., name: String? = nil) -> Symbol {
    .layer(ModelSpec.Layer(name: name ?? autoName("add", operands), type: .add, inputs: operands.map(\.name)), after: operands)
}

/// A head of a model: the symbol it outputs, its loss, weight and target columns.
public struct Head: Sendable {
    public var symbol: Symbol
    public var name: String
    public var loss: Loss
    public var weight: Float
    public var targets: [String]?
    /// See `ModelSpec.Head.targetScale`.
    public var targetScale: Float?

    public init(_ symbol: Symbol, name: String, loss: Loss, weight: Float = 1, targets: [String]? = nil, targetScale: Float? = nil) {
        self.symbol = symbol
        self.name = name
        self.loss = loss
        self.weight = weight
        self.targets = targets
        self.targetScale = targetScale
    }
}

/// The model spec of `heads`: every layer they depend on, inputs in first-use order.
public func Model(heads: [Head]) -> ModelSpec {
    // A placeholder layer after every head collects their layers in order; it is dropped below.
    let combined = Symbol.layer(ModelSpec.Layer(name: "", type: .concat, inputs: []), after: heads.map(\.symbol))
    let outputs = heads.map { head -> ModelSpec.Head in
        var delta: Float?, margin: Float?
        if case .huber(let value) = head.loss { delta = value }
        if case .contrastive(let value) = head.loss { margin = value }
        return ModelSpec.Head(name: head.name, node: head.symbol.name, loss: head.loss.kind, targets: head.targets,
                              weight: head.weight, delta: delta, margin: margin, targetScale: head.targetScale)
    }
    return ModelSpec(inputs: combined.inputs, layers: Array(combined.layers.dropLast()), outputs: outputs)
}
