import Foundation

/// ONNX Runtime in a Python process (bench/ort_worker.py), timed on request so a benchmark can
/// alternate it with our own code in one run. Nil when Python or onnxruntime is missing: the
/// caller then falls back to recorded anchor figures and labels them so.
final class ORTWorker {
    let version: String
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffered = Data()

    init?(script: String = "bench/ort_worker.py", python: String = ProcessInfo.processInfo.environment["PYTHON"] ?? "python3") {
        guard FileManager.default.fileExists(atPath: script) else { return nil }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        var greeting = ""
        if let line = Self.readLine(from: output.fileHandleForReading, buffer: &buffered) { greeting = line }
        guard greeting.hasPrefix("ready onnxruntime ") else {
            FileHandle.standardError.write(Data("ONNX Runtime not run live (\(greeting.isEmpty ? "worker did not start" : greeting))\n".utf8))
            process.terminate()
            return nil
        }
        version = String(greeting.dropFirst("ready onnxruntime ".count))
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    /// Median seconds per `run` of `model` at `batch` rows with `threads` intra-op threads.
    func secondsPerCall(model: String, batch: Int, threads: Int, blockSeconds: Double) -> Double? {
        input.fileHandleForWriting.write(Data("\(model) \(batch) \(threads) \(blockSeconds)\n".utf8))
        guard let line = Self.readLine(from: output.fileHandleForReading, buffer: &buffered), let seconds = Double(line) else { return nil }
        return seconds
    }

    private static func readLine(from handle: FileHandle, buffer: inout Data) -> String? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                return line
            }
            let chunk = handle.availableData
            guard !chunk.isEmpty else { return nil }
            buffer.append(chunk)
        }
    }
}
