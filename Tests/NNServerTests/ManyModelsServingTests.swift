import Foundation
import NNClient
import NNCore
import NNExport
import NNFormat
import NNInference
@testable import NNServer
import NNTestSupport
import XCTest

/// Issue 31's first bar, against the real server: 2,000 models under a memory budget that
/// holds 100 serve a random stream from concurrent clients with no failure, each answer from
/// the model asked for, and the server's resident memory stays within the budget plus a
/// stated overhead — where loading them all would need twenty budgets.
final class ManyModelsServingTests: XCTestCase {
    /// Distinct weights behind the 2,000 directories (each file is hard-linked into 50 of them;
    /// every directory is loaded, compiled and evicted on its own).
    static let distinctModels = 40
    static let widths = [16, 128, 128, 4]
    /// Resident memory the server may hold beyond the budget: its idle size at start (measured),
    /// plus this allowance for what the budget does not count — thread stacks of the resident
    /// versions' executors, the allocator's free lists, metrics series, connection buffers.
    static let overheadBytes = 48 << 20

    private var repository = ""

    override func tearDownWithError() throws {
        if !repository.isEmpty { try? FileManager.default.removeItem(atPath: repository) }
    }

    /// Under a sanitizer the server runs ten times slower: fewer models, the same shape.
    private var scale: (models: Int, resident: Int, requests: Int) {
        ProcessInfo.processInfo.environment["NNSERVE_SANITIZER"] == nil ? (2_000, 100, 1_500) : (200, 10, 200)
    }

    func testThousandsOfModelsServeARandomStreamWithinTheMemoryBudget() async throws {
        let (modelCount, residentCount, requestCount) = scale
        repository = NSTemporaryDirectory() + "nnserve-many-\(UUID().uuidString)"
        var expected: [Tensor] = []
        let input = GraphFixtures.randomBatch(rows: 1, width: Self.widths[0], seed: 11)
        for seed in 0..<Self.distinctModels {
            let graph = GraphFixtures.mlp(Self.widths, seed: UInt64(seed + 1))
            let path = "\(repository)/files/\(seed).nnm"
            try FileManager.default.createDirectory(atPath: "\(repository)/files", withIntermediateDirectories: true)
            try Exporter.selfTestedModel(name: "m", graph: graph).write(to: path)
            expected.append(try Executor(plan: Plan(graph: graph)).predict(["x": input])["y"]!)
        }
        let models = "\(repository)/models"
        for index in 0..<modelCount {
            try FileManager.default.createDirectory(atPath: "\(models)/m\(index)/1", withIntermediateDirectories: true)
            try FileManager.default.linkItem(atPath: "\(repository)/files/\(index % Self.distinctModels).nnm", toPath: "\(models)/m\(index)/1/model.nnm")
        }
        let perVersion = try residentBytesOfOneVersion("\(repository)/files/0.nnm")
        let budget = residentCount * perVersion

        let started = Date()
        let server = try ServerProcess(repository: models, arguments: ["--memory-budget", String(budget), "--log-level", "warning"])
        let startup = Date().timeIntervalSince(started)
        let pid = server.process.processIdentifier
        let idle = try XCTUnwrap(ProcessMemory.residentBytes(ofProcess: pid))

        let clients = (0..<8).map { _ in NNClient(port: server.port) }
        let answers = expected
        var generator = SplitMix(seed: 2026)
        let picks = (0..<requestCount).map { _ in Int(generator.next() % UInt64(modelCount)) }
        var peak = idle
        let failures = try await withThrowingTaskGroup(of: String?.self) { group in
            var failures: [String] = []
            for (request, model) in picks.enumerated() {
                let client = clients[request % clients.count]
                group.addTask {
                    do {
                        let output = try await client.predict(model: "m\(model)", inputs: ["x": input])
                        let wanted = answers[model % Self.distinctModels].scalars
                        guard let got = output.outputs["y"]?.scalars, zip(got, wanted).allSatisfy({ abs($0 - $1) <= 1e-4 * max(1, abs($1)) }) else {
                            return "m\(model): answered \(output.outputs["y"]?.scalars ?? []), expected \(wanted)"
                        }
                        return nil
                    } catch {
                        return "m\(model): \(error)"
                    }
                }
                // 48 in flight (under --max-pending-loads' 64), the resident memory sampled as the stream goes.
                if request >= 47, let failure = try await group.next() ?? nil { failures.append(failure) }
                if request % 32 == 0 { peak = max(peak, ProcessMemory.residentBytes(ofProcess: pid) ?? 0) }
            }
            for try await failure in group { if let failure { failures.append(failure) } }
            return failures
        }
        XCTAssertEqual(failures, [], "\(failures.count) of \(requestCount) requests failed")
        let after = try XCTUnwrap(ProcessMemory.residentBytes(ofProcess: pid))
        peak = max(peak, after)

        let metrics = try HTTPTestClient.send(port: server.httpPort, "GET", "/metrics").text
        let resident = metricValue(metrics, "nnserve_resident_models_memory_bytes")
        XCTAssertLessThanOrEqual(resident ?? .infinity, Double(budget), "the counted bytes stay within the budget")
        XCTAssertGreaterThan(metricValue(metrics, "nnserve_model_evictions_total") ?? 0, Double(requestCount / 2), "most requests found their model evicted")
        XCTAssertLessThanOrEqual(peak, idle + budget + Self.overheadBytes,
                                 "peak RSS \(ProcessMemory.text(peak)): idle \(ProcessMemory.text(idle)) + budget \(ProcessMemory.text(budget)) + \(ProcessMemory.text(Self.overheadBytes))")
        print("""
            many models: \(modelCount) models, budget \(ProcessMemory.text(budget)) (\(residentCount) × \(ProcessMemory.text(perVersion))), \
            startup \(String(format: "%.2f", startup)) s, idle RSS \(ProcessMemory.text(idle)), peak RSS \(ProcessMemory.text(peak)), \
            \(Int(metricValue(metrics, #"nnserve_model_loads_total{outcome="loaded"}"#) ?? 0)) loads for \(requestCount) requests
            """)
        for client in clients { await client.close() }
        XCTAssertEqual(server.stop(), 0)
    }

    /// `LoadedModel.residentBytes` of one version, loaded in this process on the server's
    /// defaults from a repository of its own.
    private func residentBytesOfOneVersion(_ file: String) throws -> Int {
        let single = "\(repository)/single"
        try FileManager.default.createDirectory(atPath: "\(single)/m/1", withIntermediateDirectories: true)
        try FileManager.default.linkItem(atPath: file, toPath: "\(single)/m/1/model.nnm")
        let store = ModelStore(root: single, configuration: ServerConfiguration())
        store.reload()
        defer { store.drainAll() }
        return try store.model("m", version: 0).0.residentBytes
    }

    private func metricValue(_ exposition: String, _ series: String) -> Double? {
        exposition.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
    }
}

/// SplitMix64: the request stream's model choices, the same on every run.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
