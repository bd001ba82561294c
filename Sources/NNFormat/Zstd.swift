import CZstd

/// zstd compression of one frame with a content checksum and the content size in its header.
public enum Zstd {
    /// Level 9: within a few percent of level 19's ratio on float weights at a fraction of
    /// the time (docs/BENCHMARKS.md, container sizes).
    public static let defaultLevel: Int32 = 9

    static func compress(_ input: [UInt8], level: Int32) throws(FormatError) -> [UInt8] {
        guard let context = ZSTD_createCCtx() else {
            throw .io(source: "zstd", detail: "could not create a compression context")
        }
        defer { ZSTD_freeCCtx(context) }
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
        ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 1)
        var output = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
        let written = output.withUnsafeMutableBytes { destination in
            input.withUnsafeBytes { source in
                ZSTD_compress2(context, destination.baseAddress, destination.count, source.baseAddress, source.count)
            }
        }
        if ZSTD_isError(written) != 0 {
            throw .io(source: "zstd", detail: "compression failed: \(String(cString: ZSTD_getErrorName(written)))")
        }
        output.removeLast(output.count - written)
        return output
    }

    /// Decompresses exactly one frame whose content is `expectedSize` bytes; anything else
    /// (a different size in the frame header, a second frame, a checksum mismatch) is an error.
    static func decompress(_ frame: ArraySlice<UInt8>, expectedSize: Int, source: String) throws(FormatError) -> [UInt8] {
        let result: Result<[UInt8], FormatError> = frame.withUnsafeBytes { input in
            let frameSize = ZSTD_findFrameCompressedSize(input.baseAddress, input.count)
            if ZSTD_isError(frameSize) != 0 {
                return .failure(.decompression(source: source, detail: String(cString: ZSTD_getErrorName(frameSize))))
            }
            guard frameSize == input.count else {
                return .failure(.decompression(source: source, detail: "frame is \(frameSize) bytes, container holds \(input.count)"))
            }
            let declared = ZSTD_getFrameContentSize(input.baseAddress, input.count)
            guard declared == UInt64(expectedSize) else {
                return .failure(.decompression(source: source, detail: "frame declares \(declared) content bytes, container header \(expectedSize)"))
            }
            guard let context = ZSTD_createDCtx() else {
                return .failure(.io(source: source, detail: "could not create a zstd decompression context"))
            }
            defer { ZSTD_freeDCtx(context) }
            var output = [UInt8](repeating: 0, count: expectedSize)
            let written = output.withUnsafeMutableBytes { destination in
                ZSTD_decompressDCtx(context, destination.baseAddress, destination.count, input.baseAddress, input.count)
            }
            if ZSTD_isError(written) != 0 {
                return .failure(.decompression(source: source, detail: String(cString: ZSTD_getErrorName(written))))
            }
            guard written == expectedSize else {
                return .failure(.decompression(source: source, detail: "decoded \(written) bytes, expected \(expectedSize)"))
            }
            return .success(output)
        }
        return try result.get()
    }
}
