import ArgumentParser
import Foundation
import NNExport
import NNFormat

@main
struct NNExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nnexport",
        abstract: "Freeze a training checkpoint into a served model file in a versioned repository.",
        subcommands: [Export.self, Inspect.self],
        defaultSubcommand: Export.self
    )
}

extension NNExportCommand {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write <repository>/<name>/<version>/model.nnm from a checkpoint (batch norm frozen, dropout removed, folded, verified).")

        @Argument(help: "The checkpoint (run.ckpt).") var checkpoint: String
        @Option(help: "Model repository.") var repository = "models"
        @Option(help: "Model name (default: the checkpoint's run name).") var name: String?
        @Option(help: "Version (default: the next free one).") var version: Int?
        @Flag(help: "Keep batch norm and standardization as nodes (debugging).") var noFold = false
        @Option(help: "Export only these outputs, comma separated.") var outputs: String?
        @Option(help: "Export the sub-graph ending at this node (an encoder's embedding).") var until: String?
        @Option(help: "Weight storage: fp32, fp16, bf16 (fp16 is upcast at load; bf16 runs with bf16 dot products where the CPU has AVX512_BF16, else upcast).") var weights = "fp32"
        @Flag(help: "Skip reloading and checking the written file.") var noVerify = false

        func run() throws {
            var options = Exporter.Options(repository: repository)
            options.name = name
            options.version = version
            options.fold = !noFold
            options.outputs = outputs?.split(separator: ",").map(String.init)
            options.until = until
            options.verify = !noVerify
            switch weights {
            case "fp32": options.weights = .float32
            case "fp16": options.weights = .float16
            case "bf16": options.weights = .bfloat16
            default: throw ValidationError("--weights must be fp32, fp16 or bf16, got '\(weights)'")
            }
            let report = try Exporter.export(try CheckpointFile.read(from: checkpoint), options: options)
            for warning in report.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
            for rewrite in report.rewrites { print("  \(rewrite)") }
            let verified = report.maxRelativeError.map { String(format: "verified: max relative error %.3g (tolerance %.0e)", $0, report.tolerance) } ?? "not verified"
            print("wrote \(report.path): \(report.parameters) parameters, \(report.fileBytes) bytes; \(verified)")
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Graph, shapes, parameters, folds, metadata and size of a model file; exits 1 when nnserve would refuse it or its weights are not finite.")

        @Argument(help: "A model file (.nnm).") var model: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let inspection = try ModelInspection.inspect(model)
            if json {
                let encoder = JSONEncoder()
                encoder.keyEncodingStrategy = .convertToSnakeCase
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(inspection), as: UTF8.self))
            } else {
                print(inspection.text)
            }
            guard inspection.problems.isEmpty else { throw ExitCode.failure }
        }
    }
}
