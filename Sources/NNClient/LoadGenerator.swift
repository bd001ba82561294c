import Dispatch
import NIOCore
import NIOPosix
import NNCore
import NNFormat
import NNWire

/// Bounded load against a server: `concurrency` requests kept in flight for `duration`
/// seconds over a few connections (closed loop: each response sends the next request);
/// latencies of every request, percentiles exact (sorted, not bucketed).
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
        /// The errors by kind: the server's code and message, or what the connection did.
        public var failures: [String: Int]

        enum CodingKeys: String, CodingKey {
            case requests, errors, seconds, requestsPerSecond = "requests_per_s", rowsPerSecond = "rows_per_s"
            case p50Micros = "p50_us", p90Micros = "p90_us", p99Micros = "p99_us", p999Micros = "p999_us", failures
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
        let probe = NNClient(host: host, port: port)
        let metadata = try await probe.metadata(model: model)
        await probe.close()
        var rng = CounterRNG(seed: 3)
        var template = Nnserve_Request()
        template.predict.model = model
        template.predict.inputs = metadata.inputs.map { input in
            var tensor = Nnserve_InputTensor()
            tensor.name = input.name
            tensor.shape = [Int64(rowsPerRequest), input.width]
            tensor.data = (0..<rowsPerRequest * Int(input.width)).map { _ in rng.nextNormal() }
            return tensor
        }
        // One event loop drives every connection: the client should cost the shared cores little.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let connectionCount = max(1, min(connections, concurrency))
        let start = DispatchTime.now().uptimeNanoseconds
        let end = start + UInt64(duration * 1e9)
        var runs: [EventLoopFuture<LoadConnectionHandler.Result>] = []
        for index in 0..<connectionCount {
            // Spread the concurrency over the connections; the first ones take the remainder.
            let depth = concurrency / connectionCount + (index < concurrency % connectionCount ? 1 : 0)
            let done = group.next().makePromise(of: LoadConnectionHandler.Result.self)
            let template = template
            _ = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers([
                            PrefaceWriter(),
                            ByteToMessageHandler(FrameDecoder(maxFrameSize: .max, expectsPreface: false)),
                            ResponseCodec(),
                            LoadConnectionHandler(template: template, depth: depth, end: end, done: done),
                        ])
                    }
                }
                .connect(host: host, port: port).get()
            runs.append(done.futureResult)
        }
        var all: [UInt64] = []
        var errors = 0
        var failures: [String: Int] = [:]
        for run in runs {
            let result = try await run.get()
            all += result.latencies
            errors += result.errors
            failures.merge(result.failures, uniquingKeysWith: +)
        }
        try? await group.shutdownGracefully()
        return Report(latencies: all, errors: errors, failures: failures, since: start, rowsPerRequest: rowsPerRequest)
    }
}

extension LoadGenerator.Report {
    /// The report of a run that started at uptime `start`: rates and latency percentiles of the
    /// answered requests (`latencies` in nanoseconds, any order). Both protocols' generators end here.
    init(latencies unsorted: [UInt64], errors: Int, failures: [String: Int], since start: UInt64, rowsPerRequest: Int) {
        let latencies = unsorted.sorted()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        func percentile(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            return Double(latencies[min(latencies.count - 1, Int((Double(latencies.count) * p).rounded(.up)) - 1)]) / 1000
        }
        self.init(requests: latencies.count, errors: errors, seconds: seconds,
                  requestsPerSecond: Double(latencies.count) / seconds,
                  rowsPerSecond: Double(latencies.count * rowsPerRequest) / seconds,
                  p50Micros: percentile(0.5), p90Micros: percentile(0.9), p99Micros: percentile(0.99), p999Micros: percentile(0.999), failures: failures)
    }
}
