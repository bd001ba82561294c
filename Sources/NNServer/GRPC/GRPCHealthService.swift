import NNKServe

/// gRPC's standard health checking (`grpc.health.v1.Health`), what Kubernetes `grpc:` probes,
/// grpc-health-probe and load balancers ask, answered from the serving core: the service ""
/// (and `inference.GRPCInferenceService`) is the server's readiness, a model's name its own.
/// Check answers NOT_FOUND for a name that is neither; Watch answers SERVICE_UNKNOWN, and
/// sends the status again whenever it changes (the stream handler asks again at each
/// deadline check).
struct GRPCHealthService: Sendable {
    static let servicePath = "/grpc.health.v1.Health/"

    let core: ServingCore

    static func shape(method: Substring) -> GRPCMethodShape {
        switch method {
        case "Check": .unary
        case "Watch": .watch
        default: .refused(GRPCStatus(.unimplemented, "method '\(method)' is not served by grpc.health.v1.Health (Check and Watch are)"))
        }
    }

    func serve(_ call: GRPCCall, reply: KServeGRPCService.Reply) {
        let watching = call.path.hasSuffix("/Watch")
        do {
            let request: Grpc_Health_V1_HealthCheckRequest = try KServeGRPCService.decode(call.message)
            var response = Grpc_Health_V1_HealthCheckResponse()
            response.status = try status(of: request.service, watching: watching)
            reply(KServeGRPCService.encode(response))
        } catch {
            reply(.failure(error))
        }
    }

    func status(of service: String, watching: Bool) throws(GRPCStatus) -> Grpc_Health_V1_HealthCheckResponse.ServingStatus {
        if service.isEmpty || service == "inference.GRPCInferenceService" {
            return core.serverReadiness().isReady ? .serving : .notServing
        }
        if core.modelReadiness(service, version: 0).isReady { return .serving }
        if core.index().contains(where: { $0.name == service }) { return .notServing }
        if watching { return .serviceUnknown }
        throw GRPCStatus(.notFound, "unknown service '\(service)': ask for \"\" (the server) or a model of the repository")
    }
}
