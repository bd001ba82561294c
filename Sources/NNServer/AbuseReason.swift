/// Why the gRPC front closed a connection with GOAWAY ENHANCE_YOUR_CALM: behaviour that costs
/// the server without asking it anything (the `reason` label of
/// `nnserve_abusive_clients_closed_total`).
enum AbuseReason: String, CaseIterable, Sendable {
    /// Frames that need no answer (WINDOW_UPDATE, PRIORITY, empty DATA) far beyond what the
    /// connection's calls and answers explain: each costs the event loop and none trips
    /// NIOHTTP2's own flood limits.
    case windowUpdates = "window_updates"
    /// Answers waiting for flow-control window past the bound: a client that asks and never
    /// lets the answers leave.
    case unreadAnswers = "unread_answers"
}
