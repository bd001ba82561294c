/// A fixed-size, 64-byte-aligned block of Float32 owned by one object.
///
/// Invariants: `pointer` is valid for `count` elements for the object's whole life and is
/// freed exactly once in `deinit`. The storage never escapes except through `Tensor`, which
/// copies it before any write when it is shared (copy-on-write), so sharing an instance
/// across threads is safe as long as nobody writes through `pointer` directly.
public final class AlignedStorage: @unchecked Sendable {
    /// Cache-line alignment: AVX loads never split a line and every row of a tensor whose
    /// width is a multiple of 16 starts on a line.
    public static let alignment = 64

    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    /// `count` floats, zero-filled unless `zeroed` is false (for a caller that overwrites every
    /// element before reading any: Float is trivial, so the skipped fill is only a cost saved).
    public init(count: Int, zeroed: Bool = true) {
        precondition(count >= 0, "AlignedStorage count must be non-negative, got \(count)")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: max(count, 1) * MemoryLayout<Float>.stride,
            alignment: Self.alignment
        )
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        if zeroed { pointer.initialize(repeating: 0, count: max(count, 1)) }
    }

    /// A copy of `other`'s contents in a new allocation.
    public convenience init(copying other: AlignedStorage) {
        self.init(count: other.count, zeroed: false)
        pointer.initialize(from: other.pointer, count: other.count)
    }

    deinit {
        UnsafeMutableRawPointer(pointer).deallocate()
    }
}
