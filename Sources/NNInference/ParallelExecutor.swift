import Foundation
import NNCore

/// Runs one batch on several cores: each thread takes a contiguous share of the rows through
/// every step, in an executor of its own. Every step is row-wise, so the threads meet only at
/// the end of the batch. Each share needs its own arena: the buffer planner lets a value reuse
/// the space of a dead value of another width, and in one shared arena the rows of one share
/// would land on rows another thread has not read yet.
///
/// Use it like `Executor`, through `setInput`/`run`/`copyOutput` with the same row count: rows
/// are split the same way by all three. Batches too small to repay a hand-off to another
/// thread (a few microseconds) run on the calling thread. `run` allocates nothing. One caller
/// at a time, as for `Executor`.
public final class ParallelExecutor: @unchecked Sendable {
    /// The plan of each share (compiled with `maxRows` / threads rows).
    public let plan: Plan
    /// Rows one `run` takes at most.
    public let maxRows: Int
    public let threads: Int
    private let shares: [Executor]
    private let workers: [SpinningWorker]
    /// Multiply-adds per row of the whole plan, to tell when a batch is worth splitting.
    private let multiplyAddsPerRow: Int

    /// Below this much work a batch stays on the calling thread: waking a worker costs a few
    /// microseconds, and at ~100 GFLOPS per core 2 M multiply-adds take ~40 µs.
    public static let minimumMultiplyAddsToSplit = 2_000_000
    /// Each thread streams every weight once per batch, so a share of few rows is bound by
    /// memory, not arithmetic: M2 at 8 rows split 4 + 4 ran 3× slower than on one thread.
    public static let minimumRowsPerShare = 16

    public init(graph: Graph, options: PlanOptions = PlanOptions(), threads: Int) throws(InferenceError) {
        let threads = max(1, threads)
        let shareRows = (options.maxRows + threads - 1) / threads
        var shareOptions = options
        shareOptions.maxRows = shareRows
        let plan = try Plan(graph: graph, options: shareOptions)
        self.plan = plan
        maxRows = shareRows * threads
        self.threads = threads
        shares = (0..<threads).map { _ in Executor(plan: plan) }
        workers = shares.dropFirst().map { executor in SpinningWorker(name: "nnserve-share") { rows in executor.run(rows: rows) } }
        multiplyAddsPerRow = plan.multiplyAddsPerRow
    }

    deinit {
        for worker in workers { worker.stop() }
    }

    /// The row ranges of each share for a batch of `rows` (every share's range is at most
    /// `plan.maxRows` long). One range when the batch is too small to split.
    private func split(_ rows: Int) -> (count: Int, rowsPerShare: Int, inParallel: Bool) {
        precondition(rows >= 0 && rows <= maxRows, "rows \(rows) outside 0...\(maxRows)")
        let perShare = (rows + threads - 1) / threads
        let worthIt = perShare >= Self.minimumRowsPerShare && rows * multiplyAddsPerRow >= Self.minimumMultiplyAddsToSplit
        if rows <= plan.maxRows && !worthIt { return (1, rows, false) }
        return ((rows + perShare - 1) / perShare, perShare, worthIt)
    }

    private func forEachShare(rows: Int, _ body: (_ share: Int, _ firstRow: Int, _ count: Int) -> Void) {
        let (count, perShare, _) = split(rows)
        for share in 0..<count {
            let first = share * perShare
            body(share, first, min(perShare, rows - first))
        }
    }

    /// Copies rows of a contiguous [rows, width] matrix into input `index` of each share.
    public func setInput(_ index: Int, rows: Int, from source: UnsafePointer<Float>) {
        let width = plan.inputs[index].width
        forEachShare(rows: rows) { share, first, count in shares[share].setInput(index, rows: count, from: source + first * width) }
    }

    /// Copies output `index` of each share into a contiguous [rows, width] matrix.
    public func copyOutput(_ index: Int, rows: Int, to destination: UnsafeMutablePointer<Float>) {
        let width = plan.outputs[index].width
        forEachShare(rows: rows) { share, first, count in shares[share].copyOutput(index, rows: count, to: destination + first * width) }
    }

    /// Runs the plan on the first `rows` rows set by `setInput`: share 0 on the calling thread,
    /// the others on their workers, and returns when all are done.
    public func run(rows: Int) {
        let (count, perShare, inParallel) = split(rows)
        guard count > 1 else { return shares[0].run(rows: rows) }
        guard inParallel else {
            // More rows than one share holds, too little work to wake a thread: one after another.
            for share in 0..<count { shares[share].run(rows: min(perShare, rows - share * perShare)) }
            return
        }
        for share in 1..<count { workers[share - 1].start(min(perShare, rows - share * perShare)) }
        shares[0].run(rows: perShare)
        for share in 1..<count { workers[share - 1].waitUntilDone() }
    }
}
