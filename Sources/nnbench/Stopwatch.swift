import Foundation

/// Times a closure the way bench/anchors does: a warm-up of at least 50 ms, then 5
/// blocks of at least `blockSeconds` each; the result is the median block's time per call.
struct Stopwatch {
    var blockSeconds: Double = 0.1
    var blocks = 5
    var warmUpSeconds: Double = 0.05

    func secondsPerCall(_ body: () -> Void) -> Double {
        var calls = 1
        var elapsed = 0.0
        repeat {
            elapsed = time(calls, body)
            if elapsed < warmUpSeconds { calls *= 2 }
        } while elapsed < warmUpSeconds
        calls = max(1, Int(Double(calls) * blockSeconds / elapsed))
        let perCall = (0..<blocks).map { _ in time(calls, body) / Double(calls) }.sorted()
        return perCall[blocks / 2]
    }

    private func time(_ calls: Int, _ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<calls { body() }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
