import Glibc
import Testing

@testable import SwiftletKernels

@Suite struct ElementwiseTests {
    /// Sizes that exercise the 16-wide body, the 8-wide step and the partial tail.
    static let sizes = [1, 7, 8, 15, 16, 23, 37, 100]

    private func checkUnary(
        _ kernel: (UnsafeMutablePointer<Float>, Int) -> Void, _ reference: (Double) -> Double,
        lo: Float = -6, hi: Float = 6, tolerance: Double = 1e-6, atolFraction: Double = 1e-3, _ name: String
    ) {
        var rng = SeededRandom(seed: 1234)
        for n in Self.sizes {
            let x = Buffer(random: n, &rng, lo: lo, hi: hi)
            let expected = x.array.map { reference(Double($0)) }
            kernel(x.p, n)
            expectClose(x.array, expected, tolerance: tolerance, atolFraction: atolFraction, "\(name) n=\(n)")
        }
    }

    @Test func activations() {
        checkUnary({ Kernels.relu($0, count: $1) }, { max($0, 0) }, tolerance: 0, "relu")
        checkUnary({ Kernels.silu($0, count: $1) }, { $0 / (1 + Glibc.exp(-$0)) }, "silu")
        checkUnary({ Kernels.sigmoid($0, count: $1) }, { 1 / (1 + Glibc.exp(-$0)) }, "sigmoid")
        checkUnary({ Kernels.tanh($0, count: $1) }, { Glibc.tanh($0) }, "tanh")
        // PyTorch's GELU formula loses relative accuracy where 1 + erf(x/√2) cancels (x ≪ 0); the
        // error is a few ulp of |x| there, so it is judged against the buffer's scale.
        checkUnary(
            { Kernels.gelu($0, count: $1) }, { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) },
            atolFraction: 0.1, "gelu")
        checkUnary({ Kernels.exp($0, count: $1) }, { Glibc.exp($0) }, lo: -80, hi: 80, tolerance: 3e-7, "exp")
    }

    @Test func geluMatchesPyTorchExactForm() {
        // PyTorch's exact GELU in float32 is x · 0.5 · (1 + erff(x · M_SQRT1_2)); the kernel must be bitwise equal.
        var rng = SeededRandom(seed: 99)
        let x = Buffer(random: 257, &rng, lo: -8, hi: 8)
        let expected = x.array.map { v -> Float in v * 0.5 * (1 + erff(v * Float(0.70710678118654752))) }
        Kernels.gelu(x.p, count: x.count)
        #expect(x.array == expected)
    }

    /// The vectorised exp against double exp over its whole range, in ulps of the correct result.
    @Test func expIsAccurateEverywhere() {
        let n = 200_003
        let x = Buffer(count: n)
        for i in 0..<n { x[i] = -103.9 + Float(i) * (88.72 + 103.9) / Float(n - 1) }
        let input = x.array
        Kernels.exp(x.p, count: n)
        var worstUlps = 0.0
        for i in 0..<n {
            let exact = Glibc.exp(Double(input[i]))
            let ulp = Double(Float(exact).ulp)
            worstUlps = max(worstUlps, abs(Double(x[i]) - exact) / ulp)
        }
        #expect(worstUlps < 2.0, "worst error \(worstUlps) ulp")
    }

    @Test func expEdgeCases() {
        let x = Buffer([0, 88.8, 1000, -104, -1000, .infinity, -.infinity, .nan, -100])
        Kernels.exp(x.p, count: x.count)
        #expect(x[0] == 1)
        #expect(x[1] == .infinity && x[2] == .infinity && x[5] == .infinity)
        #expect(x[3] == 0 && x[4] == 0 && x[6] == 0)
        #expect(x[7].isNaN)
        #expect(abs(Double(x[8]) - Glibc.exp(-100.0)) <= Double(Float.leastNonzeroMagnitude)) // subnormal result
        let s = Buffer([-200, 200, 0])
        Kernels.sigmoid(s.p, count: 3)
        #expect(s.array == [0, 1, 0.5])
        let r = Buffer([.nan, -1, 2])
        Kernels.relu(r.p, count: 3)
        #expect(r[0].isNaN && r[1] == 0 && r[2] == 2)
    }

    @Test func arithmetic() {
        var rng = SeededRandom(seed: 42)
        for n in Self.sizes {
            let a = Buffer(random: n, &rng)
            let b = Buffer(random: n, &rng)
            let y = Buffer(count: n)
            Kernels.add(a.c, b.c, into: y.p, count: n)
            expectClose(y.array, zip(a.doubles, b.doubles).map(+), "add")
            Kernels.multiply(a.c, b.c, into: y.p, count: n)
            expectClose(y.array, zip(a.doubles, b.doubles).map(*), "multiply")
            let before = b.doubles
            Kernels.addScaled(a.c, alpha: -0.3, into: b.p, count: n)
            expectClose(b.array, zip(a.doubles, before).map { -0.3 * $0 + $1 }, "addScaled")
            Kernels.add(a.c, a.c, into: a.p, count: n) // aliasing output
            let doubled = a.doubles
            Kernels.scale(a.p, count: n, by: 0.25)
            expectClose(a.array, doubled.map { $0 * 0.25 }, "scale")
        }
    }

    @Test func scaleShift() {
        var rng = SeededRandom(seed: 8)
        let rows = 5
        let cols = 19
        let scale = Buffer(random: cols, &rng)
        let shift = Buffer(random: cols, &rng)
        // channels-first: x[c, t] with c = cols channels and t = rows steps; channels-last: x[t, c].
        let layouts: [(ChannelLayout, channel: (Int) -> Int)] = [
            (.channelsFirst, { i in i / rows }), (.channelsLast, { i in i % cols }),
        ]
        for (layout, channel) in layouts {
            let x = Buffer(random: rows * cols, &rng)
            let x0 = x.doubles
            Kernels.scaleShift(x.p, layout: layout, channels: cols, length: rows, scale: scale.c, shift: shift.c)
            expectClose(
                x.array,
                x0.enumerated().map { i, v in
                    v * Double(scale[channel(i)]) + Double(shift[channel(i)])
                }, "scaleShift \(layout)")
        }
        let noShift = Buffer(random: rows * cols, &rng)
        let noShift0 = noShift.doubles
        Kernels.scaleShift(noShift.p, layout: .channelsLast, channels: cols, length: rows, scale: scale.c, shift: nil)
        expectClose(noShift.array, noShift0.enumerated().map { $1 * Double(scale[$0 % cols]) }, "scale only")
    }

    @Test func embeddingCopiesRowsAndRejectsBadIds() throws {
        var rng = SeededRandom(seed: 10)
        let vocab = 13
        let dim = 9
        let table = Buffer(random: vocab * dim, &rng)
        let ids: [Int32] = [4, 0, 12, 4]
        let y = Buffer(count: ids.count * dim)
        try ids.withUnsafeBufferPointer {
            try Kernels.embedding(
                ids: $0.baseAddress!, count: ids.count, table: table.c, vocabularySize: vocab, dim: dim, into: y.p)
        }
        for (i, id) in ids.enumerated() {
            #expect(
                Array(y.array[(i * dim)..<((i + 1) * dim)])
                    == Array(table.array[(Int(id) * dim)..<((Int(id) + 1) * dim)]))
        }
        for bad: Int32 in [13, -1] {
            let badIds: [Int32] = [1, bad]
            #expect(throws: KernelError.indexOutOfRange(index: Int(bad), bound: vocab)) {
                try badIds.withUnsafeBufferPointer {
                    try Kernels.embedding(
                        ids: $0.baseAddress!, count: 2, table: table.c, vocabularySize: vocab, dim: dim, into: y.p)
                }
            }
        }
    }
}
