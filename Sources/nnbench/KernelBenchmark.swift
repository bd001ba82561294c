import COpenBLAS
import Foundation
import NNCore
import NNFormat
import NNInference

/// Inference speed of the reference models against the pure-GEMM floor and ONNX Runtime.
struct KernelBenchmark {
    struct Result: Codable {
        var model: String
        var batch: Int
        var secondsPerBatch: Double
        var rowsPerSecond: Double
        /// Sum of cblas_sgemm times of the model's layers at this batch, measured in the same run.
        var gemmFloorSeconds: Double
        /// Our throughput over the floor's (1.0 = as fast as the bare matrix products).
        var ratioToGemmFloor: Double
        var ortSeconds: Double?
        /// ONNX Runtime's latency over ours (>1: we are faster).
        var ratioToORT: Double?
        /// "onnxruntime 1.32.0 live" (timed in this run, alternated with ours) or "anchor figure"
        /// (recorded on another day: only a fallback).
        var ortSource: String?
        var kernels: String

        enum CodingKeys: String, CodingKey {
            case model, batch, kernels, rowsPerSecond = "rows_per_s", secondsPerBatch = "seconds_per_batch"
            case gemmFloorSeconds = "gemm_floor_seconds", ratioToGemmFloor = "ratio_to_gemm_floor"
            case ortSeconds = "ort_seconds", ratioToORT = "ratio_to_ort", ortSource = "ort_source"
        }
    }

    var stopwatch: Stopwatch
    var anchors: [String: [String: Double]]
    /// ONNX Runtime run live, when it is installed.
    var ort: AnchorWorker?
    /// Threads for one batch: ours split its rows (`ParallelExecutor`), ONNX Runtime's intra-op
    /// threads; OpenBLAS (the GEMM floor) gets as many.
    var threads = 1
    /// Ours and ONNX Runtime alternate this many times; the fastest of each counts.
    var rounds = 3
    /// Serve the models as stored with `--weights bf16` (a model file written and read back):
    /// bf16 dot products where the kernel set has them. ONNX Runtime keeps fp32.
    var bf16 = false

    /// The model file as nnserve would read it: with bf16 weights, through a bf16 model file.
    private func modelFile(_ model: ReferenceModel) throws -> ModelFile {
        let file = ModelFile(name: model.rawValue, graph: model.graph())
        guard bf16 else { return file }
        let bytes = try file.encoded(options: WriteOptions(shuffle: false, compressionLevel: 1, weights: .bfloat16))
        return try ModelFile.decode(bytes, source: "\(model.rawValue) (bf16)")
    }

    func measure(_ model: ReferenceModel, batch: Int) throws -> Result {
        let file = try modelFile(model)
        let graph = file.graph
        let options = ServedModel.options(for: file, maxRows: max(batch, PlanOptions.defaultMaxRows))
        var rng = CounterRNG(seed: 5)
        let rows = (0..<batch * model.inputWidth).map { _ in rng.nextUniform() * 2 - 1 }
        // One thread: the serving executor. More: the batch split across threads by rows.
        let plan: Plan
        let run: () -> Void
        if threads > 1 {
            let parallel = try ParallelExecutor(graph: graph, options: options, threads: threads)
            rows.withUnsafeBufferPointer { parallel.setInput(0, rows: batch, from: $0.baseAddress!) }
            (plan, run) = (parallel.plan, { parallel.run(rows: batch) })
        } else {
            let executor = Executor(plan: try ServedModel(file, maxRows: options.maxRows).plan)
            rows.withUnsafeBufferPointer { executor.setInput(0, rows: batch, from: $0.baseAddress!) }
            (plan, run) = (executor.plan, { executor.run(rows: batch) })
        }
        var seconds = Double.infinity
        var ortSeconds: Double?
        for _ in 0..<max(1, rounds) {
            seconds = min(seconds, stopwatch.secondsPerCall(run))
            if let ort, let live = ort.secondsPerCall(model: model.rawValue, batch: batch, threads: threads,
                                                      blockSeconds: stopwatch.blockSeconds) {
                ortSeconds = min(ortSeconds ?? .infinity, live)
            }
        }
        var ortSource = ortSeconds.map { _ in "onnxruntime \(ort?.version ?? "") live" }
        if ortSeconds == nil, threads == 1, let anchor = anchors[model.rawValue]?[String(batch)] {
            ortSeconds = anchor / 1e6
            ortSource = "anchor figure"
        }
        let floor = gemmFloor(model, batch: batch)
        return Result(model: model.rawValue, batch: batch, secondsPerBatch: seconds, rowsPerSecond: Double(batch) / seconds,
                      gemmFloorSeconds: floor, ratioToGemmFloor: floor / seconds, ortSeconds: ortSeconds,
                      ratioToORT: ortSeconds.map { $0 / seconds }, ortSource: ortSource,
                      kernels: plan.kernels.rawValue + (plan.computesInBF16 ? " (bf16 weights)" : ""))
    }

    /// Row-major A[batch×k]·W[k×n] per layer, same buffers every call (hot cache): a floor.
    private func gemmFloor(_ model: ReferenceModel, batch: Int) -> Double {
        let shapes = model.layerShapes
        let widest = shapes.map { max($0.k, $0.n) }.max()!
        var rng = CounterRNG(seed: 6)
        let activations = (0..<batch * widest).map { _ in rng.nextUniform() }
        let weights = shapes.map { shape in (0..<shape.k * shape.n).map { _ in rng.nextUniform() - 0.5 } }
        var output = [Float](repeating: 0, count: batch * widest)
        return stopwatch.secondsPerCall {
            output.withUnsafeMutableBufferPointer { c in
                for (index, shape) in shapes.enumerated() {
                    weights[index].withUnsafeBufferPointer { w in
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(batch), Int32(shape.n), Int32(shape.k), 1,
                                    activations, Int32(shape.k), w.baseAddress, Int32(shape.n), 0, c.baseAddress, Int32(shape.n))
                    }
                }
            }
        }
    }

    static func table(_ results: [Result]) -> String {
        let source = Set(results.compactMap(\.ortSource)).sorted().joined(separator: ", ")
        var lines = ["| model | batch | µs/batch | rows/s | GEMM floor µs | × GEMM floor | ORT µs (\(source.isEmpty ? "not run" : source)) | × ORT |",
                     "|---|---|---|---|---|---|---|---|"]
        for result in results {
            let ort = result.ortSeconds.map { String(format: "%.1f", $0 * 1e6) } ?? "–"
            let ratio = result.ratioToORT.map { String(format: "%.2f", $0) } ?? "–"
            lines.append(String(format: "| %@ | %d | %.2f | %.0f | %.2f | %.2f | %@ | %@ |", result.model, result.batch,
                                result.secondsPerBatch * 1e6, result.rowsPerSecond, result.gemmFloorSeconds * 1e6,
                                result.ratioToGemmFloor, ort, ratio))
        }
        return lines.joined(separator: "\n")
    }
}
