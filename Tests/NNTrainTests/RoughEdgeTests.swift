import Foundation
import NNCore
import NNFormat
@testable import NNTrain
import XCTest

/// What a new user ran into (issue 12's rough edges): each now stops with a message naming
/// the value, instead of training something else in silence.
final class RoughEdgeTests: XCTestCase {
    private let modelJSON = #"{"inputs": [{"name": "x"}], "layers": [{"name": "h", "type": "dense", "inputs": ["x"], "units": 4, "activaton": "selu"}], "outputs": [{"name": "y", "node": "h", "loss": "mse"}]}"#

    func testUnknownModelKeysNameTheKeyThePathAndTheNearestKey() {
        XCTAssertThrowsError(try ModelSpec.decode(json: Data(modelJSON.utf8), file: "m.json")) {
            XCTAssertTrue("\($0)".hasPrefix("m.json: unknown key 'activaton' at .layers[0] (did you mean 'activation'?); a layer has name, type, inputs, units, activation"), "\($0)")
        }
        let initialiser = modelJSON.replacingOccurrences(of: #""activaton": "selu""#, with: #""initialiser": "lecun_normal""#)
        XCTAssertThrowsError(try ModelSpec.decode(json: Data(initialiser.utf8), file: "m.json")) {
            XCTAssertTrue("\($0)".contains("unknown key 'initialiser' at .layers[0] (did you mean 'initializer'?)"), "\($0)")
        }
        let topLevel = modelJSON.replacingOccurrences(of: #""outputs""#, with: #""outputs": [], "output""#)
        XCTAssertThrowsError(try ModelSpec.decode(json: Data(topLevel.utf8), file: "m.json")) {
            XCTAssertTrue("\($0)".contains("unknown key 'output' at top level (did you mean 'outputs'?)"), "\($0)")
        }
        let head = #"{"inputs": [{"name": "x"}], "layers": [{"name": "h", "type": "dense", "inputs": ["x"], "units": 1}], "outputs": [{"name": "y", "node": "h", "loss": "mse", "target_scales": 1}]}"#
        XCTAssertThrowsError(try ModelSpec.decode(json: Data(head.utf8), file: "m.json")) {
            XCTAssertTrue("\($0)".contains("unknown key 'target_scales' at .outputs[0] (did you mean 'target_scale'?)"), "\($0)")
        }
        let fixed = modelJSON.replacingOccurrences(of: "activaton", with: "activation")
        XCTAssertEqual(try ModelSpec.decode(json: Data(fixed.utf8), file: "m.json").layers[0].activation, "selu")
    }

    func testEditDistance() {
        XCTAssertEqual(ModelSpec.editDistance("activaton", "activation"), 1)
        XCTAssertEqual(ModelSpec.editDistance("kitten", "sitting"), 3)
        XCTAssertEqual(ModelSpec.editDistance("", "abc"), 3)
        XCTAssertEqual(ModelSpec.editDistance("same", "same"), 0)
    }

    func testSettingsNoRunCanUseAreRefusedNamingTheFlag() throws {
        let table = try CSVTable.parse("x,y\n1,2\n2,4\n3,6\n4,8\n5,10\n", file: "d.csv")
        let spec = try ModelSpec.decode(json: Data(modelJSON.replacingOccurrences(of: "activaton", with: "activation").utf8), file: "m.json")
        func refusal(_ change: (inout TrainingSettings) -> Void) -> String {
            var settings = TrainingSettings()
            change(&settings)
            do {
                _ = try Trainer(spec: spec, table: table, settings: settings)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(refusal { $0.epochs = 0 }, "--epochs 0: a run trains at least 1 epoch")
        XCTAssertEqual(refusal { $0.learningRate = -1 }, "--lr -1.0: must be a positive number")
        XCTAssertEqual(refusal { $0.learningRate = .nan }, "--lr nan: must be a positive number")
        XCTAssertEqual(refusal { $0.batchSize = 0 }, "--batch-size 0: must be at least 1")
        XCTAssertEqual(refusal { $0.validationFraction = 1 }, "--validation-fraction 1.0: must be in [0, 1)")
        XCTAssertEqual(refusal { $0.momentum = 1.5 }, "--momentum 1.5: must be in [0, 1)")
        XCTAssertEqual(refusal { $0.clipNorm = 0 }, "--clip-norm 0.0: must be a positive number")
        XCTAssertEqual(refusal { $0.checkpointEvery = 0 }, "--checkpoint-every 0: must be at least 1")
        XCTAssertEqual(refusal { $0.epochs = 1 }, "accepted")
    }

    func testOpeningTheWrongKindOfFileSaysWhatItIsAndWhatOpensIt() throws {
        let path = NSTemporaryDirectory() + "rough-\(UUID().uuidString).nnm"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let graph = Graph(inputs: [GraphInput(name: "x", width: 2)],
                          nodes: [Node(name: "d", operation: .dense(DenseParameters(weights: Tensor(zeros: [2, 1]), bias: Tensor(zeros: [1]), activation: .linear)), inputs: ["x"])],
                          outputs: [GraphOutput(name: "y", node: "d")])
        try ModelFile(name: "m", graph: graph).write(to: path)
        XCTAssertThrowsError(try CheckpointFile.read(from: path)) {
            XCTAssertEqual("\($0)", "\(path) is not an nnserve checkpoint file: it is an nnserve model (.nnm) file; nnexport inspect and nnserve open it")
        }
    }

    func testSummaryLeavesTheModelFileOutUnlessAsked() {
        var state = TrainingState()
        state.modelConfig = "{\n  \"inputs\": []\n}"
        let checkpoint = CheckpointFile(graph: Graph(inputs: [], nodes: [], outputs: []), state: state)
        XCTAssertTrue(RunSummary.describe(checkpoint).hasSuffix("model config: 3 lines (nntrain summary --model-config prints them)"))
        XCTAssertTrue(RunSummary.describe(checkpoint, includeModelConfig: true).hasSuffix("model config:\n{\n  \"inputs\": []\n}"))
    }
}
