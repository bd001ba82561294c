import NNCore

/// One model version, as the store names it.
struct VersionKey: Hashable, Sendable, CustomStringConvertible {
    var name: String
    var version: Int

    var description: String { "'\(name)' v\(version)" }
}

/// Which resident versions make room for another under `--memory-budget`: the least recently
/// used first, never a pinned one. A pure choice over a snapshot, so it is tested without
/// loading anything.
enum EvictionPolicy {
    struct Resident: Equatable {
        var key: VersionKey
        var bytes: Int
        /// Uptime nanoseconds of its last request.
        var lastUsed: UInt64
        var pinned: Bool
    }

    enum Choice: Equatable {
        /// It fits once these are gone (none: it fits as things are), least recently used first.
        case fits(evicting: [VersionKey])
        /// It cannot fit even with every unpinned version gone; why, in words.
        case tooLarge(String)
    }

    /// What to evict so that a version of `bytes` fits with `resident` in `budget` bytes.
    static func makeRoom(for key: VersionKey, bytes: Int, budget: Int, resident: [Resident]) -> Choice {
        let pinnedBytes = resident.filter(\.pinned).reduce(0) { $0 + $1.bytes }
        guard pinnedBytes + bytes <= budget else {
            let pinned = pinnedBytes > 0 ? ", \(ProcessMemory.text(pinnedBytes)) of it held by pinned versions" : ""
            return .tooLarge("model \(key) needs \(ProcessMemory.text(bytes)) resident; --memory-budget is \(ProcessMemory.text(budget))\(pinned)")
        }
        var used = resident.reduce(0) { $0 + $1.bytes }
        var evicting: [VersionKey] = []
        // Oldest use first; the key breaks ties so the choice does not depend on the snapshot's order.
        let candidates = resident.filter { !$0.pinned }
            .sorted { ($0.lastUsed, $0.key.name, $0.key.version) < ($1.lastUsed, $1.key.name, $1.key.version) }
        for candidate in candidates where used + bytes > budget {
            used -= candidate.bytes
            evicting.append(candidate.key)
        }
        return .fits(evicting: evicting)
    }
}
