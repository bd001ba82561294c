import Dispatch
import NIOCore
import NIOHTTP2
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
        var request = Nnserve_Request()
        request.predict.model = model
        request.predict.inputs = metadata.inputs.map { input in
            var tensor = Nnserve_InputTensor()
            tensor.name = input.name
            tensor.shape = [Int64(rowsPerRequest), input.width]
            tensor.data = (0..<rowsPerRequest * Int(input.width)).map { _ in rng.nextNormal() }
            return tensor
        }
        let template = request
        return try await drive { pipeline, depth, end, done in
            try pipeline.addHandlers([
                PrefaceWriter(),
                ByteToMessageHandler(FrameDecoder(maxFrameSize: .max, expectsPreface: false)),
                ResponseCodec(),
                LoadConnectionHandler(template: template, depth: depth, end: end, done: done),
            ])
        }
    }

    /// The same load over KServe v2 gRPC (`nnclient bench --protocol grpc`): ModelInfer calls
    /// with the rows as `raw_input_contents`, as tritonclient sends them, on HTTP/2
    /// connections driven frame by frame (`GRPCLoadConnectionHandler`).
    public func runGRPC() async throws -> Report {
        let model = model, rows = rowsPerRequest, authority = "\(host):\(port)"
        return try await drive { pipeline, depth, end, done in
            try pipeline.addHandlers([
                // Answers of up to 16 MiB per stream without a WINDOW_UPDATE (the handler reopens
                // only the connection's window).
                NIOHTTP2Handler(mode: .client, initialSettings: [HTTP2Setting(parameter: .maxConcurrentStreams, value: 0),
                                                                 HTTP2Setting(parameter: .initialWindowSize, value: 1 << 24)]),
                GRPCLoadConnectionHandler(model: model, rowsPerRequest: rows, depth: depth, end: end, authority: authority, done: done),
            ])
        }
    }

    /// Opens the connections (`concurrency` spread over them), lets each run its pipeline's
    /// closed loop until `duration` has passed, and merges what they measured. One event loop
    /// drives every connection: the client should cost the shared cores little.
    private func drive(_ pipeline: @escaping @Sendable (ChannelPipeline.SynchronousOperations, _ depth: Int, _ end: UInt64,
                                                        _ done: EventLoopPromise<LoadTally>) throws -> Void) async throws -> Report {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let connectionCount = max(1, min(connections, concurrency))
        let start = DispatchTime.now().uptimeNanoseconds
        let end = start + UInt64(duration * 1e9)
        var runs: [EventLoopFuture<LoadTally>] = []
        for index in 0..<connectionCount {
            // Spread the concurrency over the connections; the first ones take the remainder.
            let depth = concurrency / connectionCount + (index < concurrency % connectionCount ? 1 : 0)
            let done = group.next().makePromise(of: LoadTally.self)
            _ = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try pipeline(channel.pipeline.syncOperations, depth, end, done) }
                }
                .connect(host: host, port: port).get()
            runs.append(done.futureResult)
        }
        var all = LoadTally()
        for run in runs {
            let tally = try await run.get()
            all.latencies += tally.latencies
            all.errors += tally.errors
            all.failures.merge(tally.failures, uniquingKeysWith: +)
        }
        try? await group.shutdownGracefully()
        return Report(latencies: all.latencies, errors: all.errors, failures: all.failures, since: start, rowsPerRequest: rowsPerRequest)
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
