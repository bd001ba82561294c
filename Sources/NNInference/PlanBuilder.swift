import NNCore

/// Lowers a validated graph into steps over numbered values, applying the rewrites:
/// dropout removed; batch norm and input standardization folded into Dense weights (or
/// kept as affine steps); activations, softmax and residual adds fused into Dense
/// epilogues; concat operands placed as column slices of the concat's value.
///
/// Affine transforms are carried lazily: a graph value may be "stored value · scale +
/// shift". A Dense consumer absorbs it into its weights, a concat passes it through, and
/// anything else materializes it once with an affine step.
struct PlanBuilder {
    /// What a graph name currently stands for.
    struct Symbol {
        var value: Int
        var affine: AffineTransform?
    }

    let graph: Graph
    let options: PlanOptions
    private(set) var widths: [Int] = []
    /// A value stored inside another value's buffer: (parent value, first column).
    private(set) var placements: [Int: (parent: Int, column: Int)] = [:]
    private(set) var steps: [PlannedStep?] = []
    private(set) var rewrites: [String] = []
    private(set) var inputValues: [Int] = []
    private var symbols: [String: Symbol] = [:]
    private var producer: [Int: Int] = [:]
    /// References to each graph value by nodes and outputs, with dropout nodes transparent.
    private var uses: [String: Int] = [:]
    private var outputNames: Set<String> = []

    init(graph: Graph, options: PlanOptions) {
        self.graph = graph
        self.options = options
    }

    mutating func lower(order: [Int]) -> [Int] {
        countUses()
        for input in graph.inputs {
            let value = newValue(width: input.width)
            inputValues.append(value)
            var symbol = Symbol(value: value, affine: nil)
            if let standardization = input.standardization {
                symbol.affine = AffineTransform(standardization)
            }
            symbols[input.name] = symbol
            if !options.foldAffine, symbol.affine != nil { _ = materialize(input.name) }
        }
        for index in order { lower(graph.nodes[index]) }
        return graph.outputs.map { output in
            let value = materialize(output.node)
            guard output.scale != 1 else { return value }
            let width = widths[value]
            let scaled = newValue(width: width)
            append(.affine(input: value, output: scaled, scale: Self.tensor([Double](repeating: Double(output.scale), count: width)),
                           shift: Tensor(zeros: [width]), node: "scale output '\(output.name)'"))
            return scaled
        }
    }

    // MARK: - Nodes

    private mutating func lower(_ node: Node) {
        switch node.operation {
        case .dropout, .alphaDropout:
            symbols[node.name] = symbols[node.inputs[0]]
            rewrites.append("removed \(node.operation.kind) '\(node.name)'")
        case .dense(let dense):
            lowerDense(node, dense)
        case .sharedDense(let owner):
            guard case .dense(let dense)? = graph.node(named: owner)?.operation else {
                preconditionFailure("validated graph: '\(owner)' is a dense node")
            }
            lowerDense(node, dense)
        case .batchNorm(let norm):
            lowerBatchNorm(node, norm)
        case .activation(let activation):
            lowerActivation(node, activation)
        case .add:
            lowerAdd(node)
        case .concat:
            lowerConcat(node)
        }
    }

    private mutating func lowerDense(_ node: Node, _ dense: DenseParameters) {
        let source = node.inputs[0]
        var weights = dense.weights
        var bias = dense.bias
        let input: Int
        // The kernel is chosen first: an affine does not fold into int8 weights. Scaling a row
        // by 1/std (a near-constant pixel: std 0.05) makes it dominate its column's int8 scale
        // and rounds the other rows away (digits lost 0.8 accuracy points); it runs as its own
        // step on the fp32 inputs instead, and the int8 kernel is timed with that step.
        let pendingAffine = options.foldAffine && symbols[source]?.affine != nil
        let decision = options.precisionChooser.choose(options.storedWeights, kernels: options.kernels, k: dense.inputWidth,
                                                       n: dense.outputWidth, withAffine: pendingAffine)
        if options.foldAffine, decision.precision != .int8, let symbol = symbols[source], let affine = symbol.affine {
            let folded = DenseParameters(weights: weights, bias: bias, activation: dense.activation).foldingBefore(affine)
            (weights, bias) = (folded.weights, folded.bias)
            input = symbol.value
            rewrites.append("folded the affine transform of '\(source)' into dense '\(node.name)'")
        } else {
            input = materialize(source)
        }
        let output = newValue(width: dense.outputWidth)
        append(.dense(DenseStep(node: node.name, input: input, output: output, weights: weights, bias: bias,
                                activation: dense.activation, residual: nil, postActivation: .linear, decision: decision)))
        symbols[node.name] = Symbol(value: output, affine: nil)
    }

    private mutating func lowerBatchNorm(_ node: Node, _ norm: BatchNorm) {
        let source = node.inputs[0]
        let affine = AffineTransform(norm)
        guard options.foldAffine else {
            let input = materialize(source)
            let output = newValue(width: norm.width)
            append(.affine(input: input, output: output, scale: Self.tensor(affine.scale), shift: Self.tensor(affine.shift), node: node.name))
            symbols[node.name] = Symbol(value: output, affine: nil)
            return
        }
        let symbol = symbols[source]!
        // A step's weights are its own (shared dense nodes are lowered to steps with copies).
        if symbol.affine == nil, case .dense(var dense)? = producingStep(of: symbol.value),
           AffineFoldingRules.foldsIntoProducer(activation: dense.activation, addsResidual: dense.residual != nil,
                                                hasOtherReaders: !isSoleUse(source), sharesWeights: false) {
            let folded = DenseParameters(weights: dense.weights, bias: dense.bias).foldingAfter(affine)
            (dense.weights, dense.bias) = (folded.weights, folded.bias)
            replaceProducingStep(of: symbol.value, with: .dense(dense))
            symbols[node.name] = symbol
            rewrites.append("folded \(norm.kindDescription) '\(node.name)' into the preceding dense '\(dense.node)'")
            return
        }
        let composed = symbol.affine.map { $0.then(affine) } ?? affine
        symbols[node.name] = Symbol(value: symbol.value, affine: composed)
    }

    private mutating func lowerActivation(_ node: Node, _ activation: Activation) {
        let source = node.inputs[0]
        if options.fuseEpilogues, symbols[source]!.affine == nil, isSoleUse(source),
           case .dense(var dense)? = producingStep(of: symbols[source]!.value) {
            var fused = false
            if dense.residual == nil, dense.activation == .linear {
                dense.activation = activation
                fused = true
            } else if dense.activation != .softmax, dense.postActivation == .linear, activation != .softmax {
                dense.postActivation = activation
                fused = true
            }
            if fused {
                replaceProducingStep(of: dense.output, with: .dense(dense))
                symbols[node.name] = symbols[source]
                rewrites.append("fused \(activation) '\(node.name)' into dense '\(dense.node)'")
                return
            }
        }
        let input = materialize(source)
        let output = newValue(width: widths[input])
        append(.activation(input: input, output: output, activation: activation, node: node.name))
        symbols[node.name] = Symbol(value: output, affine: nil)
    }

    private mutating func lowerAdd(_ node: Node) {
        let operands = node.inputs.map { materialize($0) }
        if options.fuseEpilogues, operands.count == 2 {
            for (candidate, other) in [(0, 1), (1, 0)] {
                let name = node.inputs[candidate]
                guard isSoleUse(name), operands[candidate] != operands[other],
                      case .dense(var dense)? = producingStep(of: operands[candidate]),
                      dense.residual == nil, dense.activation != .softmax, dense.postActivation == .linear else { continue }
                dense.residual = operands[other]
                // The dense step moves after the residual's producer; only this add reads its output.
                removeProducingStep(of: dense.output)
                append(.dense(dense))
                symbols[node.name] = Symbol(value: dense.output, affine: nil)
                rewrites.append("fused add '\(node.name)' into the epilogue of dense '\(dense.node)'")
                return
            }
        }
        let output = newValue(width: widths[operands[0]])
        append(.add(inputs: operands, output: output, node: node.name))
        symbols[node.name] = Symbol(value: output, affine: nil)
    }

    private mutating func lowerConcat(_ node: Node) {
        let operandSymbols = node.inputs.map { symbols[$0]! }
        let width = operandSymbols.reduce(0) { $0 + widths[$1.value] }
        let output = newValue(width: width)
        var column = 0
        var placedHere = Set<Int>()
        let carryAffine = options.foldAffine && operandSymbols.contains { $0.affine != nil }
        var combined = AffineTransform(scale: [], shift: [])
        for (name, symbol) in zip(node.inputs, operandSymbols) {
            let value = carryAffine ? symbol.value : materialize(name)
            let operandWidth = widths[value]
            if options.concatByLayout, placements[value] == nil, !placedHere.contains(value) {
                placements[value] = (output, column)
                placedHere.insert(value)
            } else {
                let slice = newValue(width: operandWidth)
                placements[slice] = (output, column)
                append(.copy(input: value, output: slice, node: node.name))
            }
            let affine = carryAffine ? (symbol.affine ?? .identity(operandWidth)) : .identity(operandWidth)
            combined.scale += affine.scale
            combined.shift += affine.shift
            column += operandWidth
        }
        if options.concatByLayout { rewrites.append("concat '\(node.name)' by layout") }
        symbols[node.name] = Symbol(value: output, affine: carryAffine ? combined : nil)
    }

    // MARK: - Values and steps

    private mutating func newValue(width: Int) -> Int {
        widths.append(width)
        return widths.count - 1
    }

    private mutating func append(_ step: PlannedStep) {
        producer[step.outputValue] = steps.count
        steps.append(step)
    }

    private func producingStep(of value: Int) -> PlannedStep? {
        producer[value].flatMap { steps[$0] }
    }

    private mutating func replaceProducingStep(of value: Int, with step: PlannedStep) {
        steps[producer[value]!] = step
    }

    private mutating func removeProducingStep(of value: Int) {
        steps[producer[value]!] = nil
        producer[value] = nil
    }

    /// The stored value of `name` with any pending affine transform applied (once).
    private mutating func materialize(_ name: String) -> Int {
        let symbol = symbols[name]!
        guard let affine = symbol.affine else { return symbol.value }
        let output = newValue(width: widths[symbol.value])
        append(.affine(input: symbol.value, output: output, scale: Self.tensor(affine.scale), shift: Self.tensor(affine.shift),
                       node: graph.inputs.contains { $0.name == name } ? "standardize '\(name)'" : name))
        symbols[name] = Symbol(value: output, affine: nil)
        return output
    }

    private mutating func countUses() {
        for node in graph.nodes {
            switch node.operation {
            case .dropout, .alphaDropout: continue
            default: for input in node.inputs { uses[resolve(input), default: 0] += 1 }
            }
        }
        for output in graph.outputs {
            let resolved = resolve(output.node)
            uses[resolved, default: 0] += 1
            outputNames.insert(resolved)
        }
    }

    /// The name a value really comes from, looking through dropout nodes.
    private func resolve(_ name: String) -> String {
        guard let node = graph.node(named: name) else { return name }
        switch node.operation {
        case .dropout, .alphaDropout: return resolve(node.inputs[0])
        default: return name
        }
    }

    /// True when `name` (through dropouts) is read by exactly one node and is not an output.
    private func isSoleUse(_ name: String) -> Bool {
        let resolved = resolve(name)
        return uses[resolved] == 1 && !outputNames.contains(resolved)
    }

    static func tensor(_ values: [Double]) -> Tensor {
        Tensor(values.map { Float($0) })
    }
}
