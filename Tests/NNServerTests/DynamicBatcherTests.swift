import Dispatch
import Foundation
import NIOConcurrencyHelpers
import NNCore
import NNInference
@testable import NNServer
import NNTestSupport
import XCTest

/// The batcher on its own: many submitting threads at once (as several event loops do), single
/// jobs and bursts, each job answered once with its own rows' outputs.
final class DynamicBatcherTests: XCTestCase {
    private let graph = GraphFixtures.mlp([5, 16, 3])

    /// Rows for the 5-16-3 MLP's input 'x', checked as the fronts check them.
    private static func job(_ rows: Tensor, record: @escaping @Sendable (Result<[[Float]], ServingError>) -> Void) -> DynamicBatcher.Job {
        let block = try! Plan(graph: GraphFixtures.mlp([5, 16, 3])).rowBlock(
            [NamedInput(name: "x", shape: rows.shape.map(Int64.init), values: rows.scalars)], outputs: [], limits: .unbounded)
        return DynamicBatcher.Job(block: block, deadline: nil, complete: record)
    }

    /// A job routed to a version just before a reload retired it still gets its answer.
    func testJobsReachingAStoppedBatcherAreStillAnswered() throws {
        let plan = try Plan(graph: graph, options: PlanOptions(maxRows: 16))
        let batcher = DynamicBatcher(plan: plan, label: "mlp v1", maxQueueDelayMicros: 50, instances: 1, queueBoundRows: 1 << 20)
        batcher.drainAndStop()
        let rows = GraphFixtures.randomBatch(rows: 20, width: 5, seed: 4)
        let expected = try Executor(plan: try Plan(graph: graph)).predict(["x": rows])["y"]!.scalars
        let answers = NIOLockedValueBox<[Result<[[Float]], ServingError>]>([])
        batcher.submit([Self.job(rows) { result in answers.withLockedValue { $0.append(result) } },
                        Self.job(rows) { result in answers.withLockedValue { $0.append(result) } }], inline: .ifQuiet)
        let results = answers.withLockedValue { $0 }
        XCTAssertEqual(results.count, 2)
        for result in results { XCTAssertEqual(try result.get().first, expected) }
    }

    func testConcurrentSubmittersEachGetTheirOwnRowsOnce() throws {
        let plan = try Plan(graph: graph, options: PlanOptions(maxRows: 16))
        let batcher = DynamicBatcher(plan: plan, label: "mlp v1", maxQueueDelayMicros: 50, instances: 2, queueBoundRows: 1 << 20)
        let reference = Executor(plan: try Plan(graph: graph))
        let threads = 4, jobsPerThread = 300
        let batches = (0..<threads).map { GraphFixtures.randomBatch(rows: jobsPerThread, width: 5, seed: UInt64(10 + $0)) }
        let expected = try batches.map { try reference.predict(["x": $0])["y"]!.scalars }
        let answers = NIOLockedValueBox([[Float]?](repeating: nil, count: threads * jobsPerThread))
        let duplicates = NIOLockedValueBox(0)
        let done = DispatchGroup()
        for thread in 0..<threads {
            done.enter()
            Thread {
                var burst: [DynamicBatcher.Job] = []
                for index in 0..<jobsPerThread {
                    let slot = thread * jobsPerThread + index
                    let row = Tensor(shape: [1, 5], values: Array(batches[thread].scalars[(index * 5)..<(index * 5 + 5)]))
                    done.enter()
                    let job = Self.job(row) { result in
                        answers.withLockedValue { answers in
                            if answers[slot] != nil { duplicates.withLockedValue { $0 += 1 } }
                            answers[slot] = (try? result.get())?.first ?? []
                        }
                        done.leave()
                    }
                    // Alternate lone submissions with bursts of up to 5, as the fronts do.
                    if index % 3 == 0 {
                        batcher.submit(job)
                    } else {
                        burst.append(job)
                        if burst.count == 5 || index == jobsPerThread - 1 {
                            batcher.submit(burst, inline: burst.count == 1 ? .ifIdle : .ifQuiet)
                            burst.removeAll()
                        }
                    }
                }
                if !burst.isEmpty { batcher.submit(burst, inline: .ifQuiet) }
                done.leave()
            }.start()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        batcher.drainAndStop()
        XCTAssertEqual(duplicates.withLockedValue { $0 }, 0)
        let results = answers.withLockedValue { $0 }
        for thread in 0..<threads {
            for index in 0..<jobsPerThread {
                let got = try XCTUnwrap(results[thread * jobsPerThread + index], "job \(index) of thread \(thread) unanswered")
                let want = Array(expected[thread][(index * 3)..<(index * 3 + 3)])
                XCTAssertEqual(got.count, 3)
                for (a, b) in zip(got, want) { XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b))) }
            }
        }
    }

    func testABurstBeyondTheQueueBoundIsRefusedAtOnceAndTheRestAnswered() throws {
        let plan = try Plan(graph: graph, options: PlanOptions(maxRows: 16))
        let batcher = DynamicBatcher(plan: plan, label: "mlp v1", maxQueueDelayMicros: 20_000, instances: 1, queueBoundRows: 4)
        let outcomes = NIOLockedValueBox([String]())
        let done = DispatchGroup()
        let jobs = (0..<10).map { index -> DynamicBatcher.Job in
            done.enter()
            return Self.job(GraphFixtures.randomBatch(rows: 1, width: 5, seed: UInt64(index))) { result in
                outcomes.withLockedValue { $0.append(result.outcome.rawValue) }
                done.leave()
            }
        }
        batcher.submit(jobs, inline: .ifQuiet)
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        batcher.drainAndStop()
        let counts = Dictionary(grouping: outcomes.withLockedValue { $0 }, by: { $0 }).mapValues(\.count)
        XCTAssertEqual(counts, ["ok": 4, "resource_exhausted": 6])
    }

    /// Batch sizes as the executors ran them.
    private final class BatchSizes: BatchObserver {
        let sizes = NIOLockedValueBox([Int]())
        func jobStarted(queuedNanoseconds: UInt64) {}
        func batchRan(rows: Int, computeNanoseconds: UInt64) { sizes.withLockedValue { $0.append(rows) } }
        func jobsComputed(_ jobs: Int, computeNanoseconds: UInt64) {}
        func jobCancelled(computed: Bool) {}
    }

    /// A one-instance batcher preferring batches of 4 and 8 rows, and `count` one-row jobs that
    /// leave `done` when answered.
    private func preferringBatcher(delayMicros: Int, jobs count: Int, done: DispatchGroup) throws
        -> (DynamicBatcher, BatchSizes, [DynamicBatcher.Job]) {
        let observed = BatchSizes()
        let batcher = DynamicBatcher(plan: try Plan(graph: graph, options: PlanOptions(maxRows: 16)), label: "mlp v1",
                                     maxQueueDelayMicros: delayMicros, instances: 1, queueBoundRows: 1024,
                                     preferredBatchSizes: [4, 8], observer: observed)
        let jobs = (0..<count).map { index -> DynamicBatcher.Job in
            done.enter()
            return Self.job(GraphFixtures.randomBatch(rows: 1, width: 5, seed: UInt64(index))) { _ in done.leave() }
        }
        return (batcher, observed, jobs)
    }

    func testPreferredBatchSizesLeaveAtOnceAndShapeTheBatches() throws {
        let done = DispatchGroup()
        let started = DispatchTime.now().uptimeNanoseconds
        // A delay far longer than the test: only a preferred size can make a batch leave early.
        // 11 one-row jobs: a batch of 8 leaves at once; the 3 left wait for the delay, so drain.
        let (batcher, observed, jobs) = try preferringBatcher(delayMicros: 30_000_000, jobs: 11, done: done)
        batcher.submit(Array(jobs[0..<8]), inline: .ifQuiet)
        let firstEight = DispatchGroup()
        firstEight.enter()
        DispatchQueue.global().async {
            while observed.sizes.withLockedValue({ $0.reduce(0, +) }) < 8 { usleep(200) }
            firstEight.leave()
        }
        XCTAssertEqual(firstEight.wait(timeout: .now() + 5), .success, "a preferred-size batch waited for the delay")
        XCTAssertLessThan(DispatchTime.now().uptimeNanoseconds - started, 5_000_000_000)
        batcher.submit(Array(jobs[8...]), inline: .ifQuiet)
        batcher.drainAndStop()
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(observed.sizes.withLockedValue { $0 }, [8, 3])
    }

    func testAtTheDelayTheLargestPreferredSizeTheQueueFillsLeavesFirst() throws {
        let done = DispatchGroup()
        let (batcher, observed, jobs) = try preferringBatcher(delayMicros: 50_000, jobs: 6, done: done)
        batcher.submit(jobs, inline: .ifQuiet)
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        batcher.drainAndStop()
        XCTAssertEqual(observed.sizes.withLockedValue { $0 }, [4, 2])
    }
}
