/// A row-major Float32 tensor with 64-byte-aligned storage and value semantics.
///
/// Shapes are small arrays of non-negative dimensions: `[rows, features]` for activations,
/// `[in, out]` for a Dense kernel, `[n]` for a bias or batch-norm vector.
public struct Tensor: Sendable {
    public private(set) var shape: [Int]
    private var storage: AlignedStorage

    /// A zero-filled tensor of `shape`.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "tensor dimensions must be non-negative: \(shape)")
        self.shape = shape
        storage = AlignedStorage(count: Tensor.elementCount(of: shape) ?? 0)
    }

    /// A tensor whose elements the caller writes, every one, before any is read (a kernel's
    /// output): it skips the zero fill, a pass over memory as large as the tensor.
    public init(uninitialized shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "tensor dimensions must be non-negative: \(shape)")
        self.shape = shape
        storage = AlignedStorage(count: Tensor.elementCount(of: shape) ?? 0, zeroed: false)
    }

    /// A tensor holding `values` in row-major order; `values.count` must equal the shape's product.
    public init(shape: [Int], values: [Float]) {
        self.init(zeros: shape)
        precondition(values.count == count, "tensor of shape \(shape) needs \(count) values, got \(values.count)")
        values.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { storage.pointer.update(from: base, count: values.count) }
        }
    }

    /// A rank-1 tensor.
    public init(_ values: [Float]) {
        self.init(shape: [values.count], values: values)
    }

    /// The product of the dimensions, or nil when it overflows `Int` or a dimension is negative.
    /// Loaders use this before trusting a shape read from a file.
    public static func elementCount(of shape: [Int]) -> Int? {
        var product = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            product = next
        }
        return product
    }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }

    /// The elements in row-major order.
    public var scalars: [Float] {
        Array(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    public subscript(index: Int) -> Float {
        get {
            precondition(index >= 0 && index < count, "index \(index) out of range for \(count) elements")
            return storage.pointer[index]
        }
        set {
            precondition(index >= 0 && index < count, "index \(index) out of range for \(count) elements")
            makeUnique()
            storage.pointer[index] = newValue
        }
    }

    /// Element `[row, column]` of a rank-2 tensor.
    public subscript(row: Int, column: Int) -> Float {
        get { self[row * shape[1] + column] }
        set { self[row * shape[1] + column] = newValue }
    }

    /// Reads the elements without copying.
    public func withUnsafeBufferPointer<Result>(
        _ body: (UnsafeBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        try body(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    /// Writes the elements in place (copying first if the storage is shared).
    public mutating func withUnsafeMutableBufferPointer<Result>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        makeUnique()
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
    }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(Tensor.elementCount(of: newShape) == count, "cannot reshape \(shape) to \(newShape)")
        var copy = self
        copy.shape = newShape
        return copy
    }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) {
            storage = AlignedStorage(copying: storage)
        }
    }
}

extension Tensor: Equatable {
    /// Equal shapes and bitwise-equal elements (so NaN payloads compare too, and -0 != +0):
    /// the equality that "bit-identical checkpoints" means.
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        guard lhs.shape == rhs.shape else { return false }
        if lhs.storage === rhs.storage { return true }
        for index in 0..<lhs.count where lhs.storage.pointer[index].bitPattern != rhs.storage.pointer[index].bitPattern {
            return false
        }
        return true
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor(\(shape), [\(preview)\(count > 8 ? ", …" : "")])"
    }
}
