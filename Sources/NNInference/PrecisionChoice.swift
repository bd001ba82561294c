import CNNKernels
import Foundation
import NNCore
import NNFormat
import Synchronization

/// The kernel a Dense layer runs.
public enum DensePrecision: String, Sendable, Equatable {
    case fp32, bf16, int8
}

/// Chooses, per Dense layer of a model stored in reduced precision, between the reduced
/// kernel (bf16 or int8 dot products) and the fp32 kernel over the weights read back as fp32,
/// by timing both on this CPU: a reduced model is never served slower than its fp32 form
/// (bf16 on Intel ran at half fp32's speed; int8 pays only past the cost of quantizing its
/// inputs). Both are accurate enough: fp32 over the stored values is the more accurate, and
/// the reduced kernel is what export's accuracy gate measured.
///
/// A layer is timed at 8 and 64 rows, each kernel alternated with the other, fastest of
/// several blocks; the reduced kernel is chosen only when it is faster at both. Choices are
/// cached per process by (kernel set, precision, shape), so a reload or a second version of a
/// model does not time again.
public final class PrecisionChooser: Sendable, Equatable {
    /// Seconds per call of one layer's kernel at a row count: the measurement, replaceable in
    /// tests (a slow candidate forced by its timing).
    /// `affine`: the int8 kernel runs after an affine step that fp32 would fold (its cost counts).
    public typealias Timing = @Sendable (_ kernels: KernelSet, _ precision: DensePrecision, _ k: Int, _ n: Int, _ rows: Int, _ affine: Bool) -> Double

    public struct Decision: Sendable, Equatable {
        public var precision: DensePrecision
        /// Seconds per call at 8 and at 64 rows: fp32, then the reduced kernel.
        public var fp32Seconds: [Double]
        public var reducedSeconds: [Double]
    }

    /// The row counts a layer is timed at: a small request and a batch.
    public static let timedRows = [8, 64]
    /// Layers with fewer weights run fp32 untimed: their fp32 weights sit in L1 anyway, so
    /// fewer bytes save nothing, and rounding or quantizing each input costs (M1, 8-30-30-1,
    /// ran 12% slower at 64-256 rows in bf16).
    public static let minimumWeights = 4096

    /// The process's chooser: measures on this CPU.
    public static let measuring = PrecisionChooser { kernels, precision, k, n, rows, affine in
        PrecisionChooser.measure(kernels, precision, k: k, n: n, rows: rows, affine: affine)
    }
    /// A chooser that takes the reduced kernel wherever the set has one (layers of
    /// `minimumWeights` or more): what export's accuracy gate measures, and the kernel itself
    /// in benchmarks and tests.
    public static let reducedWherePossible = PrecisionChooser { _, precision, _, _, _, _ in precision == .fp32 ? 2 : 1 }
    /// A chooser that keeps fp32 everywhere: the reference a reduced model is measured against.
    public static let fp32Only = PrecisionChooser { _, precision, _, _, _, _ in precision == .fp32 ? 1 : 2 }
    /// int8 sums are exact in int32 while 255·127·k < 2³¹; wider layers run fp32.
    public static let int8MaximumInputs = 65_536

    private let timing: Timing
    private let decisions = Mutex<[String: Decision]>([:])

    public init(timing: @escaping Timing) {
        self.timing = timing
    }

    public static func == (lhs: PrecisionChooser, rhs: PrecisionChooser) -> Bool { lhs === rhs }

    /// The kernel for a k×n layer stored as `storage`, compiled for `kernels`; `withAffine`:
    /// an affine transform precedes the layer, which fp32 weights absorb and int8 weights do
    /// not (PlanBuilder), so the int8 kernel is timed with it.
    public func choose(_ storage: WeightStorage, kernels: KernelSet, k: Int, n: Int, withAffine: Bool = false) -> Decision {
        let reduced: DensePrecision
        switch storage {
        case .bfloat16 where kernels.hasBF16DotProducts: reduced = .bf16
        case .int8 where k < Self.int8MaximumInputs: reduced = .int8
        default: return Decision(precision: .fp32, fp32Seconds: [], reducedSeconds: [])
        }
        guard k * n >= Self.minimumWeights else { return Decision(precision: .fp32, fp32Seconds: [], reducedSeconds: []) }
        let affine = withAffine && reduced == .int8
        let key = "\(kernels) \(reduced) \(k)x\(n)\(affine ? " after an affine" : "")"
        if let known = decisions.withLock({ $0[key] }) { return known }
        var fp32 = [Double](), reducedTimes = [Double]()
        for rows in Self.timedRows {
            var (bestFP32, bestReduced) = (Double.infinity, Double.infinity)
            for _ in 0..<3 {
                bestFP32 = min(bestFP32, timing(kernels, .fp32, k, n, rows, false))
                bestReduced = min(bestReduced, timing(kernels, reduced, k, n, rows, affine))
            }
            fp32.append(bestFP32)
            reducedTimes.append(bestReduced)
        }
        let faster = zip(reducedTimes, fp32).allSatisfy { $0 < $1 }
        let decision = Decision(precision: faster ? reduced : .fp32, fp32Seconds: fp32, reducedSeconds: reducedTimes)
        decisions.withLock { $0[key] = decision }
        return decision
    }

    /// Times one kernel on seeded inputs and weights of the layer's shape: calls repeated
    /// until 2 ms have passed, seconds per call.
    @Sendable static func measure(_ kernels: KernelSet, _ precision: DensePrecision, k: Int, n: Int, rows: Int, affine: Bool) -> Double {
        let layer = TimedLayer(kernels: kernels, precision: precision, k: k, n: n, rows: rows, affine: affine)
        layer.run()
        var calls = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed: UInt64 = 0
        repeat {
            layer.run()
            calls += 1
            elapsed = DispatchTime.now().uptimeNanoseconds - start
        } while elapsed < 2_000_000
        return Double(elapsed) / 1e9 / Double(calls)
    }
}

/// One Dense layer's buffers for timing a kernel: seeded inputs, random weights packed as the
/// plan would pack them, ReLU epilogue; with `affine`, a standardization step before it.
private final class TimedLayer {
    let table: nn_kernel_table
    let precision: DensePrecision
    let (k, n, rows): (Int, Int, Int)
    let affine: Bool
    let standardized: AlignedStorage, scale: AlignedStorage, shift: AlignedStorage
    let x: AlignedStorage, y: AlignedStorage, weights: AlignedStorage, bias: AlignedStorage, scratch: AlignedStorage
    let panels: DensePanels
    var epilogue: nn_epilogue

    init(kernels: KernelSet, precision: DensePrecision, k: Int, n: Int, rows: Int, affine: Bool) {
        table = kernels.table
        self.precision = precision
        (self.k, self.n, self.rows, self.affine) = (k, n, rows, affine)
        standardized = AlignedStorage(count: rows * k)
        scale = AlignedStorage(count: k)
        shift = AlignedStorage(count: k)
        scale.pointer.update(repeating: 0.5, count: k)
        var rng = CounterRNG(seed: 17)
        x = AlignedStorage(count: rows * k)
        for index in 0..<rows * k { x.pointer[index] = rng.nextUniform() * 2 - 1 }
        y = AlignedStorage(count: rows * n)
        weights = AlignedStorage(count: k * n)
        for index in 0..<k * n { weights.pointer[index] = (rng.nextUniform() * 2 - 1) / Float(k).squareRoot() }
        bias = AlignedStorage(count: n)
        let tensor = Tensor(shape: [k, n], values: Array(UnsafeBufferPointer(start: weights.pointer, count: k * n)))
        panels = DensePanels(tensor, precision: precision, kernels: kernels)
        scratch = AlignedStorage(count: DensePanels.int8ScratchFloats(rows: rows, k: k))
        epilogue = nn_epilogue(bias: UnsafePointer(bias.pointer), activation: Int32(NN_ACT_RELU), alpha: 0, residual: nil,
                               residual_ld: 0, post_activation: Int32(NN_ACT_LINEAR), post_alpha: 0)
    }

    func run() {
        let kernel = panels.kernel(weights: weights.pointer)
        let input = affine ? standardized.pointer : x.pointer
        if affine { nn_affine(Int32(rows), Int32(k), x.pointer, Int32(k), scale.pointer, shift.pointer, input, Int32(k)) }
        withUnsafePointer(to: table) { table in
            kernel.run(table: table, rows: Int32(rows), k: Int32(k), n: Int32(n), x: input, ldx: Int32(k), y: y.pointer,
                       ldy: Int32(n), epilogue: &epilogue, scratch: UnsafeMutableRawPointer(scratch.pointer))
        }
    }
}
