import NNInference

/// The KServe v2 tensor datatypes, and how each converts to the FP32 the models compute in.
/// BOOL and the integer types convert exactly or are refused: an integer above 2^24 has no
/// exact FP32, so it is an error rather than a silently different input. FP32 and FP64 values
/// become the nearest FP32 (a JSON decimal such as 0.1 has no exact binary form anyway; a FP64
/// client asks for what numpy's astype(float32) would give). One exception for JSON: a decimal
/// whose double falls exactly halfway between two floats without being that value is rounded
/// from its text (`JSONParser`), for FP64 too — where astype would round the double again.
enum TensorDatatype: String, CaseIterable, Sendable {
    case bool = "BOOL"
    case uint8 = "UINT8", uint16 = "UINT16", uint32 = "UINT32", uint64 = "UINT64"
    case int8 = "INT8", int16 = "INT16", int32 = "INT32", int64 = "INT64"
    case fp16 = "FP16", bf16 = "BF16", fp32 = "FP32", fp64 = "FP64"
    case bytes = "BYTES"

    /// Bytes per element in the binary tensor data extension (BYTES is variable).
    var byteSize: Int {
        switch self {
        case .bool, .uint8, .int8, .bytes: 1
        case .uint16, .int16, .fp16, .bf16: 2
        case .uint32, .int32, .fp32: 4
        case .uint64, .int64, .fp64: 8
        }
    }

    /// Largest integer magnitude every FP32 holds exactly.
    private static let exactIntegerLimit = Double(1 << 24)

    /// Values of the type, as doubles; the upper bounds are exclusive because Double(UInt64.max)
    /// and Double(Int64.max) round up to a power of two the type cannot hold.
    private var integerRange: Range<Double>? {
        switch self {
        case .uint8: 0..<0x1p8
        case .uint16: 0..<0x1p16
        case .uint32: 0..<0x1p32
        case .uint64: 0..<0x1p64
        case .int8: -0x1p7..<0x1p7
        case .int16: -0x1p15..<0x1p15
        case .int32: -0x1p31..<0x1p31
        case .int64: -0x1p63..<0x1p63
        default: nil
        }
    }

    /// One JSON element as FP32, or why it cannot be one (the caller names the tensor and index).
    func float(fromJSON value: JSONValue) -> Result<Float, TensorValueError> {
        switch (self, value) {
        case (.bool, .bool(let flag)):
            return .success(flag ? 1 : 0)
        case (.fp32, .number(let number)), (.fp64, .number(let number)):
            return .success(Float(number))
        case (.fp32, .null), (.fp64, .null):
            // A gap in a raw numeric column; a numeric input refuses it as not finite.
            return .success(.nan)
        case (_, .number(let number)) where integerRange != nil:
            return integer(number)
        case (.fp16, _), (.bf16, _):
            return .failure(.init("\(rawValue) has no JSON form; send it with the binary tensor data extension"))
        default:
            return .failure(.init("is \(value.typeName), not a valid \(rawValue) value"))
        }
    }

    private func integer(_ number: Double) -> Result<Float, TensorValueError> {
        guard number.rounded() == number, let range = integerRange, range.contains(number) else {
            return .failure(.init("is \(number), not a valid \(rawValue) value"))
        }
        guard abs(number) <= Self.exactIntegerLimit else {
            return .failure(.init("is \(number), which FP32 cannot hold exactly (|value| must be at most 2^24)"))
        }
        return .success(Float(number))
    }

    /// Element `index` of a little-endian binary tensor as FP32.
    /// - Precondition: `bytes` holds at least `(index + 1) * byteSize` bytes.
    func float(fromBinary bytes: UnsafeRawBufferPointer, at index: Int) -> Result<Float, TensorValueError> {
        let offset = index * byteSize
        func load<T: FixedWidthInteger>(_: T.Type) -> T {
            T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        switch self {
        case .bool:
            let byte = load(UInt8.self)
            return byte <= 1 ? .success(Float(byte)) : .failure(.init("is byte \(byte), not a BOOL (0 or 1)"))
        case .uint8: return .success(Float(load(UInt8.self)))
        case .int8: return .success(Float(load(Int8.self)))
        case .uint16: return .success(Float(load(UInt16.self)))
        case .int16: return .success(Float(load(Int16.self)))
        case .uint32: return integer(Double(load(UInt32.self)))
        case .int32: return integer(Double(load(Int32.self)))
        case .uint64:
            let value = load(UInt64.self)
            return value <= UInt64(Self.exactIntegerLimit) ? .success(Float(value)) : integer(Double(value))
        case .int64:
            let value = load(Int64.self)
            return value.magnitude <= UInt64(Self.exactIntegerLimit) ? .success(Float(value)) : integer(Double(value))
        case .fp16: return .success(Float(halfBits: load(UInt16.self)))
        case .bf16: return .success(Float(bitPattern: UInt32(load(UInt16.self)) << 16))
        case .fp32: return .success(Float(bitPattern: load(UInt32.self)))
        case .fp64: return .success(Float(Double(bitPattern: load(UInt64.self))))
        case .bytes: return .failure(.init("is BYTES, read as strings (TensorView.strings), never as a number"))
        }
    }
}

/// What is wrong with one tensor element; the caller adds which tensor and which element.
struct TensorValueError: Error, Equatable {
    var problem: String
    init(_ problem: String) { self.problem = problem }
}

extension Float {
    /// IEEE binary16 bits widened exactly (no Float16 type on every platform we build on).
    init(halfBits bits: UInt16) {
        let sign = UInt32(bits >> 15) << 31
        let exponent = Int((bits >> 10) & 0x1F)
        let fraction = UInt32(bits & 0x3FF)
        switch exponent {
        case 0:
            // Zero or subnormal: fraction × 2^-24.
            let magnitude = Float(fraction) * 0x1p-24
            self = sign == 0 ? magnitude : -magnitude
        case 0x1F:
            self = Float(bitPattern: sign | 0x7F80_0000 | (fraction << 13))
        default:
            self = Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (fraction << 13))
        }
    }
}

extension RequestInput {
    /// The datatype metadata announces: FP32 for numbers, BYTES for a categorical column (which
    /// also takes FP32 or integers for categories that are numbers, and a numeric column BYTES).
    var datatype: TensorDatatype { column?.isCategorical == true ? .bytes : .fp32 }
}
