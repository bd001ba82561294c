import NIOCore
import NIOHTTP2

extension InferenceServer {
    /// The stream and connection window a gRPC connection keeps open: requests up to this size
    /// arrive without waiting for a WINDOW_UPDATE round trip.
    static let grpcWindowSize = 1 << 20

    /// Binds the KServe v2 gRPC front (`--grpc-port`) on the server's event loops: HTTP/2
    /// (swift-nio-http2) and gRPC calls (`GRPCStreamHandler`) served by
    /// `GRPCServices`. The limits are the other fronts' (`GRPCLimits`): a request is at
    /// most one binary frame (`--max-frame-size`) and must arrive within `--header-timeout` or
    /// at `--min-transfer-rate`, a connection carries at most `maxInFlightPerConnection` calls
    /// at once, an idle connection gets a GOAWAY and is closed, a connection whose client does
    /// not read its answers is not read either. Returns the bound port.
    public func startGRPC(host: String, port: Int) throws -> Int {
        let services = GRPCServices(store: store, configuration: configuration)
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
                                  shape: services.shape, serve: { services.serve($0, burst: &$1, reply: $2) }),
            ])
        }
    }
}

/// Every gRPC service nnserve serves, by method path: KServe v2 / Triton inference
/// (`KServeGRPCService`) and gRPC health checking (`GRPCHealthService`), both over the serving
/// core. Any other path — server reflection included — is refused as its HEADERS arrive.
struct GRPCServices: Sendable {
    let inference: KServeGRPCService
    let health: GRPCHealthService

    init(store: ModelStore, configuration: ServerConfiguration) {
        inference = KServeGRPCService(store: store, configuration: configuration)
        health = GRPCHealthService(core: inference.core)
    }

    func shape(_ path: String) -> GRPCMethodShape {
        if path.hasPrefix(KServeGRPCService.servicePath) {
            return KServeGRPCService.shape(method: path.dropFirst(KServeGRPCService.servicePath.count))
        }
        if path.hasPrefix(GRPCHealthService.servicePath) {
            return GRPCHealthService.shape(method: path.dropFirst(GRPCHealthService.servicePath.count))
        }
        return .refused(GRPCStatus(.unimplemented, "unknown service in '\(path)'; nnserve serves inference.GRPCInferenceService and grpc.health.v1.Health (no server reflection)"))
    }

    /// Only called for paths `shape` accepted.
    func serve(_ call: GRPCCall, burst: inout PredictionBurst, reply: @escaping KServeGRPCService.Reply) {
        if call.path.hasPrefix(GRPCHealthService.servicePath) {
            health.serve(call, reply: reply)
        } else {
            inference.serve(call, burst: &burst, reply: reply)
        }
    }
}
