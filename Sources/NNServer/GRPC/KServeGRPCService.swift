import Dispatch
import NIOCore
import NNInference
import NNFormat
import NNKServe
import NNWire
import SwiftProtobuf

/// The KServe v2 gRPC service (`inference.GRPCInferenceService`) with Triton's configuration,
/// statistics and repository extensions: the gRPC codec of the serving core, which answers
/// every question (`ServingCore`); inference goes through the core's one path into the batchers.
///
/// Each RPC is unary: `serve` decodes the request message, answers through `reply` (from the
/// batcher's thread for ModelInfer, without a task or a thread hop of its own), and
/// `GRPCStreamHandler` frames it.
struct KServeGRPCService: Sendable {
    typealias Reply = @Sendable (Result<ByteBuffer, GRPCStatus>) -> Void

    static let servicePath = "/inference.GRPCInferenceService/"

    let core: ServingCore
    var configuration: ServerConfiguration { core.configuration }

    init(store: ModelStore, configuration: ServerConfiguration) {
        core = ServingCore(store: store, configuration: configuration)
    }

    static let unaryMethods: Set<Substring> = ["ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer",
                                               "ModelConfig", "ModelStatistics", "RepositoryIndex", "RepositoryModelLoad", "RepositoryModelUnload"]

    static func shape(method: Substring) -> GRPCMethodShape {
        if unaryMethods.contains(method) { return .unary }
        if method == "ModelStreamInfer" { return .bidirectional }
        return .refused(GRPCStatus(.unimplemented, "method '\(method)' is not served by nnserve's inference.GRPCInferenceService"))
    }

    func serve(_ call: GRPCCall, burst: inout PredictionBurst, reply: @escaping Reply) {
        switch call.path.dropFirst(Self.servicePath.count) {
        case "ServerLive": unary(call, reply) { (_: Inference_ServerLiveRequest) in serverLive() }
        case "ServerReady": unary(call, reply) { (_: Inference_ServerReadyRequest) in serverReady() }
        case "ModelReady": unary(call, reply, modelReady)
        case "ServerMetadata": unary(call, reply) { (_: Inference_ServerMetadataRequest) in serverMetadata() }
        case "ModelMetadata":
            let request: Inference_ModelMetadataRequest? = try? Self.decode(call.message)
            afterLoading(request?.name, request?.version) { unary(call, reply, modelMetadata) }
        case "ModelInfer":
            do {
                let request: Inference_ModelInferRequest = try Self.decode(call.message)
                infer(request, deadlineMicros: call.timeoutMicros, cancellation: call.cancellation, burst: &burst) { reply($0.flatMap(Self.encode)) }
            } catch {
                reply(.failure(error))
            }
        case "ModelStreamInfer":
            streamedInfer(call, burst: &burst, reply: reply)
        case "ModelConfig":
            let request: Inference_ModelConfigRequest? = try? Self.decode(call.message)
            afterLoading(request?.name, request?.version) { unary(call, reply, modelConfig) }
        case "ModelStatistics": unary(call, reply, modelStatistics)
        case "RepositoryIndex": unary(call, reply, repositoryIndex)
        case "RepositoryModelLoad":
            offload(call, reply) { (request: Inference_RepositoryModelLoadRequest) throws(GRPCStatus) in try load(request, authorization: call.authorization) }
        case "RepositoryModelUnload":
            offload(call, reply) { (request: Inference_RepositoryModelUnloadRequest) throws(GRPCStatus) in try unload(request, authorization: call.authorization) }
        case let method:
            reply(.failure(GRPCStatus(.unimplemented, "method '\(method)' is not served by nnserve's inference.GRPCInferenceService")))
        }
    }

    // MARK: - Health and metadata

    func serverLive() -> Inference_ServerLiveResponse {
        var response = Inference_ServerLiveResponse()
        response.live = true
        return response
    }

    /// The core's answer (gRPC answers false rather than an error).
    func serverReady() -> Inference_ServerReadyResponse {
        var response = Inference_ServerReadyResponse()
        response.ready = core.serverReadiness().isReady
        return response
    }

    func modelReady(_ request: Inference_ModelReadyRequest) throws(GRPCStatus) -> Inference_ModelReadyResponse {
        var response = Inference_ModelReadyResponse()
        let version = try Self.rethrow { () throws(ServingError) in try Self.version(request.version) }
        response.ready = core.modelReadiness(request.name, version: version).isReady
        return response
    }

    func serverMetadata() -> Inference_ServerMetadataResponse {
        var response = Inference_ServerMetadataResponse()
        response.name = KServeEndpoints.serverName
        response.version = KServeEndpoints.serverVersion
        response.extensions = KServeEndpoints.extensions
        return response
    }

    func modelMetadata(_ request: Inference_ModelMetadataRequest) throws(GRPCStatus) -> Inference_ModelMetadataResponse {
        let (model, versions) = try Self.rethrow { () throws(ServingError) in try core.describe(request.name, version: try Self.version(request.version)) }
        var response = Inference_ModelMetadataResponse()
        response.name = model.name
        response.versions = versions.map(String.init)
        response.platform = TritonExtensions.platform
        func metadata(_ name: String, _ datatype: TensorDatatype, _ width: Int) -> Inference_ModelMetadataResponse.TensorMetadata {
            var tensor = Inference_ModelMetadataResponse.TensorMetadata()
            tensor.name = name
            tensor.datatype = datatype.rawValue
            tensor.shape = [-1, Int64(width)]
            return tensor
        }
        response.inputs = model.plan.requestInputs.map { metadata($0.name, $0.datatype, $0.width) }
        response.outputs = model.plan.outputs.map { metadata($0.name, .fp32, $0.width) }
        return response
    }

    // MARK: - Inference

    /// A gRPC deadline (`grpc-timeout`) and the request's `timeout` parameter become the
    /// request's timeout in the batcher (the tighter of the two), so a request past it is
    /// dropped before it computes.
    func infer(_ request: Inference_ModelInferRequest, deadlineMicros: Int64, cancellation: CallCancellation? = nil, burst: inout PredictionBurst,
               reply: @escaping @Sendable (Result<Inference_ModelInferResponse, GRPCStatus>) -> Void) {
        let version: Int64
        do {
            version = try Self.version(request.modelVersion)
        } catch {
            return reply(.failure(GRPCStatus(error)))
        }
        core.infer(model: request.modelName, version: version, from: .grpc, into: &burst) { () throws(ServingError) in
            try GRPCInferenceCodec.decode(request, deadlineMicros: deadlineMicros, cancellation: cancellation)
        } answer: { result in
            reply(result.map(GRPCInferenceCodec.response).mapError(GRPCStatus.init))
        }
    }

    /// One message of ModelStreamInfer: answered by a `ModelStreamInferResponse` that holds
    /// the response or the error (the stream goes on after an error, as Triton's does).
    private func streamedInfer(_ call: GRPCCall, burst: inout PredictionBurst, reply: @escaping Reply) {
        func answer(id: String) -> @Sendable (Result<Inference_ModelInferResponse, GRPCStatus>) -> Void {
            { result in
                var message = Inference_ModelStreamInferResponse()
                switch result {
                case .success(let response): message.inferResponse = response
                case .failure(let status):
                    message.errorMessage = status.message
                    // As Triton does, so a client that matches answers by id can match failures.
                    message.inferResponse.id = id
                }
                reply(Self.encode(message))
            }
        }
        do {
            let request: Inference_ModelInferRequest = try Self.decode(call.message)
            infer(request, deadlineMicros: call.timeoutMicros, cancellation: call.cancellation, burst: &burst, reply: answer(id: request.id))
        } catch {
            answer(id: "")(.failure(error))
        }
    }

    // MARK: - Triton extensions

    func modelConfig(_ request: Inference_ModelConfigRequest) throws(GRPCStatus) -> Inference_ModelConfigResponse {
        let (model, _) = try Self.rethrow { () throws(ServingError) in try core.describe(request.name, version: try Self.version(request.version)) }
        var response = Inference_ModelConfigResponse()
        response.config = TritonExtensions.config(of: model)
        return response
    }

    func modelStatistics(_ request: Inference_ModelStatisticsRequest) throws(GRPCStatus) -> Inference_ModelStatisticsResponse {
        let models = try Self.rethrow { () throws(ServingError) in
            try core.servedVersions(request.name.isEmpty ? nil : request.name, version: try Self.version(request.version))
        }
        var response = Inference_ModelStatisticsResponse()
        response.modelStats = models.map(TritonExtensions.statistics)
        return response
    }

    func repositoryIndex(_ request: Inference_RepositoryIndexRequest) -> Inference_RepositoryIndexResponse {
        var response = Inference_RepositoryIndexResponse()
        response.models = core.index(readyOnly: request.ready).map { entry in
            var model = Inference_RepositoryIndexResponse.ModelIndex()
            model.name = entry.name
            model.version = entry.version.map(String.init) ?? ""
            model.state = entry.state?.name ?? "UNAVAILABLE"
            model.reason = entry.reason
            return model
        }
        return response
    }

    /// Load and unload read files and drain batchers: `offload` runs them off the event loop.
    func load(_ request: Inference_RepositoryModelLoadRequest, authorization: String?) throws(GRPCStatus) -> Inference_RepositoryModelLoadResponse {
        try authorize(authorization)
        guard request.parameters.isEmpty else {
            throw GRPCStatus(.invalidArgument, "load of '\(request.modelName)': nnserve loads what is in the repository; parameters (\(request.parameters.keys.sorted().joined(separator: ", "))) are not supported")
        }
        try Self.rethrow { () throws(ServingError) in try core.load(request.modelName) }
        return Inference_RepositoryModelLoadResponse()
    }

    func unload(_ request: Inference_RepositoryModelUnloadRequest, authorization: String?) throws(GRPCStatus) -> Inference_RepositoryModelUnloadResponse {
        try authorize(authorization)
        try Self.rethrow { () throws(ServingError) in try core.unload(request.modelName) }
        return Inference_RepositoryModelUnloadResponse()
    }

    // MARK: - Helpers

    /// The HTTP front's rule for load and unload (`AdminAccess`): the bearer token when one is
    /// configured, else open on a loopback address only.
    private func authorize(_ authorization: String?) throws(GRPCStatus) {
        guard let refusal = configuration.admin.refusal(authorization: authorization) else { return }
        throw GRPCStatus(refusal.status == .unauthorized ? .unauthenticated : .permissionDenied, refusal.message)
    }

    /// Decode, answer, encode, on the calling (event loop) thread.
    private func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ call: GRPCCall, _ reply: Reply, _ body: (Request) throws(GRPCStatus) -> Response) {
        reply(Self.answer(call, body))
    }

    /// `answer` once the model a call names is in memory (`ServingCore.afterLoading`); at once
    /// for a call that does not decode or names a bad version (`answer` says so).
    private func afterLoading(_ name: String?, _ version: String?, _ answer: @escaping @Sendable () -> Void) {
        guard let name, let version = try? Self.version(version ?? "") else { return answer() }
        core.afterLoading(name, version: version, answer)
    }

    /// As `unary`, on a global queue: for work that blocks.
    private func offload<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ call: GRPCCall, _ reply: @escaping Reply, _ body: @escaping @Sendable (Request) throws(GRPCStatus) -> Response) {
        DispatchQueue.global().async { reply(Self.answer(call, body)) }
    }

    private static func answer<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ call: GRPCCall, _ body: (Request) throws(GRPCStatus) -> Response) -> Result<ByteBuffer, GRPCStatus> {
        do { return encode(try body(try decode(call.message))) } catch { return .failure(error) }
    }

    static func decode<Message: SwiftProtobuf.Message>(_ buffer: ByteBuffer) throws(GRPCStatus) -> Message {
        do {
            return try WireProtocol.decode(Message.self, from: buffer)
        } catch {
            throw GRPCStatus(.invalidArgument, "the request is not a \(Message.protoMessageName) message: \(error)")
        }
    }

    /// The response, framed for the stream.
    static func encode(_ message: some SwiftProtobuf.Message) -> Result<ByteBuffer, GRPCStatus> {
        do {
            return .success(try GRPCMessage.frame(message))
        } catch {
            return .failure(GRPCStatus(.internalError, "the response could not be encoded: \(error)"))
        }
    }

    /// "" is the server's choice (0); otherwise a positive integer.
    static func version(_ text: String) throws(ServingError) -> Int64 {
        if text.isEmpty { return 0 }
        guard let version = Int64(text), version > 0 else {
            throw ServingError(.invalidArgument, "model version '\(text)' is not a positive integer")
        }
        return version
    }

    static func rethrow<T>(_ body: () throws(ServingError) -> T) throws(GRPCStatus) -> T {
        do { return try body() } catch { throw GRPCStatus(error) }
    }
}
