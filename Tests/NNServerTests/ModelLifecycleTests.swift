import Foundation
import Logging
import NNExport
import NNFormat
import NNInference
@testable import NNServer
import NNTestSupport
import XCTest

/// The store's lifecycle without a server: which versions a reload serves, the state and
/// reason of every version on disk, and the settings merged from config.pbtxt and the flags.
final class ModelLifecycleTests: FixtureRepositoryTestCase {
    private func store(_ configuration: ServerConfiguration = ServerConfiguration()) -> ModelStore {
        var quiet = Logger(label: "lifecycle-tests")
        quiet.logLevel = .critical
        return ModelStore(root: repository, configuration: configuration, logger: quiet)
    }

    private func publish(_ name: String, _ version: Int, seed: UInt64 = 1) throws {
        try FileManager.default.createDirectory(atPath: "\(repository)/\(name)/\(version)", withIntermediateDirectories: true)
        try Exporter.selfTestedModel(name: name, graph: GraphFixtures.mlp([5, 16, 3], seed: seed)).write(to: "\(repository)/\(name)/\(version)/model.nnm")
    }

    private func states(_ store: ModelStore, _ name: String) -> [String] {
        store.index().filter { $0.name == name }.map { "v\($0.version ?? 0) \($0.state?.name ?? "-") \($0.reason)" }
    }

    func testReloadServesTheNewestGoodVersionAndSaysWhyTheOthersAreNot() throws {
        try FileManager.default.createDirectory(atPath: "\(repository)/mlp/2", withIntermediateDirectories: true)
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: "\(repository)/mlp/2/model.nnm"))
        let store = store()
        store.reload()
        let mlp = states(store, "mlp")
        XCTAssertEqual(mlp.count, 2)
        XCTAssertEqual(mlp[0], "v1 READY ", "the broken v2 is refused, so v1 keeps serving")
        XCTAssertTrue(mlp[1].hasPrefix("v2 UNAVAILABLE "), mlp[1])
        XCTAssertTrue(mlp[1].contains("mlp/2/model.nnm"), "the reason names the file, repository-relative: \(mlp[1])")
        XCTAssertEqual(try store.model("mlp", version: 0).0.version, 1)

        try publish("mlp", 3, seed: 3)
        store.reload()
        XCTAssertEqual(states(store, "mlp").first, "v1 UNAVAILABLE not selected by the version policy")
        XCTAssertEqual(states(store, "mlp").last, "v3 READY ")
        XCTAssertEqual(try store.model("mlp", version: 0).0.version, 3)
    }

    /// A config.pbtxt with a typo refuses its model, naming the field and the file, instead of
    /// serving it on the flags' settings; a model already serving keeps its settings.
    func testAConfigTypoRefusesTheModelAndNamesTheField() throws {
        try publish("typo", 1)
        let config = "\(repository)/typo/config.pbtxt"
        try "max_batch_size: 8\n".write(toFile: config, atomically: true, encoding: .utf8)
        let store = store()
        store.reload()
        XCTAssertEqual(states(store, "typo"), ["v1 READY "])
        try "max_batch_size: 8\nmax_queue_delay: 100\n".write(toFile: config, atomically: true, encoding: .utf8)
        store.reload()
        XCTAssertEqual(states(store, "typo"), ["v1 READY "], "a served version keeps serving on its settings")
        let fresh = self.store()
        fresh.reload()
        let state = states(fresh, "typo")
        XCTAssertEqual(state.count, 1)
        XCTAssertTrue(state[0].hasPrefix("v1 UNAVAILABLE refused config "), state[0])
        XCTAssertTrue(state[0].contains("config.pbtxt: line 2: unknown field 'max_queue_delay' (did you mean 'max_queue_delay_micros'?)"), state[0])
        XCTAssertThrowsError(try fresh.model("typo", version: 0))
    }

    /// A model written with bf16 weights loads with bf16 dot products where the CPU has them and
    /// they time faster than fp32 (on this Intel they do not: fp32 over the stored values), and
    /// passes its self-test (bf16's tolerance) compiled that way; an fp32 model never does.
    func testABF16ModelIsServedWithBF16DotProductsWhereTheyTimeFaster() throws {
        try FileManager.default.createDirectory(atPath: "\(repository)/half/1", withIntermediateDirectories: true)
        var file = try Exporter.selfTestedModel(name: "half", graph: GraphFixtures.mlp([64, 128, 3], seed: 9))
        file.selfTests = file.selfTests.map { test in
            var test = test
            test.tolerance = 5e-2  // bf16 keeps 8 significant bits
            return test
        }
        try file.write(to: "\(repository)/half/1/model.nnm", options: WriteOptions(shuffle: true, compressionLevel: 3, weights: .bfloat16))
        let store = store()
        store.reload()
        XCTAssertEqual(states(store, "half"), ["v1 READY "])
        let half = try store.model("half", version: 0).0
        let timed = PrecisionChooser.measuring.choose(.bfloat16, kernels: .detected, k: 64, n: 128)
        XCTAssertEqual(half.plan.densePrecisions, [timed.precision, .fp32], "the 128×3 layer is under 4,096 weights")
        XCTAssertEqual(timed.precision, KernelSet.detected.hasBF16DotProducts && zip(timed.reducedSeconds, timed.fp32Seconds).allSatisfy { $0 < $1 } ? .bf16 : .fp32)
        XCTAssertFalse(try store.model("mlp", version: 0).0.plan.computesInBF16, "fp32 weights stay fp32")
    }

    func testUnloadAndLoadByRequest() throws {
        let store = store()
        store.reload()
        try store.unloadModel("wide")
        XCTAssertEqual(states(store, "wide"), ["v1 UNAVAILABLE unloaded by request"])
        XCTAssertThrowsError(try store.model("wide", version: 0).0)
        store.reload()
        XCTAssertEqual(states(store, "wide"), ["v1 UNAVAILABLE unloaded by request"], "a poll does not load it back")
        try store.loadModel("wide")
        XCTAssertEqual(states(store, "wide"), ["v1 READY "])
        XCTAssertThrowsError(try store.loadModel("absent")) { error in
            XCTAssertEqual((error as? ServingError)?.code, .notFound)
        }
    }

    func testADirectoryWithoutVersionsIsListedWithoutOne() throws {
        try FileManager.default.createDirectory(atPath: "\(repository)/empty", withIntermediateDirectories: true)
        let store = store()
        store.reload()
        XCTAssertEqual(states(store, "empty"), ["v0 - no <version>/model.nnm or <version>/model.onnx under 'empty/'"])
    }

    func testConfigFieldsOverrideTheFlagsAndZeroMeansTheFlag() throws {
        var flags = ServerConfiguration()
        flags.maxBatchSize = 32
        flags.instances = 2
        flags.latestVersions = 3
        var config = Nnserve_ModelConfig()
        config.maxBatchSize = 8
        config.preferredBatchSizes = [4, 8]
        config.defaultTimeoutMicros = 500
        let merged = ModelSettings(config: config, defaults: flags)
        XCTAssertEqual(merged.maxBatchSize, 8)
        XCTAssertEqual(merged.instances, 2, "0 in config.pbtxt takes the flag")
        XCTAssertEqual(merged.preferredBatchSizes, [4, 8])
        XCTAssertEqual(merged.defaultTimeoutMicros, 500)
        XCTAssertEqual(merged.versionPolicy, .latest(3), "no policy in config.pbtxt: the flag's latest count")
        XCTAssertEqual(ModelSettings(config: nil, defaults: flags).maxBatchSize, 32)

        config.versionPolicy.specific.versions = [2, 5]
        let specific = ModelSettings(config: config, defaults: flags)
        XCTAssertEqual(specific.candidates(among: [1, 2, 3, 5]).versions, [2, 5])
        XCTAssertEqual(specific.candidates(among: [1, 2, 3, 5]).count, 2)
        config.versionPolicy.all = Nnserve_VersionPolicy.All()
        XCTAssertEqual(ModelSettings(config: config, defaults: flags).candidates(among: [1, 2, 3]).count, 3)
    }
}
