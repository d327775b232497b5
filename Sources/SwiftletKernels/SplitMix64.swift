/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny generator that gives the same numbers on every
/// platform, for the sampler's seeded draws, made-up inputs (the ViT's calibration image, the test
/// model's weights) and the tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [lo, hi), from the top 24 bits.
    public mutating func float(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * (Float(next() >> 40) / Float(1 << 24))
    }

    /// `count` uniform values in [-scale, scale).
    public mutating func floats(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<max(count, 0)).map { _ in float() * scale }
    }

    /// Uniform in 0..<bound (bound > 0), by the remainder (a bias below 2^-40 for small bounds).
    public mutating func int(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
