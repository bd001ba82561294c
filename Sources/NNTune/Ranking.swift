import NNTrain

/// Orders members by the monitored metric; a diverged member (no value) ranks last.
public enum Ranking {
    /// Member records best first (ties by member index, so the order is reproducible).
    public static func ordered(_ records: [MemberRecord], monitor: String) -> [MemberRecord] {
        let lower = Metrics.lowerIsBetter(monitor)
        return records.sorted { a, b in
            switch (a.value, b.value) {
            case let (x?, y?) where x != y: lower ? x < y : x > y
            case (_?, nil): true
            case (nil, _?): false
            default: a.member < b.member
            }
        }
    }

    public static func best(_ records: [MemberRecord], monitor: String) -> MemberRecord? {
        ordered(records, monitor: monitor).first { $0.value != nil }
    }
}
