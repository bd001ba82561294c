import Foundation
import NNCore
import NNFormat
import NNInference

/// What `nnexport inspect` shows: graph, shapes, parameters, folds, metadata, size.
public struct ModelInspection: Codable, Sendable {
    public struct Input: Codable, Sendable {
        var name: String
        var width: Int
        var standardized: Bool
        var featureNames: [String]
        /// The raw columns of an input taking raw rows (`RawColumn.summary`).
        var columns: [String]
    }

    public struct Output: Codable, Sendable {
        var name: String
        var node: String
        var width: Int
        var scale: Float
        var labels: [String]
    }

    public struct NodeInfo: Codable, Sendable {
        var name: String
        var kind: String
        var inputs: [String]
        var width: Int
        var parameters: Int
    }

    public var name: String
    public var fileBytes: Int
    public var parameters: Int
    /// fileBytes over the float32 size of the parameters.
    public var compressionRatio: Double
    public var inputs: [Input]
    public var outputs: [Output]
    public var nodes: [NodeInfo]
    public var folds: [String]
    public var producer: String
    public var createdUnixMillis: Int64
    public var trainingMetrics: [String: Double]
    public var selfTestRows: Int
    public var selfTestMaxRelativeError: Double?
    /// The tolerance the server applies (the file's own, as nnexport wrote it).
    public var selfTestTolerance: Double?
    /// What would make nnserve refuse the file, or make its answers wrong; empty when none.
    public var problems: [String]
    /// How the Dense weights are stored: float32, float16, bfloat16 or int8.
    public var weights: String
    /// What export's accuracy gate measured for reduced weights (empty for fp32).
    public var precisionGate: [String: Double]
    /// The plan nnserve compiles on this CPU: its kernel set, its steps, and (reduced weights)
    /// why each layer runs the kernel it runs, as timed here (`--explain`).
    public var kernelSet: String
    public var planSteps: [String]
    public var kernelChoices: [String]

    public static func inspect(_ path: String) throws -> ModelInspection {
        let bytes = try AtomicFile.read(path, limit: ReadLimits.default.maxPayloadBytes)
        let model = try ModelFile.decode(bytes, source: path)
        let widths = try model.graph.validate().widths
        let parameters = model.graph.parameterCount
        let served = try ServedModel(model)
        let selfTest = served.selfTest
        let (maxError, tolerance) = (selfTest.maxRelativeError, selfTest.tolerance)
        var problems = model.graph.nodes.compactMap { node -> String? in
            nonFiniteParameters(node.operation).map { "\($0) of node '\(node.name)' are not finite" }
        }
        switch selfTest {
        case .untested:
            problems.append("no self-test rows (nnexport always writes them): nnserve refuses the file without --allow-untested-models")
        case .failed(let error, let tolerance):
            problems.append("self-test failed: max relative error \(error) exceeds the tolerance \(tolerance): nnserve refuses the file")
        case .passed:
            break
        }
        return ModelInspection(
            name: model.name, fileBytes: bytes.count, parameters: parameters,
            compressionRatio: Double(bytes.count) / Double(max(parameters * 4, 1)),
            inputs: model.graph.inputs.map { Input(name: $0.name, width: $0.width, standardized: $0.standardization != nil, featureNames: $0.featureNames,
                                                         columns: $0.columns.map(\.summary)) },
            outputs: model.graph.outputs.map { Output(name: $0.name, node: $0.node, width: widths[$0.node] ?? 0, scale: $0.scale, labels: $0.labels) },
            nodes: model.graph.nodes.map { NodeInfo(name: $0.name, kind: Self.kind($0.operation), inputs: $0.inputs, width: widths[$0.name] ?? 0,
                                                    parameters: $0.operation.parameterCount) },
            folds: model.metadata.folds, producer: "\(model.metadata.producer) \(model.metadata.producerVersion)",
            createdUnixMillis: model.metadata.createdUnixMillis, trainingMetrics: model.metadata.trainingMetrics,
            selfTestRows: model.selfTests.reduce(0) { $0 + ($1.inputs.first?.tensor.shape[0] ?? 0) },
            selfTestMaxRelativeError: maxError, selfTestTolerance: tolerance, problems: problems,
            weights: model.weightStorage.rawValue, precisionGate: model.metadata.precisionGate, kernelSet: served.plan.kernels.rawValue,
            planSteps: served.plan.stepDescriptions, kernelChoices: served.plan.precisionChoices)
    }

    /// Which parameters of an operation hold NaN or infinity ("weights", "bias", …), if any.
    private static func nonFiniteParameters(_ operation: NodeOperation) -> String? {
        func bad(_ tensor: Tensor) -> Bool { tensor.scalars.contains { !$0.isFinite } }
        switch operation {
        case .dense(let dense):
            let names = [("weights", dense.weights), ("bias", dense.bias)].filter { bad($0.1) }.map(\.0)
            return names.isEmpty ? nil : names.joined(separator: " and ")
        case .batchNorm(let norm):
            let names = [("gamma", norm.gamma), ("beta", norm.beta), ("moving mean", norm.movingMean), ("moving variance", norm.movingVariance)]
                .filter { bad($0.1) }.map(\.0)
            return names.isEmpty ? nil : names.joined(separator: ", ")
        default:
            return nil
        }
    }

    private static func kind(_ operation: NodeOperation) -> String {
        switch operation {
        case .dense(let dense): "dense \(dense.activation)"
        case .activation(let activation): "activation \(activation)"
        case .sharedDense(let owner): "shared_dense of \(owner)"
        default: operation.kind
        }
    }

    /// The report; `explain` adds the plan compiled on this CPU and each layer's kernel choice.
    public func text(explain: Bool = false) -> String {
        var lines = ["model '\(name)': \(parameters) parameters, \(fileBytes) bytes (\(String(format: "%.3f", compressionRatio)) of float32 parameters), \(weights) weights"]
        lines.append("produced by \(producer) at \(Date(timeIntervalSince1970: Double(createdUnixMillis) / 1000))")
        for input in inputs {
            lines.append("input  \(input.name) [rows, \(input.width)]\(input.standardized ? " standardized" : "")"
                         + (input.columns.isEmpty ? "" : " from \(input.columns.count) raw columns:"))
            lines += input.columns.map { "  column \($0)" }
            if input.columns.isEmpty, !input.featureNames.isEmpty {
                lines.append("  features, in order: \(input.featureNames.joined(separator: ", "))")
            }
        }
        for output in outputs {
            lines.append("output \(output.name) [rows, \(output.width)] from \(output.node)\(output.scale == 1 ? "" : " × \(output.scale)")"
                         + (output.labels.isEmpty ? "" : ", labels \(output.labels.joined(separator: ", "))"))
        }
        for node in nodes {
            lines.append("  \(node.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(node.kind.padding(toLength: 22, withPad: " ", startingAt: 0)) ← \(node.inputs.joined(separator: ", ")) → \(node.width)  (\(node.parameters) params)")
        }
        lines.append("folds: " + (folds.isEmpty ? "none" : folds.joined(separator: "; ")))
        if !trainingMetrics.isEmpty {
            lines.append("training metrics: " + trainingMetrics.keys.sorted().map { String(format: "%@ %.4f", $0, trainingMetrics[$0]!) }.joined(separator: "  "))
        }
        if !precisionGate.isEmpty {
            lines.append("accuracy gate at export: " + precisionGate.keys.sorted().map { String(format: "%@ %.4g", $0, precisionGate[$0]!) }.joined(separator: "  "))
        }
        if explain {
            lines.append("plan on this CPU (kernel set \(kernelSet)):")
            lines += planSteps.map { "  \($0)" }
            if !kernelChoices.isEmpty {
                lines.append("kernel choices (timed on this CPU; a reduced kernel runs only where faster than fp32):")
                lines += kernelChoices.map { "  \($0)" }
            }
        }
        if let error = selfTestMaxRelativeError, let tolerance = selfTestTolerance {
            lines.append("self-test: \(selfTestRows) rows, max relative error \(error) (tolerance \(tolerance)): \(error <= tolerance ? "passed" : "FAILED")")
        }
        lines += problems.map { "problem: \($0)" }
        return lines.joined(separator: "\n")
    }
}
