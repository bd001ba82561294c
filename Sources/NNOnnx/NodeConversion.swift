import NNCore

/// Each ONNX operation the importer reads, converted to constants, shape vectors or graph
/// nodes. What an MLP exporter writes converts; anything else is refused by name.
extension GraphConversion {
    mutating func convertNode(_ node: Onnx_NodeProto, output position: Int) throws(OnnxError) -> OnnxValue {
        let opType = node.opType
        let domain = node.domain == "ai.onnx" ? "" : node.domain
        guard let opset = model.opset(of: node) else {
            throw .unsupportedNode(node: node.displayName, opType: opType, opset: 0,
                                   reason: "its domain '\(node.domain)' is not imported by the model")
        }
        let refuse = { (reason: String) in OnnxError.unsupportedNode(node: node.displayName, opType: opType, opset: opset, reason: reason) }
        let name = node.output[position]
        if domain == "ai.onnx.ml" { return try convertMLNode(node, name: name, refuse: refuse) }
        guard domain.isEmpty else {
            throw refuse("operators of domain '\(node.domain)' (a runtime's own extensions) are not ONNX operators nnserve runs; export without runtime-specific optimizations")
        }
        if position > 0 {
            switch opType {
            case "Dropout": throw refuse("its mask output is read; the mask exists only in training")
            case "BatchNormalization": throw refuse("its running statistics outputs are read: the training-mode form; export the model in eval() mode")
            default: throw refuse("its output \(position) is read; nnserve reads one output per operation")
            }
        }
        let inputs = node.input
        switch opType {
        case "Constant":
            return .constant(try constantAttribute(node, refuse: refuse))
        case "Identity":
            return try resolve(try operand(node, 0, refuse))
        case "Dropout":
            if opset >= 12, inputs.count > 2, !inputs[2].isEmpty {
                guard case .constant(let training) = try resolve(inputs[2]), training.values.allSatisfy({ $0 == 0 }) else {
                    throw refuse("training_mode is on or computed; export the model in eval() mode")
                }
            }
            return try resolve(try operand(node, 0, refuse))
        case "Cast":
            return try convertCast(node, refuse: refuse)
        case "Shape":
            return try convertShape(node, refuse: refuse)
        case "Gather":
            return try convertGather(node, refuse: refuse)
        case "Unsqueeze", "Squeeze":
            return try convertSqueeze(node, opset: opset, refuse: refuse)
        case "Reshape", "Flatten":
            return try convertReshape(node, refuse: refuse)
        case "Concat":
            return try convertConcat(node, name: name, refuse: refuse)
        case "Slice":
            return try convertSlice(node, refuse: refuse)
        case "Transpose":
            return try convertTranspose(node, refuse: refuse)
        case "Gemm":
            return try convertGemm(node, name: name, refuse: refuse)
        case "MatMul":
            return try convertMatMul(node, name: name, refuse: refuse)
        case "BatchNormalization":
            return try convertBatchNorm(node, name: name, opset: opset, refuse: refuse)
        case "Softmax":
            return try convertSoftmax(node, name: name, opset: opset, refuse: refuse)
        case _ where ScalarOperation.elementwise.contains(opType):
            return try convertElementwise(node, name: name, refuse: refuse)
        default:
            throw refuse(Self.advice(opType))
        }
    }

    /// Why an op type is not imported, with what to do where there is something.
    static func advice(_ opType: String) -> String {
        switch opType {
        case "Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "LSTM", "GRU", "RNN", "Attention",
             "MultiHeadAttention", "LayerNormalization", "Einsum":
            "\(opType) is not an MLP operation nnserve runs (nnserve serves dense networks on tabular features)"
        case "LogSoftmax":
            "LogSoftmax is not an output nnserve computes; export the probabilities (Softmax) instead"
        case "ArgMax", "TopK":
            "\(opType) turns scores into indices; serve the scores and ask for the classification extension"
        case "QuantizeLinear", "DequantizeLinear", "MatMulInteger", "QLinearMatMul":
            "quantized ONNX graphs are not imported; import the float model and choose `--weights bf16` or `fp16`"
        default:
            "\(opType) is not an operation nnserve runs"
        }
    }

    func operand(_ node: Onnx_NodeProto, _ index: Int, _ refuse: (String) -> OnnxError) throws(OnnxError) -> String {
        guard index < node.input.count, !node.input[index].isEmpty else { throw refuse("input \(index) is missing") }
        return node.input[index]
    }

    // MARK: Constants and shapes

    private func constantAttribute(_ node: Onnx_NodeProto, refuse: (String) -> OnnxError) throws(OnnxError) -> OnnxConstant {
        if let attribute = node.attribute("value") { return try tensors.read(attribute.t, name: node.output.first ?? node.displayName) }
        if let attribute = node.attribute("value_float") { return .scalar(Double(attribute.f)) }
        if let values = node.floats("value_floats") { return OnnxConstant(shape: [values.count], values: values.map { Double($0) }, isInteger: false) }
        if let attribute = node.attribute("value_int") { return .scalar(Double(attribute.i), isInteger: true) }
        if let values = node.ints("value_ints") { return OnnxConstant(shape: [values.count], values: values.map { Double($0) }, isInteger: true) }
        throw refuse("a Constant holding neither a tensor nor numbers (a sparse tensor or strings)")
    }

    private mutating func convertCast(_ node: Onnx_NodeProto, refuse: (String) -> OnnxError) throws(OnnxError) -> OnnxValue {
        let target = node.int("to", default: 1)
        let isFloat = [1, 10, 11, 16].contains(target)
        switch try resolve(try operand(node, 0, refuse)) {
        case .tensor(let value):
            guard target == 1 else { throw refuse("casts a computed value to type \(target); nnserve computes in float32") }
            return .tensor(value)
        case .shape(let shape):
            guard !isFloat else { throw refuse("casts a shape to floats") }
            return .shape(shape)
        case .constant(var constant):
            if target == 9 {
                constant.values = constant.values.map { $0 != 0 ? 1 : 0 }
            } else if !isFloat {
                constant.values = constant.values.map { $0.rounded(.towardZero) }
            } else if target == 1 {
                constant.values = constant.values.map { Double(Float($0)) }
            }
            constant.isInteger = !isFloat
            return .constant(constant)
        }
    }

    private mutating func convertShape(_ node: Onnx_NodeProto, refuse: (String) -> OnnxError) throws(OnnxError) -> OnnxValue {
        let elements: [Int?]
        switch try resolve(try operand(node, 0, refuse)) {
        case .tensor(let value): elements = [nil] + value.dims
        case .constant(let constant): elements = constant.shape
        case .shape(let shape): elements = shape.isScalar ? [] : [shape.elements.count]
        }
        let rank = elements.count
        func clamp(_ index: Int) -> Int { min(max(index < 0 ? index + rank : index, 0), rank) }
        let start = clamp(node.int("start", default: 0)), end = clamp(node.int("end", default: rank))
        return .shape(ShapeVector(elements: start < end ? Array(elements[start..<end]) : [], isScalar: false))
    }

    /// A shape vector or an integer constant, as optional integers (nil = the batch).
    private mutating func integerVector(_ name: String, refuse: (String) -> OnnxError) throws(OnnxError) -> ShapeVector {
        switch try resolve(name) {
        case .shape(let shape): return shape
        case .constant(let constant):
            guard constant.shape.count <= 1 else { throw refuse("'\(name)' is a \(constant.shape.count)-dimensional constant where a list of integers belongs") }
            guard constant.isInteger, constant.values.allSatisfy({ abs($0) <= 0x1p40 }) else {
                throw refuse("'\(name)' holds \(constant.isInteger ? "integers beyond any shape" : "floats") where integers (a shape, axes) belong")
            }
            return ShapeVector(elements: constant.integers, isScalar: constant.shape.isEmpty)
        case .tensor: throw refuse("'\(name)' is computed from the inputs where a shape or axes belong")
        }
    }

    private mutating func convertGather(_ node: Onnx_NodeProto, refuse: (String) -> OnnxError) throws(OnnxError) -> OnnxValue {
        let data = try operand(node, 0, refuse)
        guard case .constant(let indices) = try resolve(try operand(node, 1, refuse)), indices.isInteger, indices.shape.count <= 1 else {
            throw refuse("Gather with computed indices (an embedding lookup) is not an MLP operation nnserve runs")
        }
        guard node.int("axis", default: 0) == 0 else { throw refuse("Gather along axis \(node.int("axis", default: 0)) of a constant or shape") }
        let source: ShapeVector
        var floats: OnnxConstant?
        switch try resolve(data) {
        case .tensor: throw refuse("Gather of a computed value (a column selection or lookup) is not an MLP operation nnserve runs")
        case .shape(let shape): source = shape
        case .constant(let constant):
            guard constant.shape.count == 1 else { throw refuse("Gather of a \(constant.shape.count)-dimensional constant") }
            source = ShapeVector(elements: constant.integers, isScalar: false)
            floats = constant
        }
        var picked: [Int] = []
        for index in indices.integers {
            let position = index < 0 ? index + source.elements.count : index
            guard source.elements.indices.contains(position) else { throw refuse("index \(index) is outside the \(source.elements.count) elements gathered from") }
            picked.append(position)
        }
        if let floats {
            return .constant(OnnxConstant(shape: indices.shape, values: picked.map { floats.values[$0] }, isInteger: floats.isInteger))
        }
        return .shape(ShapeVector(elements: picked.map { source.elements[$0] }, isScalar: indices.shape.isEmpty))
    }

    private mutating func axes(_ node: Onnx_NodeProto, opset: Int, refuse: (String) -> OnnxError) throws(OnnxError) -> [Int]? {
        if opset >= 13 {
            guard node.input.count > 1, !node.input[1].isEmpty else { return nil }
            let vector = try integerVector(node.input[1], refuse: refuse)
            guard vector.elements.allSatisfy({ $0 != nil }) else { throw refuse("its axes depend on the batch size") }
            return vector.elements.map { $0! }
        }
        return node.ints("axes")
    }

    private mutating func convertSqueeze(_ node: Onnx_NodeProto, opset: Int, refuse: (String) -> OnnxError) throws(OnnxError) -> OnnxValue {
        let unsqueeze = node.opType == "Unsqueeze"
        let requested = try axes(node, opset: opset, refuse: refuse)
        let value = try resolve(try operand(node, 0, refuse))
        let rank: Int = switch value {
        case .tensor(let tensor): 1 + tensor.dims.count
        case .constant(let constant): constant.shape.count
        case .shape(let shape): shape.isScalar ? 0 : 1
        }
        let outputRank = unsqueeze ? rank + (requested?.count ?? 0) : rank
        var normalized: [Int] = []
        for axis in requested ?? [] {
            let resolved = axis < 0 ? axis + outputRank : axis
            guard (0..<outputRank).contains(resolved) else { throw refuse("axis \(axis) is outside rank \(outputRank)") }
            normalized.append(resolved)
        }
        guard Set(normalized).count == normalized.count else { throw refuse("axes \(normalized) repeat") }
        if unsqueeze, requested == nil { throw refuse("Unsqueeze without axes") }
        switch value {
        case .shape(let shape):
            if unsqueeze, shape.isScalar, normalized == [0] { return .shape(ShapeVector(elements: shape.elements, isScalar: false)) }
            if !unsqueeze, !shape.isScalar, shape.elements.count == 1, (normalized.isEmpty || normalized == [0]) {
                return .shape(ShapeVector(elements: shape.elements, isScalar: true))
            }
            throw refuse("\(node.opType) of a shape vector on axes \(normalized)")
        case .constant(var constant):
            if unsqueeze {
                var shape = constant.shape
                for axis in normalized.sorted() { shape.insert(1, at: axis) }
                constant.shape = shape
            } else {
                let drop = normalized.isEmpty ? Set(constant.shape.indices.filter { constant.shape[$0] == 1 }) : Set(normalized)
                guard drop.allSatisfy({ constant.shape[$0] == 1 }) else { throw refuse("squeezes an axis whose size is not 1") }
                constant.shape = constant.shape.indices.filter { !drop.contains($0) }.map { constant.shape[$0] }
            }
            return .constant(constant)
        case .tensor(var tensor):
            guard !normalized.contains(0) else {
                throw refuse("\(node.opType) on axis 0 would move the batch dimension; nnserve keeps the batch first")
            }
            if unsqueeze {
                for axis in normalized.sorted() { tensor.dims.insert(1, at: axis - 1) }
            } else {
                let drop = normalized.isEmpty ? Set(tensor.dims.indices.filter { tensor.dims[$0] == 1 }) : Set(normalized.map { $0 - 1 })
                guard drop.allSatisfy({ tensor.dims[$0] == 1 }) else { throw refuse("squeezes an axis whose size is not 1") }
                tensor.dims = tensor.dims.indices.filter { !drop.contains($0) }.map { tensor.dims[$0] }
            }
            return .tensor(tensor)
        }
    }

    private mutating func convertReshape(_ node: Onnx_NodeProto, refuse: (String) -> OnnxError) throws(OnnxError) -> OnnxValue {
        let value = try resolve(try operand(node, 0, refuse))
        if node.opType == "Flatten" {
            let axis = node.int("axis", default: 1)
            switch value {
            case .tensor(var tensor):
                let rank = 1 + tensor.dims.count
                let resolved = axis < 0 ? axis + rank : axis
                guard resolved >= 1, resolved <= rank, tensor.dims.prefix(resolved - 1).allSatisfy({ $0 == 1 }) else {
                    throw refuse("Flatten at axis \(axis) of [batch, \(tensor.dims.map(String.init).joined(separator: ", "))] mixes the batch into the features")
                }
                tensor.dims = [tensor.width]
                return .tensor(tensor)
            case .constant(var constant):
                let resolved = axis < 0 ? axis + constant.shape.count : axis
                guard (0...constant.shape.count).contains(resolved) else { throw refuse("axis \(axis) is outside rank \(constant.shape.count)") }
                constant.shape = [elementCount(Array(constant.shape.prefix(resolved))) ?? 0, elementCount(Array(constant.shape.dropFirst(resolved))) ?? 0]
                return .constant(constant)
            case .shape: throw refuse("Flatten of a shape vector")
            }
        }
        let target = try integerVector(try operand(node, 1, refuse), refuse: refuse)
        let allowZero = node.int("allowzero", default: 0) == 1
        switch value {
        case .shape: throw refuse("Reshape of a shape vector")
        case .constant(var constant):
            guard target.elements.allSatisfy({ $0 != nil }) else { throw refuse("reshapes a constant by the batch size") }
            constant.shape = try Self.resolvedShape(target.elements.map { $0! }, from: constant.shape, count: constant.count, allowZero: allowZero, refuse: refuse)
            return .constant(constant)
        case .tensor(var tensor):
            // The first dimension must stay the batch: the batch itself (from Shape), -1 standing
            // for it, 0 copying it, or the fixed batch of a fixed-batch export.
            guard let first = target.elements.first else { throw refuse("reshapes to a scalar") }
            let rest = Array(target.elements.dropFirst())
            guard rest.allSatisfy({ $0 != nil }) else { throw refuse("reshapes with the batch size in a feature dimension") }
            var dims = rest.map { $0! }
            for index in dims.indices where dims[index] == 0 && !allowZero {
                guard tensor.dims.indices.contains(index) else { throw refuse("dimension \(index + 1) is 0 and copies a dimension the input does not have") }
                dims[index] = tensor.dims[index]
            }
            if let inferred = dims.firstIndex(of: -1) {
                guard first != -1 else { throw refuse("two dimensions are -1") }
                let known = elementCount(dims.enumerated().filter { $0.offset != inferred }.map(\.element)) ?? 0
                guard known > 0, tensor.width % known == 0 else { throw refuse("cannot reshape \(tensor.width) features to \(target.elements.map { $0.map(String.init) ?? "batch" })") }
                dims[inferred] = tensor.width / known
            }
            let batchKept = first == nil || first == -1 || (first == 0 && !allowZero)
                || (first == fixedBatch && elementCount(dims) == tensor.width)
            guard batchKept, dims.allSatisfy({ $0 > 0 }), elementCount(dims) == tensor.width else {
                throw refuse("reshapes [batch, \(tensor.dims.map(String.init).joined(separator: ", "))] to [\(target.elements.map { $0.map(String.init) ?? "batch" }.joined(separator: ", "))], which does not keep the batch dimension first")
            }
            tensor.dims = dims
            return .tensor(tensor)
        }
    }

    /// A fixed-batch export writes its batch as a number (Reshape to [1, 16]): that number.
    private var fixedBatch: Int? {
        for input in model.graph.input {
            if case .dimValue(let batch)? = input.type.tensorType.shape.dim.first?.value { return Int(batch) }
        }
        return nil
    }

    static func resolvedShape(_ target: [Int], from shape: [Int], count: Int, allowZero: Bool, refuse: (String) -> OnnxError) throws(OnnxError) -> [Int] {
        var dims = target.enumerated().map { $0.element == 0 && !allowZero && $0.offset < shape.count ? shape[$0.offset] : $0.element }
        if let inferred = dims.firstIndex(of: -1) {
            let known = elementCount(dims.enumerated().filter { $0.offset != inferred }.map(\.element)) ?? 0
            guard known > 0, count % known == 0 else { throw refuse("cannot reshape \(count) numbers to \(target)") }
            dims[inferred] = count / known
        }
        guard dims.allSatisfy({ $0 >= 0 }), elementCount(dims) == count else { throw refuse("cannot reshape \(shape) to \(target)") }
        return dims
    }

    private mutating func convertConcat(_ node: Onnx_NodeProto, name: String, refuse: (String) -> OnnxError) throws(OnnxError) -> OnnxValue {
        let axis = node.int("axis", default: 0)
        var values: [OnnxValue] = []
        for input in node.presentInputs { values.append(try resolve(input)) }
        guard !values.isEmpty else { throw refuse("Concat of nothing") }
        let tensors = values.compactMap { if case .tensor(let tensor) = $0 { tensor } else { nil } }
        if tensors.isEmpty {
            let allConstantFloats = values.allSatisfy { if case .constant(let constant) = $0 { !constant.isInteger } else { false } }
            if allConstantFloats {
                var joined = OnnxConstant(shape: [0], values: [], isInteger: false)
                var total = 0
                for case .constant(let constant) in values {
                    guard constant.shape.count == 1 else { throw refuse("Concat of \(constant.shape.count)-dimensional constants") }
                    total += constant.count
                }
                try chargeDerived(total, node: node)  // before building it
                for case .constant(let constant) in values { joined.values += constant.values }
                joined.shape = [joined.values.count]
                return .constant(joined)
            }
            var elements: [Int?] = []
            for input in node.presentInputs {
                elements += try integerVector(input, refuse: refuse).elements
                guard elements.count <= 64 else { throw refuse("builds a shape of more than 64 dimensions") }
            }
            return .shape(ShapeVector(elements: elements, isScalar: false))
        }
        guard tensors.count == values.count else { throw refuse("concatenates a constant with values computed from the inputs") }
        let rank = 1 + tensors[0].dims.count
        let resolved = axis < 0 ? axis + rank : axis
        guard resolved >= 1, resolved < rank else { throw refuse("Concat along axis \(axis) of [batch, …] values would join along the batch") }
        let position = resolved - 1
        for tensor in tensors {
            guard tensor.dims.count == tensors[0].dims.count,
                  tensor.dims.indices.allSatisfy({ $0 == position || tensor.dims[$0] == tensors[0].dims[$0] }) else {
                throw refuse("its inputs' shapes \(tensors.map(\.dims)) differ beyond the concatenation axis")
            }
        }
        // Joining rows side by side is a feature concat only when nothing before the axis
        // interleaves them.
        guard tensors[0].dims.prefix(position).allSatisfy({ $0 == 1 }) else {
            throw refuse("Concat along axis \(axis) interleaves the features of its inputs")
        }
        var dims = tensors[0].dims
        dims[position] = tensors.reduce(0) { $0 + $1.dims[position] }
        if tensors.count == 1 { return .tensor(tensors[0]) }
        return emit(name, .concat, inputs: tensors.map(\.name), dims: dims)
    }

    private mutating func convertSlice(_ node: Onnx_NodeProto, refuse: (String) -> OnnxError) throws(OnnxError) -> OnnxValue {
        guard node.input.count >= 3 else { throw refuse("Slice without starts and ends inputs") }
        let source = try integerVector(try operand(node, 0, refuse), refuse: refuse)
        let starts = try integerVector(node.input[1], refuse: refuse).elements, ends = try integerVector(node.input[2], refuse: refuse).elements
        if node.input.count > 4, !node.input[4].isEmpty, try integerVector(node.input[4], refuse: refuse).elements != [1] {
            throw refuse("Slice with a step other than 1")
        }
        guard !source.isScalar, starts.count == 1, ends.count == 1, let start = starts[0], let end = ends[0] else {
            throw refuse("Slice of anything but a shape vector on its one axis")
        }
        let count = source.elements.count
        func clamp(_ index: Int) -> Int { min(max(index < 0 ? index + count : index, 0), count) }
        let (from, to) = (clamp(start), clamp(end))
        return .shape(ShapeVector(elements: from < to ? Array(source.elements[from..<to]) : [], isScalar: false))
    }

    private mutating func convertTranspose(_ node: Onnx_NodeProto, refuse: (String) -> OnnxError) throws(OnnxError) -> OnnxValue {
        guard case .constant(let constant) = try resolve(try operand(node, 0, refuse)) else {
            throw refuse("Transpose of a computed value would move the batch; only constant weights are transposed")
        }
        guard constant.shape.count == 2, (node.ints("perm") ?? [1, 0]) == [1, 0] else {
            throw refuse("Transpose of a \(constant.shape.count)-dimensional constant")
        }
        let (rows, columns) = (constant.shape[0], constant.shape[1])
        guard constant.count > 0 else { return .constant(OnnxConstant(shape: [columns, rows], values: [], isInteger: constant.isInteger)) }
        var values = [Double](repeating: 0, count: constant.count)
        for row in 0..<rows { for column in 0..<columns { values[column * rows + row] = constant.values[row * columns + column] } }
        return .constant(OnnxConstant(shape: [columns, rows], values: values, isInteger: constant.isInteger))
    }
}
