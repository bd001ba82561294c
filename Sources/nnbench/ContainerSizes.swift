import Foundation
import NNCore
import NNFormat

/// File sizes of one model under each storage choice.
struct ContainerSizes {
    struct Row {
        var label: String
        var bytes: Int
    }

    func measure(_ graph: Graph) throws -> [Row] {
        let model = ModelFile(name: "sizes", graph: graph)
        var rows = [Row(label: "raw float32 parameters (4 bytes each)", bytes: graph.parameterCount * 4)]
        let choices: [(String, WriteOptions)] = [
            ("zstd 9, float32", WriteOptions(shuffle: false, compressionLevel: 9, weights: .float32)),
            ("byte-shuffle + zstd 9, float32", WriteOptions(shuffle: true, compressionLevel: 9, weights: .float32)),
            ("byte-shuffle + zstd 19, float32", WriteOptions(shuffle: true, compressionLevel: 19, weights: .float32)),
            ("byte-shuffle + zstd 9, float16", WriteOptions(shuffle: true, compressionLevel: 9, weights: .float16)),
            ("byte-shuffle + zstd 9, bfloat16", WriteOptions(shuffle: true, compressionLevel: 9, weights: .bfloat16)),
        ]
        for (label, options) in choices {
            rows.append(Row(label: label, bytes: try model.encoded(options: options).count))
        }
        return rows
    }
}
