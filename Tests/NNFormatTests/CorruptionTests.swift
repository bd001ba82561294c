import Foundation
import NNCore
@testable import NNFormat
import NNTestSupport
import SwiftProtobuf
import XCTest

/// Every way a file can be damaged or lie gives a typed error that names the file.
final class CorruptionTests: XCTestCase {
    private let source = "models/fixture/1/model.nnm"

    private func decodeError(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> FormatError? {
        do {
            _ = try ModelFile.decode(bytes, source: source)
            XCTFail("decoded damaged bytes", file: file, line: line)
            return nil
        } catch {
            XCTAssertTrue(error.description.hasPrefix(source), "message does not name the file: \(error)", file: file, line: line)
            return error
        }
    }

    func testEveryPrefixIsTruncated() throws {
        let bytes = try FormatFixtures.smallModel().encoded()
        for length in 0..<bytes.count {
            guard let error = decodeError(Array(bytes.prefix(length))) else { continue }
            guard case .truncated = error else {
                XCTFail("prefix \(length): \(error)")
                continue
            }
        }
    }

    func testAFlippedByteAnywhereIsCaught() throws {
        let bytes = try FormatFixtures.smallModel().encoded()
        for position in 0..<bytes.count {
            var damaged = bytes
            damaged[position] ^= 0x5A
            guard let error = decodeError(damaged) else { continue }
            switch (position, error) {
            case (0..<4, .wrongMagic), (4..<32, .corruptHeader), (32..., .checksumMismatch): break
            default: XCTFail("byte \(position): unexpected \(error)")
            }
        }
    }

    func testCheckpointIsNotAModel() throws {
        let checkpoint = CheckpointFile(graph: GraphFixtures.mlp([3, 2]), state: TrainingState())
        guard case .wrongMagic(_, let expected, let found) = decodeError(try checkpoint.encoded()) else {
            return XCTFail("checkpoint accepted as model")
        }
        XCTAssertEqual(expected.magic, Array("NNMF".utf8))
        XCTAssertEqual(found, Array("NNCK".utf8))
    }

    func testNewerContainerVersionIsRefused() throws {
        let bytes = FormatFixtures.withHeaderField(try FormatFixtures.smallModel().encoded(), offset: 4, value: UInt16(2))
        XCTAssertEqual(decodeError(bytes), .newerVersion(source: source, found: 2, supported: 1))
    }

    func testContainerVersionZeroIsRefused() throws {
        let bytes = FormatFixtures.withHeaderField(try FormatFixtures.smallModel().encoded(), offset: 4, value: UInt16(0))
        XCTAssertEqual(decodeError(bytes), .invalidVersion(source: source, found: 0))
    }

    func testUnknownFlagsAreRefused() throws {
        let bytes = FormatFixtures.withHeaderField(try FormatFixtures.smallModel().encoded(), offset: 6, value: UInt16(0x8001))
        XCTAssertEqual(decodeError(bytes), .unknownFlags(source: source, flags: 0x8000))
    }

    func testLyingPayloadLengthNeverAllocates() throws {
        let bytes = FormatFixtures.withHeaderField(try FormatFixtures.smallModel().encoded(), offset: 16, value: UInt64(1) << 50)
        XCTAssertEqual(decodeError(bytes), .tooLarge(source: source, what: "decompressed payload", size: 1 << 50, limit: 1 << 30))
        let smaller = FormatFixtures.withHeaderField(try FormatFixtures.smallModel().encoded(), offset: 16, value: UInt64(1000))
        guard case .decompression = decodeError(smaller) else { return XCTFail("size mismatch accepted") }
    }

    func testTrailingBytesAreRefused() throws {
        guard case .malformedMessage = decodeError(try FormatFixtures.smallModel().encoded() + [0]) else {
            return XCTFail("trailing byte accepted")
        }
    }

    /// A well-formed container around a message whose content lies.
    private func container(_ model: Nnserve_Model) throws -> [UInt8] {
        try Container.encode(payload: try model.serializedBytes(), kind: .model, flags: [])
    }

    private func storedFixture() -> Nnserve_Model {
        var stored = Nnserve_Model()
        stored.name = "fixture"
        stored.graph = GraphCoding.encode(GraphFixtures.mlp([3, 4, 1]))
        return stored
    }

    func testTensorShapeThatDoesNotMatchItsData() throws {
        var stored = storedFixture()
        guard case .dense(var dense) = stored.graph.nodes[0].operation else { return XCTFail("fixture changed") }
        dense.weights.data.removeLast(4)
        stored.graph.nodes[0].operation = .dense(dense)
        XCTAssertEqual(decodeError(try container(stored)),
                       .invalidTensor(source: source, tensor: "dense1/weights", detail: "has shape [3, 4] but 44 bytes of float32 data"))
    }

    func testHugeShapeIsRefusedBeforeAllocating() throws {
        var stored = storedFixture()
        guard case .dense(var dense) = stored.graph.nodes[0].operation else { return XCTFail("fixture changed") }
        dense.weights.shape = [Int64(Int32.max), Int64(Int32.max)]
        stored.graph.nodes[0].operation = .dense(dense)
        guard case .invalidTensor(_, "dense1/weights", _) = decodeError(try container(stored)) else {
            return XCTFail("huge shape accepted")
        }
        dense.weights.shape = [-3, -4]
        stored.graph.nodes[0].operation = .dense(dense)
        guard case .invalidTensor(_, "dense1/weights", _) = decodeError(try container(stored)) else {
            return XCTFail("negative shape accepted")
        }
    }

    func testGraphReferencingAMissingNode() throws {
        var stored = storedFixture()
        stored.graph.nodes[1].inputs = ["encoder"]
        XCTAssertEqual(decodeError(try container(stored)),
                       .invalidGraph(source: source, error: .unknownReference(node: "dense2", reference: "encoder")))
        XCTAssertEqual(decodeError(try container(stored))?.description,
                       "\(source): invalid graph: node 'dense2' reads 'encoder', which is neither a graph input nor a node")
    }

    func testNodeWithoutOperationAndGarbagePayload() throws {
        var stored = storedFixture()
        stored.graph.nodes[0].operation = nil
        guard case .malformedMessage = decodeError(try container(stored)) else { return XCTFail("empty node accepted") }
        let garbage = try Container.encode(payload: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F], kind: .model, flags: [])
        guard case .malformedMessage = decodeError(garbage) else { return XCTFail("garbage accepted") }
    }

    func testSelfTestShapesAreChecked() throws {
        var model = FormatFixtures.smallModel()
        model.selfTests[0].inputs[0].tensor = Tensor(shape: [2, 5], values: [Float](repeating: 0, count: 10))
        XCTAssertEqual(decodeError(try model.encoded()),
                       .invalidTensor(source: source, tensor: "self-test 0 input 'features'", detail: "has shape [2, 5], expected [rows, 4]"))
    }

    func testMissingFileNamesThePath() {
        XCTAssertThrowsError(try ModelFile.read(from: "/nonexistent/model.nnm")) { error in
            XCTAssertTrue("\(error)".hasPrefix("/nonexistent/model.nnm: cannot open"), "\(error)")
        }
    }
}
