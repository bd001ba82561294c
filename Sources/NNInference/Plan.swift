import CNNKernels
import NNCore
import NNFormat

/// A graph compiled for execution: steps with folded weights, every value's place in an
/// arena, and the kernel (fp32, bf16 or int8) per Dense layer. Immutable and shared by the executors
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
        /// The weights in the layout of the layer's kernel (fp32, bf16 or int8).
        var panels: DensePanels
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
    /// The kernel of each Dense step, in order (reduced ones chosen by `PrecisionChooser`).
    public let densePrecisions: [DensePrecision]
    /// Some Dense steps run `dense_bf16` (bf16 weights and inputs).
    public var computesInBF16: Bool { densePrecisions.contains(.bf16) }
    /// Some Dense steps run `dense_int8` (int8 weights, inputs quantized per row).
    public var computesInInt8: Bool { densePrecisions.contains(.int8) }
    /// " (int8 dot products on 2 of 3 layers)" for the load log; empty when every layer is fp32.
    public var reducedPrecisionSummary: String {
        let reduced = densePrecisions.filter { $0 != .fp32 }
        guard let kind = reduced.first else { return "" }
        return " (\(kind) dot products on \(reduced.count) of \(densePrecisions.count) layers)"
    }
    /// Why each layer of a reduced-precision model runs the kernel it runs ("dense1 784→300:
    /// int8 (8 rows int8 3.1 µs, fp32 5.2 µs; 64 rows …)"); empty for fp32 models.
    public let precisionChoices: [String]
    /// Where `dense_int8`'s scratch (quantized input rows) starts in the arena, in floats.
    let int8ScratchOffset: Int
    /// Bytes of the compiled constants (weights, their panels, biases, scales and shifts);
    /// each executor adds `arenaFloats` floats of its own.
    public let constantBytes: Int
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
        let (locations, valueFloats) = planner.plan(definitions: definitions, lastUses: lastUses)
        let rowChunk = Self.rowChunk(arenaFloats: valueFloats, maxRows: options.maxRows)
        self.rowChunk = rowChunk
        let denseSteps = planned.compactMap { step -> DenseStep? in
            if case .dense(let dense) = step { dense } else { nil }
        }
        // The int8 scratch follows the values, on a cache line, sized for the widest int8 layer.
        let int8ScratchOffset = (valueFloats + 15) / 16 * 16
        self.int8ScratchOffset = int8ScratchOffset
        let scratchFloats = denseSteps.filter { $0.decision.precision == .int8 }
            .map { DensePanels.int8ScratchFloats(rows: rowChunk, k: $0.inputWidth) }.max() ?? 0
        let arenaFloats = scratchFloats > 0 ? int8ScratchOffset + scratchFloats : valueFloats

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
        multiplyAddsPerRow = steps.reduce(0) { total, step in
            guard case .dense(let dense) = step else { return total }
            return total + dense.input.width * dense.output.width
        }
        densePrecisions = denseSteps.map(\.decision.precision)
        stepDescriptions = planned.map(Self.describe)
        constantBytes = steps.reduce(0) { total, step in
            switch step {
            case .dense(let dense): total + (dense.weights.count + dense.bias.count) * MemoryLayout<Float>.size + dense.panels.bytes
            case .affine(_, _, let scale, let shift): total + (scale.count + shift.count) * MemoryLayout<Float>.size
            case .activation, .add, .copy: total
            }
        }
        precisionChoices = denseSteps.compactMap { Self.explain($0, storage: options.storedWeights) }
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

    private static func lower(_ step: PlannedStep, locations: [ValueLocation?], options: PlanOptions) -> [Step] {
        switch step {
        case .dense(let dense):
            return [.dense(Dense(weights: storage(dense.weights),
                                 panels: DensePanels(dense.weights, precision: dense.decision.precision, kernels: options.kernels),
                                 bias: storage(dense.bias),
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

    /// "dense1 784→300: int8 (8 rows int8 3.1 µs, fp32 5.2 µs; 64 rows …)"; nil for fp32 storage.
    private static func explain(_ dense: DenseStep, storage: WeightStorage) -> String? {
        let decision = dense.decision
        guard storage == .bfloat16 || storage == .int8 else { return nil }
        let layer = "\(dense.node) \(dense.inputWidth)→\(dense.outputWidth)"
        guard !decision.fp32Seconds.isEmpty else {
            return "\(layer): \(decision.precision) (\(dense.inputWidth * dense.outputWidth < PrecisionChooser.minimumWeights ? "under \(PrecisionChooser.minimumWeights) weights, not timed" : "no \(storage) kernel in this set"))"
        }
        let reduced = storage == .int8 ? "int8" : "bf16"
        let timings = zip(PrecisionChooser.timedRows, zip(decision.reducedSeconds, decision.fp32Seconds)).map { rows, pair in
            String(format: "%d rows %@ %.1f µs, fp32 %.1f µs", rows, reduced, pair.0 * 1e6, pair.1 * 1e6)
        }
        return "\(layer): \(decision.precision) (\(timings.joined(separator: "; ")))"
    }

    private static func describe(_ step: PlannedStep) -> String {
        switch step {
        case .dense(let dense):
            let precision = dense.decision.precision
            var epilogue = [dense.activation.description]
            if dense.residual != nil { epilogue.append("+ residual") }
            if dense.postActivation != .linear { epilogue.append(dense.postActivation.description) }
            return "dense \(dense.node) (\(dense.inputWidth)→\(dense.outputWidth), \(epilogue.joined(separator: " "))\(precision == .fp32 ? "" : ", \(precision)"))"
        case .affine(_, _, let scale, _, let node): return "affine \(node) (\(scale.count))"
        case .activation(_, _, let activation, let node): return "activation \(node) (\(activation))"
        case .add(let inputs, _, let node): return "add \(node) (\(inputs.count) inputs)"
        case .copy(_, _, let node): return "copy into \(node)"
        }
    }
}
