/// Who may use the repository control endpoints (load, unload, and any later admin endpoint).
public enum AdminAccess: Sendable, Equatable {
    /// Anyone who reaches the port: only when nnserve binds a loopback address, so "anyone"
    /// is a process on this machine.
    case loopbackOnly
    /// Requests carrying `Authorization: Bearer <token>` (`--admin-token-file`).
    case token(String)
    /// Refused, with the reason (a non-loopback address without a token).
    case off(reason: String)

    /// The access for a server bound to `host`, with the token read from a file, if any.
    public static func forBinding(host: String, token: String?) -> AdminAccess {
        if let token, !token.isEmpty { return .token(token) }
        if ["127.0.0.1", "::1", "localhost"].contains(host) || host.hasPrefix("127.") { return .loopbackOnly }
        return .off(reason: "nnserve binds \(host) without --admin-token-file")
    }

    /// For the startup log.
    public var summary: String {
        switch self {
        case .loopbackOnly: "repository control (load/unload) open to loopback clients"
        case .token: "repository control (load/unload) requires the bearer token of --admin-token-file"
        case .off(let reason): "repository control (load/unload) is off: \(reason)"
        }
    }

    /// As below for a request's every `Authorization` header: more than one is refused (which
    /// one a proxy or a server believes differs, so none is).
    func refusal(authorizations: [String]) -> HTTPError? {
        guard authorizations.count <= 1 else {
            return HTTPError(.badRequest, "the request has \(authorizations.count) Authorization headers; send one")
        }
        return refusal(authorization: authorizations.first)
    }

    /// Nil when a request with this `Authorization` header may use an admin endpoint, else the
    /// refusal (401 names the scheme to use; 403 says why the endpoints are off).
    func refusal(authorization: String?) -> HTTPError? {
        switch self {
        case .loopbackOnly:
            return nil
        case .off(let reason):
            return HTTPError(.forbidden, "repository control is off: \(reason)")
        case .token(let token):
            guard let authorization, Self.constantTimeEquals(Array(authorization.utf8), Array("Bearer \(token)".utf8)) else {
                return HTTPError(.unauthorized, authorization == nil
                                 ? "repository control needs 'Authorization: Bearer <token>'"
                                 : "the bearer token does not match")
            }
            return nil
        }
    }

    /// Compares without returning early at the first differing byte, so the time taken does
    /// not tell a prober how much of a guessed token was right.
    private static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}
