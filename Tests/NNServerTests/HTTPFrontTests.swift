import Foundation
import NNClient
import NNCore
import NNFormat
import NNTestSupport
import XCTest

/// The KServe v2 HTTP front of the real `nnserve` executable, checked against the binary
/// protocol (the same batchers answer both) and against the error cases of the issue.
final class HTTPFrontTests: FixtureRepositoryTestCase {
    private func inferJSON(_ batch: Tensor, datatype: String = "FP32", extra: String = "") -> String {
        let data = batch.scalars.map { datatype == "FP32" ? "\($0)" : "\(Int($0))" }.joined(separator: ",")
        return #"{"id":"req-7","inputs":[{"name":"features","shape":[\#(batch.shape[0]),8],"datatype":"\#(datatype)","data":[\#(data)]}]\#(extra)}"#
    }

    private func outputs(_ response: HTTPResponse) throws -> [String: [Float]] {
        let body = try XCTUnwrap(response.json() as? [String: Any], response.text)
        let outputs = try XCTUnwrap(body["outputs"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: outputs.map { output in
            (output["name"] as! String, (output["data"] as! [NSNumber]).map(\.floatValue))
        })
    }

    func testMetadataReadinessAndInferenceGiveWhatTheBinaryProtocolGives() async throws {
        let server = try ServerProcess(repository: repository)
        let batch = GraphFixtures.randomBatch(rows: 5, width: 8)
        let client = NNClient(port: server.port)
        let (_, binary) = try await client.predict(model: "wide", inputs: ["features": batch])
        await client.close()

        let response = try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/models/wide/infer", json: inferJSON(batch))
        XCTAssertEqual(response.status, 200, response.text)
        let body = try XCTUnwrap(response.json() as? [String: Any])
        XCTAssertEqual(body["id"] as? String, "req-7")
        XCTAssertEqual(body["model_name"] as? String, "wide")
        XCTAssertEqual(body["model_version"] as? String, "1")
        let http = try outputs(response)
        XCTAssertEqual(http["price"], binary["price"]?.scalars)
        XCTAssertEqual(http["class"], binary["class"]?.scalars)
        let shapes = (body["outputs"] as! [[String: Any]]).map { $0["shape"] as! [Int] }
        XCTAssertEqual(shapes, [[5, 1], [5, 3]])

        // The same rows nested in their shape, through a version path, one output asked for.
        let nested = batch.scalars.chunked(8).map { "[" + $0.map { "\($0)" }.joined(separator: ",") + "]" }.joined(separator: ",")
        let selected = try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/models/wide/versions/1/infer", json:
            #"{"inputs":[{"name":"features","shape":[5,8],"datatype":"FP32","data":[\#(nested)]}],"outputs":[{"name":"class"}]}"#)
        XCTAssertEqual(try outputs(selected), ["class": binary["class"]!.scalars])

        // Binary tensor data both ways: FP32 rows after the JSON header, outputs back as bytes.
        let header = Array(#"{"inputs":[{"name":"features","shape":[5,8],"datatype":"FP32","parameters":{"binary_data_size":160}}],"parameters":{"binary_data_output":true}}"#.utf8)
        let rows = batch.scalars.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        let raw = try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/models/wide/infer", body: header + rows,
                                          headers: ["Inference-Header-Content-Length": String(header.count)])
        XCTAssertEqual(raw.status, 200, raw.text)
        let jsonLength = try XCTUnwrap(raw.headers["inference-header-content-length"].flatMap { Int($0) })
        let floats = stride(from: jsonLength, to: raw.body.count, by: 4).map { offset in
            Float(bitPattern: UInt32(raw.body[offset]) | UInt32(raw.body[offset + 1]) << 8 | UInt32(raw.body[offset + 2]) << 16 | UInt32(raw.body[offset + 3]) << 24)
        }
        XCTAssertEqual(floats, binary["price"]!.scalars + binary["class"]!.scalars)

        // Integer inputs convert losslessly.
        let integers = Tensor(shape: [2, 8], values: (0..<16).map { Float($0 % 5) - 2 })
        let integerClient = NNClient(port: server.port)
        let (_, integerBinary) = try await integerClient.predict(model: "wide", inputs: ["features": integers])
        await integerClient.close()
        let integerHTTP = try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/models/wide/infer", json: inferJSON(integers, datatype: "INT32"))
        XCTAssertEqual(try outputs(integerHTTP)["price"], integerBinary["price"]?.scalars)

        let metadata = try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/models/wide")
        let model = try XCTUnwrap(metadata.json() as? [String: Any])
        XCTAssertEqual(model["name"] as? String, "wide")
        XCTAssertEqual(model["versions"] as? [String], ["1"])
        XCTAssertEqual((model["inputs"] as? [[String: Any]])?.first?["shape"] as? [Int], [-1, 8])
        XCTAssertEqual((model["outputs"] as? [[String: Any]])?.map { $0["name"] as! String }, ["price", "class"])
        let server2 = try XCTUnwrap(HTTPTestClient.send(port: server.httpPort, "GET", "/v2").json() as? [String: Any])
        XCTAssertEqual(server2["name"] as? String, "nnserve")
        XCTAssertTrue((server2["extensions"] as? [String] ?? []).contains("binary_tensor_data"))
        for path in ["/v2/health/live", "/v2/health/ready", "/v2/models/wide/ready", "/v2/models/wide/versions/1/ready"] {
            XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", path).status, 200, path)
        }
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/models/wide/versions/2/ready").status, 400)
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    func testBadRequestsGetAStatusAndAMessageNamingTheField() throws {
        let server = try ServerProcess(repository: repository, arguments: ["--max-body-size", "4096"])
        let row = "1,2,3,4,5,6,7,8"
        let cases: [(path: String, body: String, status: Int, says: String)] = [
            ("/v2/models/wide/infer", "{not json", 400, "not valid JSON"),
            ("/v2/models/wide/infer", #"{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[1,2,3]}]}"#, 400, "has 3 values; shape [1, 8] needs 8"),
            ("/v2/models/wide/infer", #"{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP8","data":[\#(row)]}]}"#, 400, "unknown datatype 'FP8'"),
            ("/v2/models/wide/infer", #"{"inputs":[{"name":"features","shape":[1,8],"datatype":"INT8","data":[1.5,2,3,4,5,6,7,8]}]}"#, 400, "element 0 is 1.5"),
            ("/v2/models/wide/infer", #"{"inputs":[{"name":"features","shape":[1,8],"datatype":"INT64","data":[99999999,2,3,4,5,6,7,8]}]}"#, 400, "2^24"),
            ("/v2/models/wide/infer", #"{"inputs":[{"name":"features","shape":[1,8],"datatype":"BYTES","data":["a","b","c","d","e","f","g","h"]}]}"#, 400, "BYTES"),
            ("/v2/models/wide/infer", #"{"inputs":[{"name":"features","datatype":"FP32","data":[\#(row)]}]}"#, 400, "'inputs[0].shape' is missing"),
            ("/v2/models/wide/infer", #"{"inputs":[{"name":"features","shape":[1,7],"datatype":"FP32","data":[1,2,3,4,5,6,7]}]}"#, 400, "has 7 features; model 'wide' v1 expects 8"),
            ("/v2/models/wide/infer", #"{"inputs":[{"name":"x","shape":[1,8],"datatype":"FP32","data":[\#(row)]}]}"#, 400, "unknown input 'x'"),
            ("/v2/models/wide/infer", #"{"inputs":[{"name":"features","shape":[0,8],"datatype":"FP32","data":[]}]}"#, 400, "the batch is empty"),
            ("/v2/models/wide/infer", #"{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[\#(row)]}],"outputs":[{"name":"nope"}]}"#, 400, "unknown output 'nope'"),
            ("/v2/models/wide/infer", #"{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[\#(row)]}],"parameters":{"timeout":"soon"}}"#, 400, "parameter timeout"),
            ("/v2/models/wide/infer", #"{"inputs":[{"name":"features","shape":[1,8],"datatype":"UINT64","data":[2e19,2,3,4,5,6,7,8]}]}"#, 400, "not a valid UINT64"),
            ("/v2/models/wide/infer", #"{"inputs":[{"name":"features","shape":[1,8],"datatype":"INT64","data":[9223372036854775807,2,3,4,5,6,7,8]}]}"#, 400, "not a valid INT64"),
            ("/v2/models/wide/infer", #"{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","parameters":{"binary_data_size":1e19}}]}"#, 400, "not a byte count"),
            ("/v2/models/nope/infer", #"{"inputs":[]}"#, 404, "unknown model 'nope'"),
            ("/v2/models/wide/versions/9/infer", #"{"inputs":[]}"#, 404, "has no version 9"),
            ("/v2/models/wide/versions/x/infer", #"{"inputs":[]}"#, 400, "version 'x'"),
            ("/v2/nothing", "", 404, "no endpoint at /v2/nothing"),
            ("/v2/models/wide/infer", "[" + String(repeating: "1,", count: 3000) + "1]", 400, "larger than the limit of 4096 bytes"),
        ]
        for (path, body, status, says) in cases {
            let response = try HTTPTestClient.send(port: server.httpPort, "POST", path, json: body)
            XCTAssertEqual(response.status, status, "\(path) \(body.prefix(80)): \(response.text)")
            XCTAssertTrue(response.errorMessage.contains(says), "expected '\(says)' in \(response.text)")
        }
        let wrongMethod = try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/models/wide/infer")
        XCTAssertEqual(wrongMethod.status, 405)
        XCTAssertEqual(wrongMethod.headers["allow"], "POST")
        let tooShortHeader = try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/models/wide/infer", body: Array("{}".utf8),
                                                     headers: ["Inference-Header-Content-Length": "99"])
        XCTAssertEqual(tooShortHeader.status, 400)
        XCTAssertTrue(tooShortHeader.errorMessage.contains("Inference-Header-Content-Length"), tooShortHeader.text)
        // After all that, the server still answers.
        let good = try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/models/wide/infer",
                                           json: #"{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[\#(row)]}]}"#)
        XCTAssertEqual(good.status, 200, good.text)
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    func testExpectContinueIsAnsweredAndAnOversizedOneRefusedBeforeTheBody() throws {
        let server = try ServerProcess(repository: repository, arguments: ["--max-body-size", "4096"])
        let body = Array(#"{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[1,2,3,4,5,6,7,8]}]}"#.utf8)
        let connection = try RawConnection(port: server.httpPort)
        connection.send(Array("POST /v2/models/wide/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: \(body.count)\r\nExpect: 100-continue\r\n\r\n".utf8))
        var interim = [UInt8](repeating: 0, count: 256)
        let count = interim.withUnsafeMutableBytes { recv(connection.descriptor, $0.baseAddress, $0.count, 0) }
        XCTAssertTrue(String(decoding: interim[..<max(0, count)], as: UTF8.self).hasPrefix("HTTP/1.1 100 Continue"))
        connection.send(body)
        let answer = try HTTPTestClient.parse(connection.readUntilClosed())
        XCTAssertEqual(answer.status, 200, answer.text)
        connection.close()

        let refused = try RawConnection(port: server.httpPort)
        refused.send(Array("POST /v2/models/wide/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\nExpect: 100-continue\r\n\r\n".utf8))
        let refusal = try HTTPTestClient.parse(refused.readUntilClosed())
        XCTAssertEqual(refusal.status, 400)
        XCTAssertTrue(refusal.errorMessage.contains("limit of 4096 bytes"), refusal.text)
        refused.close()
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    /// Many connections at once: the event loop's burst decodes them off the loop and hands
    /// each to the batcher (`LoopBurst`); every one gets its own rows' answer, the binary
    /// protocol's, good and bad requests mixed.
    func testManyConnectionsAtOnceEachGetTheirOwnAnswer() async throws {
        let server = try ServerProcess(repository: repository)
        let batches = (0..<48).map { _ in GraphFixtures.randomBatch(rows: 1 + Int.random(in: 0..<3), width: 8) }
        let client = NNClient(port: server.port)
        var expected: [[Float]] = []
        for batch in batches { expected.append(try await client.predict(model: "wide", inputs: ["features": batch]).outputs["price"]!.scalars) }
        await client.close()
        // Every connection open first, then every request written at once: they reach the
        // event loop in the same turns, so most are decoded off the loop.
        let connections = try batches.map { _ in try RawConnection(port: server.httpPort) }
        for (index, batch) in batches.enumerated() {
            // Every fourth request names a wrong width: refused on its own, the rest unharmed.
            let width = index % 4 == 3 ? 7 : 8
            let data = batch.scalars.prefix(batch.shape[0] * width).map { "\($0)" }.joined(separator: ",")
            let body = #"{"inputs":[{"name":"features","shape":[\#(batch.shape[0]),\#(width)],"datatype":"FP32","data":[\#(data)]}],"outputs":[{"name":"price"}]}"#
            let head = "POST /v2/models/wide/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
            connections[index].send(Array((head + body).utf8))
        }
        var answers: [Int: (Int, String)] = [:]
        for (index, connection) in connections.enumerated() {
            let reply = try HTTPTestClient.parse(connection.readUntilClosed())
            connection.close()
            answers[index] = (reply.status, reply.text)
        }
        for (index, (status, text)) in answers.sorted(by: { $0.key < $1.key }) {
            if index % 4 == 3 {
                XCTAssertEqual(status, 400, text)
                continue
            }
            XCTAssertEqual(status, 200, text)
            let body = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            let data = ((body["outputs"] as? [[String: Any]])?.first?["data"] as? [NSNumber])?.map(\.floatValue)
            XCTAssertEqual(data, expected[index], "request \(index)")
        }
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    func testMetricsCountWhatWasServedAndEveryFamilyHasHelp() async throws {
        let server = try ServerProcess(repository: repository)
        let row = #"{"inputs":[{"name":"features","shape":[2,8],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,1,2,3,4,5,6,7,8]}]}"#
        for _ in 0..<3 {
            XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/models/wide/infer", json: row).status, 200)
        }
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/models/wide/infer", json: "{}").status, 400)
        let client = NNClient(port: server.port)
        _ = try await client.predict(model: "wide", inputs: ["features": GraphFixtures.randomBatch(rows: 4, width: 8)])
        await client.close()

        let scrape = try HTTPTestClient.send(port: server.httpPort, "GET", "/metrics")
        XCTAssertEqual(scrape.status, 200)
        XCTAssertTrue(scrape.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let samples = Self.samples(scrape.text)
        let labels = #"model="wide",version="1""#
        XCTAssertEqual(samples[#"nnserve_requests_total{\#(labels),protocol="http",outcome="ok"}"#], 3, scrape.text)
        XCTAssertEqual(samples[#"nnserve_requests_total{\#(labels),protocol="http",outcome="invalid_argument"}"#], 1)
        XCTAssertEqual(samples[#"nnserve_requests_total{\#(labels),protocol="binary",outcome="ok"}"#], 1)
        XCTAssertEqual(samples[#"nnserve_rows_total{\#(labels)}"#], 10)
        XCTAssertEqual(samples[#"nnserve_batch_size_rows_count{\#(labels)}"#], 4)
        XCTAssertEqual(samples[#"nnserve_request_duration_seconds_count{\#(labels),protocol="http"}"#], 4)
        XCTAssertEqual(samples[#"nnserve_model_versions_loaded{model="wide"}"#], 1)
        XCTAssertEqual(samples[#"nnserve_queue_depth_rows{\#(labels)}"#], 0)
        XCTAssertGreaterThan(samples["process_resident_memory_bytes"] ?? 0, 1_000_000)
        let types = scrape.text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        let helps = Set(scrape.text.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.map { $0.split(separator: " ")[2] })
        XCTAssertFalse(types.isEmpty)
        for family in types { XCTAssertTrue(helps.contains(family), "no HELP for \(family)") }
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    func testRepositoryIndexUnloadAndLoad() throws {
        let server = try ServerProcess(repository: repository)
        let index = try XCTUnwrap(HTTPTestClient.send(port: server.httpPort, "POST", "/v2/repository/index").json() as? [[String: Any]])
        XCTAssertEqual(index.map { $0["name"] as! String }, ["mlp", "wide"])
        XCTAssertEqual(index.map { $0["state"] as! String }, ["READY", "READY"])

        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/repository/models/wide/unload").status, 200)
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/models/wide/ready").status, 400)
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/models/wide").status, 404)
        let after = try XCTUnwrap(HTTPTestClient.send(port: server.httpPort, "POST", "/v2/repository/index", json: #"{"ready":false}"#).json() as? [[String: Any]])
        XCTAssertEqual(after.first { $0["name"] as? String == "wide" }?["reason"] as? String, "unloaded by request")
        let readyOnly = try XCTUnwrap(HTTPTestClient.send(port: server.httpPort, "POST", "/v2/repository/index", json: #"{"ready":true}"#).json() as? [[String: Any]])
        XCTAssertEqual(readyOnly.map { $0["name"] as! String }, ["mlp"])
        // Not ready while a model of the repository is unloaded: the server does not serve it all.
        let ready = try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/health/ready")
        XCTAssertEqual(ready.status, 400)
        XCTAssertTrue(ready.errorMessage.contains("models without a served version: wide"), ready.text)

        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/repository/models/wide/load").status, 200)
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/models/wide/ready").status, 200)
        XCTAssertEqual(try HTTPTestClient.send(port: server.httpPort, "GET", "/v2/health/ready").status, 200)
        let unknown = try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/repository/models/nope/load")
        XCTAssertEqual(unknown.status, 404)
        XCTAssertTrue(unknown.errorMessage.contains("'nope'"), unknown.text)
        XCTAssertFalse(unknown.text.contains(repository), "the repository's path is the server's business: \(unknown.text)")
        let withFiles = try HTTPTestClient.send(port: server.httpPort, "POST", "/v2/repository/models/wide/load", json: #"{"parameters":{"config":"{}"}}"#)
        XCTAssertEqual(withFiles.status, 400)
        XCTAssertEqual(server.stop(), 0, server.log)
    }

    /// "name{labels} value" lines of a Prometheus exposition, by series.
    static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }
}

extension Array {
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}

/// The README's curl lines, run as written against `nnserve models/` (its port swapped in).
final class ReadmeCurlExamplesTests: XCTestCase {
    func testEveryCurlExampleInTheReadmeAnswers200() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try XCTUnwrap(readme.components(separatedBy: "<!-- curl-examples:begin -->").dropFirst().first?
            .components(separatedBy: "<!-- curl-examples:end -->").first)
        let commands = section.split(separator: "\n").map(String.init).filter { $0.hasPrefix("curl ") }
        XCTAssertGreaterThanOrEqual(commands.count, 4)
        let server = try ServerProcess(repository: root.appendingPathComponent("models").path)
        for command in commands {
            let runnable = command.replacingOccurrences(of: "localhost:8000", with: "127.0.0.1:\(server.httpPort)")
                .replacingOccurrences(of: "curl -s ", with: "curl -s -w '\\n%{http_code}' ")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", runnable]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, command)
            XCTAssertEqual(text.split(separator: "\n").last, "200", "\(command)\n\(text)")
            if let model = command.firstMatch(of: #/v2/models/(\w+)/infer/#)?.1 {
                XCTAssertTrue(text.contains("\"model_name\":\"\(model)\"") && text.contains(#""id":"q1""#), text)
            }
        }
        XCTAssertEqual(server.stop(), 0, server.log)
    }
}
