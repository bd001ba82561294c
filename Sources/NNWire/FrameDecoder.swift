import NIOCore
import NNFormat

/// Splits a connection's bytes into frames and yields each frame's message bytes (a slice, no
/// copy). The server's decoder checks the preface first (`expectsPreface`); the client's, which
/// reads responses, does not. The framing rules themselves are NNFormat's `WireProtocol`.
public final class FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    private let maxFrameSize: Int
    private var prefaceAccepted: Bool
    /// Told where messages start and end (the server's slow-client guard).
    private let progress: (any FrameProgress)?

    public init(maxFrameSize: Int = WireProtocol.defaultMaxFrameSize, expectsPreface: Bool, progress: (any FrameProgress)? = nil) {
        self.maxFrameSize = maxFrameSize
        self.prefaceAccepted = !expectsPreface
        self.progress = progress
    }

    public func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if !prefaceAccepted {
            switch WireProtocol.checkPreface(buffer.readableBytesView) {
            case .needMoreBytes: return .needMoreData
            case .rejected(let detail): throw WireError.badPreface(detail)
            case .accepted:
                buffer.moveReaderIndex(forwardBy: WireProtocol.preface.count)
                prefaceAccepted = true
            }
        }
        switch WireProtocol.scanFrame(buffer.readableBytesView, maxFrameSize: maxFrameSize) {
        case .needMoreBytes:
            if buffer.readableBytes >= WireProtocol.lengthPrefixSize { progress?.headArrived() }
            return .needMoreData
        case .tooLarge(let length):
            throw WireError.frameTooLarge(length: length, limit: maxFrameSize)
        case .frame(let start, let length):
            buffer.moveReaderIndex(forwardBy: start)
            let frame = buffer.readSlice(length: length)!
            progress?.completed(buffered: buffer.readableBytes)
            context.fireChannelRead(wrapInboundOut(frame))
            return .continue
        }
    }

    public func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// What a frame decoder reports about message boundaries: the length prefix of a message has
/// arrived (the rest is its body), or a message is complete with `buffered` bytes of the next
/// already read. Called on the channel's event loop.
public protocol FrameProgress: AnyObject {
    func headArrived()
    func completed(buffered: Int)
}
