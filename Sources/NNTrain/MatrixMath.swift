import COpenBLAS
import NNCore

/// Dense matrix products on row-major [rows, columns] tensors, through OpenBLAS.
enum MatrixMath {
    /// a[m,k] · b[k,n]
    static func multiply(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
        precondition(b.shape[0] == k, "multiply: \(a.shape) · \(b.shape)")
        return gemm(a, transposeA: false, b, transposeB: false, m: m, n: n, k: k)
    }

    /// aᵀ · b for a[m,k], b[m,n]: the weight gradient xᵀ·dy.
    static func multiplyTransposingFirst(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
        precondition(b.shape[0] == m, "multiplyTransposingFirst: \(a.shape)ᵀ · \(b.shape)")
        return gemm(a, transposeA: true, b, transposeB: false, m: k, n: n, k: m)
    }

    /// a · bᵀ for a[m,n], b[k,n]: the input gradient dy·Wᵀ.
    static func multiplyTransposingSecond(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (m, n, k) = (a.shape[0], a.shape[1], b.shape[0])
        precondition(b.shape[1] == n, "multiplyTransposingSecond: \(a.shape) · \(b.shape)ᵀ")
        return gemm(a, transposeA: false, b, transposeB: true, m: m, n: k, k: n)
    }

    private static func gemm(_ a: Tensor, transposeA: Bool, _ b: Tensor, transposeB: Bool, m: Int, n: Int, k: Int) -> Tensor {
        var c = Tensor(zeros: [m, n])
        guard m > 0, n > 0, k > 0 else { return c }
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                                Int32(m), Int32(n), Int32(k), 1, a.baseAddress, Int32(transposeA ? m : k),
                                b.baseAddress, Int32(transposeB ? k : n), 0, c.baseAddress, Int32(n))
                }
            }
        }
        return c
    }
}

extension Tensor {
    var rows: Int { shape[0] }
    var columns: Int { shape[1] }

    /// Elementwise combination of two tensors of the same shape.
    func zipped(with other: Tensor, _ combine: (Float, Float) -> Float) -> Tensor {
        precondition(shape == other.shape, "shapes \(shape) and \(other.shape) differ")
        var result = self
        other.withUnsafeBufferPointer { other in
            result.withUnsafeMutableBufferPointer { values in
                for index in values.indices { values[index] = combine(values[index], other[index]) }
            }
        }
        return result
    }

    func mapped(_ transform: (Float) -> Float) -> Tensor {
        var result = self
        result.withUnsafeMutableBufferPointer { values in
            for index in values.indices { values[index] = transform(values[index]) }
        }
        return result
    }

    /// Sums over rows: [rows, columns] → [columns].
    func columnSums() -> Tensor {
        var sums = [Double](repeating: 0, count: columns)
        withUnsafeBufferPointer { values in
            for row in 0..<rows {
                for column in 0..<columns { sums[column] += Double(values[row * columns + column]) }
            }
        }
        return Tensor(sums.map { Float($0) })
    }

    /// Adds `vector` to every row.
    func addingRowVector(_ vector: Tensor) -> Tensor {
        var result = self
        let width = columns
        vector.withUnsafeBufferPointer { vector in
            result.withUnsafeMutableBufferPointer { values in
                for index in values.indices { values[index] += vector[index % width] }
            }
        }
        return result
    }

    /// Columns `start ..< start + width` of every row.
    func columnSlice(_ start: Int, width: Int) -> Tensor {
        var result = Tensor(zeros: [rows, width])
        withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { destination in
                for row in 0..<rows {
                    for column in 0..<width { destination[row * width + column] = source[row * columns + start + column] }
                }
            }
        }
        return result
    }

    /// Parts side by side: [rows, Σ widths].
    static func concatenatingColumns(_ parts: [Tensor]) -> Tensor {
        let rows = parts[0].rows
        let width = parts.reduce(0) { $0 + $1.columns }
        var result = Tensor(zeros: [rows, width])
        var offset = 0
        result.withUnsafeMutableBufferPointer { destination in
            for part in parts {
                part.withUnsafeBufferPointer { source in
                    for row in 0..<rows {
                        for column in 0..<part.columns { destination[row * width + offset + column] = source[row * part.columns + column] }
                    }
                }
                offset += part.columns
            }
        }
        return result
    }

    /// Rows at `indices`, in that order.
    func gatheringRows(_ indices: ArraySlice<Int>) -> Tensor {
        var result = Tensor(zeros: [indices.count, columns])
        let width = columns
        withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { destination in
                for (slot, row) in indices.enumerated() {
                    for column in 0..<width { destination[slot * width + column] = source[row * width + column] }
                }
            }
        }
        return result
    }
}
