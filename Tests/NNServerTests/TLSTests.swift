import Foundation
import NNClient
import NNFormat
import NNTestSupport
import XCTest

/// Both fronts over TLS, and mutual TLS, with certificates this test makes with openssl.
final class TLSTests: FixtureRepositoryTestCase {
    private var pki = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        pki = NSTemporaryDirectory() + "nnserve-pki-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: pki, withIntermediateDirectories: true)
        // A CA, a server certificate for 127.0.0.1/localhost and a client certificate, both signed by the CA.
        try run("/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", "/CN=nnserve test CA", "-keyout", "\(pki)/ca.key", "-out", "\(pki)/ca.pem")
        try issue("server", subject: "/CN=localhost", extensions: "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth")
        try issue("client", subject: "/CN=test client", extensions: "extendedKeyUsage=clientAuth")
    }

    override func tearDownWithError() throws {
        try super.tearDownWithError()
        try? FileManager.default.removeItem(atPath: pki)
    }

    private func issue(_ name: String, subject: String, extensions: String) throws {
        try extensions.write(toFile: "\(pki)/\(name).ext", atomically: true, encoding: .utf8)
        try run("/usr/bin/openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", subject,
                "-keyout", "\(pki)/\(name).key", "-out", "\(pki)/\(name).csr")
        try run("/usr/bin/openssl", "x509", "-req", "-in", "\(pki)/\(name).csr", "-CA", "\(pki)/ca.pem", "-CAkey", "\(pki)/ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "\(pki)/\(name).ext", "-out", "\(pki)/\(name).pem")
    }

    private func run(_ executable: String, _ arguments: String...) throws {
        let (status, output) = try ProcessRunner.run(executable, arguments)
        guard status == 0 else { throw NSError(domain: "openssl", code: Int(status), userInfo: [NSLocalizedDescriptionKey: output]) }
    }

    /// curl's HTTP status for GET `path` over TLS ("000" when the handshake failed).
    private func curl(_ port: Int, _ path: String, clientCertificate: Bool = false) throws -> String {
        var arguments = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--cacert", "\(pki)/ca.pem"]
        if clientCertificate { arguments += ["--cert", "\(pki)/client.pem", "--key", "\(pki)/client.key"] }
        return try ProcessRunner.run("/usr/bin/curl", arguments + ["https://127.0.0.1:\(port)\(path)"]).output
    }

    func testBothFrontsSpeakTLSAndPlainClientsAreTurnedAway() async throws {
        let server = try ServerProcess(repository: repository, arguments: ["--tls-cert", "\(pki)/server.pem", "--tls-key", "\(pki)/server.key"])
        let client = NNClient(port: server.port, tls: try ClientTLS(trustRoots: "\(pki)/ca.pem"))
        let (_, outputs) = try await client.predict(model: "mlp", inputs: ["x": GraphFixtures.randomBatch(rows: 2, width: 5)])
        XCTAssertEqual(outputs["y"]?.shape, [2, 3])
        await client.close()
        XCTAssertEqual(try curl(server.httpPort, "/v2/health/ready"), "200")

        let plain = NNClient(port: server.port)
        do {
            _ = try await plain.send(Nnserve_Request.with { $0.health = Nnserve_HealthRequest() }, timeout: 3)
            XCTFail("a plain client was answered by a TLS server")
        } catch {}
        await plain.close()
        XCTAssertThrowsError(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/health/live"), "no HTTP answer in clear text")

        let untrusting = NNClient(port: server.port, tls: try ClientTLS(trustRoots: "\(pki)/client.pem"))
        do {
            _ = try await untrusting.health()
            XCTFail("a certificate from an untrusted CA was accepted")
        } catch {}
        await untrusting.close()
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    func testMutualTLSRequiresAClientCertificateFromTheCA() async throws {
        let server = try ServerProcess(repository: repository, arguments: ["--tls-cert", "\(pki)/server.pem", "--tls-key", "\(pki)/server.key",
                                                                           "--tls-client-ca", "\(pki)/ca.pem", "--health-port", "0"])
        XCTAssertEqual(try curl(server.httpPort, "/v2/health/ready"), "000", "no client certificate: no handshake")
        XCTAssertEqual(try curl(server.httpPort, "/v2/health/ready", clientCertificate: true), "200")
        // A kubelet's HTTPS probe presents no certificate: the health listener asks for none.
        XCTAssertEqual(try curl(try XCTUnwrap(server.healthPort), "/v2/health/live"), "200")
        XCTAssertEqual(try curl(try XCTUnwrap(server.healthPort), "/v2/health/ready"), "200")

        let anonymous = NNClient(port: server.port, tls: try ClientTLS(trustRoots: "\(pki)/ca.pem"))
        do {
            _ = try await anonymous.health()
            XCTFail("answered without a client certificate")
        } catch {}
        await anonymous.close()
        let identified = NNClient(port: server.port, tls: try ClientTLS(trustRoots: "\(pki)/ca.pem", certificateChain: "\(pki)/client.pem",
                                                                         privateKey: "\(pki)/client.key"))
        let (_, outputs) = try await identified.predict(model: "mlp", inputs: ["x": GraphFixtures.randomBatch(rows: 1, width: 5)])
        XCTAssertEqual(outputs["y"]?.shape, [1, 3])
        await identified.close()
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    /// `--plain-health`: the health listener speaks plain HTTP beside TLS fronts.
    func testThePlainHealthListenerBesideTLS() throws {
        let server = try ServerProcess(repository: repository, arguments: ["--tls-cert", "\(pki)/server.pem", "--tls-key", "\(pki)/server.key",
                                                                           "--tls-client-ca", "\(pki)/ca.pem", "--health-port", "0", "--plain-health"])
        XCTAssertEqual(try HTTPTestClient.send(port: try XCTUnwrap(server.healthPort), "GET", "/v2/health/live").status, 200)
        XCTAssertEqual(try curl(server.httpPort, "/v2/health/live"), "000", "the HTTP front still demands TLS and a certificate")
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    /// A handshake that stalls (5 bytes of a ClientHello, then nothing) is cut at the header
    /// timeout on every front, as a slow request head is: it used to hold a connection slot
    /// forever on the binary port (the farewell waited on the handshake) and for the idle
    /// timeout on the others.
    func testAStalledHandshakeIsCutAtTheHeaderTimeout() throws {
        let server = try ServerProcess(repository: repository, arguments: ["--tls-cert", "\(pki)/server.pem", "--tls-key", "\(pki)/server.key",
                                                                           "--header-timeout", "1"])
        for (front, port) in [("binary", server.port), ("http", server.httpPort), ("grpc", try XCTUnwrap(server.grpcPort))] {
            let connection = try RawConnection(port: port)
            // A TLS record header announcing 512 bytes of handshake that never come.
            XCTAssertTrue(connection.send([0x16, 0x03, 0x01, 0x02, 0x00]))
            XCTAssertTrue(connection.closedByServer(), "\(front): a stalled handshake was still open after 5 s")
            connection.close()
        }
        XCTAssertEqual(server.stop(), 0, server.log)
    }
}
