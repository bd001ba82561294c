import NNCore

/// Graph rewrites of the exporter: sub-graphs, dropout removal, folding of batch norm and
/// input standardization into Dense weights. Each returns a valid graph and says what it did.
public enum GraphSurgery {
    /// Keeps `outputs` (by output name) and only the nodes and inputs they need.
    public static func selectOutputs(_ graph: Graph, _ names: [String]) throws(ExportError) -> Graph {
        var outputs: [GraphOutput] = []
        for name in names {
            guard let output = graph.outputs.first(where: { $0.name == name }) else {
                throw .unknownOutput(name, known: graph.outputs.map(\.name))
            }
            outputs.append(output)
        }
        return prune(Graph(inputs: graph.inputs, nodes: graph.nodes, outputs: outputs))
    }

    /// The sub-graph ending at `node` (an encoder's embedding), exposed as output `node`.
    public static func until(_ graph: Graph, node: String) throws(ExportError) -> Graph {
        guard graph.node(named: node) != nil else { throw .unknownNode(node, known: graph.nodes.map(\.name)) }
        return prune(Graph(inputs: graph.inputs, nodes: graph.nodes, outputs: [GraphOutput(name: node, node: node)]))
    }

    /// Renames inputs (`left` → `pixels`): an encoder cut from a siamese pair model with
    /// `--until` reads the pair's left branch, and is served for single rows.
    public static func renameInputs(_ graph: Graph, _ renames: [String: String]) throws(ExportError) -> (Graph, [String]) {
        var graph = graph
        var rewrites: [String] = []
        for (old, new) in renames.sorted(by: { $0.key < $1.key }) {
            guard let index = graph.inputs.firstIndex(where: { $0.name == old }) else { throw .unknownInput(old, known: graph.inputs.map(\.name)) }
            guard graph.inputs.allSatisfy({ $0.name != new }), graph.node(named: new) == nil else { throw .nameTaken(new) }
            graph.inputs[index].name = new
            rename(old, to: new, in: &graph)
            rewrites.append("renamed input '\(old)' to '\(new)'")
        }
        return (graph, rewrites)
    }

    /// Drops a prefix every feature name of an input shares with the input's own name
    /// (`left_px0`, `left_px1`, … of input `left` → `px0`, `px1`, …): the column names a pair
    /// file gave the branch are not the names single rows have.
    public static func stripBranchPrefixes(_ graph: Graph, originalNames: [String: String] = [:]) -> (Graph, [String]) {
        var graph = graph
        var rewrites: [String] = []
        for index in graph.inputs.indices where graph.inputs[index].columns.isEmpty && !graph.inputs[index].featureNames.isEmpty {
            let branch = (originalNames[graph.inputs[index].name] ?? graph.inputs[index].name) + "_"
            let names = graph.inputs[index].featureNames
            guard names.allSatisfy({ $0.hasPrefix(branch) && $0.count > branch.count }) else { continue }
            graph.inputs[index].featureNames = names.map { String($0.dropFirst(branch.count)) }
            rewrites.append("input '\(graph.inputs[index].name)': feature names without the pair file's '\(branch)' (\(names[0]) → \(graph.inputs[index].featureNames[0]), …)")
        }
        return (graph, rewrites)
    }

    /// Drops nodes no output depends on and inputs nothing reads (shared-dense owners stay).
    static func prune(_ graph: Graph) -> Graph {
        var needed = Set(graph.outputs.map(\.node))
        var frontier = Array(needed)
        while let name = frontier.popLast() {
            guard let node = graph.node(named: name) else { continue }
            var references = node.inputs
            if case .sharedDense(let owner) = node.operation { references.append(owner) }
            for reference in references where needed.insert(reference).inserted { frontier.append(reference) }
        }
        return Graph(inputs: graph.inputs.filter { needed.contains($0.name) }, nodes: graph.nodes.filter { needed.contains($0.name) },
                     outputs: graph.outputs)
    }

    /// Removes dropout and alpha dropout (identity at inference), rewiring their readers.
    public static func removeDropout(_ graph: Graph) -> (Graph, [String]) {
        var graph = graph
        var rewrites: [String] = []
        while let index = graph.nodes.firstIndex(where: { if case .dropout = $0.operation { true } else if case .alphaDropout = $0.operation { true } else { false } }) {
            let node = graph.nodes.remove(at: index)
            rename(node.name, to: node.inputs[0], in: &graph)
            rewrites.append("removed \(node.operation.kind) '\(node.name)'")
        }
        return (graph, rewrites)
    }

    /// Folds batch norm (moving statistics) into the preceding linear Dense when it is that
    /// Dense's only reader, or into the Dense layers that read it when those are its only
    /// readers; folds input standardization into the Dense layers that read an input when
    /// they are its only readers. Anything else stays a node (NNInference folds more at load).
    /// `intoFollowingDense` false keeps batch norms and standardizations that could only fold
    /// into the rows of a following dense (int8 weights: a rescaled row would dominate its
    /// column's scale; see PlanBuilder.lowerDense).
    public static func foldAffine(_ graph: Graph, intoFollowingDense: Bool = true) -> (Graph, [String]) {
        var graph = graph
        var rewrites: [String] = []
        var changed = true
        while changed {
            changed = false
            for (index, node) in graph.nodes.enumerated() {
                guard case .batchNorm(let norm) = node.operation else { continue }
                let affine = AffineTransform(norm)
                let source = node.inputs[0]
                if let producer = graph.nodes.firstIndex(where: { $0.name == source }), case .dense(var dense) = graph.nodes[producer].operation,
                   AffineFoldingRules.foldsIntoProducer(activation: dense.activation, addsResidual: false,
                                                        hasOtherReaders: readers(of: source, in: graph).count != 1 || graph.outputs.contains { $0.node == source },
                                                        sharesWeights: isShared(source, in: graph)) {
                    dense = dense.foldingAfter(affine)
                    graph.nodes[producer].operation = .dense(dense)
                    graph.nodes.remove(at: index)
                    rename(node.name, to: source, in: &graph)
                    rewrites.append("folded \(norm.kindDescription) '\(node.name)' into the preceding dense '\(source)'")
                    changed = true
                    break
                }
                let consumers = readers(of: node.name, in: graph)
                if intoFollowingDense, !consumers.isEmpty, !graph.outputs.contains(where: { $0.node == node.name }),
                   consumers.allSatisfy({ isFoldableDense(graph.nodes[$0], in: graph) }) {
                    for consumer in consumers {
                        guard case .dense(let dense) = graph.nodes[consumer].operation else { continue }
                        graph.nodes[consumer].operation = .dense(dense.foldingBefore(affine))
                    }
                    graph.nodes.remove(at: index)
                    rename(node.name, to: source, in: &graph)
                    rewrites.append("folded \(norm.kindDescription) '\(node.name)' into the following dense \(consumers.map { "'\(graph.nodes[$0 > index ? $0 - 1 : $0].name)'" }.joined(separator: ", "))")
                    changed = true
                    break
                }
            }
        }
        for (inputIndex, input) in graph.inputs.enumerated() where intoFollowingDense {
            guard let standardization = input.standardization else { continue }
            let consumers = readers(of: input.name, in: graph)
            guard !consumers.isEmpty, !graph.outputs.contains(where: { $0.node == input.name }),
                  consumers.allSatisfy({ isFoldableDense(graph.nodes[$0], in: graph) }) else { continue }
            let affine = AffineTransform(standardization)
            for consumer in consumers {
                guard case .dense(let dense) = graph.nodes[consumer].operation else { continue }
                graph.nodes[consumer].operation = .dense(dense.foldingBefore(affine))
            }
            graph.inputs[inputIndex].standardization = nil
            rewrites.append("folded the standardization of input '\(input.name)' into dense \(consumers.map { "'\(graph.nodes[$0].name)'" }.joined(separator: ", "))")
        }
        return (graph, rewrites)
    }

    /// Indices of the nodes reading `name`.
    private static func readers(of name: String, in graph: Graph) -> [Int] {
        graph.nodes.indices.filter { graph.nodes[$0].inputs.contains(name) }
    }

    private static func isShared(_ name: String, in graph: Graph) -> Bool {
        graph.nodes.contains { if case .sharedDense(let owner) = $0.operation { owner == name } else { false } }
    }

    private static func isFoldableDense(_ node: Node, in graph: Graph) -> Bool {
        let isDense = if case .dense = node.operation { true } else { false }
        return AffineFoldingRules.foldsIntoConsumer(isDense: isDense, sharesWeights: isShared(node.name, in: graph))
    }

    private static func rename(_ old: String, to new: String, in graph: inout Graph) {
        for index in graph.nodes.indices {
            graph.nodes[index].inputs = graph.nodes[index].inputs.map { $0 == old ? new : $0 }
        }
        for index in graph.outputs.indices where graph.outputs[index].node == old {
            graph.outputs[index].node = new
        }
    }
}
