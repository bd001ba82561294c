import ArgumentParser
import Foundation
import NNCore
import NNExport
import NNFormat
import NNOnnx
import NNTrain

extension Exporter.Report {
    /// Warnings on stderr, then what was rewritten and what was written: export and import alike.
    func print() {
        for warning in warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        for rewrite in rewrites { Swift.print("  \(rewrite)") }
        if let gate, let gateSource {
            Swift.print("accuracy gate on \(gateSource):")
            for (key, value) in gate.measurements.sorted(by: { $0.key < $1.key }) where key != "rows" {
                Swift.print(String(format: "  %@ %.4g", key.replacingOccurrences(of: "_", with: " "), value))
            }
        }
        let verified = maxRelativeError.map { String(format: "verified: max relative error %.3g (tolerance %.2g)", $0, tolerance) } ?? "not verified"
        Swift.print("wrote \(path): \(parameters) parameters, \(fileBytes) bytes; \(verified)")
    }
}

/// The accuracy gate's options, shared by export and import.
struct GateOptions: ParsableArguments {
    @Option(help: "Reduced weights (fp16, bf16, int8): accuracy points a classifier output may lose against fp32 on the held-out rows (without targets: the share of rows, in points, whose class may change).")
    var maxAccuracyDrop = AccuracyBudget.standard.accuracyPoints
    @Option(help: "Reduced weights: percent a value output's RMSE may grow against fp32 (without targets: the RMS of the change relative to the outputs' spread).")
    var maxRmseIncrease = AccuracyBudget.standard.rmsePercent

    var budget: AccuracyBudget { AccuracyBudget(accuracyPoints: maxAccuracyDrop, rmsePercent: maxRmseIncrease) }

    func validate() throws {
        for (flag, value) in [("--max-accuracy-drop", maxAccuracyDrop), ("--max-rmse-increase", maxRmseIncrease)] where !(value >= 0) {
            throw ValidationError("\(flag) must be a number of points or percent, 0 or more; got \(value)")
        }
    }
}

extension WeightStorage {
    init(flag: String) throws {
        switch flag {
        case "fp32": self = .float32
        case "fp16": self = .float16
        case "bf16": self = .bfloat16
        case "int8": self = .int8
        default: throw ValidationError("--weights must be fp32, fp16, bf16 or int8, got '\(flag)'")
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
        @Option(help: "Weight storage: fp32, fp16, bf16 or int8 (fp16 is upcast at load; bf16 and int8 run with bf16/int8 dot products on each layer where they measure faster than fp32 on the serving CPU). Reduced weights are measured against fp32 on held-out rows first (--data, else the run's validation rows) and refused beyond the budget.") var weights = "fp32"
        @Option(help: "With reduced --weights: held-out rows (CSV with the training columns and targets) for the accuracy gate; default: the run's validation rows, read again from its data file.") var data: String?
        @OptionGroup var gate: GateOptions
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
            let file = try CheckpointFile.read(from: checkpoint)
            if options.weights != .float32 {
                options.budget = gate.budget
                options.heldOut = try heldOutRows(file)
            } else if data != nil {
                throw ValidationError("--data is for the accuracy gate of reduced --weights (fp16, bf16, int8)")
            }
            let report = try Exporter.export(file, options: options)
            report.print()
        }

        /// The rows the gate measures on, with the heads' targets; nil (synthetic rows, said in
        /// the report) when the run's data files are gone or the exported graph renamed its inputs.
        private func heldOutRows(_ file: CheckpointFile) throws -> HeldOutRows? {
            let rows: TrainingData
            if let data {
                rows = try Trainer.heldOutRows(of: file, table: try CSVTable.read(data, delimiter: file.state.split.delimiter))
            } else {
                do {
                    rows = try Trainer.heldOutRows(of: file)
                } catch {
                    FileHandle.standardError.write(Data("note: the accuracy gate measures on synthetic rows: the run's validation rows cannot be read (\(error)); give --data\n".utf8))
                    return nil
                }
            }
            // Inputs the exported graph does not read (`--outputs` of a multi-input model) are
            // dropped by the exporter; renamed or cut ones are not the run's.
            let renamed = until != nil || !renameInput.isEmpty
            guard rows.rows > 0, !renamed else {
                FileHandle.standardError.write(Data("note: the accuracy gate measures on synthetic rows: \(rows.rows == 0 ? "the run kept no validation rows" : "the exported graph's inputs are not the run's")\n".utf8))
                return nil
            }
            return HeldOutRows(inputs: rows.inputs, targets: rows.targets,
                               source: data.map { "\(rows.rows) rows of \($0)" } ?? "the run's \(rows.rows) validation rows")
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
        @Option(help: "Weight storage: fp32, fp16, bf16 or int8 (reduced weights are measured against fp32 on synthetic rows first).") var weights = "fp32"
        @OptionGroup var gate: GateOptions

        func run() throws {
            var options = Exporter.Options(repository: repository)
            options.budget = gate.budget
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
        @Flag(help: "Also show the plan nnserve compiles on this CPU: its steps and, for bf16/int8 weights, each layer's kernel choice with the timings behind it.") var explain = false

        func run() throws {
            let inspection = try ModelInspection.inspect(model)
            if json {
                let encoder = JSONEncoder()
                encoder.keyEncodingStrategy = .convertToSnakeCase
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(inspection), as: UTF8.self))
            } else {
                print(inspection.text(explain: explain))
            }
            guard inspection.problems.isEmpty else { throw ExitCode.failure }
        }
    }
}
