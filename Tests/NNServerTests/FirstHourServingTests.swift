import Foundation
import NNClient
@testable import NNServer
import NNTestSupport
import XCTest

/// Issue 27's first hour on the serving side: a mistyped repository, a port in use, a client
/// at the wrong port or at no server. Each says what happened, naming the value.
final class FirstHourServingTests: FixtureRepositoryTestCase {
    func testARepositoryThatDoesNotExistIsAnError() throws {
        let missing = NSTemporaryDirectory() + "nope-repo-\(UUID().uuidString)"
        let run = try ProcessRunner.run(ServerProcess.executable, [missing, "--port", "0", "--http-port=-1", "--grpc-port=-1"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.output.contains("model repository '\(missing)': no such directory (nnexport run.ckpt --repository DIR writes one"), run.output)
    }

    func testAPortInUseIsNamedWithItsFlag() throws {
        let server = try ServerProcess(repository: repository)
        let second = try ProcessRunner.run(ServerProcess.executable, [repository, "--port", "0", "--http-port", "\(server.httpPort)", "--grpc-port=-1"])
        XCTAssertNotEqual(second.status, 0)
        XCTAssertTrue(second.output.contains("cannot listen on 127.0.0.1:\(server.httpPort) (--http-port): the port is in use (another nnserve, or another server); choose another with --http-port"),
                      second.output)
    }

    func testAClientAtTheWrongPortOrNoServerSaysSo() async throws {
        let server = try ServerProcess(repository: repository)
        // Many times over: a request written while the client was closing the connection it had
        // recognized used to fail as "the connection closed", without the reason (1-2% under load).
        let attempts = Array(repeating: [(server.httpPort, "HTTP/1.1 (the --http-port)"), (server.grpcPort!, "HTTP/2 (the --grpc-port)")], count: 50)
        for (port, front) in attempts.joined() {
            let client = NNClient(port: port)
            do {
                _ = try await client.health()
                XCTFail("port \(port) answered the binary protocol")
            } catch {
                XCTAssertEqual(error as? ClientError, .wrongProtocol(front), "\(error)")
                XCTAssertTrue("\(error)".contains("point the client at nnserve's --port"), "\(error)")
            }
            await client.close()
        }
        // A port nothing listens on: the one the server had, once it is stopped.
        let port = server.port
        server.stop()
        let client = NNClient(port: port)
        do {
            _ = try await client.health()
            XCTFail("nothing listens on \(port)")
        } catch {
            XCTAssertEqual("\(error)", "cannot connect to 127.0.0.1:\(port): connection refused (is nnserve running, with this --port?)")
        }
        await client.close()
    }
}
