import NNCore
import NNInference

/// Dense matrix products on row-major [rows, columns] tensors, through the kernels serving
/// runs (`SharedKernels.multiply`: the CPU's best set, weights read in place).
enum MatrixMath {
    /// a[m,k] · b[k,n] (+ `bias` on every row).
    static func multiply(_ a: Tensor, _ b: Tensor, addingRow bias: Tensor? = nil) -> Tensor {
        let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
        precondition(b.shape[0] == k, "multiply: \(a.shape) · \(b.shape)")
        precondition(bias.map { $0.count == n } ?? true, "multiply: bias of \(bias?.count ?? 0) for \(n) columns")
        return product(a, transposeA: false, b, bias: bias, m: m, n: n, k: k)
    }

    /// aᵀ · b for a[m,k], b[m,n]: the weight gradient xᵀ·dy.
    static func multiplyTransposingFirst(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
        precondition(b.shape[0] == m, "multiplyTransposingFirst: \(a.shape)ᵀ · \(b.shape)")
        return product(a, transposeA: true, b, bias: nil, m: k, n: n, k: m)
    }

    /// a · bᵀ for a[m,n], b[k,n]: the input gradient dy·Wᵀ, through a transposed copy of b
    /// (the kernels read b row by row; one pass over W is small next to m passes of products).
    static func multiplyTransposingSecond(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(b.shape[1] == a.shape[1], "multiplyTransposingSecond: \(a.shape) · \(b.shape)ᵀ")
        return multiply(a, b.transposed())
    }

    private static func product(_ a: Tensor, transposeA: Bool, _ b: Tensor, bias: Tensor?, m: Int, n: Int, k: Int) -> Tensor {
        var c = Tensor(uninitialized: [m, n])
        guard m > 0, n > 0 else { return c }
        guard k > 0 else { return Tensor(zeros: [m, n]).addingRowVector(bias ?? Tensor(zeros: [n])) }
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    withOptionalPointer(bias) { bias in
                        SharedKernels.multiply(m: m, n: n, k: k, a: a.baseAddress!, lda: transposeA ? m : k, transposeA: transposeA,
                                               b: b.baseAddress!, ldb: n, bias: bias, c: c.baseAddress!, ldc: n)
                    }
                }
            }
        }
        return c
    }

    private static func withOptionalPointer<R>(_ tensor: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
        guard let tensor else { return body(nil) }
        return tensor.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}

extension Tensor {
    var rows: Int { shape[0] }
    var columns: Int { shape[1] }

    /// [columns, rows].
    func transposed() -> Tensor {
        var result = Tensor(uninitialized: [columns, rows])
        withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { destination in
                SharedKernels.transpose(rows: rows, columns: columns, x: source.baseAddress!, y: destination.baseAddress!)
            }
        }
        return result
    }

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
        var result = Tensor(uninitialized: [indices.count, columns])
        let width = columns
        guard width > 0 else { return result }
        withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { destination in
                for (slot, row) in indices.enumerated() {
                    precondition(row >= 0 && row < rows, "row \(row) of \(rows)")
                    (destination.baseAddress! + slot * width).initialize(from: source.baseAddress! + row * width, count: width)
                }
            }
        }
        return result
    }
}
