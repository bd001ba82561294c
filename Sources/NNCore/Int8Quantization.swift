/// Symmetric int8 codes with one scale per column: how `--weights int8` stores a Dense kernel
/// and how a plan quantizes the kernel it computes (after folding). One owner, so a file's
/// codes and a plan's codes agree: a value read back as q·scale quantizes to the same q.
public enum Int8Quantization {
    /// Codes of a row-major [rows, columns] matrix: scale_j = max_i |w_ij| / 127 (1 for an
    /// all-zero or non-finite column; at least the smallest normal float, so a column of
    /// subnormal weights never gets scale 0), q_ij = round(w_ij / scale_j) to nearest even, in ±127.
    public static func columnCodes(_ values: [Float], columns: Int) -> (codes: [Int8], scales: [Float]) {
        guard columns > 0 else { return ([], []) }
        var largest = [Float](repeating: 0, count: columns)
        for (index, value) in values.enumerated() { largest[index % columns] = max(largest[index % columns], abs(value)) }
        let scales = largest.map { $0 > 0 && $0.isFinite ? max($0 / 127, .leastNormalMagnitude) : 1 }
        let codes = values.enumerated().map { index, value in
            let scaled = (value / scales[index % columns]).rounded(.toNearestOrEven)
            return Int8(scaled.isNaN ? 0 : max(-127, min(127, scaled)))
        }
        return (codes, scales)
    }
}
