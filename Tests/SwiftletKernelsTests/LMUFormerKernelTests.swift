import Foundation
import SwiftletKernels
import Testing

/// The generic kernels LMUFormer added: LIF neurons, sparse-input products, the blocked
/// state-space scan and the vectorised GELU.
@Suite struct LMUFormerKernelTests {
    /// Uniform floats from the library's SplitMix64.
    struct Numbers {
        var generator: SplitMix64
        init(state: UInt64) { generator = SplitMix64(seed: state) }
        mutating func next(_ lo: Float = -1, _ hi: Float = 1) -> Float { generator.float(lo, hi) }
        mutating func array(_ n: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] {
            (0..<n).map { _ in next(lo, hi) }
        }
    }

    /// The code paths this CPU runs (the portable one always).
    static var paths: [KernelISA] { KernelISA.available }

    @Test(arguments: [(Float(2), Float(1)), (Float(2), Float(0.5)), (Float(3), Float(0.8))])
    func lifMatchesTheDefinition(tau: Float, threshold: Float) throws {
        var g = Numbers(state: 1)
        let rows = 37
        let cols = 21
        let ld = 24
        let x = g.array(rows * ld, -1, 3)
        let scale = g.array(cols, 0.5, 1.5)
        let shift = g.array(cols, -0.5, 0.5)
        for isa in Self.paths {
            for affine in [true, false] {
                var v = [Float](repeating: 0, count: cols)
                var y = [Float](repeating: -7, count: rows * ld)
                let count = Kernels.lif(
                    x, rows: rows, cols: cols, ldx: ld, scale: affine ? scale : nil, shift: affine ? shift : nil,
                    membrane: &v, threshold: threshold, tau: tau, into: &y, ldy: ld, isa: isa)
                var ref = [Float](repeating: 0, count: cols)
                var spikes = 0
                for r in 0..<rows {
                    for c in 0..<cols {
                        let input = affine ? x[r * ld + c] * scale[c] + shift[c] : x[r * ld + c]
                        let h = ref[c] + (input - ref[c]) / tau
                        let s: Float = h >= threshold ? 1 : 0
                        ref[c] = s == 1 ? 0 : h
                        spikes += Int(s)
                        #expect(y[r * ld + c] == s, "\(isa): row \(r) col \(c)")
                    }
                    for c in cols..<ld { #expect(y[r * ld + c] == -7) } // the stride's gap is untouched
                }
                #expect(count == spikes, "\(isa)")
                #expect(spikes > 0 && spikes < rows * cols)
                for c in 0..<cols { #expect(abs(v[c] - ref[c]) <= 1e-6 * max(1, abs(ref[c])), "\(isa) col \(c)") }
            }
        }
    }

    /// Float → IEEE binary16 bits (round to nearest even), and back.
    static func half(_ v: [Float]) -> [UInt16] { v.map { Float16($0).bitPattern } }
    static func unhalf(_ h: [UInt16]) -> [Float] { h.map { Float(Float16(bitPattern: $0)) } }

    @Test(arguments: [1, 2, 3, 4, 5, 7, 8, 11], [1, 16, 35, 256, 300])
    func fewRowsLinearEqualsTheProduct(rows: Int, outFeatures: Int) throws {
        var g = Numbers(state: UInt64(rows * 1000 + outFeatures))
        let inFeatures = 45
        let ldx = 50
        let ldy = outFeatures + 3
        let x = g.array(rows * ldx)
        let w32 = g.array(inFeatures * outFeatures)
        let bias = g.array(outFeatures)
        let w16 = Self.half(w32)
        let w16f = Self.unhalf(w16)
        let start = g.array(rows * ldy)
        for isa in Self.paths {
            for halfWeights in [false, true] {
                let wf = halfWeights ? w16f : w32
                for (accumulate, useBias) in [(false, false), (false, true), (true, true)] {
                    var y = start
                    w32.withUnsafeBufferPointer { p32 in
                        w16.withUnsafeBufferPointer { p16 in
                            let w =
                                halfWeights
                                ? LinearWeights(half: p16.baseAddress!, rowStride: outFeatures)
                                : LinearWeights(p32.baseAddress!, rowStride: outFeatures)
                            Kernels.fewRowsLinear(
                                x, rows: rows, inFeatures: inFeatures, ldx: ldx, weight: w,
                                bias: useBias ? bias : nil, outFeatures: outFeatures,
                                into: &y, ldy: ldy, accumulate: accumulate, isa: isa)
                        }
                    }
                    for r in 0..<rows {
                        for o in 0..<ldy {
                            guard o < outFeatures else {
                                #expect(y[r * ldy + o] == start[r * ldy + o]) // past the outputs: untouched
                                continue
                            }
                            var s = Double(accumulate ? start[r * ldy + o] : 0) + Double(useBias ? bias[o] : 0)
                            for i in 0..<inFeatures { s += Double(x[r * ldx + i]) * Double(wf[i * outFeatures + o]) }
                            #expect(abs(Double(y[r * ldy + o]) - s) < 1e-4, "\(isa) half \(halfWeights) r \(r) o \(o)")
                        }
                    }
                }
            }
        }
    }

    /// q8 weights with int8 activations: per row, v = x · scale (the weight rows' scales) is rounded to
    /// q = round(v / sx), sx = max|v| / 127, so |v − q·sx| ≤ sx / 2 (0.51 · sx with the float32 roundings
    /// of v, sx and 127 / max|v|); the integer sum is exact, so against float64 an output is off by at
    /// most 0.51 · sx · Σ_i |w_q[i, j]| plus three float32 roundings (scale, bias, accumulate). Rows
    /// one at a time give the same bits (a stream's chunks), and so does a column split at 16.
    @Test(arguments: [1, 2, 5, 6, 7, 13], [1, 16, 35, 256, 300])
    func fewRowsLinearInt8IsTheProductWithRoundedRows(rows: Int, outFeatures: Int) throws {
        var g = Numbers(state: UInt64(rows * 7919 + outFeatures))
        let inFeatures = 130
        let ldx = 133
        let ldy = outFeatures + 3
        let x = g.array(rows * ldx, -2, 2)
        let q: [Int8] = (0..<(inFeatures * outFeatures)).map { _ in Int8(Int(g.next(0, 1) * 255.99) - 128) }
        let scales = g.array(inFeatures, 0.001, 0.02)
        var packed = [UInt8](repeating: 0, count: inFeatures * outFeatures + 4 * inFeatures)
        for i in 0..<q.count { packed[i] = UInt8(bitPattern: q[i]) }
        for i in 0..<inFeatures {
            withUnsafeBytes(of: scales[i].bitPattern.littleEndian) { b in
                for e in 0..<4 { packed[q.count + 4 * i + e] = b[e] }
            }
        }
        let bias = g.array(outFeatures)
        let start = g.array(rows * ldy)
        for (accumulate, useBias) in [(false, false), (false, true), (true, true)] {
            var y = start
            var z = start
            packed.withUnsafeBytes { p in
                // int4 rows are not byte-addressable per element: the row products refuse them.
                #expect(
                    LinearWeights(format: .q4Block, base: p.baseAddress!, scales: nil, rowStride: outFeatures) == nil)
                guard
                    let w = LinearWeights(
                        format: .q8Row, base: p.baseAddress!, scales: p.baseAddress! + q.count, rowStride: outFeatures)
                else {
                    Issue.record("LinearWeights refused q8_row")
                    return
                }
                #expect(
                    Kernels.fewRowsLinearInt8(
                        x, rows: rows, inFeatures: inFeatures, ldx: ldx, weight: w, bias: useBias ? bias : nil,
                        outFeatures: outFeatures, into: &y, ldy: ldy, accumulate: accumulate))
                let split = outFeatures > 16 ? 16 : outFeatures
                z.withUnsafeMutableBufferPointer { zp in
                    bias.withUnsafeBufferPointer { bp in
                        for r in 0..<rows {
                            for (c0, c1) in [(0, split), (split, outFeatures)] where c0 < c1 {
                                Kernels.fewRowsLinearInt8(
                                    x.withUnsafeBufferPointer { $0.baseAddress! } + r * ldx, rows: 1,
                                    inFeatures: inFeatures, ldx: ldx, weight: w.offset(row: 0, column: c0),
                                    bias: useBias ? bp.baseAddress! + c0 : nil, outFeatures: c1 - c0,
                                    into: zp.baseAddress! + r * ldy + c0, ldy: ldy, accumulate: accumulate)
                            }
                        }
                    }
                }
            }
            #expect(y == z, "rows one at a time and split columns give the same bits")
            for r in 0..<rows {
                var vmax: Float = 0
                for i in 0..<inFeatures { vmax = max(vmax, abs(x[r * ldx + i] * scales[i])) }
                let sx = Double(vmax / 127)
                for o in 0..<ldy {
                    guard o < outFeatures else {
                        #expect(y[r * ldy + o] == start[r * ldy + o]) // past the outputs: untouched
                        continue
                    }
                    let b = Double(accumulate ? start[r * ldy + o] : 0) + Double(useBias ? bias[o] : 0)
                    var dot = 0.0
                    var wabs = 0.0
                    for i in 0..<inFeatures {
                        let wq = Double(q[i * outFeatures + o])
                        dot += Double(x[r * ldx + i]) * Double(scales[i]) * wq
                        wabs += abs(wq)
                    }
                    let qerr = 0.51 * sx * wabs
                    let bound = qerr + 3 * 0x1p-24 * (abs(dot) + qerr + abs(b)) + 1e-30
                    #expect(abs(Double(y[r * ldy + o]) - (dot + b)) <= bound, "r \(r) o \(o)")
                }
            }
        }
    }

    @Test(arguments: [true, false], [1, 5, 40, 33, 100, 300])
    func sparseInputLinearEqualsTheDenseProduct(binary: Bool, outFeatures: Int) throws {
        var g = Numbers(state: UInt64(outFeatures) + (binary ? 100 : 0))
        // 1100 inputs: more than one compaction piece (1024) per row.
        let rows = 6
        let inFeatures = outFeatures == 300 ? 1100 : 70
        let ldy = outFeatures + 5
        let x: [Float] = (0..<(rows * inFeatures)).map { _ in
            let u = g.next(0, 1)
            return u < 0.8 ? 0 : (binary ? 1 : Float(Int(u * 10) - 7) + 0.25)
        }
        let w32 = g.array(inFeatures * outFeatures)
        let bias = g.array(outFeatures)
        let w16 = Self.half(w32)
        let w16f = Self.unhalf(w16)
        let start = g.array(rows * ldy)
        let nonZero = x.filter { $0 != 0 }.count
        #expect(Kernels.countNonZero(x, rows: rows, cols: inFeatures, ldx: inFeatures) == nonZero)
        for isa in Self.paths {
            for halfWeights in [false, true] {
                let wf = halfWeights ? w16f : w32
                for accumulate in [false, true] {
                    for useBias in [false, true] {
                        var y = start
                        let active = w32.withUnsafeBufferPointer { p32 in
                            w16.withUnsafeBufferPointer { p16 in
                                let w =
                                    halfWeights
                                    ? LinearWeights(half: p16.baseAddress!, rowStride: outFeatures)
                                    : LinearWeights(p32.baseAddress!, rowStride: outFeatures)
                                return Kernels.sparseInputLinear(
                                    x, rows: rows, inFeatures: inFeatures, ldx: inFeatures, weight: w,
                                    bias: useBias ? bias : nil, outFeatures: outFeatures, into: &y, ldy: ldy,
                                    accumulate: accumulate, binary: binary, isa: isa)
                            }
                        }
                        #expect(active == nonZero, "\(isa)")
                        for r in 0..<rows {
                            for o in 0..<ldy {
                                guard o < outFeatures else {
                                    #expect(y[r * ldy + o] == start[r * ldy + o])
                                    continue
                                }
                                var s = Double(accumulate ? start[r * ldy + o] : 0) + Double(useBias ? bias[o] : 0)
                                for i in 0..<inFeatures {
                                    s += Double(x[r * inFeatures + i]) * Double(wf[i * outFeatures + o])
                                }
                                #expect(
                                    abs(Double(y[r * ldy + o]) - s) < 1e-4, "\(isa) half \(halfWeights) r \(r) o \(o)")
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func sparseInputLinearWithNoInputsWritesTheBias() throws {
        let x = [Float](repeating: 0, count: 2 * 16)
        let w = [Float](repeating: 9, count: 16 * 20)
        let bias = (0..<20).map(Float.init)
        for isa in Self.paths {
            var y = [Float](repeating: .nan, count: 2 * 20)
            let active = Kernels.sparseInputLinear(
                x, rows: 2, inFeatures: 16, ldx: 16, weight: LinearWeights(w, rowStride: 20),
                bias: bias, outFeatures: 20, into: &y, ldy: 20, accumulate: false,
                binary: true, isa: isa)
            #expect(active == 0)
            #expect(y == bias + bias, "\(isa)")
        }
    }

    /// x_t = A x_{t−1} + B u_t step by step in double.
    static func recurrence(_ a: [Float], _ b: [Float], _ u: [Float], _ x0: [Float]) -> [Double] {
        let n = b.count
        var x = x0.map(Double.init)
        var out: [Double] = []
        for t in 0..<u.count {
            var next = [Double](repeating: 0, count: n)
            for i in 0..<n {
                var s = Double(b[i]) * Double(u[t])
                for j in 0..<n { s += Double(a[i * n + j]) * x[j] }
                next[i] = s
            }
            x = next
            out += x
        }
        return out
    }

    @Test(arguments: [1, 7, 8, 31, 64, 100, 150])
    func stateSpaceScanEqualsTheRecurrence(steps: Int) {
        var g = Numbers(state: UInt64(steps))
        let n = 24
        let length = 32
        var a = g.array(n * n, -0.03, 0.03)
        for i in 0..<n { a[i * n + i] += 0.9 }
        let b = g.array(n)
        let u = g.array(steps, 0, 1)
        let impulse = Kernels.impulseResponse(a: a, b: b, stateSize: n, length: length)
        let squarings = Kernels.transposedPowers(
            a: a, stateSize: n, count: Kernels.squaringsNeeded(blockLength: length))
        let arena = Arena()
        for fresh in [true, false] {
            for useSquarings in [true, false] {
                let x0 = fresh ? [Float](repeating: 0, count: n) : g.array(n)
                var state = x0
                var y = [Float](repeating: .nan, count: steps * n)
                squarings.withUnsafeBufferPointer { sq in
                    Kernels.stateSpaceScan(
                        inputs: u, steps: steps, a: a, b: b, stateSize: n, impulse: impulse, impulseLength: length,
                        squarings: useSquarings ? sq.baseAddress : nil, squaringCount: sq.count / (n * n) - 1,
                        state: &state, stateIsZero: fresh, into: &y, scratch: arena)
                }
                let want = Self.recurrence(a, b, u, x0)
                var worst = 0.0
                for i in 0..<want.count { worst = max(worst, abs(Double(y[i]) - want[i]) / max(1, abs(want[i]))) } // float32 rounding over 150 steps
                #expect(worst < 1e-5, "fresh \(fresh) squarings \(useSquarings): \(worst)")
                #expect(Array(state) == Array(y.suffix(n)))
            }
        }
    }

    @Test(arguments: [1, 3, 7, 32])
    func stateSpaceStreamEqualsTheRecurrence(chunk: Int) {
        var g = Numbers(state: UInt64(chunk) + 500)
        let n = 24
        let length = 16
        let steps = 70 // blocks of 16 steps: the free response is used from step 16 on
        var a = g.array(n * n, -0.03, 0.03)
        for i in 0..<n { a[i * n + i] += 0.9 }
        let b = g.array(n)
        // Spike-like inputs: mostly 0, some 1, a few other values.
        let u: [Float] = (0..<steps).map { _ in
            let v = g.next(0, 1)
            return v < 0.5 ? 0 : v < 0.8 ? 1 : v
        }
        let impulse = Kernels.impulseResponse(a: a, b: b, stateSize: n, length: length)
        let powers = Kernels.transposedPowers(a: a, stateSize: n, count: Kernels.squaringsNeeded(blockLength: length))
        var start = [Float](repeating: 0, count: n)
        var history = [Float](repeating: 0, count: length)
        var free = [Float](repeating: 0, count: length * n)
        var zero = true
        var position = 0
        var ready = false
        var y = [Float](repeating: .nan, count: steps * n)
        var t = 0
        while t < steps {
            let k = min(chunk, steps - t)
            if t == 37 { ready = false } // as after restoring a saved state mid-block
            u.withUnsafeBufferPointer { up in
                y.withUnsafeMutableBufferPointer { yp in
                    Kernels.stateSpaceStream(
                        inputs: up.baseAddress! + t, steps: k, stateSize: n, impulse: impulse, impulseLength: length,
                        powers: powers, start: &start, startIsZero: &zero, position: &position, history: &history,
                        free: &free, freeReady: &ready, into: yp.baseAddress! + t * n)
                }
            }
            t += k
        }
        let want = Self.recurrence(a, b, u, [Float](repeating: 0, count: n))
        var worst = 0.0
        for i in 0..<want.count { worst = max(worst, abs(Double(y[i]) - want[i]) / max(1, abs(want[i]))) }
        #expect(worst < 1e-5, "chunk \(chunk): \(worst)")
        #expect(position == steps % length)
        #expect(!zero)
    }

    @Test func geluFastIsCloseToTheExactForm() {
        var x: [Float] = stride(from: Float(-12), through: 12, by: 0.00731).map { $0 }
        x += [0, -0, 1e-8, -1e-8, 40, -40, .infinity, -.infinity]
        var exact = x
        Kernels.gelu(&exact, count: exact.count)
        for isa in Self.paths {
            var fast = x
            Kernels.geluFast(&fast, count: fast.count, isa: isa)
            var worst: Float = 0
            for i in x.indices {
                let err = abs(fast[i] - exact[i])
                if exact[i].isFinite {
                    worst = max(worst, err / max(1, abs(x[i])))
                } else {
                    #expect(fast[i] == exact[i] || (fast[i].isNaN && exact[i].isNaN), "\(isa) x \(x[i])")
                }
            }
            #expect(worst < 1e-6, "\(isa): worst scaled error \(worst)")
            var nan: [Float] = [.nan, 1, .nan]
            Kernels.geluFast(&nan, count: 3, isa: isa)
            #expect(nan[0].isNaN && nan[2].isNaN && abs(nan[1] - 0.8413447) < 1e-6)
        }
    }
}
