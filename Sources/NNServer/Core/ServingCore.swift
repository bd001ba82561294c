import Dispatch
import Logging
import NNInference

/// The protocol-neutral serving core. Every front — the binary protocol, KServe v2 HTTP, KServe
/// v2 gRPC — is a codec from its wire form to these questions and back, so each has one answer:
/// is the server ready, is a model ready, what does a model take and return, what is in the
/// repository, and `infer` (routing, validation, deadline, batching, request log, metrics,
/// access log), the one path into the batchers.
struct ServingCore: Sendable {
    let store: ModelStore
    let configuration: ServerConfiguration

    /// Whether the server or a model takes traffic, and if not, why.
    enum Readiness: Equatable, Sendable {
        case ready
        case notReady(String, shuttingDown: Bool)

        var isReady: Bool { self == .ready }
        var reason: String? {
            if case .notReady(let reason, _) = self { return reason }
            return nil
        }
    }

    // MARK: - Readiness

    /// Ready when the server is not shutting down, something is loaded, and every model of the
    /// repository (a directory with at least one version file) serves a version — one unloaded
    /// on request counts too, since the server then does not serve its whole repository, and an
    /// orchestrator should know.
    func serverReadiness() -> Readiness {
        if store.isShuttingDown {
            return .notReady("shutting down; requests are still answered until the listeners close", shuttingDown: true)
        }
        let entries = store.index().filter { $0.version != nil }
        // Under --memory-budget a version that would load on its request counts as served.
        guard entries.contains(where: { $0.state?.isServable == true }) else { return .notReady("no model is loaded", shuttingDown: false) }
        let unserved = Dictionary(grouping: entries, by: \.name)
            .filter { _, entries in !entries.contains { $0.state?.isServable == true } }
            .keys.sorted()
        return unserved.isEmpty ? .ready : .notReady("models without a served version: \(unserved.joined(separator: ", "))", shuttingDown: false)
    }

    /// A model (version 0: any of its versions) is ready when that version is served —
    /// under --memory-budget, also when it is not in memory but its request would load it
    /// (asking loads nothing).
    func modelReadiness(_ name: String, version: Int64) -> Readiness {
        if store.isServable(name, version: version) { return .ready }
        do {
            _ = try store.model(name, version: version)
            return .ready
        } catch {
            return .notReady(error.message, shuttingDown: store.isShuttingDown)
        }
    }

    // MARK: - Models and repository

    /// The version a request for `name` gets (version 0: the newest served), and every served
    /// version of it.
    func describe(_ name: String, version: Int64) throws(ServingError) -> (model: LoadedModel, versions: [Int]) {
        try store.model(name, version: version)
    }

    /// Runs `body` once the version `describe` would give is in memory: at once, except
    /// under --memory-budget for a version not loaded yet, which is loaded first (`body` then
    /// runs on the loading thread). Asking for metadata loads a model; readiness does not.
    func afterLoading(_ name: String, version: Int64, _ body: @escaping @Sendable () -> Void) {
        store.afterLoading(name, version: version, body)
    }

    /// The served versions statistics are asked for: all of every model (no name), all of one
    /// model (version 0), or one version.
    func servedVersions(_ name: String?, version: Int64) throws(ServingError) -> [LoadedModel] {
        try store.servedVersions(name, version: version)
    }

    /// Every version on disk and its state; `readyOnly` keeps the served ones.
    func index(readyOnly: Bool = false) -> [RepositoryEntry] {
        store.index().filter { !readyOnly || $0.ready }
    }

    /// Repository control: blocking (it reads files, runs self-tests and drains batchers), so
    /// never on an event loop. Who may ask is `AdminAccess`'s rule, which each front applies to
    /// its own credentials.
    func load(_ name: String) throws(ServingError) { try store.loadModel(name) }
    func unload(_ name: String) throws(ServingError) { try store.unloadModel(name) }

    // MARK: - Inference

    /// Routes a request for `name` (version 0: the newest), decodes the rest of it, checks
    /// it against the model, then adds it to `burst` (the front submits the burst when its read
    /// completes). `answer` runs once: at once for a request refused before it queues, else on
    /// the executor's thread (or the caller's, for a lone request run inline). A request that
    /// reached its model and was refused counts in that model's metrics, whatever was wrong.
    func infer(model name: String, version: Int64, from front: RequestProtocol, arrived: UInt64 = DispatchTime.now().uptimeNanoseconds,
               into burst: inout PredictionBurst, decode: () throws(ServingError) -> InferenceRequest,
               answer: @escaping @Sendable (Result<InferenceAnswer, ServingError>) -> Void) {
        let routed: ModelStore.Routed
        do {
            routed = try store.route(name, version: version, from: front)
        } catch {
            return answer(.failure(error))
        }
        switch routed {
        case .resident(let model):
            enqueue(model, from: front, arrived: arrived, into: &burst, decode: decode, answer: answer)
        case .notResident(let key):
            // Under --memory-budget: decoded now (the wire buffers are the front's), computed
            // once the version has loaded.
            do {
                let request = try decode()
                try afterLoad(key, name: name, version: version, request, from: front, arrived: arrived, fallbacks: 2, answer: answer)
            } catch {
                answer(.failure(error))
            }
        }
    }

    /// Waits for `key` to load, then queues `request` on it. A request for the newest version
    /// (0) whose version was refused (a broken file, too large for the budget) is routed again
    /// — to the older version that serves in its place — up to `fallbacks` times.
    private func afterLoad(_ key: VersionKey, name: String, version: Int64, _ request: InferenceRequest, from front: RequestProtocol,
                           arrived: UInt64, fallbacks: Int,
                           answer: @escaping @Sendable (Result<InferenceAnswer, ServingError>) -> Void) throws(ServingError) {
        try store.whenLoaded(key, requestedMicros: request.timeoutMicros) { loaded in
            switch loaded {
            case .success(let model):
                submit(request, to: model, from: front, arrived: arrived, answer: answer)
            case .failure(let error) where version == 0 && fallbacks > 0 && [.notFound, .resourceExhausted].contains(error.code):
                do throws(ServingError) {
                    switch try store.route(name, version: 0, from: front) {
                    case .resident(let model):
                        submit(request, to: model, from: front, arrived: arrived, answer: answer)
                    case .notResident(let next) where next != key:
                        try afterLoad(next, name: name, version: 0, request, from: front, arrived: arrived, fallbacks: fallbacks - 1, answer: answer)
                    case .notResident:
                        answer(.failure(error))
                    }
                } catch let rerouted {
                    answer(.failure(rerouted))
                }
            case .failure(let error):
                answer(.failure(error))
            }
        }
    }

    /// Queues a request decoded before its model loaded (on the loading thread: never inline).
    private func submit(_ request: InferenceRequest, to model: LoadedModel, from front: RequestProtocol, arrived: UInt64,
                        answer: @escaping @Sendable (Result<InferenceAnswer, ServingError>) -> Void) {
        var burst = PredictionBurst(lonePolicy: .never)
        enqueue(model, from: front, arrived: arrived, into: &burst, decode: { request }, answer: answer)
        burst.submit()
    }

    /// Checks a request routed to a resident `model` and adds it to `burst`.
    private func enqueue(_ model: LoadedModel, from front: RequestProtocol, arrived: UInt64, into burst: inout PredictionBurst,
                         decode: () throws(ServingError) -> InferenceRequest,
                         answer: @escaping @Sendable (Result<InferenceAnswer, ServingError>) -> Void) {
        let request: InferenceRequest, prepared: RowBlock
        do {
            request = try decode()
            try Self.refuseUnsupported(request, model: model)
            prepared = try Self.prepare(request.inputs, outputs: request.outputs.map(\.name), for: model, limits: PredictLimits(configuration))
            if !prepared.tallies.isEmpty { model.columns?.record(prepared.tallies, plan: model.plan) }
        } catch {
            finished(model, front, rows: 0, RequestOutcome(error.code), since: arrived)
            return answer(.failure(error))
        }
        let requestLog = store.requestLog, id = request.id, rawByDefault = request.rawByDefault, outputs = request.outputs
        let job = DynamicBatcher.Job(block: prepared, deadline: model.deadline(requestedMicros: request.timeoutMicros, arrived: arrived),
                                     cancellation: request.cancellation) { result in
            if case .success(let values) = result { requestLog?.record(model: model, prepared: prepared, values: values) }
            finished(model, front, rows: prepared.rows, result.outcome, since: arrived)
            answer(result.map { InferenceAnswer(model: model, prepared: prepared, values: $0, id: id, rawByDefault: rawByDefault, requestedOutputs: outputs) })
        }
        burst.append(model, job)
    }

    /// The request's inputs as the model's checked rows (`Plan.rowBlock`, the one place inputs
    /// are validated against a model).
    static func prepare(_ inputs: InferenceRequest.Inputs, outputs: [String], for model: LoadedModel, limits: PredictLimits)
        throws(ServingError) -> RowBlock {
        let given: [NamedInput]
        switch inputs {
        case .rows(let rows):
            given = rows
        case .tensors(let tensors):
            given = try tensors.map { (tensor) throws(ServingError) in try tensor.rows() }
        case .onlyInputRows(let bytes):
            guard !model.plan.takesRawRows else {
                throw ServingError(.invalidArgument, "a raw binary request (\(InferenceReply.binaryHeaderLength): 0) carries FP32 rows; '\(model.name)' takes raw columns "
                    + "(\(model.plan.requestInputs.map(\.name).joined(separator: ", "))): send them as named inputs")
            }
            guard model.plan.inputs.count == 1, let input = model.plan.inputs.first else {
                throw ServingError(.invalidArgument, "a raw binary request (\(InferenceReply.binaryHeaderLength): 0) needs a one-input model; '\(model.name)' has \(model.plan.inputs.count) inputs")
            }
            let rowBytes = input.width * 4
            guard !bytes.isEmpty, bytes.count % rowBytes == 0 else {
                throw ServingError(.invalidArgument, "raw binary input '\(input.name)' is \(bytes.count) bytes; FP32 rows of \(input.width) features are \(rowBytes) bytes each")
            }
            let rows = TensorView(name: input.name, shape: [Int64(bytes.count / rowBytes), Int64(input.width)], datatype: TensorDatatype.fp32.rawValue,
                                  values: .littleEndian(bytes, from: .binaryDataSize))
            given = [try rows.rows()]
        }
        do {
            return try model.plan.rowBlock(given, outputs: outputs, limits: limits.request)
        } catch {
            throw ServingError(.invalidArgument, error.message(model: "model '\(model.name)' v\(model.version)"))
        }
    }

    /// What nnserve does not do is refused, never silently ignored: a client that asked for a
    /// priority or a sequence would otherwise believe it had one.
    static func refuseUnsupported(_ request: InferenceRequest, model: LoadedModel) throws(ServingError) {
        if let output = request.outputs.first(where: { $0.classCount < 0 }) {
            throw ServingError(.invalidArgument, "output '\(output.name)' asks for \(output.classCount) classes; classification takes a positive count")
        }
        if request.priority != 0 {
            throw ServingError(.invalidArgument, "priority \(request.priority): nnserve schedules every request of model '\(model.name)' alike; send priority 0 or none")
        }
        if let sequence = request.sequence {
            throw ServingError(.invalidArgument, "\(sequence): nnserve's models are stateless and take no sequences")
        }
    }

    /// Metrics and the access log line of a request the core routed to `model`.
    private func finished(_ model: LoadedModel, _ front: RequestProtocol, rows: Int, _ outcome: RequestOutcome, since arrived: UInt64) {
        let nanoseconds = DispatchTime.now().uptimeNanoseconds - arrived
        model.metrics.requestFinished(front, outcome, nanoseconds: nanoseconds)
        if configuration.accessLog {
            store.logger.info("\(front.rawValue) infer \(model.name) v\(model.version) rows=\(rows) \(outcome.rawValue) \(nanoseconds / 1000)us")
        }
    }
}
