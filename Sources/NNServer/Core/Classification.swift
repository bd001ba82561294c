import Foundation

/// Triton's classification extension: an output asked for with `classification = k` is
/// answered as BYTES of shape [rows, k], each element "score:index" (Triton adds ":label" from
/// a model's label file; nnserve's models carry none), highest score first. Scores are written
/// as Triton writes them (C's %f: six decimals); equal scores go in index order.
enum Classification {
    /// The top `count` classes of each row of a [rows, width] output, row by row.
    static func top(_ count: Int, of values: [Float], rows: Int, width: Int) -> [String] {
        let k = min(count, width)
        var classes: [String] = []
        classes.reserveCapacity(rows * k)
        for row in 0..<rows {
            let scores = values[(row * width)..<((row + 1) * width)]
            let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
            for index in order.prefix(k) {
                classes.append(String(format: "%f:%d", Double(scores[index]), index - row * width))
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
