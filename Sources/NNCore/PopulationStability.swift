import Foundation

/// The population stability index: how far a distribution over bins has moved from a
/// reference one, PSI = Σ (aᵢ − eᵢ) · ln(aᵢ / eᵢ) over bin fractions (Siddiqi, "Credit Risk
/// Scorecards", 2006). Conventional reading: below 0.1 no shift, 0.1 to 0.25 a moderate one,
/// above 0.25 a major one (`majorShift`). An empty bin's fraction is floored at `floor`, so a
/// bin seen on one side only counts heavily but finitely.
public enum PopulationStability {
    public static let majorShift = 0.25
    public static let floor = 1e-4

    public static func index(expected: [Double], actual: [Double]) -> Double {
        precondition(expected.count == actual.count, "one fraction per bin on both sides")
        var total = 0.0
        for (e, a) in zip(expected, actual) {
            let (e, a) = (max(e, floor), max(a, floor))
            total += (a - e) * log(a / e)
        }
        return total
    }

    /// A column's training distribution as PSI bins: its profile's bins scaled by the present
    /// share, then the gap bin (missing values are part of what drifts).
    public static func expected(_ profile: ColumnProfile) -> [Double] {
        let present = 1 - Double(profile.missingRate)
        return profile.fractions.map { Double($0) * present } + [Double(profile.missingRate)]
    }

    /// Counts per profile bin and of gaps as fractions in `expected`'s bin order.
    public static func actual(bins: [Int], missing: Int) -> [Double] {
        let total = Double(bins.reduce(missing, +))
        guard total > 0 else { return [Double](repeating: 0, count: bins.count + 1) }
        return bins.map { Double($0) / total } + [Double(missing) / total]
    }
}
