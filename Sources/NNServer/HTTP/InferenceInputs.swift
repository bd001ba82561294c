import NNInference

/// Turns the inputs of a decoded `$inference_request` (JSON data or binary tensor data) into
/// FP32 rows, checking datatype, shape and element count; errors name the input and element.
enum InferenceInputs {
    static func convert(_ inputs: [InferenceRequestBody.Input], binary: UnsafeRawBufferPointer) throws(ServingError) -> [NamedInput] {
        var binaryOffset = 0
        var converted: [NamedInput] = []
        converted.reserveCapacity(inputs.count)
        for input in inputs {
            guard let datatype = TensorDatatype(rawValue: input.datatype) else {
                throw ServingError(.invalidArgument, "input '\(input.name)' has unknown datatype '\(input.datatype)'; "
                    + "expected one of \(TensorDatatype.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let negative = input.shape.first(where: { $0 < 0 }) {
                throw ServingError(.invalidArgument, "input '\(input.name)' shape \(input.shape) has a negative dimension \(negative)")
            }
            guard input.shape.count == 1 || input.shape.count == 2 else {
                throw ServingError(.invalidArgument, "input '\(input.name)' has shape \(input.shape); expected [rows, features] (or [features] for one row)")
            }
            let (count, overflow) = input.shape.reduce((Int64(1), false)) { partial, dimension in
                let product = partial.0.multipliedReportingOverflow(by: dimension)
                return (product.partialValue, partial.1 || product.overflow)
            }
            guard !overflow, count <= Int64(Int32.max) else {
                throw ServingError(.invalidArgument, "input '\(input.name)' shape \(input.shape) holds too many elements")
            }
            let values: [Float]
            if let size = input.parameters?["binary_data_size"] {
                guard case .number(let bytes) = size, bytes >= 0, bytes.rounded() == bytes, bytes <= Double(Int32.max) else {
                    throw ServingError(.invalidArgument, "input '\(input.name)' parameter binary_data_size is \(size.typeName), not a byte count")
                }
                guard input.data == nil else {
                    throw ServingError(.invalidArgument, "input '\(input.name)' has both data and binary_data_size")
                }
                let length = Int(bytes)
                guard length == Int(count) * datatype.byteSize else {
                    throw ServingError(.invalidArgument, "input '\(input.name)' binary_data_size is \(length) bytes; shape \(input.shape) of \(datatype.rawValue) needs \(Int(count) * datatype.byteSize)")
                }
                guard binaryOffset + length <= binary.count else {
                    throw ServingError(.invalidArgument, "input '\(input.name)' needs \(length) bytes of binary data; the body has \(binary.count - binaryOffset) left")
                }
                values = try fromBinary(UnsafeRawBufferPointer(rebasing: binary[binaryOffset..<(binaryOffset + length)]),
                                        count: Int(count), datatype, input: input.name)
                binaryOffset += length
            } else {
                guard let data = input.data else {
                    throw ServingError(.invalidArgument, "field 'data' of input '\(input.name)' is missing (and it has no binary_data_size)")
                }
                try checkNesting(data, shape: input.shape, input: input.name)
                values = try fromJSON(data, datatype, input: input.name)
                guard values.count == Int(count) else {
                    throw ServingError(.invalidArgument, "input '\(input.name)' has \(values.count) values; shape \(input.shape) needs \(count)")
                }
            }
            let shape = input.shape.count == 1 ? [1] + input.shape : input.shape
            converted.append(NamedInput(name: input.name, shape: shape, values: values))
        }
        guard binaryOffset == binary.count else {
            throw ServingError(.invalidArgument, "the body has \(binary.count - binaryOffset) bytes of binary data beyond the inputs that declare binary_data_size")
        }
        return converted
    }

    /// `data` is either flat (scalars only) or nested exactly in the tensor's shape: `[[1, 2],
    /// [3]]` for shape [2, 2] has the right element count in the wrong places, and the rows
    /// would be read shifted.
    private static func checkNesting(_ data: JSONValue, shape: [Int64], input: String) throws(ServingError) {
        guard case .array(let top) = data, top.contains(where: { if case .array = $0 { true } else { false } }) else { return }
        func check(_ value: JSONValue, depth: Int, path: String) throws(ServingError) {
            if depth == shape.count {
                if case .array = value {
                    throw ServingError(.invalidArgument, "input '\(input)' data\(path) is an array; shape \(shape) nests \(shape.count) levels")
                }
                return
            }
            guard case .array(let elements) = value else {
                throw ServingError(.invalidArgument, "input '\(input)' data\(path) is \(value.typeName); shape \(shape) needs an array of \(shape[depth]) there")
            }
            guard Int64(elements.count) == shape[depth] else {
                throw ServingError(.invalidArgument, "input '\(input)' data\(path) has \(elements.count) elements; shape \(shape) needs \(shape[depth])")
            }
            for (index, element) in elements.enumerated() { try check(element, depth: depth + 1, path: "\(path)[\(index)]") }
        }
        try check(data, depth: 0, path: "")
    }

    /// Flattens `data` (flat or nested in the tensor's shape) into FP32 values.
    private static func fromJSON(_ data: JSONValue, _ datatype: TensorDatatype, input: String) throws(ServingError) -> [Float] {
        var values: [Float] = []
        var problem: (index: Int, error: TensorValueError)?
        func flatten(_ value: JSONValue) {
            guard problem == nil else { return }
            if case .array(let elements) = value {
                values.reserveCapacity(values.count + elements.count)
                for element in elements { flatten(element) }
                return
            }
            switch datatype.float(fromJSON: value) {
            case .success(let number): values.append(number)
            case .failure(let error): problem = (values.count, error)
            }
        }
        guard case .array = data else {
            throw ServingError(.invalidArgument, "field 'data' of input '\(input)' is \(data.typeName); expected an array")
        }
        flatten(data)
        if let problem {
            throw ServingError(.invalidArgument, "input '\(input)' element \(problem.index) \(problem.error.problem)")
        }
        return values
    }

    private static func fromBinary(_ bytes: UnsafeRawBufferPointer, count: Int, _ datatype: TensorDatatype, input: String) throws(ServingError) -> [Float] {
        if datatype == .fp32 {
            // The common case: little-endian FP32 is already the layout we compute in.
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes)
                for index in 0..<count { buffer[index] = Float(bitPattern: UInt32(littleEndian: buffer[index].bitPattern)) }
                initialized = count
            }
        }
        var values: [Float] = []
        values.reserveCapacity(count)
        for index in 0..<count {
            switch datatype.float(fromBinary: bytes, at: index) {
            case .success(let number): values.append(number)
            case .failure(let error):
                throw ServingError(.invalidArgument, "input '\(input)' binary element \(index) \(error.problem)")
            }
        }
        return values
    }
}
