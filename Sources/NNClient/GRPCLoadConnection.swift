import Dispatch
import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2
import NNCore
import NNFormat
import NNKServe
import NNWire

/// One HTTP/2 connection of a gRPC load run (`nnclient bench --protocol grpc`), at the level
/// of frames as `LoadConnectionHandler` is at the level of binary frames: first a
/// ModelMetadata call to learn the model's inputs, then `depth` ModelInfer streams kept in
/// flight, a new one opened from the event loop as each ends. A stream ends at its trailers,
/// whose grpc-status says whether the call succeeded.
final class GRPCLoadConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    static let servicePath = "/inference.GRPCInferenceService/"

    private let model: String
    private let rowsPerRequest: Int
    private let depth: Int
    private let end: UInt64
    private let authority: String
    private let done: EventLoopPromise<LoadTally>
    private var template: ByteBuffer?
    private var nextStream = HTTP2StreamID(1)
    private var sentAt: [HTTP2StreamID: UInt64] = [:]
    /// Response bodies of streams still open (the metadata call's is read; ModelInfer's are
    /// only counted for the connection window).
    private var bodies: [HTTP2StreamID: ByteBuffer] = [:]
    private var unacknowledged = 0
    private var tally = LoadTally()
    private var finished = false

    init(model: String, rowsPerRequest: Int, depth: Int, end: UInt64, authority: String, done: EventLoopPromise<LoadTally>) {
        self.model = model
        self.rowsPerRequest = rowsPerRequest
        self.depth = depth
        self.end = end
        self.authority = authority
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        var request = Inference_ModelMetadataRequest()
        request.name = model
        do {
            _ = open("ModelMetadata", try GRPCMessage.frame(request), context: context)
        } catch {
            tally.fail("\(error)")
            return finish(context: context)
        }
        context.flush()
    }

    /// A new stream: HEADERS, then the message as one DATA frame that ends the stream.
    private func open(_ method: String, _ message: ByteBuffer, context: ChannelHandlerContext) -> HTTP2StreamID {
        let id = nextStream
        nextStream = HTTP2StreamID(Int32(id) + 2)
        let headers = HPACKHeaders([(":method", "POST"), (":scheme", "http"), (":path", Self.servicePath + method),
                                    (":authority", authority), ("content-type", "application/grpc"), ("te", "trailers")])
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers)))), promise: nil)
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(message), endStream: true)))), promise: nil)
        return id
    }

    private func sendInfer(context: ChannelHandlerContext) {
        guard let template else { return }
        let id = open("ModelInfer", template, context: context)
        sentAt[id] = DispatchTime.now().uptimeNanoseconds
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .data(let payload):
            guard case .byteBuffer(var bytes) = payload.data else { return }
            acknowledge(bytes.readableBytes, context: context)
            if template == nil { bodies[frame.streamID, default: ByteBuffer()].writeBuffer(&bytes) }
            if payload.endStream { ended(frame.streamID, status: nil, context: context) }
        case .headers(let headers) where headers.endStream:
            ended(frame.streamID, status: headers.headers, context: context)
        case .rstStream(let code):
            guard sentAt.removeValue(forKey: frame.streamID) != nil else { return }
            tally.fail("the server reset the stream (\(code))")
            next(context: context)
        case .goAway(_, let code, _):
            tally.fail("the server sent GOAWAY (\(code))")
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    /// A stream's trailers: the metadata call starts the load; a ModelInfer call is timed.
    private func ended(_ id: HTTP2StreamID, status trailers: HPACKHeaders?, context: ChannelHandlerContext) {
        let code = trailers?.first(name: "grpc-status") ?? "(none)"
        let failure = code == "0" ? nil : "grpc-status \(code): \(trailers?.first(name: "grpc-message")?.removingPercentEncoding ?? "")"
        if template == nil {
            let body = bodies.removeValue(forKey: id) ?? ByteBuffer()
            guard failure == nil, case .message(let message) = GRPCMessage.unframe(body),
                  let metadata = try? WireProtocol.decode(Inference_ModelMetadataResponse.self, from: message) else {
                tally.fail("ModelMetadata of '\(model)': \(failure ?? "no response message")")
                return finish(context: context)
            }
            guard let request = Self.request(model: model, metadata: metadata, rows: rowsPerRequest) else {
                tally.fail("ModelInfer request for '\(model)' could not be encoded")
                return finish(context: context)
            }
            template = request
            for _ in 0..<depth { sendInfer(context: context) }
            return
        }
        guard let sent = sentAt.removeValue(forKey: id) else { return }
        if let failure { tally.fail(failure) } else { tally.latencies.append(DispatchTime.now().uptimeNanoseconds - sent) }
        next(context: context)
    }

    /// The closed loop: another call while the run lasts, else the end once none is in flight.
    private func next(context: ChannelHandlerContext) {
        if DispatchTime.now().uptimeNanoseconds < end {
            sendInfer(context: context)
        } else if sentAt.isEmpty {
            finish(context: context)
        }
    }

    /// The connection window: responses would stall the server once 64 KiB were unacknowledged.
    private func acknowledge(_ bytes: Int, context: ChannelHandlerContext) {
        unacknowledged += bytes
        guard unacknowledged >= 32 * 1024 else { return }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: unacknowledged))), promise: nil)
        unacknowledged = 0
    }

    /// One ModelInfer request with seeded random rows for every input the model declares, as
    /// `raw_input_contents` (what tritonclient sends).
    static func request(model: String, metadata: Inference_ModelMetadataResponse, rows: Int) -> ByteBuffer? {
        var rng = CounterRNG(seed: 3)
        var request = Inference_ModelInferRequest()
        request.modelName = model
        for input in metadata.inputs {
            let width = Int(input.shape.last ?? 1)
            var tensor = Inference_ModelInferRequest.InferInputTensor()
            tensor.name = input.name
            tensor.datatype = "FP32"
            tensor.shape = [Int64(rows), Int64(width)]
            request.inputs.append(tensor)
            let values = (0..<rows * width).map { _ in rng.nextNormal() }
            request.rawInputContents.append(values.withUnsafeBytes { Data($0) })
        }
        return try? GRPCMessage.frame(request)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        tally.fail("\(error)")
        finish(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !sentAt.isEmpty { tally.fail("connection closed with the request in flight", count: sentAt.count) }
        sentAt.removeAll()
        finish(context: context)
    }

    private func finish(context: ChannelHandlerContext) {
        guard !finished else { return }
        finished = true
        done.succeed(tally)
        context.close(promise: nil)
    }
}
