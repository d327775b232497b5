import Glibc

/// GPT-NeoX rotary position embedding on the first `dims` dimensions of each head, half-split
/// (`rotate_half`) convention: dimension `d < dims/2` pairs with `d + dims/2`, both rotated by the
/// angle `position · base^(−2d/dims)`. The remaining dimensions of a head pass through unchanged.
///
/// Angles, cosines and sines are computed in float32 as the official code does (`inv_freq` and the
/// position outer product are float32 tensors), for positions `0 ..< positions`.
struct HalfSplitRotary: Sendable {
    let dims: Int
    let positions: Int
    /// `[positions, dims/2]`.
    let cosines: [Float]
    let sines: [Float]

    init(dims: Int, base: Double, positions: Int) {
        self.dims = dims
        self.positions = positions
        let half = dims / 2
        var cosines = [Float](repeating: 1, count: positions * half)
        var sines = [Float](repeating: 0, count: positions * half)
        if half > 0 {
            let inverseFrequencies = (0..<half).map { j in 1 / powf(Float(base), Float(2 * j) / Float(dims)) }
            for p in 0..<positions {
                for j in 0..<half {
                    let angle = Float(p) * inverseFrequencies[j]
                    cosines[p * half + j] = cosf(angle)
                    sines[p * half + j] = sinf(angle)
                }
            }
        }
        self.cosines = cosines
        self.sines = sines
    }

    /// Rotates `rows` rows of `x` (row stride `ld`, each row `heads × headDim` values) in place; row
    /// `i` is at position `firstPosition + i`, which must be below `positions`.
    func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, ld: Int, heads: Int, headDim: Int, firstPosition: Int) {
        let half = dims / 2
        guard half > 0 else { return }
        cosines.withUnsafeBufferPointer { cosTable in
            sines.withUnsafeBufferPointer { sinTable in
                for i in 0..<rows {
                    let c = cosTable.baseAddress! + (firstPosition + i) * half
                    let s = sinTable.baseAddress! + (firstPosition + i) * half
                    for h in 0..<heads {
                        let v = x + i * ld + h * headDim
                        for d in 0..<half {
                            // x' = x·cos + rotate_half(x)·sin, rotate_half(x) = [−x₂, x₁].
                            let a = v[d]
                            let b = v[d + half]
                            v[d] = a * c[d] - b * s[d]
                            v[d + half] = b * c[d] + a * s[d]
                        }
                    }
                }
            }
        }
    }
}
