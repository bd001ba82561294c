import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NNCore
import NNFormat

/// Errors the client reports: the server's error responses and connection failures.
public enum ClientError: Error, CustomStringConvertible, Equatable {
    case server(code: Nnserve_ErrorCode, message: String)
    case connectionClosed
    case timedOut(seconds: Double)
    case unexpectedResponse(String)

    public var description: String {
        switch self {
        case .server(let code, let message): "\(code): \(message)"
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

    /// Opens the connection (again, after it closed) and sends the preface.
    public func connect() async throws {
        if state.box.withLockedValue({ $0.channel?.isActive ?? false }) { return }
        let state = state, tls = tls, host = host
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(tls.handler(host: host)) }
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(ResponseFrameDecoder()),
                        ResponseHandler(state: state),
                    ])
                }
            }
            .connect(host: host, port: port).get()
        var preface = channel.allocator.buffer(capacity: WireProtocol.preface.count)
        preface.writeBytes(WireProtocol.preface)
        try await channel.writeAndFlush(preface)
        state.box.withLockedValue { $0.channel = channel }
    }

    /// Sends one request (its id is assigned here) and waits for its response.
    public func send(_ request: Nnserve_Request, timeout: Double = 30) async throws -> Nnserve_Response {
        try await connect()
        var request = request
        let (channel, promise) = try state.box.withLockedValue { state -> ((any Channel), EventLoopPromise<Nnserve_Response>) in
            guard let channel = state.channel else { throw ClientError.connectionClosed }
            request.id = state.nextID
            state.nextID += 1
            let promise = channel.eventLoop.makePromise(of: Nnserve_Response.self)
            state.pending[request.id] = promise
            return (channel, promise)
        }
        let id = request.id
        let bytes = try WireProtocol.frame(request)
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        channel.writeAndFlush(buffer, promise: nil)
        let state = state
        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout * 1e9))) {
            if let pending = state.box.withLockedValue({ $0.pending.removeValue(forKey: id) }) {
                pending.fail(ClientError.timedOut(seconds: timeout))
            }
        }
        defer { timer.cancel() }
        return try await promise.futureResult.get()
    }

    /// Predictions for named [rows, width] inputs; all outputs unless `outputs` names some.
    public func predict(model: String, version: Int = 0, inputs: [String: Tensor], outputs: [String] = [],
                        timeoutMicros: Int = 0) async throws -> (version: Int, outputs: [String: Tensor]) {
        var request = Nnserve_Request()
        request.predict.model = model
        request.predict.version = Int64(version)
        request.predict.outputs = outputs
        request.predict.timeoutMicros = Int64(timeoutMicros)
        request.predict.inputs = inputs.keys.sorted().map { name in
            var tensor = Nnserve_InputTensor()
            tensor.name = name
            tensor.shape = inputs[name]!.shape.map(Int64.init)
            tensor.data = inputs[name]!.scalars
            return tensor
        }
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

/// Response frames (no preface in this direction).
final class ResponseFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard case .frame(let start, let length) = WireProtocol.scanFrame(buffer.readableBytesView, maxFrameSize: .max) else {
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: start)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: length)!))
        return .continue
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// The connection and the requests waiting for responses, shared by the client and its handler.
final class ConnectionState: Sendable {
    struct Fields {
        var channel: (any Channel)?
        var nextID: UInt64 = 1
        var pending: [UInt64: EventLoopPromise<Nnserve_Response>] = [:]
    }

    let box = NIOLockedValueBox(Fields())
}

/// Completes the pending request each response names; fails them all when the connection ends.
final class ResponseHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let state: ConnectionState

    init(state: ConnectionState) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard let response = try? Nnserve_Response(serializedBytes: Array(frame.readableBytesView)) else { return }
        if response.id == 0 {
            // A connection-level error (bad frame): every waiting request learns it.
            let pending = state.box.withLockedValue { fields -> [EventLoopPromise<Nnserve_Response>] in
                defer { fields.pending.removeAll() }
                return Array(fields.pending.values)
            }
            for promise in pending { promise.succeed(response) }
            return
        }
        state.box.withLockedValue { $0.pending.removeValue(forKey: response.id) }?.succeed(response)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let pending = state.box.withLockedValue { fields -> [EventLoopPromise<Nnserve_Response>] in
            defer {
                fields.pending.removeAll()
                fields.channel = nil
            }
            return Array(fields.pending.values)
        }
        for promise in pending { promise.fail(ClientError.connectionClosed) }
        context.fireChannelInactive()
    }

    /// A connection that failed (a TLS alert, a reset) cannot answer anything: close it, so the
    /// waiting requests fail now instead of at their timeouts.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
