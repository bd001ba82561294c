import Foundation
import NNCore

/// A model as data: the declarative model file (JSON) and the Swift functional API both
/// produce one, and `ModelFactory` turns it into a graph with initialized weights.
///
/// JSON example (keys in snake_case):
///
///     {"inputs": [{"name": "x"}],
///      "layers": [{"name": "h1", "type": "dense", "units": 64, "activation": "relu", "inputs": ["x"]},
///                 {"name": "out", "type": "dense", "units": 10, "activation": "softmax", "inputs": ["h1"]}],
///      "outputs": [{"name": "label", "node": "out", "loss": "sparse_categorical_crossentropy", "targets": ["label"]}]}
public struct ModelSpec: Codable, Sendable, Equatable {
    public struct Input: Codable, Sendable, Equatable {
        public var name: String
        /// CSV columns fed to this input; nil = every column that is not a target (and starts
        /// with `columnPrefix` when there is one).
        public var columns: [String]?
        /// Without `columns`: the columns whose names start with this ("left_" for the left
        /// branch of a pair file).
        public var columnPrefix: String?
        /// Standardize with training-split statistics (default true).
        public var standardize: Bool?
        /// Columns read as categories even when they hold numbers (a year, a code); a column
        /// with text in it is a category anyway.
        public var categorical: [String]?
        /// Categorical columns keep at most this many categories (default 100), the most
        /// frequent; the others share an "other" slot.
        public var maxCategories: Int?
        /// A category seen fewer times than this in the training rows (default 1) goes to the
        /// "other" slot; gaps get a slot of their own only when this frequent.
        public var minFrequency: Int?
        /// A numeric column with gaps gets a 0/1 "was missing" feature (default true).
        public var missingIndicator: Bool?
        /// Categorical columns learned as embeddings of this many dimensions instead of
        /// one-hot features (`{"zip": 8}`).
        public var embeddings: [String: Int]?
        /// Categorical columns with more categories than this are embedded (default 50;
        /// `EmbeddingExpansion.dimension` picks the size).
        public var embeddingAbove: Int?

        public init(name: String, columns: [String]? = nil, columnPrefix: String? = nil, standardize: Bool? = nil,
                    categorical: [String]? = nil, maxCategories: Int? = nil, minFrequency: Int? = nil, missingIndicator: Bool? = nil) {
            self.name = name
            self.columns = columns
            self.columnPrefix = columnPrefix
            self.standardize = standardize
            self.categorical = categorical
            self.maxCategories = maxCategories
            self.minFrequency = minFrequency
            self.missingIndicator = missingIndicator
        }
    }

    public struct Layer: Codable, Sendable, Equatable {
        public var name: String
        public var type: LayerKind
        public var inputs: [String]
        public var units: Int?
        public var activation: String?
        /// Slope of leaky_relu or scale of elu.
        public var alpha: Float?
        public var initializer: Initializer?
        public var l1: Float?
        public var l2: Float?
        public var rate: Float?
        public var momentum: Float?
        public var epsilon: Float?
        /// For shared_dense: the dense layer whose weights it applies.
        public var shares: String?
        /// false freezes a dense or batch_norm layer: no updates, no optimizer state (batch
        /// norm runs on its moving statistics); `--unfreeze-after N` thaws it for fine-tuning.
        public var trainable: Bool?

        public init(name: String, type: LayerKind, inputs: [String], units: Int? = nil, activation: String? = nil, alpha: Float? = nil,
                    initializer: Initializer? = nil, l1: Float? = nil, l2: Float? = nil, rate: Float? = nil,
                    momentum: Float? = nil, epsilon: Float? = nil, shares: String? = nil, trainable: Bool? = nil) {
            self.name = name
            self.type = type
            self.inputs = inputs
            self.units = units
            self.activation = activation
            self.alpha = alpha
            self.initializer = initializer
            self.l1 = l1
            self.l2 = l2
            self.rate = rate
            self.momentum = momentum
            self.epsilon = epsilon
            self.shares = shares
            self.trainable = trainable
        }
    }

    /// A head: which node it reads, its loss, its weight in the total, its target columns.
    public struct Head: Codable, Sendable, Equatable {
        public var name: String
        public var node: String
        public var loss: LossKind
        public var weight: Float?
        /// Target columns; nil = the column named like the head (or `--target`).
        public var targets: [String]?
        /// Huber's δ (default 1) or the contrastive margin (default 1).
        public var delta: Float?
        public var margin: Float?
        /// Regression heads train on targets divided by this and answer times it; nil = the
        /// training targets' standard deviation (so losses see values of order 1), 1 = off.
        public var targetScale: Float?
        /// Per-class loss weights of a classification or pair head: "balanced" or a map.
        public var classWeight: ClassWeight?
        /// Decision threshold of precision/recall: a probability for binary heads (default
        /// 0.5), a distance for contrastive heads (default margin / 2).
        public var threshold: Float?
        /// The class names of a text target column, by class index (a binary head: the
        /// negative then the positive one); nil = its distinct values in text order.
        public var labels: [String]?

        public init(name: String, node: String, loss: LossKind, targets: [String]? = nil, weight: Float? = nil,
                    delta: Float? = nil, margin: Float? = nil, targetScale: Float? = nil,
                    classWeight: ClassWeight? = nil, threshold: Float? = nil, labels: [String]? = nil) {
            self.name = name
            self.node = node
            self.loss = loss
            self.targets = targets
            self.weight = weight
            self.delta = delta
            self.margin = margin
            self.targetScale = targetScale
            self.classWeight = classWeight
            self.threshold = threshold
            self.labels = labels
        }
    }

    public var inputs: [Input]
    public var layers: [Layer]
    public var outputs: [Head]
    /// A column of per-row loss weights (`--sample-weight-column`); never a feature.
    public var sampleWeightColumn: String?

    public init(inputs: [Input], layers: [Layer], outputs: [Head], sampleWeightColumn: String? = nil) {
        self.inputs = inputs
        self.layers = layers
        self.outputs = outputs
        self.sampleWeightColumn = sampleWeightColumn
    }

    /// Target columns of a head.
    func targets(of head: Head) -> [String] { head.targets ?? [head.name] }

    /// Names of the layers the model file freezes (`"trainable": false`).
    public var frozenLayers: [String] { layers.filter { $0.trainable == false }.map(\.name) }

    /// The spec with `columns` as the target of its only head that names none (`--target`).
    public func withTarget(_ columns: [String], file: String) throws(DataError) -> ModelSpec {
        var copy = self
        let open = copy.outputs.indices.filter { copy.outputs[$0].targets == nil }
        guard open.count == 1 || copy.outputs.count == 1 else {
            throw .invalidModel(file: file, detail: "--target is ambiguous: \(open.count) outputs name no targets; set 'targets' per output in the model file")
        }
        copy.outputs[open.first ?? 0].targets = columns
        return copy
    }

    public static func decode(json data: Data, file: String) throws(DataError) -> ModelSpec {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let spec: ModelSpec
        do {
            spec = try decoder.decode(ModelSpec.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw .invalidModel(file: file, detail: "missing '\(key.stringValue)' at \(Self.path(context))")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw .invalidModel(file: file, detail: "\(context.debugDescription) at \(Self.path(context))")
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            // An unknown spelling ("unknown layer type 'dnse' (did you mean 'dense'?) …").
            throw .invalidModel(file: file, detail: "\(context.debugDescription) at \(Self.path(context))")
        } catch {
            if let syntax = JSONSyntax.error(in: data) { throw .invalidModel(file: file, detail: syntax) }
            throw .invalidModel(file: file, detail: "not a model file: \(error)")
        }
        try checkKeysAreKnown(data, file: file)
        try spec.checkNamesAreUnique(file: file)
        return spec
    }

    /// Every key of the file must be one a model file has: with the typo `"activaton"` a layer
    /// silently trained as linear, and `"initialiser"` was ignored. The keys come from the
    /// structs themselves (their stored properties, in snake_case), so they cannot drift.
    static func checkKeysAreKnown(_ data: Data, file: String) throws(DataError) {
        guard let top = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return }
        func check(_ object: Any?, _ known: [String], _ path: String, _ what: String) throws(DataError) {
            guard let object = object as? [String: Any] else { return }
            for key in object.keys.sorted() where !known.contains(key) {
                throw .invalidModel(file: file, detail: "unknown key '\(key)' at \(path) (did you mean '\(Spelling.nearest(to: key, in: known))'?); "
                                    + "\(what) has \(known.joined(separator: ", "))")
            }
        }
        try check(top, jsonKeys(of: ModelSpec(inputs: [], layers: [], outputs: [])), "top level", "a model file")
        let sections: [(String, [String], String)] = [
            ("inputs", jsonKeys(of: Input(name: "")), "an input"),
            ("layers", jsonKeys(of: Layer(name: "", type: .dense, inputs: [])), "a layer"),
            ("outputs", jsonKeys(of: Head(name: "", node: "", loss: .mse)), "an output"),
        ]
        for (section, known, what) in sections {
            for (index, entry) in ((top[section] as? [Any]) ?? []).enumerated() {
                try check(entry, known, ".\(section)[\(index)]", what)
            }
        }
    }

    /// The JSON keys of a model file struct: its stored properties in snake_case.
    private static func jsonKeys(of value: Any) -> [String] {
        Mirror(reflecting: value).children.compactMap(\.label).map { label in
            label.reduce(into: "") { out, character in
                if character.isUppercase { out += "_" + character.lowercased() } else { out.append(character) }
            }
        }
    }

    /// Inputs and layers share one namespace (layers read values by name), and outputs have
    /// their own; a repeated name would make the graph ambiguous (found by fuzzing: nntrain
    /// trapped on two inputs named alike).
    func checkNamesAreUnique(file: String) throws(DataError) {
        var seen = Set<String>()
        for name in inputs.map(\.name) + layers.map(\.name) where !seen.insert(name).inserted {
            throw .invalidModel(file: file, detail: "the name '\(name)' is used by more than one input or layer")
        }
        var heads = Set<String>()
        for name in outputs.map(\.name) where !heads.insert(name).inserted {
            throw .invalidModel(file: file, detail: "the output name '\(name)' is used more than once")
        }
    }

    public func encodedJSON() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    private static func path(_ context: DecodingError.Context) -> String {
        let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return path.isEmpty ? "top level" : path
    }

    /// The loss of a head, with its parameters.
    func loss(of head: Head) -> Loss {
        switch head.loss {
        case .mse: .mse
        case .mae: .mae
        case .huber: .huber(delta: head.delta ?? 1)
        case .binaryCrossEntropy: .binaryCrossEntropy
        case .categoricalCrossEntropy: .categoricalCrossEntropy
        case .sparseCategoricalCrossEntropy: .sparseCategoricalCrossEntropy
        case .contrastive: .contrastive(margin: head.margin ?? 1)
        }
    }
}
