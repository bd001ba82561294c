import Foundation
import SwiftProtobuf

/// A protobuf message in a container: the step model files and checkpoints share.
enum MessageContainer {
    static func encode(_ message: some SwiftProtobuf.Message, kind: ContainerKind, flags: ContainerFlags,
                       compressionLevel: Int32) throws(FormatError) -> [UInt8] {
        let payload: [UInt8]
        // Maps in sorted key order: the same message always gives the same bytes, so two runs
        // with the same seed write identical checkpoints.
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        do {
            payload = try message.serializedBytes(options: options)
        } catch {
            throw .malformedMessage(source: "\(kind) being written", detail: "\(error)")
        }
        return try Container.encode(payload: payload, kind: kind, flags: flags, compressionLevel: compressionLevel)
    }

    static func decode<M: SwiftProtobuf.Message>(_: M.Type, from bytes: [UInt8], kind: ContainerKind, source: String,
                                                  limits: ReadLimits) throws(FormatError) -> (M, ContainerFlags) {
        let (payload, flags) = try Container.decode(bytes, kind: kind, source: source, limits: limits)
        do {
            return (try M(serializedBytes: payload), flags)
        } catch {
            throw .malformedMessage(source: source, detail: "\(error)")
        }
    }
}

/// How Dense kernels and biases are stored in a file. Lossy types are read back as fp32 values;
/// a server computes a bf16 file with bf16 dot products and an int8 file with int8 dot
/// products where they measure faster (`PlanOptions.storedWeights`). int8 applies to the
/// kernels only (symmetric, one scale per output column); biases stay fp32.
public enum WeightStorage: String, Sendable, CaseIterable {
    case float32, float16, bfloat16, int8

    var dataType: Nnserve_DataType {
        switch self {
        case .float32: .float32
        case .float16: .float16
        case .bfloat16: .bfloat16
        case .int8: .int8
        }
    }

    /// The type of a Dense bias under this storage.
    var biasDataType: Nnserve_DataType { self == .int8 ? .float32 : dataType }
}

/// How a model file or checkpoint is written.

public struct WriteOptions: Sendable {
    /// Store tensors byte-shuffled (smaller files; costs a pass over the weights).
    public var shuffle: Bool
    public var compressionLevel: Int32
    /// Storage type of Dense kernels and biases (see `WeightStorage`).
    public var weights: WeightStorage

    public static let `default` = WriteOptions(shuffle: true, compressionLevel: Zstd.defaultLevel, weights: .float32)

    public init(shuffle: Bool, compressionLevel: Int32, weights: WeightStorage) {
        self.shuffle = shuffle
        self.compressionLevel = compressionLevel
        self.weights = weights
    }
}
