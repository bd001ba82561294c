import ArgumentParser
import Foundation
import NNExport
import NNFormat
import NNOnnx

extension Exporter.Report {
    /// Warnings on stderr, then what was rewritten and what was written: export and import alike.
    func print() {
        for warning in warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        for rewrite in rewrites { Swift.print("  \(rewrite)") }
        let verified = maxRelativeError.map { String(format: "verified: max relative error %.3g (tolerance %.0e)", $0, tolerance) } ?? "not verified"
        Swift.print("wrote \(path): \(parameters) parameters, \(fileBytes) bytes; \(verified)")
    }
}

extension WeightStorage {
    init(flag: String) throws {
        switch flag {
        case "fp32": self = .float32
        case "fp16": self = .float16
        case "bf16": self = .bfloat16
        default: throw ValidationError("--weights must be fp32, fp16 or bf16, got '\(flag)'")
        }
    }
}

@main
struct NNExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nnexport",
        abstract: "Freeze a training checkpoint into a served model file in a versioned repository; import and export ONNX.",
        subcommands: [Export.self, Import.self, ToOnnx.self, Inspect.self],
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
        @Option(help: "Export the sub-graph ending at this node (an encoder's embedding); a pair model's branch loses its column prefix (left_px0 → px0).") var until: String?
        @Option(help: "OLD=NEW: rename an input of the exported model (repeat for several), e.g. left=pixels for an encoder cut from a pair model.")
        var renameInput: [String] = []
        @Option(help: "Weight storage: fp32, fp16, bf16 (fp16 is upcast at load; bf16 runs with bf16 dot products where the CPU has AVX512_BF16, else upcast).") var weights = "fp32"
        @Flag(help: "Skip reloading and checking the written file.") var noVerify = false
        @Option(help: "nnm (nnserve's model file) or onnx (<repository>/<name>/<version>/model.onnx, opset 17, for any ONNX runtime; nnserve serves it too).") var format = "nnm"

        func run() throws {
            guard ["nnm", "onnx"].contains(format) else { throw ValidationError("--format must be nnm or onnx, got '\(format)'") }
            var options = Exporter.Options(repository: repository)
            options.name = name
            options.version = version
            options.fold = !noFold
            options.outputs = outputs?.split(separator: ",").map(String.init)
            options.until = until
            for assignment in renameInput {
                let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ValidationError("--rename-input \(assignment): expected OLD=NEW") }
                options.renameInputs[parts[0]] = parts[1]
            }
            options.verify = !noVerify
            options.weights = try WeightStorage(flag: weights)
            if format == "onnx" {
                guard options.weights == .float32 else { throw ValidationError("--weights applies to .nnm files; ONNX is written in float32") }
                let (written, _) = try OnnxExport.publish(try CheckpointFile.read(from: checkpoint), options: options)
                for rewrite in written.rewrites { print("  \(rewrite)") }
                print("wrote \(written.path): \(written.bytes) bytes, opset \(OnnxExporter.opset); read back: max relative error \(String(format: "%.3g", written.maxRelativeError))")
                return
            }
            let report = try Exporter.export(try CheckpointFile.read(from: checkpoint), options: options)
            report.print()
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert an ONNX model (PyTorch, scikit-learn, Keras exports of MLPs) into <repository>/<name>/<version>/model.nnm, folded and verified.",
            discussion: "What imports and what is refused: docs/ONNX.md. A model.onnx placed in a version directory is served without this step.")

        @Argument(help: "The ONNX file (external data files are read from its directory).") var model: String
        @Option(help: "Model repository.") var repository = "models"
        @Option(help: "Model name (default: the file's base name).") var name: String?
        @Option(help: "Version (default: the next free one).") var version: Int?
        @Option(help: "Import only these outputs, comma separated (a classifier's 'probabilities' without its 'label').") var outputs: String?
        @Flag(help: "Keep batch norm and constant scaling as nodes (debugging).") var noFold = false
        @Option(help: "Weight storage: fp32, fp16, bf16.") var weights = "fp32"

        func run() throws {
            var options = Exporter.Options(repository: repository)
            options.name = name
            options.version = version
            options.fold = !noFold
            options.outputs = outputs?.split(separator: ",").map(String.init)
            options.weights = try WeightStorage(flag: weights)
            let report = try OnnxImport.publish(model, options: options)
            report.print()
        }
    }

    struct ToOnnx: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "to-onnx",
            abstract: "Write a model file (.nnm) as ONNX (opset 17, IR 8) for ONNX Runtime and other runtimes; checked by reading it back.")

        @Argument(help: "A model file (.nnm).") var model: String
        @Option(name: [.short, .long], help: "The ONNX file to write (default: the model's name + .onnx).") var output: String?

        func run() throws {
            let file = try ModelFile.read(from: model)
            let written = try OnnxExport.write(file, to: output ?? "\(file.name).onnx")
            print("wrote \(written.path): \(written.bytes) bytes, opset \(OnnxExporter.opset); read back: max relative error \(String(format: "%.3g", written.maxRelativeError))")
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
