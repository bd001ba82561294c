import NIOCore

/// How many frames that need no answer (WINDOW_UPDATE, PRIORITY, empty DATA) one HTTP/2
/// connection may send. Each costs the event loop a parse and none trips NIOHTTP2's own flood
/// limits (those count frames the server must answer: PING, SETTINGS, RST_STREAM), so a few
/// connections sending WINDOW_UPDATEs of 1 kept a core busy and every front slow for as long
/// as they liked. A client earns frames by using the connection (every request frame it sends
/// and every answer frame it receives explains a few flow-control updates) and slowly with
/// time (a connection that only tops up windows now and then stays welcome); past the budget,
/// GOAWAY ENHANCE_YOUR_CALM.
///
/// A token bucket: the clock is read only when the tokens run out, not per frame.
struct NoAnswerFrameBudget {
    /// Frames a connection may send in a burst with nothing else (a new connection's windows).
    static let capacity = 4_096
    /// Frames each frame of real work explains (a stream and a connection WINDOW_UPDATE per
    /// DATA frame, with room to spare).
    static let perUsefulFrame = 4
    /// Frames earned per second of the connection's life.
    static let perSecond = 256

    private var tokens = Self.capacity
    private var refilledAt: NIODeadline

    init(now: NIODeadline = .now()) {
        refilledAt = now
    }

    /// A frame that carried work (a request's HEADERS or DATA, an answer's DATA).
    mutating func earn() {
        tokens = min(Self.capacity, tokens + Self.perUsefulFrame)
    }

    /// A frame that needs no answer arrived; false once the connection is over its budget.
    mutating func spend(now: @autoclosure () -> NIODeadline = .now()) -> Bool {
        if tokens == 0 {
            let time = now()
            let earned = Int(min(Int64(Self.capacity), (time - refilledAt).nanoseconds * Int64(Self.perSecond) / 1_000_000_000))
            guard earned > 0 else { return false }
            tokens = earned
            refilledAt = time
        }
        tokens -= 1
        return true
    }
}
