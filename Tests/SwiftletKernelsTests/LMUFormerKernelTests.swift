import Foundation
import Testing
import SwiftletKernels

/// The generic kernels LMUFormer added: LIF neurons, sparse-input products, the blocked
/// state-space scan and the vectorised GELU.
@Suite struct LMUFormerKernelTests {
    /// SplitMix64 uniform floats.
    struct Numbers {
        var state: UInt64
        mutating func next(_ lo: Float = -1, _ hi: Float = 1) -> Float {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return lo + (hi - lo) * Float(z >> 40) / Float(1 << 24)
        }
        mutating func array(_ n: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] { (0..<n).map { _ in next(lo, hi) } }
    }

    @Test(arguments: [(Float(2), Float(1)), (Float(2), Float(0.5)), (Float(3), Float(0.8))])
    func lifMatchesTheDefinition(tau: Float, threshold: Float) {
        var g = Numbers(state: 1)
        let rows = 37, cols = 13, ld = 16
        let x = g.array(rows * ld, -1, 3)
        let scale = g.array(cols, 0.5, 1.5), shift = g.array(cols, -0.5, 0.5)
        var v = [Float](repeating: 0, count: cols)
        var y = [Float](repeating: -7, count: rows * ld)
        let count = Kernels.lif(x, rows: rows, cols: cols, ldx: ld, scale: scale, shift: shift, membrane: &v,
                                threshold: threshold, tau: tau, into: &y, ldy: ld)
        var ref = [Float](repeating: 0, count: cols)
        var spikes = 0
        for r in 0..<rows {
            for c in 0..<cols {
                let input = x[r * ld + c] * scale[c] + shift[c]
                let h = ref[c] + (input - ref[c]) / tau
                let s: Float = h >= threshold ? 1 : 0
                ref[c] = s == 1 ? 0 : h
                spikes += Int(s)
                #expect(y[r * ld + c] == s, "row \(r) col \(c)")
            }
            for c in cols..<ld { #expect(y[r * ld + c] == -7) }  // the stride's gap is untouched
        }
        #expect(count == spikes)
        #expect(spikes > 0 && spikes < rows * cols)
        for c in 0..<cols { #expect(abs(v[c] - ref[c]) <= 1e-6 * max(1, abs(ref[c]))) }
    }

    @Test(arguments: [true, false], [1, 5, 40, 33, 100])
    func sparseInputLinearEqualsTheDenseProduct(binary: Bool, outFeatures: Int) {
        var g = Numbers(state: UInt64(outFeatures) + (binary ? 100 : 0))
        let rows = 6, inFeatures = 70
        let x: [Float] = (0..<(rows * inFeatures)).map { _ in
            let u = g.next(0, 1)
            return u < 0.8 ? 0 : (binary ? 1 : Float(Int(u * 10) - 7))
        }
        let w = g.array(inFeatures * outFeatures), bias = g.array(outFeatures)
        let start = g.array(rows * outFeatures)
        for accumulate in [false, true] {
            for useBias in [false, true] {
                var y = start
                var idx = [Int32](repeating: 0, count: inFeatures)
                var vals = [Float](repeating: 0, count: inFeatures)
                let active = Kernels.sparseInputLinear(
                    x, rows: rows, inFeatures: inFeatures, ldx: inFeatures, weight: w, bias: useBias ? bias : nil,
                    outFeatures: outFeatures, into: &y, ldy: outFeatures, accumulate: accumulate, binary: binary,
                    indices: &idx, values: &vals)
                #expect(active == x.filter { $0 != 0 }.count)
                #expect(Kernels.countNonZero(x, rows: rows, cols: inFeatures, ldx: inFeatures) == active)
                for r in 0..<rows {
                    for o in 0..<outFeatures {
                        var s = Double(accumulate ? start[r * outFeatures + o] : 0) + Double(useBias ? bias[o] : 0)
                        for i in 0..<inFeatures { s += Double(x[r * inFeatures + i]) * Double(w[i * outFeatures + o]) }
                        #expect(abs(Double(y[r * outFeatures + o]) - s) < 1e-4, "r \(r) o \(o)")
                    }
                }
            }
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
        let n = 24, length = 32
        var a = g.array(n * n, -0.03, 0.03)
        for i in 0..<n { a[i * n + i] += 0.9 }
        let b = g.array(n), u = g.array(steps, 0, 1)
        let impulse = Kernels.impulseResponse(a: a, b: b, stateSize: n, length: length)
        let squarings = Kernels.matrixSquarings(a: a, stateSize: n, count: Kernels.squaringsNeeded(blockLength: length))
        let arena = Arena()
        for fresh in [true, false] {
            for useSquarings in [true, false] {
                let x0 = fresh ? [Float](repeating: 0, count: n) : g.array(n)
                var state = x0
                var y = [Float](repeating: .nan, count: steps * n)
                squarings.withUnsafeBufferPointer { sq in
                    Kernels.stateSpaceScan(
                        inputs: u, steps: steps, a: a, b: b, stateSize: n, impulse: impulse, impulseLength: length,
                        squarings: useSquarings ? sq.baseAddress : nil, squaringCount: sq.count / (n * n),
                        state: &state, stateIsZero: fresh, into: &y, scratch: arena)
                }
                let want = Self.recurrence(a, b, u, x0)
                var worst = 0.0
                for i in 0..<want.count { worst = max(worst, abs(Double(y[i]) - want[i])) }
                #expect(worst < 1e-5, "fresh \(fresh) squarings \(useSquarings): \(worst)")
                #expect(Array(state) == Array(y.suffix(n)))
            }
        }
    }

    @Test func geluFastIsCloseToTheExactForm() {
        var x: [Float] = stride(from: Float(-12), through: 12, by: 0.00731).map { $0 }
        x += [0, -0, 1e-8, -1e-8, 40, -40, .infinity, -.infinity]
        var fast = x
        var exact = x
        Kernels.geluFast(&fast, count: fast.count)
        Kernels.gelu(&exact, count: exact.count)
        var worst: Float = 0
        for i in x.indices {
            let err = abs(fast[i] - exact[i])
            if exact[i].isFinite {
                worst = max(worst, err / max(1, abs(x[i])))
            } else {
                #expect(fast[i] == exact[i] || (fast[i].isNaN && exact[i].isNaN))
            }
        }
        #expect(worst < 1e-6, "worst scaled error \(worst)")
        var nan: [Float] = [.nan]
        Kernels.geluFast(&nan, count: 1)
        #expect(nan[0].isNaN)
    }
}
