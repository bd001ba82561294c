import Foundation
import NNCore

/// The oracle for inference: interprets a graph node by node in Double with plain loops,
/// no folding, no fusion, no layout tricks. Slow on purpose; obviously right.
public enum ReferenceExecutor {
    /// Outputs by name, each a list of rows, for the given `rows` of the inputs.
    public static func run(_ graph: Graph, inputs: [String: Tensor], rows selected: [Int]) throws -> [String: [[Double]]] {
        let order = try graph.validate().order
        var values: [String: [[Double]]] = [:]
        for input in graph.inputs {
            let tensor = inputs[input.name]!
            values[input.name] = selected.map { row in
                (0..<input.width).map { column in
                    let raw = Double(tensor[row, column])
                    guard let standardization = input.standardization else { return raw }
                    return (raw - Double(standardization.mean[column])) / Double(standardization.std[column])
                }
            }
        }
        for index in order {
            let node = graph.nodes[index]
            let operands = node.inputs.map { values[$0]! }
            var operation = node.operation
            if case .sharedDense(let owner) = operation { operation = graph.node(named: owner)!.operation }
            values[node.name] = evaluate(operation, operands)
        }
        return Dictionary(uniqueKeysWithValues: graph.outputs.map { output in
            (output.name, values[output.node]!.map { row in row.map { $0 * Double(output.scale) } })
        })
    }

    private static func evaluate(_ operation: NodeOperation, _ operands: [[[Double]]]) -> [[Double]] {
        let x = operands[0]
        switch operation {
        case .dense(let dense):
            let k = dense.inputWidth, n = dense.outputWidth
            return x.map { row in
                var output = (0..<n).map { Double(dense.bias[$0]) }
                for p in 0..<k where row[p] != 0 {
                    for j in 0..<n { output[j] += row[p] * Double(dense.weights[p * n + j]) }
                }
                return apply(dense.activation, output)
            }
        case .batchNorm(let norm):
            return x.map { row in
                row.indices.map { j -> Double in
                    let deviation = (Double(norm.movingVariance[j]) + Double(norm.epsilon)).squareRoot()
                    let normalized = (row[j] - Double(norm.movingMean[j])) / deviation
                    return Double(norm.gamma[j]) * normalized + Double(norm.beta[j])
                }
            }
        case .dropout, .alphaDropout:
            return x
        case .activation(let activation):
            return x.map { apply(activation, $0) }
        case .concat:
            return x.indices.map { row in operands.flatMap { $0[row] } }
        case .add:
            return x.indices.map { row in x[row].indices.map { j in operands.reduce(0) { $0 + $1[row][j] } } }
        case .sharedDense:
            preconditionFailure("resolved to the owner's dense by the caller")
        }
    }

    private static func apply(_ activation: Activation, _ row: [Double]) -> [Double] {
        activation == .softmax ? Activation.softmax(row: row) : row.map(activation.value)
    }

    /// Largest error of `actual` against `expected`, relative to each output row's largest
    /// magnitude (floored at 1e-3 so rows of near-zeros are compared absolutely).
    public static func maxRelativeError(_ actual: Tensor, rows: [Int], expected: [[Double]]) -> Double {
        var worst = 0.0
        let width = actual.shape[1]
        for (slot, row) in rows.enumerated() {
            let scale = max(1e-3, expected[slot].map(abs).max() ?? 0)
            for column in 0..<width {
                let error = abs(Double(actual[row, column]) - expected[slot][column]) / scale
                if !(error <= worst) { worst = error.isNaN ? .infinity : error }
            }
        }
        return worst
    }
}
