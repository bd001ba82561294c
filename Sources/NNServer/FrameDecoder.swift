import NIOCore
import NNFormat

/// Splits a connection's bytes into request frames: checks the preface once, then yields
/// each frame's message bytes. Framing rules live in NNFormat's `WireProtocol`.
final class FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    enum Failure: Error, CustomStringConvertible {
        case badPreface(String)
        case frameTooLarge(length: Int, limit: Int)

        var description: String {
            switch self {
            case .badPreface(let detail): "connection did not start with the nnserve preface: \(detail)"
            case .frameTooLarge(let length, let limit): "frame of \(length) bytes exceeds the limit of \(limit) bytes"
            }
        }
    }

    private let maxFrameSize: Int
    /// Where requests end, for the slow-client guard.
    private let progress: MessageProgress?
    private var prefaceAccepted = false

    init(maxFrameSize: Int, progress: MessageProgress? = nil) {
        self.maxFrameSize = maxFrameSize
        self.progress = progress
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if !prefaceAccepted {
            switch WireProtocol.checkPreface(buffer.readableBytesView) {
            case .needMoreBytes: return .needMoreData
            case .rejected(let detail): throw Failure.badPreface(detail)
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
            throw Failure.frameTooLarge(length: length, limit: maxFrameSize)
        case .frame(let start, let length):
            buffer.moveReaderIndex(forwardBy: start)
            let frame = buffer.readSlice(length: length)!
            progress?.completed(buffered: buffer.readableBytes)
            context.fireChannelRead(wrapInboundOut(frame))
            return .continue
        }
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
