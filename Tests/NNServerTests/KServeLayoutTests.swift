import Foundation
import NNClient
import NNExport
import NNFormat
import NNTestSupport
import XCTest

/// `nnserve DIR --model-name NAME` serves a directory holding one model, as KServe's storage
/// initializer lays out /mnt/models: version directories, or a lone model.nnm as version 1.
final class KServeLayoutTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "nnserve-kserve-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func testALoneModelFileIsServedAsVersionOne() async throws {
        try Exporter.selfTestedModel(name: "m", graph: GraphFixtures.mlp([5, 16, 3])).write(to: "\(directory)/model.nnm")
        let server = try ServerProcess(repository: directory, arguments: ["--model-name", "housing"])
        let client = NNClient(port: server.port)
        let (version, outputs) = try await client.predict(model: "housing", inputs: ["x": GraphFixtures.randomBatch(rows: 2, width: 5)])
        XCTAssertEqual(version, 1)
        XCTAssertEqual(outputs["y"]?.shape, [2, 3])
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/models/housing/ready").status, 200)
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/health/ready").status, 200)
        await client.close()
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    func testVersionDirectoriesFollowTheVersionPolicy() async throws {
        for version in [1, 2] {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(version)", withIntermediateDirectories: true)
            try Exporter.selfTestedModel(name: "m", graph: GraphFixtures.mlp([5, 16, 3], seed: UInt64(version))).write(to: "\(directory)/\(version)/model.nnm")
        }
        try "version_policy: { all: {} }\n".write(toFile: "\(directory)/config.pbtxt", atomically: true, encoding: .utf8)
        let server = try ServerProcess(repository: directory, arguments: ["--model-name", "housing"])
        let client = NNClient(port: server.port)
        let models = try await client.listModels()
        XCTAssertEqual(models.map(\.name), ["housing"])
        XCTAssertEqual(models.first?.versions, [1, 2])
        let (version, _) = try await client.predict(model: "housing", inputs: ["x": GraphFixtures.randomBatch(rows: 1, width: 5)])
        XCTAssertEqual(version, 2)
        await client.close()
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    func testLayoutPaths() {
        let repository = RepositoryLayout(root: "/r")
        XCTAssertEqual(repository.modelFile("a", version: 3), "/r/a/3/model.nnm")
        XCTAssertEqual(repository.configFile("a"), "/r/a/config.pbtxt")
        let single = RepositoryLayout(root: "/mnt/models", kind: .singleModel(name: "a"))
        XCTAssertEqual(single.modelNames(), ["a"])
        XCTAssertEqual(single.configFile("a"), "/mnt/models/config.pbtxt")
        XCTAssertEqual(single.modelFile("a", version: 1), "/mnt/models/model.nnm", "no 1/ directory: the lone file")
        XCTAssertEqual(RepositoryLayout.version(named: "7"), 7)
        for entry in ["07", "-1", "0", "+3", "1.0", ".tmp-1-99"] { XCTAssertNil(RepositoryLayout.version(named: entry), entry) }
        XCTAssertEqual(repository.relative("cannot read /r/a/1/model.nnm"), "cannot read a/1/model.nnm")
    }
}
