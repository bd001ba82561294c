import NNCore
import XCTest

final class CounterRNGTests: XCTestCase {
    /// Known answers from Random123's kat_vectors for Philox4x32-10.
    func testPhiloxMatchesRandom123KnownAnswers() {
        let cases: [((UInt32, UInt32, UInt32, UInt32), (UInt32, UInt32), [UInt32])] = [
            ((0, 0, 0, 0), (0, 0), [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]),
            ((.max, .max, .max, .max), (.max, .max), [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]),
            ((0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), (0xa409_3822, 0x299f_31d0),
             [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]),
        ]
        for (counter, key, expected) in cases {
            let block = CounterRNG.philox(counter: counter, key: key)
            XCTAssertEqual([block.0, block.1, block.2, block.3], expected)
        }
    }

    func testRestoredPositionContinuesTheSameSequence() {
        var original = CounterRNG(seed: 42, stream: 7)
        for _ in 0..<13 { _ = original.nextWord() }
        var restored = CounterRNG(seed: 42, stream: 7, block: original.block, lane: original.lane)
        XCTAssertEqual(restored, original)
        for _ in 0..<50 { XCTAssertEqual(restored.nextWord(), original.nextWord()) }
    }

    func testStreamsAreIndependentOfDrawOrder() {
        let stream = CounterRNG.stream(epoch: 3, step: 17, layer: 2)
        var direct = CounterRNG(seed: 9, stream: stream)
        var other = CounterRNG(seed: 9, stream: CounterRNG.stream(epoch: 3, step: 16, layer: 2))
        for _ in 0..<100 { _ = other.nextWord() }
        var again = CounterRNG(seed: 9, stream: stream)
        XCTAssertEqual((0..<8).map { _ in direct.nextWord() }, (0..<8).map { _ in again.nextWord() })
        XCTAssertNotEqual(CounterRNG.stream(epoch: 1, step: 0, layer: 0), CounterRNG.stream(epoch: 0, step: 1, layer: 0))
        XCTAssertNotEqual(CounterRNG.stream(epoch: 0, step: 1, layer: 0), CounterRNG.stream(epoch: 0, step: 0, layer: 1))
    }

    func testUniformAndNormalMoments() {
        var rng = CounterRNG(seed: 1)
        let count = 200_000
        let uniforms = (0..<count).map { _ in Double(rng.nextUniform()) }
        XCTAssertTrue(uniforms.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(uniforms.reduce(0, +) / Double(count), 0.5, accuracy: 0.005)
        let normals = (0..<count).map { _ in Double(rng.nextNormal()) }
        let mean = normals.reduce(0, +) / Double(count)
        let variance = normals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(count)
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(variance, 1, accuracy: 0.02)
    }
}
