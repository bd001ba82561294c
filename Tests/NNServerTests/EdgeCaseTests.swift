import Foundation
import NNClient
import NNCore
import NNExport
import NNFormat
import NNTestSupport
import XCTest

/// Inputs the server used to accept silently: an overflowing input answered +inf, a negative
/// version on the binary protocol, nested JSON data in the wrong shape, and model files
/// without self-tests.
final class EdgeCaseTests: FixtureRepositoryTestCase {
    func testOverflowNegativeVersionAndMisnestedDataAreRefusedWithTheReason() async throws {
        let server = try ServerProcess(repository: repository)
        let client = NNClient(port: server.port)
        let huge = Tensor(shape: [1, 5], values: [3.4e38, 3.4e38, 3.4e38, 3.4e38, 3.4e38])
        do {
            _ = try await client.predict(model: "mlp", inputs: ["x": huge])
            XCTFail("a non-finite output was answered as a prediction")
        } catch ClientError.server(let code, let message) {
            XCTAssertEqual(code, .invalidArgument)
            XCTAssertTrue(message.contains("output 'y' row 0 is"), message)
            XCTAssertTrue(message.contains("outside the range"), message)
        }
        let body = #"{"inputs":[{"name":"x","shape":[1,5],"datatype":"FP32","data":[3.4e38,3.4e38,3.4e38,3.4e38,3.4e38]}]}"#
        let overflow = try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/models/mlp/infer", json: body)
        XCTAssertEqual(overflow.status, 400)
        XCTAssertTrue(overflow.errorMessage.contains("output 'y' row 0"), overflow.text)

        do {
            _ = try await client.predict(model: "mlp", version: -1, inputs: ["x": GraphFixtures.randomBatch(rows: 1, width: 5)])
            XCTFail("version -1 answered")
        } catch ClientError.server(let code, let message) {
            XCTAssertEqual(code, .invalidArgument)
            XCTAssertEqual(message, "model version -1 is not a positive integer")
        }

        for (data, says) in [("[[1,2,3,4,5],[1,2,3,4]]", "data[1] has 4 elements; shape [2, 5] needs 5"),
                             ("[[1,2,3,4,5],[1,2,3,4,5,6]]", "data[1] has 6 elements"),
                             ("[[1,2,3,4,5],[[1],2,3,4,5]]", "data[1][0] is an array"),
                             ("[[1,2,3,4,5],7,8,9,10,11]", "data has 6 elements; shape [2, 5] needs 2"), ("[[1,2,3,4,5],7]", "data[1] is a number")] {
            let request = #"{"inputs":[{"name":"x","shape":[2,5],"datatype":"FP32","data":\#(data)}]}"#
            let response = try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/models/mlp/infer", json: request)
            XCTAssertEqual(response.status, 400, data)
            XCTAssertTrue(response.errorMessage.contains(says), "\(data): \(response.text)")
        }
        let nested = #"{"inputs":[{"name":"x","shape":[2,5],"datatype":"FP32","data":[[1,2,3,4,5],[6,7,8,9,10]]}]}"#
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/models/mlp/infer", json: nested).status, 200)
        await client.close()
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    func testAModelFileWithoutSelfTestsIsRefusedUnlessAllowed() throws {
        try FileManager.default.createDirectory(atPath: "\(repository)/untested/1", withIntermediateDirectories: true)
        try ModelFile(name: "untested", graph: GraphFixtures.mlp([3, 4, 2])).write(to: "\(repository)/untested/1/model.nnm")
        let server = try ServerProcess(repository: repository)
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/models/untested/ready").status, 400)
        let index = try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/repository/index").text
        XCTAssertTrue(index.contains("has no self-test rows"), index)
        XCTAssertEqual(server.stop(), 0)

        let permissive = try ServerProcess(repository: repository, arguments: ["--allow-untested-models"])
        XCTAssertEqual(try HTTPTestClient.send(port: permissive.httpPort, "GET", "/v2/models/untested/ready").status, 200)
        XCTAssertEqual(permissive.stop(), 0)
    }
}
