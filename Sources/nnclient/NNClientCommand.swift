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
        static let configuration = CommandConfiguration(
            abstract: "Predictions for the rows of a CSV file (header row), one CSV per input, or JSON.",
            discussion: "A model with several inputs (a siamese pair model) takes each input's columns from one CSV by the input's feature names, or one file per input with --input NAME=FILE.")

        @OptionGroup var connection: Connection
        @Option(help: "Model name.") var model: String
        @Option(help: "Model version (default: newest).") var version = 0
        // --data and --rows-json, as nntrain names its inputs and as --json (print JSON) is meant
        // elsewhere; --csv and --json FILE still work, with a note (scripts use them).
        @Option(name: [.customLong("data"), .customLong("csv")],
                help: "CSV file: each input takes the columns named like its features, in the model's order (a single input that names none takes all columns). (--csv: the old spelling)")
        var csv: String?
        @Option(name: .customLong("input"), help: "NAME=FILE: the CSV of one input (repeat for each input).") var inputFiles: [String] = []
        @Option(name: [.customLong("rows-json"), .customLong("json")],
                help: "JSON file: an array of rows (arrays of numbers), or for several inputs an object of input name → rows. (--json FILE: the old spelling)")
        var json: String?
        @Option(help: "The CSV file's field delimiter: one character (';', '|') or tab.", transform: { text in
            guard let delimiter = CSVReader.delimiter(named: text) else { throw ValidationError("--delimiter \(text): give one character other than a quote or a line break, or tab") }
            return delimiter
        })
        var delimiter: UInt8 = CSVReader.comma

        func validate() throws {
            guard [csv != nil, !inputFiles.isEmpty, json != nil].filter({ $0 }).count == 1 else {
                throw ValidationError("give one of --data FILE (CSV), --input NAME=FILE (per input) or --rows-json FILE")
            }
            for (old, new) in [("--csv", "--data"), ("--json", "--rows-json")] where CommandLine.arguments.contains(where: { $0 == old || $0.hasPrefix(old + "=") }) {
                FileHandle.standardError.write(Data("note: \(old) is now \(new) (\(old) keeps working)\n".utf8))
            }
            for assignment in inputFiles where !assignment.contains("=") {
                throw ValidationError("--input \(assignment): expected NAME=FILE")
            }
        }

        func run() async throws {
            let client = try connection.client()
            let metadata = try await client.metadata(model: model, version: version)
            if !metadata.columns.isEmpty {
                // A model taking raw rows: the CSV's columns by name, strings and gaps as written.
                guard let csv else { throw ValidationError("model '\(model)' takes raw rows (columns \(metadata.columns.map(\.name).joined(separator: ", "))): give them with --data FILE") }
                let columns: [String: [String]], numeric: [String: Tensor]
                do {
                    columns = try PredictRows.rawColumns(fromCSV: csv, columns: metadata.columns, delimiter: delimiter)
                    numeric = metadata.inputs.isEmpty ? [:] : try PredictRows.fromCSV(csv, inputs: metadata.inputs, delimiter: delimiter)
                } catch {
                    throw ValidationError("\(error)")
                }
                let result = try await client.predict(model: model, version: version, rawColumns: columns, inputs: numeric)
                print(PredictionCSV.text(result.outputs, metadata: metadata, rows: columns.values.first?.count ?? 0), terminator: "")
                await client.close()
                return
            }
            let inputs: [String: Tensor]
            do {
                if let csv {
                    inputs = try PredictRows.fromCSV(csv, inputs: metadata.inputs, delimiter: delimiter)
                } else if let json {
                    inputs = try PredictRows.fromJSON(json, inputs: metadata.inputs)
                } else {
                    let pairs = inputFiles.map { $0.split(separator: "=", maxSplits: 1).map(String.init) }
                    inputs = try PredictRows.fromCSVs(Dictionary(pairs.map { ($0[0], $0[1]) }) { _, last in last }, inputs: metadata.inputs)
                }
            } catch {
                throw ValidationError("\(error)")
            }
            let rows = inputs.values.first?.shape[0] ?? 0
            let result = try await client.predict(model: model, version: version, inputs: inputs)
            print(PredictionCSV.text(result.outputs, metadata: metadata, rows: rows), terminator: "")
            await client.close()
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
