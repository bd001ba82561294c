import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NNCore
import NNFormat
import NNWire

/// Errors the client reports: the server's error responses and connection failures.
public enum ClientError: Error, CustomStringConvertible, Equatable {
    case server(code: Nnserve_ErrorCode, message: String)
    case connectionClosed
    case timedOut(seconds: Double)
    case unexpectedResponse(String)
    /// The address answered in another protocol: the HTTP or gRPC front, not the binary one.
    case wrongProtocol(String)
    case cannotConnect(host: String, port: Int, reason: String)

    public var description: String {
        switch self {
        case .server(let code, let message): "\(code): \(message)"
        case .wrongProtocol(let front): "the server answered in \(front), not nnserve's binary protocol: point the client at nnserve's --port (8500 by default)"
        case .cannotConnect(let host, let port, let reason): "cannot connect to \(host):\(port): \(reason)"
        case .connectionClosed: "the connection closed before the response arrived"
        case .timedOut(let seconds): "no response within \(seconds) s"
        case .unexpectedResponse(let detail): "unexpected response: \(detail)"
        }
    }
}

/// An async client for the binary protocol: one connection, many requests in flight
/// (pipelined, matched by id), per-request timeouts, and reconnect on demand.
public final class NNClient: Sendable {
    public let host: String
    public let port: Int
    private let tls: ClientTLS?
    private let group: MultiThreadedEventLoopGroup
    private let state = ConnectionState()

    public init(host: String = "127.0.0.1", port: Int, tls: ClientTLS? = nil) {
        self.host = host
        self.port = port
        self.tls = tls
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Opens the connection (again, after it closed); its first bytes are the preface.
    public func connect() async throws {
        if state.box.withLockedValue({ $0.channel?.isActive ?? false }) { return }
        let state = state, tls = tls, host = host
        state.box.withLockedValue { $0.lastFailure = nil }
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls { try channel.pipeline.syncOperations.addHandler(tls.handler(host: host)) }
                        // Responses are as large as the server makes them (it bounds them itself).
                        try channel.pipeline.syncOperations.addHandlers([
                            PrefaceWriter(),
                            ProtocolSniffer { failure in
                                state.box.withLockedValue {
                                    if $0.failures.count >= 16 { $0.failures.removeAll() }  // a client retrying the wrong port
                                    $0.failures[ObjectIdentifier(channel)] = failure
                                    $0.lastFailure = failure
                                }
                            },
                            ByteToMessageHandler(FrameDecoder(maxFrameSize: .max, expectsPreface: false)),
                            ResponseCodec(),
                            ResponseMatcher(),
                        ])
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            throw ClientError.cannotConnect(host: host, port: port, reason: Self.reason(error))
        }
        state.box.withLockedValue { $0.channel = channel }
        channel.closeFuture.whenComplete { _ in
            state.box.withLockedValue { if $0.channel === channel { $0.channel = nil } }
        }
    }

    /// What went wrong connecting, in words (NIO's text names errno and descriptors).
    static func reason(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("Connection refused") { return "connection refused (is nnserve running, with this --port?)" }
        if text.contains("timed out") || text.contains("Timed out") { return "timed out (a firewall, or the wrong host?)" }
        if text.contains("resolve") || text.contains("NXDOMAIN") || text.contains("not known") { return "the host name does not resolve" }
        if text.contains("unreachable") { return "the network is unreachable" }
        return text
    }

    /// Sends one request and waits for its response (the connection's matcher assigns the id).
    public func send(_ request: Nnserve_Request, timeout: Double = 30) async throws -> Nnserve_Response {
        try await connect()
        let state = state
        guard let channel = state.box.withLockedValue({ $0.channel }) else {
            throw state.box.withLockedValue { $0.lastFailure } ?? ClientError.connectionClosed
        }
        let response = channel.eventLoop.makePromise(of: Nnserve_Response.self)
        let outstanding = OutstandingRequest(request: request, response: response, timeout: .nanoseconds(Int64(timeout * 1e9)))
        // A write that never reaches the matcher (the channel closed meanwhile) is failed here;
        // once it has, the matcher answers for it.
        let identifier = ObjectIdentifier(channel)
        channel.writeAndFlush(outstanding).whenFailure { _ in response.fail(state.box.withLockedValue { $0.failures[identifier] } ?? ClientError.connectionClosed) }
        return try await response.futureResult.get()
    }

    /// Predictions for named [rows, width] inputs; all outputs unless `outputs` names some.
    public func predict(model: String, version: Int = 0, inputs: [String: Tensor], outputs: [String] = [],
                        timeoutMicros: Int = 0) async throws -> (version: Int, outputs: [String: Tensor]) {
        try await predict(model: model, version: version, tensors: inputs.keys.sorted().map { name in
            var tensor = Nnserve_InputTensor()
            tensor.name = name
            tensor.shape = inputs[name]!.shape.map(Int64.init)
            tensor.data = inputs[name]!.scalars
            return tensor
        }, outputs: outputs, timeoutMicros: timeoutMicros)
    }

    /// Raw rows for a model taking them: each column's fields as text, one per row ("" or a
    /// missing spelling for a gap), as a CSV wrote them; `inputs`, the numeric inputs of a
    /// model that has both.
    public func predict(model: String, version: Int = 0, rawColumns: [String: [String]], inputs: [String: Tensor] = [:],
                        outputs: [String] = [], timeoutMicros: Int = 0) async throws -> (version: Int, outputs: [String: Tensor]) {
        let text = rawColumns.keys.sorted().map { name in
            var tensor = Nnserve_InputTensor()
            tensor.name = name
            tensor.shape = [Int64(rawColumns[name]!.count), 1]
            tensor.text = rawColumns[name]!
            return tensor
        }
        let numbers = inputs.keys.sorted().map { name in
            var tensor = Nnserve_InputTensor()
            tensor.name = name
            tensor.shape = inputs[name]!.shape.map(Int64.init)
            tensor.data = inputs[name]!.scalars
            return tensor
        }
        return try await predict(model: model, version: version, tensors: text + numbers, outputs: outputs, timeoutMicros: timeoutMicros)
    }

    private func predict(model: String, version: Int, tensors: [Nnserve_InputTensor], outputs: [String],
                         timeoutMicros: Int) async throws -> (version: Int, outputs: [String: Tensor]) {
        var request = Nnserve_Request()
        request.predict.model = model
        request.predict.version = Int64(version)
        request.predict.outputs = outputs
        request.predict.timeoutMicros = Int64(timeoutMicros)
        request.predict.inputs = tensors
        let response = try await send(request)
        guard case .predict(let predicted)? = response.kind else { throw Self.failure(response) }
        var result: [String: Tensor] = [:]
        for output in predicted.outputs {
            result[output.name] = Tensor(shape: output.shape.map { Int($0) }, values: output.data)
        }
        return (Int(predicted.version), result)
    }

    public func metadata(model: String, version: Int = 0) async throws -> Nnserve_MetadataResponse {
        var request = Nnserve_Request()
        request.metadata.model = model
        request.metadata.version = Int64(version)
        let response = try await send(request)
        guard case .metadata(let metadata)? = response.kind else { throw Self.failure(response) }
        return metadata
    }

    public func listModels() async throws -> [Nnserve_ModelSummary] {
        var request = Nnserve_Request()
        request.listModels = Nnserve_ListModelsRequest()
        let response = try await send(request)
        guard case .listModels(let list)? = response.kind else { throw Self.failure(response) }
        return list.models
    }

    public func health() async throws -> Nnserve_HealthResponse {
        var request = Nnserve_Request()
        request.health = Nnserve_HealthRequest()
        let response = try await send(request)
        guard case .health(let health)? = response.kind else { throw Self.failure(response) }
        return health
    }

    public func close() async {
        let channel = state.box.withLockedValue { $0.channel }
        try? await channel?.close()
        try? await group.shutdownGracefully()
    }

    private static func failure(_ response: Nnserve_Response) -> ClientError {
        if case .error(let error)? = response.kind { return .server(code: error.code, message: error.message) }
        return .unexpectedResponse("\(response.kind.map { "\($0)" } ?? "empty")")
    }
}

/// The connection, shared by the client's calls; cleared when it closes.
final class ConnectionState: Sendable {
    struct Fields {
        var channel: (any Channel)?
        /// The newest connection's failure, for a request that finds no channel at all.
        var lastFailure: ClientError?
        /// Why a connection was closed by this side (the other end speaks another protocol), by
        /// channel: what a request that finds that channel closed is told, rather than "the
        /// connection closed" (a reconnect's new channel does not erase it).
        var failures: [ObjectIdentifier: ClientError] = [:]
    }

    let box = NIOLockedValueBox(Fields())
}
