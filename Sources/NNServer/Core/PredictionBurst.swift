/// The predictions one read of a connection decoded, submitted together when the read
/// completes: a lone one may run inline on the event loop when its model is idle (no thread
/// hop, no wake-up: what a client at concurrency 1 waits on), several go to their batcher with
/// one wake-up. The binary protocol and gRPC fronts both collect their reads this way; the
/// HTTP front submits each request alone, inline only when no other arrived within the
/// batching delay (its concurrent requests come on separate connections).
struct PredictionBurst {
    private var jobs: [(model: LoadedModel, job: DynamicBatcher.Job)] = []
    /// When a lone prediction may run inline.
    private let lonePolicy: DynamicBatcher.InlinePolicy

    init(lonePolicy: DynamicBatcher.InlinePolicy = .ifIdle) {
        self.lonePolicy = lonePolicy
    }

    var isEmpty: Bool { jobs.isEmpty }

    mutating func append(_ model: LoadedModel, _ job: DynamicBatcher.Job) {
        jobs.append((model, job))
    }

    /// Hands every job to its batcher and empties the burst.
    mutating func submit() {
        if jobs.count == 1 {
            jobs[0].model.batcher.submit([jobs[0].job], inline: lonePolicy)
        } else {
            // Consecutive predictions for the same version go in together (a burst is nearly
            // always one model); arrival order is kept.
            var start = 0
            while start < jobs.count {
                let model = jobs[start].model
                var end = start + 1
                while end < jobs.count, jobs[end].model === model { end += 1 }
                model.batcher.submit(jobs[start..<end].map(\.job), inline: .ifQuiet)
                start = end
            }
        }
        jobs.removeAll(keepingCapacity: true)
    }
}
