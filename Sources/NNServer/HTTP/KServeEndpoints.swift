import Dispatch
import NIOCore
import NIOHTTP1

/// Answers the HTTP front's endpoints over the shared model store. Inference requests join
/// the same batchers as binary-protocol requests.
struct KServeEndpoints: Sendable {
    static let serverName = "nnserve"
    static let serverVersion = "0.1.0"
    static let extensions = ["binary_tensor_data", "model_repository", "model_configuration", "statistics"]

    let store: ModelStore
    let configuration: ServerConfiguration
    /// The health listener's endpoints: liveness, readiness and metrics, nothing else.
    var healthOnly = false

    var core: ServingCore { ServingCore(store: store, configuration: configuration) }

    /// One complete request (head and body).
    struct Request {
        var method: HTTPMethod
        var path: String
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    func respond(to request: Request, on eventLoop: any EventLoop, burst: LoopBurst? = nil) -> EventLoopFuture<HTTPReply> {
        let route: KServeRoute
        do {
            route = try KServeRoute.match(path: request.path)
        } catch {
            return eventLoop.makeSucceededFuture(.error(error))
        }
        if healthOnly, route != .serverLive, route != .serverReady, route != .metrics {
            return eventLoop.makeSucceededFuture(.error(HTTPError(.notFound,
                "\(request.path): the health port serves /v2/health/live, /v2/health/ready and /metrics only")))
        }
        guard request.method == route.method || (request.method == .HEAD && route.method == .GET) else {
            var reply = HTTPReply.error(HTTPError(.methodNotAllowed, "\(request.method) \(request.path) is not allowed; use \(route.method)"))
            reply.extraHeaders.append(("Allow", "\(route.method)"))
            return eventLoop.makeSucceededFuture(reply)
        }
        switch route {
        case .serverLive:
            // The v2 spec's body, which the KServe SDK reads (`{"live": true}`).
            return eventLoop.makeSucceededFuture(.json(Array(#"{"live":true}"#.utf8)))
        case .serverReady:
            return eventLoop.makeSucceededFuture(serverReady())
        case .serverMetadata:
            return eventLoop.makeSucceededFuture(serverMetadata())
        case .metrics:
            var reply = HTTPReply(status: .ok, body: store.metrics.exposition(store: store))
            reply.contentType = "text/plain; version=0.0.4; charset=utf-8"
            return eventLoop.makeSucceededFuture(reply)
        case .modelMetadata(let reference):
            return afterLoading(reference, on: eventLoop) { reply { () throws(ServingError) in try modelMetadata(reference) } }
        case .modelReady(let reference):
            return eventLoop.makeSucceededFuture(modelReady(reference))
        case .infer(let reference):
            return infer(reference, request, on: eventLoop, burst: burst)
        case .modelConfig(let reference):
            return afterLoading(reference, on: eventLoop) {
                reply { () throws(ServingError) in TritonExtensions.configJSON(of: try core.describe(reference.name, version: reference.version).model) }
            }
        case .modelStatistics(let reference):
            return eventLoop.makeSucceededFuture(reply { () throws(ServingError) in
                TritonExtensions.statisticsJSON(try core.servedVersions(reference?.name, version: reference?.version ?? 0))
            })
        case .repositoryIndex:
            return eventLoop.makeSucceededFuture(reply { () throws(ServingError) in try repositoryIndex(request.body) })
        case .load, .unload:
            if let refusal = configuration.admin.refusal(authorizations: request.headers["authorization"]) {
                var reply = HTTPReply.error(refusal)
                if refusal.status == .unauthorized { reply.extraHeaders.append(("WWW-Authenticate", #"Bearer realm="nnserve""#)) }
                return eventLoop.makeSucceededFuture(reply)
            }
            return repositoryControl(route, request, on: eventLoop)
        }
    }

    private func repositoryControl(_ route: KServeRoute, _ request: Request, on eventLoop: any EventLoop) -> EventLoopFuture<HTTPReply> {
        switch route {
        case .load(let name):
            return offload(on: eventLoop) { () throws(ServingError) in
                try Self.refuseLoadParameters(request.body, model: name)
                try core.load(name)
            }
        case .unload(let name):
            return offload(on: eventLoop) { [core] () throws(ServingError) in try core.unload(name) }
        default:
            preconditionFailure("\(route) is not a repository control route")
        }
    }

    /// `answer`, once the model is in memory (`ServingCore.afterLoading`).
    private func afterLoading(_ reference: ModelReference, on eventLoop: any EventLoop,
                              _ answer: @escaping @Sendable () -> HTTPReply) -> EventLoopFuture<HTTPReply> {
        let promise = eventLoop.makePromise(of: HTTPReply.self)
        core.afterLoading(reference.name, version: reference.version) { promise.succeed(answer()) }
        return promise.futureResult
    }

    private func reply(_ body: () throws(ServingError) -> [UInt8]) -> HTTPReply {
        do {
            return .json(try body())
        } catch {
            return .error(error)
        }
    }

    /// Runs blocking repository work (file reads, self-tests, draining) off the event loop.
    private func offload(on eventLoop: any EventLoop, _ work: @escaping @Sendable () throws(ServingError) -> Void) -> EventLoopFuture<HTTPReply> {
        let promise = eventLoop.makePromise(of: HTTPReply.self)
        DispatchQueue.global().async {
            do throws(ServingError) {
                try work()
                promise.succeed(.empty())
            } catch {
                promise.succeed(.error(error))
            }
        }
        return promise.futureResult
    }

    // MARK: - Health and metadata

    /// The core's answer in the v2 spec's form: 200 `{"ready": true}`; not ready is a 4xx (400
    /// as Triton does), or 503 while shutting down so an orchestrator stops sending, with
    /// `{"ready": false}` and the reason.
    private func serverReady() -> HTTPReply {
        switch core.serverReadiness() {
        case .ready:
            return .json(Array(#"{"ready":true}"#.utf8))
        case .notReady(let reason, let shuttingDown):
            return Self.notReady(shuttingDown ? .serviceUnavailable : .badRequest, "not ready: \(reason)", name: nil)
        }
    }

    private func modelReady(_ reference: ModelReference) -> HTTPReply {
        var writer = JSONWriter()
        switch core.modelReadiness(reference.name, version: reference.version) {
        case .ready:
            writer.raw("{")
            writer.member("name", reference.name, first: true)
            writer.raw(#","ready":true}"#)
            return .json(writer.bytes)
        case .notReady(let reason, _):
            return Self.notReady(.badRequest, reason, name: reference.name)
        }
    }

    private static func notReady(_ status: HTTPResponseStatus, _ reason: String, name: String?) -> HTTPReply {
        var writer = JSONWriter()
        writer.raw("{")
        writer.member("error", reason, first: true)
        if let name { writer.member("name", name) }
        writer.raw(#","ready":false}"#)
        return .json(writer.bytes, status: status)
    }

    private func serverMetadata() -> HTTPReply {
        var writer = JSONWriter()
        writer.raw("{")
        writer.member("name", Self.serverName, first: true)
        writer.member("version", Self.serverVersion)
        writer.raw(",")
        writer.key("extensions")
        writer.array(Self.extensions) { $0.string($1) }
        writer.raw("}")
        return .json(writer.bytes)
    }

    private func modelMetadata(_ reference: ModelReference) throws(ServingError) -> [UInt8] {
        let (model, versions) = try core.describe(reference.name, version: reference.version)
        var writer = JSONWriter()
        writer.raw("{")
        writer.member("name", model.name, first: true)
        writer.raw(",")
        writer.key("versions")
        writer.array(versions) { $0.string(String($1)) }
        writer.raw(",\"platform\":\"nnserve\",")
        let tensors = [("inputs", model.plan.requestInputs.map { ($0.name, $0.datatype, $0.width) }),
                       ("outputs", model.plan.outputs.map { ($0.name, TensorDatatype.fp32, $0.width) })]
        for (key, bindings) in tensors {
            writer.string(key)
            writer.raw(":")
            // The batch dimension is variable: -1, as Triton reports it.
            writer.array(bindings) { writer, binding in
                writer.raw("{")
                writer.member("name", binding.0, first: true)
                writer.raw(",")
                writer.member("datatype", binding.1.rawValue, first: true)
                writer.raw(",\"shape\":[-1,")
                writer.integer(binding.2)
                writer.raw("]}")
            }
            if key == "inputs" { writer.raw(",") }
        }
        // nnserve's additions: a raw column's kind and vocabulary size, each input's feature
        // names, a head's class names.
        let columns = model.plan.requestInputs.compactMap(\.column)
        if !columns.isEmpty {
            writer.raw(",\"columns\":")
            writer.array(columns) { writer, column in
                writer.raw("{")
                writer.member("name", column.name, first: true)
                writer.member("kind", column.kindName)
                if column.isCategorical {
                    writer.raw(",\"categories\":")
                    writer.integer(column.categoryCount)
                }
                writer.raw("}")
            }
        }
        // Which column is which feature, in order (a row sent by hand needs it); class names.
        Self.writeNames(",\"feature_names\":", model.file.graph.inputs.map { ($0.name, $0.featureNames) }, to: &writer)
        Self.writeNames(",\"labels\":", model.file.graph.outputs.map { ($0.name, $0.labels) }, to: &writer)
        writer.raw("}")
        return writer.bytes
    }

    /// `key{"name": ["a", …], …}` for the entries with names; nothing when none has any.
    private static func writeNames(_ key: StaticString, _ entries: [(name: String, names: [String])], to writer: inout JSONWriter) {
        let named = entries.filter { !$0.names.isEmpty }
        guard !named.isEmpty else { return }
        writer.raw(key)
        writer.raw("{")
        for (index, entry) in named.enumerated() {
            if index > 0 { writer.raw(",") }
            writer.string(entry.name)
            writer.raw(":")
            writer.array(entry.names) { $0.string($1) }
        }
        writer.raw("}")
    }

    // MARK: - Repository control

    private func repositoryIndex(_ body: ByteBuffer) throws(ServingError) -> [UInt8] {
        var readyOnly = false
        if body.readableBytes > 0 {
            let request = try JSONFields(Self.parse(body), path: "")
            readyOnly = try request.optional("ready", "a boolean") { value -> Bool? in
                if case .bool(let flag) = value { return flag }
                return nil
            } ?? false
        }
        var writer = JSONWriter()
        writer.array(core.index(readyOnly: readyOnly)) { writer, entry in
            writer.raw("{")
            writer.member("name", entry.name, first: true)
            if let version = entry.version { writer.member("version", String(version)) }
            writer.member("state", entry.state?.name ?? "UNAVAILABLE")
            writer.member("reason", entry.reason)
            writer.raw("}")
        }
        return writer.bytes
    }

    private static func parse(_ body: ByteBuffer) throws(ServingError) -> JSONValue {
        do {
            return try JSONParser.parse(body.readableBytesView)
        } catch {
            throw ServingError(.invalidArgument, "request body is not valid JSON: \(error.description)")
        }
    }

    /// Triton's load may carry a config or model files in its parameters; nnserve loads only
    /// what is in the repository, so such a request is refused rather than half obeyed.
    private static func refuseLoadParameters(_ body: ByteBuffer, model: String) throws(ServingError) {
        guard body.readableBytes > 0 else { return }
        let parameters = try JSONFields(parse(body), path: "").optional("parameters", "an object", \.objectValue)
        if let keys = parameters?.keys, !keys.isEmpty {
            throw ServingError(.invalidArgument, "load of '\(model)' has parameters \(keys.sorted()); nnserve loads only the files in its repository, so put the model there and load it without parameters")
        }
    }
}
