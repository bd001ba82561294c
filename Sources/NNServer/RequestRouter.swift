import Dispatch
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

    private let store: ModelStore
    private let configuration: ServerConfiguration
    /// Predictions decoded in the current read, submitted together at read-complete.
    private var burst = PredictionBurst()
    private var flushScheduled = false

    init(store: ModelStore, configuration: ServerConfiguration) {
        self.store = store
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
            do {
                let (model, versions) = try store.model(metadata.model, version: metadata.version)
                response.metadata = model.metadata(versions: versions)
            } catch {
                response.error = error.response
            }
        case .listModels:
            response.listModels.models = store.summaries()
        case .health:
            response.health.live = true
            response.health.ready = store.loadedCount > 0 && !store.isShuttingDown
        case nil:
            response.error = ServingError(.invalidArgument, "request \(request.id) has no kind (predict, metadata, list_models, health)").response
        }
        write(response, context: context)
    }

    private func predictAndRespond(context: ChannelHandlerContext, id: UInt64, _ predict: Nnserve_PredictRequest) {
        let arrived = DispatchTime.now().uptimeNanoseconds
        let model: LoadedModel, prepared: RowBlock
        do {
            model = try store.route(predict.model, version: predict.version, from: .binary)
        } catch {
            return write(Self.response(id: id, error: error), context: context)
        }
        do {
            prepared = try PredictPreparation.prepare(predict, for: model, limits: PredictLimits(configuration))
        } catch {
            model.metrics.requestFinished(.binary, RequestOutcome(error.code), nanoseconds: DispatchTime.now().uptimeNanoseconds - arrived)
            return write(Self.response(id: id, error: error), context: context)
        }
        let bound = NIOLoopBound((router: self, context: context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let accessLog = configuration.accessLog, logger = store.logger, requestLog = store.requestLog
        let job = DynamicBatcher.Job(block: prepared, deadline: model.deadline(requestedMicros: predict.timeoutMicros)) { result in
            if case .success(let values) = result { requestLog?.record(model: model, prepared: prepared, values: values) }
            let response = Self.response(id: id, model: model, prepared: prepared, result)
            let outcome = result.outcome
            let finish: @Sendable () -> Void = {
                bound.value.router.write(response, context: bound.value.context)
                let nanoseconds = DispatchTime.now().uptimeNanoseconds - arrived
                model.metrics.requestFinished(.binary, outcome, nanoseconds: nanoseconds)
                if accessLog {
                    logger.info("binary predict \(model.name) v\(model.version) rows=\(prepared.rows) \(outcome.rawValue) \(nanoseconds / 1000)us")
                }
            }
            // A lone request runs inline on this loop: answer it without another hop.
            if eventLoop.inEventLoop { finish() } else { eventLoop.execute(finish) }
        }
        burst.append(model, job)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        burst.submit()
        context.flush()
        context.fireChannelReadComplete()
    }

    private static func response(id: UInt64, model: LoadedModel, prepared: RowBlock,
                                 _ result: Result<[[Float]], ServingError>) -> Nnserve_Response {
        switch result {
        case .success(let values):
            var response = Nnserve_Response()
            response.id = id
            response.predict.model = model.name
            response.predict.version = Int64(model.version)
            response.predict.outputs = zip(prepared.outputs, values).map { index, data in
                var tensor = Nnserve_OutputTensor()
                tensor.name = model.plan.outputs[index].name
                tensor.shape = [Int64(prepared.rows), Int64(model.plan.outputs[index].width)]
                tensor.data = data
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
