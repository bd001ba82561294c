import Foundation
import NNCore
import NIOConcurrencyHelpers
import NNInference

/// A sample of the predictions served, written as CSV files that `nntrain fit` and `nntrain
/// evaluate` read as they are: one header row of column names, then numbers only — the
/// inputs by feature name, the outputs (`price`; `probabilities_0` … for wider outputs), the
/// model version and the time (Unix seconds). Joining a label column to such a file makes
/// training data of the traffic a model actually sees.
///
/// One file per model version and set of requested outputs at a time, rotated at
/// `maxFileBytes`; the oldest files are deleted once the directory holds more than
/// `maxTotalBytes`, so disk use is bounded. Files are written on a background queue; when it
/// falls behind by `maxPendingRows` rows, samples are dropped (and counted) rather than
/// queued without bound.
public final class RequestLog: @unchecked Sendable {
    public struct Settings: Sendable, Equatable {
        public var directory: String
        /// Fraction of predictions written (each request is drawn independently).
        public var sampleRate: Double
        public var maxTotalBytes: Int
        public var maxFileBytes: Int
        public var maxPendingRows = 100_000

        public init(directory: String, sampleRate: Double, maxTotalBytes: Int = 256 << 20, maxFileBytes: Int = 16 << 20) {
            self.directory = directory
            self.sampleRate = sampleRate
            self.maxTotalBytes = maxTotalBytes
            self.maxFileBytes = maxFileBytes
        }
    }

    public let settings: Settings
    private let queue = DispatchQueue(label: "nnserve.request-log")
    private let pendingRows = NIOLockedValueBox(0)
    private let droppedRows = NIOLockedValueBox(0)
    /// Queue-confined: the open file per (model, version, outputs), its path and size.
    private var open: [String: (handle: FileHandle, path: String, bytes: Int)] = [:]
    private var sequence = 0

    public init(_ settings: Settings) throws {
        self.settings = settings
        try FileManager.default.createDirectory(atPath: settings.directory, withIntermediateDirectories: true)
    }

    deinit {
        for file in open.values { try? file.handle.close() }
    }

    /// Rows dropped because the writer fell behind.
    public var dropped: Int { droppedRows.withLockedValue { $0 } }

    /// Waits until everything recorded so far is on disk (tests, shutdown).
    public func flush() {
        queue.sync {
            for file in open.values { try? file.handle.synchronize() }
        }
    }

    /// Considers one answered prediction for the sample. Called on the thread that answered it;
    /// the formatting and writing happen on the log's queue.
    func record(model: LoadedModel, prepared: RowBlock, values: [[Float]]) {
        guard settings.sampleRate > 0, Double.random(in: 0..<1) < settings.sampleRate else { return }
        let admitted = pendingRows.withLockedValue { pending -> Bool in
            guard pending + prepared.rows <= settings.maxPendingRows else { return false }
            pending += prepared.rows
            return true
        }
        guard admitted else {
            droppedRows.withLockedValue { $0 += prepared.rows }
            return
        }
        let time = Date().timeIntervalSince1970
        queue.async { [self] in
            write(model: model, prepared: prepared, values: values, time: time)
            pendingRows.withLockedValue { $0 -= prepared.rows }
        }
    }

    /// Column names: inputs by feature name (or `input_j`), then the requested outputs.
    static func header(model: LoadedModel, outputs: [Int]) -> [String] {
        var columns: [String] = []
        for (index, binding) in model.plan.inputs.enumerated() {
            let names = model.file.graph.inputs[index].featureNames
            columns += names.count == binding.width ? names : (0..<binding.width).map { "\(binding.name)_\($0)" }
        }
        for index in outputs {
            let output = model.plan.outputs[index]
            columns += output.width == 1 ? [output.name] : (0..<output.width).map { "\(output.name)_\($0)" }
        }
        // Raw models' one-hot features are named like 'name=Allen, Miss': quoted as CSV.
        return (columns + ["model_version", "time"]).map(CSVWriter.field)
    }

    private func write(model: LoadedModel, prepared: RowBlock, values: [[Float]], time: Double) {
        let outputNames = prepared.outputs.map { model.plan.outputs[$0].name }
        let allOutputs = prepared.outputs == Array(model.plan.outputs.indices)
        let key = "\(model.name)-v\(model.version)" + (allOutputs ? "" : "-" + outputNames.joined(separator: "+"))
        var text = ""
        for row in 0..<prepared.rows {
            var fields: [String] = []
            for (index, input) in prepared.inputs.enumerated() {
                let width = model.plan.inputs[index].width
                fields += input[(row * width)..<((row + 1) * width)].map { "\($0)" }
            }
            for (slot, output) in prepared.outputs.enumerated() {
                let width = model.plan.outputs[output].width
                fields += values[slot][(row * width)..<((row + 1) * width)].map { "\($0)" }
            }
            fields += [String(model.version), String(format: "%.3f", time)]
            text += fields.joined(separator: ",") + "\n"
        }
        guard let file = file(for: key, header: Self.header(model: model, outputs: prepared.outputs)) else { return }
        let bytes = Data(text.utf8)
        do {
            try file.handle.write(contentsOf: bytes)
        } catch {
            droppedRows.withLockedValue { $0 += prepared.rows }
            return
        }
        open[key]?.bytes += bytes.count
        if (open[key]?.bytes ?? 0) >= settings.maxFileBytes {
            try? open[key]?.handle.close()
            open[key] = nil
            enforceBudget()
        }
    }

    /// The open file for `key`, starting a new one (header first) when there is none.
    private func file(for key: String, header: [String]) -> (handle: FileHandle, path: String, bytes: Int)? {
        if let file = open[key] { return file }
        sequence += 1
        let stamp = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!,
                                                formatOptions: [.withYear, .withMonth, .withDay, .withTime])
        let path = "\(settings.directory)/\(key)-\(stamp)-\(sequence).csv"
        let headerLine = Data((header.joined(separator: ",") + "\n").utf8)
        guard FileManager.default.createFile(atPath: path, contents: headerLine), let handle = FileHandle(forWritingAtPath: path) else {
            return nil
        }
        handle.seekToEndOfFile()
        open[key] = (handle, path, headerLine.count)
        enforceBudget()
        return open[key]
    }

    /// Deletes the oldest closed files while the directory holds more than the budget.
    private func enforceBudget() {
        let directory = settings.directory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var files = names.filter { $0.hasSuffix(".csv") }.compactMap { name -> (path: String, size: Int, modified: Date)? in
            let path = "\(directory)/\(name)"
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
            return (path, (attributes[.size] as? Int) ?? 0, (attributes[.modificationDate] as? Date) ?? .distantPast)
        }
        var total = files.reduce(0) { $0 + $1.size }
        let inUse = Set(open.values.map(\.path))
        files.sort { $0.modified < $1.modified }
        for file in files where total > settings.maxTotalBytes && !inUse.contains(file.path) {
            try? FileManager.default.removeItem(atPath: file.path)
            total -= file.size
        }
    }
}
