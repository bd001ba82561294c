import Foundation
import NNCore

/// `nntrain summary --layer NAME`: one layer's parameters unit by unit. The practice asks
/// "how to check batch norm's gamma and beta … I didn't see anything in the summary": a
/// batch-norm layer prints γ, β and the moving statistics per unit (a γ near 0 switches its
/// unit off; |β| large against γ shifts it into a ReLU's dead zone), a dense layer each unit's
/// incoming-weight norm and bias, then the statistics of all its weights.
public enum LayerReport {
    public struct UnknownLayer: Error, CustomStringConvertible {
        public var name: String
        public var layers: [String]
        public var description: String {
            "no layer '\(name)' (did you mean '\(Spelling.nearest(to: name, in: layers))'?); the layers are \(layers.joined(separator: ", "))"
        }
    }

    public static func text(_ graph: Graph, layer name: String) throws(UnknownLayer) -> String {
        guard let node = graph.nodes.first(where: { $0.name == name }) else {
            throw UnknownLayer(name: name, layers: graph.nodes.map(\.name))
        }
        switch node.operation {
        case .batchNorm(let norm):
            var lines = ["batch norm \(name): \(norm.gamma.count) units, epsilon \(norm.epsilon), momentum \(norm.momentum)",
                         "unit  gamma       beta        moving mean  moving variance"]
            for unit in 0..<norm.gamma.count {
                lines.append(String(format: "%-5d %-11.5g %-11.5g %-12.5g %.5g", unit, norm.gamma[unit], norm.beta[unit],
                                    norm.movingMean[unit], norm.movingVariance[unit]))
            }
            lines.append("gamma: \(statistics(norm.gamma.scalars))")
            lines.append("beta:  \(statistics(norm.beta.scalars))")
            let small = norm.gamma.scalars.filter { abs($0) < 1e-3 }.count
            if small > 0 { lines.append("\(small) of \(norm.gamma.count) units have |gamma| < 0.001: batch norm has switched them off") }
            return lines.joined(separator: "\n") + "\n"
        case .dense(let dense):
            return denseText(name, dense, shared: nil)
        case .sharedDense(let owner):
            guard let ownerNode = graph.nodes.first(where: { $0.name == owner }), case .dense(let dense) = ownerNode.operation else {
                return "\(name): shares the weights of '\(owner)'\n"
            }
            return denseText(name, dense, shared: owner)
        default:
            return "\(name): \(node.operation.kind), no parameters of its own (inputs \(node.inputs.joined(separator: ", ")))\n"
        }
    }

    private static func denseText(_ name: String, _ dense: DenseParameters, shared owner: String?) -> String {
        let inputs = dense.weights.shape[0], units = dense.weights.shape[1]
        var lines = ["dense \(name): \(inputs) inputs → \(units) units, \(dense.activation.name)" + (owner.map { " (the weights of '\($0)')" } ?? ""),
                     "unit  weight norm  bias"]
        for unit in 0..<units {
            let norm = (0..<inputs).reduce(0.0) { $0 + Double(dense.weights[$1, unit]) * Double(dense.weights[$1, unit]) }.squareRoot()
            lines.append(String(format: "%-5d %-12.5g %.5g", unit, norm, dense.bias[unit]))
        }
        lines.append("weights: \(statistics(dense.weights.scalars))")
        lines.append("bias:    \(statistics(dense.bias.scalars))")
        return lines.joined(separator: "\n") + "\n"
    }

    /// "mean 0.012, std 0.31, min -1.2, max 0.98, |w| < 1e-3: 2%".
    static func statistics(_ values: [Float]) -> String {
        let count = Double(max(values.count, 1))
        let mean = values.reduce(0.0) { $0 + Double($1) } / count
        let std = (values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / count).squareRoot()
        let tiny = Double(values.filter { abs($0) < 1e-3 }.count) / count
        return String(format: "mean %.4g, std %.4g, min %.4g, max %.4g, |x| < 1e-3: %.0f%%", mean, std,
                      values.min() ?? 0, values.max() ?? 0, tiny * 100)
    }
}
