import NIOConcurrencyHelpers
import NIOCore

/// One admitted connection, as the admission sees it: whether its front's handler says it is
/// idle (no call open) and since when, and how to close it politely. Handlers that never call
/// `markIdle` (the binary and HTTP/1.1 fronts) are never reclaimed.
final class ConnectionSlot: Sendable {
    private struct State {
        var idleSince: NIODeadline?
        /// Runs on the connection's event loop: says goodbye (gRPC: GOAWAY) and closes.
        var reclaim: (@Sendable () -> Void)?
        var reclaimed = false
    }

    private let state = NIOLockedValueBox(State())

    /// How to close the connection when room is needed (set once, by the front's handler).
    func onReclaim(_ reclaim: @escaping @Sendable () -> Void) {
        state.withLockedValue { $0.reclaim = reclaim }
    }

    /// No call open on the connection from now on.
    func markIdle(since: NIODeadline = .now()) {
        state.withLockedValue { $0.idleSince = since }
    }

    /// The connection closed (its handler says so, having set the action): the reclaim action,
    /// which holds the handler, is dropped, so the handler, which holds this slot, is freed
    /// with its pipeline.
    func connectionClosed() {
        state.withLockedValue {
            $0.reclaim = nil
            $0.idleSince = nil
        }
    }

    /// A call opened: the connection is not to be reclaimed.
    func markBusy() {
        state.withLockedValue { $0.idleSince = nil }
    }

    /// When it became idle, nil while busy or once reclaimed.
    var idleSince: NIODeadline? { state.withLockedValue { $0.reclaimed ? nil : $0.idleSince } }

    /// Takes the reclaim action (once): nil if the connection turned busy meanwhile.
    func takeReclaim(idleBefore cutoff: NIODeadline) -> (@Sendable () -> Void)? {
        state.withLockedValue { state in
            guard !state.reclaimed, let since = state.idleSince, since <= cutoff, let reclaim = state.reclaim else { return nil }
            state.reclaimed = true
            return reclaim
        }
    }
}

/// Counts each front's open connections against its limit. At the limit a new connection is
/// refused, unless a connection of that front has been idle (no call open) for at least
/// `minimumIdle`: then the one idle longest is closed to make room. Without this, 1,024 gRPC
/// clients that each sent one tiny call every 40 s (never idle for the idle timeout) held every
/// slot and a fresh tritonclient was refused for as long as they stayed.
final class ConnectionAdmission: Sendable {
    private struct Open {
        var count = 0
        var slots: [ObjectIdentifier: ConnectionSlot] = [:]
    }

    private let open = NIOLockedValueBox([Front: Open]())
    let minimumIdle: TimeAmount
    /// The fronts whose connections say when they are idle: only their slots are searched at
    /// the limit (a refusal on another front stays one count comparison, however many
    /// connections a flood brings).
    let reclaimable: Set<Front>

    init(minimumIdle: TimeAmount = .seconds(1), reclaimable: Set<Front> = [.grpc]) {
        self.minimumIdle = minimumIdle
        self.reclaimable = reclaimable
    }

    enum Decision {
        case admitted(ConnectionSlot)
        /// Admitted in place of an idle connection, which `reclaim` closes.
        case admittedReclaiming(ConnectionSlot, reclaim: @Sendable () -> Void)
        case refused
    }

    /// Counts `channel` in (its count and slot are released when it closes) or refuses it.
    func admit(_ channel: any Channel, _ front: Front, limit: Int, onClose: @escaping @Sendable () -> Void) -> Decision {
        let slot = ConnectionSlot()
        let id = ObjectIdentifier(channel)
        let cutoff = NIODeadline.now() - minimumIdle
        let decision = open.withLockedValue { fronts -> Decision in
            var entry = fronts[front, default: Open()]
            defer { fronts[front] = entry }
            var reclaim: (@Sendable () -> Void)?
            if entry.count >= limit {
                guard reclaimable.contains(front) else { return .refused }
                let candidates = entry.slots.values.compactMap { slot in slot.idleSince.map { (slot, $0) } }
                guard let idlest = candidates.filter({ $0.1 <= cutoff }).min(by: { $0.1 < $1.1 })?.0,
                      let action = idlest.takeReclaim(idleBefore: cutoff) else { return .refused }
                reclaim = action
            }
            entry.count += 1
            entry.slots[id] = slot
            return reclaim.map { .admittedReclaiming(slot, reclaim: $0) } ?? .admitted(slot)
        }
        if case .refused = decision { return decision }
        let open = open
        channel.closeFuture.whenComplete { _ in
            open.withLockedValue { fronts in
                fronts[front]?.count -= 1
                fronts[front]?.slots[id] = nil
            }
            onClose()
        }
        return decision
    }

    /// Open connections of `front` (for tests).
    func count(_ front: Front) -> Int { open.withLockedValue { $0[front]?.count ?? 0 } }
}
