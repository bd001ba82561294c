import Foundation
import NNCore
import NNFormat
import NNTestSupport

/// Model files used by the format tests.
enum FormatFixtures {
    static func smallModel() -> ModelFile {
        let graph = GraphFixtures.wideAndDeep(inputWidth: 4, hidden: 6)
        let batch = GraphFixtures.randomBatch(rows: 2, width: 4)
        let test = SelfTestCase(inputs: [NamedTensor(name: "features", tensor: batch)],
                                expectedOutputs: [NamedTensor(name: "price", tensor: Tensor(shape: [2, 1], values: [0.5, -1])),
                                                  NamedTensor(name: "class", tensor: Tensor(shape: [2, 3], values: [0.2, 0.3, 0.5, 0.1, 0.1, 0.8]))],
                                tolerance: 1e-5)
        let metadata = ModelMetadata(producer: "nnserve-tests", producerVersion: "0.1.0", createdUnixMillis: 1_764_000_000_000,
                                     trainingMetrics: ["val_loss": 0.25, "val_accuracy": 0.97], description: "fixture",
                                     folds: ["fold_batch_norm:bn1->deep1"])
        return ModelFile(name: "fixture", graph: graph, metadata: metadata, selfTests: [test])
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "nnserve-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Rewrites a container header field and fixes the header checksum, as a file written by
    /// a different (or lying) producer would look.
    static func withHeaderField(_ bytes: [UInt8], offset: Int, value: some FixedWidthInteger) -> [UInt8] {
        var copy = bytes
        withUnsafeBytes(of: value.littleEndian) { copy.replaceSubrange(offset..<offset + $0.count, with: $0) }
        let crc = crc32(copy[0..<28])
        withUnsafeBytes(of: crc.littleEndian) { copy.replaceSubrange(28..<32, with: $0) }
        return copy
    }

    /// Independent CRC-32 (bitwise, no table) so the tests do not trust the code under test.
    static func crc32(_ bytes: some Collection<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
