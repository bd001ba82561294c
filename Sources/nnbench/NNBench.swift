import ArgumentParser
import Foundation
import NNCore
import NNExport
import NNFormat
import NNInference
import NNTrain

@main
struct NNBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nnbench",
        abstract: "Benchmarks of nnserve's kernels and file format (figures go to docs/BENCHMARKS.md).",
        subcommands: [Kernels.self, Crossover.self, ContainerSizesCommand.self, Train.self, WriteModels.self, RawRows.self, OnnxBenchmark.self]
    )
}

/// One JSON object on one line, keys sorted, for scripts.
func printJSONLine(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

struct TimingOptions: ParsableArguments {
    @Option(help: "Seconds per timed block (5 blocks, median taken).")
    var blockSeconds: Double = 0.1

    @Option(help: "Threads per batch: ours (the batch split by rows), ONNX Runtime's intra-op threads, OpenBLAS's for the GEMM floor.")
    var threads: Int = 1

    var stopwatch: Stopwatch { Stopwatch(blockSeconds: blockSeconds) }
}

extension NNBench {
    struct Kernels: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Inference time of M1-M4 per batch, against the GEMM floor and ONNX Runtime.")

        @OptionGroup var timing: TimingOptions

        @Option(help: "Models, comma separated (M1,M2,M3,M4).")
        var models = "M1,M2,M3,M4"

        @Option(help: "Batch sizes, comma separated.")
        var batches = "1,8,64,256"

        @Option(help: "ONNX Runtime anchor figures (JSON), used only when ONNX Runtime cannot run live.")
        var anchors = "bench/anchors.json"

        @Option(help: "Run ONNX Runtime live and alternate it with ours (auto: when `pip install onnxruntime onnx` is done; off).")
        var ort = "auto"

        @Option(help: "Rounds of ours and ONNX Runtime alternated; the fastest of each counts.")
        var rounds = 3

        @Flag(help: "Print one JSON object per model and batch instead of a table.")
        var json = false

        @Option(help: "Weights as stored: fp32, bf16 or int8 (served as a `nnexport --weights` model of that storage, the reduced kernel on every layer it applies to; ONNX Runtime stays fp32, and with int8 its own quantize_dynamic int8 runs beside it).")
        var weights = "fp32"

        @Flag(help: "With bf16/int8 weights: compile as nnserve does, the reduced kernel only on layers where it times faster than fp32 here (default: on every layer it applies to, to measure the kernel itself).")
        var asServed = false

        func run() throws {
            BLASThreads.set(timing.threads)
            guard ort == "auto" || ort == "off" else { throw ValidationError("--ort: '\(ort)' is neither auto nor off") }
            let storage: WeightStorage
            switch weights {
            case "fp32": storage = .float32
            case "bf16": storage = .bfloat16
            case "int8": storage = .int8
            default: throw ValidationError("--weights: '\(weights)' is not fp32, bf16 or int8")
            }
            let benchmark = KernelBenchmark(stopwatch: timing.stopwatch, anchors: try Self.loadAnchors(anchors),
                                            ort: ort == "auto" ? AnchorWorker.onnxRuntime() : nil, threads: timing.threads, rounds: rounds,
                                            weights: storage, asServed: asServed)
            var results: [KernelBenchmark.Result] = []
            for name in models.split(separator: ",") {
                guard let model = ReferenceModel(rawValue: String(name)) else {
                    throw ValidationError("unknown model '\(name)'; choose from \(ReferenceModel.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                for batch in try Self.integers(batches, option: "--batches") {
                    let result = try benchmark.measure(model, batch: batch)
                    if json { try printJSONLine(result) }
                    results.append(result)
                }
            }
            if !json {
                print("nnbench kernels: kernels \(KernelSet.detected) (\(KernelSet.environmentVariable) to force one of "
                      + "\(KernelSet.supported.map(\.rawValue).joined(separator: ", "))), \(timing.threads) ORT/BLAS thread(s), "
                      + "fastest of \(rounds) alternated rounds; CPU: \(CPUDescription.current)")
                print(KernelBenchmark.table(results))
            }
        }

        static func loadAnchors(_ path: String) throws -> [String: [String: Double]] {
            guard let data = FileManager.default.contents(atPath: path) else { return [:] }
            struct File: Decodable {
                var ortSingleThreadMicros: [String: [String: Double]]
                enum CodingKeys: String, CodingKey { case ortSingleThreadMicros = "ort_single_thread_micros" }
            }
            return try JSONDecoder().decode(File.self, from: data).ortSingleThreadMicros
        }

        static func integers(_ list: String, option: String) throws -> [Int] {
            try list.split(separator: ",").map { item in
                guard let value = Int(item), value > 0 else { throw ValidationError("\(option): '\(item)' is not a positive integer") }
                return value
            }
        }
    }

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Training samples/s of M1-M4 at 1 and 2 threads, against PyTorch (live when installed, else anchor figures).")

        @Option(help: "Configurations model:batch, comma separated.")
        var configs = "M1:32,M2:32,M2:256,M3:256,M4:64"

        @Option(help: "Thread counts, comma separated.")
        var threads = "1,2"

        @Option(help: "Minimum measured seconds per configuration (after a warm-up epoch).")
        var minSeconds = 3.0

        @Option(help: "PyTorch anchor figures (JSON), used only when PyTorch cannot run live.")
        var anchors = "bench/anchors.json"

        @Option(help: "Run PyTorch live and alternate it with ours (auto: when `pip install torch` is done and bench/anchors is there; off).")
        var pytorch = "auto"

        @Option(help: "Rounds of ours and PyTorch alternated; the best of each counts.")
        var rounds = 2

        @Flag(help: "Print one JSON object per configuration instead of a table.")
        var json = false

        func run() throws {
            AllocatorTuning.keepLargeBlocksOnTheHeap()
            guard pytorch == "auto" || pytorch == "off" else { throw ValidationError("--pytorch: '\(pytorch)' is neither auto nor off") }
            struct File: Decodable {
                var pytorchTrainSamplesPerSecond: [String: [String: Double]]
                enum CodingKeys: String, CodingKey { case pytorchTrainSamplesPerSecond = "pytorch_train_samples_per_s" }
            }
            let figures = FileManager.default.contents(atPath: anchors)
                .flatMap { try? JSONDecoder().decode(File.self, from: $0).pytorchTrainSamplesPerSecond } ?? [:]
            let worker = pytorch == "auto" ? AnchorWorker.pytorch() : nil
            let benchmark = TrainingBenchmark(minSeconds: minSeconds, anchors: figures, pytorch: worker, rounds: rounds)
            if !json {
                print("nnbench train: best of \(rounds) alternated rounds; PyTorch \(worker.map { "torch \($0.version) live (the faster of Adam and fused Adam)" } ?? "from anchor figures (not installed)"); CPU: \(CPUDescription.current)")
                print("| model | batch | threads | samples/s | PyTorch samples/s | PyTorch source | × PyTorch |")
                print("|---|---|---|---|---|---|---|")
            }
            for config in configs.split(separator: ",") {
                let parts = config.split(separator: ":")
                guard parts.count == 2, let model = ReferenceModel(rawValue: String(parts[0])), let batch = Int(parts[1]) else {
                    throw ValidationError("--configs: '\(config)' is not MODEL:BATCH (M1-M4)")
                }
                for threadCount in try Kernels.integers(threads, option: "--threads") {
                    let result = try benchmark.measure(model, batch: batch, threads: threadCount)
                    if json {
                        try printJSONLine(result)
                    } else {
                        print(String(format: "| %@ | %d | %d | %.0f | %@ | %@ | %@ |", result.model, batch, threadCount, result.samplesPerSecond,
                                     result.pytorchSamplesPerSecond.map { String(format: "%.0f", $0) } ?? "–", result.pytorchSource ?? "–",
                                     result.ratioToPyTorch.map { String(format: "%.2f", $0) } ?? "–"))
                    }
                }
            }
        }
    }

    struct WriteModels: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "write-models", abstract: "Write M1-M4 (seeded weights) as a model repository, for serving benchmarks.")

        @Argument(help: "Repository to create (m1..m4 version 1).") var repository: String

        func run() throws {
            for model in ReferenceModel.allCases {
                let directory = "\(repository)/\(model.rawValue.lowercased())/1"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try Exporter.selfTestedModel(name: model.rawValue.lowercased(), graph: model.graph()).write(to: "\(directory)/model.nnm")
                print("wrote \(directory)/model.nnm (\(model.summary))")
            }
        }
    }

    struct Crossover: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The kernel set's tiled Dense kernel vs sgemm per reference layer shape and row count.")

        @OptionGroup var timing: TimingOptions

        @Option(help: "Row counts, comma separated.")
        var rows = "1,2,4,8,12,16,24,32,48,64"

        func run() throws {
            BLASThreads.set(timing.threads)
            let crossover = KernelCrossover(stopwatch: timing.stopwatch)
            let rowCounts = try Kernels.integers(rows, option: "--rows")
            print("| layer k×n | " + rowCounts.map { "\($0) rows" }.joined(separator: " | ") + " |")
            print("|---|" + rowCounts.map { _ in "---|" }.joined())
            var seen = Set<String>()
            for model in ReferenceModel.allCases {
                for shape in model.layerShapes where seen.insert("\(shape.k)x\(shape.n)").inserted {
                    let cells = try crossover.rows(k: shape.k, n: shape.n, rowCounts: rowCounts).map { row in
                        String(format: "%.2f", row.gemm / row.small)
                    }
                    print("| \(shape.k)×\(shape.n) | " + cells.joined(separator: " | ") + " |")
                }
            }
            print("cells: sgemm time / tiled-kernel time (>1: ours is faster); kernels \(KernelSet.detected), CPU: \(CPUDescription.current)")
        }
    }

    struct RawRows: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "raw-rows",
            abstract: "What a request of raw rows (strings, gaps) costs a model taking them: encoding (lookups per second) against ready features, and the run.")

        @OptionGroup var timing: TimingOptions
        @Option(help: "A model taking raw rows.") var model = "models/titanic/1/model.nnm"
        @Option(help: "Raw CSV rows with its columns.") var data = "datasets/titanic.csv"
        @Option(help: "Rows per request, comma separated.") var rows = "1,16,64,256"
        @Flag(help: "One JSON line per row count.") var json = false

        func run() throws {
            let benchmark = RawRowsBenchmark(stopwatch: timing.stopwatch)
            if !json {
                print("| rows | encode µs | lookups/s | features µs | run µs | raw / numeric |")
                print("|---|---|---|---|---|---|")
            }
            for count in try Kernels.integers(rows, option: "--rows") {
                let result = try benchmark.measure(model: model, data: data, rows: count)
                if json { try printJSONLine(result); continue }
                print(String(format: "| %d | %.2f | %.3g | %.2f | %.2f | %.2f |", count, result.encodeMicros, result.lookupsPerSecond,
                             result.featuresMicros, result.runMicros, result.rawOverNumeric))
            }
            if !json { print("model \(model), \(data); kernels \(KernelSet.detected), CPU: \(CPUDescription.current)") }
        }
    }

    struct ContainerSizesCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "container-sizes",
            abstract: "Size of a model under each storage choice: M3 (2.4M parameters, seeded weights) or a trained checkpoint's graph.")

        @Option(help: "A checkpoint whose (trained) graph to measure instead of M3.") var checkpoint: String?

        func run() throws {
            let graph = try checkpoint.map { try CheckpointFile.read(from: $0).graph } ?? ReferenceModel.m3.graph()
            print("model \(checkpoint ?? "M3 \(ReferenceModel.m3.summary)"): \(graph.parameterCount) parameters")
            print("| storage | bytes | ratio to raw |")
            print("|---|---|---|")
            let rows = try ContainerSizes().measure(graph)
            for row in rows {
                print(String(format: "| %@ | %d | %.3f |", row.label, row.bytes, Double(row.bytes) / Double(rows[0].bytes)))
            }
        }
    }
}
