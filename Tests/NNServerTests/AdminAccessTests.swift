import Foundation
@testable import NNServer
import XCTest

/// Repository control (load/unload) needs the bearer token when one is configured, and is off
/// on a non-loopback address without one.
final class AdminAccessTests: FixtureRepositoryTestCase {
    func testAccessFollowsTheBindAddressAndTheToken() {
        XCTAssertEqual(AdminAccess.forBinding(host: "127.0.0.1", token: nil), .loopbackOnly)
        XCTAssertEqual(AdminAccess.forBinding(host: "::1", token: nil), .loopbackOnly)
        XCTAssertEqual(AdminAccess.forBinding(host: "0.0.0.0", token: nil), .off(reason: "nnserve binds 0.0.0.0 without --admin-token-file"))
        XCTAssertEqual(AdminAccess.forBinding(host: "0.0.0.0", token: "s3cret"), .token("s3cret"))
        let access = AdminAccess.token("s3cret")
        XCTAssertNil(access.refusal(authorization: "Bearer s3cret"))
        XCTAssertEqual(access.refusal(authorization: nil)?.status, .unauthorized)
        XCTAssertEqual(access.refusal(authorization: "Bearer s3cre")?.status, .unauthorized)
        XCTAssertEqual(access.refusal(authorization: "Bearer s3cret ")?.status, .unauthorized)
        XCTAssertEqual(access.refusal(authorization: "Basic s3cret")?.status, .unauthorized)
        XCTAssertNil(access.refusal(authorizations: ["Bearer s3cret"]))
        XCTAssertEqual(access.refusal(authorizations: ["Bearer s3cret", "Bearer guess"])?.status, .badRequest, "a repeated header is refused")
        XCTAssertEqual(AdminAccess.loopbackOnly.refusal(authorizations: ["a", "b"])?.status, .badRequest)
    }

    func testUnloadNeedsTheTokenAndLeavesTheModelServedWithoutIt() throws {
        let tokenFile = repository + "/../admin-token-\(UUID().uuidString)"
        try "s3cret\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: tokenFile) }
        let server = try ServerProcess(repository: repository, arguments: ["--admin-token-file", tokenFile])
        let unload = "/v2/repository/models/wide/unload"

        let anonymous = try HTTPTestClient.send(port: server.httpPort, "POST", unload)
        XCTAssertEqual(anonymous.status, 401)
        XCTAssertEqual(anonymous.headers["www-authenticate"], #"Bearer realm="nnserve""#)
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "POST", unload, headers: ["Authorization": "Bearer guess"]).status, 401)
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/models/wide/ready").status, 200, "refused unload left it served")

        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "POST", unload, headers: ["Authorization": "Bearer s3cret"]).status, 200)
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/models/wide/ready").status, 400)
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/repository/models/wide/load",
                                               headers: ["Authorization": "Bearer s3cret"]).status, 200)
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    func testRepositoryControlIsOffOnANonLoopbackAddressWithoutAToken() throws {
        let server = try ServerProcess(repository: repository, arguments: ["--host", "0.0.0.0"])
        let refused = try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/repository/models/wide/unload")
        XCTAssertEqual(refused.status, 403)
        XCTAssertTrue(refused.errorMessage.contains("repository control is off: nnserve binds 0.0.0.0 without --admin-token-file"), refused.text)
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/models/wide/ready").status, 200)
        XCTAssertEqual(server.stop(), 0)
        XCTAssertTrue(server.log.contains("repository control (load/unload) is off"), server.log)
    }
}
