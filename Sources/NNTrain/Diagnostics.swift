import Foundation
import NNCore

/// What a trained network's layers do on real rows, with advice: dead ReLU units ("we often
/// observe 20 to 30% of such dead neurons"), SELU's self-normalization (does each layer stay
/// near mean 0, std 1?), saturated sigmoid/tanh units, weight and gradient norms (vanishing or
/// exploding), and outputs that collapsed to a constant. Activations come from inference mode
/// (moving statistics, no dropout); gradients, when given, from a training step's pass.
public enum Diagnostics {
    public struct Layer: Sendable, Equatable {
        public var name: String
        /// The layer's activation ("relu", "selu", …; "linear" for batch norm and the like).
        public var activation: String
        public var units: Int
        /// Units that are 0 on every row (relu only).
        public var deadUnits: Int?
        /// Units saturated (|tanh| > 0.99, sigmoid outside [0.01, 0.99]) on at least 99% of rows.
        public var saturatedUnits: Int?
        public var mean: Double
        public var standardDeviation: Double
        /// Frobenius norm of the Dense weights (nil for other layers).
        public var weightNorm: Double?
        /// Frobenius norm of the loss's gradient for those weights (nil without gradients).
        public var gradientNorm: Double?
    }

    public struct Report: Sendable {
        public var rows: Int
        public var layers: [Layer]
        /// Outputs whose every value varies less than 1e-6 (relative) across rows.
        public var collapsedOutputs: [String]
        /// One line per finding, each with its advice; empty when nothing stands out.
        public var findings: [String]

        /// The table of every layer, then the findings.
        public var text: String {
            var lines = [String(format: "%d rows, inference mode", rows),
                         "layer".padding(toLength: 16, withPad: " ", startingAt: 0) + "activation".padding(toLength: 12, withPad: " ", startingAt: 0)
                            + "units   dead    saturated  mean      std       |W|       |dL/dW|"]
            for layer in layers {
                func share(_ count: Int?) -> String { count.map { String(format: "%5.1f%%", 100 * Double($0) / Double(max(layer.units, 1))) } ?? "    -" }
                lines.append(layer.name.padding(toLength: 16, withPad: " ", startingAt: 0) + layer.activation.padding(toLength: 12, withPad: " ", startingAt: 0)
                             + String(format: "%-7d %@  %@     %8.3f  %8.3f  %@%@", layer.units, share(layer.deadUnits), share(layer.saturatedUnits),
                                      layer.mean, layer.standardDeviation,
                                      (layer.weightNorm.map { String(format: "%.3g", $0) } ?? "-").padding(toLength: 10, withPad: " ", startingAt: 0),
                                      layer.gradientNorm.map { String(format: "%.3g", $0) } ?? "-"))
            }
            lines += findings.isEmpty ? ["no findings: no dead or saturated units above 20%, no vanishing or exploding gradient, no collapsed output"] : findings
            return lines.joined(separator: "\n")
        }
    }

    /// Share of dead (or saturated) units from which a layer is reported.
    public static let reportedShare = 0.2

    /// A layer's gradient is vanishing when its norm relative to its weights' is this many
    /// times smaller than the largest layer's.
    public static let vanishingRatio = 1e-3
    /// A layer's gradient is exploding when its norm exceeds its weights' this many times: one
    /// step at rate 0.1 would move the weights by their whole size.
    public static let explodingRatio = 10.0

    /// `gradients`: the loss's gradient per parameter ("h1/weights"), if known.
    public static func diagnose(_ graph: Graph, inputs: [String: Tensor], gradients: [String: Tensor]? = nil) -> Report {
        var model: TrainingGraph
        do { model = try TrainingGraph(graph) } catch { return Report(rows: 0, layers: [], collapsedOutputs: [], findings: ["the graph does not validate: \(error)"]) }
        let pass = model.forward(inputs, mode: .inference)
        let rows = inputs.values.first?.shape[0] ?? 0
        var layers: [Layer] = []
        var findings: [String] = []
        for node in graph.nodes {
            let activation: Activation
            var weightNorm: Double?, gradientNorm: Double?
            switch node.operation {
            case .dense, .sharedDense:
                let dense = model.denseParameters(of: node)
                activation = dense.activation
                weightNorm = norm(dense.weights)
                // A shared dense layer's gradient is its owner's (both uses summed).
                if case .dense = node.operation { gradientNorm = gradients?["\(node.name)/weights"].map(norm) }
            case .activation(let kind):
                activation = kind
            case .batchNorm:
                activation = .linear
            default:
                continue
            }
            guard let values = pass.values[node.name], values.rank == 2, values.shape[0] > 0 else { continue }
            let (count, units) = (values.shape[0], values.shape[1])
            var dead: Int?, saturated: Int?
            if activation == .relu {
                dead = (0..<units).filter { unit in (0..<count).allSatisfy { values[$0, unit] == 0 } }.count
            }
            if activation == .tanh || activation == .sigmoid {
                saturated = (0..<units).filter { unit in
                    let saturatedRows = (0..<count).filter { row in
                        let value = values[row, unit]
                        return activation == .tanh ? abs(value) > 0.99 : (value < 0.01 || value > 0.99)
                    }.count
                    return Double(saturatedRows) >= 0.99 * Double(count)
                }.count
            }
            let scalars = values.scalars.map(Double.init)
            let mean = scalars.reduce(0, +) / Double(scalars.count)
            let std = (scalars.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(scalars.count)).squareRoot()
            layers.append(Layer(name: node.name, activation: activation.name, units: units, deadUnits: dead, saturatedUnits: saturated,
                                mean: mean, standardDeviation: std, weightNorm: weightNorm, gradientNorm: gradientNorm))
            if let dead, Double(dead) >= reportedShare * Double(units) {
                findings.append(String(format: "%@: %.0f%% of relu units dead (%d of %d, zero on every row) — lower the learning rate, or use leaky_relu/elu",
                                       node.name, 100 * Double(dead) / Double(units), dead, units))
            }
            if let saturated, Double(saturated) >= reportedShare * Double(units) {
                findings.append(String(format: "%@: %.0f%% of %@ units saturated — standardize the inputs, lower the learning rate, or use relu",
                                       node.name, 100 * Double(saturated) / Double(units), activation.name))
            }
            if activation == .selu, abs(mean) > 0.25 || abs(std - 1) > 0.25 {
                findings.append(String(format: "%@: selu output has mean %.2f, std %.2f, away from 0 and 1 — SELU self-normalizes with lecun_normal init, standardized inputs and alpha_dropout",
                                       node.name, mean, std))
            }
        }
        findings += gradientFindings(layers)
        var collapsed: [String] = []
        for output in graph.outputs {
            guard let values = pass.values[output.node], values.rank == 2, values.shape[0] > 1 else { continue }
            let varies = (0..<values.shape[1]).contains { unit in
                let column = (0..<values.shape[0]).map { Double(values[$0, unit]) }
                let spread = column.max()! - column.min()!
                return spread > 1e-6 * max(1, abs(column[0]))
            }
            if !varies {
                collapsed.append(output.name)
                findings.append("output '\(output.name)' is the same for every row: the model collapsed to a constant — " + collapseCause(layers))
            }
        }
        return Report(rows: rows, layers: layers, collapsedOutputs: collapsed, findings: findings)
    }

    /// Why an output is constant, from what the diagnosis found in the layers before it: the
    /// advice to lower the rate misled when the gradients had vanished.
    static func collapseCause(_ layers: [Layer]) -> String {
        if let vanishing = vanishingLayers(layers), !vanishing.isEmpty {
            return "the gradient vanishes at \(vanishing.joined(separator: ", ")) (above), so the layers before the output barely learn: "
                + "use relu/elu/selu (with he/lecun init) or batch norm, or fewer layers"
        }
        let dead = layers.filter { ($0.deadUnits ?? 0) > 0 && $0.deadUnits == $0.units }.map(\.name)
        if !dead.isEmpty {
            return "every relu unit of \(dead.joined(separator: ", ")) is dead (zero on every row): lower the learning rate (`nntrain lr-find`), or use leaky_relu/elu"
        }
        let saturated = layers.filter { ($0.saturatedUnits ?? 0) > 0 && $0.saturatedUnits == $0.units }.map(\.name)
        if !saturated.isEmpty {
            return "every unit of \(saturated.joined(separator: ", ")) is saturated: standardize the inputs, or use relu"
        }
        return "a learning rate far too high (try `nntrain lr-find`), dead units before it, or inputs of a scale nothing learns from (an input with \"standardize\": false)"
    }

    /// Layers whose relative gradient is under `vanishingRatio` of the liveliest layer's (nil
    /// without gradients).
    static func vanishingLayers(_ layers: [Layer]) -> [String]? {
        let relative = relativeGradients(layers)
        guard !relative.isEmpty else { return nil }
        guard let liveliest = relative.filter({ $0.1.isFinite }).max(by: { $0.1 < $1.1 }), liveliest.1 > 0 else { return [] }
        return relative.filter { $0.1.isFinite && $0.1 < vanishingRatio * liveliest.1 }.map(\.0)
    }

    static func relativeGradients(_ layers: [Layer]) -> [(String, Double)] {
        layers.compactMap { layer -> (String, Double)? in
            guard let gradient = layer.gradientNorm, let weights = layer.weightNorm else { return nil }
            return (layer.name, weights > 0 ? gradient / weights : gradient)
        }
    }

    private static func norm(_ tensor: Tensor) -> Double {
        tensor.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    }

    /// Exploding (a gradient larger than the weights it moves, or not finite) and vanishing
    /// (a layer whose relative gradient is a thousandth of the liveliest layer's) gradients.
    static func gradientFindings(_ layers: [Layer]) -> [String] {
        let relative = relativeGradients(layers)
        var findings: [String] = []
        for (name, ratio) in relative where !ratio.isFinite || ratio > explodingRatio {
            findings.append(String(format: "%@: gradient norm %.3g times the weights' — exploding gradients: clip them (--clip-norm 1) or lower the learning rate", name, ratio))
        }
        guard let liveliest = relative.filter({ $0.1.isFinite }).max(by: { $0.1 < $1.1 }), liveliest.1 > 0 else { return findings }
        for (name, ratio) in relative where ratio.isFinite && ratio < vanishingRatio * liveliest.1 {
            findings.append(String(format: "%@: gradient %.2g of its weights' norm, %@× less than %@'s — vanishing gradients: use relu/elu/selu (with he/lecun init) or batch norm, or fewer layers",
                                   name, ratio, Self.times(liveliest.1 / max(ratio, .leastNonzeroMagnitude)), liveliest.0))
        }
        return findings
    }

    /// "6667", or "4.9e+35" where whole digits would fill the line.
    static func times(_ ratio: Double) -> String {
        ratio < 1e6 ? String(format: "%.0f", ratio) : String(format: "%.2g", ratio)
    }
}
