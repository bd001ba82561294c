import Foundation

/// The rates a sweep's curve suggests. No single rule survives every curve: steepest descent
/// lands at the divergence cliff when the loss falls late and fast (a multitask model on
/// digits: 0.1, where it trains to 0.28 accuracy) and on noise when it falls early,
/// minimum/10 (Smith's cross-check) is past the cliff of Adam on a deep sigmoid stack, and the
/// valley (fastai's default since 2021) is conservative on long flat starts. So the rules and a
/// ladder of half-decades below the minimum all propose, and the confirmation trials
/// (`LearningRateTrials`) choose among them.
extension LearningRateFinder {
    /// A rate some rules read off the curve, and how its confirmation trial went.
    public struct Candidate: Sendable, Equatable, Codable {
        public var rate: Float
        /// "steepest", "valley", "minimum/100", … (several when their rates nearly coincide).
        public var rules: [String]
        /// The monitored loss after the confirmation trial (nil: not tried; +∞: diverged).
        public var trialLoss: Double?

        public var label: String { rules.joined(separator: " = ") }
    }

    public static let steepestRule = "steepest", valleyRule = "valley"
    /// The rung an unconfirmed sweep falls back on when the curve has no steepest descent.
    static let fallbackRule = "minimum/100"
    /// The ladder below the smoothed minimum: where the loss stops falling is where training
    /// stops being stable, and a whole run needs a margin under it that no curve tells. On
    /// ten problems (`make bench-lr`) the best rate of a grid lay between about minimum/10
    /// (titanic, flat there) and minimum/500 (a deep sigmoid stack); minimum/3 and minimum/10
    /// won 100-step trials on diamonds and then diverged or collapsed in whole runs.
    static let ladderDivisors: [Float] = [30, 100, 300, 1000, 3000]
    /// Candidates closer than this factor are one candidate (a trial could not tell them apart).
    static let sameRateFactor: Float = 1.4

    /// Every rule's rate on `points` (sweep order), merged where they nearly coincide, lowest
    /// rate first. Steepest and valley are kept only within the ladder's range (the rates a
    /// trial may choose); empty for a curve too short to read (fewer than 3 points).
    public static func candidates(_ points: [Point]) -> [Candidate] {
        guard points.count >= 3, let minimum = minimumIndex(points) else { return [] }
        let top = points[minimum].rate
        var proposals = ladderDivisors.map { (rate: top / $0, rule: "minimum/\(Int($0))") }
        let range = (top / ladderDivisors.last! / sameRateFactor)...(top / ladderDivisors.first! * sameRateFactor)
        if let index = steepestIndex(points, before: minimum), range.contains(points[index].rate) {
            proposals.append((points[index].rate, steepestRule))
        }
        if let index = valleyIndex(points), range.contains(points[index].rate) { proposals.append((points[index].rate, valleyRule)) }
        var merged: [Candidate] = []
        for (rate, rule) in proposals.sorted(by: { $0.rate < $1.rate }) {
            if let last = merged.last, rate <= last.rate * sameRateFactor {
                merged[merged.count - 1].rules.append(rule)
            } else {
                merged.append(Candidate(rate: rate, rules: [rule]))
            }
        }
        return merged
    }

    /// The smoothed loss's minimum, past the first tenth of the sweep where the average is
    /// still settling (titanic: one lucky first batch put the minimum at 1e-7).
    static func minimumIndex(_ points: [Point]) -> Int? {
        let settled = points.count >= 10 ? points.count / 10 : 0
        return points.indices.dropFirst(settled).min { points[$0].smoothed < points[$1].smoothed }
    }

    /// The point before `minimum` where d(smoothed)/d(log10 rate), by central differences, is
    /// most negative; the first tenth of the sweep is skipped (the average is still settling
    /// there). Nil when fewer than two points lie between.
    static func steepestIndex(_ points: [Point], before minimum: Int) -> Int? {
        let first = max(1, points.count / 10)
        guard minimum - first >= 2 else { return nil }
        var best: Int?, bestSlope = 0.0
        for index in first..<minimum {
            let left = points[index - 1], right = points[index + 1]
            let slope = (right.smoothed - left.smoothed) / (log10(Double(right.rate)) - log10(Double(left.rate)))
            if slope < bestSlope {
                bestSlope = slope
                best = index
            }
        }
        return best
    }

    /// The longest subsequence of strictly falling smoothed losses (O(n²) over at most a few
    /// hundred points), and the point halfway along it: far enough into the descent to learn
    /// fast, far enough from its end to stay clear of the cliff. Nil when no stretch is
    /// longer than a tenth of the sweep.
    static func valleyIndex(_ points: [Point]) -> Int? {
        let count = points.count
        guard count >= 3 else { return nil }
        var length = [Int](repeating: 1, count: count)
        var start = Array(0..<count)
        var end = 0
        for index in 1..<count {
            for earlier in 0..<index where points[index].smoothed < points[earlier].smoothed && length[earlier] + 1 > length[index] {
                length[index] = length[earlier] + 1
                start[index] = start[earlier]
            }
            if length[index] > length[end] { end = index }
        }
        guard length[end] > max(2, count / 10) else { return nil }
        return start[end] + (end - start[end]) / 2
    }
}
