import Foundation
import NNCore
@testable import NNExport
import NNFormat
import NNInference
import NNTestSupport
import XCTest

/// Reduced-precision exports pass an accuracy gate on held-out rows before anything is
/// written: the measurements go into the file, the self-test bound is the one measured, and a
/// loss beyond the budget refuses the export.
final class AccuracyGateTests: XCTestCase {
    /// The classifier is built from a shared fixture; if its shape changes, the tests fail.
    struct FixtureChanged: Error { var detail: String }

    private var repository = ""

    override func setUpWithError() throws {
        repository = NSTemporaryDirectory() + "nnexport-gate-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: repository)
    }

    /// A 64-256-10 softmax classifier and 400 held-out rows labeled with its own fp32 classes,
    /// so fp32 scores 100% and every class int8 changes costs accuracy.
    private func classifier() throws -> (Graph, HeldOutRows) {
        var graph = GraphFixtures.mlp([64, 256, 10], seed: 21)
        guard case .dense(var last) = graph.nodes[1].operation else { throw FixtureChanged(detail: "node 1 of mlp([64, 256, 10]) is no dense layer") }
        last.activation = .softmax
        graph.nodes[1].operation = .dense(last)
        let rows = GraphFixtures.randomBatch(rows: 400, width: 64, seed: 22)
        let probabilities = try Executor(plan: Plan(graph: graph)).predict(["x": rows])["y"]!
        let classes = (0..<400).map { row in Float((0..<10).max { probabilities[row, $0] < probabilities[row, $1] }!) }
        return (graph, HeldOutRows(inputs: ["x": rows], targets: ["y": Tensor(shape: [400, 1], values: classes)], source: "400 fixture rows"))
    }

    func testAnInt8ExportRecordsWhatItsGateMeasuredAndServesWithin() throws {
        let (graph, rows) = try classifier()
        var options = Exporter.Options(repository: repository)
        options.weights = .int8
        options.heldOut = rows
        options.budget = AccuracyBudget(accuracyPoints: 5, rmsePercent: 1)
        let report = try Exporter.publish(graph, name: "digits8", description: "fixture", options: options)
        let gate = try XCTUnwrap(report.gate)
        XCTAssertEqual(report.gateSource, "400 fixture rows")
        XCTAssertEqual(gate.measurements["rows"], 400)
        let change = try XCTUnwrap(gate.measurements["y.accuracy_change_points"])
        XCTAssertGreaterThanOrEqual(change, 0, "labels are fp32's own classes: int8 can only lose")
        XCTAssertLessThanOrEqual(change, 5)
        XCTAssertGreaterThan(try XCTUnwrap(gate.measurements["max_relative_error"]), 0)

        let file = try ModelFile.read(from: report.path)
        XCTAssertEqual(file.weightStorage, .int8)
        XCTAssertEqual(file.metadata.precisionGate, gate.measurements, "the file keeps what the gate measured")
        // The self-test bound is the measured one (twice the worst self-test error), not a constant.
        let error = try XCTUnwrap(report.maxRelativeError)
        XCTAssertGreaterThan(error, 0, "int8 must cost something")
        XCTAssertLessThanOrEqual(error, report.tolerance)
        XCTAssertLessThan(report.tolerance, 0.1)
        XCTAssertEqual(Double(file.selfTests[0].tolerance), report.tolerance, accuracy: 1e-6)
        let served = try ServedModel(file)
        guard case .passed = served.selfTest else { return XCTFail("\(served.selfTest)") }
        XCTAssertEqual(ServedModel.options(for: file).storedWeights, .int8)
        options.weights = .float32
        let fp32 = try Exporter.publish(graph, name: "digits32", description: "fixture", options: options)
        XCTAssertLessThan(Double(report.fileBytes), 0.4 * Double(fp32.fileBytes), "int8 stores a byte per weight, fp32 four")
    }

    func testAnExportBeyondItsBudgetIsRefusedAndWritesNothing() throws {
        let (graph, rows) = try classifier()
        var options = Exporter.Options(repository: repository)
        options.weights = .int8
        options.heldOut = HeldOutRows(inputs: rows.inputs, source: "400 fixture rows")  // no targets: the share of changed classes
        options.budget = AccuracyBudget(accuracyPoints: -1, rmsePercent: 1)
        XCTAssertThrowsError(try Exporter.publish(graph, name: "refused", description: "fixture", options: options)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix("int8 weights lose too much against fp32 on 400 fixture rows: output 'y': class changes percent"), message)
            XCTAssertTrue(message.contains("exceeds the budget of -1; nothing was written"), message)
        }
        XCTAssertEqual(ModelRepository(root: repository).versions(of: "refused"), [])
    }

    /// A value output is scored by RMSE against its targets; without held-out rows the gate
    /// measures on synthetic rows and says so.
    func testValueOutputsAreScoredByRMSEAndSyntheticRowsAreNamed() throws {
        let graph = GraphFixtures.wideAndDeep()
        var options = Exporter.Options(repository: repository)
        options.weights = .int8
        options.budget = AccuracyBudget(accuracyPoints: 100, rmsePercent: 100)
        let synthetic = try Exporter.publish(graph, name: "wide", description: "fixture", options: options)
        XCTAssertTrue(synthetic.gateSource?.hasPrefix("1000 synthetic rows around the inputs' training statistics") ?? false, "\(synthetic.gateSource ?? "")")
        let keys = Set(synthetic.gate?.measurements.keys.map { $0 } ?? [])
        XCTAssertTrue(keys.contains { $0.hasSuffix(".rms_change_percent") }, "\(keys)")
        // Beyond the budget on synthetic rows: said, not refused (they are not the task's rows).
        options.budget = AccuracyBudget(accuracyPoints: 0, rmsePercent: 0)
        let warned = try Exporter.publish(graph, name: "wide", description: "fixture", options: options)
        XCTAssertTrue(warned.warnings.contains { $0.hasPrefix("int8 weights on synthetic rows: output 'price': rms change percent") && $0.hasSuffix("check on held-out rows (--data)") },
                      "\(warned.warnings)")
        options.budget = AccuracyBudget(accuracyPoints: 100, rmsePercent: 100)

        let inputs = Dictionary(uniqueKeysWithValues: graph.inputs.map { ($0.name, GraphFixtures.randomBatch(rows: 200, width: $0.width, seed: 31)) })
        let outputs = try Executor(plan: Plan(graph: graph)).predict(inputs)
        let price = outputs["price"]!
        let targets = ["price": Tensor(shape: price.shape, values: price.scalars.map { $0 + 0.5 })]
        options.heldOut = HeldOutRows(inputs: inputs, targets: targets, source: "200 rows")
        let measured = try XCTUnwrap(try Exporter.publish(graph, name: "wide", description: "fixture", options: options).gate)
        XCTAssertNotNil(measured.measurements["price.rmse_change_percent"], "\(measured.measurements)")
        XCTAssertNotNil(measured.measurements["class.class_changes_percent"], "a classifier without targets: \(measured.measurements)")
    }

    /// int8 weights keep the input standardization (and batch norms that could only fold into
    /// a following layer's rows) as their own steps: folded, a near-constant feature's 1/std
    /// row dominates its column's scale. bf16 folds them as before.
    func testStandardizationIsNotFoldedIntoInt8Weights() throws {
        var graph = GraphFixtures.mlp([64, 256, 10], seed: 23)
        graph.inputs[0].standardization = Standardization(mean: (0..<64).map { Float($0) / 8 }, std: (0..<64).map { $0 % 9 == 0 ? 0.05 : 1 + Float($0) / 16 })
        for weights in [WeightStorage.int8, .bfloat16] {
            var options = Exporter.Options(repository: repository)
            options.weights = weights
            options.budget = AccuracyBudget(accuracyPoints: 100, rmsePercent: 100)
            let report = try Exporter.publish(graph, name: "fold-\(weights)", description: "fixture", options: options)
            let file = try ModelFile.read(from: report.path)
            XCTAssertEqual(report.rewrites.contains { $0.contains("folded the standardization of input 'x'") }, weights == .bfloat16, "\(weights): \(report.rewrites)")
            XCTAssertEqual(file.graph.inputs[0].standardization == nil, weights == .bfloat16)
            let plan = try Plan(graph: file.graph, options: PlanOptions(storedWeights: weights, precisionChooser: .reducedWherePossible))
            XCTAssertFalse(plan.rewrites.contains { $0.contains("affine transform of 'x' into dense 'dense1'") }, "\(weights): \(plan.rewrites)")
            XCTAssertEqual(plan.densePrecisions.first, weights == .int8 ? .int8 : (KernelSet.detected.hasBF16DotProducts ? .bf16 : .fp32))
        }
    }

    /// Class targets as indices or one-hot rows score alike; a target that is no class (a huge
    /// number, a fraction) matches no prediction instead of trapping.
    func testClassTargetsAsIndicesOrOneHotRowsScoreAlike() throws {
        let (graph, rows) = try classifier()
        let stored = try ModelFile.decode(try ModelFile(name: "c", graph: graph).encoded(
            options: WriteOptions(shuffle: false, compressionLevel: 1, weights: .int8)), source: "c").graph
        let indices = rows.targets["y"]!
        var oneHot = [Float](repeating: 0, count: 400 * 10)
        for row in 0..<400 { oneHot[row * 10 + Int(indices[row, 0])] = 1 }
        let budget = AccuracyBudget(accuracyPoints: 100, rmsePercent: 100)
        func change(_ targets: Tensor) throws -> Double {
            let held = HeldOutRows(inputs: rows.inputs, targets: ["y": targets], source: "fixture")
            return try XCTUnwrap(AccuracyGate.measure(reference: graph, stored: stored, storage: .int8, rows: held, budget: budget)
                .measurements["y.accuracy_change_points"])
        }
        XCTAssertEqual(try change(indices), try change(Tensor(shape: [400, 10], values: oneHot)))
        var odd = indices.scalars
        odd[0] = 1e20
        odd[1] = 0.5
        XCTAssertNoThrow(try change(Tensor(shape: [400, 1], values: odd)))
    }

    /// A column of subnormal weights still gets a positive scale, so its file reads back.
    func testSubnormalColumnsKeepAPositiveScale() throws {
        let tiny = Float.leastNonzeroMagnitude * 7
        let weights: [Float] = [tiny, 1, -tiny, 2]
        let (codes, scales) = Int8Quantization.columnCodes(weights, columns: 2)
        XCTAssertEqual(scales[0], .leastNormalMagnitude)
        XCTAssertEqual(codes[0], 0)
        var graph = GraphFixtures.mlp([2, 2])
        guard case .dense(var dense) = graph.nodes[0].operation else { return XCTFail("fixture changed") }
        dense.weights = Tensor(shape: [2, 2], values: weights)
        graph.nodes[0].operation = .dense(dense)
        XCTAssertNoThrow(try ModelFile.decode(try ModelFile(name: "tiny", graph: graph).encoded(
            options: WriteOptions(shuffle: false, compressionLevel: 1, weights: .int8)), source: "tiny"))
    }
}
