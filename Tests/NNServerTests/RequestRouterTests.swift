import Logging
import NIOCore
import NIOEmbedded
import NNFormat
@testable import NNServer
import NNWire
import XCTest

/// The binary front's pipeline (shared frame decoder and codec, then the router) on an
/// `EmbeddedChannel` over a real model store: what each kind of request is answered with,
/// and which failures end the connection.
final class RequestRouterTests: FixtureRepositoryTestCase {
    private var store: ModelStore!

    override func setUpWithError() throws {
        try super.setUpWithError()
        var quiet = Logger(label: "router-tests")
        quiet.logLevel = .warning
        store = ModelStore(root: repository, configuration: ServerConfiguration(), logger: quiet)
        store.reload()
    }

    private func connection() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([
            ByteToMessageHandler(FrameDecoder(expectsPreface: true)),
            RequestCodec(),
            RequestRouter(store: store, configuration: store.configuration),
        ])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(bytes: WireProtocol.preface))
        return channel
    }

    private func send(_ request: Nnserve_Request, on channel: EmbeddedChannel) throws {
        try channel.writeInbound(ByteBuffer(bytes: try WireProtocol.frame(request)))
        channel.embeddedEventLoop.run()
    }

    private func responses(from channel: EmbeddedChannel) throws -> [Nnserve_Response] {
        var out: [Nnserve_Response] = []
        while let frame = try channel.readOutbound(as: ByteBuffer.self) {
            var rest = frame
            while let length = rest.readInteger(as: UInt32.self), let payload = rest.readSlice(length: Int(length)) {
                out.append(try WireProtocol.decode(Nnserve_Response.self, from: payload))
            }
        }
        return out
    }

    func testMetadataAndErrorsAreAnsweredUnderTheRequestID() throws {
        let channel = try connection()
        var metadata = Nnserve_Request()
        metadata.id = 7
        metadata.metadata.model = "mlp"
        try send(metadata, on: channel)
        var unknown = metadata
        unknown.id = 8
        unknown.metadata.model = "nope"
        try send(unknown, on: channel)
        var empty = Nnserve_Request()
        empty.id = 9
        try send(empty, on: channel)
        let answers = try responses(from: channel)
        XCTAssertEqual(answers.map(\.id), [7, 8, 9])
        XCTAssertEqual(answers[0].metadata.inputs.first?.width, 5)
        XCTAssertEqual(answers[1].error.code, .notFound)
        XCTAssertEqual(answers[2].error.code, .invalidArgument)
        XCTAssertTrue(answers[2].error.message.contains("has no kind"), answers[2].error.message)
        XCTAssertTrue(channel.isActive, "a bad request does not end the connection")
    }

    func testPredictionIsRefusedNamingTheWidthAndTheConnectionStays() throws {
        let channel = try connection()
        var request = Nnserve_Request()
        request.id = 3
        request.predict.model = "mlp"
        var input = Nnserve_InputTensor()
        input.name = try store.model("mlp", version: 0).0.plan.inputs[0].name
        input.shape = [1, 7]
        input.data = Array(repeating: 0.5, count: 7)
        request.predict.inputs = [input]
        try send(request, on: channel)
        let answer = try XCTUnwrap(try responses(from: channel).first)
        XCTAssertEqual(answer.id, 3)
        XCTAssertEqual(answer.error.code, .invalidArgument)
        XCTAssertTrue(answer.error.message.contains("7"), answer.error.message)
        XCTAssertTrue(channel.isActive)
    }

    func testUndecodableFrameGetsAConnectionErrorThenTheClose() throws {
        let channel = try connection()
        XCTAssertNoThrow(try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 2, 0x0A, 0x09])))
        channel.embeddedEventLoop.run()
        let answer = try XCTUnwrap(try responses(from: channel).first)
        XCTAssertEqual(answer.id, 0)
        XCTAssertEqual(answer.error.code, .invalidArgument)
        XCTAssertTrue(answer.error.message.hasPrefix("frame is not a valid Request message"), answer.error.message)
        XCTAssertFalse(channel.isActive)
    }

    func testOversizeFrameGetsAConnectionErrorThenTheClose() throws {
        let channel = try connection()
        XCTAssertNoThrow(try channel.writeInbound(ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF])))
        channel.embeddedEventLoop.run()
        let answer = try XCTUnwrap(try responses(from: channel).first)
        XCTAssertEqual(answer.id, 0)
        XCTAssertTrue(answer.error.message.contains("exceeds the limit"), answer.error.message)
        XCTAssertFalse(channel.isActive)
    }
}
