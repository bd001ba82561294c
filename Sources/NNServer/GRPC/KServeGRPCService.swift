import Dispatch
import GRPCCore
import NNInference
import NNKServe

/// The KServe v2 gRPC service (`inference.GRPCInferenceService`) with Triton's configuration,
/// statistics and repository extensions, over the shared model store. Inference joins the
/// same batchers as the other fronts, through `GRPCInferenceCall`'s `RowBlock`.
struct KServeGRPCService: Inference_GRPCInferenceService.SimpleServiceProtocol {
    let store: ModelStore
    let configuration: ServerConfiguration

    // MARK: - Health and metadata

    func serverLive(request: Inference_ServerLiveRequest, context: ServerContext) async throws -> Inference_ServerLiveResponse {
        var response = Inference_ServerLiveResponse()
        response.live = true
        return response
    }

    /// As the HTTP front decides it: every model of the repository serves a version, and the
    /// server is not shutting down (gRPC answers false rather than an error).
    func serverReady(request: Inference_ServerReadyRequest, context: ServerContext) async throws -> Inference_ServerReadyResponse {
        var response = Inference_ServerReadyResponse()
        response.ready = store.notReadyReason == nil
        return response
    }

    func modelReady(request: Inference_ModelReadyRequest, context: ServerContext) async throws -> Inference_ModelReadyResponse {
        var response = Inference_ModelReadyResponse()
        let version = try Self.rethrow { () throws(ServingError) in try Self.version(request.version) }
        response.ready = (try? store.model(request.name, version: version)) != nil
        return response
    }

    func serverMetadata(request: Inference_ServerMetadataRequest, context: ServerContext) async throws -> Inference_ServerMetadataResponse {
        var response = Inference_ServerMetadataResponse()
        response.name = KServeEndpoints.serverName
        response.version = KServeEndpoints.serverVersion
        response.extensions = KServeEndpoints.extensions
        return response
    }

    func modelMetadata(request: Inference_ModelMetadataRequest, context: ServerContext) async throws -> Inference_ModelMetadataResponse {
        let (model, versions) = try Self.rethrow { () throws(ServingError) in try store.model(request.name, version: try Self.version(request.version)) }
        var response = Inference_ModelMetadataResponse()
        response.name = model.name
        response.versions = versions.map(String.init)
        response.platform = TritonExtensions.platform
        func metadata(_ binding: Plan.Binding) -> Inference_ModelMetadataResponse.TensorMetadata {
            var tensor = Inference_ModelMetadataResponse.TensorMetadata()
            tensor.name = binding.name
            tensor.datatype = TensorDatatype.fp32.rawValue
            tensor.shape = [-1, Int64(binding.width)]
            return tensor
        }
        response.inputs = model.plan.inputs.map(metadata)
        response.outputs = model.plan.outputs.map(metadata)
        return response
    }

    // MARK: - Inference

    func modelInfer(request: Inference_ModelInferRequest, context: ServerContext) async throws -> Inference_ModelInferResponse {
        try await infer(request, deadlineMicros: 0)
    }

    /// The full form, for the request's metadata: a gRPC deadline (`grpc-timeout`) becomes the
    /// request's timeout in the batcher, so a request past it is dropped before it computes.
    func modelInfer(request: ServerRequest<Inference_ModelInferRequest>, context: ServerContext) async throws -> ServerResponse<Inference_ModelInferResponse> {
        let timeout = request.metadata[stringValues: "grpc-timeout"].first { _ in true }.flatMap(Self.microseconds) ?? 0
        return ServerResponse(message: try await infer(request.message, deadlineMicros: timeout), metadata: [:])
    }

    private func infer(_ request: Inference_ModelInferRequest, deadlineMicros: Int64) async throws -> Inference_ModelInferResponse {
        let arrived = DispatchTime.now().uptimeNanoseconds
        let model = try Self.rethrow { () throws(ServingError) in try store.route(request.modelName, version: try Self.version(request.modelVersion), from: .grpc) }
        let call: GRPCInferenceCall
        do {
            call = try GRPCInferenceCall(request, model: model, limits: PredictLimits(configuration))
        } catch {
            model.metrics.requestFinished(.grpc, RequestOutcome(error.code), nanoseconds: DispatchTime.now().uptimeNanoseconds - arrived)
            throw RPCError(error)
        }
        // The tighter of the client's deadline and its timeout parameter.
        let requested: Int64 = [deadlineMicros, call.timeoutMicros].filter { $0 > 0 }.min() ?? 0
        let requestLog = store.requestLog
        let result = await withCheckedContinuation { continuation in
            model.predict(call.prepared, deadline: model.deadline(requestedMicros: requested)) { result in
                if case .success(let values) = result { requestLog?.record(model: model, prepared: call.prepared, values: values) }
                let answer = result.map { GRPCInferenceCall.response(model: model, prepared: call.prepared, id: call.id, values: $0, raw: call.rawOutputs) }
                model.metrics.requestFinished(.grpc, result.outcome, nanoseconds: DispatchTime.now().uptimeNanoseconds - arrived)
                continuation.resume(returning: answer)
            }
        }
        switch result {
        case .success(let response): return response
        case .failure(let error): throw RPCError(error)
        }
    }

    // MARK: - Triton extensions

    func modelConfig(request: Inference_ModelConfigRequest, context: ServerContext) async throws -> Inference_ModelConfigResponse {
        let (model, _) = try Self.rethrow { () throws(ServingError) in try store.model(request.name, version: try Self.version(request.version)) }
        var response = Inference_ModelConfigResponse()
        response.config = TritonExtensions.config(of: model)
        return response
    }

    func modelStatistics(request: Inference_ModelStatisticsRequest, context: ServerContext) async throws -> Inference_ModelStatisticsResponse {
        let models = try Self.rethrow { () throws(ServingError) in
            try store.servedVersions(request.name.isEmpty ? nil : request.name, version: try Self.version(request.version))
        }
        var response = Inference_ModelStatisticsResponse()
        response.modelStats = models.map(TritonExtensions.statistics)
        return response
    }

    func repositoryIndex(request: Inference_RepositoryIndexRequest, context: ServerContext) async throws -> Inference_RepositoryIndexResponse {
        var response = Inference_RepositoryIndexResponse()
        response.models = store.index().filter { !request.ready || $0.ready }.map { entry in
            var model = Inference_RepositoryIndexResponse.ModelIndex()
            model.name = entry.name
            model.version = entry.version.map(String.init) ?? ""
            model.state = entry.state?.name ?? "UNAVAILABLE"
            model.reason = entry.reason
            return model
        }
        return response
    }

    func repositoryModelLoad(request: Inference_RepositoryModelLoadRequest, context: ServerContext) async throws -> Inference_RepositoryModelLoadResponse {
        try await load(request, authorization: nil)
    }

    func repositoryModelUnload(request: Inference_RepositoryModelUnloadRequest, context: ServerContext) async throws -> Inference_RepositoryModelUnloadResponse {
        try await unload(request, authorization: nil)
    }

    /// The full forms, for the `authorization` metadata the admin token travels in.
    func repositoryModelLoad(request: ServerRequest<Inference_RepositoryModelLoadRequest>, context: ServerContext) async throws
        -> ServerResponse<Inference_RepositoryModelLoadResponse> {
        ServerResponse(message: try await load(request.message, authorization: Self.authorization(request.metadata)), metadata: [:])
    }

    func repositoryModelUnload(request: ServerRequest<Inference_RepositoryModelUnloadRequest>, context: ServerContext) async throws
        -> ServerResponse<Inference_RepositoryModelUnloadResponse> {
        ServerResponse(message: try await unload(request.message, authorization: Self.authorization(request.metadata)), metadata: [:])
    }

    private func load(_ request: Inference_RepositoryModelLoadRequest, authorization: String?) async throws -> Inference_RepositoryModelLoadResponse {
        try authorize(authorization)
        guard request.parameters.isEmpty else {
            throw RPCError(code: .invalidArgument, message: "load of '\(request.modelName)': nnserve loads what is in the repository; parameters (\(request.parameters.keys.sorted().joined(separator: ", "))) are not supported")
        }
        try await offload { () throws(ServingError) in try store.loadModel(request.modelName) }
        return Inference_RepositoryModelLoadResponse()
    }

    private func unload(_ request: Inference_RepositoryModelUnloadRequest, authorization: String?) async throws -> Inference_RepositoryModelUnloadResponse {
        try authorize(authorization)
        try await offload { () throws(ServingError) in try store.unloadModel(request.modelName) }
        return Inference_RepositoryModelUnloadResponse()
    }

    // MARK: - Helpers

    private static func authorization(_ metadata: Metadata) -> String? {
        metadata[stringValues: "authorization"].first { _ in true }
    }

    /// The HTTP front's rule for load and unload (`AdminAccess`): the bearer token when one is
    /// configured, else open on a loopback address only.
    private func authorize(_ authorization: String?) throws {
        guard let refusal = configuration.admin.refusal(authorization: authorization) else { return }
        throw RPCError(code: refusal.status == .unauthorized ? .unauthenticated : .permissionDenied, message: refusal.message)
    }

    /// Repository work reads files and drains batchers: off the cooperative pool.
    private func offload(_ work: @escaping @Sendable () throws(ServingError) -> Void) async throws {
        let outcome: Result<Void, ServingError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Result { () throws(ServingError) in try work() })
            }
        }
        if case .failure(let error) = outcome { throw RPCError(error) }
    }

    /// "" is the server's choice (0); otherwise a positive integer.
    static func version(_ text: String) throws(ServingError) -> Int64 {
        if text.isEmpty { return 0 }
        guard let version = Int64(text), version > 0 else {
            throw ServingError(.invalidArgument, "model version '\(text)' is not a positive integer")
        }
        return version
    }

    static func rethrow<T>(_ body: () throws(ServingError) -> T) throws -> T {
        do { return try body() } catch { throw RPCError(error) }
    }

    /// gRPC's timeout header ("100m", "5S", …) in microseconds.
    static func microseconds(_ header: String) -> Int64? {
        guard let unit = header.last, let amount = Int64(header.dropLast()), amount >= 0 else { return nil }
        let perUnit: Double = switch unit {
        case "H": 3.6e9
        case "M": 6e7
        case "S": 1e6
        case "m": 1e3
        case "u": 1
        case "n": 1e-3
        default: -1
        }
        guard perUnit > 0 else { return nil }
        return Int64(min(Double(amount) * perUnit, 9e15).rounded(.up))
    }
}

extension RPCError {
    /// A serving error as its gRPC status: the same codes as the binary protocol's.
    init(_ error: ServingError) {
        let code: RPCError.Code = switch error.code {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .resourceExhausted: .resourceExhausted
        case .deadlineExceeded: .deadlineExceeded
        case .unavailable: .unavailable
        case .internal, .unspecified, .UNRECOGNIZED: .internalError
        }
        self.init(code: code, message: error.message)
    }
}
