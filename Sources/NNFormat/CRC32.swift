/// The reflected, table-driven CRC-32 family, one table per polynomial.
///
/// `CRC32.ieee` (802.3, zlib and PNG) checks our container's header and payload, so a flipped
/// bit anywhere in a file is caught before zstd or protobuf see the bytes, even where zstd would
/// decode them unchanged. `CRC32.castagnoli` (CRC-32C) is the one TFRecord files use.
struct CRC32: Sendable {
    static let ieee = CRC32(reflectedPolynomial: 0xEDB8_8320)
    static let castagnoli = CRC32(reflectedPolynomial: 0x82F6_3B78)

    private let table: [UInt32]

    private init(reflectedPolynomial: UInt32) {
        table = (0..<256).map { index in
            var value = UInt32(index)
            for _ in 0..<8 {
                value = value & 1 == 1 ? reflectedPolynomial ^ (value >> 1) : value >> 1
            }
            return value
        }
    }

    func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { table in
            for byte in bytes {
                crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
            }
        }
        return crc ^ 0xFFFF_FFFF
    }

    func checksum(_ bytes: some Collection<UInt8>) -> UInt32 {
        if let result = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return Array(bytes).withUnsafeBytes { checksum($0) }
    }
}
