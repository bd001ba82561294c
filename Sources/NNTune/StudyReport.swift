import Foundation
import NNTrain

/// What a study found: the leaderboard, the best member's lineage (the schedule PBT
/// discovered, across the members whose weights it inherited), and the population's metric
/// over generations, as text, CSV and SVG.
public struct StudyReport: Sendable {
    public let definition: StudyDefinition
    public let records: [MemberRecord]

    public init(definition: StudyDefinition, records: [MemberRecord]) {
        self.definition = definition
        self.records = records
    }

    public var lastGeneration: Int? { records.map(\.generation).max() }

    func record(generation: Int, member: Int) -> MemberRecord? {
        records.first { $0.generation == generation && $0.member == member }
    }

    /// The last generation's members, best first.
    public var leaderboard: [MemberRecord] {
        guard let last = lastGeneration else { return [] }
        return Ranking.ordered(records.filter { $0.generation == last }, monitor: definition.monitor)
    }

    public var best: MemberRecord? { leaderboard.first { $0.value != nil } }

    /// The best member's history back to generation 0: at each generation, the member whose
    /// state it descends from and the hyperparameters that member trained with.
    public var lineage: [MemberRecord] {
        guard let best else { return [] }
        var steps = [best]
        var member = best.member
        for generation in stride(from: best.generation - 1, through: 0, by: -1) {
            guard let previous = record(generation: generation, member: member) else { break }
            // Replaced after that generation: the state came from the member it copied.
            member = previous.replacedBy ?? member
            guard let ancestor = record(generation: generation, member: member) else { break }
            steps.append(ancestor)
        }
        return steps.reversed()
    }

    private func format(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "diverged" }

    public var leaderboardText: String {
        var lines = ["rank  member  \(definition.monitor)  hyperparameters"]
        for (rank, record) in leaderboard.enumerated() {
            lines.append(String(format: "%-5d %-7d %@  %@", rank + 1, record.member, format(record.value), Study.describe(record.hyperparameters)))
        }
        return lines.joined(separator: "\n")
    }

    /// The mutable hyperparameters along the lineage, one row per generation.
    public var lineageText: String {
        let names = SearchSpace.mutable.filter { name in lineage.contains { $0.hyperparameters[name] != nil } }.sorted()
        var lines = ["generation  member  " + names.map { $0.padding(toLength: 14, withPad: " ", startingAt: 0) }.joined() + definition.monitor]
        for step in lineage {
            lines.append(String(step.generation + 1).padding(toLength: 12, withPad: " ", startingAt: 0)
                         + String(step.member).padding(toLength: 8, withPad: " ", startingAt: 0)
                         + names.map { (step.hyperparameters[$0]?.description ?? "-").padding(toLength: 14, withPad: " ", startingAt: 0) }.joined()
                         + format(step.value))
        }
        return lines.joined(separator: "\n")
    }

    public var lineageCSV: String {
        let names = Set(lineage.flatMap(\.hyperparameters.keys)).sorted()
        var lines = [(["generation", "member"] + names + [definition.monitor]).joined(separator: ",")]
        for step in lineage {
            lines.append(([String(step.generation + 1), String(step.member)] + names.map { step.hyperparameters[$0]?.description ?? "" }
                          + [step.value.map { String($0) } ?? ""]).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The learning rate the best member's lineage trained with per generation (the schedule
    /// PBT found), beside its metric.
    public func lineageSVG(title: String) -> String {
        let steps = lineage
        var chart = LineChart(title: title, xLabel: "generation", yLabel: "learning rate", yScale: .log)
        chart.series.append(.init(name: "learning rate", color: "#08519c",
                                  points: steps.compactMap { step in step.hyperparameters[.learningRate]?.number.map { (Double(step.generation + 1), $0) } },
                                  style: .step, width: 2.5))
        if steps.allSatisfy({ $0.hyperparameters[.learningRate] == nil }) {
            chart.yLabel = definition.monitor
            chart.yScale = .linear
            chart.series = [.init(name: definition.monitor, color: "#d62728", points: steps.compactMap { s in s.value.map { (Double(s.generation + 1), $0) } })]
        }
        return chart.svg()
    }

    /// Every member's metric per generation (dots), the best and the median (lines).
    public func populationSVG(title: String) -> String {
        var chart = LineChart(title: title, xLabel: "generation", yLabel: definition.monitor)
        let generations = Set(records.map(\.generation)).sorted()
        chart.series.append(.init(name: "members", color: "#9e9e9e",
                                  points: records.compactMap { r in r.value.map { (Double(r.generation + 1), $0) } }, style: .dots))
        var bestPoints: [(x: Double, y: Double)] = [], medianPoints: [(x: Double, y: Double)] = []
        for generation in generations {
            let values = Ranking.ordered(records.filter { $0.generation == generation }, monitor: definition.monitor).compactMap(\.value)
            guard let first = values.first else { continue }
            bestPoints.append((Double(generation + 1), first))
            medianPoints.append((Double(generation + 1), (values[(values.count - 1) / 2] + values[values.count / 2]) / 2))
        }
        chart.series.append(.init(name: "best", color: "#2ca02c", points: bestPoints, width: 2.5))
        chart.series.append(.init(name: "median", color: "#ff7f0e", points: medianPoints))
        return chart.svg()
    }
}
