import Foundation
import NNClient
import NNCore
import NNFormat
import NNInference
import NNTestSupport
import XCTest

final class ServerEndToEndTests: FixtureRepositoryTestCase {
    private func expected(_ name: String, _ inputs: [String: Tensor]) throws -> [String: Tensor] {
        let model = try ModelFile.read(from: "\(repository)/\(name)/1/model.nnm")
        return try Executor(plan: Plan(graph: model.graph)).predict(inputs)
    }

    private func assertClose(_ actual: Tensor?, _ expected: Tensor?, file: StaticString = #filePath, line: UInt = #line) {
        guard let actual, let expected else { return XCTFail("missing tensor", file: file, line: line) }
        XCTAssertEqual(actual.shape, expected.shape, file: file, line: line)
        for (a, b) in zip(actual.scalars, expected.scalars) {
            XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b)), file: file, line: line)
        }
    }

    func testPredictionsMetadataListAndHealth() async throws {
        let server = try ServerProcess(repository: repository)
        let client = NNClient(port: server.port)
        let batch = GraphFixtures.randomBatch(rows: 7, width: 8)
        let (version, outputs) = try await client.predict(model: "wide", inputs: ["features": batch])
        XCTAssertEqual(version, 1)
        let wanted = try expected("wide", ["features": batch])
        assertClose(outputs["price"], wanted["price"])
        assertClose(outputs["class"], wanted["class"])

        let selected = try await client.predict(model: "wide", inputs: ["features": batch], outputs: ["class"])
        XCTAssertEqual(Array(selected.outputs.keys), ["class"])

        let metadata = try await client.metadata(model: "wide")
        XCTAssertEqual(metadata.inputs.map(\.name), ["features"])
        XCTAssertEqual(metadata.inputs[0].width, 8)
        XCTAssertEqual(metadata.inputs[0].featureNames.first, "f0")
        XCTAssertEqual(metadata.outputs.map(\.name), ["price", "class"])
        let models = try await client.listModels()
        XCTAssertEqual(models.map(\.name), ["mlp", "wide"])
        let health = try await client.health()
        XCTAssertTrue(health.live && health.ready)
        await client.close()
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    func testPipelinedRequestsFromSeveralConnectionsEachGetTheirOwnAnswer() async throws {
        let server = try ServerProcess(repository: repository)
        let rows = GraphFixtures.randomBatch(rows: 300, width: 5, seed: 17)
        let wanted = try expected("mlp", ["x": rows])["y"]!
        let clients = (0..<4).map { _ in NNClient(port: server.port) }
        try await withThrowingTaskGroup(of: (Int, Tensor).self) { group in
            for row in 0..<300 {
                let client = clients[row % clients.count]
                group.addTask {
                    let input = Tensor(shape: [1, 5], values: (0..<5).map { rows[row, $0] })
                    return (row, try await client.predict(model: "mlp", inputs: ["x": input]).outputs["y"]!)
                }
            }
            for try await (row, output) in group {
                for column in 0..<3 {
                    XCTAssertEqual(output[0, column], wanted[row, column], accuracy: 1e-5 * max(1, abs(wanted[row, column])), "row \(row)")
                }
            }
        }
        for client in clients { await client.close() }
        XCTAssertEqual(server.stop(), 0)
    }

    func testBadRequestsGetTheirErrorAndTheConnectionStaysUsable() async throws {
        let server = try ServerProcess(repository: repository)
        let client = NNClient(port: server.port)
        let good = GraphFixtures.randomBatch(rows: 2, width: 5)
        let cases: [(String, [String: Tensor], ClientError)] = [
            ("nope", ["x": good], .server(code: .notFound, message: "unknown model 'nope'; loaded models are 'mlp', 'wide'")),
            ("mlp", ["z": good], .server(code: .invalidArgument, message: "unknown input 'z'; model 'mlp' v1 takes 'x'")),
            ("mlp", ["x": GraphFixtures.randomBatch(rows: 2, width: 7)],
             .server(code: .invalidArgument, message: "input 'x' has 7 features; model 'mlp' v1 expects 5")),
            ("mlp", ["x": Tensor(shape: [1, 5], values: [1, 2, .nan, 4, 5])],
             .server(code: .invalidArgument, message: "input 'x' row 0 feature 2 is nan; values must be finite")),
            ("mlp", ["x": Tensor(zeros: [0, 5])], .server(code: .invalidArgument, message: "input 'x' has no rows: the batch is empty")),
        ]
        for (model, inputs, error) in cases {
            do {
                _ = try await client.predict(model: model, inputs: inputs)
                XCTFail("\(model) \(inputs.keys) succeeded")
            } catch let caught as ClientError {
                XCTAssertEqual(caught, error)
            }
            // The same connection still answers.
            let after = try await client.predict(model: "mlp", inputs: ["x": good])
            XCTAssertEqual(after.outputs["y"]?.shape, [2, 3])
        }
        do {
            _ = try await client.predict(model: "mlp", version: 9, inputs: ["x": good])
            XCTFail("version 9 answered")
        } catch let caught as ClientError {
            XCTAssertEqual(caught, .server(code: .notFound, message: "model 'mlp' has no version 9; loaded versions are 1"))
        }
        await client.close()
        XCTAssertEqual(server.stop(), 0)
    }

    /// Requests written in one burst (one read on the server): the batcher sees them together.
    private func pipelined(port: Int, _ requests: [Nnserve_Request]) throws -> [Nnserve_Response] {
        let connection = try RawConnection(port: port)
        defer { connection.close() }
        connection.send(WireProtocol.preface + requests.flatMap { try! WireProtocol.frame($0) })
        var received: [UInt8] = []
        var responses: [Nnserve_Response] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while responses.count < requests.count {
            let count = chunk.withUnsafeMutableBytes { recv(connection.descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            received += chunk[..<count]
            while case .frame(let start, let length) = WireProtocol.scanFrame(received) {
                responses.append(try Nnserve_Response(serializedBytes: Array(received[start..<(start + length)])))
                received.removeFirst(start + length)
            }
        }
        return responses
    }

    private func predictRequest(id: UInt64, timeoutMicros: Int64 = 0) -> Nnserve_Request {
        var request = Nnserve_Request()
        request.id = id
        request.predict.model = "mlp"
        request.predict.timeoutMicros = timeoutMicros
        var input = Nnserve_InputTensor()
        input.name = "x"
        input.shape = [1, 5]
        input.data = GraphFixtures.randomBatch(rows: 1, width: 5).scalars
        request.predict.inputs = [input]
        return request
    }

    func testOverloadIsRefusedAtOnceAndLateRequestsAreNotComputed() throws {
        let server = try ServerProcess(repository: repository, arguments: ["--queue-bound", "2", "--max-queue-delay-micros", "200000"])
        // 30 requests at once against a bound of 2 queued rows: the rest are refused at once.
        let responses = try pipelined(port: server.port, (1...30).map { predictRequest(id: $0) })
        XCTAssertEqual(Set(responses.map(\.id)), Set(1...30))
        let codes = responses.map { $0.kind.map { kind -> String in
            if case .error(let error) = kind { return "\(error.code)" }
            return "ok"
        } ?? "none" }
        XCTAssertTrue(codes.contains("resourceExhausted"), "\(codes)")
        XCTAssertTrue(codes.contains("ok"), "\(codes)")
        // A timeout too far away to be a deadline (Int64.max µs) is no deadline, not a crash.
        let patient = try pipelined(port: server.port, [predictRequest(id: 7, timeoutMicros: .max)])
        if case .predict? = patient.first?.kind {} else { XCTFail("\(patient)") }
        // Right behind another request, a 1 µs deadline waits for the 200 ms batch and expires.
        let late = try pipelined(port: server.port, [predictRequest(id: 1), predictRequest(id: 2, timeoutMicros: 1)])
        let byID = Dictionary(uniqueKeysWithValues: late.map { ($0.id, $0) })
        if case .predict? = byID[1]?.kind {} else { XCTFail("the leader failed: \(String(describing: byID[1]))") }
        guard case .error(let error)? = byID[2]?.kind else { return XCTFail("a 1 µs deadline was met") }
        XCTAssertEqual(error.code, .deadlineExceeded)
        XCTAssertEqual(server.stop(), 0)
    }

    func testConfigDefaultTimeoutAppliesToRequestsWithoutOne() throws {
        try "max_queue_delay_micros: 200000\ndefault_timeout_micros: 1000\n"
            .write(toFile: "\(repository)/mlp/config.pbtxt", atomically: true, encoding: .utf8)
        let server = try ServerProcess(repository: repository)
        // Two at once wait for the 200 ms batch: past the 1 ms default, unless a request brings its own.
        let responses = try pipelined(port: server.port, [predictRequest(id: 1), predictRequest(id: 2, timeoutMicros: 10_000_000)])
        let byID = Dictionary(uniqueKeysWithValues: responses.map { ($0.id, $0) })
        guard case .error(let error)? = byID[1]?.kind else { return XCTFail("the default timeout was not applied: \(responses)") }
        XCTAssertEqual(error.code, .deadlineExceeded)
        if case .predict? = byID[2]?.kind {} else { XCTFail("a request's own timeout should win: \(String(describing: byID[2]))") }
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    func testHTTPAndGarbageOnTheBinaryPortGetAnErrorFrameThenClose() throws {
        let server = try ServerProcess(repository: repository)
        for bytes in [Array("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n".utf8), [0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4]] {
            let connection = try RawConnection(port: server.port)
            connection.send(bytes)
            let reply = connection.readUntilClosed()
            connection.close()
            guard case .frame(let start, let length)? = Optional(WireProtocol.scanFrame(reply)) else { return XCTFail("no error frame: \(reply)") }
            let response = try Nnserve_Response(serializedBytes: Array(reply[start..<start + length]))
            XCTAssertEqual(response.error.code, .invalidArgument)
            XCTAssertTrue(response.error.message.contains("preface"), response.error.message)
        }
        // A frame cut off mid-way followed by a disconnect does not hurt the server.
        let partial = try RawConnection(port: server.port)
        partial.send(WireProtocol.preface + [0, 0, 1, 0, 1, 2])
        partial.close()
        let oversized = try RawConnection(port: server.port)
        oversized.send(WireProtocol.preface + [0x7F, 0xFF, 0xFF, 0xFF])
        let reply = oversized.readUntilClosed()
        oversized.close()
        XCTAssertFalse(reply.isEmpty, "an error frame before closing")
        // A client that disconnects with a request in flight.
        var request = Nnserve_Request()
        request.id = 5
        request.predict.model = "mlp"
        var input = Nnserve_InputTensor()
        input.name = "x"
        input.shape = [1, 5]
        input.data = [1, 2, 3, 4, 5]
        request.predict.inputs = [input]
        let vanishing = try RawConnection(port: server.port)
        vanishing.send(WireProtocol.preface + (try WireProtocol.frame(request)))
        vanishing.close()
        let healthy = try RawConnection(port: server.port)
        healthy.send(WireProtocol.preface + (try WireProtocol.frame(request)))
        usleep(300_000)
        XCTAssertTrue(server.process.isRunning, "the server survived")
        healthy.close()
        XCTAssertEqual(server.stop(), 0, server.log)
    }
}
