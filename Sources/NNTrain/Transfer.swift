import NNCore

/// Weights carried from another run's graph into a new one (`--init-from`): layers are
/// matched by name, shapes must agree, and what was and was not loaded is reported. Inputs
/// of the same name and features take the other run's standardization, because the loaded
/// first layer learned on inputs standardized that way (an encoder pretrained on a large
/// unlabeled set keeps its statistics, not those of the few labeled rows).
public enum Transfer {
    public struct Report: Sendable, Equatable {
        /// "enc1 (dense 64×32)", "bn1 (batch_norm 32)".
        public var loaded: [String] = []
        /// Layers with parameters that the other run does not have: initialized as usual.
        public var initialized: [String] = []
        /// Layers of the other run this model does not have (a decoder left behind).
        public var unused: [String] = []
        /// Inputs whose standardization came from the other run.
        public var standardization: [String] = []

        public var lines: [String] {
            var lines = ["loaded \(loaded.count) layer\(loaded.count == 1 ? "" : "s"): \(loaded.joined(separator: ", "))"]
            if !initialized.isEmpty { lines.append("initialized here (not in the other run): \(initialized.joined(separator: ", "))") }
            if !unused.isEmpty { lines.append("not used (not in this model): \(unused.joined(separator: ", "))") }
            for input in standardization { lines.append("input '\(input)': standardized with the other run's statistics") }
            return lines
        }
    }

    public static func load(into graph: inout Graph, from source: Graph, file: String) throws(DataError) -> Report {
        var report = Report()
        var used = Set<String>()
        for index in graph.nodes.indices {
            let node = graph.nodes[index]
            guard node.operation.parameterCount > 0 else { continue }
            guard let other = source.node(named: node.name), other.operation.parameterCount > 0 else {
                report.initialized.append(node.name)
                continue
            }
            used.insert(node.name)
            switch (node.operation, other.operation) {
            case (.dense(var mine), .dense(let theirs)):
                try requireSameShape(node.name, mine.weights.shape, theirs.weights.shape, file: file)
                mine.weights = theirs.weights
                mine.bias = theirs.bias
                graph.nodes[index].operation = .dense(mine)
                report.loaded.append("\(node.name) (dense \(theirs.weights.shape.map(String.init).joined(separator: "×")))")
            case (.batchNorm(var mine), .batchNorm(let theirs)):
                try requireSameShape(node.name, mine.gamma.shape, theirs.gamma.shape, file: file)
                (mine.gamma, mine.beta) = (theirs.gamma, theirs.beta)
                (mine.movingMean, mine.movingVariance) = (theirs.movingMean, theirs.movingVariance)
                graph.nodes[index].operation = .batchNorm(mine)
                report.loaded.append("\(node.name) (batch_norm \(theirs.gamma.count))")
            default:
                throw .invalidModel(file: file, detail: "layer '\(node.name)' is a \(node.operation.kind) here and a \(other.operation.kind) in the run it would load from; rename one of them")
            }
        }
        report.unused = source.nodes.filter { $0.operation.parameterCount > 0 && !used.contains($0.name) }.map(\.name)
        for index in graph.inputs.indices {
            let input = graph.inputs[index]
            guard let other = source.inputs.first(where: { $0.name == input.name }), other.featureNames == input.featureNames,
                  let statistics = other.standardization, input.standardization != nil else { continue }
            graph.inputs[index].standardization = statistics
            report.standardization.append(input.name)
        }
        guard !report.loaded.isEmpty else {
            throw .invalidModel(file: file, detail: "no layer of this model has a namesake with parameters there (it has \(source.nodes.map(\.name).joined(separator: ", "))); --init-from matches layers by name")
        }
        return report
    }

    private static func requireSameShape(_ layer: String, _ mine: [Int], _ theirs: [Int], file: String) throws(DataError) {
        guard mine != theirs else { return }
        let text = { (shape: [Int]) in shape.map(String.init).joined(separator: "×") }
        throw .invalidModel(file: file, detail: "layer '\(layer)' is \(text(mine)) here and \(text(theirs)) there; layers are matched by name, so rename one of them to initialize it here")
    }
}
