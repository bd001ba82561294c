import NNCore
import NNFormat
import NNInference

/// Rows a reduced-precision export is measured on: held-out inputs (features, as the graph's
/// inputs take them) and, where known, each output's targets ([rows, 1]: a class index for a
/// classifier, the value for a regression output).
public struct HeldOutRows: Sendable {
    public var inputs: [String: Tensor]
    public var targets: [String: Tensor]
    /// Where the rows came from, for the report ("validation split of run.ckpt, 360 rows").
    public var source: String

    public init(inputs: [String: Tensor], targets: [String: Tensor] = [:], source: String) {
        self.inputs = inputs
        self.targets = targets
        self.source = source
    }

    public var rows: Int { inputs.values.first?.shape[0] ?? 0 }
}

/// How much a reduced-precision model may lose against its fp32 form before export refuses it.
public struct AccuracyBudget: Sendable, Equatable {
    /// Accuracy points a classifier output may lose (with targets), or the share of rows, in
    /// points, whose predicted class may change (without).
    public var accuracyPoints: Double
    /// Percent a regression output's RMSE may grow (with targets), or the RMS of the change
    /// relative to the outputs' spread, in percent (without).
    public var rmsePercent: Double

    /// Digits within 0.3 accuracy points, diamonds within 1% RMSE (the bars of issue 32).
    public static let standard = AccuracyBudget(accuracyPoints: 0.3, rmsePercent: 1)

    public init(accuracyPoints: Double, rmsePercent: Double) {
        self.accuracyPoints = accuracyPoints
        self.rmsePercent = rmsePercent
    }
}

/// The accuracy contract of reduced-precision weights: the exported model computed as it
/// will be served from an fp16, bf16 or int8 file (the reduced kernel on every layer it applies to, on this
/// CPU's kernel set and on the portable set, whose int8 inputs take the coarsest levels any CPU
/// uses) against the same model in fp32, on held-out rows. The measurements go into the file
/// (`ModelMetadata.precisionGate`); a change beyond the budget refuses the export.
public enum AccuracyGate {
    public struct Report: Sendable, Equatable {
        /// "rows", "max_relative_error", and per output "NAME.accuracy_change_points",
        /// "NAME.class_changes_percent", "NAME.rmse_change_percent" or "NAME.rms_change_percent".
        public var measurements: [String: Double]
        /// What exceeded the budget, each naming the output, the measured change and the budget.
        public var violations: [String]
    }

    /// `reference`: the exported graph in fp32; `stored`: the same graph as read back from a
    /// file of `storage` (its weights rounded as stored).
    public static func measure(reference graph: Graph, stored: Graph, storage: WeightStorage, rows: HeldOutRows,
                               budget: AccuracyBudget) throws -> Report {
        let reference = try Executor(plan: Plan(graph: graph, options: PlanOptions(precisionChooser: .fp32Only))).predict(rows.inputs)
        // The worse of this CPU's kernels and the portable set (int8 at 127 levels).
        var sets = [KernelSet.detected]
        if KernelSet.detected != .portable { sets.append(.portable) }
        let reducedOutputs = try sets.map { kernels in
            try Executor(plan: Plan(graph: stored, options: PlanOptions(kernels: kernels, storedWeights: storage,
                                                                       precisionChooser: .reducedWherePossible))).predict(rows.inputs)
        }
        var measurements: [String: Double] = ["rows": Double(rows.rows), "max_relative_error": 0]
        var violations: [String] = []
        for output in graph.outputs {
            let exact = reference[output.name]!
            let largest = max(exact.scalars.map { abs(Double($0)) }.max() ?? 0, 1e-12)
            var worst: [String: Double] = [:]
            for reduced in reducedOutputs.map({ $0[output.name]! }) {
                let error = zip(reduced.scalars, exact.scalars).map { abs(Double($0) - Double($1)) }.max() ?? 0
                measurements["max_relative_error"] = max(measurements["max_relative_error"]!, error / largest)
                for (key, value) in change(of: output, graph: graph, exact: exact, reduced: reduced, targets: rows.targets[output.name]) {
                    worst[key] = max(worst[key] ?? -.infinity, value)
                }
            }
            for (key, value) in worst {
                measurements["\(output.name).\(key)"] = value
                let limit = key.hasPrefix("accuracy") || key.hasPrefix("class") ? budget.accuracyPoints : budget.rmsePercent
                let name = key.replacingOccurrences(of: "_", with: " ")
                if value > limit {
                    violations.append(String(format: "output '%@': %@ %.3g exceeds the budget of %.3g", output.name, name, value, limit))
                }
            }
        }
        return Report(measurements: measurements, violations: violations)
    }

    /// The loss of one output, as a positive number when it got worse: accuracy points lost or
    /// the share of rows whose class changed (classifiers); RMSE growth or the RMS of the
    /// change relative to the outputs' spread, in percent (values).
    private static func change(of output: GraphOutput, graph: Graph, exact: Tensor, reduced: Tensor, targets: Tensor?) -> [String: Double] {
        let rows = exact.shape[0], width = exact.shape[1]
        let activation = graph.activation(endingNode: output.node)
        let classifier = activation == .softmax && width > 1 || activation == .sigmoid && width == 1
        guard rows > 0 else { return [:] }
        if classifier {
            func predicted(_ tensor: Tensor, _ row: Int) -> Int {
                width == 1 ? (tensor[row, 0] >= 0.5 ? 1 : 0) : (0..<width).max { tensor[row, $0] < tensor[row, $1] }!
            }
            guard let targets else {
                let changed = (0..<rows).filter { predicted(exact, $0) != predicted(reduced, $0) }.count
                return ["class_changes_percent": 100 * Double(changed) / Double(rows)]
            }
            // A class index per row, or one-hot rows (categorical cross-entropy); anything else
            // (a fraction, a number past the classes) matches no prediction.
            let oneHot = width > 1 && targets.shape[1] == width
            func target(_ row: Int) -> Int? {
                if oneHot { return predicted(targets, row) }
                let value = targets[row, 0]
                guard value.isFinite, value >= 0, value < Float(max(width, 2)), value == value.rounded() else { return nil }
                return Int(value)
            }
            func correct(_ tensor: Tensor) -> Int { (0..<rows).filter { predicted(tensor, $0) == target($0) }.count }
            return ["accuracy_change_points": 100 * Double(correct(exact) - correct(reduced)) / Double(rows)]
        }
        func rms(_ values: [Double]) -> Double { (values.map { $0 * $0 }.reduce(0, +) / Double(max(values.count, 1))).squareRoot() }
        guard let targets, targets.shape[1] == width else {
            let mean = exact.scalars.map(Double.init).reduce(0, +) / Double(exact.count)
            let spread = max(rms(exact.scalars.map { Double($0) - mean }), 1e-12)
            return ["rms_change_percent": 100 * rms(zip(reduced.scalars, exact.scalars).map { Double($0) - Double($1) }) / spread]
        }
        let before = rms(zip(exact.scalars, targets.scalars).map { Double($0) - Double($1) })
        let after = rms(zip(reduced.scalars, targets.scalars).map { Double($0) - Double($1) })
        return ["rmse_change_percent": 100 * (after - before) / max(before, 1e-12)]
    }
}
