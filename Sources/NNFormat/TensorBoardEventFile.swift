import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TensorBoard event file that grows as a run trains: `tensorboard --logdir DIR` shows its
/// scalars (losses, metrics, learning rate) and histograms (weights, activations).
///
/// The file is a sequence of TFRecords, each
///
///     length: UInt64 LE | masked CRC-32C of length: UInt32 LE | data | masked CRC-32C of data: UInt32 LE
///
/// whose data is a serialized `tensorflow.Event`; the first one holds only the file version.
/// Records are appended and flushed as they are written, so a TensorBoard watching the
/// directory sees each epoch as it ends, and a run that dies loses no finished epoch.
public final class TensorBoardEventFile {
    public let path: String
    private let descriptor: Int32

    /// Creates `events.out.tfevents.<seconds>.<host>` in `directory` (made if missing).
    /// TensorBoard finds event files by that name and orders a run's files by the timestamp.
    public init(directory: String, wallTime: Double = Date().timeIntervalSince1970) throws(FormatError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .io(source: directory, detail: "cannot create the log directory: \(error.localizedDescription)")
        }
        path = "\(directory)/events.out.tfevents.\(Int(wallTime)).\(ProcessInfo.processInfo.hostName)"
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .io(source: path, detail: "cannot create: \(String(cString: strerror(errno)))") }
        var first = Tensorflow_Event()
        first.wallTime = wallTime
        first.fileVersion = "brain.Event:2"
        try append(first)
    }

    deinit { close(descriptor) }

    /// Scalars of one step (an epoch), each under its tag ("loss", "val_accuracy", …).
    public func scalars(_ values: [(tag: String, value: Double)], step: Int, wallTime: Double = Date().timeIntervalSince1970) throws(FormatError) {
        try append(summary(step: step, wallTime: wallTime, values: values.map { tag, value in
            var entry = Tensorflow_Summary.Value()
            entry.tag = tag
            entry.simpleValue = Float(value)
            return entry
        }))
    }

    /// Histograms of one step, each of the values under its tag ("weights/dense1", …).
    public func histograms(_ values: [(tag: String, values: [Float])], step: Int, wallTime: Double = Date().timeIntervalSince1970) throws(FormatError) {
        try append(summary(step: step, wallTime: wallTime, values: values.map { tag, values in
            var entry = Tensorflow_Summary.Value()
            entry.tag = tag
            entry.histo = Self.histogram(of: values)
            return entry
        }))
    }

    /// Equal-width buckets between the smallest and the largest finite value (TensorBoard
    /// rebins for display, so the bucket layout is ours to choose).
    static func histogram(of values: [Float], buckets: Int = 30) -> Tensorflow_HistogramProto {
        var histogram = Tensorflow_HistogramProto()
        let finite = values.lazy.filter(\.isFinite).map(Double.init)
        guard let low = finite.min(), let high = finite.max() else { return histogram }
        histogram.min = low
        histogram.max = high
        histogram.num = Double(finite.count)
        histogram.sum = finite.reduce(0, +)
        histogram.sumSquares = finite.reduce(0) { $0 + $1 * $1 }
        let count = high > low ? buckets : 1
        let width = (high - low) / Double(count)
        histogram.bucketLimit = (1...count).map { $0 == count ? high : low + Double($0) * width }
        var counts = [Double](repeating: 0, count: count)
        for value in finite { counts[width > 0 ? min(Int((value - low) / width), count - 1) : 0] += 1 }
        histogram.bucket = counts
        return histogram
    }

    private func summary(step: Int, wallTime: Double, values: [Tensorflow_Summary.Value]) -> Tensorflow_Event {
        var event = Tensorflow_Event()
        event.wallTime = wallTime
        event.step = Int64(step)
        event.summary.value = values
        return event
    }

    private func append(_ event: Tensorflow_Event) throws(FormatError) {
        let data: [UInt8]
        do { data = try event.serializedBytes() } catch { throw .io(source: path, detail: "cannot encode an event: \(error)") }
        let record = Self.record(data)
        let written = record.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == record.count else { throw .io(source: path, detail: "write failed: \(String(cString: strerror(errno)))") }
    }

    /// One TFRecord around `data`.
    static func record(_ data: [UInt8]) -> [UInt8] {
        var length: [UInt8] = []
        length.appendLittleEndian(UInt64(data.count))
        var record = length
        record.appendLittleEndian(maskedCRC32C(length))
        record += data
        record.appendLittleEndian(maskedCRC32C(data))
        return record
    }

    /// TFRecord's checksum: CRC-32C rotated right by 15 plus a constant, so a CRC computed over
    /// bytes that themselves hold CRCs does not degenerate.
    static func maskedCRC32C(_ bytes: [UInt8]) -> UInt32 {
        let crc = CRC32.castagnoli.checksum(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}
