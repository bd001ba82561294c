@testable import NNServer
import XCTest

/// The choice of what to evict, on snapshots: least recently used first, never pinned, and a
/// version that cannot fit even alone is refused naming the budget.
final class EvictionPolicyTests: XCTestCase {
    private func resident(_ name: String, bytes: Int, used: UInt64, pinned: Bool = false) -> EvictionPolicy.Resident {
        EvictionPolicy.Resident(key: VersionKey(name: name, version: 1), bytes: bytes, lastUsed: used, pinned: pinned)
    }

    private let new = VersionKey(name: "new", version: 3)

    func testNothingIsEvictedWhileItFits() {
        XCTAssertEqual(EvictionPolicy.makeRoom(for: new, bytes: 30, budget: 100, resident: [resident("a", bytes: 70, used: 1)]),
                       .fits(evicting: []))
    }

    func testTheLeastRecentlyUsedGoFirstUntilItFits() {
        let resident = [resident("a", bytes: 40, used: 30), resident("b", bytes: 20, used: 10), resident("c", bytes: 30, used: 20)]
        XCTAssertEqual(EvictionPolicy.makeRoom(for: new, bytes: 30, budget: 100, resident: resident),
                       .fits(evicting: [VersionKey(name: "b", version: 1)]), "90 + 30 > 100: b (used longest ago) frees 20")
        XCTAssertEqual(EvictionPolicy.makeRoom(for: new, bytes: 60, budget: 100, resident: resident),
                       .fits(evicting: [VersionKey(name: "b", version: 1), VersionKey(name: "c", version: 1)]))
    }

    func testPinnedVersionsStayAndCountAgainstTheBudget() {
        let mebibyte = 1 << 20
        let resident = [resident("pinned", bytes: 50 * mebibyte, used: 0, pinned: true), resident("a", bytes: 40 * mebibyte, used: 5)]
        XCTAssertEqual(EvictionPolicy.makeRoom(for: new, bytes: 50 * mebibyte, budget: 100 * mebibyte, resident: resident),
                       .fits(evicting: [VersionKey(name: "a", version: 1)]))
        guard case .tooLarge(let reason) = EvictionPolicy.makeRoom(for: new, bytes: 60 * mebibyte, budget: 100 * mebibyte, resident: resident) else {
            return XCTFail("60 MiB cannot fit beside 50 MiB pinned in 100 MiB")
        }
        XCTAssertEqual(reason, "model 'new' v3 needs 60.0 MiB resident; --memory-budget is 100.0 MiB, 50.0 MiB of it held by pinned versions")
    }

    func testTiesAreBrokenByName() {
        let resident = [resident("b", bytes: 50, used: 7), resident("a", bytes: 50, used: 7)]
        XCTAssertEqual(EvictionPolicy.makeRoom(for: new, bytes: 50, budget: 100, resident: resident),
                       .fits(evicting: [VersionKey(name: "a", version: 1)]))
    }
}
