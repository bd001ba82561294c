import ArgumentParser
import Foundation
import NNCore
import NNExport
import NNFormat
import NNInference

/// `nnbench onnx FILE…`: the user's own ONNX file, imported as nnserve serves it (converted,
/// folded, kernels chosen for this CPU) and run by ONNX Runtime from the same file, one thread
/// each, alternated round by round: both times and the ratio, with the CPU.
struct OnnxBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onnx",
        abstract: "An ONNX file imported by nnserve against ONNX Runtime on the same file: 1 thread, batches 1/8/64/256, alternated.")

    @Argument(help: "ONNX files (make bench-onnx passes the test fixtures).")
    var files: [String]

    @Option(help: "Batch sizes, comma separated.")
    var batches = "1,8,64,256"

    @Option(help: "Rounds of ours and ONNX Runtime alternated; the fastest of each counts.")
    var rounds = 3

    @Option(help: "Seconds per timed block (5 blocks, median taken).")
    var blockSeconds: Double = 0.1

    @Flag(help: "Print one JSON object per file and batch instead of a table.")
    var json = false

    struct Result: Codable {
        var file: String
        var batch: Int
        var seconds: Double
        var ortSeconds: Double?
        var ratio: Double?
        var kernels: String

        enum CodingKeys: String, CodingKey {
            case file, batch, seconds = "seconds_per_batch", ortSeconds = "ort_seconds_per_batch", ratio = "ratio_to_ort", kernels
        }
    }

    func run() throws {
        BLASThreads.set(1)
        let sizes = try NNBench.Kernels.integers(batches, option: "--batches")
        let stopwatch = Stopwatch(blockSeconds: blockSeconds)
        let ort = AnchorWorker.onnxRuntime()
        var results: [Result] = []
        for file in files {
            let path = URL(fileURLWithPath: file).standardizedFileURL.path
            let model = try OnnxImport.modelFile(path, name: (path as NSString).lastPathComponent)
            let served = try ServedModel(model, maxRows: max(sizes.max() ?? 1, PlanOptions.defaultMaxRows))
            let executor = Executor(plan: served.plan)
            for batch in sizes {
                var rng = CounterRNG(seed: 5)
                for (index, input) in model.graph.inputs.enumerated() {
                    let rows = (0..<batch * input.width).map { _ in rng.nextUniform() * 2 - 1 }
                    rows.withUnsafeBufferPointer { executor.setInput(index, rows: batch, from: $0.baseAddress!) }
                }
                var ours = Double.infinity
                var theirs: Double?
                for _ in 0..<max(1, rounds) {
                    ours = min(ours, stopwatch.secondsPerCall { executor.run(rows: batch) })
                    if let live = ort?.secondsPerCall(model: path, batch: batch, threads: 1, blockSeconds: blockSeconds) {
                        theirs = min(theirs ?? .infinity, live)
                    }
                }
                let result = Result(file: (path as NSString).lastPathComponent, batch: batch, seconds: ours, ortSeconds: theirs,
                                    ratio: theirs.map { $0 / ours }, kernels: served.plan.kernels.rawValue)
                if json { try printJSONLine(result) }
                results.append(result)
            }
        }
        guard !json else { return }
        print("nnbench onnx: 1 thread each, fastest of \(rounds) alternated rounds; ONNX Runtime \(ort.map { "\($0.version) live" } ?? "not run (pip install onnxruntime onnx)"); CPU: \(CPUDescription.current)")
        print("| file | batch | nnserve µs | ONNX Runtime µs | × ORT |")
        print("|---|---|---|---|---|")
        for result in results {
            print(String(format: "| %@ | %d | %.2f | %@ | %@ |", result.file, result.batch, result.seconds * 1e6,
                         result.ortSeconds.map { String(format: "%.2f", $0 * 1e6) } ?? "–", result.ratio.map { String(format: "%.2f", $0) } ?? "–"))
        }
    }
}
