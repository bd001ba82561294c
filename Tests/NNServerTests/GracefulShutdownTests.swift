import Foundation
import NNClient
import NNCore
import NNTestSupport
import XCTest

/// SIGTERM with a grace period: readiness is false at once, predictions keep being answered
/// on both fronts until the listeners close, nothing in flight is lost, and the process exits.
final class GracefulShutdownTests: FixtureRepositoryTestCase {
    func testReadinessTurnsFalseWhilePredictionsAreStillAnsweredDuringTheGrace() async throws {
        let server = try ServerProcess(repository: repository, arguments: ["--shutdown-grace", "2", "--exit-timeout", "10"])
        let client = NNClient(port: server.port)
        let rows = GraphFixtures.randomBatch(rows: 3, width: 5)
        _ = try await client.predict(model: "mlp", inputs: ["x": rows])
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/health/ready").status, 200)

        let signalled = Date()
        kill(server.process.processIdentifier, SIGTERM)
        try await Task.sleep(nanoseconds: 200_000_000)
        let ready = try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/health/ready")
        XCTAssertEqual(ready.status, 503)
        XCTAssertTrue(ready.errorMessage.contains("shutting down"), ready.text)
        let health = try await client.health()
        XCTAssertTrue(health.live)
        XCTAssertFalse(health.ready)

        // Predictions during the grace period: every one answered, on the open connection and
        // on new ones of both fronts.
        var answered = 0
        while Date().timeIntervalSince(signalled) < 1.5 {
            let (_, outputs) = try await client.predict(model: "mlp", inputs: ["x": rows])
            XCTAssertEqual(outputs["y"]?.shape, [3, 5 - 2])
            answered += 1
        }
        XCTAssertGreaterThan(answered, 10)
        let body = #"{"inputs":[{"name":"x","shape":[1,5],"datatype":"FP32","data":[1,2,3,4,5]}]}"#
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/models/mlp/infer", json: body).status, 200)
        let late = NNClient(port: server.port)
        _ = try await late.predict(model: "mlp", inputs: ["x": rows])
        await late.close()
        await client.close()

        server.process.waitUntilExit()
        XCTAssertEqual(server.process.terminationStatus, 0, server.log)
        let took = Date().timeIntervalSince(signalled)
        XCTAssertGreaterThan(took, 1.9, "the listeners stayed open for the grace period")
        XCTAssertLessThan(took, 8)
    }
}
