import ArgumentParser
import Foundation
import NNClient
import NNCore

@main
struct NNClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nnclient",
        abstract: "Talk to an nnserve server over the binary protocol.",
        subcommands: [Predict.self, Models.self, Health.self, Bench.self]
    )
}

struct Connection: ParsableArguments {
    @Option(help: "Server address.") var host = "127.0.0.1"
    @Option(help: "Server port.") var port = 8500
    @Flag(help: "Speak TLS (trusting the system's CAs unless --tls-ca is given).") var tls = false
    @Option(help: "PEM CA bundle the server's certificate must chain to (implies --tls).") var tlsCa: String?
    @Option(help: "PEM client certificate chain, for servers that require one (implies --tls).") var tlsCert: String?
    @Option(help: "PEM private key of --tls-cert.") var tlsKey: String?

    func client() throws -> NNClient {
        guard tls || tlsCa != nil || tlsCert != nil else { return NNClient(host: host, port: port) }
        do {
            return NNClient(host: host, port: port, tls: try ClientTLS(trustRoots: tlsCa, certificateChain: tlsCert, privateKey: tlsKey))
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

extension NNClientCommand {
    struct Predict: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Predictions for rows of a CSV file (header row) or a JSON array of rows.")

        @OptionGroup var connection: Connection
        @Option(help: "Model name.") var model: String
        @Option(help: "Model version (default: newest).") var version = 0
        @Option(help: "CSV file: columns named like the model's features are used, in the model's order (all columns when it names none).") var csv: String?
        @Option(help: "JSON file holding an array of rows (arrays of numbers).") var json: String?

        func run() async throws {
            let client = try connection.client()
            let metadata = try await client.metadata(model: model, version: version)
            guard let input = metadata.inputs.first, metadata.inputs.count == 1 else {
                throw ValidationError("model '\(model)' has \(metadata.inputs.count) inputs; predict reads files for single-input models")
            }
            let rows = try readRows(featureNames: input.featureNames)
            let tensor = Tensor(shape: [rows.count, rows.first?.count ?? 0], values: rows.flatMap { $0 })
            let result = try await client.predict(model: model, version: version, inputs: [input.name: tensor])
            let names = metadata.outputs.map(\.name)
            print(names.flatMap { name in (0..<Int(metadata.outputs.first { $0.name == name }!.width)).map { "\(name)[\($0)]" } }.joined(separator: ","))
            for row in 0..<rows.count {
                print(names.flatMap { name -> [String] in
                    let output = result.outputs[name]!
                    return (0..<output.shape[1]).map { "\(output[row, $0])" }
                }.joined(separator: ","))
            }
            await client.close()
        }

        private func readRows(featureNames: [String]) throws -> [[Float]] {
            if let json {
                guard let data = FileManager.default.contents(atPath: json),
                      let rows = try JSONSerialization.jsonObject(with: data) as? [[Double]] else {
                    throw ValidationError("\(json) is not a JSON array of rows of numbers")
                }
                return rows.map { $0.map(Float.init) }
            }
            guard let csv, let text = try? String(contentsOfFile: csv, encoding: .utf8) else {
                throw ValidationError("give --csv FILE or --json FILE (readable)")
            }
            let lines = text.split(whereSeparator: \.isNewline).filter { !$0.isEmpty }
            guard let header = lines.first?.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) else {
                throw ValidationError("\(csv) is empty")
            }
            var columns = Array(header.indices)
            if !featureNames.isEmpty {
                columns = try featureNames.map { name in
                    guard let index = header.firstIndex(of: name) else { throw ValidationError("\(csv) has no column '\(name)'") }
                    return index
                }
            }
            return try lines.dropFirst().enumerated().map { offset, line in
                let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                return try columns.map { column in
                    guard column < fields.count, let value = Float(fields[column].trimmingCharacters(in: .whitespaces)) else {
                        throw ValidationError("\(csv):\(offset + 2): column '\(header[column])' is not a number")
                    }
                    return value
                }
            }
        }
    }

    struct Models: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Models and versions the server has loaded.")
        @OptionGroup var connection: Connection

        func run() async throws {
            let client = try connection.client()
            for model in try await client.listModels() {
                print("\(model.name)\tversions \(model.versions.map(String.init).joined(separator: ","))\t\(model.ready ? "ready" : "not ready")")
            }
            await client.close()
        }
    }

    struct Health: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Exit 0 when the server is live (and, with --ready, ready): for container health checks.")
        @OptionGroup var connection: Connection
        @Flag(help: "Also require readiness (every model of the repository served, not shutting down).") var ready = false

        func run() async throws {
            let client = try connection.client()
            let health = try await client.health()
            await client.close()
            print("live \(health.live), ready \(health.ready)")
            guard health.live, health.ready || !ready else { throw ExitCode.failure }
        }
    }

    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bounded load: requests/s, rows/s and latency percentiles.")
        @OptionGroup var connection: Connection
        @Option(help: "Model name.") var model: String
        @Option(help: "Requests in flight.") var concurrency = 1
        @Option(help: "Seconds of load.") var duration = 5.0
        @Option(help: "Rows per request.") var rowsPerRequest = 1
        @Option(help: "Connections carrying the requests.") var connections = 4
        @Option(help: "binary (the port of the binary protocol) or grpc (nnserve's --grpc-port: KServe v2 ModelInfer).") var `protocol` = "binary"
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            guard duration > 0, duration <= 600, concurrency > 0, concurrency <= 4096, rowsPerRequest >= 1, connections >= 1 else {
                throw ValidationError("--duration must be in (0, 600] s, --concurrency in 1...4096, --rows-per-request and --connections at least 1")
            }
            let report: LoadGenerator.Report
            switch `protocol` {
            case "binary":
                report = try await LoadGenerator(host: connection.host, port: connection.port, model: model, concurrency: concurrency,
                                                 duration: duration, rowsPerRequest: rowsPerRequest, connections: connections).run()
            case "grpc":
                report = try await LoadGenerator(host: connection.host, port: connection.port, model: model, concurrency: concurrency,
                                                 duration: duration, rowsPerRequest: rowsPerRequest, connections: connections).runGRPC()
            default:
                throw ValidationError("--protocol \(`protocol`): binary or grpc")
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(String(format: "%@ c=%d rows/request=%d: %.0f req/s, %.0f rows/s, p50 %.0f µs, p90 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, %d errors",
                             model, concurrency, rowsPerRequest, report.requestsPerSecond, report.rowsPerSecond, report.p50Micros,
                             report.p90Micros, report.p99Micros, report.p999Micros, report.errors))
                for (kind, count) in report.failures.sorted(by: { $0.value > $1.value }) { print("  \(count) × \(kind)") }
            }
        }
    }
}
