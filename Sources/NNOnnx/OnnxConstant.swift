import Foundation

/// A tensor the importer knows at conversion time: an initializer, a `Constant` node's value
/// or the result of folding operations on those. Integers (shapes, axes, indices) and floats
/// (weights) alike are held as Double: every int64 a shape can hold below 2⁵³ and every
/// float32 converts exactly.
struct OnnxConstant: Equatable {
    var shape: [Int]
    var values: [Double]
    var isInteger: Bool

    init(shape: [Int], values: [Double], isInteger: Bool) {
        self.shape = shape
        self.values = values
        self.isInteger = isInteger
    }

    static func scalar(_ value: Double, isInteger: Bool = false) -> OnnxConstant {
        OnnxConstant(shape: [], values: [value], isInteger: isInteger)
    }

    var count: Int { values.count }
    var floats: [Float] { values.map { Float($0) } }
    /// The values as integers, clamped to ±2⁴⁰ (a NaN is 0): every use checks them against
    /// shapes an MLP has, so a clamped absurd value is refused there instead of trapping here.
    var integers: [Int] { values.map { $0.isNaN ? 0 : Int(Swift.max(Swift.min($0, 0x1p40), -0x1p40)) } }
}

/// The product of `dims`, or nil when it overflows: shapes in a file are not trusted.
func elementCount(_ dims: [Int]) -> Int? {
    var product = 1
    for dimension in dims {
        let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
        guard !overflow else { return nil }
        product = next
    }
    return product
}

/// Reads `TensorProto`s: typed fields or `raw_data` (little-endian), or external data files
/// beside the model. Bounded: at most `maximumElements` per tensor, and external data only
/// from files inside the model's directory.
struct OnnxTensorReader {
    /// 2²⁸ numbers (1 GiB of float32): far above any MLP, far below what would exhaust memory.
    static let maximumElements = 1 << 28

    /// The directory of the model file, where external data files are looked up; nil when the
    /// model was given as bytes (external data is then refused).
    var directory: String?

    func read(_ tensor: Onnx_TensorProto, name: String) throws(OnnxError) -> OnnxConstant {
        var count = 1
        for dimension in tensor.dims {
            guard dimension >= 0 else { throw .badTensor(name: name, reason: "dimension \(dimension) is negative") }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(clamping: dimension))
            guard !overflow, product <= Self.maximumElements else {
                throw .badTensor(name: name, reason: "shape \(tensor.dims) holds more than \(Self.maximumElements) numbers")
            }
            count = product
        }
        let shape = tensor.dims.map { Int($0) }
        guard let type = ElementType(rawValue: Int(tensor.dataType)) else {
            throw .badTensor(name: name, reason: "element type \(tensor.dataType) (\(Onnx_TensorProto.DataType(rawValue: Int(tensor.dataType)).map { "\($0)" } ?? "unknown")) is not a number type nnserve reads")
        }
        let bytes: Data?
        if tensor.dataLocation == .external {
            bytes = try externalBytes(tensor, name: name)
        } else if !tensor.rawData.isEmpty {
            bytes = tensor.rawData
        } else {
            bytes = nil
        }
        let values: [Double]
        if let bytes {
            guard bytes.count == count * type.byteWidth else {
                throw .badTensor(name: name, reason: "\(bytes.count) bytes of data for \(count) \(type) numbers (\(count * type.byteWidth) bytes expected)")
            }
            values = type.decode(bytes, count: count)
        } else {
            values = try typedValues(tensor, type: type)
            guard values.count == count else {
                throw .badTensor(name: name, reason: "\(values.count) numbers for shape \(tensor.dims) (\(count) expected)")
            }
        }
        return OnnxConstant(shape: shape, values: values, isInteger: type.isInteger)
    }

    private func typedValues(_ tensor: Onnx_TensorProto, type: ElementType) throws(OnnxError) -> [Double] {
        switch type {
        case .float: return tensor.floatData.map { Double($0) }
        case .double: return tensor.doubleData
        case .int64: return tensor.int64Data.map { Double($0) }
        case .uint32, .uint64: return tensor.uint64Data.map { Double($0) }
        case .float16: return tensor.int32Data.map { Double(Float(Float16(bitPattern: UInt16(truncatingIfNeeded: $0)))) }
        case .bfloat16: return tensor.int32Data.map { Double(Float(bitPattern: UInt32(UInt16(truncatingIfNeeded: $0)) << 16)) }
        case .int32, .int16, .int8, .uint8, .uint16, .bool: return tensor.int32Data.map { Double($0) }
        }
    }

    /// The bytes of a tensor stored outside the model (`location`, `offset`, `length`): the file
    /// must be a plain relative path inside the model's directory.
    private func externalBytes(_ tensor: Onnx_TensorProto, name: String) throws(OnnxError) -> Data {
        let entries = Dictionary(tensor.externalData.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        guard let location = entries["location"], !location.isEmpty else {
            throw .badTensor(name: name, reason: "external data without a location")
        }
        guard let directory else {
            throw .badTensor(name: name, reason: "its data is in the external file '\(location)', and the model was not read from a file")
        }
        let components = location.split(separator: "/", omittingEmptySubsequences: false)
        guard !location.hasPrefix("/"), !components.contains(where: { $0 == ".." || $0.isEmpty }) else {
            throw .badTensor(name: name, reason: "external data location '\(location)' is not a path inside the model's directory")
        }
        let offset = Int(entries["offset"] ?? "0")
        let length = entries["length"].map { Int($0) }
        guard let offset, offset >= 0, length.map({ $0 != nil && $0! >= 0 }) ?? true else {
            throw .badTensor(name: name, reason: "external data offset '\(entries["offset"] ?? "")' or length '\(entries["length"] ?? "")' is not a non-negative integer")
        }
        // The text of the path stays inside; so must the file it names after symbolic links, and
        // it must be a regular file (a FIFO would block the loader forever).
        let path = "\(directory)/\(location)"
        let resolvedDirectory = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard resolved.hasPrefix(resolvedDirectory.hasSuffix("/") ? resolvedDirectory : resolvedDirectory + "/") else {
            throw .badTensor(name: name, reason: "external data location '\(location)' leads outside the model's directory (a symbolic link)")
        }
        guard let type = (try? FileManager.default.attributesOfItem(atPath: resolved))?[.type] as? FileAttributeType else {
            throw .badTensor(name: name, reason: "its external data file '\(location)' is missing beside the model")
        }
        guard type == .typeRegular, let handle = FileHandle(forReadingAtPath: resolved) else {
            throw .badTensor(name: name, reason: "its external data '\(location)' is not a regular file")
        }
        defer { try? handle.close() }
        do {
            let size = Int(try handle.seekToEnd())
            let wanted = length.flatMap { $0 } ?? (size - offset)
            guard offset <= size, wanted <= size - offset else {
                throw OnnxError.badTensor(name: name, reason: "external data '\(location)' has \(size) bytes; offset \(offset) + length \(wanted) reaches past its end")
            }
            guard wanted <= Self.maximumElements * 8 else {
                throw OnnxError.badTensor(name: name, reason: "external data of \(wanted) bytes is more than any tensor nnserve reads")
            }
            try handle.seek(toOffset: UInt64(offset))
            return try handle.read(upToCount: wanted) ?? Data()
        } catch let error as OnnxError {
            throw error
        } catch {
            throw .badTensor(name: name, reason: "reading external data '\(location)': \(error)")
        }
    }

    /// The number types a tensor may hold, by ONNX's `DataType` code.
    enum ElementType: Int, CustomStringConvertible {
        case float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7, bool = 9
        case float16 = 10, double = 11, uint32 = 12, uint64 = 13, bfloat16 = 16

        var byteWidth: Int {
            switch self {
            case .uint8, .int8, .bool: 1
            case .uint16, .int16, .float16, .bfloat16: 2
            case .float, .int32, .uint32: 4
            case .int64, .double, .uint64: 8
            }
        }

        var isInteger: Bool {
            switch self {
            case .float, .double, .float16, .bfloat16: false
            default: true
            }
        }

        var description: String {
            switch self {
            case .float: "float"
            case .uint8: "uint8"
            case .int8: "int8"
            case .uint16: "uint16"
            case .int16: "int16"
            case .int32: "int32"
            case .int64: "int64"
            case .bool: "bool"
            case .float16: "float16"
            case .double: "double"
            case .uint32: "uint32"
            case .uint64: "uint64"
            case .bfloat16: "bfloat16"
            }
        }

        /// Little-endian numbers, as raw_data and external files hold them.
        func decode(_ data: Data, count: Int) -> [Double] {
            data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [Double] in
                (0..<count).map { index in
                    let offset = index * byteWidth
                    switch self {
                    case .float: return Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))))
                    case .double: return Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
                    case .float16: return Double(Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))))
                    case .bfloat16: return Double(Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self))) << 16))
                    case .int64: return Double(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int64.self)))
                    case .uint64: return Double(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
                    case .int32: return Double(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
                    case .uint32: return Double(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                    case .int16: return Double(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
                    case .uint16: return Double(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
                    case .int8: return Double(raw.load(fromByteOffset: offset, as: Int8.self))
                    case .uint8, .bool: return Double(raw.load(fromByteOffset: offset, as: UInt8.self))
                    }
                }
            }
        }
    }
}
