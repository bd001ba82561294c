import NNCore
import NNFormat

/// A model file in the form nnserve serves it: compiled by the one rule for how a version is
/// compiled (bf16 or int8 dot products for a file stored so, where they measure faster),
/// with the verdict of its self-test rows run through that very plan on this machine.
/// nnserve's load, nnexport's verification and `inspect`, and nnbench all take this form, so
/// a file passes or fails its self-test the same way everywhere.
public struct ServedModel: Sendable {
    public let file: ModelFile
    public let plan: Plan
    public let selfTest: SelfTestVerdict

    /// Compiles `file` for batches of up to `maxRows` rows and runs its self-test rows.
    public init(_ file: ModelFile, maxRows: Int = PlanOptions.defaultMaxRows) throws(InferenceError) {
        self.file = file
        plan = try Plan(graph: file.graph, options: Self.options(for: file, maxRows: maxRows))
        selfTest = try SelfTestVerdict(file.selfTests, plan: plan)
    }

    /// How `file` is compiled to serve batches of up to `maxRows` rows.
    public static func options(for file: ModelFile, maxRows: Int = PlanOptions.defaultMaxRows) -> PlanOptions {
        PlanOptions(maxRows: maxRows, storedWeights: file.weightStorage)
    }
}

/// What a model file's self-test rows say about its compiled plan.
public enum SelfTestVerdict: Sendable, Equatable, CustomStringConvertible {
    /// The file carries no self-test rows (nnexport always writes them).
    case untested
    /// Every expected output was reproduced within the file's tolerance.
    case passed(maxRelativeError: Double, tolerance: Double)
    case failed(maxRelativeError: Double, tolerance: Double)

    init(_ tests: [SelfTestCase], plan: Plan) throws(InferenceError) {
        guard !tests.isEmpty else { self = .untested; return }
        let error = try SelfTestCheck.maxRelativeError(plan: plan, cases: tests.map { test in
            (Dictionary(uniqueKeysWithValues: test.inputs.map { ($0.name, $0.tensor) }),
             Dictionary(uniqueKeysWithValues: test.expectedOutputs.map { ($0.name, $0.tensor) }))
        })
        let tolerance = Double(tests.map(\.tolerance).max() ?? 0)
        self = error <= tolerance ? .passed(maxRelativeError: error, tolerance: tolerance) : .failed(maxRelativeError: error, tolerance: tolerance)
    }

    /// The largest relative error of the self-test rows (nil when untested).
    public var maxRelativeError: Double? {
        switch self {
        case .untested: nil
        case .passed(let error, _), .failed(let error, _): error
        }
    }

    /// The file's tolerance for them (nil when untested).
    public var tolerance: Double? {
        switch self {
        case .untested: nil
        case .passed(_, let tolerance), .failed(_, let tolerance): tolerance
        }
    }

    public var description: String {
        switch self {
        case .untested: "none"
        case .passed(let error, _): String(format: "ok (max relative error %.2g)", error)
        case .failed(let error, let tolerance): "self-test max relative error \(error) exceeds \(tolerance)"
        }
    }
}
