import CNNKernels
import NNCore

/// A graph compiled for execution: steps with folded weights, every value's place in an
/// arena, and the kernel (fp32 or bf16) per Dense layer. Immutable and shared by the executors
/// that run it (one per thread).
public final class Plan: Sendable {
    /// A named input or output and where it lives in the arena.
    public struct Binding: Sendable, Equatable {
        public var name: String
        public var location: ValueLocation
        /// What the columns are, for inputs whose graph names them (messages name the feature).
        public var featureNames: [String] = []
        /// The raw columns an input taking raw rows encodes (`RawColumn`); empty for numbers.
        public var columns: [RawColumn] = []
        public var width: Int { location.width }
    }

    /// A Dense layer as the kernels run it: weights, panels and epilogue, in the arena.
    struct Dense: Sendable {
        var weights: AlignedStorage
        /// fp32 panels for `dense`, or, with `bf16`, the bf16 panels of `dense_bf16` (two per
        /// float slot).
        var packedWeights: AlignedStorage
        var bf16: Bool
        var bias: AlignedStorage
        var input: ValueLocation
        var output: ValueLocation
        var activation: Activation
        var residual: ValueLocation?
        var postActivation: Activation
    }

    enum Step: Sendable {
        case dense(Dense)
        case affine(input: ValueLocation, output: ValueLocation, scale: AlignedStorage, shift: AlignedStorage)
        case activation(input: ValueLocation, output: ValueLocation, activation: Activation)
        case add(first: ValueLocation, second: ValueLocation, output: ValueLocation)
        case copy(input: ValueLocation, output: ValueLocation)
    }

    public let inputs: [Binding]
    /// The tensors a request sends: each numeric input, and each raw column once (by name).
    public let requestInputs: [RequestInput]
    public let outputs: [Binding]
    public let maxRows: Int
    public let arenaFloats: Int
    /// Rows run through every step before the next rows start. Small models run in chunks
    /// whose activations fit in L1, instead of streaming each layer's whole batch through
    /// L2; models with wide layers run the whole batch per step.
    public let rowChunk: Int
    public let kernels: KernelSet
    /// Multiply-adds of the Dense steps for one row (what a batch costs, roughly, per row).
    public let multiplyAddsPerRow: Int
    /// Some Dense steps run `dense_bf16` (bf16 weights and inputs): `PlanOptions.bf16Weights`
    /// on a kernel set that has bf16 dot products, for layers of `bf16MinimumWeights` or more.
    public let computesInBF16: Bool
    /// Layers with fewer weights stay fp32 under `bf16Weights`: 16 KB of fp32 weights sit in L1
    /// anyway, so halving them saves nothing, and rounding each input costs (M1, 8-30-30-1,
    /// ran 12% slower at 64-256 rows in bf16).
    public static let bf16MinimumWeights = 4096
    /// What the compiler did, in order ("folded batch norm 'bn1' into …").
    public let rewrites: [String]
    /// The steps by name and kind, for inspection ("dense deep1 (64→256, relu)").
    public let stepDescriptions: [String]
    let steps: [Step]

    /// Compiles `graph` (validating it first).
    public convenience init(graph: Graph, options: PlanOptions = PlanOptions()) throws(InferenceError) {
        guard options.maxRows > 0 else { throw .invalidMaxRows(options.maxRows) }
        let analysis: GraphAnalysis
        do { analysis = try graph.validate() } catch { throw .invalidGraph(error) }
        var builder = PlanBuilder(graph: graph, options: options)
        let outputValues = builder.lower(order: analysis.order)
        self.init(builder: builder, outputValues: outputValues, graph: graph, options: options)
    }

    private init(builder: PlanBuilder, outputValues: [Int], graph: Graph, options: PlanOptions) {
        let planned = builder.steps.compactMap { $0 }
        var definitions = [Int?](repeating: nil, count: builder.widths.count)
        var lastUses = [Int?](repeating: nil, count: builder.widths.count)
        for value in builder.inputValues { definitions[value] = -1 }
        for (index, step) in planned.enumerated() {
            definitions[step.outputValue] = index
            for value in step.inputValues { lastUses[value] = index }
        }
        for value in outputValues { lastUses[value] = planned.count }
        let planner = BufferPlanner(widths: builder.widths, placements: builder.placements, maxRows: options.maxRows)
        let (locations, arenaFloats) = planner.plan(definitions: definitions, lastUses: lastUses)

        inputs = zip(graph.inputs, builder.inputValues).map {
            Binding(name: $0.name, location: locations[$1]!, featureNames: $0.featureNames, columns: $0.columns)
        }
        requestInputs = RequestInput.inputs(of: inputs)
        outputs = zip(graph.outputs, outputValues).map { Binding(name: $0.name, location: locations[$1]!) }
        maxRows = options.maxRows
        self.arenaFloats = arenaFloats
        kernels = options.kernels
        rewrites = builder.rewrites
        steps = planned.flatMap { Self.lower($0, locations: locations, options: options) }
        rowChunk = Self.rowChunk(arenaFloats: arenaFloats, maxRows: options.maxRows)
        multiplyAddsPerRow = steps.reduce(0) { total, step in
            guard case .dense(let dense) = step else { return total }
            return total + dense.input.width * dense.output.width
        }
        computesInBF16 = steps.contains { step in
            if case .dense(let dense) = step { dense.bf16 } else { false }
        }
        stepDescriptions = planned.map { Self.describe($0, options: options) }
    }

    private static func storage(_ tensor: Tensor) -> AlignedStorage {
        let storage = AlignedStorage(count: tensor.count)
        tensor.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: tensor.count) }
        return storage
    }

    /// Bytes of activations per chunk: well inside a 32 KiB L1 data cache, which the weights share.
    static let chunkActivationBytes = 16 * 1024
    /// Chunks smaller than this lose more to per-step overhead than they gain in locality.
    static let minimumRowChunk = 16

    private static func rowChunk(arenaFloats: Int, maxRows: Int) -> Int {
        let bytesPerRow = max(1, arenaFloats / maxRows * MemoryLayout<Float>.size)
        let chunk = chunkActivationBytes / bytesPerRow / 4 * 4
        return chunk >= minimumRowChunk ? min(chunk, maxRows) : maxRows
    }

    /// The weights rounded to bf16 in the panel layout of `dense_bf16`.
    private static func packedBF16(_ weights: Tensor, for kernels: KernelSet) -> AlignedStorage {
        let (k, n) = (Int32(weights.shape[0]), Int32(weights.shape[1]))
        let panelColumns = kernels.table.panel_columns
        let halves = nn_packed_weights_bf16_count(k, n, panelColumns)
        let storage = AlignedStorage(count: (halves + 1) / 2)
        let destination = UnsafeMutableRawPointer(storage.pointer).assumingMemoryBound(to: UInt16.self)
        weights.withUnsafeBufferPointer { nn_pack_weights_bf16(k, n, $0.baseAddress, n, panelColumns, destination) }
        return storage
    }

    /// The weights in the panel layout of the kernel set's register tiles.
    private static func packed(_ weights: Tensor, for kernels: KernelSet) -> AlignedStorage {
        let (k, n) = (Int32(weights.shape[0]), Int32(weights.shape[1]))
        let panelColumns = kernels.table.panel_columns
        let storage = AlignedStorage(count: nn_packed_weights_count(k, n, panelColumns))
        weights.withUnsafeBufferPointer { nn_pack_weights(k, n, $0.baseAddress, n, panelColumns, storage.pointer) }
        return storage
    }

    private static func lower(_ step: PlannedStep, locations: [ValueLocation?], options: PlanOptions) -> [Step] {
        switch step {
        case .dense(let dense):
            let bf16 = computesInBF16(dense, options: options)
            return [.dense(Dense(weights: storage(dense.weights),
                                 packedWeights: bf16 ? packedBF16(dense.weights, for: options.kernels) : packed(dense.weights, for: options.kernels),
                                 bf16: bf16, bias: storage(dense.bias),
                                 input: locations[dense.input]!, output: locations[dense.output]!, activation: dense.activation,
                                 residual: dense.residual.map { locations[$0]! }, postActivation: dense.postActivation))]
        case .affine(let input, let output, let scale, let shift, _):
            return [.affine(input: locations[input]!, output: locations[output]!, scale: storage(scale), shift: storage(shift))]
        case .activation(let input, let output, let activation, _):
            return [.activation(input: locations[input]!, output: locations[output]!, activation: activation)]
        case .add(let inputs, let output, _):
            // Σ inputs as a chain of pairwise adds into the output buffer.
            var result: [Step] = [.add(first: locations[inputs[0]]!, second: locations[inputs[1]]!, output: locations[output]!)]
            for next in inputs.dropFirst(2) {
                result.append(.add(first: locations[output]!, second: locations[next]!, output: locations[output]!))
            }
            return result
        case .copy(let input, let output, _):
            return [.copy(input: locations[input]!, output: locations[output]!)]
        }
    }

    private static func computesInBF16(_ dense: DenseStep, options: PlanOptions) -> Bool {
        options.bf16Weights && options.kernels.hasBF16DotProducts && dense.inputWidth * dense.outputWidth >= bf16MinimumWeights
    }

    private static func describe(_ step: PlannedStep, options: PlanOptions) -> String {
        switch step {
        case .dense(let dense):
            let bf16 = computesInBF16(dense, options: options)
            var epilogue = [dense.activation.description]
            if dense.residual != nil { epilogue.append("+ residual") }
            if dense.postActivation != .linear { epilogue.append(dense.postActivation.description) }
            return "dense \(dense.node) (\(dense.inputWidth)→\(dense.outputWidth), \(epilogue.joined(separator: " "))\(bf16 ? ", bf16" : ""))"
        case .affine(_, _, let scale, _, let node): return "affine \(node) (\(scale.count))"
        case .activation(_, _, let activation, let node): return "activation \(node) (\(activation))"
        case .add(let inputs, _, let node): return "add \(node) (\(inputs.count) inputs)"
        case .copy(_, _, let node): return "copy into \(node)"
        }
    }
}
