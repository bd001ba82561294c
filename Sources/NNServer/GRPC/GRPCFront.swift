import NIOCore
import NIOHTTP2

extension InferenceServer {
    /// The stream and connection window a gRPC connection keeps open: requests up to this size
    /// arrive without waiting for a WINDOW_UPDATE round trip.
    static let grpcWindowSize = 1 << 20

    /// Binds the KServe v2 gRPC front (`--grpc-port`) on the server's event loops: HTTP/2
    /// (swift-nio-http2) and unary gRPC calls (`GRPCStreamHandler`) served by
    /// `KServeGRPCService`. The limits are the other fronts' (`GRPCLimits`): a request is at
    /// most one binary frame (`--max-frame-size`) and must arrive within `--header-timeout` or
    /// at `--min-transfer-rate`, a connection carries at most `maxInFlightPerConnection` calls
    /// at once, an idle connection gets a GOAWAY and is closed, a connection whose client does
    /// not read its answers is not read either. Returns the bound port.
    public func startGRPC(host: String, port: Int) throws -> Int {
        let service = KServeGRPCService(store: store, configuration: configuration)
        let configuration = configuration
        let settings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: configuration.maxInFlightPerConnection),
            HTTP2Setting(parameter: .initialWindowSize, value: Self.grpcWindowSize),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 16 * 1024),
        ]
        let limits = GRPCLimits(configuration, windowSize: Self.grpcWindowSize)
        let metrics = store.metrics
        return try listen(host: host, port: port, front: .grpc) { [self] pipeline, slot in
            // Until its HTTP/2 preface has arrived, the connection is held to the header timeout
            // from accept (a stalled TLS handshake included); then each stream to its own.
            let progress = MessageProgress()
            try pipeline.addHandlers([
                slowClientGuard(progress, .grpc),
                // Not read while the client leaves its answers unread: its calls then wait in
                // its TCP window, not in the server's memory.
                BackPressureHandler(),
                NIOHTTP2Handler(mode: .server, initialSettings: settings),
                GRPCStreamHandler(limits: limits, slot: slot, progress: progress,
                                  onAbuse: { metrics.abusiveClientClosed($0) }, onSlowCall: { metrics.slowClientClosed(.grpc) },
                                  serve: { service.serve($0, burst: &$1, reply: $2) }),
            ])
        }
    }
}
