import CNNKernels

/// Training's two heavy kernels on several cores: matrix products (`SharedKernels.multiply`)
/// and Adam updates (`SharedKernels.adamUpdate`). A wide product's columns (a tall one's
/// rows) are cut into one share per thread, on multiples of the AVX-512 tile; an update's
/// parameters into contiguous ranges. The calling thread takes the first share, spinning
/// workers the others. Shares write disjoint memory and only read what they share, so they
/// need no locks, and each runs the one-thread kernel on its part. Every element of c is
/// computed by the same operations in the same order whichever share or tile it falls in
/// (its own sum over k, then the bias), so the result is bit for bit the one-thread result.
///
/// One job at a time: `SharedKernels` guards the instance with a lock, and a caller that
/// finds it taken (another trainer on another thread) runs its job on its own thread.
final class ParallelTrainingKernels: @unchecked Sendable {
    /// Below this many multiply-adds (1 M, ~10 µs on one core) a product stays on the calling
    /// thread: a spinning worker starts within a microsecond, a sleeping one in tens. Measured
    /// on 2 threads (Zen 5, six runs each): M2 at batch 32 ran 118k-145k samples/s with this
    /// cut against 115k-121k with 8 M (which keeps its 7.5 M products whole).
    static let minimumMultiplyAddsToSplit = 1 << 20
    /// Smaller updates stay on the calling thread: 64 k parameters are 1.25 MB of traffic
    /// (five arrays), a few microseconds, the order of what a hand-off saves.
    static let minimumParametersToSplit = 1 << 16
    /// Share boundaries fall on multiples of the widest register tile (gemm_avx512.c: 8 × 48)
    /// and, for updates, of a cache line.
    static let columnQuantum = 48
    static let rowQuantum = 8
    static let parameterQuantum = 16

    let threads: Int
    private let table: nn_kernel_table
    private var workers: [SpinningWorker] = []
    /// The job being split. Written before the workers are started (`SpinningWorker`
    /// publishes it with release/acquire ordering), read by every share.
    private var job = Job.none

    private enum Job {
        case none
        case product(Product)
        case adam(AdamStep)
    }

    private struct Product {
        var m: Int, n: Int, k: Int
        var a: UnsafePointer<Float>
        var lda: Int
        var transposeA: Bool
        var b: UnsafePointer<Float>
        var ldb: Int
        var bias: UnsafePointer<Float>?
        var c: UnsafeMutablePointer<Float>
        var ldc: Int
        /// Columns (else rows) per share.
        var splitsColumns: Bool
        var perShare: Int
    }

    struct AdamStep {
        var count: Int
        var weights: UnsafeMutablePointer<Float>
        var gradient: UnsafePointer<Float>
        var m: UnsafeMutablePointer<Float>
        var v: UnsafeMutablePointer<Float>
        var beta1: Float, beta2: Float, rate: Float, correction1: Float, correction2: Float, epsilon: Float, decay: Float
        var perShare = 0
    }

    init(threads: Int, table: nn_kernel_table) {
        self.threads = max(1, threads)
        self.table = table
        workers = (1..<self.threads).map { _ in SpinningWorker(name: "nnserve-train") { [unowned self] share in runShare(share) } }
    }

    deinit {
        for worker in workers { worker.stop() }
    }

    /// Whether a product of this size is worth splitting at all.
    func splits(m: Int, n: Int, k: Int) -> Bool {
        threads > 1 && m * n * k >= Self.minimumMultiplyAddsToSplit
            && (n >= 2 * Self.columnQuantum || m >= 2 * Self.rowQuantum)
    }

    /// Whether an update of this many parameters is worth splitting.
    func splits(parameters: Int) -> Bool {
        threads > 1 && parameters >= Self.minimumParametersToSplit
    }

    /// c = op(a)·b (+ bias), as `SharedKernels.multiply`, over `threads` shares.
    func multiply(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, transposeA: Bool, b: UnsafePointer<Float>, ldb: Int,
                  bias: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(splits(m: m, n: n, k: k), "[\(m)x\(n)x\(k)] is not worth splitting; run it on the calling thread")
        // A tall product (the weight gradient xᵀ·dz: 784 × 300 for M2) splits by rows, so each
        // thread writes whole rows: split by columns, every row of c would have a cache line
        // written by both threads. Its first rows are also the first part of the flat array the
        // Adam update then splits the same way, so each thread updates what it wrote.
        let splitsColumns = n >= 2 * Self.columnQuantum && (m < n || m < 2 * Self.rowQuantum)
        let extent = splitsColumns ? n : m
        let perShare = Self.share(of: extent, quantum: splitsColumns ? Self.columnQuantum : Self.rowQuantum, threads: threads)
        run(.product(Product(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: b, ldb: ldb, bias: bias, c: c, ldc: ldc,
                             splitsColumns: splitsColumns, perShare: perShare)),
            shares: (extent + perShare - 1) / perShare)
    }

    /// One Adam step, as `SharedKernels.adamUpdate`, over `threads` ranges of the parameters.
    func adamUpdate(_ step: AdamStep) {
        precondition(splits(parameters: step.count), "\(step.count) parameters are not worth splitting")
        var step = step
        step.perShare = Self.share(of: step.count, quantum: Self.parameterQuantum, threads: threads)
        run(.adam(step), shares: (step.count + step.perShare - 1) / step.perShare)
    }

    /// `extent` cut into `threads` shares of whole quanta: the length of each but the last.
    private static func share(of extent: Int, quantum: Int, threads: Int) -> Int {
        ((extent + quantum - 1) / quantum + threads - 1) / threads * quantum
    }

    private func run(_ job: Job, shares: Int) {
        self.job = job
        for share in 1..<shares { workers[share - 1].start(share) }
        runShare(0)
        for share in 1..<shares { workers[share - 1].waitUntilDone() }
        self.job = .none
    }

    private func runShare(_ share: Int) {
        switch job {
        case .none:
            return
        case .product(let p):
            let start = share * p.perShare
            if p.splitsColumns {
                let width = min(p.perShare, p.n - start)
                guard width > 0 else { return }
                table.gemm(Int32(p.m), Int32(width), Int32(p.k), p.a, p.lda, p.transposeA ? 1 : 0, p.b + start, Int32(p.ldb),
                           p.bias.map { $0 + start }, p.c + start, Int32(p.ldc))
            } else {
                let height = min(p.perShare, p.m - start)
                guard height > 0 else { return }
                // Row i of op(a) starts at a + i·lda, or, transposed, at column i of a.
                let rowsOfA = p.transposeA ? p.a + start : p.a + start * p.lda
                table.gemm(Int32(height), Int32(p.n), Int32(p.k), rowsOfA, p.lda, p.transposeA ? 1 : 0, p.b, Int32(p.ldb),
                           p.bias, p.c + start * p.ldc, Int32(p.ldc))
            }
        case .adam(let s):
            let start = share * s.perShare
            let count = min(s.perShare, s.count - start)
            guard count > 0 else { return }
            table.adam_update(count, s.weights + start, s.gradient + start, s.m + start, s.v + start, s.beta1, s.beta2, s.rate,
                              s.correction1, s.correction2, s.epsilon, s.decay)
        }
    }
}
