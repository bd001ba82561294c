import Foundation

/// Triton's classification extension: an output asked for with `classification = k` is
/// answered as BYTES of shape [rows, k], each element "score:index", or "score:index:label" for
/// a head trained on text labels (Triton takes labels from a label file; nnserve's come with
/// the model), highest score first. Scores are written as Triton writes them (C's %f: six
/// decimals); equal scores go in index order. A one-unit head with two labels is binary: its
/// classes are labels[0] with 1 - p and labels[1] with p.
enum Classification {
    /// The top `count` classes of each row of a [rows, width] output, row by row.
    static func top(_ count: Int, of values: [Float], rows: Int, width: Int, labels: [String] = []) -> [String] {
        let binary = width == 1 && labels.count == 2
        let classCount = binary ? 2 : width
        let k = min(count, classCount)
        var classes: [String] = []
        classes.reserveCapacity(rows * k)
        var scores = [Float](repeating: 0, count: classCount)
        for row in 0..<rows {
            if binary {
                scores[1] = values[row]
                scores[0] = 1 - values[row]
            } else {
                for index in 0..<width { scores[index] = values[row * width + index] }
            }
            let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
            for index in order.prefix(k) {
                let label = labels.indices.contains(index) ? ":" + labels[index] : ""
                classes.append(String(format: "%f:%d", Double(scores[index]), index) + label)
            }
        }
        return classes
    }

    /// BYTES elements in the binary tensor layout: each a 4-byte little-endian length, then
    /// its bytes (HTTP binary data, gRPC raw_output_contents).
    static func binary(_ elements: [String]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(elements.reduce(0) { $0 + 4 + $1.utf8.count })
        for element in elements {
            withUnsafeBytes(of: UInt32(element.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: element.utf8)
        }
        return bytes
    }
}
