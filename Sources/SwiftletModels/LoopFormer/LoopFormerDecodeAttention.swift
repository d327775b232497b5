import Glibc

/// Causal attention of one new position against the cache, all heads: what decoding needs. Two
/// small BLAS calls per head would cost more in call overhead than the arithmetic (and, past ~150
/// cached positions, would wake OpenBLAS's threads alongside the matrix-vector pool), so this is
/// plain SIMD code.
enum LoopFormerDecodeAttention {
    /// `out[h·d ..< (h+1)·d] = softmax(scale · K_h q_h) · V_h` over `keys` cached rows (row stride
    /// `ld`) for each of `heads` heads of width `d`; `scores` holds `keys` floats.
    static func run(
        q: UnsafePointer<Float>, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, ld: Int,
        keys count: Int, heads: Int, headDim d: Int, scale: Float,
        scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>
    ) {
        for h in 0..<heads {
            let qh = q + h * d
            let oh = out + h * d
            var maxScore = -Float.infinity
            for j in 0..<count {
                let s = dot(qh, k + j * ld + h * d, d) * scale
                scores[j] = s
                maxScore = max(maxScore, s)
            }
            var total: Float = 0
            for j in 0..<count {
                let e = expf(scores[j] - maxScore)
                scores[j] = e
                total += e
            }
            let inv = 1 / total
            oh.update(repeating: 0, count: d)
            for j in 0..<count {
                axpy(scores[j] * inv, v + j * ld + h * d, oh, d)
            }
        }
    }

    @inline(__always)
    private static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD16<Float>()
        var i = 0
        while i + 16 <= n {
            acc +=
                UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self)
                * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
            i += 16
        }
        var s = acc.sum()
        while i < n {
            s += a[i] * b[i]
            i += 1
        }
        return s
    }

    /// y += alpha · x.
    @inline(__always)
    private static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n {
            let r = UnsafeMutableRawPointer(y + i)
            r.storeBytes(
                of: r.loadUnaligned(as: SIMD16<Float>.self)
                    + alpha * UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self), as: SIMD16<Float>.self)
            i += 16
        }
        while i < n {
            y[i] += alpha * x[i]
            i += 1
        }
    }
}
