import Foundation
import NNCore
import NNExport
import NNFormat
import NNInference
@testable import NNOnnx
import XCTest

/// The importer against ONNX Runtime on files real exporters wrote (ops/onnx-fixtures.py:
/// PyTorch's TorchScript exporter at opsets 13 and 17 and its dynamo exporter, scikit-learn
/// through skl2onnx, ONNX's helper for the rarer spellings).
final class OnnxFixtureTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Fixture: Decodable {
        struct Values: Decodable {
            var shape: [Int]
            var values: [Float]
            var tensor: Tensor { Tensor(shape: shape, values: values) }
        }
        var note: String
        var inputs: [String: Values]
        var outputs: [String: Values]
    }

    static func fixtureNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: fixtures.path).filter { $0.hasSuffix(".json") }
            .map { String($0.dropLast(5)) }.sorted()
    }

    static func fixture(_ name: String) throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: fixtures.appendingPathComponent("\(name).json")))
    }

    /// Largest difference relative to each row's largest magnitude (the self-test's measure).
    static func maxRelativeError(_ actual: Tensor, _ expected: Tensor) -> Double {
        let width = expected.count / expected.shape[0]
        var worst = 0.0
        for row in 0..<expected.shape[0] {
            let scale = max(1e-6, (0..<width).map { Double(abs(expected[row * width + $0])) }.max()!)
            for column in 0..<width {
                let error = abs(Double(actual[row * width + column]) - Double(expected[row * width + column])) / scale
                worst = error.isNaN ? .infinity : max(worst, error)
            }
        }
        return worst
    }

    func testFixturesAreThere() throws {
        let names = try Self.fixtureNames()
        for family in ["torch_script_opset13", "torch_script_opset17", "torch_dynamo", "torch_activations", "torch_fixed_batch",
                       "sklearn_classifier", "sklearn_regressor", "helper_edge_cases"] {
            XCTAssertTrue(names.contains(family), "fixture \(family) is missing: run ops/onnx-fixtures.py")
        }
    }

    func testEveryFixtureMatchesOnnxRuntime() throws {
        for name in try Self.fixtureNames() {
            let fixture = try Self.fixture(name)
            let conversion = try OnnxImporter.convert(contentsOf: Self.fixtures.appendingPathComponent("\(name).onnx").path)
            let inputs = fixture.inputs.mapValues(\.tensor)
            for options in [PlanOptions.unoptimized(), PlanOptions()] {
                let outputs = try Executor(plan: Plan(graph: conversion.graph, options: options)).predict(inputs)
                XCTAssertEqual(Set(outputs.keys), Set(fixture.outputs.keys), name)
                for (output, expected) in fixture.outputs {
                    let error = Self.maxRelativeError(try XCTUnwrap(outputs[output], name), expected.tensor)
                    XCTAssertLessThanOrEqual(error, 1e-5, "\(name) output '\(output)' (\(fixture.note))")
                }
            }
        }
    }

    /// Error bounds of lossy storage by precision (fp16 has 11 significant bits, bf16 8).
    static let lossyBound: [WeightStorage: Double] = [.float16: 1e-2, .bfloat16: 5e-2]

    /// The published file (folded, self-tested, verified) answers as ONNX Runtime does. Lossy
    /// storage (fp16, bf16) either answers within its precision's bound or is refused by the
    /// export's accuracy gate or verification — never published wrong.
    func testImportedModelFilesMatchOnnxRuntime() throws {
        let repository = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-import-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: repository) }
        var refusedLossy: [String] = []
        for name in try Self.fixtureNames() {
            let fixture = try Self.fixture(name)
            for weights in [WeightStorage.float32, .float16, .bfloat16] {
                var options = Exporter.Options(repository: repository)
                options.weights = weights
                let report: Exporter.Report
                do {
                    report = try OnnxImport.publish(Self.fixtures.appendingPathComponent("\(name).onnx").path, options: options)
                } catch ExportError.verificationFailed where weights != .float32 {
                    refusedLossy.append("\(name) \(weights)")
                    continue
                }
                XCTAssertEqual(report.name, name)
                let served = try ServedModel(try ModelFile.read(from: report.path))
                let outputs = try Executor(plan: served.plan).predict(fixture.inputs.mapValues(\.tensor))
                for (output, expected) in fixture.outputs {
                    let error = Self.maxRelativeError(try XCTUnwrap(outputs[output]), expected.tensor)
                    XCTAssertLessThanOrEqual(error, weights == .float32 ? 1e-5 : Self.lossyBound[weights]!, "\(name) \(weights) '\(output)'")
                }
            }
        }
        // Most fixtures fit fp16 and bf16; a refusal is the exception (the regressor's folded scaler).
        XCTAssertLessThanOrEqual(refusedLossy.count, 2, "\(refusedLossy)")
        print("lossy storage refused by verification: \(refusedLossy)")
    }

    func testClassifierKeepsItsClassNamesAndLeavesTheLabelOut() throws {
        let conversion = try OnnxImporter.convert(contentsOf: Self.fixtures.appendingPathComponent("sklearn_classifier.onnx").path)
        XCTAssertEqual(conversion.graph.outputs.map(\.name), ["probabilities"])
        XCTAssertEqual(conversion.graph.outputs[0].labels, ["adelie", "chinstrap", "gentoo"])
        XCTAssertTrue(conversion.notes.contains { $0.contains("output 'label'") && $0.contains("left out") }, "\(conversion.notes)")
        XCTAssertThrowsError(try OnnxImporter.convert(contentsOf: Self.fixtures.appendingPathComponent("sklearn_classifier.onnx").path,
                                                      outputs: ["label"])) { error in
            XCTAssertTrue("\(error)".contains("--outputs probabilities"), "\(error)")
        }
        let selected = try OnnxImporter.convert(contentsOf: Self.fixtures.appendingPathComponent("sklearn_classifier.onnx").path, outputs: ["probabilities"])
        XCTAssertEqual(selected.graph.outputs.map(\.name), ["probabilities"])
    }

    func testFixedBatchIsServedAtAnyBatchWithANote() throws {
        let conversion = try OnnxImporter.convert(contentsOf: Self.fixtures.appendingPathComponent("torch_fixed_batch.onnx").path)
        XCTAssertTrue(conversion.notes.contains { $0.contains("fixed batch of 1") }, "\(conversion.notes)")
    }

    func testRefusedFilesNameTheirReason() throws {
        let directory = Self.fixtures.appendingPathComponent("refused")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".onnx") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 10)
        for file in names {
            let expectation = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: directory.appendingPathComponent(file.replacingOccurrences(of: ".onnx", with: ".json"))))
            XCTAssertThrowsError(try OnnxImporter.convert(contentsOf: directory.appendingPathComponent(file).path), file) { error in
                XCTAssertTrue(error is OnnxError, "\(file): \(error)")
                XCTAssertTrue("\(error)".contains(expectation["refusal_contains"]!), "\(file): \(error)")
            }
        }
    }
}
