import Foundation
import NNClient
import NNCore
import NNExport
import NNFormat
import NNTestSupport
import XCTest

final class HotReloadTests: XCTestCase {
    /// A new version is swapped in on SIGHUP while requests keep flowing (none lost); a broken
    /// version is refused and the old one keeps serving.
    func testReloadUnderLoadLosesNoRequestAndRefusesABrokenVersion() async throws {
        let repository = NSTemporaryDirectory() + "nnserve-reload-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: repository) }
        func publish(_ version: Int, _ bytes: [UInt8]) throws {
            let staging = "\(repository)/mlp/.tmp-\(version)"
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: "\(staging)/model.nnm"))
            try FileManager.default.moveItem(atPath: staging, toPath: "\(repository)/mlp/\(version)")
        }
        try publish(1, try Exporter.selfTestedModel(name: "mlp", graph: GraphFixtures.mlp([5, 16, 3], seed: 1)).encoded())
        let server = try ServerProcess(repository: repository)
        let client = NNClient(port: server.port)
        let input = GraphFixtures.randomBatch(rows: 3, width: 5)

        let load = Task { () -> (answered: Int, failed: Int, versions: Set<Int>) in
            var answered = 0, failed = 0
            var versions = Set<Int>()
            let end = Date().addingTimeInterval(3)
            while Date() < end {
                do {
                    versions.insert(try await client.predict(model: "mlp", inputs: ["x": input]).version)
                    answered += 1
                } catch {
                    failed += 1
                }
            }
            return (answered, failed, versions)
        }
        try await Task.sleep(nanoseconds: 500_000_000)
        try publish(2, try Exporter.selfTestedModel(name: "mlp", graph: GraphFixtures.mlp([5, 16, 3], seed: 2)).encoded())
        kill(server.process.processIdentifier, SIGHUP)
        try await Task.sleep(nanoseconds: 1_000_000_000)
        try publish(3, Array("not a model".utf8))
        kill(server.process.processIdentifier, SIGHUP)
        let result = await load.value
        XCTAssertEqual(result.failed, 0, "requests lost during reload")
        XCTAssertGreaterThan(result.answered, 50)
        XCTAssertEqual(result.versions, [1, 2], "served v1, then v2")
        let after = try await client.predict(model: "mlp", inputs: ["x": input])
        XCTAssertEqual(after.version, 2, "the broken v3 is refused and v2 keeps serving")
        await client.close()
        XCTAssertEqual(server.stop(), 0)
        let log = server.log
        XCTAssertTrue(log.contains("refused mlp v3"), log)
        XCTAssertTrue(log.contains("unloaded mlp v1"), log)
    }

    /// With --poll-interval the repository is polled without any signal: a version published
    /// while the server runs is served (the poller was once released as soon as it was set up).
    func testPollingServesANewlyPublishedVersion() async throws {
        let repository = try ServerProcess.fixtureRepository()
        defer { try? FileManager.default.removeItem(atPath: repository) }
        let server = try ServerProcess(repository: repository, arguments: ["--poll-interval", "0.2"])
        let client = NNClient(port: server.port)
        let before = try await client.metadata(model: "mlp").versions
        XCTAssertEqual(before, [1])
        let staging = "\(repository)/mlp/.tmp-2"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try Exporter.selfTestedModel(name: "mlp", graph: GraphFixtures.mlp([5, 16, 3], seed: 2)).write(to: "\(staging)/model.nnm")
        try FileManager.default.moveItem(atPath: staging, toPath: "\(repository)/mlp/2")
        var versions: [Int64] = []
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            versions = try await client.metadata(model: "mlp").versions
            if versions == [2] { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        XCTAssertEqual(versions, [2], "the poller loaded v2 (and the latest-1 policy unloaded v1)")
        await client.close()
        XCTAssertEqual(server.stop(), 0)
    }
}
