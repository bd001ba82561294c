import Foundation

/// A counter-based random number generator: Philox4x32-10 (Salmon et al., SC'11).
///
/// Each output block is a pure function of (key, counter), so any stream can be reproduced
/// or skipped to without replaying earlier draws. nnserve keys the generator by the run's
/// seed and puts the purpose (epoch, step, layer) in the high counter words: the dropout
/// mask of layer 3 at step 17 is the same whatever happened before it.
public struct CounterRNG: RandomNumberGenerator, Sendable, Hashable {
    public let seed: UInt64
    public let stream: UInt64
    /// Blocks consumed so far; with `lane` this is the generator's whole mutable state.
    public private(set) var block: UInt64
    /// Next unused word (0...4) of the current block; 4 means the block is spent.
    public private(set) var lane: Int
    private var words: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)

    /// A generator for `stream` under `seed`, positioned at its start.
    public init(seed: UInt64, stream: UInt64 = 0) {
        self.init(seed: seed, stream: stream, block: 0, lane: 4)
    }

    /// A generator positioned where one with the same seed and stream was when it reported
    /// `block` and `lane` (how checkpoints restore it).
    public init(seed: UInt64, stream: UInt64, block: UInt64, lane: Int) {
        precondition((0...4).contains(lane), "lane must be in 0...4, got \(lane)")
        self.seed = seed
        self.stream = stream
        self.block = block
        self.lane = 4
        if lane < 4 {
            self.block = block - 1
            refill()
            self.lane = lane
        }
    }

    /// A stream identifier built from small purpose fields: (epoch, step, layer) packed as
    /// 20 + 32 + 12 bits, so distinct purposes never share a stream.
    public static func stream(epoch: Int, step: Int, layer: Int) -> UInt64 {
        (UInt64(truncatingIfNeeded: epoch) & 0xF_FFFF) << 44
            | (UInt64(truncatingIfNeeded: step) & 0xFFFF_FFFF) << 12
            | (UInt64(truncatingIfNeeded: layer) & 0xFFF)
    }

    public mutating func next() -> UInt64 {
        let low = UInt64(nextWord())
        return UInt64(nextWord()) << 32 | low
    }

    /// The next 32 random bits.
    public mutating func nextWord() -> UInt32 {
        if lane == 4 { refill() }
        defer { lane += 1 }
        switch lane {
        case 0: return words.0
        case 1: return words.1
        case 2: return words.2
        default: return words.3
        }
    }

    /// Uniform in [0, 1) with 24 random bits (every Float in the grid is equally likely).
    public mutating func nextUniform() -> Float {
        Float(nextWord() >> 8) * 0x1p-24
    }

    /// Uniform in (0, 1): never 0, so it is safe under a logarithm.
    public mutating func nextOpenUniform() -> Double {
        (Double(nextWord() >> 8) + 0.5) * 0x1p-24
    }

    /// A standard normal sample (Box–Muller; one of the pair is discarded so the state
    /// advances by a fixed two words per sample).
    public mutating func nextNormal() -> Float {
        let u1 = nextOpenUniform()
        let u2 = nextOpenUniform()
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }

    /// A standard normal sample redrawn until it lies within ±2 (a truncated normal, as in
    /// Keras' *_normal initializers).
    public mutating func nextTruncatedNormal() -> Float {
        while true {
            let sample = nextNormal()
            if abs(sample) <= 2 { return sample }
        }
    }

    private mutating func refill() {
        let counter = (UInt32(truncatingIfNeeded: block), UInt32(truncatingIfNeeded: block >> 32),
                       UInt32(truncatingIfNeeded: stream), UInt32(truncatingIfNeeded: stream >> 32))
        let key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        words = CounterRNG.philox(counter: counter, key: key)
        block &+= 1
        lane = 0
    }

    /// One Philox4x32-10 block: the raw bijection, tested against Random123's known answers.
    public static func philox(
        counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32)
    ) -> (UInt32, UInt32, UInt32, UInt32) {
        let multiplier0: UInt64 = 0xD251_1F53
        let multiplier1: UInt64 = 0xCD9E_8D57
        let weyl0: UInt32 = 0x9E37_79B9
        let weyl1: UInt32 = 0xBB67_AE85
        var c = counter
        var k = key
        for round in 0..<10 {
            if round > 0 {
                k.0 &+= weyl0
                k.1 &+= weyl1
            }
            let product0 = multiplier0 * UInt64(c.0)
            let product1 = multiplier1 * UInt64(c.2)
            c = (UInt32(truncatingIfNeeded: product1 >> 32) ^ c.1 ^ k.0, UInt32(truncatingIfNeeded: product1),
                 UInt32(truncatingIfNeeded: product0 >> 32) ^ c.3 ^ k.1, UInt32(truncatingIfNeeded: product0))
        }
        return c
    }

    public static func == (lhs: CounterRNG, rhs: CounterRNG) -> Bool {
        lhs.seed == rhs.seed && lhs.stream == rhs.stream && lhs.block == rhs.block && lhs.lane == rhs.lane
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(seed)
        hasher.combine(stream)
        hasher.combine(block)
        hasher.combine(lane)
    }
}
