import Foundation
import NIOCore
import NNFormat

/// Answers the requests of one connection. Predictions go to the model's batcher and are
/// answered when their batch has run, in any order (pipelining); a bad request gets an
/// error response and the connection stays open; a broken frame gets an error frame, then
/// the connection is closed.
final class RequestHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let store: ModelStore
    private let configuration: ServerConfiguration

    init(store: ModelStore, configuration: ServerConfiguration) {
        self.store = store
        self.configuration = configuration
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let request: Nnserve_Request
        do {
            request = try Nnserve_Request(serializedBytes: Array(frame.readableBytesView))
        } catch {
            return fail(context: context, ServingError(.invalidArgument, "frame is not a valid Request message: \(error)"), close: true)
        }
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
            response.health.ready = store.loadedCount > 0
        case nil:
            response.error = ServingError(.invalidArgument, "request \(request.id) has no kind (predict, metadata, list_models, health)").response
        }
        write(response, context: context)
    }

    private func predictAndRespond(context: ChannelHandlerContext, id: UInt64, _ predict: Nnserve_PredictRequest) {
        let model: LoadedModel
        let prepared: (rows: Int, inputs: [[Float]], outputs: [Int])
        do {
            model = try store.model(predict.model, version: predict.version).0
            prepared = try PredictPreparation.prepare(predict, for: model, maxRows: configuration.maxRowsPerRequest)
        } catch {
            var response = Nnserve_Response()
            response.id = id
            response.error = error.response
            return write(response, context: context)
        }
        let promise = context.eventLoop.makePromise(of: [[Float]].self)
        let deadline = predict.timeoutMicros > 0
            ? DispatchTime.now().uptimeNanoseconds + UInt64(predict.timeoutMicros) * 1000 : nil
        model.batcher.submit(DynamicBatcher.Job(rows: prepared.rows, inputs: prepared.inputs, outputs: prepared.outputs, deadline: deadline) { result in
            switch result {
            case .success(let values): promise.succeed(values)
            case .failure(let error): promise.fail(error)
            }
        })
        let plan = model.plan
        let rows = prepared.rows
        let outputs = prepared.outputs
        let name = model.name, version = model.version
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        promise.futureResult.whenComplete { result in
            var response = Nnserve_Response()
            response.id = id
            switch result {
            case .success(let values):
                response.predict.model = name
                response.predict.version = Int64(version)
                response.predict.outputs = zip(outputs, values).map { index, data in
                    var tensor = Nnserve_OutputTensor()
                    tensor.name = plan.outputs[index].name
                    tensor.shape = [Int64(rows), Int64(plan.outputs[index].width)]
                    tensor.data = data
                    return tensor
                }
            case .failure(let error):
                response.error = (error as? ServingError ?? ServingError(.internal, "\(error)")).response
            }
            bound.value.handler.write(response, context: bound.value.context)
        }
    }

    private func write(_ response: Nnserve_Response, context: ChannelHandlerContext) {
        guard context.channel.isActive, let bytes = try? WireProtocol.frame(response) else { return }
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private func fail(context: ChannelHandlerContext, _ error: ServingError, close: Bool) {
        var response = Nnserve_Response()
        response.error = error.response
        guard let bytes = try? WireProtocol.frame(response) else { return }
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        let written = context.writeAndFlush(wrapOutboundOut(buffer))
        if close {
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Framing errors (bad preface, oversized frame) end this connection only, error frame first.
        fail(context: context, ServingError(.invalidArgument, "\(error)"), close: true)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            fail(context: context, ServingError(.deadlineExceeded, "connection idle for \(configuration.idleTimeoutSeconds) s; closing"), close: true)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
