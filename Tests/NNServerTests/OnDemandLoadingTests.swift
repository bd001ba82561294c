import Dispatch
import Foundation
import Logging
import NNExport
import NNFormat
import NNInference
@testable import NNServer
import NNTestSupport
import XCTest

/// The store under `--memory-budget`, without a server: a scan loads nothing, a request loads
/// its version once however many wait, the least recently used unpinned versions make room,
/// and the queue of loads is bounded.
final class OnDemandLoadingTests: XCTestCase {
    private var repository = ""

    override func setUpWithError() throws {
        repository = NSTemporaryDirectory() + "nnserve-on-demand-\(UUID().uuidString)"
        for index in 0..<6 { try publish("m\(index)", 1, seed: UInt64(index + 1)) }
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: repository)
    }

    private func publish(_ name: String, _ version: Int, seed: UInt64, widths: [Int] = [5, 16, 3]) throws {
        try FileManager.default.createDirectory(atPath: "\(repository)/\(name)/\(version)", withIntermediateDirectories: true)
        try Exporter.selfTestedModel(name: name, graph: GraphFixtures.mlp(widths, seed: seed)).write(to: "\(repository)/\(name)/\(version)/model.nnm")
    }

    /// The bytes one 5-16-3 version holds once loaded, measured by loading one without a budget.
    private func bytesPerVersion() throws -> Int {
        let store = ModelStore(root: repository, configuration: ServerConfiguration(), logger: quiet)
        store.reload()
        defer { store.drainAll() }
        return try store.model("m0", version: 0).0.residentBytes
    }

    private var quiet: Logger {
        var logger = Logger(label: "on-demand-tests")
        logger.logLevel = .critical
        return logger
    }

    private func store(budget: Int, _ adjust: (inout ServerConfiguration) -> Void = { _ in }) -> ModelStore {
        var configuration = ServerConfiguration()
        configuration.memoryBudgetBytes = budget
        adjust(&configuration)
        return ModelStore(root: repository, configuration: configuration, logger: quiet)
    }

    /// Loads `name` as a request would (waiting for it), and returns the version it got.
    @discardableResult
    private static func request(_ store: ModelStore, _ name: String, version: Int64 = 0) throws -> LoadedModel {
        switch try store.route(name, version: version, from: .binary) {
        case .resident(let model):
            return model
        case .notResident(let key):
            let done = DispatchSemaphore(value: 0)
            let result = LockedLoadResult()
            try store.whenLoaded(key, requestedMicros: 10_000_000) { loaded in
                result.set(loaded)
                done.signal()
            }
            done.wait()
            return try result.get()
        }
    }

    /// Holds every load (and reload) back until the returned gate is signalled.
    private func holdLoads(_ store: ModelStore) -> DispatchSemaphore {
        let gate = DispatchSemaphore(value: 0)
        let holding = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            store.withReloadsHeld {
                holding.signal()
                gate.wait()
            }
        }
        holding.wait()
        return gate
    }

    private func states(_ store: ModelStore) -> [String] {
        store.index().map { "\($0.name) \($0.state?.name ?? "-")" }
    }

    private func metric(_ store: ModelStore, _ series: String) -> Double? {
        let text = String(decoding: store.metrics.exposition(store: store), as: UTF8.self)
        return text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
    }

    func testAScanLoadsNothingAndTheFirstRequestLoadsItsVersion() throws {
        let store = store(budget: 10 << 20)
        store.reload()
        XCTAssertEqual(store.loadedCount, 0)
        XCTAssertEqual(Set(store.index().map(\.reason)), ["not loaded yet (--memory-budget): its first request loads it"])
        XCTAssertTrue(ServingCore(store: store, configuration: store.configuration).serverReadiness().isReady,
                      "every model would load on its request: the server is ready")
        XCTAssertTrue(ServingCore(store: store, configuration: store.configuration).modelReadiness("m3", version: 0).isReady)
        XCTAssertEqual(store.loadedCount, 0, "asking whether a model is ready loads nothing")

        let model = try Self.request(store, "m3")
        XCTAssertEqual(model.name, "m3")
        XCTAssertEqual(store.loadedCount, 1)
        XCTAssertTrue(states(store).contains("m3 READY"))
        guard case .resident(let again) = try store.route("m3", version: 0, from: .binary) else { return XCTFail("m3 is resident now") }
        XCTAssertTrue(again === model)
        XCTAssertThrowsError(try store.route("nope", version: 0, from: .binary)) { error in
            XCTAssertEqual((error as? ServingError)?.code, .notFound)
        }
        XCTAssertThrowsError(try store.route("m3", version: 2, from: .binary)) { error in
            XCTAssertEqual((error as? ServingError)?.message, "model 'm3' has no version 2; served versions are 1")
        }
        store.drainAll()
    }

    func testConcurrentFirstRequestsLoadTheVersionOnce() throws {
        let store = store(budget: 10 << 20)
        store.reload()
        let models = LockedModels()
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            if let model = try? Self.request(store, "m1") { models.append(model) }
        }
        XCTAssertEqual(models.count, 16)
        XCTAssertTrue(models.allIdentical, "every request got the same loaded version")
        XCTAssertEqual(metric(store, #"nnserve_model_loads_total{outcome="loaded"}"#), 1)
        store.drainAll()
    }

    func testTheLeastRecentlyUsedUnpinnedVersionsMakeRoom() throws {
        let bytes = try bytesPerVersion()
        try "pinned: true\n".write(toFile: "\(repository)/m5/config.pbtxt", atomically: true, encoding: .utf8)
        let store = store(budget: 3 * bytes + bytes / 2)
        store.reload()
        XCTAssertEqual(store.servedModels().keys.sorted(), ["m5"], "a pinned model loads at start")
        try Self.request(store, "m0")
        try Self.request(store, "m1")
        try Self.request(store, "m0")  // m1 is now the least recently used
        try Self.request(store, "m2")  // needs room: m1 goes, not the pinned m5
        XCTAssertEqual(store.servedModels().keys.sorted(), ["m0", "m2", "m5"])
        XCTAssertEqual(store.index().first { $0.name == "m1" }?.reason, "evicted (--memory-budget, least recently used): its next request loads it again")
        try Self.request(store, "m3")
        try Self.request(store, "m4")
        XCTAssertEqual(store.servedModels().keys.sorted(), ["m3", "m4", "m5"], "pinned m5 is never evicted")
        XCTAssertEqual(metric(store, "nnserve_model_evictions_total"), 3)
        XCTAssertEqual(metric(store, "nnserve_resident_models_memory_bytes"), Double(3 * bytes))
        XCTAssertEqual(metric(store, #"nnserve_model_memory_bytes{model="m4",version="1"}"#), Double(bytes))
        XCTAssertNil(metric(store, #"nnserve_model_memory_bytes{model="m0",version="1"}"#), "an evicted version loses its series")
        XCTAssertLessThanOrEqual(store.servedModels().values.joined().reduce(0) { $0 + $1.residentBytes }, 3 * bytes + bytes / 2)
        store.drainAll()
    }

    func testAVersionLargerThanTheBudgetIsRefusedNamingBoth() throws {
        try publish("big", 1, seed: 9, widths: [64, 256, 3])
        let store = store(budget: try bytesPerVersion() * 2)
        store.reload()
        XCTAssertThrowsError(try Self.request(store, "big")) { error in
            let error = error as? ServingError
            XCTAssertEqual(error?.code, .resourceExhausted)
            XCTAssertTrue(error?.message.hasPrefix("model 'big' v1 needs ") == true, error?.message ?? "")
            XCTAssertTrue(error?.message.contains("resident; --memory-budget is ") == true, error?.message ?? "")
        }
        XCTAssertEqual(store.loadedCount, 0, "nothing was evicted for it")
        try Self.request(store, "m0")
        store.drainAll()
    }

    func testABrokenVersionIsRefusedAndAnOlderOneServesInItsPlace() throws {
        try publish("m0", 2, seed: 3)
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: "\(repository)/m0/2/model.nnm"))
        let store = store(budget: 10 << 20)
        store.reload()
        XCTAssertThrowsError(try Self.request(store, "m0")) { error in
            XCTAssertEqual((error as? ServingError)?.code, .notFound)
            XCTAssertTrue((error as? ServingError)?.message.contains("m0/2/model.nnm") == true, "\(error)")
        }
        XCTAssertEqual(try Self.request(store, "m0").version, 1)
        store.drainAll()
    }

    func testATooLargeVersionStaysRefusedAcrossReloadsAndAFixedFileIsTriedAgain() throws {
        let small = try bytesPerVersion()
        try publish("m0", 2, seed: 9, widths: [64, 256, 3])
        let store = store(budget: small * 2)
        store.reload()
        // Through the serving core, as every front asks: the request for the newest version
        // is answered by v1 once v2 turned out not to fit.
        let core = ServingCore(store: store, configuration: store.configuration)
        let done = DispatchSemaphore(value: 0)
        let version = LockedVersion()
        var burst = PredictionBurst()
        core.infer(model: "m0", version: 0, from: .binary, into: &burst) { () throws(ServingError) in
            InferenceRequest(inputs: .rows([NamedInput(name: "x", shape: [1, 5], values: [0.1, 0.2, 0.3, 0.4, 0.5])]))
        } answer: { result in
            version.set(result.map(\.model.version))
            done.signal()
        }
        burst.submit()
        done.wait()
        XCTAssertEqual(version.get(), 1, "v2 does not fit: v1 serves in its place")
        store.reload()
        XCTAssertEqual(try Self.request(store, "m0").version, 1, "a poll does not try v2 again")
        XCTAssertEqual(metric(store, #"nnserve_model_loads_total{outcome="loaded"}"#), 2, "v2 once, v1 once")
        XCTAssertTrue(store.index().contains { $0.name == "m0" && $0.version == 2 && $0.reason.contains("--memory-budget is") })

        // A new file for v2 (one that fits) is tried at the next reload.
        try FileManager.default.removeItem(atPath: "\(repository)/m0/2/model.nnm")
        try publish("m0", 2, seed: 4)
        store.reload()
        XCTAssertEqual(try Self.request(store, "m0").version, 2)
        store.drainAll()
    }

    func testShuttingDownAnswersTheRequestsWaitingForALoad() throws {
        let store = store(budget: 10 << 20)
        store.reload()
        let gate = holdLoads(store)
        guard case .notResident(let key) = try store.route("m4", version: 0, from: .binary) else { return XCTFail("m4 is not resident") }
        let answered = DispatchSemaphore(value: 0)
        let result = LockedLoadResult()
        try store.whenLoaded(key, requestedMicros: 60_000_000) { loaded in
            result.set(loaded)
            answered.signal()
        }
        let drained = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            store.drainAll()
            drained.signal()
        }
        answered.wait()
        XCTAssertThrowsError(try result.get()) { error in
            XCTAssertEqual((error as? ServingError)?.code, .unavailable)
        }
        gate.signal()
        drained.wait()
        XCTAssertEqual(store.loadedCount, 0, "the queued load did not run after the drain")
    }

    func testTheLoadQueueIsBoundedAndRefusalsAreCounted() throws {
        let store = store(budget: 10 << 20) { $0.maxPendingLoads = 1 }
        store.reload()
        // The first load occupies the queue's only place until the reload queue is free.
        let gate = holdLoads(store)
        let first = DispatchSemaphore(value: 0)
        guard case .notResident(let m0) = try store.route("m0", version: 0, from: .binary),
              case .notResident(let m1) = try store.route("m1", version: 0, from: .binary) else { return XCTFail("nothing is resident yet") }
        try store.whenLoaded(m0, requestedMicros: 10_000_000) { _ in first.signal() }
        XCTAssertThrowsError(try store.whenLoaded(m1, requestedMicros: 10_000_000) { _ in XCTFail("refused requests are never called") }) { error in
            XCTAssertEqual((error as? ServingError)?.code, .resourceExhausted)
            XCTAssertTrue((error as? ServingError)?.message.contains("--max-pending-loads") == true, "\(error)")
        }
        XCTAssertEqual(metric(store, "nnserve_load_queue_full_total"), 1)
        gate.signal()
        first.wait()
        XCTAssertEqual(store.loadedCount, 1)
        store.drainAll()
    }

    func testAWaitingRequestGivesUpAtItsDeadline() throws {
        let store = store(budget: 10 << 20)
        store.reload()
        let gate = holdLoads(store)
        guard case .notResident(let key) = try store.route("m2", version: 0, from: .binary) else { return XCTFail("m2 is not resident") }
        let answered = DispatchSemaphore(value: 0)
        let result = LockedLoadResult()
        try store.whenLoaded(key, requestedMicros: 50_000) { loaded in
            result.set(loaded)
            answered.signal()
        }
        answered.wait()
        XCTAssertThrowsError(try result.get()) { error in
            XCTAssertEqual((error as? ServingError)?.code, .deadlineExceeded)
            XCTAssertTrue((error as? ServingError)?.message.hasPrefix("model 'm2' v1 was still loading after 50 ms, the request's deadline") == true, "\(error)")
        }
        gate.signal()
        store.drainAll()
    }

    func testPreloadFillsTheBudgetWithoutEvicting() throws {
        let bytes = try bytesPerVersion()
        let store = store(budget: 2 * bytes + bytes / 2) { $0.preload = true }
        store.reload()
        XCTAssertEqual(store.servedModels().keys.sorted(), ["m0", "m1"], "by name, while they fit")
        XCTAssertEqual(metric(store, "nnserve_model_evictions_total"), 0)
        store.drainAll()
    }
}

/// What a load callback delivered, read back on the test's thread.
private final class LockedLoadResult: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<LoadedModel, ServingError>?

    func set(_ value: Result<LoadedModel, ServingError>) { lock.withLock { result = value } }
    func get() throws -> LoadedModel { try lock.withLock { result }!.get() }
}

private final class LockedVersion: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<Int, ServingError>?

    func set(_ value: Result<Int, ServingError>) { lock.withLock { result = value } }
    func get() -> Int? { lock.withLock { try? result?.get() } }
}

private final class LockedModels: @unchecked Sendable {
    private let lock = NSLock()
    private var models: [LoadedModel] = []

    func append(_ model: LoadedModel) { lock.withLock { models.append(model) } }
    var count: Int { lock.withLock { models.count } }
    var allIdentical: Bool { lock.withLock { models.allSatisfy { $0 === models[0] } } }
}
