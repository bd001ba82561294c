import Foundation
import NNCore
import NNInference

/// One input tensor as a front received it, before it is checked against a model: the
/// protocol-neutral view every codec produces (the gRPC codec builds no JSON, the HTTP codec no
/// protobuf). `rows()` is the one conversion to the FP32 rows the models compute on — datatype,
/// shape, element count — and its errors name the input, the element and where its values came
/// from.
struct TensorView: Sendable {
    enum Values: Sendable {
        /// Little-endian elements of the datatype: the HTTP binary tensor data extension, gRPC
        /// `raw_input_contents` or typed `contents`.
        case littleEndian(Data, from: ByteSource)
        /// JSON `data`, flat or nested in the shape (KServe v2 HTTP).
        case json(JSONValue)
    }

    /// Where little-endian values came from, as errors name it.
    enum ByteSource: Sendable {
        /// HTTP: the input's `binary_data_size` bytes after the JSON header.
        case binaryDataSize
        /// gRPC: `raw_input_contents[index]`.
        case rawContents(index: Int)
        /// gRPC: typed `contents` (counted in values, not bytes).
        case typedContents
    }

    var name: String
    var shape: [Int64]
    var datatype: String
    var values: Values

    /// The tensor as the plan takes it: FP32 values, or the strings of a BYTES tensor (a raw
    /// column's categories or numbers as text; JSON null is a gap). A `[features]` shape stays
    /// flat: `Plan.rowBlock` reads it as one row of a numeric input or the rows of a raw column.
    func rows() throws(ServingError) -> NamedInput {
        guard let type = TensorDatatype(rawValue: datatype) else {
            throw ServingError(.invalidArgument, "input '\(name)' has unknown datatype '\(datatype)'; "
                + "expected one of \(TensorDatatype.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let count = try elementCount()
        if type == .bytes { return NamedInput(name: name, shape: shape, text: try strings(count: count)) }
        let converted: [Float]
        switch values {
        case .littleEndian(let bytes, let source):
            let needed = count * type.byteSize
            guard bytes.count == needed else { throw lengthMismatch(bytes.count, needed: needed, type, source) }
            converted = try bytes.withUnsafeBytes { buffer in
                Result { () throws(ServingError) in try Self.fromBinary(buffer, count: count, type, input: name) }
            }.get()
        case .json(let data):
            try checkNesting(data)
            converted = try fromJSON(data, type)
            guard converted.count == count else {
                throw ServingError(.invalidArgument, "input '\(name)' has \(converted.count) values; shape \(shape) needs \(count)")
            }
        }
        return NamedInput(name: name, shape: shape, values: converted)
    }

    /// A BYTES tensor's elements: JSON strings (numbers are taken as their text, null is a
    /// gap), or the binary form every KServe client writes — each element a 4-byte
    /// little-endian length, then that many bytes. Every element must be UTF-8.
    private func strings(count: Int) throws(ServingError) -> [String?] {
        var result: [String?] = []
        switch values {
        case .json(let data):
            try checkNesting(data)
            guard data.isArray else {
                throw ServingError(.invalidArgument, "field 'data' of input '\(name)' is \(data.typeName); expected an array")
            }
            var problem: String?
            func flatten(_ value: JSONValue) {
                guard problem == nil else { return }
                switch value {
                case .string(let text): result.append(text)
                case .null: result.append(nil)
                case .number(let number): result.append(RawValue.categoryText(of: Float(number)))
                case .numbers(let numbers): result += numbers.map { RawValue.categoryText(of: Float($0)) }
                case .array(let elements): elements.forEach(flatten)
                default: problem = "element \(result.count) is \(value.typeName); BYTES elements are strings (or null for a gap)"
                }
            }
            flatten(data)
            if let problem { throw ServingError(.invalidArgument, "input '\(name)' \(problem)") }
        case .littleEndian(let bytes, let source):
            let from = switch source {
            case .binaryDataSize: "binary data"
            case .rawContents(let index): "raw_input_contents[\(index)]"
            case .typedContents: "contents.bytes_contents"
            }
            var offset = bytes.startIndex
            while offset < bytes.endIndex {
                guard result.count < count else {
                    throw ServingError(.invalidArgument, "input '\(name)' \(from) holds more than the \(count) elements of shape \(shape)")
                }
                guard bytes.endIndex - offset >= 4 else {
                    throw ServingError(.invalidArgument, "input '\(name)' \(from) element \(result.count) has a truncated 4-byte length")
                }
                let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2]) << 16 | Int(bytes[offset + 3]) << 24
                offset += 4
                guard length <= bytes.endIndex - offset else {
                    throw ServingError(.invalidArgument, "input '\(name)' \(from) element \(result.count) says \(length) bytes; \(bytes.endIndex - offset) are left")
                }
                guard let text = String(validating: bytes[offset..<(offset + length)], as: UTF8.self) else {
                    throw ServingError(.invalidArgument, "input '\(name)' element \(result.count) is not UTF-8 text")
                }
                result.append(text)
                offset += length
            }
        }
        guard result.count == count else {
            throw ServingError(.invalidArgument, "input '\(name)' has \(result.count) strings; shape \(shape) needs \(count)")
        }
        return result
    }

    /// The number of elements the shape holds: `[rows, features]` or `[features]`, no negative
    /// dimension, no overflow. Every front's shapes are counted here.
    func elementCount() throws(ServingError) -> Int {
        if let negative = shape.first(where: { $0 < 0 }) {
            throw ServingError(.invalidArgument, "input '\(name)' shape \(shape) has a negative dimension \(negative)")
        }
        guard shape.count == 1 || shape.count == 2 else {
            throw ServingError(.invalidArgument, "input '\(name)' has shape \(shape); expected [rows, features] (or [features] for one row)")
        }
        var count: Int64 = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= Int64(Int32.max) else {
                throw ServingError(.invalidArgument, "input '\(name)' shape \(shape) holds too many elements")
            }
            count = product
        }
        return Int(count)
    }

    private func lengthMismatch(_ length: Int, needed: Int, _ type: TensorDatatype, _ source: ByteSource) -> ServingError {
        let want = "shape \(shape) of \(type.rawValue) needs"
        return switch source {
        case .binaryDataSize:
            ServingError(.invalidArgument, "input '\(name)' binary_data_size is \(length) bytes; \(want) \(needed) bytes")
        case .rawContents(let index):
            ServingError(.invalidArgument, "input '\(name)' raw_input_contents[\(index)] has \(length) bytes; \(want) \(needed) bytes")
        case .typedContents:
            ServingError(.invalidArgument, "input '\(name)' contents has \(length / type.byteSize) values; \(want) \(needed / type.byteSize) values")
        }
    }

    /// `data` is either flat (scalars only) or nested exactly in the tensor's shape: `[[1, 2],
    /// [3]]` for shape [2, 2] has the right element count in the wrong places, and the rows
    /// would be read shifted.
    private func checkNesting(_ data: JSONValue) throws(ServingError) {
        guard case .array(let top) = data, top.contains(where: \.isArray) else { return }
        let (input, shape) = (name, shape)
        func check(_ value: JSONValue, depth: Int, path: String) throws(ServingError) {
            if depth == shape.count {
                if value.isArray {
                    throw ServingError(.invalidArgument, "input '\(input)' data\(path) is an array; shape \(shape) nests \(shape.count) levels")
                }
                return
            }
            let count: Int
            switch value {
            case .numbers(let numbers):
                count = numbers.count
                if depth + 1 < shape.count, !numbers.isEmpty {
                    throw ServingError(.invalidArgument, "input '\(input)' data\(path)[0] is a number; shape \(shape) needs an array of \(shape[depth + 1]) there")
                }
            case .array(let elements):
                count = elements.count
            default:
                throw ServingError(.invalidArgument, "input '\(input)' data\(path) is \(value.typeName); shape \(shape) needs an array of \(shape[depth]) there")
            }
            guard Int64(count) == shape[depth] else {
                throw ServingError(.invalidArgument, "input '\(input)' data\(path) has \(count) elements; shape \(shape) needs \(shape[depth])")
            }
            if case .array(let elements) = value {
                for (index, element) in elements.enumerated() { try check(element, depth: depth + 1, path: "\(path)[\(index)]") }
            }
        }
        try check(data, depth: 0, path: "")
    }

    /// Flattens `data` (flat or nested in the tensor's shape) into FP32 values. Arrays of
    /// numbers (what clients send) convert without a value per element; FP32 is one rounding
    /// of a double the parser made FP32-exact.
    private func fromJSON(_ data: JSONValue, _ datatype: TensorDatatype) throws(ServingError) -> [Float] {
        var values: [Float] = []
        var problem: (index: Int, error: TensorValueError)?
        func flatten(_ value: JSONValue) {
            guard problem == nil else { return }
            switch value {
            case .numbers(let numbers) where datatype == .fp32:
                values.reserveCapacity(values.count + numbers.count)
                for number in numbers { values.append(Float(number)) }
            case .numbers(let numbers):
                values.reserveCapacity(values.count + numbers.count)
                for number in numbers {
                    switch datatype.float(fromJSON: .number(number)) {
                    case .success(let converted): values.append(converted)
                    case .failure(let error):
                        problem = (values.count, error)
                        return
                    }
                }
            case .array(let elements):
                values.reserveCapacity(values.count + elements.count)
                for element in elements { flatten(element) }
            default:
                switch datatype.float(fromJSON: value) {
                case .success(let number): values.append(number)
                case .failure(let error): problem = (values.count, error)
                }
            }
        }
        guard data.isArray else {
            throw ServingError(.invalidArgument, "field 'data' of input '\(name)' is \(data.typeName); expected an array")
        }
        flatten(data)
        if let problem {
            throw ServingError(.invalidArgument, "input '\(name)' element \(problem.index) \(problem.error.problem)")
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
