import Foundation
import NNExport
import NNFormat
import NNTestSupport
import XCTest

/// The real `nnserve` executable on 127.0.0.1 with an ephemeral port, stopped by its pid.
final class ServerProcess {
    let process = Process()
    /// The binary protocol's port.
    let port: Int
    /// The HTTP front's port.
    let httpPort: Int
    /// The health listener's port, when started with --health-port.
    let healthPort: Int?
    /// The gRPC front's port.
    let grpcPort: Int?
    private let output = Pipe()
    private let errors = Pipe()

    static var executable: String { BuildProducts.executable("nnserve") }

    init(repository: String, arguments: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = [repository, "--port", "0", "--http-port", "0", "--grpc-port", "0", "--poll-interval", "0"] + arguments
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // The first stdout line names the bound ports: "... binary 127.0.0.1:P, http 127.0.0.1:Q (...)".
        var line = Data()
        let deadline = Date().addingTimeInterval(20)
        while !line.contains(UInt8(ascii: "\n")) && Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        func boundPort(after label: String) -> Int? {
            guard let range = text.range(of: "\(label) ") else { return nil }
            let address = text[range.upperBound...].prefix { $0 != "," && $0 != " " }
            return address.split(separator: ":").last.flatMap { Int($0) }
        }
        guard let port = boundPort(after: "binary"), let httpPort = boundPort(after: "http") else {
            process.terminate()
            throw NSError(domain: "ServerProcess", code: 1, userInfo: [NSLocalizedDescriptionKey: "no ports in nnserve output: \(text)"])
        }
        self.port = port
        self.httpPort = httpPort
        healthPort = boundPort(after: "health")
        grpcPort = boundPort(after: "grpc")
    }

    /// A temporary repository with two small models: "wide" (wide & deep, 8 features, outputs
    /// price and class) and "mlp" (5-16-3), version 1 each.
    static func fixtureRepository() throws -> String {
        let repository = NSTemporaryDirectory() + "nnserve-\(UUID().uuidString)"
        for (name, graph) in [("wide", GraphFixtures.wideAndDeep(inputWidth: 8, hidden: 32)), ("mlp", GraphFixtures.mlp([5, 16, 3]))] {
            try FileManager.default.createDirectory(atPath: "\(repository)/\(name)/1", withIntermediateDirectories: true)
            try Exporter.selfTestedModel(name: name, graph: graph).write(to: "\(repository)/\(name)/1/model.nnm")
        }
        return repository
    }

    /// SIGTERM, then the exit status (0 after a graceful shutdown).
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    var log: String {
        String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// A test case that gets a fresh fixture repository (`ServerProcess.fixtureRepository`) per
/// test and removes it afterwards.
class FixtureRepositoryTestCase: XCTestCase {
    var repository = ""

    override func setUpWithError() throws {
        repository = try ServerProcess.fixtureRepository()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: repository)
    }
}

/// A raw TCP connection for bytes no well-behaved client would send.
struct RawConnection {
    let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw NSError(domain: "RawConnection", code: Int(errno)) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// False once the server has closed the connection. MSG_NOSIGNAL: a test writing to a
    /// closed connection gets EPIPE, not SIGPIPE.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } >= 0
    }

    /// Everything until the server closes the connection (or 5 s pass).
    func readUntilClosed() -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            result += chunk[..<count]
        }
        return result
    }

    /// Reads and drops until the server closes the connection: true if it did (end of stream
    /// or a reset), false if it was still open when the 5 s receive timeout passed.
    func closedByServer() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { return true }
            if count < 0 { return errno != EAGAIN && errno != EWOULDBLOCK }
        }
    }

    func close() {
        Glibc.close(descriptor)
    }
}
