import Foundation
import NNCore
@testable import NNFormat
import NNTestSupport
import SwiftProtobuf
import XCTest

final class RoundTripTests: XCTestCase {
    func testModelFileRoundTripsWithAndWithoutShuffle() throws {
        let model = FormatFixtures.smallModel()
        for shuffle in [false, true] {
            let options = WriteOptions(shuffle: shuffle, compressionLevel: 3, weights: .float32)
            let decoded = try ModelFile.decode(try model.encoded(options: options), source: "memory")
            XCTAssertEqual(decoded, model, "shuffle \(shuffle)")
        }
    }

    func testLossyWeightsRoundTripWithinTheirPrecision() throws {
        let model = FormatFixtures.smallModel()
        for (type, relative) in [(WeightStorage.float16, Float(1e-3)), (.bfloat16, 8e-3)] {
            let options = WriteOptions(shuffle: true, compressionLevel: 3, weights: type)
            let decoded = try ModelFile.decode(try model.encoded(options: options), source: "memory")
            XCTAssertEqual(decoded.weightStorage, type, "the file says how it stored the weights (serving picks kernels by it)")
            for (original, loaded) in zip(model.graph.nodes, decoded.graph.nodes) {
                guard case .dense(let a) = original.operation, case .dense(let b) = loaded.operation else {
                    XCTAssertEqual(original, loaded)
                    continue
                }
                for (x, y) in zip(a.weights.scalars, b.weights.scalars) {
                    XCTAssertEqual(y, x, accuracy: abs(x) * relative + 1e-7, "\(type) \(original.name)")
                }
            }
        }
    }

    /// int8 kernels: codes with one scale per column, read back as q·scale (within half a step
    /// of the original), biases kept fp32; a second write of what was read stores the same codes.
    func testInt8WeightsRoundTripWithinHalfAStepAndKeepFP32Biases() throws {
        let model = FormatFixtures.smallModel()
        let options = WriteOptions(shuffle: true, compressionLevel: 3, weights: .int8)
        let decoded = try ModelFile.decode(try model.encoded(options: options), source: "memory")
        XCTAssertEqual(decoded.weightStorage, .int8)
        for (original, loaded) in zip(model.graph.nodes, decoded.graph.nodes) {
            guard case .dense(let a) = original.operation, case .dense(let b) = loaded.operation else { continue }
            let columns = a.weights.shape[1]
            for column in 0..<columns {
                let step = (0..<a.weights.shape[0]).map { abs(a.weights[$0, column]) }.max()! / 127
                for row in 0..<a.weights.shape[0] {
                    XCTAssertEqual(b.weights[row, column], a.weights[row, column], accuracy: step / 2 * 1.0001 + 1e-9, "\(original.name) (\(row), \(column))")
                }
            }
            XCTAssertEqual(b.bias, a.bias, "biases stay fp32")
        }
        let again = try ModelFile.decode(try decoded.encoded(options: options), source: "memory")
        XCTAssertEqual(again.graph, decoded.graph, "codes of decoded weights are the stored codes")
    }

    /// An int8 tensor whose column scales do not match its columns (or are not positive) is
    /// refused, naming the tensor.
    func testInt8TensorsWithWrongColumnScalesAreRefused() throws {
        var stored = TensorCoding.encode(Tensor(shape: [2, 3], values: [127, -2, 3, 4, 127, -127]), as: .int8)
        XCTAssertEqual(stored.columnScales.count, 3)
        XCTAssertEqual(try TensorCoding.decode(stored, name: "w", source: "test").scalars, [127, -2, 3, 4, 127, -127], "columns whose largest value is 127 have scale 1")
        for scales: [Float] in [[1, 1], [1, 0, 1], [1, .nan, 1]] {
            stored.columnScales = scales
            XCTAssertThrowsError(try TensorCoding.decode(stored, name: "w", source: "test")) { error in
                XCTAssertTrue("\(error)".contains("'w' is int8 with \(scales.count) column scales for 3 columns"), "\(error)")
            }
        }
    }

    /// Files may hold a Softmax node (older writers); the IR has one form for softmax, so it
    /// decodes as a softmax activation and every consumer has a single branch for it.
    func testSoftmaxNodeDecodesAsTheSoftmaxActivation() throws {
        let graph = GraphFixtures.wideAndDeep()
        var stored = GraphCoding.encode(graph)
        let index = try XCTUnwrap(stored.nodes.firstIndex { $0.name == "class_probs" })
        stored.nodes[index].softmax = Nnserve_Softmax()
        let decoded = try GraphCoding.decode(stored, source: "test")
        XCTAssertEqual(decoded.node(named: "class_probs")?.operation, .activation(.softmax))
        XCTAssertEqual(decoded, graph)
    }

    func testBfloat16RoundsToNearestEven() {
        XCTAssertEqual(TensorCoding.bfloat16Bits(1), 0x3F80)
        XCTAssertEqual(TensorCoding.bfloat16Bits(Float(bitPattern: 0x3F80_8000)), 0x3F80)
        XCTAssertEqual(TensorCoding.bfloat16Bits(Float(bitPattern: 0x3F81_8000)), 0x3F82)
        XCTAssertTrue(Float(bitPattern: UInt32(TensorCoding.bfloat16Bits(.nan)) << 16).isNaN)
    }

    func testModelFileWritesAtomicallyAndReads() throws {
        let directory = try FormatFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/model.nnm"
        let model = FormatFixtures.smallModel()
        try model.write(to: path)
        var second = model
        second.name = "second"
        try second.write(to: path)
        XCTAssertEqual(try ModelFile.read(from: path), second)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["model.nnm"])
    }

    func testCheckpointRoundTrips() throws {
        var state = TrainingState()
        state.name = "run"
        state.step = 1234
        state.epoch = 7
        state.rng.seed = 42
        state.rng.block = 99
        state.rng.lane = 2
        state.optimizer.kind = "adam"
        state.optimizer.step = 1234
        state.optimizer.hyperparameters = ["lr": 1e-3, "beta1": 0.9]
        state.optimizer.slots = ["deep1/weights": ["m": GraphFixtures.randomBatch(rows: 4, width: 6)]]
        state.split.trainingFile = "train.csv"
        state.split.validationFraction = 0.2
        state.split.targetColumns = ["price"]
        state.modelConfig = "inputs: [x]"
        state.settings = ["batch_size": "32"]
        state.history = [TrainingState.EpochRecord(epoch: 1, metrics: ["loss": 0.5])]
        let checkpoint = CheckpointFile(graph: GraphFixtures.wideAndDeep(inputWidth: 4, hidden: 6), state: state)
        XCTAssertEqual(try CheckpointFile.decode(try checkpoint.encoded(), source: "memory"), checkpoint)
        XCTAssertEqual(try CheckpointFile.decode(try checkpoint.encoded(options: WriteOptions(shuffle: false, compressionLevel: 1, weights: .float32)), source: "memory"), checkpoint)
    }

    func testEveryWireMessageRoundTripsThroughAFrame() throws {
        var predict = Nnserve_Request()
        predict.id = 7
        var input = Nnserve_InputTensor()
        input.name = "x"
        input.shape = [2, 3]
        input.data = [1, 2, 3, 4, 5, 6]
        predict.predict.model = "housing"
        predict.predict.inputs = [input]
        predict.predict.outputs = ["y"]
        predict.predict.timeoutMicros = 5000
        var metadata = Nnserve_Request()
        metadata.id = 8
        metadata.metadata.model = "housing"
        var list = Nnserve_Request()
        list.id = 9
        list.listModels = Nnserve_ListModelsRequest()
        var health = Nnserve_Request()
        health.id = 10
        health.health = Nnserve_HealthRequest()

        var predicted = Nnserve_Response()
        predicted.id = 7
        var output = Nnserve_OutputTensor()
        output.name = "y"
        output.shape = [2, 1]
        output.data = [0.5, 0.25]
        predicted.predict.outputs = [output]
        predicted.predict.version = 3
        var described = Nnserve_Response()
        described.id = 8
        described.metadata.versions = [1, 3]
        var listed = Nnserve_Response()
        listed.id = 9
        var summary = Nnserve_ModelSummary()
        summary.name = "housing"
        summary.versions = [3]
        summary.ready = true
        listed.listModels.models = [summary]
        var healthy = Nnserve_Response()
        healthy.id = 10
        healthy.health.live = true
        var failed = Nnserve_Response()
        failed.id = 11
        failed.error.code = .invalidArgument
        failed.error.message = "input 'x' has 7 features; model 'housing' v3 expects 8"

        var stream: [UInt8] = []
        for request in [predict, metadata, list, health] { stream += try WireProtocol.frame(request) }
        XCTAssertEqual(try Self.readFrames(stream, as: Nnserve_Request.self), [predict, metadata, list, health])
        stream = []
        for response in [predicted, described, listed, healthy, failed] { stream += try WireProtocol.frame(response) }
        XCTAssertEqual(try Self.readFrames(stream, as: Nnserve_Response.self), [predicted, described, listed, healthy, failed])
    }

    func testFrameScanWaitsForWholeFramesAndRefusesOversizedOnes() throws {
        var request = Nnserve_Request()
        request.id = 1
        request.health = Nnserve_HealthRequest()
        let frame = try WireProtocol.frame(request)
        for cut in 0..<frame.count {
            XCTAssertEqual(WireProtocol.scanFrame(frame.prefix(cut)), .needMoreBytes, "prefix \(cut)")
        }
        XCTAssertEqual(WireProtocol.scanFrame([0x01, 0x00, 0x00, 0x01]), .tooLarge(length: 1 << 24 + 1))
    }

    func testPrefaceCheck() {
        XCTAssertEqual(WireProtocol.checkPreface(WireProtocol.preface), .accepted)
        XCTAssertEqual(WireProtocol.checkPreface(WireProtocol.preface.prefix(5)), .needMoreBytes)
        guard case .rejected(let detail) = WireProtocol.checkPreface(Array("GET /v2 HTTP/1.1".utf8)) else {
            return XCTFail("HTTP accepted")
        }
        XCTAssertTrue(detail.contains("HTTP request"), detail)
        guard case .rejected(let version) = WireProtocol.checkPreface(Array("NNSP".utf8) + [0, 0, 0, 9]) else {
            return XCTFail("version 9 accepted")
        }
        XCTAssertTrue(version.contains("version 9"), version)
    }

    func testModelConfigParsesTextFormat() throws {
        let text = """
        name: "housing"
        version_policy { latest { count: 2 } }
        max_batch_size: 64
        max_queue_delay_micros: 500
        preferred_batch_sizes: [16, 32]
        queue_bound: 1024
        instances: 2
        default_timeout_micros: 100000
        """
        let config = try ModelConfigFile.parse(text, source: "models/housing/config.pbtxt")
        XCTAssertEqual(config.versionPolicy.latest.count, 2)
        XCTAssertEqual(config.preferredBatchSizes, [16, 32])
        XCTAssertEqual(try Nnserve_ModelConfig(textFormatString: config.textFormatString()), config)

        XCTAssertThrowsError(try ModelConfigFile.parse("max_batch_size: 8\npreferred_batch_sizes: 16", source: "c.pbtxt")) {
            XCTAssertTrue("\($0)".contains("preferred_batch_sizes contains 16"), "\($0)")
        }
        // A typo is named with its line and the field that was meant, not "unknownField".
        XCTAssertThrowsError(try ModelConfigFile.parse("name: \"a:b\"\nmax_batch: 8", source: "c.pbtxt")) {
            XCTAssertTrue("\($0)".hasPrefix("c.pbtxt: line 2: unknown field 'max_batch' (did you mean 'max_batch_size'?); a ModelConfig has name, version_policy, max_batch_size"), "\($0)")
        }
        XCTAssertThrowsError(try ModelConfigFile.parse("version_policy {\n  latest { cont: 2 }\n}", source: "c.pbtxt")) {
            XCTAssertEqual("\($0)", "c.pbtxt: line 2: unknown field 'cont' (did you mean 'count'?); 'latest' has count")
        }
        XCTAssertNil(ModelConfigFile.unknownField(in: "# max_batch: 1\nversion_policy: { specific { versions: [1, 2] } }\nmax_batch_size: 4"))
        // Angle brackets, a brace on the next line, a colon inside a string: all valid.
        XCTAssertNil(ModelConfigFile.unknownField(in: "version_policy < latest < count: 2 > >\nname: \"a: b\\\" c: d\""))
        XCTAssertNil(ModelConfigFile.unknownField(in: "version_policy\n{\n  latest:\n  { count: 2 }\n}\ninstances: 2\r\n"))
        XCTAssertEqual(ModelConfigFile.unknownField(in: "version_policy\n{\n  all { }\n}\r\nqueue_bond: 3"),
                       "line 5: unknown field 'queue_bond' (did you mean 'queue_bound'?); a ModelConfig has name, version_policy, max_batch_size, max_queue_delay_micros, preferred_batch_sizes, queue_bound, instances, default_timeout_micros")
        XCTAssertThrowsError(try ModelConfigFile.parse("max_batch_size: eight", source: "c.pbtxt")) {
            XCTAssertTrue("\($0)".hasPrefix("c.pbtxt: not a valid ModelConfig"), "\($0)")
        }
    }

    private static func readFrames<M: SwiftProtobuf.Message>(_ stream: [UInt8], as type: M.Type) throws -> [M] {
        var messages: [M] = []
        var rest = stream[...]
        while !rest.isEmpty {
            guard case .frame(let start, let length) = WireProtocol.scanFrame(rest) else {
                XCTFail("incomplete frame")
                break
            }
            let payloadStart = rest.startIndex + start
            messages.append(try M(serializedBytes: Array(rest[payloadStart..<payloadStart + length])))
            rest = rest[(payloadStart + length)...]
        }
        return messages
    }
}
