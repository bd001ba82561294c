// libFuzzer target: the gRPC front without sockets, from the bytes a client sends (HTTP/2
// preface, frames, HPACK, gRPC messages): NIOHTTP2Handler, GRPCStreamHandler, the request
// message's decoding and the checks against a model. Invariant: every call is either
// accepted with exactly `rows × width` values per model input or answered with a status;
// nothing traps, whatever the frames say.
import NIOCore
import NIOEmbedded
import NIOHTTP2
import NNCore
import NNFormat
import NNInference
import NNKServe
@testable import NNServer

/// A 4-feature, 3-output model, compiled as the server compiles models (no self-test rows).
let model: LoadedModel = {
    let weights = Tensor(shape: [4, 3], values: (0..<12).map { Float($0) / 10 - 0.5 })
    let graph = Graph(inputs: [GraphInput(name: "x", width: 4)],
                      nodes: [Node(name: "d", operation: .dense(DenseParameters(weights: weights, bias: Tensor(zeros: [3]), activation: .relu)), inputs: ["x"])],
                      outputs: [GraphOutput(name: "y", node: "d")])
    var configuration = ServerConfiguration()
    configuration.queueBoundRows = 1024
    let settings = ModelSettings(config: nil, defaults: configuration)
    return LoadedModel(name: "m", version: 1, served: try! ServedModel(ModelFile(name: "m", graph: graph), maxRows: settings.maxBatchSize),
                       settings: settings, metrics: ServerMetrics().modelMetrics(name: "m", version: 1), driftWindowRows: 100)
}()
let limits = PredictLimits(ServerConfiguration())
/// Small bounds, so the seeds' hostile patterns (Fuzz/corpus/grpc/attack-*) reach them: a
/// few unsent answers end the connection, as a flood of WINDOW_UPDATEs does.
let connectionLimits: GRPCLimits = {
    var limits = GRPCLimits(maxMessageSize: 4096, windowSize: 1 << 16)
    limits.unreadAnswerLimit = 256
    return limits
}()

/// The method shapes the server gives: ModelStreamInfer's messages are each served as they
/// complete, a Watch is asked again, an unknown service refused at its HEADERS.
let shape: @Sendable (String) -> GRPCMethodShape = { path in
    if path.hasSuffix("/ModelStreamInfer") { return .bidirectional }
    if path.hasSuffix("/Watch") { return .watch }
    return path.hasPrefix("/inference.") ? .unary : .refused(GRPCStatus(.unimplemented, "unknown service"))
}

/// What the service does with a ModelInfer (or streamed) call up to the batcher; other paths are answered.
let serve: GRPCStreamHandler.Serve = { call, _, reply in
    guard call.path.hasSuffix("/ModelInfer") || call.path.hasSuffix("/ModelStreamInfer") else {
        return reply(.failure(GRPCStatus(.unimplemented, "not fuzzed")))
    }
    do {
        let request: Inference_ModelInferRequest = try KServeGRPCService.decode(call.message)
        let decoded = try GRPCInferenceCodec.decode(request, deadlineMicros: call.timeoutMicros, cancellation: nil)
        let prepared = try ServingCore.prepare(decoded.inputs, outputs: decoded.outputs.map(\.name), for: model, limits: limits)
        precondition(prepared.inputs.count == 1 && prepared.inputs[0].count == prepared.rows * 4,
                     "an accepted request does not hold rows × width values")
        precondition(prepared.rows > 0 && prepared.rows <= limits.maxRows)
        reply(KServeGRPCService.encode(Inference_ModelInferResponse()))
    } catch let status as GRPCStatus {
        reply(.failure(status))
    } catch let error as ServingError {
        reply(.failure(GRPCStatus(error)))
    } catch {
        reply(.failure(GRPCStatus(.internalError, "\(error)")))
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGRPC(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let channel = EmbeddedChannel()
    try! channel.pipeline.syncOperations.addHandlers([
        NIOHTTP2Handler(mode: .server, initialSettings: [HTTP2Setting(parameter: .maxConcurrentStreams, value: 16),
                                                         HTTP2Setting(parameter: .initialWindowSize, value: 1 << 16)]),
        GRPCStreamHandler(limits: connectionLimits, shape: shape, serve: serve),
    ])
    _ = try? channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    // A protocol error closes the connection as a server would; it is an answer, not a trap.
    _ = try? channel.writeInbound(ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size)))
    // Tasks the handler queued (a flush behind answers) run, as a real event loop runs them:
    // left queued, they would hold the channel after it is gone.
    channel.embeddedEventLoop.run()
    while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
    _ = try? channel.finish()
    channel.embeddedEventLoop.run()
    return 0
}
