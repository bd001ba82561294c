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
        /// With `--weights int8`: ONNX Runtime's own int8 (quantize_dynamic of the same model),
        /// its latency over ours, and each engine's largest error against its own fp32 outputs
        /// (relative to the largest output magnitude) on 256 seeded rows.
        var ortInt8Seconds: Double?
        var ratioToORTInt8: Double?
        var maxRelativeError: Double?
        var ortInt8MaxRelativeError: Double?

        enum CodingKeys: String, CodingKey {
            case model, batch, kernels, rowsPerSecond = "rows_per_s", secondsPerBatch = "seconds_per_batch"
            case gemmFloorSeconds = "gemm_floor_seconds", ratioToGemmFloor = "ratio_to_gemm_floor"
            case ortSeconds = "ort_seconds", ratioToORT = "ratio_to_ort", ortSource = "ort_source"
            case ortInt8Seconds = "ort_int8_seconds", ratioToORTInt8 = "ratio_to_ort_int8"
            case maxRelativeError = "max_relative_error", ortInt8MaxRelativeError = "ort_int8_max_relative_error"
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
    /// Serve the models as stored with `nnexport --weights bf16` or `int8` (a model file written
    /// and read back), the reduced kernel wherever the set has it, so the kernel itself is
    /// measured (a served model takes it only where it measures faster: `PrecisionChooser`).
    /// ONNX Runtime keeps fp32; with int8 its own dynamic int8 runs beside it.
    var weights = WeightStorage.float32
    /// Compile as nnserve does (`PrecisionChooser.measuring`: the reduced kernel only on layers
    /// where it times faster) instead of the reduced kernel wherever it applies.
    var asServed = false

    /// The model file as nnserve would read it, through a file of the chosen storage.
    private func modelFile(_ model: ReferenceModel) throws -> ModelFile {
        let file = ModelFile(name: model.rawValue, graph: model.graph())
        guard weights != .float32 else { return file }
        let bytes = try file.encoded(options: WriteOptions(shuffle: false, compressionLevel: 1, weights: weights))
        return try ModelFile.decode(bytes, source: "\(model.rawValue) (\(weights))")
    }

    func measure(_ model: ReferenceModel, batch: Int) throws -> Result {
        let file = try modelFile(model)
        let graph = file.graph
        var options = ServedModel.options(for: file, maxRows: max(batch, PlanOptions.defaultMaxRows))
        options.precisionChooser = asServed ? .measuring : .reducedWherePossible
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
            let executor = Executor(plan: try Plan(graph: graph, options: options))
            rows.withUnsafeBufferPointer { executor.setInput(0, rows: batch, from: $0.baseAddress!) }
            (plan, run) = (executor.plan, { executor.run(rows: batch) })
        }
        var seconds = Double.infinity
        var ortSeconds: Double?
        var ortInt8Seconds: Double?
        for _ in 0..<max(1, rounds) {
            seconds = min(seconds, stopwatch.secondsPerCall(run))
            if let ort, let live = ort.secondsPerCall(model: model.rawValue, batch: batch, threads: threads,
                                                      blockSeconds: stopwatch.blockSeconds) {
                ortSeconds = min(ortSeconds ?? .infinity, live)
            }
            if weights == .int8, let ort, let live = ort.secondsPerCall(model: model.rawValue + ":int8", batch: batch, threads: threads,
                                                                        blockSeconds: stopwatch.blockSeconds) {
                ortInt8Seconds = min(ortInt8Seconds ?? .infinity, live)
            }
        }
        var ortSource = ortSeconds.map { _ in "onnxruntime \(ort?.version ?? "") live" }
        if ortSeconds == nil, threads == 1, let anchor = anchors[model.rawValue]?[String(batch)] {
            ortSeconds = anchor / 1e6
            ortSource = "anchor figure"
        }
        let floor = gemmFloor(model, batch: batch)
        let reduced = plan.computesInInt8 ? " (int8 weights)" : plan.computesInBF16 ? " (bf16 weights)" : ""
        return Result(model: model.rawValue, batch: batch, secondsPerBatch: seconds, rowsPerSecond: Double(batch) / seconds,
                      gemmFloorSeconds: floor, ratioToGemmFloor: floor / seconds, ortSeconds: ortSeconds,
                      ratioToORT: ortSeconds.map { $0 / seconds }, ortSource: ortSource,
                      kernels: plan.kernels.rawValue + reduced, ortInt8Seconds: ortInt8Seconds,
                      ratioToORTInt8: ortInt8Seconds.map { $0 / seconds },
                      maxRelativeError: weights == .float32 ? nil : try maxRelativeError(model, plan: plan),
                      ortInt8MaxRelativeError: weights == .int8 ? ort?.int8Error(model: model.rawValue) : nil)
    }

    /// Our reduced plan against the fp32 plan of the model as built (before storage), on 256
    /// seeded rows: the largest error relative to the largest output magnitude of the batch
    /// (a one-output row near zero would make a per-row ratio meaningless).
    private func maxRelativeError(_ model: ReferenceModel, plan: Plan) throws -> Double {
        var rng = CounterRNG(seed: 5)
        let rows = Tensor(shape: [256, model.inputWidth], values: (0..<256 * model.inputWidth).map { _ in rng.nextUniform() * 2 - 1 })
        let exact = try Executor(plan: Plan(graph: model.graph())).predict(["x": rows])["y"]!
        let reduced = try Executor(plan: plan).predict(["x": rows])["y"]!
        let largest = exact.scalars.map { abs(Double($0)) }.max() ?? 1
        return zip(reduced.scalars, exact.scalars).map { abs(Double($0) - Double($1)) }.max()! / max(largest, 1e-6)
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
        if results.contains(where: { $0.maxRelativeError != nil }) { return reducedTable(results) }
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

    /// With reduced weights: speed against ONNX Runtime fp32 and (int8) its own int8, and each
    /// engine's error against its fp32 outputs.
    private static func reducedTable(_ results: [Result]) -> String {
        func micros(_ value: Double?) -> String { value.map { String(format: "%.1f", $0 * 1e6) } ?? "–" }
        func ratio(_ value: Double?) -> String { value.map { String(format: "%.2f", $0) } ?? "–" }
        func error(_ value: Double?) -> String { value.map { String(format: "%.2g", $0) } ?? "–" }
        var lines = ["| model | batch | kernels | µs/batch | ORT fp32 µs | × ORT fp32 | ORT int8 µs | × ORT int8 | max rel. error ours | ORT int8 |",
                     "|---|---|---|---|---|---|---|---|---|---|"]
        for result in results {
            lines.append("| \(result.model) | \(result.batch) | \(result.kernels) | \(micros(result.secondsPerBatch)) | \(micros(result.ortSeconds)) | "
                         + "\(ratio(result.ratioToORT)) | \(micros(result.ortInt8Seconds)) | \(ratio(result.ratioToORTInt8)) | "
                         + "\(error(result.maxRelativeError)) | \(error(result.ortInt8MaxRelativeError)) |")
        }
        return lines.joined(separator: "\n")
    }
}
