// Internal SIMD helpers shared by the kernels. Everything works on SIMD8<Float> (two SSE registers on
// baseline x86-64, one AVX register when the target allows it); loops keep several independent
// accumulators because a single one serialises on the add latency.

typealias F8 = SIMD8<Float>

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> F8 {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}

@inline(__always)
func load8(_ p: UnsafeMutablePointer<Float>) -> F8 {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}

@inline(__always)
func store8(_ v: F8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
}

/// Loads the `count < 8` floats at `p` into the low lanes, `fill` elsewhere.
@inline(__always)
func loadPartial(_ p: UnsafePointer<Float>, _ count: Int, fill: Float = 0) -> F8 {
    var v = F8(repeating: fill)
    for i in 0..<count { v[i] = p[i] }
    return v
}

@inline(__always)
func storePartial(_ v: F8, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    for i in 0..<count { p[i] = v[i] }
}

/// Applies `op` to `count` floats read from `x` and written to `y` (which may be `x`). The tail goes
/// through the same vector code so that every element gets bit-identical treatment.
@inline(__always)
func mapVector(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int, _ op: (F8) -> F8
) {
    var i = 0
    while i + 16 <= count {
        let a = op(load8(x + i))
        let b = op(load8(x + i + 8))
        store8(a, y + i)
        store8(b, y + i + 8)
        i += 16
    }
    if i + 8 <= count {
        store8(op(load8(x + i)), y + i)
        i += 8
    }
    if i < count {
        storePartial(op(loadPartial(x + i, count - i)), y + i, count - i)
    }
}

/// Same as `mapVector` for a binary operation.
@inline(__always)
func zipVector(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int,
    _ op: (F8, F8) -> F8
) {
    var i = 0
    while i + 16 <= count {
        let r0 = op(load8(a + i), load8(b + i))
        let r1 = op(load8(a + i + 8), load8(b + i + 8))
        store8(r0, y + i)
        store8(r1, y + i + 8)
        i += 16
    }
    if i + 8 <= count {
        store8(op(load8(a + i), load8(b + i)), y + i)
        i += 8
    }
    if i < count {
        let n = count - i
        storePartial(op(loadPartial(a + i, n), loadPartial(b + i, n)), y + i, n)
    }
}

/// Σ x[i].
@inline(__always)
func sum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
    var s0 = F8()
    var s1 = F8()
    var s2 = F8()
    var s3 = F8()
    var i = 0
    while i + 32 <= count {
        s0 += load8(x + i)
        s1 += load8(x + i + 8)
        s2 += load8(x + i + 16)
        s3 += load8(x + i + 24)
        i += 32
    }
    while i + 8 <= count {
        s0 += load8(x + i)
        i += 8
    }
    var total = ((s0 + s1) + (s2 + s3)).sum()
    while i < count {
        total += x[i]
        i += 1
    }
    return total
}

/// Σ (x[i] − center)².
@inline(__always)
func sumOfSquares(_ x: UnsafePointer<Float>, _ count: Int, center: Float = 0) -> Float {
    let c = F8(repeating: center)
    var s0 = F8()
    var s1 = F8()
    var s2 = F8()
    var s3 = F8()
    var i = 0
    while i + 32 <= count {
        let d0 = load8(x + i) - c
        let d1 = load8(x + i + 8) - c
        let d2 = load8(x + i + 16) - c
        let d3 = load8(x + i + 24) - c
        s0 += d0 * d0
        s1 += d1 * d1
        s2 += d2 * d2
        s3 += d3 * d3
        i += 32
    }
    while i + 8 <= count {
        let d = load8(x + i) - c
        s0 += d * d
        i += 8
    }
    var total = ((s0 + s1) + (s2 + s3)).sum()
    while i < count {
        let d = x[i] - center
        total += d * d
        i += 1
    }
    return total
}

/// Lane-wise max that ignores a NaN in `b`. A compare and a blend: `pointwiseMax` is not
/// specialised for SIMD8<Float> and runs lane by lane, which made it the slowest part of a softmax.
@inline(__always)
func laneMax(_ a: F8, _ b: F8) -> F8 {
    a.replacing(with: b, where: b .> a)
}

/// max x[i] (−∞ for an empty range). NaNs are ignored, as `max` would.
@inline(__always)
func maximum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
    var m0 = F8(repeating: -.infinity)
    var m1 = m0
    var i = 0
    while i + 16 <= count {
        m0 = laneMax(m0, load8(x + i))
        m1 = laneMax(m1, load8(x + i + 8))
        i += 16
    }
    while i + 8 <= count {
        m0 = laneMax(m0, load8(x + i))
        i += 8
    }
    let m = laneMax(m0, m1)
    var best = max(max(max(m[0], m[1]), max(m[2], m[3])), max(max(m[4], m[5]), max(m[6], m[7])))
    while i < count {
        if x[i] > best { best = x[i] }
        i += 1
    }
    return best
}

// MARK: - exp

// Constants of the classic Cody–Waite reduction plus a degree-7 minimax polynomial for expf (Cephes'
// published coefficients). Measured against double-precision exp: under 2 ulp over the whole range.
private let expHigh: Float = 88.72283 // largest x with finite expf(x)
private let expLow: Float = -103.97208 // below this expf(x) rounds to 0
private let log2e: Float = 1.44269504088896341
private let ln2High: Float = 0.693359375
private let ln2Low: Float = -2.12194440e-4
private let roundingMagic: Float = 12_582_912 // 1.5 · 2²³: adding it rounds to an integer

/// e^x for eight lanes. +∞ above `expHigh`, 0 below `expLow`, NaN stays NaN; subnormal results are
/// produced correctly because 2ⁿ is applied as two factors that are each normal.
@inline(__always)
func vexp(_ x: F8) -> F8 {
    let hi = F8(repeating: expHigh)
    let lo = F8(repeating: expLow)
    var xc = x.replacing(with: hi, where: x .> hi)
    xc = xc.replacing(with: lo, where: xc .< lo)

    let shifted = xc * log2e + roundingMagic
    let n = shifted - roundingMagic
    var r = xc - n * ln2High
    r = r - n * ln2Low

    var p = F8(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * (r * r) + r + 1

    // The low mantissa bits of `shifted` hold n; split it in two halves so each power is normal.
    let ni = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- Int32(bitPattern: roundingMagic.bitPattern)
    let n1 = ni &>> 1
    let n2 = ni &- n1
    let scale1 = unsafeBitCast((n1 &+ 127) &<< 23, to: F8.self)
    let scale2 = unsafeBitCast((n2 &+ 127) &<< 23, to: F8.self)
    var result = p * scale1 * scale2
    result.replace(with: .infinity, where: x .> hi)
    result.replace(with: 0, where: x .< lo)
    return result
}
