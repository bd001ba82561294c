import Foundation
import NNCore
import NNFormat
import NNInference

/// Checkpoint → model file: select, freeze, strip, fold, embed self-tests, compress, verify,
/// publish into a versioned repository.
public enum Exporter {
    public struct Options: Sendable {
        public var repository: String
        public var name: String?
        public var version: Int?
        public var fold = true
        public var outputs: [String]?
        public var until: String?
        /// Input renames (`--rename-input left=pixels`), applied after `until`/`outputs`.
        public var renameInputs: [String: String] = [:]
        public var weights: WeightStorage = .float32
        /// Rows the accuracy gate of reduced weights measures on (nil: `gateRows` synthetic
        /// rows around the inputs' training statistics, said so in the report).
        public var heldOut: HeldOutRows?
        public var budget = AccuracyBudget.standard
        public var gateRows = 1000
        public var verify = true
        public var selfTestRows = 8
        public var seed: UInt64 = 1

        public init(repository: String) {
            self.repository = repository
        }
    }

    public struct Report: Sendable {
        public var path: String
        public var name: String
        public var version: Int
        public var rewrites: [String]
        public var warnings: [String]
        /// Largest self-test error of the written file against the training graph.
        public var maxRelativeError: Double?
        public var tolerance: Double
        public var fileBytes: Int
        public var parameters: Int
        /// What the accuracy gate measured (reduced weights only), and on which rows.
        public var gate: AccuracyGate.Report?
        public var gateSource: String?
    }

    /// Largest accepted self-test error (relative to each output row's largest magnitude) of
    /// fp32 weights: the exported graph differs from the unfolded one only by folding's
    /// rounding. Lossy storage records the error it measured (`measuredTolerance`).
    public static let float32Tolerance = 1e-4

    /// The self-test bound of a lossy file: twice the worst error of its self-test rows over
    /// the kernels it may be served with (this CPU's, and the portable set's coarser int8),
    /// so a load elsewhere passes and a file that computes something else fails.
    static func measuredTolerance(_ stored: Graph, storage: WeightStorage, inputs: [NamedTensor], expected: [String: Tensor]) throws -> Double {
        let cases = [(Dictionary(uniqueKeysWithValues: inputs.map { ($0.name, $0.tensor) }), expected)]
        var worst = 0.0
        for kernels in Set([KernelSet.detected, .portable]) {
            let plan = try Plan(graph: stored, options: PlanOptions(kernels: kernels, storedWeights: storage, precisionChooser: .reducedWherePossible))
            worst = max(worst, try SelfTestCheck.maxRelativeError(plan: plan, cases: cases))
        }
        // A CPU without bf16 dot products cannot measure the bf16 kernel a serving CPU may
        // choose (inputs rounded too): bf16's own bound covers it.
        let unmeasured = storage == .bfloat16 && !KernelSet.detected.hasBF16DotProducts ? bfloat16Bound : 0
        return max(1e-3, 2 * worst, unmeasured)
    }

    /// bf16 keeps 8 significant bits: a layer's inputs and weights each rounded by ≤ 2⁻⁸.
    static let bfloat16Bound = 5e-2

    public static func export(_ checkpoint: CheckpointFile, options: Options, producerVersion: String = "0.1.0") throws -> Report {
        var metrics = checkpoint.state.metadata.trainingMetrics
        if metrics.isEmpty, let last = checkpoint.state.history.last { metrics = last.metrics }
        let description = "exported from checkpoint '\(checkpoint.state.name)' at epoch \(checkpoint.state.epoch)"
            + (checkpoint.state.best.map { " (early stopping: the weights of epoch \($0.epoch))" } ?? "")
        let name = options.name ?? (checkpoint.state.name.isEmpty ? "model" : checkpoint.state.name)
        return try publish(checkpoint.graph, name: name, description: description, trainingMetrics: metrics,
                           options: options, producerVersion: producerVersion)
    }

    /// The pipeline every model file goes through on its way into a repository: select
    /// outputs, strip dropout, fold, embed self-test rows computed on the graph as given
    /// (every operation unfolded: the oracle), compress, publish, reload and verify.
    /// `notes` are what happened before (an import's conversion notes) and lead the rewrites.
    public static func publish(_ source: Graph, name: String, description: String, trainingMetrics: [String: Double] = [:],
                               notes: [String] = [], options: Options, producerVersion: String = "0.1.0") throws -> Report {
        var graph = source
        if let until = options.until { graph = try GraphSurgery.until(graph, node: until) }
        if let outputs = options.outputs { graph = try GraphSurgery.selectOutputs(graph, outputs) }
        var renames: [String] = []
        if options.until != nil || !options.renameInputs.isEmpty {
            // A sub-graph of a pair model keeps one branch: its columns lose the branch prefix.
            let originalNames = Dictionary(options.renameInputs.map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
            if originalNames.count < options.renameInputs.count {
                throw ExportError.nameTaken(options.renameInputs.values.first { name in options.renameInputs.values.filter { $0 == name }.count > 1 }!)
            }
            let renamed = try GraphSurgery.renameInputs(graph, options.renameInputs)
            // Only a model with several inputs has branches (`left_`, `right_`): an input's own
            // columns may well start with its name (`feat` reading `feat_1`, `feat_2`).
            let stripped = options.until != nil && source.inputs.count > 1
                ? GraphSurgery.stripBranchPrefixes(renamed.0, originalNames: originalNames) : (renamed.0, [])
            graph = stripped.0
            renames = renamed.1 + stripped.1
        }
        var warnings = untrainedBatchNorms(graph)

        // The oracle: the graph in inference mode, every operation unfolded.
        let selfTestInputs = syntheticRows(graph, rows: options.selfTestRows, seed: options.seed)
        let expected = try Executor(plan: Plan(graph: graph, options: .unoptimized())).predict(
            Dictionary(uniqueKeysWithValues: selfTestInputs.map { ($0.name, $0.tensor) }))

        var (exported, rewrites) = GraphSurgery.removeDropout(graph)
        rewrites = notes + renames + rewrites
        if options.fold {
            let (folded, foldRewrites) = GraphSurgery.foldAffine(exported, intoFollowingDense: options.weights != .int8)
            exported = folded
            rewrites += foldRewrites
        }
        var tolerance = float32Tolerance
        var gate: (report: AccuracyGate.Report, source: String)?
        if options.weights != .float32 {
            let measured = try gateReducedWeights(exported, name: name, options: options, selfTestInputs: selfTestInputs,
                                                  expected: Dictionary(uniqueKeysWithValues: exported.outputs.map { ($0.name, expected[$0.name]!) }))
            (gate, tolerance) = ((measured.report, measured.source), measured.tolerance)
            warnings += measured.warnings
        }
        let metadata = ModelMetadata(producer: "nnexport", producerVersion: producerVersion,
                                     createdUnixMillis: Int64(Date().timeIntervalSince1970 * 1000),
                                     trainingMetrics: trainingMetrics, description: description, folds: rewrites,
                                     precisionGate: gate?.report.measurements ?? [:])
        let selfTest = SelfTestCase(inputs: selfTestInputs,
                                    expectedOutputs: exported.outputs.map { NamedTensor(name: $0.name, tensor: expected[$0.name]!) },
                                    tolerance: Float(tolerance))
        let model = ModelFile(name: name, graph: exported, metadata: metadata, selfTests: [selfTest])
        let bytes: [UInt8]
        do {
            bytes = try model.encoded(options: WriteOptions(shuffle: true, compressionLevel: Zstd.defaultLevel, weights: options.weights))
        } catch {
            throw ExportError.file(error)
        }
        let repository = ModelRepository(root: options.repository)
        var measured: Double?
        let version = try repository.publish(bytes, name: name, version: options.version) { file in
            guard options.verify else { return }
            switch try ServedModel(try ModelFile.read(from: file)).selfTest {
            case .passed(let error, _):
                measured = error
            case .failed(let error, _):
                throw ExportError.verificationFailed(path: file, maxRelativeError: error, tolerance: tolerance)
            case .untested:
                break  // no rows (the exporter writes them), so nothing measured
            }
        }
        return Report(path: repository.path(name: name, version: version), name: name, version: version, rewrites: rewrites,
                      warnings: warnings, maxRelativeError: measured, tolerance: tolerance, fileBytes: bytes.count,
                      parameters: exported.parameterCount, gate: gate?.report, gateSource: gate?.source)
    }

    /// The accuracy gate of lossy weights: the exported graph as a file of `options.weights`
    /// will hold it, measured against fp32 on held-out rows (or synthetic ones, which warn
    /// rather than refuse), and the self-test bound the file records.
    private static func gateReducedWeights(_ exported: Graph, name: String, options: Options, selfTestInputs: [NamedTensor],
                                           expected: [String: Tensor]) throws -> (report: AccuracyGate.Report, source: String, tolerance: Double, warnings: [String]) {
        // The graph as a file of this storage will hold it: weights rounded to bf16/fp16 or int8 codes.
        let stored = try ModelFile.decode(try ModelFile(name: name, graph: exported).encoded(
            options: WriteOptions(shuffle: false, compressionLevel: 1, weights: options.weights)), source: name).graph
        // Held-out rows carry every input of the run; a sub-graph (`--outputs`) may read fewer.
        let heldOut = options.heldOut.flatMap { rows -> HeldOutRows? in
            guard exported.inputs.allSatisfy({ rows.inputs[$0.name] != nil }) else { return nil }
            return HeldOutRows(inputs: rows.inputs.filter { name, _ in exported.inputs.contains { $0.name == name } },
                               targets: rows.targets, source: rows.source)
        }
        let rows = heldOut ?? HeldOutRows(
            inputs: Dictionary(uniqueKeysWithValues: syntheticRows(exported, rows: options.gateRows, seed: options.seed &+ 1).map { ($0.name, $0.tensor) }),
            source: "\(options.gateRows) synthetic rows around the inputs' training statistics (no held-out data; give --data for the task metric)")
        let report = try AccuracyGate.measure(reference: exported, stored: stored, storage: options.weights, rows: rows, budget: options.budget)
        var warnings: [String] = []
        if !report.violations.isEmpty {
            // Synthetic rows are not the task's: near a class boundary they flip where real
            // rows need not. What they show is said, but only held-out rows refuse.
            guard heldOut == nil else {
                throw ExportError.accuracyBudgetExceeded(weights: options.weights, violations: report.violations, rows: rows.source)
            }
            warnings.append("\(options.weights) weights on synthetic rows: \(report.violations.joined(separator: "; ")); "
                            + "not refused (synthetic rows are not the task's), check on held-out rows (--data)")
        }
        let tolerance = try measuredTolerance(stored, storage: options.weights, inputs: selfTestInputs, expected: expected)
        return (report, rows.source, tolerance, warnings)
    }

    /// A model file of `graph` as it stands (no surgery) with a self-test computed the way an
    /// export computes it: seeded rows around each input's statistics, expected outputs from
    /// the unoptimized plan. For tools and tests that write models without a checkpoint
    /// (nnserve refuses files without self-tests unless told otherwise).
    public static func selfTestedModel(name: String, graph: Graph, rows: Int = 8, seed: UInt64 = 7) throws -> ModelFile {
        let inputs = syntheticRows(graph, rows: rows, seed: seed)
        let expected = try Executor(plan: Plan(graph: graph, options: .unoptimized())).predict(
            Dictionary(uniqueKeysWithValues: inputs.map { ($0.name, $0.tensor) }))
        let test = SelfTestCase(inputs: inputs, expectedOutputs: graph.outputs.map { NamedTensor(name: $0.name, tensor: expected[$0.name]!) },
                                tolerance: Float(float32Tolerance))
        return ModelFile(name: name, graph: graph, selfTests: [test])
    }

    /// Batch norms whose moving statistics are still at their initial values: they never
    /// saw training data, so inference would not normalize anything.
    static func untrainedBatchNorms(_ graph: Graph) -> [String] {
        graph.nodes.compactMap { node in
            guard case .batchNorm(let norm) = node.operation, !norm.isAffine,
                  norm.movingMean.scalars.allSatisfy({ $0 == 0 }), norm.movingVariance.scalars.allSatisfy({ $0 == 1 }) else { return nil }
            return "batch norm '\(node.name)' still has its initial moving statistics (mean 0, variance 1): it never saw training data"
        }
    }

    /// Seeded rows around each input's training statistics (mean + std·N(0,1)).
    static func syntheticRows(_ graph: Graph, rows: Int, seed: UInt64) -> [NamedTensor] {
        graph.inputs.enumerated().map { index, input in
            var rng = CounterRNG(seed: seed, stream: UInt64(index))
            var values: [Float] = []
            for _ in 0..<rows {
                for feature in 0..<input.width {
                    let mean = input.standardization?.mean[feature] ?? 0
                    let std = input.standardization?.std[feature] ?? 1
                    values.append(mean + std * rng.nextNormal())
                }
            }
            return NamedTensor(name: input.name, tensor: Tensor(shape: [rows, input.width], values: values))
        }
    }
}

