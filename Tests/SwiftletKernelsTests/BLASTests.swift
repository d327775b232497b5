import Testing

@testable import SwiftletKernels

@Suite struct BLASTests {
    /// Every transpose combination, including the single-row / single-column shapes sent to sgemv,
    /// with padded leading dimensions and alpha/beta applied to a non-zero C.
    @Test(arguments: [(37, 29, 53), (1, 41, 19), (23, 1, 31), (1, 1, 17), (5, 9, 1)])
    func sgemmMatchesReference(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        var rng = SeededRandom(seed: UInt64(m * 10_000 + n * 100 + k))
        for transA in [false, true] {
            for transB in [false, true] {
                let lda = (transA ? m : k) + 3
                let ldb = (transB ? k : n) + 2
                let ldc = n + 5
                let a = Buffer(random: (transA ? k : m) * lda, &rng)
                let b = Buffer(random: (transB ? n : k) * ldb, &rng)
                let c = Buffer(random: m * ldc, &rng)
                let c0 = c.array
                let alpha: Float = 0.75
                let beta: Float = -0.5
                BLAS.sgemm(
                    transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.c, lda: lda,
                    b: b.c, ldb: ldb, beta: beta, c: c.p, ldc: ldc)
                let product = referenceGemm(
                    transA: transA, transB: transB, m: m, n: n, k: k, a: a.array, lda: lda, b: b.array, ldb: ldb)
                var actual: [Float] = []
                var expected: [Double] = []
                for i in 0..<m {
                    for j in 0..<n {
                        actual.append(c[i * ldc + j])
                        expected.append(Double(alpha) * product[i * n + j] + Double(beta) * Double(c0[i * ldc + j]))
                    }
                    // The padding columns of C must be untouched.
                    for j in n..<ldc { #expect(c[i * ldc + j] == c0[i * ldc + j]) }
                }
                expectClose(actual, expected, "sgemm \(m)x\(n)x\(k) tA=\(transA) tB=\(transB)")
            }
        }
    }

    @Test func betaZeroOverwritesNaN() {
        var rng = SeededRandom(seed: 5)
        for (m, n) in [(1, 13), (13, 1), (7, 9)] {
            let k = 11
            let a = Buffer(random: m * k, &rng)
            let b = Buffer(random: k * n, &rng)
            let c = Buffer(count: m * n, fill: .nan)
            BLAS.sgemm(
                transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a.c, lda: k,
                b: b.c, ldb: n, beta: 0, c: c.p, ldc: n)
            #expect(!c.array.contains { $0.isNaN }, "m=\(m) n=\(n)")
            expectClose(
                c.array,
                referenceGemm(
                    transA: false, transB: false, m: m, n: n, k: k,
                    a: a.array, lda: k, b: b.array, ldb: n))
        }
    }

    @Test func emptyReductionScalesC() {
        let c = Buffer([1, 2, 3, 4, .nan, 6])
        let dummy = Buffer(count: 1)
        BLAS.sgemm(
            transA: false, transB: false, m: 2, n: 2, k: 0, alpha: 1, a: dummy.c, lda: 1,
            b: dummy.c, ldb: 2, beta: 2, c: c.p, ldc: 3)
        #expect(c.array[0..<4] == [2, 4, 3, 8])
        #expect(c[4].isNaN && c[5] == 6)
        BLAS.sgemm(
            transA: false, transB: false, m: 2, n: 3, k: 0, alpha: 1, a: dummy.c, lda: 1,
            b: dummy.c, ldb: 3, beta: 0, c: c.p, ldc: 3)
        #expect(c.array == [0, 0, 0, 0, 0, 0])
    }

    @Test func sgemvBothOrientations() {
        var rng = SeededRandom(seed: 77)
        let rows = 19
        let cols = 27
        let lda = 30
        let a = Buffer(random: rows * lda, &rng)
        let x = Buffer(random: cols, &rng)
        let xt = Buffer(random: rows, &rng)
        let y = Buffer(random: rows, &rng)
        let yt = Buffer(random: cols, &rng)
        let y0 = y.array
        let yt0 = yt.array
        BLAS.sgemv(trans: false, rows: rows, cols: cols, alpha: 2, a: a.c, lda: lda, x: x.c, beta: 1, y: y.p)
        BLAS.sgemv(trans: true, rows: rows, cols: cols, alpha: 1, a: a.c, lda: lda, x: xt.c, beta: 0, y: yt.p)
        let ax = (0..<rows).map { i in (0..<cols).reduce(0.0) { $0 + Double(a[i * lda + $1]) * Double(x[$1]) } }
        let atx = (0..<cols).map { j in (0..<rows).reduce(0.0) { $0 + Double(a[$1 * lda + j]) * Double(xt[$1]) } }
        expectClose(y.array, zip(ax, y0).map { 2 * $0 + Double($1) }, "gemv")
        expectClose(yt.array, atx, "gemv transposed")
        #expect(yt.array != yt0)
    }

    /// A product gives the same bits on any number of threads (its blocks depend on its shape only),
    /// and is as exact as a double-precision reference.
    @Test(arguments: [(1, 700, 512), (5, 700, 512), (64, 300, 96), (300, 40, 64), (197, 1152, 384)])
    func pooledProductsAreTheSameOnAnyThreadCount(m: Int, n: Int, k: Int) {
        var rng = SeededRandom(seed: UInt64(m * 31 + n))
        let a = Buffer(random: m * k, &rng)
        let b = Buffer(random: n * k, &rng)
        let alone = Buffer(count: m * n, fill: .nan)
        let split = Buffer(count: m * n, fill: .nan)
        let pool = WorkerPool(threads: 3)
        BLAS.sgemm(
            transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a.c, lda: k, b: b.c, ldb: k,
            beta: 0, c: alone.p, ldc: n)
        BLAS.sgemm(
            transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a.c, lda: k, b: b.c, ldb: k,
            beta: 0, c: split.p, ldc: n, pool: pool)
        let ref = referenceGemm(transA: false, transB: true, m: m, n: n, k: k, a: a.array, lda: k, b: b.array, ldb: k)
        expectClose(split.array, ref, "split \(m)x\(n)x\(k)")
        #expect(alone.array == split.array)
    }

    @Test(arguments: [1, 3, 17])
    func linearMatchesReference(rows: Int) {
        var rng = SeededRandom(seed: UInt64(rows))
        let inF = 45
        let outF = 29
        let x = Buffer(random: rows * inF, &rng)
        let w = Buffer(random: outF * inF, &rng)
        let bias = Buffer(random: outF, &rng)
        let xw = referenceGemm(
            transA: false, transB: true, m: rows, n: outF, k: inF,
            a: x.array, lda: inF, b: w.array, ldb: inF)
        let y = Buffer(count: rows * outF, fill: .nan)
        Kernels.linear(x.c, rows: rows, inFeatures: inF, weight: w.c, bias: bias.c, outFeatures: outF, into: y.p)
        expectClose(y.array, xw.enumerated().map { $0.element + Double(bias[$0.offset % outF]) }, "with bias")
        let y2 = Buffer(count: rows * outF, fill: .nan)
        Kernels.linear(x.c, rows: rows, inFeatures: inF, weight: w.c, bias: nil, outFeatures: outF, into: y2.p)
        expectClose(y2.array, xw, "without bias")
    }
}
