import Foundation
import NNCore
import NNFormat
@testable import NNTrain
import XCTest

/// Pair files, pair metrics (ROC AUC, precision/recall) and N-way one-shot evaluation.
final class PairsTests: XCTestCase {
    /// scikit-learn's roc_auc_score example: 3 of the 4 positive-negative pairs are ordered.
    func testAUCOfAKnownRanking() throws {
        XCTAssertEqual(try XCTUnwrap(Metrics.rocAUC(scores: [0.1, 0.4, 0.35, 0.8], positives: [false, false, true, true])), 0.75)
        XCTAssertEqual(try XCTUnwrap(Metrics.rocAUC(scores: [1, 2, 3, 4], positives: [false, false, true, true])), 1)
        XCTAssertEqual(try XCTUnwrap(Metrics.rocAUC(scores: [4, 3, 2, 1], positives: [false, false, true, true])), 0)
        XCTAssertEqual(try XCTUnwrap(Metrics.rocAUC(scores: [0.5, 0.5, 0.5], positives: [true, false, false])), 0.5, "ties count half")
        XCTAssertNil(Metrics.rocAUC(scores: [1, 2], positives: [true, true]), "undefined with one class")
    }

    func testPrecisionAndRecallAtTheThreshold() {
        var metrics: [String: Double] = [:]
        // Predicted positive (≥ 0.5): 0.9 (pos), 0.6 (neg), 0.5 (pos); the positive 0.2 is missed.
        Metrics.addRanking(&metrics, prefix: "", scores: [0.9, 0.6, 0.5, 0.2, 0.1], positives: [true, false, true, true, false], threshold: 0.5)
        XCTAssertEqual(metrics["precision"]!, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(metrics["recall"]!, 2.0 / 3, accuracy: 1e-12)
    }

    func testNaturalPairsAreAsUnbalancedAsTheClassesAndBalancedOnesAreHalfSimilar() throws {
        let digits = try CSVTable.read(TrainerTests.datasets + "/digits.csv")
        let natural = try PairSampler.sample(digits, label: "label", count: 20000, positiveFraction: nil, seed: 3)
        XCTAssertEqual(natural.classes, 10)
        XCTAssertEqual(Double(natural.similar) / 20000, 0.1, accuracy: 0.01, "Σ p² ≈ 0.1 for 10 even classes")
        let balanced = try PairSampler.sample(digits, label: "label", count: 20000, positiveFraction: 0.5, seed: 3)
        XCTAssertEqual(Double(balanced.similar) / 20000, 0.5, accuracy: 0.015)
        XCTAssertEqual(balanced.table.header.count, 64 * 2 + 1)
        XCTAssertEqual(balanced.table.header.first, "left_px0")
        XCTAssertEqual(balanced.table.header[64], "right_px0")
        XCTAssertEqual(balanced.table.header.last, "similar")
        // Every pair's halves are rows of the file, and `similar` says whether their labels agree.
        var labelOf: [[Float]: Float] = [:]
        for row in 0..<digits.rowCount {
            let pixels = Array(digits.values[row * 65..<row * 65 + 64])
            labelOf[pixels] = labelOf[pixels] ?? digits.values[row * 65 + 64]
        }
        for row in 0..<200 {
            let fields = Array(balanced.table.values[row * 129..<(row + 1) * 129])
            let left: Float = try XCTUnwrap(labelOf[Array(fields[0..<64])])
            let right: Float = try XCTUnwrap(labelOf[Array(fields[64..<128])])
            XCTAssertEqual(fields[128], left == right ? 1 : 0)
        }
        let again = try PairSampler.sample(digits, label: "label", count: 500, positiveFraction: 0.5, seed: 3)
        XCTAssertEqual(again.table.values, Array(balanced.table.values.prefix(500 * 129)), "seeded")
    }

    func testPairsRefuseAFractionTheClassesCannotGive() throws {
        let single = CSVTable(file: "one.csv", header: ["x", "label"], values: [1, 0, 2, 0, 3, 0])
        XCTAssertThrowsError(try PairSampler.sample(single, label: "label", count: 10, positiveFraction: 0.5, seed: 1)) { error in
            XCTAssertEqual("\(error)", "--positive-fraction 0.5: dissimilar pairs need 2 classes or more")
        }
    }

    /// An encoder that is the identity on 2 features: classes sit at separate points, so the
    /// nearest shot is always right; with labels unrelated to the points it scores chance.
    func testOneShotAccuracyOfAnIdentityEncoder() throws {
        let checkpoint = identitySiamese()
        var support: [Float] = [], queries: [Float] = []
        for label in 0..<4 {
            let center = Float(label) * 10
            for shot in 0..<5 { support += [center + Float(shot) * 0.1, -center, Float(label)] }
            for query in 0..<5 { queries += [center - Float(query) * 0.1, -center + 0.2, Float(label)] }
        }
        let header = ["f0", "f1", "label"]
        let result = try OneShotEvaluation.evaluate(checkpoint, support: CSVTable(file: "s.csv", header: header, values: support),
                                                    queries: CSVTable(file: "q.csv", header: header, values: queries), label: "label",
                                                    ways: 3, episodes: 500)
        XCTAssertEqual(result.accuracy, 1)
        XCTAssertEqual(result.nearestNeighbourAccuracy, 1)
        XCTAssertEqual(result.chance, 1.0 / 3, accuracy: 1e-12)

        var shuffled = queries
        for row in 0..<20 { shuffled[row * 3 + 2] = Float((row * 7 + 1) % 4) }
        let guessing = try OneShotEvaluation.evaluate(checkpoint, support: CSVTable(file: "s.csv", header: header, values: support),
                                                      queries: CSVTable(file: "q.csv", header: header, values: shuffled), label: "label",
                                                      ways: 2, episodes: 4000)
        XCTAssertEqual(guessing.accuracy, 0.5, accuracy: 0.1, "labels unrelated to the embedding: chance")
        XCTAssertThrowsError(try OneShotEvaluation.evaluate(checkpoint, support: CSVTable(file: "s.csv", header: header, values: support),
                                                            queries: CSVTable(file: "q.csv", header: header, values: queries), label: "label", ways: 5)) { error in
            XCTAssertEqual("\(error)", "--ways 5: must be in 2...4 (the classes of --support)")
        }
    }

    /// left/right inputs of 2 features (named left_f0, … as `nntrain pairs` writes them), an
    /// identity encoder shared by both, and a contrastive head on the two embeddings.
    private func identitySiamese() -> CheckpointFile {
        let identity = DenseParameters(weights: Tensor(shape: [2, 2], values: [1, 0, 0, 1]), bias: Tensor([0, 0]))
        let graph = Graph(inputs: [GraphInput(name: "left", width: 2, featureNames: ["left_f0", "left_f1"]),
                                   GraphInput(name: "right", width: 2, featureNames: ["right_f0", "right_f1"])],
                          nodes: [Node(name: "embed", operation: .dense(identity), inputs: ["left"]),
                                  Node(name: "embed_right", operation: .sharedDense(of: "embed"), inputs: ["right"]),
                                  Node(name: "pair", operation: .concat, inputs: ["embed", "embed_right"])],
                          outputs: [GraphOutput(name: "similar", node: "pair")])
        let spec = ModelSpec(inputs: [.init(name: "left", columnPrefix: "left_"), .init(name: "right", columnPrefix: "right_")],
                             layers: [], outputs: [.init(name: "similar", node: "pair", loss: .contrastive)])
        var state = TrainingState()
        state.modelConfig = String(decoding: try! spec.encodedJSON(), as: UTF8.self)
        return CheckpointFile(graph: graph, state: state)
    }
}
