import Foundation
import NNClient
import NNCore
import NNExport
import NNFormat
import NNTestSupport
import XCTest

/// A request cannot make the server build a response larger than the request limits allow:
/// repeated output names are refused (each repetition used to return the whole output again;
/// 20,000 repetitions of a 4,096-row output needed ~3.3 GB and aborted the server), and so is
/// a response wider than the largest request.
final class ResponseBoundTests: XCTestCase {
    private var repository = ""

    override func setUpWithError() throws {
        repository = NSTemporaryDirectory() + "nnserve-bounds-\(UUID().uuidString)"
        // "expand" answers 64 values per 2-feature row: its responses outgrow its requests.
        for (name, graph) in [("mlp", GraphFixtures.mlp([5, 16, 3])), ("expand", GraphFixtures.mlp([2, 64]))] {
            try FileManager.default.createDirectory(atPath: "\(repository)/\(name)/1", withIntermediateDirectories: true)
            try Exporter.selfTestedModel(name: name, graph: graph).write(to: "\(repository)/\(name)/1/model.nnm")
        }
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: repository)
    }

    private func assertRefused(_ client: NNClient, model: String, inputs: [String: Tensor], outputs: [String] = [],
                               saying fragment: String, file: StaticString = #filePath, line: UInt = #line) async {
        do {
            _ = try await client.predict(model: model, inputs: inputs, outputs: outputs)
            XCTFail("\(model) answered", file: file, line: line)
        } catch ClientError.server(let code, let message) {
            XCTAssertEqual(code, .invalidArgument, file: file, line: line)
            XCTAssertTrue(message.contains(fragment), message, file: file, line: line)
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
    }

    func testRepeatedOutputNamesAreRefusedOnBothFrontsAndTheServerStaysUp() async throws {
        let server = try ServerProcess(repository: repository)
        let client = NNClient(port: server.port)
        let rows = GraphFixtures.randomBatch(rows: 4_096, width: 5)
        await assertRefused(client, model: "mlp", inputs: ["x": rows], outputs: [String](repeating: "y", count: 20_000),
                            saying: "output 'y' is requested more than once")
        await assertRefused(client, model: "mlp", inputs: ["x": rows], outputs: ["y", "y"], saying: "more than once")

        let row = "[1,2,3,4,5]"
        let outputs = [String](repeating: #"{"name":"y"}"#, count: 20_000).joined(separator: ",")
        let body = #"{"inputs":[{"name":"x","shape":[1,5],"datatype":"FP32","data":\#(row)}],"outputs":[\#(outputs)]}"#
        let response = try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/models/mlp/infer", json: body)
        XCTAssertEqual(response.status, 400)
        XCTAssertTrue(response.text.contains("output 'y' is requested more than once"), response.text)

        // Both fronts still serve, and a single mention of the output is answered.
        let answer = try await client.predict(model: "mlp", inputs: ["x": rows], outputs: ["y"])
        XCTAssertEqual(answer.outputs["y"]?.shape, [4_096, 3])
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/health/live").status, 200)
        await client.close()
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    func testAResponseLargerThanTheRequestLimitsIsRefused() async throws {
        // Limits of 64 KiB allow 16,384 float32 values in a response.
        let server = try ServerProcess(repository: repository, arguments: ["--max-frame-size", "65536", "--max-body-size", "65536"])
        let client = NNClient(port: server.port)
        await assertRefused(client, model: "expand", inputs: ["x": GraphFixtures.randomBatch(rows: 1_000, width: 2)],
                            saying: "the response would carry 64000 values")
        let fits = try await client.predict(model: "expand", inputs: ["x": GraphFixtures.randomBatch(rows: 200, width: 2)])
        XCTAssertEqual(fits.outputs["y"]?.shape, [200, 64])

        let data = [String](repeating: "0.5", count: 2_000).joined(separator: ",")
        let body = #"{"inputs":[{"name":"x","shape":[1000,2],"datatype":"FP32","data":[\#(data)]}]}"#
        let response = try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/models/expand/infer", json: body)
        XCTAssertEqual(response.status, 400)
        XCTAssertTrue(response.text.contains("responses carry at most 16384"), response.text)
        await client.close()
        XCTAssertEqual(server.stop(), 0, server.log)
    }
}
