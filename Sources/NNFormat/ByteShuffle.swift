import Foundation

/// The byte-shuffle filter: element bytes regrouped by position (all first bytes, then all
/// second bytes, …). Exponents and high mantissa bytes of neighbouring weights are alike, so
/// grouping them gives zstd long runs to find; the ratio gain is in docs/BENCHMARKS.md.
enum ByteShuffle {
    static func shuffle(_ data: Data, elementSize: Int) -> Data {
        transpose(data, elementSize: elementSize, forward: true)
    }

    static func unshuffle(_ data: Data, elementSize: Int) -> Data {
        transpose(data, elementSize: elementSize, forward: false)
    }

    /// Bytes past the last whole element (none in a valid tensor) stay where they are, so the
    /// filter is a bijection on any input and length checks happen elsewhere.
    private static func transpose(_ data: Data, elementSize: Int, forward: Bool) -> Data {
        let elements = data.count / elementSize
        guard elementSize > 1, elements > 1 else { return data }
        var output = data
        data.withUnsafeBytes { (source: UnsafeRawBufferPointer) in
            output.withUnsafeMutableBytes { (destination: UnsafeMutableRawBufferPointer) in
                for element in 0..<elements {
                    for byte in 0..<elementSize {
                        let interleaved = element * elementSize + byte
                        let grouped = byte * elements + element
                        if forward {
                            destination[grouped] = source[interleaved]
                        } else {
                            destination[interleaved] = source[grouped]
                        }
                    }
                }
            }
        }
        return output
    }

    /// Applies the filter in place to every tensor of a graph message.
    static func apply(to graph: inout Nnserve_Graph, forward: Bool) {
        for index in graph.nodes.indices {
            switch graph.nodes[index].operation {
            case .dense(var dense):
                apply(to: &dense.weights, forward: forward)
                apply(to: &dense.bias, forward: forward)
                graph.nodes[index].operation = .dense(dense)
            case .batchNorm(var norm):
                apply(to: &norm.gamma, forward: forward)
                apply(to: &norm.beta, forward: forward)
                apply(to: &norm.movingMean, forward: forward)
                apply(to: &norm.movingVariance, forward: forward)
                graph.nodes[index].operation = .batchNorm(norm)
            default:
                break
            }
        }
    }

    static func apply(to tensors: inout [Nnserve_NamedTensor], forward: Bool) {
        for index in tensors.indices {
            apply(to: &tensors[index].tensor, forward: forward)
        }
    }

    static func apply(to tensor: inout Nnserve_Tensor, forward: Bool) {
        let size = TensorCoding.elementSize(of: tensor.dataType)
        tensor.data = forward ? shuffle(tensor.data, elementSize: size) : unshuffle(tensor.data, elementSize: size)
    }
}
