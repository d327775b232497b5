import SwiftletKernels

/// Multi-head self-attention with ToMe's proportional bias, for one image:
/// `out_h = softmax(scale · Q_h K_hᵀ + log(size)) · V_h`.
///
/// The two products go through BLAS; the softmax is fused here (bias, max, exp, sum and the
/// normalisation in two passes over each score row) because for ViT-sized sequences it is the largest
/// piece of work outside the GEMMs.
enum ToMeAttention {
    typealias V = SIMD8<Float>

    /// Floats of score scratch for `tokens` keys: a tile of rows that keeps the block in L2.
    static func scratchFloats(tokens: Int) -> Int { max(64 * 1024, tokens) }

    /// - `q`, `k`, `v`: row `t` at `+ t·stride`, heads side by side (`heads · headDim` floats).
    /// - `keyBias`: `[tokens]` added to every score row (log sizes), or nil.
    /// - `out`: `[tokens, heads · headDim]`, contiguous; must not overlap the inputs.
    /// - `scores`: `scratchFloats(tokens:)` floats.
    /// - `queries`: the query rows to compute (all by default); callers on two threads split them.
    static func run(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, stride: Int,
                    tokens t: Int, queries: Range<Int>? = nil, heads: Int, headDim: Int, scale: Float,
                    keyBias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>,
                    scores: UnsafeMutablePointer<Float>) {
        let width = heads * headDim
        let tile = max(1, min(t, scratchFloats(tokens: t) / t))
        let queries = queries ?? 0..<t
        for h in 0..<heads {
            let off = h * headDim
            var i0 = queries.lowerBound
            while i0 < queries.upperBound {
                let rows = min(tile, queries.upperBound - i0)
                BLAS.sgemm(transA: false, transB: true, m: rows, n: t, k: headDim, alpha: scale,
                           a: q + i0 * stride + off, lda: stride, b: k + off, ldb: stride,
                           beta: 0, c: scores, ldc: t)
                for r in 0..<rows { softmaxRow(scores + r * t, count: t, bias: keyBias) }
                BLAS.sgemm(transA: false, transB: false, m: rows, n: headDim, k: t, alpha: 1,
                           a: scores, lda: t, b: v + off, ldb: stride,
                           beta: 0, c: out + i0 * width + off, ldc: width)
                i0 += rows
            }
        }
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

    @inline(__always)
    static func store(_ x: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: x, as: V.self) }

    /// Softmax of one row in place, after adding `bias` (when given).
    static func softmaxRow(_ row: UnsafeMutablePointer<Float>, count n: Int, bias: UnsafePointer<Float>?) {
        // Pass 1: bias and maximum.
        var m0 = V(repeating: -.infinity), m1 = m0
        var i = 0
        if let bias {
            while i + 16 <= n {
                let a = load(row + i) + load(bias + i), b = load(row + i + 8) + load(bias + i + 8)
                store(a, row + i)
                store(b, row + i + 8)
                m0 = m0.replacing(with: a, where: a .> m0)
                m1 = m1.replacing(with: b, where: b .> m1)
                i += 16
            }
            while i < n { row[i] += bias[i]; i += 1 }
        } else {
            while i + 16 <= n {
                let a = load(row + i), b = load(row + i + 8)
                m0 = m0.replacing(with: a, where: a .> m0)
                m1 = m1.replacing(with: b, where: b .> m1)
                i += 16
            }
        }
        var m = m0.replacing(with: m1, where: m1 .> m0).max()
        for j in (n & ~15)..<n where row[j] > m { m = row[j] }

        // Pass 2: e^(x − max), summed; then the normalisation.
        let shift = V(repeating: m)
        var s0 = V(), s1 = V()
        i = 0
        while i + 16 <= n {
            let a = exp(load(row + i) - shift), b = exp(load(row + i + 8) - shift)
            store(a, row + i)
            store(b, row + i + 8)
            s0 += a
            s1 += b
            i += 16
        }
        if i + 8 <= n {
            let a = exp(load(row + i) - shift)
            store(a, row + i)
            s0 += a
            i += 8
        }
        if i < n {
            var x = V(repeating: -.infinity)
            for j in 0..<(n - i) { x[j] = row[i + j] }
            let e = exp(x - shift)
            for j in 0..<(n - i) { row[i + j] = e[j] }
            s0 += e
        }
        let inv = V(repeating: 1 / (s0 + s1).sum())
        i = 0
        while i + 8 <= n {
            store(load(row + i) * inv, row + i)
            i += 8
        }
        while i < n { row[i] *= inv[0]; i += 1 }
    }

    /// e^x for x ≤ 0 (softmax arguments): 2ⁿ·e^f with n = round(x·log₂e), |f| ≤ ln2/2, e^f by its
    /// Taylor series to degree 7 (relative error ≈ 1e-8 before rounding). Below −87 the result is 0
    /// (as float32 underflows there anyway); −∞ gives 0; NaN stays NaN.
    @inline(__always)
    static func exp(_ x: V) -> V {
        let low = V(repeating: -87)
        let xc = x.replacing(with: low, where: x .< low)
        let magic = V(repeating: 12_582_912)    // 1.5·2²³: adding it rounds to an integer
        let shifted = xc * 1.4426950408889634 + magic
        let n = shifted - magic
        let f = (xc - n * 0.693359375) - n * -2.12194440e-4   // x − n·ln2 in two parts
        var p = V(repeating: 1.0 / 5040)
        p = p * f + 1.0 / 720
        p = p * f + 1.0 / 120
        p = p * f + 1.0 / 24
        p = p * f + 1.0 / 6
        p = p * f + 0.5
        p = p * f + 1
        p = p * f + 1
        let bits = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        let result = p * unsafeBitCast(bits, to: V.self)
        return result.replacing(with: 0, where: x .< low)
    }
}
