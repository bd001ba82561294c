import Foundation
import NNCore
import NNFormat
import NNInference
import NNTrain
import NNTestSupport
import XCTest

final class FunctionalAPITests: XCTestCase {
    /// Wide & deep with a residual block and two heads, written in Swift.
    private func wideAndDeep() -> ModelSpec {
        let x = Input("features", columns: ["a", "b", "c", "d"])
        let h1 = Dense(16, activation: .relu, name: "h1")(x)
        let h2 = Dense(16, activation: .relu, l2: 1e-4, name: "h2")(BatchNormalization(name: "bn1")(h1))
        let residual = Add(h1, Dropout(0.1, name: "drop")(h2), name: "residual")
        let value = Dense(1, activation: .softplus, name: "value")(Concat(x, residual, name: "wide_deep"))
        let kind = Dense(3, activation: .softmax, name: "kind")(residual)
        return Model(heads: [Head(value, name: "value", loss: .huber(delta: 1), targets: ["y"]),
                             Head(kind, name: "kind", loss: .sparseCategoricalCrossEntropy, weight: 0.5, targets: ["k"])])
    }

    private func syntheticTable(rows: Int) -> CSVTable {
        var rng = CounterRNG(seed: 31)
        var lines = ["a,b,c,d,y,k"]
        for _ in 0..<rows {
            let features = (0..<4).map { _ in rng.nextUniform() * 4 - 2 }
            let y = log(1 + exp(features[0] * 2 - features[1])) + 0.05 * rng.nextUniform()
            let k = features[2] > 0.5 ? 2 : (features[3] > 0 ? 1 : 0)
            lines.append(features.map { "\($0)" }.joined(separator: ",") + ",\(y),\(k)")
        }
        return try! CSVTable.parse(lines.joined(separator: "\n"), file: "synthetic.csv")
    }

    func testSwiftAndJSONDescribeTheSameModel() throws {
        let spec = wideAndDeep()
        XCTAssertEqual(spec.layers.map(\.name), ["h1", "bn1", "h2", "drop", "residual", "wide_deep", "value", "kind"])
        XCTAssertEqual(spec.inputs.map(\.name), ["features"])
        let roundTripped = try ModelSpec.decode(json: try spec.encodedJSON(), file: "spec.json")
        XCTAssertEqual(roundTripped, spec)
    }

    func testMultitaskWideAndDeepLearnsBothHeads() throws {
        var settings = TrainingSettings()
        settings.epochs = 30
        settings.learningRate = 1e-2
        settings.seed = 3
        var trainer = try Trainer(spec: wideAndDeep(), table: syntheticTable(rows: 1200), settings: settings)
        try trainer.fit(checkpoint: nil)
        let metrics = try XCTUnwrap(trainer.history.last?.metrics)
        XCTAssertGreaterThan(metrics["val_value_r2"] ?? 0, 0.9, "\(metrics)")
        XCTAssertGreaterThan(metrics["val_kind_accuracy"] ?? 0, 0.9, "\(metrics)")
    }

    func testSiameseEncoderSharesOneSetOfWeights() throws {
        let left = Input("left", columns: ["l0", "l1", "l2"])
        let right = Input("right", columns: ["r0", "r1", "r2"])
        let embedLeft = Dense(2, activation: .linear, name: "encoder")(left)
        let embedRight = Shared(embedLeft, name: "encoder_right")(right)
        let spec = Model(heads: [Head(Concat(embedLeft, embedRight, name: "pair"), name: "pair", loss: .contrastive(margin: 2),
                                      targets: ["similar"])])
        // Pairs are similar when their first features agree in sign.
        var rng = CounterRNG(seed: 5)
        var lines = ["l0,l1,l2,r0,r1,r2,similar"]
        for _ in 0..<600 {
            let l = (0..<3).map { _ in rng.nextUniform() * 2 - 1 }
            let r = (0..<3).map { _ in rng.nextUniform() * 2 - 1 }
            lines.append((l + r).map { "\($0)" }.joined(separator: ",") + ",\((l[0] > 0) == (r[0] > 0) ? 1 : 0)")
        }
        var settings = TrainingSettings()
        settings.epochs = 10
        settings.learningRate = 1e-2
        var trainer = try Trainer(spec: spec, table: try CSVTable.parse(lines.joined(separator: "\n"), file: "pairs.csv"), settings: settings)
        try trainer.fit(checkpoint: nil)
        let losses = trainer.history.map(\.trainingLoss)
        XCTAssertLessThan(losses.last!, losses.first! * 0.8, "contrastive loss should fall: \(losses)")
        XCTAssertEqual(trainer.model.graph.parameterCount, 3 * 2 + 2, "one encoder, used twice")

        // The exported graph runs through NNInference with the shared weights.
        let graph = trainer.model.graph
        let file = try ModelFile.decode(try ModelFile(name: "siamese", graph: graph).encoded(), source: "memory")
        let inputs = ["left": GraphFixtures.randomBatch(rows: 4, width: 3, seed: 1), "right": GraphFixtures.randomBatch(rows: 4, width: 3, seed: 2)]
        let served = try Executor(plan: Plan(graph: file.graph)).predict(inputs)["pair"]!
        let expected = try ReferenceExecutor.run(graph, inputs: inputs, rows: Array(0..<4))["pair"]!
        XCTAssertLessThan(ReferenceExecutor.maxRelativeError(served, rows: Array(0..<4), expected: expected), 1e-5)
    }
}
