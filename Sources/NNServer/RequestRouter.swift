import NIOCore
import NNFormat
import NNWire
import NNInference

/// Routes the decoded requests of one binary-protocol connection: metadata, model lists and
/// health are answered at once; predictions go to their model's batcher and are answered
/// when their batch has run, in any order (pipelining, matched by id). A bad request gets an
/// error response and the connection stays open; a broken stream (bad preface, oversized or
/// undecodable frame) or an idle connection gets an error response with id 0, then is closed.
/// Framing and protobuf are the shared codec's (NNWire), below this handler.
final class RequestRouter: ChannelInboundHandler {
    typealias InboundIn = Nnserve_Request
    typealias OutboundOut = Nnserve_Response

    private let core: ServingCore
    private let configuration: ServerConfiguration
    /// Predictions decoded in the current read, submitted together at read-complete.
    private var burst = PredictionBurst()
    private var flushScheduled = false

    init(store: ModelStore, configuration: ServerConfiguration) {
        core = ServingCore(store: store, configuration: configuration)
        self.configuration = configuration
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let request = unwrapInboundIn(data)
        var response = Nnserve_Response()
        response.id = request.id
        switch request.kind {
        case .predict(let predict):
            return predictAndRespond(context: context, id: request.id, predict)
        case .metadata(let metadata):
            let bound = NIOLoopBound((router: self, context: context), eventLoop: context.eventLoop)
            let eventLoop = context.eventLoop, core = core, id = request.id
            core.afterLoading(metadata.model, version: metadata.version) {
                var response = Nnserve_Response()
                response.id = id
                do throws(ServingError) {
                    let (model, versions) = try core.describe(metadata.model, version: metadata.version)
                    response.metadata = model.metadata(versions: versions)
                } catch {
                    response.error = error.response
                }
                let answer = response
                let finish: @Sendable () -> Void = { bound.value.router.write(answer, context: bound.value.context) }
                if eventLoop.inEventLoop { finish() } else { eventLoop.execute(finish) }
            }
            return
        case .listModels:
            response.listModels.models = core.store.summaries()
        case .health:
            response.health.live = true
            response.health.ready = core.serverReadiness().isReady
        case nil:
            response.error = ServingError(.invalidArgument, "request \(request.id) has no kind (predict, metadata, list_models, health)").response
        }
        write(response, context: context)
    }

    private func predictAndRespond(context: ChannelHandlerContext, id: UInt64, _ predict: Nnserve_PredictRequest) {
        let bound = NIOLoopBound((router: self, context: context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        core.infer(model: predict.model, version: predict.version, from: .binary, into: &burst) { () throws(ServingError) -> InferenceRequest in
            var inputs: [NamedInput] = []
            inputs.reserveCapacity(predict.inputs.count)
            for input in predict.inputs {
                // `text` (a raw column's strings) is new: an older client sends data only.
                guard !input.text.isEmpty else {
                    inputs.append(NamedInput(name: input.name, shape: input.shape, values: input.data))
                    continue
                }
                guard input.data.isEmpty else {
                    throw ServingError(.invalidArgument, "input '\(input.name)' has both data and text; send a raw column's values in one of them")
                }
                inputs.append(NamedInput(name: input.name, shape: input.shape, text: input.text.map { $0 }))
            }
            return InferenceRequest(inputs: .rows(inputs), outputs: predict.outputs.map { .init(name: $0) }, timeoutMicros: predict.timeoutMicros)
        } answer: { result in
            let response = Self.response(id: id, result)
            let finish: @Sendable () -> Void = { bound.value.router.write(response, context: bound.value.context) }
            // A lone request runs inline on this loop, and a refused one is answered at once:
            // no other hop.
            if eventLoop.inEventLoop { finish() } else { eventLoop.execute(finish) }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        burst.submit()
        context.flush()
        context.fireChannelReadComplete()
    }

    private static func response(id: UInt64, _ result: Result<InferenceAnswer, ServingError>) -> Nnserve_Response {
        switch result {
        case .success(let answer):
            var response = Nnserve_Response()
            response.id = id
            response.predict.model = answer.model.name
            response.predict.version = Int64(answer.model.version)
            response.predict.outputs = answer.outputs.map { binding, values in
                var tensor = Nnserve_OutputTensor()
                tensor.name = binding.name
                tensor.shape = [Int64(answer.rows), Int64(binding.width)]
                tensor.data = values
                return tensor
            }
            return response
        case .failure(let error):
            return response(id: id, error: error)
        }
    }

    private static func response(id: UInt64, error: ServingError) -> Nnserve_Response {
        var response = Nnserve_Response()
        response.id = id
        response.error = error.response
        return response
    }

    private func write(_ response: Nnserve_Response, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        context.write(wrapOutboundOut(response), promise: nil)
        scheduleFlush(context: context)
    }

    /// One flush for the responses of a batch: they are written one task each, and the flush
    /// task queues behind them.
    private func scheduleFlush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        let bound = NIOLoopBound((router: self, context: context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            bound.value.router.flushScheduled = false
            bound.value.context.flush()
        }
    }

    /// The connection ends: the peer is told why first (id 0: no request in particular).
    private func closeConnection(context: ChannelHandlerContext, _ error: ServingError) {
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(Self.response(id: 0, error: error))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Broken streams (WireError: bad preface, oversized or undecodable frame) end this
        // connection only, error response first.
        closeConnection(context: context, ServingError(.invalidArgument, "\(error)"))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            closeConnection(context: context, ServingError(.deadlineExceeded, "connection idle for \(configuration.idleTimeoutSeconds) s; closing"))
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
