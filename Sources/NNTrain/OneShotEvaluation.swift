import Foundation
import NNCore
import NNFormat
import NNInference

/// N-way one-shot accuracy of an encoder (`nntrain evaluate --one-shot`): in each episode,
/// N classes are drawn, one support example of each, and one query of one of them; the query
/// takes the class of the nearest support example (Euclidean distance between embeddings).
/// Also the nearest-neighbour accuracy of every query against every support row.
///
/// The embedding is a head's value computed by NNInference: for a contrastive head, its left
/// half (the encoder applied to the row), so rows are fed to both branches.
public enum OneShotEvaluation {
    public struct Result: Sendable {
        public var ways: Int
        public var episodes: Int
        public var accuracy: Double
        /// 1 / ways: what guessing scores.
        public var chance: Double
        public var nearestNeighbourAccuracy: Double
        public var supportRows: Int
        public var queryRows: Int

        public var metrics: [String: Double] {
            ["one_shot_accuracy": accuracy, "one_shot_chance": chance, "ways": Double(ways), "episodes": Double(episodes),
             "nearest_neighbour_accuracy": nearestNeighbourAccuracy]
        }
    }

    public static func evaluate(_ checkpoint: CheckpointFile, support: CSVTable, queries: CSVTable, label: String,
                                head: String? = nil, ways: Int? = nil, episodes: Int = 1000, seed: UInt64 = 42) throws -> Result {
        let supportSet = try embeddings(checkpoint, table: support, label: label, head: head)
        let querySet = try embeddings(checkpoint, table: queries, label: label, head: head)
        let byClass = Dictionary(grouping: supportSet.labels.indices) { supportSet.labels[$0] }
        let queryClasses = Set(querySet.labels).filter { byClass[$0] != nil }.sorted()
        guard !queryClasses.isEmpty else {
            throw DataError.invalidSetting(flag: "--support", value: support.file, rule: "has no example of any class in --data")
        }
        let n = ways ?? byClass.count
        guard n >= 2, n <= byClass.count else {
            throw DataError.invalidSetting(flag: "--ways", value: "\(n)", rule: "must be in 2...\(byClass.count) (the classes of --support)")
        }
        guard episodes >= 1 else { throw DataError.invalidSetting(flag: "--episodes", value: "\(episodes)", rule: "must be at least 1") }
        let queriesByClass = Dictionary(grouping: querySet.labels.indices) { querySet.labels[$0] }
        let supportClasses = byClass.keys.sorted()
        var rng = CounterRNG(seed: seed, stream: 0x0E5_407)
        func draw(_ bound: Int) -> Int { Int(rng.next() % UInt64(bound)) }
        var correct = 0
        for _ in 0..<episodes {
            let truth = queryClasses[draw(queryClasses.count)]
            let query = queriesByClass[truth]!.randomElement(draw)
            var others = supportClasses.filter { $0 != truth }
            TrainingData.shuffle(&others, rng: &rng)
            let candidates = [truth] + others.prefix(n - 1)
            let shots = candidates.map { byClass[$0]!.randomElement(draw) }
            let nearest = shots.indices.min {
                distance(querySet.vectors[query], supportSet.vectors[shots[$0]]) < distance(querySet.vectors[query], supportSet.vectors[shots[$1]])
            }!
            if candidates[nearest] == truth { correct += 1 }
        }
        var nearestCorrect = 0
        for (query, vector) in querySet.vectors.enumerated() {
            let nearest = supportSet.vectors.indices.min { distance(vector, supportSet.vectors[$0]) < distance(vector, supportSet.vectors[$1]) }!
            if supportSet.labels[nearest] == querySet.labels[query] { nearestCorrect += 1 }
        }
        return Result(ways: n, episodes: episodes, accuracy: Double(correct) / Double(episodes), chance: 1 / Double(n),
                      nearestNeighbourAccuracy: Double(nearestCorrect) / Double(querySet.vectors.count),
                      supportRows: supportSet.vectors.count, queryRows: querySet.vectors.count)
    }

    /// Embeddings and labels of a table's rows. Inputs find their columns by the names the run
    /// used or, for a pair file's `left_x` / `right_x`, by `x`: one row feeds both branches.
    static func embeddings(_ checkpoint: CheckpointFile, table: CSVTable, label: String, head: String?) throws -> (vectors: [[Float]], labels: [Int]) {
        let graph = checkpoint.graph
        let spec = try? checkpoint.state.modelSpec()
        let contrastive = spec?.outputs.first { $0.loss == .contrastive }?.name
        guard let name = head ?? contrastive ?? (graph.outputs.count == 1 ? graph.outputs[0].name : nil) else {
            throw DataError.invalidSetting(flag: "--head", value: "(none)", rule: "the model has several heads and none is contrastive; name the one whose value is the embedding")
        }
        guard graph.outputs.contains(where: { $0.name == name }) else {
            throw DataError.invalidSetting(flag: "--head", value: name, rule: "is not a head of the model (\(graph.outputs.map(\.name).joined(separator: ", ")))")
        }
        var inputs: [String: Tensor] = [:]
        for input in graph.inputs {
            let columns = input.featureNames.map { feature in
                table.header.contains(feature) ? feature : Self.withoutBranchPrefix(feature)
            }
            let (values, _) = try table.matrix(columns: columns)
            inputs[input.name] = Tensor(shape: [table.rowCount, columns.count], values: values)
        }
        let output = try Executor(plan: Plan(graph: graph)).predict(inputs)[name]!
        let width = name == contrastive ? output.columns / 2 : output.columns
        let vectors = (0..<output.rows).map { row in (0..<width).map { output[row, $0] } }
        let (labelValues, _) = try table.matrix(columns: [label])
        if let row = labelValues.firstIndex(where: { $0 != $0.rounded() || abs($0) > 1e9 }) {
            throw DataError.targetOutOfRange(file: table.file, line: row + 2, column: label, value: labelValues[row], detail: "a label is a class number")
        }
        return (vectors, labelValues.map { Int($0) })
    }

    /// "left_px3" → "px3" (the names `nntrain pairs` writes); other names are kept.
    static func withoutBranchPrefix(_ feature: String) -> String {
        for prefix in ["left_", "right_"] where feature.hasPrefix(prefix) { return String(feature.dropFirst(prefix.count)) }
        return feature
    }

    private static func distance(_ a: [Float], _ b: [Float]) -> Float {
        var sum: Float = 0
        for index in a.indices { sum += (a[index] - b[index]) * (a[index] - b[index]) }
        return sum
    }
}

private extension Array {
    func randomElement(_ draw: (Int) -> Int) -> Element { self[draw(count)] }
}
