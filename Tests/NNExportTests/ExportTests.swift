import Foundation
import NNCore
import NNExport
import NNFormat
import NNInference
import NNTestSupport
import XCTest

final class ExportTests: XCTestCase {
    private var repository = ""

    override func setUpWithError() throws {
        repository = NSTemporaryDirectory() + "nnexport-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: repository)
    }

    private func checkpoint(_ graph: Graph, name: String = "fixture") -> CheckpointFile {
        var state = TrainingState()
        state.name = name
        state.epoch = 3
        return CheckpointFile(graph: graph, state: state)
    }

    /// Exported files reproduce the training graph in inference mode (the Double reference).
    private func assertExportMatchesReference(_ graph: Graph, options: Exporter.Options, file: StaticString = #filePath, line: UInt = #line) throws {
        let report = try Exporter.export(checkpoint(graph), options: options)
        let model = try ModelFile.read(from: report.path)
        let inputs = Dictionary(uniqueKeysWithValues: graph.inputs.enumerated().map { index, input in
            (input.name, GraphFixtures.randomBatch(rows: 20, width: input.width, seed: UInt64(index + 40)))
        })
        let served = try Executor(plan: Plan(graph: model.graph)).predict(inputs)
        let rows = Array(0..<20)
        let expected = try ReferenceExecutor.run(graph, inputs: inputs, rows: rows)
        for output in model.graph.outputs {
            XCTAssertLessThanOrEqual(ReferenceExecutor.maxRelativeError(served[output.name]!, rows: rows, expected: expected[output.name]!),
                                     2e-4, output.name, file: file, line: line)
        }
        XCTAssertLessThanOrEqual(report.maxRelativeError ?? .infinity, report.tolerance, file: file, line: line)
    }

    func testFoldedAndUnfoldedExportsMatchTheTrainingGraph() throws {
        for graph in [GraphFixtures.wideAndDeep(inputWidth: 12, hidden: 24), RandomGraphs.make(seed: 3), RandomGraphs.make(seed: 9)] {
            var options = Exporter.Options(repository: repository)
            try assertExportMatchesReference(graph, options: options)
            options.fold = false
            try assertExportMatchesReference(graph, options: options)
        }
    }

    func testFoldingRemovesBatchNormDropoutAndStandardization() throws {
        var rng = CounterRNG(seed: 2)
        let graph = Graph(inputs: [GraphInput(name: "x", width: 6, standardization: Standardization(mean: [1, 2, 3, 4, 5, 6], std: [1, 2, 1, 2, 1, 2]))],
                          nodes: [GraphFixtures.dense("d1", from: "x", 6, 8, activation: .linear, rng: &rng),
                                  GraphFixtures.batchNorm("bn1", from: "d1", width: 8, rng: &rng),
                                  Node(name: "relu", operation: .activation(.relu), inputs: ["bn1"]),
                                  GraphFixtures.batchNorm("bn2", from: "relu", width: 8, rng: &rng),
                                  Node(name: "drop", operation: .dropout(rate: 0.3), inputs: ["bn2"]),
                                  GraphFixtures.dense("out", from: "drop", 8, 2, activation: .linear, rng: &rng)],
                          outputs: [GraphOutput(name: "y", node: "out", scale: 3)])
        try assertExportMatchesReference(graph, options: Exporter.Options(repository: repository))
        let model = try ModelFile.read(from: ModelRepository(root: repository).path(name: "fixture", version: 1))
        XCTAssertEqual(model.graph.nodes.map(\.name), ["d1", "relu", "out"])
        XCTAssertNil(model.graph.inputs[0].standardization)
        XCTAssertEqual(model.metadata.folds.count, 4, "\(model.metadata.folds)")
    }

    func testSubGraphsByOutputAndUntilANode() throws {
        let graph = GraphFixtures.wideAndDeep(inputWidth: 8, hidden: 16)
        var options = Exporter.Options(repository: repository)
        options.outputs = ["class"]
        let classOnly = try ModelFile.read(from: try Exporter.export(checkpoint(graph), options: options).path)
        XCTAssertEqual(classOnly.graph.outputs.map(\.name), ["class"])
        XCTAssertFalse(classOnly.graph.nodes.contains { $0.name == "price" })

        options.outputs = nil
        options.until = "deep2"
        options.name = "encoder"
        let encoder = try ModelFile.read(from: try Exporter.export(checkpoint(graph), options: options).path)
        XCTAssertEqual(encoder.graph.outputs.map(\.name), ["deep2"])
        XCTAssertEqual(try encoder.graph.validate().widths["deep2"], 16)

        options.until = "nowhere"
        XCTAssertThrowsError(try Exporter.export(checkpoint(graph), options: options)) {
            XCTAssertTrue("\($0)".hasPrefix("unknown node 'nowhere'"), "\($0)")
        }
        options.until = nil
        options.outputs = ["nope"]
        XCTAssertThrowsError(try Exporter.export(checkpoint(graph), options: options)) {
            XCTAssertEqual("\($0)", "unknown output 'nope'; the checkpoint's outputs are 'price', 'class'")
        }
    }

    func testLossyWeightsAreVerifiedWithinTheirTolerance() throws {
        let graph = GraphFixtures.mlp([16, 32, 4])
        for weights in [WeightStorage.float16, .bfloat16] {
            var options = Exporter.Options(repository: repository)
            options.weights = weights
            let report = try Exporter.export(checkpoint(graph), options: options)
            let error = try XCTUnwrap(report.maxRelativeError)
            XCTAssertGreaterThan(error, 1e-6, "\(weights) must cost something")
            XCTAssertLessThanOrEqual(error, report.tolerance)
        }
        XCTAssertEqual(ModelRepository(root: repository).versions(of: "fixture"), [1, 2])
    }

    func testExistingVersionAndUntrainedBatchNorm() throws {
        var graph = GraphFixtures.mlp([4, 3])
        graph.nodes.append(Node(name: "bn", operation: .batchNorm(BatchNorm(width: 3)), inputs: ["dense1"]))
        graph.outputs = [GraphOutput(name: "y", node: "bn")]
        var options = Exporter.Options(repository: repository)
        options.version = 5
        let report = try Exporter.export(checkpoint(graph), options: options)
        XCTAssertEqual(report.warnings, ["batch norm 'bn' still has its initial moving statistics (mean 0, variance 1): it never saw training data"])
        XCTAssertThrowsError(try Exporter.export(checkpoint(graph), options: options)) {
            XCTAssertTrue("\($0)".hasSuffix("/fixture/5 already exists: versions are immutable; pick another --version or leave it out for the next free one"), "\($0)")
        }
        XCTAssertEqual(ModelRepository(root: repository).versions(of: "fixture"), [5])
    }

    func testAFileThatIsNotACheckpointIsRefused() throws {
        let path = NSTemporaryDirectory() + "not-a-checkpoint-\(UUID().uuidString).ckpt"
        try Data("price,carat\n1,2\n".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try CheckpointFile.read(from: path)) {
            XCTAssertTrue("\($0)".contains("is not an nnserve checkpoint file"), "\($0)")
        }
    }

    /// Kills the real nnexport process at many moments of an export of a 2.4M-parameter model:
    /// the repository never shows a partial version.
    func testKillingAnExportMidwayLeavesTheRepositoryAsItWas() throws {
        let executable = BuildProducts.executable("nnexport")
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            return XCTFail("\(executable) is missing: `make test` builds it (swift build --build-tests)")
        }
        let checkpointPath = NSTemporaryDirectory() + "big-\(UUID().uuidString).ckpt"
        try checkpoint(GraphFixtures.mlp([256, 1024, 1024, 256, 16]), name: "big").write(to: checkpointPath)
        defer { try? FileManager.default.removeItem(atPath: checkpointPath) }
        var completed = 0
        for attempt in 0..<8 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = [checkpointPath, "--repository", repository]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            let before = ModelRepository(root: repository).versions(of: "big")
            try process.run()
            usleep(UInt32(50_000 + attempt * 60_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let after = ModelRepository(root: repository).versions(of: "big")
            if process.terminationReason == .exit && process.terminationStatus == 0 { completed += 1 }
            // A version either appeared whole (the process finished before the kill) or not at all.
            for version in Set(after).subtracting(before) {
                let model = try ModelFile.read(from: ModelRepository(root: repository).path(name: "big", version: version))
                XCTAssertEqual(model.graph.parameterCount, 256 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 256 + 256 + 256 * 16 + 16)
            }
        }
        XCTAssertLessThan(completed, 8, "some exports must have been interrupted")
    }
}

/// Leftovers of killed processes and exporters racing for the same model.
final class ExportConcurrencyTests: XCTestCase {
    private var repository = ""
    private static var nnexport: String {
        BuildProducts.executable("nnexport")
    }

    override func setUpWithError() throws {
        repository = NSTemporaryDirectory() + "nnexport-race-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: repository)
    }

    /// The id of a process that has exited.
    private func deadProcessID() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    func testLeftoversOfDeadProcessesAreRemovedByTheNextWrite() throws {
        let dead = try deadProcessID()
        let modelDirectory = "\(repository)/fixture"
        try FileManager.default.createDirectory(atPath: "\(modelDirectory)/.tmp-\(dead)-77", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(modelDirectory)/.tmp-\(getpid())-78", withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: "\(repository)/.run.ckpt.tmp-\(dead)-123", contents: Data([1, 2, 3])))

        try ModelRepository(root: repository).publish(try ModelFile(name: "fixture", graph: GraphFixtures.mlp([3, 2])).encoded(), name: "fixture") { _ in }
        let left = try FileManager.default.contentsOfDirectory(atPath: modelDirectory).sorted()
        XCTAssertEqual(left, [".tmp-\(getpid())-78", "1"], "the dead exporter's staging is gone; a live one's stays")

        try AtomicFile.write([9], to: "\(repository)/run.ckpt")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(repository)/.run.ckpt.tmp-\(dead)-123"))
    }

    func testConcurrentExportsOfOneModelEachGetTheirOwnVersion() throws {
        let checkpointPath = NSTemporaryDirectory() + "race-\(UUID().uuidString).ckpt"
        var state = TrainingState()
        state.name = "raced"
        try CheckpointFile(graph: GraphFixtures.mlp([16, 32, 4]), state: state).write(to: checkpointPath)
        defer { try? FileManager.default.removeItem(atPath: checkpointPath) }
        let processes = try (0..<8).map { _ -> Process in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.nnexport)
            process.arguments = [checkpointPath, "--repository", repository]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        for process in processes { process.waitUntilExit() }
        XCTAssertEqual(processes.map(\.terminationStatus), [Int32](repeating: 0, count: 8), "every exporter succeeded")
        XCTAssertEqual(ModelRepository(root: repository).versions(of: "raced"), Array(1...8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(repository)/raced").filter { $0.hasPrefix(".") }, [])
    }
}

final class BundledModelsTests: XCTestCase {
    /// Every model shipped in models/ loads and passes its own self-test.
    func testBundledModelsLoadAndPassTheirSelfTests() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../models").standardized.path
        let repository = ModelRepository(root: root)
        var checked: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: root).sorted() {
            for version in repository.versions(of: name) {
                let model = try ModelFile.read(from: repository.path(name: name, version: version))
                let tolerance = Double(model.selfTests.first?.tolerance ?? 0)
                XCTAssertLessThanOrEqual(try ServedModel(model).selfTest.maxRelativeError ?? .infinity, tolerance, "\(name) v\(version)")
                checked.append(name)
            }
        }
        XCTAssertTrue(Set(checked).isSuperset(of: ["digits", "diamonds"]), "\(checked)")
    }
}

/// `nnexport inspect` says what nnserve would refuse, and exits 1 for it.
final class InspectVerdictTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "nnexport-inspect-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The real `nnexport inspect`: exit status and output.
    private func inspect(_ path: String) throws -> (status: Int32, output: String) {
        try ProcessRunner.run(BuildProducts.executable("nnexport"),
                              ["inspect", path])
    }

    private func withWeights(_ model: ModelFile, of node: String, _ change: (inout Tensor) -> Void) -> ModelFile {
        var graph = model.graph
        let index = graph.nodes.firstIndex { $0.name == node }!
        guard case .dense(var dense) = graph.nodes[index].operation else { fatalError("\(node) is not dense") }
        change(&dense.weights)
        graph.nodes[index].operation = .dense(dense)
        return ModelFile(name: model.name, graph: graph, metadata: model.metadata, selfTests: model.selfTests)
    }

    func testAGoodFilePassesAndDamagedOnesAreNamed() throws {
        let good = try Exporter.selfTestedModel(name: "m", graph: GraphFixtures.mlp([4, 8, 2]))
        try good.write(to: "\(directory)/good.nnm")
        let passed = try inspect("\(directory)/good.nnm")
        XCTAssertEqual(passed.status, 0, passed.output)
        XCTAssertTrue(passed.output.contains("passed"), passed.output)
        var named = good
        named.graph.inputs[0].featureNames = ["carat", "depth", "table", "x"]
        try named.write(to: "\(directory)/named.nnm")
        XCTAssertTrue(try inspect("\(directory)/named.nnm").output.contains("  features, in order: carat, depth, table, x"))

        let firstDense = good.graph.nodes.first { if case .dense = $0.operation { true } else { false } }!.name
        // NaN weights with valid checksums: the file decodes; inspect must say so.
        try withWeights(good, of: firstDense) { $0 = Tensor(shape: $0.shape, values: $0.scalars.map { _ in .nan }) }.write(to: "\(directory)/nan.nnm")
        let nan = try inspect("\(directory)/nan.nnm")
        XCTAssertEqual(nan.status, 1, nan.output)
        XCTAssertTrue(nan.output.contains("weights of node '\(firstDense)' are not finite"), nan.output)

        // Altered weights, self-test rows kept: the self-test fails against the server's tolerance.
        try withWeights(good, of: firstDense) { $0 = Tensor(shape: $0.shape, values: $0.scalars.map { $0 * 1.5 + 0.1 }) }.write(to: "\(directory)/altered.nnm")
        let altered = try inspect("\(directory)/altered.nnm")
        XCTAssertEqual(altered.status, 1, altered.output)
        XCTAssertTrue(altered.output.contains("self-test failed"), altered.output)

        try ModelFile(name: "m", graph: good.graph).write(to: "\(directory)/untested.nnm")
        let untested = try inspect("\(directory)/untested.nnm")
        XCTAssertEqual(untested.status, 1, untested.output)
        XCTAssertTrue(untested.output.contains("no self-test rows"), untested.output)
    }
}
