import Foundation
import Synchronization

/// A thread that runs `body(argument)` each time it is told to: a share of a batch for
/// `ParallelExecutor`, a share of a product or an Adam update for `ParallelTrainingKernels`. `start` and
/// `waitUntilDone` allocate nothing; the body is fixed at creation.
///
/// Both sides spin on atomics for a short while before blocking: waking a blocked thread on a
/// VM can take tens of microseconds (the halted vCPU must be rescheduled), which ate the whole
/// gain of a split at 64 rows. ONNX Runtime's intra-op threads spin the same way. The
/// protocol: the caller publishes the argument, bumps `generation` and signals the semaphore only if
/// the worker said it is going to sleep; the worker re-checks `generation` after saying so, so
/// no start is missed (a stray signal only costs one extra loop).
final class SpinningWorker: @unchecked Sendable {
    private let body: (Int) -> Void
    private let wakeUp = DispatchSemaphore(value: 0)
    private let generation = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let sleeping = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    /// Written by the caller before `generation` is bumped (release), read after (acquire).
    private var argument = 0

    /// How long the worker spins for the next batch after finishing one.
    static let idleSpinNanoseconds: UInt64 = 200_000

    init(name: String, body: @escaping (Int) -> Void) {
        self.body = body
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.start()
    }

    private func loop() {
        var seen = 0
        while true {
            let deadline = DispatchTime.now().uptimeNanoseconds + Self.idleSpinNanoseconds
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins % 64 == 0, DispatchTime.now().uptimeNanoseconds >= deadline {
                    sleeping.store(true, ordering: .sequentiallyConsistent)
                    if generation.load(ordering: .sequentiallyConsistent) == seen { wakeUp.wait() }
                    sleeping.store(false, ordering: .sequentiallyConsistent)
                }
            }
            seen = generation.load(ordering: .acquiring)
            if stopping.load(ordering: .acquiring) { return }
            body(argument)
            finished.store(seen, ordering: .releasing)
        }
    }

    func start(_ argument: Int) {
        self.argument = argument
        generation.add(1, ordering: .sequentiallyConsistent)
        if sleeping.load(ordering: .sequentiallyConsistent) { wakeUp.signal() }
    }

    /// Spins until the share started last is done, yielding the core after a while in case
    /// the worker's vCPU was taken away.
    func waitUntilDone() {
        let target = generation.load(ordering: .relaxed)
        var spins = 0
        while finished.load(ordering: .acquiring) != target {
            spins += 1
            if spins > 10_000 { sched_yield() }
        }
    }

    func stop() {
        stopping.store(true, ordering: .releasing)
        generation.add(1, ordering: .sequentiallyConsistent)
        wakeUp.signal()
    }
}
