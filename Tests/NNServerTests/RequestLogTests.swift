import Foundation
import NNClient
import NNCore
import NNTestSupport
import NNTrain
import XCTest

/// `--request-log` writes sampled predictions as CSV that nntrain's reader takes as it is, and
/// keeps the directory within its byte budget.
final class RequestLogTests: FixtureRepositoryTestCase {
    private var logDirectory = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        logDirectory = NSTemporaryDirectory() + "nnserve-requests-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try super.tearDownWithError()
        try? FileManager.default.removeItem(atPath: logDirectory)
    }

    private func csvFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: logDirectory).filter { $0.hasSuffix(".csv") }.sorted()
    }

    func testEveryPredictionOfBothFrontsIsLoggedAsCSVThatNNTrainReads() async throws {
        let server = try ServerProcess(repository: repository, arguments: ["--request-log", logDirectory, "--request-log-sample", "1"])
        let client = NNClient(port: server.port)
        let batch = GraphFixtures.randomBatch(rows: 3, width: 8)
        let (_, outputs) = try await client.predict(model: "wide", inputs: ["features": batch])
        let body = #"{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[1,2,3,4,5,6,7,8]}]}"#
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/models/wide/infer", json: body).status, 200)
        _ = try await client.predict(model: "wide", inputs: ["features": batch], outputs: ["class"])
        await client.close()
        XCTAssertEqual(server.stop(), 0, server.log)

        let files = try csvFiles()
        XCTAssertEqual(files.count, 2, "all outputs, and the class-only request in a file of its own: \(files)")
        let all = try XCTUnwrap(files.first { !$0.contains("-class-") && !$0.contains("+") && $0.hasPrefix("wide-v1-2") })
        let table = try CSVTable.read("\(logDirectory)/\(all)")
        let classColumns = (0..<(outputs["class"]!.shape[1])).map { "class_\($0)" }
        XCTAssertEqual(table.header, (0..<8).map { "f\($0)" } + ["price"] + classColumns + ["model_version", "time"])
        XCTAssertEqual(table.rowCount, 4)
        let (features, _) = try table.matrix(columns: (0..<8).map { "f\($0)" })
        XCTAssertEqual(Array(features.prefix(8)), (0..<8).map { batch[0, $0] }, "inputs logged exactly")
        let (prices, _) = try table.matrix(columns: ["price"])
        XCTAssertEqual(Double(prices[0]), Double(outputs["price"]![0, 0]), accuracy: 1e-6 * max(1, Double(abs(prices[0]))))
        let (times, _) = try table.matrix(columns: ["time"])
        XCTAssertEqual(Double(times[0]), Date().timeIntervalSince1970, accuracy: 120)

        let classOnly = try CSVTable.read("\(logDirectory)/\(try XCTUnwrap(files.first { $0.contains("-class-") }))")
        XCTAssertEqual(classOnly.header, (0..<8).map { "f\($0)" } + classColumns + ["model_version", "time"])
    }

    func testTheDirectoryStaysWithinItsBudget() async throws {
        let budget = 64 * 1024
        let server = try ServerProcess(repository: repository, arguments: ["--request-log", logDirectory, "--request-log-sample", "1",
                                                                           "--request-log-max-bytes", String(budget)])
        let client = NNClient(port: server.port)
        for _ in 0..<60 {
            _ = try await client.predict(model: "mlp", inputs: ["x": GraphFixtures.randomBatch(rows: 40, width: 5)])
        }
        await client.close()
        XCTAssertEqual(server.stop(), 0, server.log)
        let sizes = try csvFiles().map { try FileManager.default.attributesOfItem(atPath: "\(logDirectory)/\($0)")[.size] as! Int }
        XCTAssertGreaterThan(sizes.count, 2, "rotated")
        // The budget, plus at most the file being written when the last rotation happened.
        XCTAssertLessThanOrEqual(sizes.reduce(0, +), budget + budget / 8 + 8192, "\(sizes)")
    }
}
