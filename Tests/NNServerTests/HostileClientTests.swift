import Foundation
import NNClient
import NNFormat
import NNTestSupport
import XCTest

/// The probes of a hostile client, against the real server: memory stays bounded when
/// responses are never read, a connection over the limit gets an answer it can read, health
/// answers while one front is full, and trickling clients are closed in seconds.
final class HostileClientTests: FixtureRepositoryTestCase {
    private func residentBytes(_ server: ServerProcess) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(server.process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kilobytes * 1024
    }

    /// Writes `request` over and over without reading, until the server stops taking bytes
    /// (its reads paused and both TCP buffers full) for half a second, or `limit` are sent.
    private func pipelineWithoutReading(_ connection: RawConnection, _ request: [UInt8], limit: Int) -> Int {
        let flags = fcntl(connection.descriptor, F_GETFL)
        _ = fcntl(connection.descriptor, F_SETFL, flags | O_NONBLOCK)
        let burst = [UInt8]((0..<256).flatMap { _ in request })
        var sent = 0
        var stalledSince: Date?
        while sent < limit * request.count {
            let count = burst.withUnsafeBytes { Glibc.send(connection.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count > 0 {
                sent += count
                stalledSince = nil
            } else {
                if stalledSince == nil { stalledSince = Date() }
                if Date().timeIntervalSince(stalledSince!) > 0.5 { break }
                usleep(1_000)
            }
        }
        return sent / request.count
    }

    func testUnreadPipelinedResponsesDoNotGrowMemory() throws {
        // AddressSanitizer keeps freed memory in quarantine (256 MB by default) and maps shadow
        // memory: RSS there says nothing about what the server holds.
        try XCTSkipIf(ProcessInfo.processInfo.environment["NNSERVE_SANITIZER"] == "address",
                      "not run under AddressSanitizer: its quarantine grows RSS by design")
        let server = try ServerProcess(repository: repository)
        let baseline = residentBytes(server)
        var metadata = Nnserve_Request()
        metadata.id = 7
        metadata.metadata.model = "wide"
        let binary = try RawConnection(port: server.port)
        binary.send(WireProtocol.preface)
        let binaryRequests = pipelineWithoutReading(binary, try WireProtocol.frame(metadata), limit: 1_200_000)

        let get = Array("GET /v2/models/wide HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        let http = try RawConnection(port: server.httpPort)
        let httpRequests = pipelineWithoutReading(http, get, limit: 400_000)
        let grown = residentBytes(server) - baseline
        // Before back-pressure: 300,000 unread metadata requests took 283 MB.
        XCTAssertLessThan(grown, 64 << 20, "RSS grew by \(grown >> 20) MB after \(binaryRequests) binary and \(httpRequests) HTTP requests left unread")
        XCTAssertLessThan(binaryRequests, 1_200_000, "the server kept reading")
        binary.close()
        http.close()

        // Both fronts still answer others.
        let client = NNClient(port: server.port)
        let health = try awaitResult { try await client.health() }
        XCTAssertTrue(health.live)
        awaitResult { await client.close() }
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/health/ready").status, 200)
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    func testAConnectionOverTheLimitGetsAReadableRefusalAndTheOtherFrontStillAnswers() throws {
        let server = try ServerProcess(repository: repository, arguments: ["--max-connections", "2", "--max-http-connections", "2"])
        let held = try (0..<2).map { _ in try RawConnection(port: server.port) }
        for connection in held { connection.send(WireProtocol.preface) }
        usleep(200_000)
        let refused = try RawConnection(port: server.port)
        let answer = refused.readUntilClosed()
        guard case .frame(let start, let length) = WireProtocol.scanFrame(answer) else {
            return XCTFail("no error frame at the binary limit: \(answer.count) bytes")
        }
        let response = try Nnserve_Response(serializedBytes: Array(answer[start..<(start + length)]))
        XCTAssertEqual(response.error.code, .resourceExhausted)
        XCTAssertTrue(response.error.message.contains("limit of 2 binary connections"), response.error.message)

        // The binary front is full; HTTP health answers.
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/health/live").status, 200)
        let httpHeld = try (0..<2).map { _ in try RawConnection(port: server.httpPort) }
        usleep(200_000)
        let over = try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/health/live")
        XCTAssertEqual(over.status, 503)
        XCTAssertTrue(over.errorMessage.contains("limit of 2 http connections"), over.text)
        XCTAssertEqual(over.headers["retry-after"], "1")
        for connection in held + httpHeld { connection.close() }
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    func testTheHealthPortAnswersWhileTheHTTPFrontIsFlooded() throws {
        let server = try ServerProcess(repository: repository, arguments: ["--max-http-connections", "4", "--health-port", "0"])
        let healthPort = try XCTUnwrap(server.healthPort)
        // Four clients that hold the HTTP front's slots with half a request head.
        let flood = try (0..<4).map { _ in try RawConnection(port: server.httpPort) }
        for connection in flood { connection.send(Array("GET /v2/health/live HTTP/1.1\r\nHost: x".utf8)) }
        usleep(200_000)
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/health/ready").status, 503)

        XCTAssertEqual(try HTTPTestClient.send(port: healthPort, "GET", "/v2/health/ready").status, 200)
        XCTAssertEqual(try HTTPTestClient.send(port: healthPort, "GET", "/v2/health/live").status, 200)
        let metrics = try HTTPTestClient.send(port: healthPort, "GET", "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.text.contains(#"nnserve_open_connections{protocol="http"} 4"#), metrics.text)
        let notHere = try HTTPTestClient.send(port: healthPort, "GET", "/v2/models/wide")
        XCTAssertEqual(notHere.status, 404)
        XCTAssertTrue(notHere.errorMessage.contains("serves /v2/health/live, /v2/health/ready and /metrics only"), notHere.text)
        for connection in flood { connection.close() }
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    /// A request NIO's parser rejects is answered 400 and the connection closes then (it used
    /// to stay open until the header timeout wrote a second, unsolicited 408).
    func testAMalformedRequestIsAnswered400AndTheConnectionCloses() throws {
        let server = try ServerProcess(repository: repository, arguments: ["--header-timeout", "30"])
        let connection = try RawConnection(port: server.httpPort)
        connection.send(Array("GET /v2/health/live HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".utf8))
        let reply = connection.readUntilClosed()
        XCTAssertTrue(String(decoding: reply, as: UTF8.self).hasPrefix("HTTP/1.1 400"), String(decoding: reply, as: UTF8.self))
        XCTAssertFalse(String(decoding: reply, as: UTF8.self).contains("408"), "one answer only")
        XCTAssertTrue(connection.closedByServer())
        connection.close()
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    func testTricklingAndSilentClientsAreClosedInSeconds() throws {
        let server = try ServerProcess(repository: repository, arguments: ["--header-timeout", "1", "--min-transfer-rate", "1000"])
        // An HTTP head trickled a byte every 100 ms never completes: 408 after ~1 s.
        let started = Date()
        let trickle = try RawConnection(port: server.httpPort)
        let head = Array("GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: \(String(repeating: "a", count: 200))\r\n\r\n".utf8)
        let writer = Trickle(trickle, head, every: 100_000)
        let reply = try HTTPTestClient.parse(trickle.readUntilClosed())
        writer.waitUntilStopped()
        XCTAssertEqual(reply.status, 408)
        XCTAssertTrue(reply.errorMessage.contains("request head not received within 1 s"), reply.text)
        XCTAssertLessThan(Date().timeIntervalSince(started), 4)

        // A binary frame whose body trickles: an error frame naming the rate.
        let slowBody = try RawConnection(port: server.port)
        var predict = Nnserve_Request()
        predict.predict.model = "mlp"
        var input = Nnserve_InputTensor()
        input.name = "x"
        input.shape = [200, 5]
        input.data = GraphFixtures.randomBatch(rows: 200, width: 5).scalars
        predict.predict.inputs = [input]
        let frame = try WireProtocol.frame(predict)
        slowBody.send(WireProtocol.preface + frame.prefix(100))
        let bodyWriter = Trickle(slowBody, Array(frame.dropFirst(100).prefix(60)), every: 50_000)
        let answer = slowBody.readUntilClosed()
        bodyWriter.waitUntilStopped()
        guard case .frame(let start, let length) = WireProtocol.scanFrame(answer) else {
            return XCTFail("no error frame for a trickled frame: \(answer.count) bytes")
        }
        let response = try Nnserve_Response(serializedBytes: Array(answer[start..<(start + length)]))
        XCTAssertEqual(response.error.code, .deadlineExceeded)
        XCTAssertTrue(response.error.message.contains("under the minimum of 1000 bytes/s"), response.error.message)

        // A connection that never sends its first request is closed after the header timeout.
        let silent = try RawConnection(port: server.port)
        let silentStart = Date()
        _ = silent.readUntilClosed()
        XCTAssertLessThan(Date().timeIntervalSince(silentStart), 3)

        // Between requests only the idle timeout applies: a keep-alive client may pause.
        let client = NNClient(port: server.port)
        _ = try awaitResult { try await client.health() }
        usleep(1_500_000)
        XCTAssertTrue(try awaitResult { try await client.health() }.live)
        awaitResult { await client.close() }

        let metrics = try HTTPTestClient.send(port: server.httpPort, "GET", "/metrics").text
        XCTAssertTrue(metrics.contains(#"nnserve_slow_clients_closed_total{protocol="http"} 1"#), metrics)
        XCTAssertTrue(metrics.contains(#"nnserve_slow_clients_closed_total{protocol="binary"} 2"#), metrics)
        XCTAssertEqual(server.stop(), 0, server.log)
    }
}

/// Sends bytes one at a time on its own thread until they are all sent or the server closes
/// the connection; the test waits for it, so no thread of this test outlives it (later tests
/// count the process's allocations).
private final class Trickle: @unchecked Sendable {
    private let stopped = DispatchSemaphore(value: 0)

    init(_ connection: RawConnection, _ bytes: [UInt8], every microseconds: UInt32) {
        Thread { [stopped] in
            for byte in bytes {
                // One byte from the stack: no allocation per send on this thread.
                let sent = withUnsafeBytes(of: byte) { Glibc.send(connection.descriptor, $0.baseAddress, 1, Int32(MSG_NOSIGNAL)) }
                guard sent == 1 else { break }
                usleep(microseconds)
            }
            stopped.signal()
        }.start()
    }

    func waitUntilStopped() { stopped.wait() }
}

/// Runs async client code from a synchronous test (the raw sockets above block).
private func awaitResult<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

private func awaitResult(_ body: @escaping @Sendable () async -> Void) {
    _ = try? awaitResult { () async throws -> Int in await body(); return 0 }
}

private final class ResultBox<T: Sendable>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
