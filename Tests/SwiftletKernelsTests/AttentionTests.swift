import Glibc
import Testing

@testable import SwiftletKernels

@Suite struct AttentionTests {
    struct Case: CustomStringConvertible, Sendable {
        var seqQ: Int, seqK: Int, heads: Int, headDim: Int
        var causal = false, queryOffset = 0
        var description: String { "q\(seqQ) k\(seqK) h\(heads) d\(headDim) causal=\(causal) off=\(queryOffset)" }
    }

    static let cases: [Case] = [
        Case(seqQ: 7, seqK: 11, heads: 3, headDim: 8),
        Case(seqQ: 9, seqK: 9, heads: 2, headDim: 5),
        Case(seqQ: 6, seqK: 6, heads: 4, headDim: 16, causal: true),
        Case(seqQ: 5, seqK: 5, heads: 3, headDim: 7, causal: true),
        Case(seqQ: 1, seqK: 10, heads: 2, headDim: 12, causal: true, queryOffset: 9), // decoding
        Case(seqQ: 3, seqK: 12, heads: 2, headDim: 6, causal: true, queryOffset: 9), // chunked prefill
        Case(seqQ: 2, seqK: 5, heads: 1, headDim: 4, causal: true, queryOffset: 7), // all keys visible
        Case(seqQ: 40, seqK: 2000, heads: 2, headDim: 9), // several score tiles
        Case(seqQ: 40, seqK: 2000, heads: 1, headDim: 9, causal: true, queryOffset: 1960),
    ]

    @Test(arguments: cases)
    func matchesReference(_ t: Case) throws {
        var rng = SeededRandom(seed: UInt64(t.seqQ * 7919 + t.seqK * 31 + t.headDim))
        let width = t.heads * t.headDim
        let kvWidth = width
        // Q, K, V and the output live in wider rows, as column slices of fused buffers would.
        let ldq = width + 3
        let ldk = kvWidth + 5
        let ldv = kvWidth + 1
        let ldo = width + 2
        let q = Buffer(random: t.seqQ * ldq, &rng, lo: -2, hi: 2)
        let k = Buffer(random: t.seqK * ldk, &rng, lo: -2, hi: 2)
        let v = Buffer(random: t.seqK * ldv, &rng)
        let out = Buffer(count: t.seqQ * ldo, fill: -7)
        let scale = 1 / Float(t.headDim).squareRoot()
        let arena = Arena()
        let mark = arena.mark()
        try Kernels.attention(
            q: q.c, ldq: ldq, k: k.c, ldk: ldk, v: v.c, ldv: ldv, out: out.p, ldo: ldo,
            seqQ: t.seqQ, seqK: t.seqK, heads: t.heads, headDim: t.headDim, scale: scale,
            causal: t.causal, queryOffset: t.queryOffset, scratch: arena)
        #expect(arena.mark() == mark, "scratch must be given back")

        var actual: [Float] = []
        var expected: [Double] = []
        for i in 0..<t.seqQ {
            for h in 0..<t.heads {
                let kh = h * t.headDim
                let visible = t.causal ? min(t.seqK, t.queryOffset + i + 1) : t.seqK
                var scores = (0..<visible).map { j -> Double in
                    var s = 0.0
                    for d in 0..<t.headDim { s += Double(q[i * ldq + h * t.headDim + d]) * Double(k[j * ldk + kh + d]) }
                    return s * Double(scale)
                }
                let m = scores.max()!
                scores = scores.map { Glibc.exp($0 - m) }
                let total = scores.reduce(0, +)
                for d in 0..<t.headDim {
                    var o = 0.0
                    for j in 0..<visible { o += scores[j] / total * Double(v[j * ldv + kh + d]) }
                    expected.append(o)
                    actual.append(out[i * ldo + h * t.headDim + d])
                }
            }
            for c in width..<ldo { #expect(out[i * ldo + c] == -7, "padding column written") }
        }
        expectClose(actual, expected, "\(t)")
    }

    /// A KV-cached decoder feeding one token at a time must reproduce the causal prefill row by row.
    @Test func decodingMatchesPrefill() throws {
        var rng = SeededRandom(seed: 2024)
        let seq = 13
        let heads = 2
        let headDim = 8
        let width = heads * headDim
        let q = Buffer(random: seq * width, &rng)
        let k = Buffer(random: seq * width, &rng)
        let v = Buffer(random: seq * width, &rng)
        let arena = Arena()
        let prefill = Buffer(count: seq * width)
        try Kernels.attention(
            q: q.c, ldq: width, k: k.c, ldk: width, v: v.c, ldv: width, out: prefill.p, ldo: width,
            seqQ: seq, seqK: seq, heads: heads, headDim: headDim, scale: 0.35, causal: true, scratch: arena)
        let step = Buffer(count: width)
        for t in 0..<seq {
            try Kernels.attention(
                q: q.c + t * width, ldq: width, k: k.c, ldk: width, v: v.c, ldv: width, out: step.p, ldo: width,
                seqQ: 1, seqK: t + 1, heads: heads, headDim: headDim, scale: 0.35, causal: true, queryOffset: t,
                scratch: arena)
            expectClose(step.array, prefill.array[(t * width)..<((t + 1) * width)].map(Double.init), "step \(t)")
        }
    }

    @Test func emptyKeysAndBadShapes() throws {
        let arena = Arena()
        let q = Buffer(count: 8, fill: 1)
        let out = Buffer(count: 8, fill: 5)
        try Kernels.attention(
            q: q.c, ldq: 4, k: q.c, ldk: 4, v: q.c, ldv: 4, out: out.p, ldo: 4,
            seqQ: 2, seqK: 0, heads: 2, headDim: 2, scale: 1, scratch: arena)
        #expect(out.array == [Float](repeating: 0, count: 8))
        #expect(throws: KernelError.self) {
            try Kernels.attention(
                q: q.c, ldq: 4, k: q.c, ldk: 4, v: q.c, ldv: 4, out: out.p, ldo: 4,
                seqQ: 2, seqK: 2, heads: 0, headDim: 1, scale: 1, scratch: arena)
        }
        #expect(throws: KernelError.self) {
            try Kernels.attention(
                q: q.c, ldq: 3, k: q.c, ldk: 4, v: q.c, ldv: 4, out: out.p, ldo: 4,
                seqQ: 2, seqK: 2, heads: 2, headDim: 2, scale: 1, scratch: arena)
        }
        #expect(throws: KernelError.self) {
            try Kernels.attention(
                q: q.c, ldq: 4, k: q.c, ldk: 4, v: q.c, ldv: 4, out: out.p, ldo: 4,
                seqQ: 2, seqK: 2, heads: 2, headDim: 2, scale: 1, causal: true, queryOffset: -1,
                scratch: arena)
        }
    }
}
