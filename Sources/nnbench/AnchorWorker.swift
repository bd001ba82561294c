import Foundation

/// A system we compete with, in a Python process and timed on request, so a benchmark can
/// alternate it with our own code in one run: ONNX Runtime inference (bench/ort_worker.py)
/// and PyTorch training (bench/torch_train_worker.py). Nil when Python or the package is
/// missing: the caller then falls back to recorded anchor figures and labels them so.
///
/// Protocol: the worker greets with `ready NAME VERSION` (or says why not and exits), then
/// answers each request line with one line.
final class AnchorWorker {
    let version: String
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffered = Data()

    static func onnxRuntime() -> AnchorWorker? {
        AnchorWorker(script: "bench/ort_worker.py", package: "onnxruntime", label: "ONNX Runtime")
    }

    static func pytorch() -> AnchorWorker? {
        AnchorWorker(script: "bench/torch_train_worker.py", package: "torch", label: "PyTorch")
    }

    private init?(script: String, package: String, label: String, python: String = ProcessInfo.processInfo.environment["PYTHON"] ?? "python3") {
        guard FileManager.default.fileExists(atPath: script) else { return nil }
        // A worker that dies must cost its figures, not nnbench: writes to it then fail with EPIPE.
        signal(SIGPIPE, SIG_IGN)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let greeting = Self.readLine(from: output.fileHandleForReading, buffer: &buffered) ?? ""
        guard greeting.hasPrefix("ready \(package) ") else {
            FileHandle.standardError.write(Data("\(label) not run live (\(greeting.isEmpty ? "worker did not start" : greeting))\n".utf8))
            process.terminate()
            process.waitUntilExit()
            return nil
        }
        version = String(greeting.dropFirst("ready \(package) ".count))
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    /// ONNX Runtime: median seconds per `run` of `model` at `batch` rows with `threads` intra-op threads.
    func secondsPerCall(model: String, batch: Int, threads: Int, blockSeconds: Double) -> Double? {
        ask("\(model) \(batch) \(threads) \(blockSeconds)").flatMap { Double($0) }
    }

    /// ONNX Runtime's dynamic int8 of `model` against its fp32 form on 256 seeded rows: the
    /// largest error relative to each row's largest output magnitude.
    func int8Error(model: String) -> Double? {
        ask("error \(model)").flatMap { Double($0) }
    }

    /// PyTorch: training samples/s of `model` at `batch` with `threads` threads, and the Adam
    /// that gave it ("adam" or "fused": the faster of the two is kept).
    func trainingSamplesPerSecond(model: String, batch: Int, threads: Int, minSeconds: Double) -> (Double, optimizer: String)? {
        guard let answer = ask("\(model) \(batch) \(threads) \(minSeconds)") else { return nil }
        let fields = answer.split(separator: " ")
        guard fields.count == 2, let samples = Double(fields[0]) else { return nil }
        return (samples, String(fields[1]))
    }

    private func ask(_ request: String) -> String? {
        input.fileHandleForWriting.write(Data((request + "\n").utf8))
        guard let line = Self.readLine(from: output.fileHandleForReading, buffer: &buffered), !line.hasPrefix("error") else { return nil }
        return line
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
