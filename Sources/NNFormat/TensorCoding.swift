import Foundation
import NNCore

/// Conversion between `Tensor` and its stored form, with every length checked on the way in.
enum TensorCoding {
    /// Bytes per element of a stored data type (unknown types count as float32; decoding
    /// rejects them before the size matters).
    static func elementSize(of dataType: Nnserve_DataType) -> Int {
        switch dataType {
        case .int8: 1
        case .float16, .bfloat16: 2
        default: 4
        }
    }

    /// The stored form of `tensor`, its elements rounded to `dataType` (nearest even).
    static func encode(_ tensor: Tensor, as dataType: Nnserve_DataType = .float32) -> Nnserve_Tensor {
        var stored = Nnserve_Tensor()
        stored.shape = tensor.shape.map(Int64.init)
        stored.dataType = dataType
        if dataType == .int8 {
            let (codes, scales) = Int8Quantization.columnCodes(tensor.scalars, columns: tensor.shape.last ?? 1)
            stored.data = codes.withUnsafeBytes { Data($0) }
            stored.columnScales = scales
            return stored
        }
        var bytes = Data(count: tensor.count * elementSize(of: dataType))
        tensor.withUnsafeBufferPointer { values in
            bytes.withUnsafeMutableBytes { (raw: UnsafeMutableRawBufferPointer) in
                switch dataType {
                case .float16:
                    for (index, value) in values.enumerated() {
                        raw.storeBytes(of: Float16(value).bitPattern.littleEndian, toByteOffset: index * 2, as: UInt16.self)
                    }
                case .bfloat16:
                    for (index, value) in values.enumerated() {
                        raw.storeBytes(of: bfloat16Bits(value).littleEndian, toByteOffset: index * 2, as: UInt16.self)
                    }
                default:
                    for (index, value) in values.enumerated() {
                        raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: index * 4, as: UInt32.self)
                    }
                }
            }
        }
        stored.data = bytes
        return stored
    }

    /// The tensor a stored form describes. Shape and data length are checked before any
    /// allocation, so a lying shape is an error, never a huge buffer.
    static func decode(_ stored: Nnserve_Tensor, name: String, source: String) throws(FormatError) -> Tensor {
        switch stored.dataType {
        case .float32, .float16, .bfloat16, .int8: break
        case .UNRECOGNIZED(let raw):
            throw .invalidTensor(source: source, tensor: name, detail: "has unknown data type \(raw)")
        }
        guard stored.shape.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
            throw .invalidTensor(source: source, tensor: name, detail: "has an invalid shape \(stored.shape)")
        }
        let shape = stored.shape.map { Int($0) }
        let size = elementSize(of: stored.dataType)
        guard let count = Tensor.elementCount(of: shape), count.multipliedReportingOverflow(by: size).partialValue == stored.data.count,
              !count.multipliedReportingOverflow(by: size).overflow else {
            throw .invalidTensor(source: source, tensor: name,
                                 detail: "has shape \(shape) but \(stored.data.count) bytes of \(stored.dataType) data")
        }
        let columns = shape.last ?? 1
        if stored.dataType == .int8 {
            guard !shape.isEmpty, stored.columnScales.count == columns,
                  stored.columnScales.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw .invalidTensor(source: source, tensor: name,
                                     detail: "is int8 with \(stored.columnScales.count) column scales for \(columns) columns (each must be finite and positive)")
            }
        }
        var tensor = Tensor(zeros: shape)
        tensor.withUnsafeMutableBufferPointer { values in
            stored.data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                switch stored.dataType {
                case .int8:
                    for index in 0..<count {
                        values[index] = Float(raw.load(fromByteOffset: index, as: Int8.self)) * stored.columnScales[index % columns]
                    }
                case .float16:
                    for index in 0..<count {
                        let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
                        values[index] = Float(Float16(bitPattern: bits))
                    }
                case .bfloat16:
                    for index in 0..<count {
                        let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
                        values[index] = Float(bitPattern: UInt32(bits) << 16)
                    }
                default:
                    for index in 0..<count {
                        let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
                        values[index] = Float(bitPattern: bits)
                    }
                }
            }
        }
        return tensor
    }

    /// The upper half of a float rounded to nearest even; NaN stays a (quiet) NaN.
    static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x0040 }
        let roundingBias: UInt32 = 0x7FFF + ((bits >> 16) & 1)
        return UInt16((bits &+ roundingBias) >> 16)
    }
}
