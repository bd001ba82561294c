import Dispatch
import NNCore

/// Bounded load against a server: `concurrency` loops, each sending one request at a time
/// for `duration` seconds over a few shared connections; latencies of every request.
public struct LoadGenerator: Sendable {
    public struct Report: Codable, Sendable {
        public var requests: Int
        public var errors: Int
        public var seconds: Double
        public var requestsPerSecond: Double
        public var rowsPerSecond: Double
        public var p50Micros: Double
        public var p90Micros: Double
        public var p99Micros: Double
        public var p999Micros: Double

        enum CodingKeys: String, CodingKey {
            case requests, errors, seconds, requestsPerSecond = "requests_per_s", rowsPerSecond = "rows_per_s"
            case p50Micros = "p50_us", p90Micros = "p90_us", p99Micros = "p99_us", p999Micros = "p999_us"
        }
    }

    public var host: String
    public var port: Int
    public var model: String
    public var concurrency: Int
    public var duration: Double
    public var rowsPerRequest: Int
    /// Connections shared by the loops (pipelining carries the rest).
    public var connections: Int

    public init(host: String, port: Int, model: String, concurrency: Int, duration: Double, rowsPerRequest: Int, connections: Int) {
        self.host = host
        self.port = port
        self.model = model
        self.concurrency = concurrency
        self.duration = duration
        self.rowsPerRequest = rowsPerRequest
        self.connections = connections
    }

    public func run() async throws -> Report {
        let clients = (0..<max(1, min(connections, concurrency))).map { _ in NNClient(host: host, port: port) }
        let metadata = try await clients[0].metadata(model: model)
        var rng = CounterRNG(seed: 3)
        let inputs = Dictionary(uniqueKeysWithValues: metadata.inputs.map { input in
            (input.name, Tensor(shape: [rowsPerRequest, Int(input.width)],
                                values: (0..<rowsPerRequest * Int(input.width)).map { _ in rng.nextNormal() }))
        })
        for client in clients { try await client.connect() }
        let start = DispatchTime.now().uptimeNanoseconds
        let end = start + UInt64(duration * 1e9)
        let model = model
        let results = try await withThrowingTaskGroup(of: ([UInt64], Int).self) { group in
            for index in 0..<concurrency {
                let client = clients[index % clients.count]
                group.addTask {
                    var latencies: [UInt64] = []
                    var errors = 0
                    while DispatchTime.now().uptimeNanoseconds < end {
                        let sent = DispatchTime.now().uptimeNanoseconds
                        do {
                            _ = try await client.predict(model: model, inputs: inputs)
                            latencies.append(DispatchTime.now().uptimeNanoseconds - sent)
                        } catch {
                            errors += 1
                        }
                    }
                    return (latencies, errors)
                }
            }
            var all: [UInt64] = []
            var errors = 0
            for try await (latencies, failed) in group {
                all += latencies
                errors += failed
            }
            return (all.sorted(), errors)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        for client in clients { await client.close() }
        let latencies = results.0
        func percentile(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            return Double(latencies[min(latencies.count - 1, Int((Double(latencies.count) * p).rounded(.up)) - 1)]) / 1000
        }
        return Report(requests: latencies.count, errors: results.1, seconds: seconds,
                      requestsPerSecond: Double(latencies.count) / seconds,
                      rowsPerSecond: Double(latencies.count * rowsPerRequest) / seconds,
                      p50Micros: percentile(0.5), p90Micros: percentile(0.9), p99Micros: percentile(0.99), p999Micros: percentile(0.999))
    }
}
