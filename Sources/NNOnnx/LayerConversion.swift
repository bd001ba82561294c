import NNCore

/// The operations that become graph nodes: dense layers (Gemm, MatMul), batch norm, softmax,
/// elementwise functions and affine transforms by constants, residual adds, and scikit-learn's
/// Scaler.
extension GraphConversion {
    mutating func convertGemm(_ node: Onnx_NodeProto, name: String, refuse: (String) -> OnnxError) throws(OnnxError) -> OnnxValue {
        guard node.int("transA", default: 0) == 0 else { throw refuse("transA ≠ 0 puts the batch in the columns of A") }
        let input = try tensor(try operand(node, 0, refuse), role: "input of Gemm")
        guard case .constant(let b) = try resolve(try operand(node, 1, refuse)), b.shape.count == 2 else {
            throw refuse("B is computed from the inputs or is not a matrix; nnserve's dense layers have constant weights")
        }
        let transB = node.int("transB", default: 0) != 0  // any nonzero value transposes, as in ONNX Runtime
        let (k, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard input.dims.count == 1, input.width == k else {
            throw refuse("A is [batch, \(input.dims.map(String.init).joined(separator: ", "))] and B holds \(k) rows")
        }
        let alpha = Double(node.float("alpha", default: 1)), beta = Double(node.float("beta", default: 1))
        var weights = [Float](repeating: 0, count: k * n)
        for row in 0..<k {
            for column in 0..<n {
                weights[row * n + column] = Float(alpha * b.values[transB ? column * k + row : row * n + column])
            }
        }
        var bias = [Double](repeating: 0, count: n)
        if node.input.count > 2, !node.input[2].isEmpty {
            guard case .constant(let c) = try resolve(node.input[2]) else { throw refuse("C is computed from the inputs; nnserve's biases are constant") }
            guard let expanded = Self.broadcast(c, toFeatures: [n]) else { throw refuse("C of shape \(c.shape) does not broadcast to [\(n)] per row") }
            bias = expanded.map { beta * $0 }
        }
        let dense = DenseParameters(weights: Tensor(shape: [k, n], values: weights), bias: Tensor(bias.map { Float($0) }))
        return emit(name, .dense(dense), inputs: [input.name], dims: [n])
    }

    mutating func convertMatMul(_ node: Onnx_NodeProto, name: String, refuse: (String) -> OnnxError) throws(OnnxError) -> OnnxValue {
        guard case .tensor(let input) = try resolve(try operand(node, 0, refuse)) else {
            throw refuse("A is constant; nnserve multiplies values computed from the inputs by constant weights")
        }
        guard case .constant(let b) = try resolve(try operand(node, 1, refuse)), (1...2).contains(b.shape.count) else {
            throw refuse("B is computed from the inputs or has more than 2 dimensions; nnserve's dense layers have constant weights")
        }
        let k = b.shape[0], n = b.shape.count == 2 ? b.shape[1] : 1
        guard let last = input.dims.last, last == k, input.dims.dropLast().allSatisfy({ $0 == 1 }) else {
            throw refuse("A is [batch, \(input.dims.map(String.init).joined(separator: ", "))] and B holds \(k) rows")
        }
        let dense = DenseParameters(weights: Tensor(shape: [k, n], values: b.floats), bias: Tensor(zeros: [n]))
        let dims = b.shape.count == 2 ? Array(input.dims.dropLast()) + [n] : Array(input.dims.dropLast())
        return emit(name, .dense(dense), inputs: [input.name], dims: dims)
    }

    mutating func convertBatchNorm(_ node: Onnx_NodeProto, name: String, opset: Int, refuse: (String) -> OnnxError) throws(OnnxError) -> OnnxValue {
        if node.int("training_mode", default: 0) == 1 { throw refuse("training_mode = 1; export the model in eval() mode") }
        let input = try tensor(try operand(node, 0, refuse), role: "input of BatchNormalization")
        let channels = input.dims.first ?? 1
        guard input.dims.dropFirst().allSatisfy({ $0 == 1 }) else {
            throw refuse("normalizes channels of a [batch, \(input.dims.map(String.init).joined(separator: ", "))] value; nnserve normalizes features")
        }
        var vectors: [[Float]] = []
        for index in 1...4 {
            guard case .constant(let vector) = try resolve(try operand(node, index, refuse)), vector.count == channels else {
                throw refuse("input \(index) is computed or does not hold \(channels) numbers")
            }
            vectors.append(vector.floats)
        }
        let epsilon = node.float("epsilon", default: 1e-5)
        guard epsilon.isFinite, epsilon > 0 else { throw refuse("epsilon is \(epsilon)") }
        guard vectors[3].allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw refuse("a variance is negative or not finite") }
        let norm = BatchNorm(gamma: Tensor(vectors[0]), beta: Tensor(vectors[1]), movingMean: Tensor(vectors[2]),
                             movingVariance: Tensor(vectors[3]), epsilon: epsilon)
        return emit(name, .batchNorm(norm), inputs: [input.name], dims: input.dims)
    }

    /// Softmax before opset 13 flattens from `axis` (default 1) to 2-D; from 13 it normalizes
    /// along `axis` alone (default -1). Either is nnserve's row softmax exactly when every other
    /// feature dimension it would group by has size 1.
    mutating func convertSoftmax(_ node: Onnx_NodeProto, name: String, opset: Int, refuse: (String) -> OnnxError) throws(OnnxError) -> OnnxValue {
        let input = try tensor(try operand(node, 0, refuse), role: "input of Softmax")
        let rank = 1 + input.dims.count
        let axis = node.int("axis", default: opset >= 13 ? -1 : 1)
        let resolved = axis < 0 ? axis + rank : axis
        guard resolved >= 1, resolved < rank else { throw refuse("Softmax along axis \(axis) normalizes across the batch") }
        let rowWise = opset >= 13 ? input.dims[resolved - 1] == input.width : input.dims.prefix(resolved - 1).allSatisfy { $0 == 1 }
        guard rowWise else { throw refuse("Softmax along axis \(axis) of [batch, \(input.dims.map(String.init).joined(separator: ", "))] normalizes groups within a row") }
        return emit(name, .activation(.softmax), inputs: [input.name], dims: input.dims)
    }

    // MARK: Elementwise

    mutating func convertElementwise(_ node: Onnx_NodeProto, name: String, refuse: (String) -> OnnxError) throws(OnnxError) -> OnnxValue {
        let inputs = node.presentInputs
        // Everything constant: fold.
        if inputs.allSatisfy({ isConstant($0) }) {
            var constants: [OnnxConstant] = []
            for input in inputs {
                guard case .constant(let constant) = try resolve(input) else { throw refuse("'\(input)' is not a number constant") }
                constants.append(constant)
            }
            try chargeDerived(constants.map(\.count).max() ?? 0, node: node)
            return .constant(try Self.fold(node, constants, refuse: refuse))
        }
        // One function of one value (an activation however spelled, a chain of constants).
        var mismatch: String?
        switch identifyRegion(endingAt: node) {
        case .success(let (root, function)):
            let input = try tensor(root, role: "input of \(node.opType)")
            switch function {
            case .identity: return .tensor(input)
            case .affine(let scale, let shift):
                return emitAffine(name, input: input, scale: [Double](repeating: scale, count: input.width), shift: [Double](repeating: shift, count: input.width))
            case .activation(let activation):
                return emit(name, .activation(activation), inputs: [input.name], dims: input.dims)
            }
        case .failure(let failure):
            mismatch = failure.summary
        }
        // A value and per-feature constants: an affine transform.
        let computed = inputs.filter { !isConstant($0) }
        if computed.count == 1, inputs.count == 2, ["Add", "Sub", "Mul", "Div"].contains(node.opType) {
            let input = try tensor(computed[0], role: "input of \(node.opType)")
            let constantName = inputs.first { $0 != computed[0] }!
            guard case .constant(let constant) = try resolve(constantName) else { throw refuse("'\(constantName)' is not a number constant") }
            guard let c = Self.broadcast(constant, toFeatures: input.dims) else {
                throw refuse("the constant of shape \(constant.shape) does not broadcast over each row of [batch, \(input.dims.map(String.init).joined(separator: ", "))] alone")
            }
            let valueFirst = inputs[0] == computed[0]
            let ones = [Double](repeating: 1, count: c.count), zeros = [Double](repeating: 0, count: c.count)
            switch (node.opType, valueFirst) {
            case ("Add", _): return emitAffine(name, input: input, scale: ones, shift: c)
            case ("Sub", true): return emitAffine(name, input: input, scale: ones, shift: c.map { -$0 })
            case ("Sub", false): return emitAffine(name, input: input, scale: ones.map { -$0 }, shift: c)
            case ("Mul", _): return emitAffine(name, input: input, scale: c, shift: zeros)
            case ("Div", true):
                guard !c.contains(0) else { throw refuse("divides by a constant that holds 0") }
                return emitAffine(name, input: input, scale: c.map { 1 / $0 }, shift: zeros)
            default:
                break
            }
        }
        // Two branches added: a residual connection.
        if node.opType == "Add", computed.count == 2, inputs.count == 2 {
            let left = try tensor(inputs[0], role: "input of Add"), right = try tensor(inputs[1], role: "input of Add")
            guard left.dims == right.dims else {
                throw refuse("adds [batch, \(left.dims.map(String.init).joined(separator: ", "))] and [batch, \(right.dims.map(String.init).joined(separator: ", "))]; nnserve adds values of one shape")
            }
            return emit(name, .add, inputs: [left.name, right.name], dims: left.dims)
        }
        throw refuse("computes \(mismatch.map { "an elementwise function that \($0)" } ?? "a function of several values nnserve has no operation for")")
    }

    /// The values `node` reads, traced back through elementwise operations until one value
    /// `root` remains: then `node`'s output is f(root) for an f evaluated point by point.
    /// Tries the nearest such root first, then further ones (torch's GELU reads its input
    /// twice); gives up past `maximumRegion` operations.
    private mutating func identifyRegion(endingAt end: Onnx_NodeProto) -> Result<(String, ElementwiseFunction), ElementwiseFunction.Mismatch> {
        var region: [String: Onnx_NodeProto] = [:]  // value → the node computing it
        var frontier = Set(end.presentInputs.filter { !isConstant($0) })
        region[end.output[0]] = end
        var lastFailure = ElementwiseFunction.Mismatch(summary: "is not one function of one value")
        var nonlinear = !Self.isAffineStep(end, isConstant: { self.isConstant($0) })
        while region.count <= Self.maximumRegion {
            if frontier.count == 1, nonlinear {
                let root = frontier.first!
                switch evaluateRegion(region, root: root, output: end.output[0]) {
                case .success(let function): return .success((root, function))
                case .failure(let failure): lastFailure = failure
                }
            }
            // A value already in the region read again is a cycle: the graph is refused elsewhere.
            guard let next = frontier.max(by: { producerIndex($0) < producerIndex($1) }), producerIndex(next) >= 0,
                  region[next] == nil else { break }
            let node = model.graph.node[producerIndex(next)]
            guard ScalarOperation.elementwise.contains(node.opType), node.output.first == next,
                  node.domain.isEmpty || node.domain == "ai.onnx" else { break }
            frontier.remove(next)
            region[next] = node
            frontier.formUnion(node.presentInputs.filter { !isConstant($0) })
            if !Self.isAffineStep(node, isConstant: { self.isConstant($0) }) { nonlinear = true }
        }
        return .failure(lastFailure)
    }

    /// The index of the node computing `name`, or -1 for inputs and initializers.
    private func producerIndex(_ name: String) -> Int {
        producer(of: name)?.node ?? -1
    }

    /// Steps that alone are affine (by a constant), which the per-node path converts.
    private static func isAffineStep(_ node: Onnx_NodeProto, isConstant: (String) -> Bool) -> Bool {
        switch node.opType {
        case "Identity", "Neg", "Dropout": return true
        case "Cast": return node.int("to", default: 1) == 1
        case "Add", "Sub", "Mul": return node.presentInputs.filter { !isConstant($0) }.count <= 1
        case "Div": return node.input.count == 2 && isConstant(node.input[1])
        default: return false
        }
    }

    private mutating func evaluateRegion(_ region: [String: Onnx_NodeProto], root: String, output: String) -> Result<ElementwiseFunction, ElementwiseFunction.Mismatch> {
        var scalars: [String: Double] = [:]
        for (_, node) in region {
            for input in node.presentInputs where region[input] == nil && input != root {
                // One number: a vector of equal numbers could still widen the value by broadcasting.
                guard case .constant(let constant)? = try? resolve(input), constant.count == 1 else {
                    return .failure(.init(summary: "reads '\(input)', which is not one number"))
                }
                scalars[input] = constant.values[0]
            }
        }
        func value(_ name: String, _ x: Double, _ memo: inout [String: Double], depth: Int) -> Double? {
            if name == root { return x }
            if let known = scalars[name] ?? memo[name] { return known }
            guard depth < Self.maximumRegion + 1, let node = region[name] else { return nil }
            var operands: [Double] = []
            for input in node.input {
                if input.isEmpty { operands.append(.nan); continue }
                guard let operand = value(input, x, &memo, depth: depth + 1) else { return nil }
                operands.append(operand)
            }
            // Clip's absent bounds are unbounded: drop trailing placeholders.
            while operands.last?.isNaN == true, node.input.last?.isEmpty == true { operands.removeLast() }
            let result = ScalarOperation.evaluate(node, operands)
            memo[name] = result
            return result
        }
        // The chain's own constants are where it may switch behaviour (a clip at 100, a
        // threshold at 20): probed on both sides too.
        return ElementwiseFunction.identify(extraProbes: Array(scalars.values)) { x in
            var memo: [String: Double] = [:]
            return value(output, x, &memo, depth: 0)
        }
    }

    // MARK: Constants and broadcasting

    /// `constant` broadcast over one row of a [batch] + `dims` value, flattened; nil when it
    /// would vary along the batch or does not broadcast.
    static func broadcast(_ constant: OnnxConstant, toFeatures dims: [Int]) -> [Double]? {
        let rank = dims.count + 1
        guard constant.shape.count <= rank else { return nil }
        let shape = [Int](repeating: 1, count: rank - constant.shape.count) + constant.shape
        guard shape[0] == 1 else { return nil }
        let features = Array(shape.dropFirst())
        guard zip(features, dims).allSatisfy({ $0 == 1 || $0 == $1 }) else { return nil }
        let width = dims.reduce(1, *)
        var result = [Double](repeating: 0, count: width)
        for index in 0..<width {
            var remainder = index, source = 0, step = 1
            for axis in (0..<dims.count).reversed() {
                let coordinate = remainder % dims[axis]
                remainder /= dims[axis]
                if features[axis] != 1 { source += coordinate * step }
                step *= features[axis]
            }
            result[index] = constant.values[source]
        }
        return result
    }

    /// An elementwise operation on constants: equal shapes, or scalars against anything.
    static func fold(_ node: Onnx_NodeProto, _ constants: [OnnxConstant], refuse: (String) -> OnnxError) throws(OnnxError) -> OnnxConstant {
        guard let shaped = constants.max(by: { $0.count < $1.count }) else { throw refuse("no inputs") }
        guard constants.allSatisfy({ $0.count == 1 || $0.shape == shaped.shape }) else {
            throw refuse("folds constants of shapes \(constants.map(\.shape)); nnserve folds equal shapes or scalars")
        }
        var values: [Double] = []
        values.reserveCapacity(shaped.count)
        for index in 0..<shaped.count {
            guard let value = ScalarOperation.evaluate(node, constants.map { $0.values[$0.count == 1 ? 0 : index] }) else {
                throw refuse("cannot be folded on constants")
            }
            values.append(value)
        }
        let comparison = ["Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Equal", "Not"].contains(node.opType)
        let integer = comparison || (node.opType != "Cast" && constants.allSatisfy(\.isInteger)) || (node.opType == "Cast" && ![1, 10, 11, 16].contains(node.int("to", default: 1)))
        return OnnxConstant(shape: shaped.shape, values: integer ? values.map { $0.rounded(.towardZero) } : values, isInteger: integer)
    }

    // MARK: ai.onnx.ml

    mutating func convertMLNode(_ node: Onnx_NodeProto, name: String, refuse: (String) -> OnnxError) throws(OnnxError) -> OnnxValue {
        switch node.opType {
        case "Scaler":
            // y = (x - offset) · scale, each one number or one per feature.
            let input = try tensor(try operand(node, 0, refuse), role: "input of Scaler")
            let offset = (node.floats("offset") ?? [0]).map { Double($0) }, scale = (node.floats("scale") ?? [1]).map { Double($0) }
            guard [1, input.width].contains(offset.count), [1, input.width].contains(scale.count) else {
                throw refuse("offset (\(offset.count)) or scale (\(scale.count)) is neither one number nor one per feature (\(input.width))")
            }
            let s = (0..<input.width).map { scale[scale.count == 1 ? 0 : $0] }
            let t = (0..<input.width).map { -offset[offset.count == 1 ? 0 : $0] * s[$0] }
            return emitAffine(name, input: input, scale: s, shift: t)
        case "ZipMap":
            throw refuse("ZipMap makes a list of dictionaries, not a tensor: export with `options={'zipmap': False}` and serve 'probabilities'")
        case "Normalizer":
            throw refuse("row normalization (scikit-learn's Normalizer) is not an operation nnserve runs yet; normalize rows before sending them, or drop the Normalizer from the pipeline")
        default:
            throw refuse("\(node.opType) (ai.onnx.ml) is not an MLP operation nnserve runs; scikit-learn pipelines import with StandardScaler and MLPClassifier or MLPRegressor")
        }
    }
}
