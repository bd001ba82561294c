import NNCore

/// Pairs of labeled rows for a siamese network (`nntrain pairs`): each pair is the features
/// of two rows side by side (`left_<column>`, `right_<column>`) and `similar` (1 when their
/// labels agree). Drawn uniformly, pairs are as unbalanced as the classes make them (about
/// 10% similar for 10 even classes, Σ p²); a positive fraction draws that share of similar
/// pairs instead (0.5 = balanced).
public enum PairSampler {
    public struct Pairs: Sendable {
        public var table: CSVTable
        public var similar: Int
        public var classes: Int
    }

    /// `count` pairs of distinct rows of `table`, seeded. `positiveFraction` nil draws
    /// uniformly (the natural fraction).
    public static func sample(_ table: CSVTable, label: String, count: Int, positiveFraction: Double?, seed: UInt64,
                              columns: [String]? = nil) throws(DataError) -> Pairs {
        let labelIndex = try table.columnIndex(label)
        let features = columns ?? table.header.filter { $0 != label }
        let (values, _) = try table.matrix(columns: features)
        let rows = table.rowCount, width = features.count
        guard rows >= 2 else { throw .unreadable(file: table.file, detail: "has \(rows) row; pairs need at least 2") }
        var labels: [Int] = []
        for row in 0..<rows {
            let value = table.values[row * table.header.count + labelIndex]
            guard value == value.rounded(), abs(value) <= 1e9 else {
                throw .targetOutOfRange(file: table.file, line: row + 2, column: label, value: value, detail: "a label is a class number")
            }
            labels.append(Int(value))
        }
        var members: [Int: [Int]] = [:]
        for (row, label) in labels.enumerated() { members[label, default: []].append(row) }
        let classes = members.keys.sorted()
        let repeatable = classes.filter { members[$0]!.count > 1 }
        if let fraction = positiveFraction {
            guard fraction == 0 || !repeatable.isEmpty else {
                throw .invalidSetting(flag: "--positive-fraction", value: "\(fraction)", rule: "similar pairs need a class with 2 rows or more")
            }
            guard fraction == 1 || classes.count > 1 else {
                throw .invalidSetting(flag: "--positive-fraction", value: "\(fraction)", rule: "dissimilar pairs need 2 classes or more")
            }
        }
        var rng = CounterRNG(seed: seed, stream: 0x9A1_25)
        func draw(_ bound: Int) -> Int { Int(rng.next() % UInt64(bound)) }
        var pairs: [(Int, Int)] = []
        pairs.reserveCapacity(count)
        for _ in 0..<count {
            let left: Int, right: Int
            if let fraction = positiveFraction {
                let wantSimilar = Double(rng.next() >> 11) / Double(1 << 53) < fraction
                if wantSimilar {
                    let group = members[repeatable[draw(repeatable.count)]]!
                    let first = draw(group.count)
                    left = group[first]
                    right = group[(first + 1 + draw(group.count - 1)) % group.count]
                } else {
                    left = draw(rows)
                    let others = classes.filter { $0 != labels[left] }
                    let group = members[others[draw(others.count)]]!
                    right = group[draw(group.count)]
                }
            } else {
                left = draw(rows)
                right = (left + 1 + draw(rows - 1)) % rows
            }
            pairs.append((left, right))
        }
        let header = features.map { "left_\($0)" } + features.map { "right_\($0)" } + ["similar"]
        var out: [Float] = []
        out.reserveCapacity(count * header.count)
        var similar = 0
        for (left, right) in pairs {
            out += values[left * width..<(left + 1) * width]
            out += values[right * width..<(right + 1) * width]
            let same = labels[left] == labels[right]
            if same { similar += 1 }
            out.append(same ? 1 : 0)
        }
        return Pairs(table: CSVTable(file: table.file, header: header, values: out), similar: similar, classes: classes.count)
    }
}

extension CSVTable {
    /// The table as CSV text (numbers in Swift's shortest round-trip form).
    public var csvText: String {
        var lines = [header.joined(separator: ",")]
        lines.reserveCapacity(rowCount + 1)
        let width = header.count
        for row in 0..<rowCount {
            lines.append(values[row * width..<(row + 1) * width].map { $0 == $0.rounded() && abs($0) < 1e7 ? String(Int($0)) : "\($0)" }.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
