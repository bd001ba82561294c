import NIOConcurrencyHelpers
import NNCore
import NNInference

/// What one model version's raw columns have received: counts since load (values, gaps,
/// unknown categories, numbers outside the training range) and a sliding window of the last
/// `windowRows` values per column, whose distribution is compared with the training one (PSI).
/// Requests add their tallies under a short lock; the scrape reads a snapshot.
final class ColumnMonitor: Sendable {
    struct Snapshot: Sendable {
        var column: String
        var values: Int
        var missing: Int
        var unknown: Int
        var outsideRange: Int
        var windowRows: Int
        var drift: Double
    }

    private struct Column {
        var name: String
        var expected: [Double]
        var values = 0, missing = 0, unknown = 0, outsideRange = 0
        /// The bins of the last `windowRows` values (gaps: the last bin), oldest overwritten
        /// first, and how many of each the ring holds.
        var ring: [UInt32]
        var next = 0
        var filled = 0
        var window: [Int]

        mutating func push(_ bin: Int) {
            if filled == ring.count { window[Int(ring[next])] -= 1 } else { filled += 1 }
            ring[next] = UInt32(bin)
            window[bin] += 1
            next = next + 1 == ring.count ? 0 : next + 1
        }
    }

    let windowRows: Int
    private let columns: NIOLockedValueBox<[Column]>

    /// Bytes of the windows (a bin per row and column, and the bin counts).
    var windowBytes: Int {
        columns.withLockedValue { $0.reduce(0) { $0 + $1.ring.count * MemoryLayout<UInt32>.size + $1.window.count * MemoryLayout<Int>.size } }
    }

    /// Nil when `plan` takes numbers only.
    init?(plan: Plan, windowRows: Int) {
        guard plan.takesRawRows else { return nil }
        let raw = plan.requestInputs.compactMap(\.column)
        self.windowRows = max(windowRows, 1)
        columns = NIOLockedValueBox(raw.map { [windowRows = self.windowRows] column in
            Column(name: column.name, expected: PopulationStability.expected(column.profile),
                   ring: [UInt32](repeating: 0, count: windowRows), window: [Int](repeating: 0, count: column.profile.fractions.count + 1))
        })
    }

    /// Adds a request's tallies (`RowBlock.tallies`), whose `input` indexes `plan.requestInputs`;
    /// its values enter the window in row order.
    func record(_ tallies: [ColumnTally], plan: Plan) {
        columns.withLockedValue { columns in
            for tally in tallies {
                // Raw columns are `requestInputs` without the numeric inputs, in order.
                let slot = plan.requestInputs[..<tally.input].count { $0.column != nil }
                guard columns.indices.contains(slot) else { continue }
                columns[slot].values += tally.rows
                columns[slot].missing += tally.missing
                columns[slot].unknown += tally.unknown
                columns[slot].outsideRange += tally.outsideRange
                let gapBin = columns[slot].window.count - 1
                // Rows before the last `windowRows` would only pass through the window.
                for bin in tally.rowBins.suffix(windowRows) {
                    columns[slot].push(bin == ColumnTally.gap || Int(bin) >= gapBin ? gapBin : Int(bin))
                }
            }
        }
    }

    var snapshot: [Snapshot] {
        columns.withLockedValue { columns in
            columns.map { column in
                let window = column.window
                let rows = column.filled
                let actual = PopulationStability.actual(bins: Array(window.dropLast()), missing: window.last ?? 0)
                let drift = rows == 0 ? 0 : PopulationStability.index(expected: column.expected, actual: actual)
                return Snapshot(column: column.name, values: column.values, missing: column.missing, unknown: column.unknown,
                                outsideRange: column.outsideRange, windowRows: rows, drift: drift)
            }
        }
    }
}
