/// What validation learns about a graph: an execution order and the width of every value.
public struct GraphAnalysis: Sendable, Equatable {
    /// Node indices in an order where every node comes after the values it reads.
    public var order: [Int]
    /// Features per row of every named value (graph inputs and nodes).
    public var widths: [String: Int]
}

extension Graph {
    /// Checks names, references, acyclicity, arities, parameter shapes and widths.
    ///
    /// Loaders call this before anything trusts a graph read from a file, so every shape a
    /// later stage indexes with has been checked here.
    public func validate() throws(GraphError) -> GraphAnalysis {
        var widths: [String: Int] = [:]
        for input in inputs {
            try input.check()
            guard widths.updateValue(input.width, forKey: input.name) == nil else { throw .duplicateName(input.name) }
        }
        // A request names numeric inputs and raw columns alike: one name, one tensor, one kind.
        let numericInputs = Set(inputs.filter(\.columns.isEmpty).map(\.name))
        var columnKinds: [String: String] = [:]
        for input in inputs {
            if let clash = input.columns.first(where: { numericInputs.contains($0.name) }) {
                throw .invalidInput(input: input.name, detail: "raw column '\(clash.name)' has the name of a numeric input; a request could not tell them apart")
            }
            for column in input.columns where columnKinds.updateValue(column.kindName, forKey: column.name).map({ $0 != column.kindName }) == true {
                throw .invalidInput(input: input.name, detail: "raw column '\(column.name)' is \(column.kindName) here and not in another input; a request sends it once")
            }
        }
        var indexByName: [String: Int] = [:]
        for (index, node) in nodes.enumerated() {
            guard !node.name.isEmpty else { throw .emptyName(what: "node #\(index) (\(node.operation.kind))") }
            guard widths[node.name] == nil, indexByName.updateValue(index, forKey: node.name) == nil else {
                throw .duplicateName(node.name)
            }
        }
        for node in nodes {
            for reference in node.inputs where widths[reference] == nil && indexByName[reference] == nil {
                throw .unknownReference(node: node.name, reference: reference)
            }
        }
        guard !outputs.isEmpty else { throw .noOutputs }
        var outputNames = Set<String>()
        for output in outputs {
            guard !output.name.isEmpty else { throw .emptyName(what: "output for node '\(output.node)'") }
            guard outputNames.insert(output.name).inserted else { throw .duplicateName(output.name) }
            guard indexByName[output.node] != nil || widths[output.node] != nil else {
                throw .unknownOutputNode(output: output.name, node: output.node)
            }
            guard output.scale.isFinite, output.scale > 0 else {
                throw .invalidParameter(node: output.node, detail: "output '\(output.name)' has scale \(output.scale); it must be finite and positive")
            }
        }

        let order = try topologicalOrder(indexByName: indexByName)
        for index in order {
            let node = nodes[index]
            let inputWidths = node.inputs.map { widths[$0]! }
            widths[node.name] = try node.outputWidth(inputWidths: inputWidths, sharedDense: { name in
                indexByName[name].flatMap { index -> DenseParameters? in
                    if case .dense(let dense) = nodes[index].operation { return dense }
                    return nil
                }
            })
        }
        for output in outputs where !output.labels.isEmpty {
            let width = widths[output.node]!
            // A one-unit head is binary: its two labels are class 0 and class 1.
            let expected = width == 1 ? 2 : width
            guard output.labels.count == expected else {
                throw .invalidParameter(node: output.node, detail: "output '\(output.name)' has \(output.labels.count) labels for \(width) unit\(width == 1 ? " (a binary head needs 2)" : "s")")
            }
            guard Set(output.labels).count == output.labels.count, !output.labels.contains("") else {
                throw .invalidParameter(node: output.node, detail: "output '\(output.name)' has an empty or repeated label")
            }
        }
        return GraphAnalysis(order: order, widths: widths)
    }

    /// Kahn's algorithm, stable in declaration order so plans are deterministic.
    private func topologicalOrder(indexByName: [String: Int]) throws(GraphError) -> [Int] {
        var pending = nodes.map { node in node.inputs.filter { indexByName[$0] != nil }.count }
        var readers = [[Int]](repeating: [], count: nodes.count)
        for (index, node) in nodes.enumerated() {
            for reference in node.inputs {
                if let producer = indexByName[reference] { readers[producer].append(index) }
            }
        }
        var ready = pending.indices.filter { pending[$0] == 0 }.reversed() as [Int]
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        while let next = ready.popLast() {
            order.append(next)
            for reader in readers[next] {
                pending[reader] -= 1
                if pending[reader] == 0 {
                    ready.append(reader)
                    ready.sort(by: >)
                }
            }
        }
        guard order.count == nodes.count else {
            throw .cycle(nodes: pending.indices.filter { pending[$0] > 0 }.map { nodes[$0].name })
        }
        return order
    }
}

extension GraphInput {
    fileprivate func check() throws(GraphError) {
        guard !name.isEmpty else { throw .emptyName(what: "graph input") }
        guard width > 0 else { throw .invalidInput(input: name, detail: "width must be positive, got \(width)") }
        guard featureNames.isEmpty || featureNames.count == width else {
            throw .invalidInput(input: name, detail: "has \(featureNames.count) feature names for \(width) features")
        }
        if let standardization {
            guard standardization.mean.count == width, standardization.std.count == width else {
                throw .invalidInput(input: name, detail: "standardization has \(standardization.mean.count) means and \(standardization.std.count) deviations for \(width) features")
            }
            if let bad = standardization.std.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
                throw .invalidInput(input: name, detail: "standard deviation of feature \(bad) is \(standardization.std[bad]); it must be finite and positive")
            }
            if let bad = standardization.mean.firstIndex(where: { !$0.isFinite }) {
                throw .invalidInput(input: name, detail: "mean of feature \(bad) is \(standardization.mean[bad])")
            }
        }
        guard !columns.isEmpty else { return }
        let encodedWidth = columns.reduce(0) { $0 + $1.width }
        guard encodedWidth == width else {
            throw .invalidInput(input: name, detail: "its \(columns.count) raw columns encode \(encodedWidth) features; the input has \(width)")
        }
        let encodedNames = columns.flatMap(\.featureNames)
        if let feature = zip(featureNames, encodedNames).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
            throw .invalidInput(input: name, detail: "feature \(feature.offset) is named '\(feature.element.0)'; its raw column encodes '\(feature.element.1)' there")
        }
        var seen = Set<String>()
        for column in columns {
            guard !column.name.isEmpty, seen.insert(column.name).inserted else {
                throw .invalidInput(input: name, detail: "raw column '\(column.name)' is empty or repeated")
            }
            try column.check(input: name)
        }
    }
}

extension RawColumn {
    fileprivate func check(input: String) throws(GraphError) {
        func refuse(_ detail: String) -> GraphError { .invalidInput(input: input, detail: "column '\(name)' \(detail)") }
        let profile = self.profile
        guard profile.missingRate.isFinite, (0...1).contains(profile.missingRate), profile.fractions.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw refuse("has a profile with rates outside [0, 1]")
        }
        switch kind {
        case .numeric(let numeric):
            guard numeric.fill.isFinite else { throw refuse("fills gaps with \(numeric.fill)") }
            guard profile.edges.count <= ColumnProfile.maximumEdges, profile.fractions.count == profile.edges.count + 1, profile.edges.allSatisfy(\.isFinite),
                  zip(profile.edges, profile.edges.dropFirst()).allSatisfy({ $0 <= $1 }) else {
                throw refuse("has \(profile.fractions.count) bin fractions for \(profile.edges.count) ascending edges")
            }
        case .categorical(let categories):
            guard categories.width > 0, categories.vocabulary.count <= Categories.maximumVocabulary,
                  Set(categories.vocabulary).count == categories.vocabulary.count,
                  categories.vocabulary.allSatisfy({ !$0.isEmpty && $0.utf8.count <= Categories.maximumBytes }) else {
                throw refuse("has an empty, repeated or too long category, or more than \(Categories.maximumVocabulary)")
            }
            guard profile.edges.isEmpty, profile.fractions.count == categories.vocabulary.count + 1 else {
                throw refuse("has \(profile.fractions.count) category fractions for \(categories.vocabulary.count) categories and other")
            }
        }
    }
}

extension Node {
    /// The width this node produces from inputs of `inputWidths`, checking its parameters.
    fileprivate func outputWidth(inputWidths: [Int], sharedDense: (String) -> DenseParameters?) throws(GraphError) -> Int {
        func requireInputs(_ expected: String, _ valid: Bool) throws(GraphError) {
            guard valid else {
                throw .wrongInputCount(node: name, kind: operation.kind, expected: expected, got: inputWidths.count)
            }
        }
        switch operation {
        case .dense(let dense):
            try requireInputs("1", inputWidths.count == 1)
            guard dense.weights.rank == 2 else {
                throw .invalidParameter(node: name, detail: "kernel must have shape [in, out], got \(dense.weights.shape)")
            }
            guard dense.bias.shape == [dense.outputWidth] else {
                throw .invalidParameter(node: name, detail: "bias has shape \(dense.bias.shape), kernel \(dense.weights.shape) needs [\(dense.outputWidth)]")
            }
            guard dense.outputWidth > 0 else {
                throw .invalidParameter(node: name, detail: "kernel \(dense.weights.shape) has no output units")
            }
            guard dense.inputWidth == inputWidths[0] else {
                throw .widthMismatch(node: name, detail: "input '\(inputs[0])' has \(inputWidths[0]) features, kernel \(dense.weights.shape) expects \(dense.inputWidth)")
            }
            if let problem = dense.activation.parameterProblem { throw .invalidParameter(node: name, detail: problem) }
            return dense.outputWidth
        case .batchNorm(let norm):
            try requireInputs("1", inputWidths.count == 1)
            let width = inputWidths[0]
            for (label, vector) in [("gamma", norm.gamma), ("beta", norm.beta), ("moving_mean", norm.movingMean),
                                    ("moving_variance", norm.movingVariance)] where vector.shape != [width] {
                throw .widthMismatch(node: name, detail: "\(label) has shape \(vector.shape), input '\(inputs[0])' has \(width) features")
            }
            guard norm.epsilon.isFinite, norm.epsilon > 0 else {
                throw .invalidParameter(node: name, detail: "epsilon must be positive, got \(norm.epsilon)")
            }
            guard norm.momentum.isFinite, (0...1).contains(norm.momentum) else {
                throw .invalidParameter(node: name, detail: "momentum must be in [0, 1], got \(norm.momentum)")
            }
            if let bad = norm.movingVariance.scalars.firstIndex(where: { !($0.isFinite && $0 >= 0) }) {
                throw .invalidParameter(node: name, detail: "moving_variance[\(bad)] is \(norm.movingVariance[bad]); it must be finite and non-negative")
            }
            return width
        case .dropout(let rate), .alphaDropout(let rate):
            try requireInputs("1", inputWidths.count == 1)
            guard rate.isFinite, rate >= 0, rate < 1 else {
                throw .invalidParameter(node: name, detail: "\(operation.kind) rate must be in [0, 1), got \(rate)")
            }
            return inputWidths[0]
        case .activation(let activation):
            try requireInputs("1", inputWidths.count == 1)
            if let problem = activation.parameterProblem { throw .invalidParameter(node: name, detail: problem) }
            return inputWidths[0]
        case .sharedDense(let owner):
            try requireInputs("1", inputWidths.count == 1)
            guard let dense = sharedDense(owner) else {
                throw .invalidParameter(node: name, detail: "shares the weights of '\(owner)', which is not a dense node")
            }
            guard dense.inputWidth == inputWidths[0] else {
                throw .widthMismatch(node: name, detail: "input '\(inputs[0])' has \(inputWidths[0]) features, shared dense '\(owner)' expects \(dense.inputWidth)")
            }
            return dense.outputWidth
        case .concat:
            try requireInputs("at least 1", !inputWidths.isEmpty)
            return inputWidths.reduce(0, +)
        case .add:
            try requireInputs("at least 2", inputWidths.count >= 2)
            guard Set(inputWidths).count == 1 else {
                let described = zip(inputs, inputWidths).map { "'\($0)' has \($1)" }.joined(separator: ", ")
                throw .widthMismatch(node: name, detail: "add needs inputs of equal width: \(described) features")
            }
            return inputWidths[0]
        }
    }
}
