import Foundation
import NNCore
import NNInference
import NNTrain

/// Training throughput of the reference models, measured like bench/anchors (RESULTS.md §3):
/// 20,000 synthetic rows, the first epoch excluded, then at least `minSeconds` and 2 epochs.
/// With PyTorch installed it runs live (`AnchorWorker.pytorch`), alternated with ours over
/// `rounds`, the best of each counting; otherwise the recorded anchor figures, labelled so.
struct TrainingBenchmark {
    struct Result: Codable {
        var model: String
        var batch: Int
        var threads: Int
        var samplesPerSecond: Double
        var pytorchSamplesPerSecond: Double?
        /// "torch 2.15.0 live, fused Adam" or "anchor figure (RESULTS.md §3)".
        var pytorchSource: String?
        var ratioToPyTorch: Double?

        enum CodingKeys: String, CodingKey {
            case model, batch, threads, samplesPerSecond = "samples_per_s"
            case pytorchSamplesPerSecond = "pytorch_samples_per_s", pytorchSource = "pytorch_source", ratioToPyTorch = "ratio_to_pytorch"
        }
    }

    static let rows = 20_000
    var minSeconds: Double
    var anchors: [String: [String: Double]]
    var pytorch: AnchorWorker?
    var rounds = 2

    func measure(_ model: ReferenceModel, batch: Int, threads: Int) throws -> Result {
        var ours = 0.0
        var theirs: (samples: Double, optimizer: String)?
        for _ in 0..<max(1, rounds) {
            ours = max(ours, try samplesPerSecond(model, batch: batch, threads: threads))
            if let live = pytorch?.trainingSamplesPerSecond(model: model.rawValue, batch: batch, threads: threads, minSeconds: minSeconds),
               live.0 > theirs?.samples ?? 0 {
                theirs = (live.0, live.optimizer)
            }
        }
        let source: String?
        let reference: Double?
        if let theirs, let pytorch {
            (reference, source) = (theirs.samples, "torch \(pytorch.version) live, \(theirs.optimizer == "fused" ? "fused Adam" : "Adam")")
        } else {
            reference = anchors["\(model.rawValue)_b\(batch)"]?[String(threads)]
            source = reference.map { _ in "anchor figure (RESULTS.md §3)" }
        }
        return Result(model: model.rawValue, batch: batch, threads: threads, samplesPerSecond: ours,
                      pytorchSamplesPerSecond: reference, pytorchSource: source, ratioToPyTorch: reference.map { ours / $0 })
    }

    private func samplesPerSecond(_ model: ReferenceModel, batch: Int, threads: Int) throws -> Double {
        SharedKernels.setTrainingThreads(threads)
        let graph = model.graph()
        let (data, head) = syntheticData(model, graph: graph)
        var settings = TrainingSettings()
        settings.batchSize = batch
        settings.epochs = 1_000
        var trainer = try Trainer(graph: graph, heads: [head], training: data, settings: settings)
        _ = try trainer.trainOneEpoch()
        var epochs = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            _ = try trainer.trainOneEpoch()
            epochs += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < minSeconds || epochs < 2
        return Double(epochs * Self.rows) / elapsed
    }

    /// Normal features; M2 gets class labels (cross-entropy fused with its softmax output),
    /// the others regression targets (MSE).
    private func syntheticData(_ model: ReferenceModel, graph: Graph) -> (TrainingData, ModelSpec.Head) {
        var rng = CounterRNG(seed: 77)
        let inputs = Tensor(shape: [Self.rows, model.inputWidth], values: (0..<Self.rows * model.inputWidth).map { _ in rng.nextNormal() })
        let outputWidth = model.layerShapes.last!.n
        if model == .m2 {
            let labels = Tensor(shape: [Self.rows, 1], values: (0..<Self.rows).map { _ in Float(rng.nextWord() % UInt32(outputWidth)) })
            return (TrainingData(inputs: ["x": inputs], targets: ["y": labels], rows: Self.rows),
                    .init(name: "y", node: graph.outputs[0].node, loss: .sparseCategoricalCrossEntropy))
        }
        let targets = Tensor(shape: [Self.rows, outputWidth], values: (0..<Self.rows * outputWidth).map { _ in rng.nextNormal() })
        return (TrainingData(inputs: ["x": inputs], targets: ["y": targets], rows: Self.rows),
                .init(name: "y", node: graph.outputs[0].node, loss: .mse))
    }
}
