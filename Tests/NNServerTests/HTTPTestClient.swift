import Foundation

/// One HTTP/1.1 exchange over a raw socket (Connection: close), so tests see exactly the
/// status, headers and bytes the server sent.
struct HTTPResponse {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }

    func json() throws -> Any {
        try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
    }

    /// The `error` message of a `{"error": ...}` body, or "" when there is none.
    var errorMessage: String {
        ((try? json()) as? [String: Any])?["error"] as? String ?? ""
    }
}

enum HTTPTestClient {
    static func send(port: Int, _ method: String, _ path: String, body: [UInt8] = [], headers: [String: String] = [:]) throws -> HTTPResponse {
        let connection = try RawConnection(port: port)
        defer { connection.close() }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        connection.send(Array((head + "\r\n").utf8) + body)
        return try parse(connection.readUntilClosed())
    }

    static func send(port: Int, _ method: String, _ path: String, json: String) throws -> HTTPResponse {
        try send(port: port, method, path, body: Array(json.utf8), headers: ["Content-Type": "application/json"])
    }

    static func parse(_ bytes: [UInt8]) throws -> HTTPResponse {
        let separator = Array("\r\n\r\n".utf8)
        guard let end = (0...max(0, bytes.count - 4)).first(where: { Array(bytes[$0..<min($0 + 4, bytes.count)]) == separator }) else {
            throw NSError(domain: "HTTPTestClient", code: 1, userInfo: [NSLocalizedDescriptionKey: "no HTTP head in \(bytes.count) bytes"])
        }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTPResponse(status: status, headers: headers, body: Array(bytes[(end + 4)...]))
    }
}
