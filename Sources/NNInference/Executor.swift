import CNNKernels
import NNCore

/// Runs a plan on batches of up to `plan.maxRows` rows. Owns its arena, so each thread
/// that runs a model uses its own executor; `run` allocates nothing.
///
/// Zero-copy use (the server's path): write each input's rows into `input(i)`, call
/// `run(rows:)`, read `output(i)`. `predict` wraps that for tensors of any batch size.
public final class Executor {
    public let plan: Plan
    private let arena: AlignedStorage
    private let steps: ContiguousArray<ResolvedStep>
    /// One epilogue per step (unused for non-dense steps); stable addresses for the C calls.
    private let epilogues: UnsafeMutableBufferPointer<nn_epilogue>
    /// The kernel set's functions, copied out of its C table once.
    private let kernels: nn_kernel_table

    public init(plan: Plan) {
        self.plan = plan
        arena = AlignedStorage(count: plan.arenaFloats)
        kernels = plan.kernels.table
        epilogues = .allocate(capacity: max(plan.steps.count, 1))
        epilogues.initialize(repeating: nn_epilogue())
        let base = arena.pointer
        var resolved = ContiguousArray<ResolvedStep>()
        for (index, step) in plan.steps.enumerated() {
            resolved.append(ResolvedStep(step, arena: base, scratch: UnsafeMutableRawPointer(base + plan.int8ScratchOffset),
                                         epilogue: epilogues.baseAddress! + index))
        }
        steps = resolved
    }

    deinit {
        epilogues.deallocate()
    }

    /// Where input `index` (in `plan.inputs` order) is written: row r at `pointer + r·leadingDimension`.
    public func input(_ index: Int) -> (pointer: UnsafeMutablePointer<Float>, leadingDimension: Int) {
        let location = plan.inputs[index].location
        return (arena.pointer + location.offset, location.leadingDimension)
    }

    /// Where output `index` (in `plan.outputs` order) is found after `run`.
    public func output(_ index: Int) -> (pointer: UnsafePointer<Float>, leadingDimension: Int) {
        let location = plan.outputs[index].location
        return (UnsafePointer(arena.pointer + location.offset), location.leadingDimension)
    }

    /// Runs the plan on the first `rows` rows of the inputs. No allocation, no locks.
    public func run(rows: Int) {
        precondition(rows >= 0 && rows <= plan.maxRows, "rows \(rows) outside 0...\(plan.maxRows)")
        guard rows > 0 else { return }
        let chunk = plan.rowChunk
        withUnsafePointer(to: kernels) { kernels in
            steps.withUnsafeBufferPointer { steps in
                var start = 0
                while start < rows {
                    let count = Int32(min(chunk, rows - start))
                    for step in steps { step.execute(rows: count, firstRow: start, kernels: kernels) }
                    start += chunk
                }
            }
        }
    }

    /// Copies rows of a contiguous [rows, width] matrix into input `index`.
    public func setInput(_ index: Int, rows: Int, from source: UnsafePointer<Float>) {
        let (pointer, leadingDimension) = input(index)
        let width = plan.inputs[index].width
        nn_copy(Int32(rows), Int32(width), source, Int32(width), pointer, Int32(leadingDimension))
    }

    /// Copies output `index` into a contiguous [rows, width] matrix.
    public func copyOutput(_ index: Int, rows: Int, to destination: UnsafeMutablePointer<Float>) {
        let (pointer, leadingDimension) = output(index)
        let width = plan.outputs[index].width
        nn_copy(Int32(rows), Int32(width), pointer, Int32(leadingDimension), destination, Int32(width))
    }

    /// Runs named [rows, width] inputs of any row count (in chunks of `maxRows`) and returns
    /// the requested outputs (all by default). Inputs are the graph's, as features (an input
    /// taking raw rows given encoded). Allocates its results: for tools and tests.
    public func predict(_ inputs: [String: Tensor], outputs requested: [String]? = nil) throws(InferenceError) -> [String: Tensor] {
        let named = inputs.keys.sorted().map { NamedInput(name: $0, shape: inputs[$0]!.shape.map(Int64.init), values: inputs[$0]!.scalars) }
        let block: RowBlock
        do {
            block = try plan.rowBlock(named, outputs: requested ?? [], limits: .unbounded, encodedFeatures: true)
        } catch {
            throw .invalidInput(error)
        }
        let values = block.rows == 0 ? block.outputs.map { _ in [Float]() } : run([block])[0]
        return Dictionary(uniqueKeysWithValues: zip(block.outputs, values).map { index, data in
            (plan.outputs[index].name, Tensor(shape: [block.rows, plan.outputs[index].width], values: data))
        })
    }
}

/// A plan step with its arena addresses resolved: plain values only, so the run loop does no
/// reference counting.
private struct ResolvedStep {
    enum Kind { case dense, affine, activation, add, copy }

    var kind: Kind
    var x: UnsafeMutablePointer<Float>
    var ldx: Int32
    var second: UnsafeMutablePointer<Float>?
    var ldSecond: Int32 = 0
    var y: UnsafeMutablePointer<Float>
    var ldy: Int32
    var k: Int32 = 0
    var n: Int32
    var parameters: UnsafePointer<Float>?
    var parameters2: UnsafePointer<Float>?
    /// The Dense kernel with its weights (unused by other kinds).
    var dense: DenseKernel?
    /// `dense_int8`'s quantized rows, in the arena past the values.
    var scratch: UnsafeMutableRawPointer?
    /// Row 0 of the residual; the epilogue's pointer is moved to each chunk's first row.
    var residualBase: UnsafePointer<Float>?
    var activation: Int32 = 0
    var alpha: Float = 0
    var epilogue: UnsafeMutablePointer<nn_epilogue>

    init(_ step: Plan.Step, arena: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer,
         epilogue: UnsafeMutablePointer<nn_epilogue>) {
        self.epilogue = epilogue
        self.scratch = scratch
        switch step {
        case .dense(let dense):
            kind = .dense
            self.dense = dense.panels.kernel(weights: UnsafePointer(dense.weights.pointer))
            (x, ldx) = (arena + dense.input.offset, Int32(dense.input.leadingDimension))
            (y, ldy) = (arena + dense.output.offset, Int32(dense.output.leadingDimension))
            k = Int32(dense.input.width)
            n = Int32(dense.output.width)
            let (code, alpha) = dense.activation.kernelCode
            let (postCode, postAlpha) = dense.postActivation.kernelCode
            residualBase = dense.residual.map { UnsafePointer(arena + $0.offset) }
            epilogue.pointee = nn_epilogue(
                bias: UnsafePointer(dense.bias.pointer), activation: code, alpha: alpha,
                residual: residualBase, residual_ld: Int32(dense.residual?.leadingDimension ?? 0),
                post_activation: postCode, post_alpha: postAlpha)
        case .affine(let input, let output, let scale, let shift):
            kind = .affine
            (x, ldx, y, ldy, n) = (arena + input.offset, Int32(input.leadingDimension), arena + output.offset,
                                   Int32(output.leadingDimension), Int32(output.width))
            parameters = UnsafePointer(scale.pointer)
            parameters2 = UnsafePointer(shift.pointer)
        case .activation(let input, let output, let activationKind):
            kind = .activation
            (x, ldx, y, ldy, n) = (arena + input.offset, Int32(input.leadingDimension), arena + output.offset,
                                   Int32(output.leadingDimension), Int32(output.width))
            (activation, alpha) = activationKind.kernelCode
        case .add(let first, let secondLocation, let output):
            kind = .add
            (x, ldx, y, ldy, n) = (arena + first.offset, Int32(first.leadingDimension), arena + output.offset,
                                   Int32(output.leadingDimension), Int32(output.width))
            second = arena + secondLocation.offset
            ldSecond = Int32(secondLocation.leadingDimension)
        case .copy(let input, let output):
            kind = .copy
            (x, ldx, y, ldy, n) = (arena + input.offset, Int32(input.leadingDimension), arena + output.offset,
                                   Int32(output.leadingDimension), Int32(output.width))
        }
    }

    /// Runs rows `firstRow ..< firstRow + rows` (every step is row-wise, so chunks of rows are
    /// independent).
    @inline(__always)
    func execute(rows: Int32, firstRow: Int, kernels: UnsafePointer<nn_kernel_table>) {
        let x = self.x + firstRow * Int(ldx)
        let y = self.y + firstRow * Int(ldy)
        let second = self.second.map { $0 + firstRow * Int(ldSecond) }
        if let residual = residualBase {
            epilogue.pointee.residual = residual + firstRow * Int(epilogue.pointee.residual_ld)
        }
        switch kind {
        case .dense:
            dense.unsafelyUnwrapped.run(table: kernels, rows: rows, k: k, n: n, x: x, ldx: ldx, y: y, ldy: ldy,
                                        epilogue: epilogue, scratch: scratch)
        case .affine:
            nn_affine(rows, n, x, ldx, parameters, parameters2, y, ldy)
        case .activation:
            kernels.pointee.activation(rows, n, x, ldx, y, ldy, activation, alpha)
        case .add:
            nn_add(rows, n, x, ldx, second, ldSecond, y, ldy)
        case .copy:
            nn_copy(rows, n, x, ldx, y, ldy)
        }
    }
}
