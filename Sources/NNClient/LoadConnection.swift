import Dispatch
import NIOCore
import NNFormat
import NNWire

/// One connection of a load run: keeps `depth` requests in flight, sending the next one from
/// the event loop as each response arrives, like wrk does. No async hop per request, so the
/// load generator spends little of the CPU it shares with the server on itself.
/// Sits behind the shared preface writer, frame decoder and message codec.
final class LoadConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = Nnserve_Response
    typealias OutboundOut = Nnserve_Request

    private var template: Nnserve_Request
    private let depth: Int
    private let end: UInt64
    private let done: EventLoopPromise<LoadTally>
    private var sentAt: [UInt64: UInt64] = [:]
    private var nextID: UInt64 = 1
    private var tally = LoadTally()
    private var finished = false

    init(template: Nnserve_Request, depth: Int, end: UInt64, done: EventLoopPromise<LoadTally>) {
        self.template = template
        self.depth = depth
        self.end = end
        self.done = done
        sentAt.reserveCapacity(depth)
    }

    func channelActive(context: ChannelHandlerContext) {
        for _ in 0..<depth { send(context: context) }
        context.flush()
    }

    private func send(context: ChannelHandlerContext) {
        template.id = nextID
        sentAt[nextID] = DispatchTime.now().uptimeNanoseconds
        nextID += 1
        context.write(wrapOutboundOut(template), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let response = unwrapInboundIn(data)
        let now = DispatchTime.now().uptimeNanoseconds
        guard let sent = sentAt.removeValue(forKey: response.id) else {
            tally.fail(response.id == 0 ? "connection error \(Self.describe(response))" : "response for unknown id \(response.id)")
            return finish(context: context)
        }
        if case .predict? = response.kind {
            tally.latencies.append(now - sent)
        } else {
            tally.fail(Self.describe(response))
        }
        if now < end {
            send(context: context)
        } else if sentAt.isEmpty {
            finish(context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    /// A response that does not decode (or any other failure) ends the run of this connection.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        tally.fail("\(error)")
        finish(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !sentAt.isEmpty { tally.fail("connection closed with the request in flight", count: sentAt.count) }
        sentAt.removeAll()
        finish(context: context)
    }

    private static func describe(_ response: Nnserve_Response) -> String {
        if case .error(let error)? = response.kind { return "\(error.code): \(error.message)" }
        return "unexpected response \(response.kind.map { "\($0)" } ?? "without a kind")"
    }

    private func finish(context: ChannelHandlerContext) {
        guard !finished else { return }
        finished = true
        done.succeed(tally)
        context.close(promise: nil)
    }
}

/// What one connection of a load run measured: the latency of every answered request and the
/// errors by kind (the server's code and message, or what the connection did).
struct LoadTally: Sendable {
    var latencies: [UInt64] = []
    var errors = 0
    var failures: [String: Int] = [:]

    init() {
        latencies.reserveCapacity(1 << 16)
    }

    /// Counts an error under its kind; a run keeps at most 20 kinds (the rest go under "other").
    mutating func fail(_ kind: String, count: Int = 1) {
        errors += count
        let key = failures[kind] != nil || failures.count < 20 ? kind : "other"
        failures[key, default: 0] += count
    }
}
