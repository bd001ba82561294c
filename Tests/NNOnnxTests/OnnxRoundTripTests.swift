import Foundation
import NNCore
import NNExport
import NNFormat
import NNInference
@testable import NNOnnx
import NNTestSupport
import XCTest

/// nnserve graph → ONNX → nnserve graph answers as the original did; what is malformed is
/// refused with an error, never a crash.
final class OnnxRoundTripTests: XCTestCase {
    func testRandomGraphsRoundTripThroughOnnx() throws {
        for seed in UInt64(1)...60 {
            let graph = RandomGraphs.make(seed: seed, maxWidth: 40)
            let bytes = try OnnxExporter.bytes(of: graph, name: "random\(seed)", producerVersion: "test")
            let reread = try OnnxImporter.convert(bytes: bytes).graph
            XCTAssertEqual(reread.inputs.map(\.name), graph.inputs.map(\.name), "seed \(seed)")
            XCTAssertEqual(reread.outputs.map(\.name), graph.outputs.map(\.name), "seed \(seed)")
            let inputs = Dictionary(uniqueKeysWithValues: graph.inputs.enumerated().map { index, input in
                (input.name, GraphFixtures.randomBatch(rows: 5, width: input.width, seed: seed * 10 + UInt64(index)))
            })
            let expected = try Executor(plan: Plan(graph: graph, options: .unoptimized())).predict(inputs)
            let actual = try Executor(plan: Plan(graph: reread)).predict(inputs)
            for output in graph.outputs {
                let error = OnnxFixtureTests.maxRelativeError(actual[output.name]!, expected[output.name]!)
                XCTAssertLessThanOrEqual(error, 1e-5, "seed \(seed) output '\(output.name)'")
            }
        }
    }

    func testExportWritesOpset17GemmsAndKeepsNames() throws {
        var graph = GraphFixtures.mlp([3, 5, 2])
        graph.inputs[0].featureNames = ["carat", "depth", "table"]
        graph.nodes.append(Node(name: "probabilities", operation: .activation(.softmax), inputs: [graph.outputs[0].node]))
        graph.outputs = [GraphOutput(name: "species", node: "probabilities", labels: ["adelie", "gentoo"])]
        let model = try OnnxExporter.model(of: graph, name: "penguins", producerVersion: "test")
        XCTAssertEqual(model.irVersion, 8)
        XCTAssertEqual(model.opsetImport.map(\.version), [17])
        XCTAssertEqual(model.graph.node.filter { $0.opType == "Gemm" }.count, 2)
        XCTAssertTrue(model.graph.node.filter { $0.opType == "Gemm" }.allSatisfy { $0.attribute.contains { $0.name == "transB" && $0.i == 1 } })
        XCTAssertEqual(model.graph.input[0].type.tensorType.shape.dim[0].dimParam, "batch")
        XCTAssertEqual(model.graph.output.map(\.name), ["species"])
        let reread = try OnnxImporter.convert(bytes: try model.serializedData()).graph
        XCTAssertEqual(reread.inputs[0].featureNames, ["carat", "depth", "table"])
        XCTAssertEqual(reread.outputs[0].labels, ["adelie", "gentoo"])
    }

    func testRawColumnInputsAreNotExported() throws {
        let island = RawColumn(name: "island", kind: .categorical(Categories(vocabulary: ["Biscoe", "Dream"], hasOther: false, hasMissing: false)),
                               profile: ColumnProfile())
        let mass = RawColumn(name: "mass", kind: .numeric(.init(fill: 0, indicatesMissing: false)), profile: ColumnProfile())
        var graph = GraphFixtures.mlp([3, 2])
        graph.inputs = [GraphInput(name: "x", columns: [island, mass])]
        XCTAssertThrowsError(try OnnxExporter.bytes(of: graph, name: "raw", producerVersion: "test")) { error in
            XCTAssertEqual(error as? OnnxExporter.ExportError, .rawColumns(input: "x"))
        }
    }

    /// Truncations and byte flips of every fixture: each is converted or refused with an
    /// OnnxError (the fuzz target `fuzz-onnx` runs the same at scale).
    func testMalformedFilesAreRefusedNeverCrash() throws {
        var rng = CounterRNG(seed: 11)
        for name in try OnnxFixtureTests.fixtureNames() {
            let bytes = try Data(contentsOf: OnnxFixtureTests.fixtures.appendingPathComponent("\(name).onnx"))
            var variants: [Data] = stride(from: 0, to: bytes.count, by: max(1, bytes.count / 40)).map { bytes.prefix($0) }
            for _ in 0..<60 {
                var mutated = bytes
                for _ in 0..<(1 + Int(rng.nextWord() % 4)) {
                    let index = Int(rng.nextWord()) % mutated.count
                    mutated[index] = UInt8(truncatingIfNeeded: rng.nextWord())
                }
                variants.append(mutated)
            }
            for variant in variants {
                do {
                    let graph = try OnnxImporter.convert(bytes: variant, directory: OnnxFixtureTests.fixtures.path).graph
                    XCTAssertNoThrow(try graph.validate())
                } catch {
                    XCTAssertFalse("\(error)".isEmpty, name)  // typed: `convert` throws OnnxError only
                }
            }
        }
    }

    /// The fuzz corpus, with what fuzz-onnx once crashed on (a float of 4.6e18 taken as a
    /// Reshape dimension trapped in a conversion to Int): converted or refused, never a trap.
    func testFuzzCorpusConvertsOrIsRefused() throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Fuzz/corpus/onnx").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: corpus.path)
        XCTAssertTrue(files.contains { $0.hasPrefix("crash-") })
        for file in files {
            if let graph = try? OnnxImporter.convert(bytes: try Data(contentsOf: corpus.appendingPathComponent(file))).graph {
                XCTAssertNoThrow(try graph.validate(), file)
            }
        }
    }

    /// A float tensor of `count` numbers whose data is in the external file `location`.
    static func externalTensor(_ location: String, count: Int64) -> Onnx_TensorProto {
        var tensor = Onnx_TensorProto()
        tensor.name = "w"
        tensor.dims = [count]
        tensor.dataType = 1
        tensor.dataLocation = .external
        var entry = Onnx_StringStringEntryProto()
        entry.key = "location"
        entry.value = location
        tensor.externalData = [entry]
        return tensor
    }

    func testExternalDataMustStayInTheModelsDirectory() throws {
        for location in ["../secrets", "/etc/passwd", "a//b"] {
            XCTAssertThrowsError(try OnnxTensorReader(directory: "/tmp").read(Self.externalTensor(location, count: 2), name: "w"), location) { error in
                XCTAssertTrue("\(error)".contains("not a path inside the model's directory"), "\(error)")
            }
        }
    }

    /// A plain relative name can still lead outside (a symbolic link) or block (a FIFO).
    func testExternalDataMustBeARegularFileInsideTheDirectory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-external-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createSymbolicLink(atPath: "\(directory)/escape.data", withDestinationPath: "/etc/hostname")
        XCTAssertEqual(mkfifo("\(directory)/pipe.data", 0o600), 0)
        for (location, phrase) in [("escape.data", "leads outside the model's directory"), ("pipe.data", "not a regular file"),
                                   ("absent.data", "missing beside the model")] {
            XCTAssertThrowsError(try OnnxTensorReader(directory: directory).read(Self.externalTensor(location, count: 1), name: "w"), location) { error in
                XCTAssertTrue("\(error)".contains(phrase), "\(location): \(error)")
            }
        }
    }

    func testAbsurdDimensionsAreRefusedBeforeAllocating() throws {
        var tensor = Onnx_TensorProto()
        tensor.name = "huge"
        tensor.dims = [1 << 40, 1 << 40]
        tensor.dataType = 1
        XCTAssertThrowsError(try OnnxTensorReader(directory: nil).read(tensor, name: "huge")) { error in
            XCTAssertTrue("\(error)".contains("holds more than"), "\(error)")
        }
        tensor.dims = [4]
        tensor.rawData = Data(count: 12)
        XCTAssertThrowsError(try OnnxTensorReader(directory: nil).read(tensor, name: "short")) { error in
            XCTAssertTrue("\(error)".contains("12 bytes of data for 4 float numbers"), "\(error)")
        }
    }

    func testElementwiseChainsAreIdentifiedByValue() {
        let erfGelu = { (x: Double) -> Double? in 0.5 * x * (1 + erf(x / 1.4142135381698608)) }
        XCTAssertEqual(try ElementwiseFunction.identify(erfGelu).get(), .activation(.gelu))
        XCTAssertEqual(try ElementwiseFunction.identify({ $0 > 20 ? $0 : log1p(exp($0)) }).get(), .activation(.softplus))
        XCTAssertEqual(try ElementwiseFunction.identify({ $0 > 0 ? $0 : 0.2 * $0 }).get(), .activation(.leakyRelu(alpha: 0.2)))
        XCTAssertEqual(try ElementwiseFunction.identify({ 3 * $0 - 1 }).get(), .affine(scale: 3, shift: -1))
        XCTAssertEqual(try ElementwiseFunction.identify({ $0 }).get(), .identity)
        let tanhGelu = { (x: Double) -> Double? in 0.5 * x * (1 + tanh(0.7978845608 * (x + 0.044715 * x * x * x))) }
        XCTAssertThrowsError(try ElementwiseFunction.identify(tanhGelu).get())
        XCTAssertThrowsError(try ElementwiseFunction.identify({ min(max($0, 0), 6) }).get())
        // Clamps far from the fixed probes: found by the far probes and by probing around the
        // chain's own constants.
        XCTAssertThrowsError(try ElementwiseFunction.identify({ min(max($0, -1e4), 1e4) }).get())
        XCTAssertThrowsError(try ElementwiseFunction.identify(extraProbes: [0, 100]) { min(max($0, 0), 100) }.get())
    }
}

/// `nnexport run.ckpt --format onnx`: a checkpoint's graph (dropout, batch norm,
/// standardization) published as `<name>/<version>/model.onnx`, which nnserve serves.
final class OnnxCheckpointExportTests: XCTestCase {
    func testCheckpointPublishedAsOnnxIsServedAsTheTrainingGraphAnswers() throws {
        let repository = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-export-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: repository) }
        var rng = CounterRNG(seed: 4)
        let graph = Graph(inputs: [GraphInput(name: "x", width: 5, featureNames: ["a", "b", "c", "d", "e"],
                                              standardization: Standardization(mean: [1, 2, 3, 4, 5], std: [1, 2, 1, 2, 0.5]))],
                          nodes: [GraphFixtures.dense("d1", from: "x", 5, 12, activation: .linear, rng: &rng),
                                  GraphFixtures.batchNorm("bn1", from: "d1", width: 12, rng: &rng),
                                  Node(name: "gelu", operation: .activation(.gelu), inputs: ["bn1"]),
                                  Node(name: "drop", operation: .dropout(rate: 0.2), inputs: ["gelu"]),
                                  GraphFixtures.dense("price", from: "drop", 12, 1, activation: .softplus, rng: &rng)],
                          outputs: [GraphOutput(name: "price", node: "price", scale: 250)])
        var state = TrainingState()
        state.name = "houses"
        let (written, version) = try OnnxExport.publish(CheckpointFile(graph: graph, state: state), options: Exporter.Options(repository: repository))
        XCTAssertEqual(version, 1)
        XCTAssertLessThanOrEqual(written.maxRelativeError, 1e-5)
        let path = RepositoryLayout(root: repository).modelFile("houses", version: 1)
        XCTAssertTrue(path.hasSuffix("houses/1/model.onnx"), path)
        let served = try ServedModel(try OnnxImport.modelFile(path, name: "houses"))
        guard case .passed = served.selfTest else { return XCTFail("\(served.selfTest)") }
        XCTAssertEqual(served.file.graph.inputs[0].featureNames, ["a", "b", "c", "d", "e"])
        let rows = GraphFixtures.randomBatch(rows: 9, width: 5, seed: 8)
        let expected = try Executor(plan: Plan(graph: graph, options: .unoptimized())).predict(["x": rows])["price"]!
        let actual = try Executor(plan: served.plan).predict(["x": rows])["price"]!
        XCTAssertLessThanOrEqual(OnnxFixtureTests.maxRelativeError(actual, expected), 1e-5)
    }
}
