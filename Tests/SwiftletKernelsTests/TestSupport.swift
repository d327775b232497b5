import Testing

@testable import SwiftletKernels

/// Deterministic numbers (the library's SplitMix64) so failures reproduce.
typealias SeededRandom = SplitMix64

/// A heap buffer of floats with a stable pointer, for calling the kernels from tests.
final class Buffer {
    let count: Int
    let p: UnsafeMutablePointer<Float>

    init(count: Int, fill: Float = 0) {
        self.count = count
        p = .allocate(capacity: max(count, 1))
        p.initialize(repeating: fill, count: max(count, 1))
    }

    convenience init(random count: Int, _ rng: inout SeededRandom, lo: Float = -1, hi: Float = 1) {
        self.init(count: count)
        for i in 0..<count { p[i] = rng.float(lo, hi) }
    }

    convenience init(_ values: [Float]) {
        self.init(count: values.count)
        for i in 0..<values.count { p[i] = values[i] }
    }

    deinit { p.deallocate() }

    var c: UnsafePointer<Float> { UnsafePointer(p) }
    var array: [Float] { Array(UnsafeBufferPointer(start: p, count: count)) }
    var doubles: [Double] { array.map(Double.init) }
    subscript(i: Int) -> Float {
        get { p[i] }
        set { p[i] = newValue }
    }
}

/// Largest error of `actual` against `expected`, measured as |a − e| / (|e| + floor) where
/// `floor = atolFraction · max|expected|`, so near-zero entries are judged against the buffer's scale.
func relativeError(_ actual: [Float], _ expected: [Double], atolFraction: Double = 0.1) -> Double {
    precondition(actual.count == expected.count, "size mismatch \(actual.count) vs \(expected.count)")
    let scale = expected.map(abs).max() ?? 0
    let floor = max(atolFraction * scale, 1e-30)
    var worst = 0.0
    for i in 0..<actual.count {
        let a = Double(actual[i])
        let e = expected[i]
        if a.isNaN != e.isNaN { return .infinity }
        if e.isNaN { continue }
        worst = max(worst, abs(a - e) / (abs(e) + floor))
    }
    return worst
}

/// Expects `actual` to match `expected` within `tolerance` (see `relativeError`).
func expectClose(
    _ actual: [Float], _ expected: [Double], tolerance: Double = 1e-5, atolFraction: Double = 0.1,
    _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.count == expected.count, "\(what): size", sourceLocation: sourceLocation)
    guard actual.count == expected.count else { return }
    let error = relativeError(actual, expected, atolFraction: atolFraction)
    #expect(error <= tolerance, "\(what): relative error \(error)", sourceLocation: sourceLocation)
}

/// Naive double-precision `C = op(A) · op(B)` reference.
func referenceGemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: [Float], lda: Int, b: [Float], ldb: Int
) -> [Double] {
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                s += Double(av) * Double(bv)
            }
            c[i * n + j] = s
        }
    }
    return c
}

/// The kernels run at one instruction-set level, through the one override (`KernelISA.withCap`):
/// how the tests compare the code paths with each other and with the definitions.
extension Kernels {
    @discardableResult
    static func lif(
        _ x: UnsafePointer<Float>, rows: Int, cols: Int, ldx: Int, scale: UnsafePointer<Float>?,
        shift: UnsafePointer<Float>?, membrane: UnsafeMutablePointer<Float>, threshold: Float,
        tau: Float = 2, into y: UnsafeMutablePointer<Float>, ldy: Int, isa: KernelISA
    ) -> Int {
        KernelISA.withCap(isa) {
            lif(
                x, rows: rows, cols: cols, ldx: ldx, scale: scale, shift: shift, membrane: membrane,
                threshold: threshold,
                tau: tau, into: y, ldy: ldy)
        }
    }

    @discardableResult
    static func sparseInputLinear(
        _ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, ldx: Int, weight: LinearWeights,
        bias: UnsafePointer<Float>?, outFeatures: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
        accumulate: Bool, binary: Bool, isa: KernelISA
    ) -> Int {
        KernelISA.withCap(isa) {
            sparseInputLinear(
                x, rows: rows, inFeatures: inFeatures, ldx: ldx, weight: weight, bias: bias,
                outFeatures: outFeatures, into: y, ldy: ldy, accumulate: accumulate, binary: binary)
        }
    }

    static func fewRowsLinear(
        _ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, ldx: Int, weight: LinearWeights,
        bias: UnsafePointer<Float>?, outFeatures: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
        accumulate: Bool, isa: KernelISA
    ) {
        KernelISA.withCap(isa) {
            fewRowsLinear(
                x, rows: rows, inFeatures: inFeatures, ldx: ldx, weight: weight, bias: bias,
                outFeatures: outFeatures, into: y, ldy: ldy, accumulate: accumulate)
        }
    }

    static func geluFast(_ x: UnsafeMutablePointer<Float>, count: Int, isa: KernelISA) {
        KernelISA.withCap(isa) { geluFast(x, count: count) }
    }

    static func memoryHash(
        _ z: UnsafePointer<Float>, rows: Int, ldz: Int, tables: Int, codeLength: Int,
        codes: UnsafeMutablePointer<Int32>, weights: UnsafeMutablePointer<Float>, isa: KernelISA
    ) throws(KernelError) {
        try KernelISA.withCap(isa) { () throws(KernelError) in
            try memoryHash(
                z, rows: rows, ldz: ldz, tables: tables, codeLength: codeLength, codes: codes, weights: weights)
        }
    }

    /// With a pool, the level is resolved on the calling thread and the helpers run the same path.
    static func memoryGather(
        codes: UnsafePointer<Int32>, weights: UnsafePointer<Float>, rows: Int, table: MemoryTables,
        bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, ldy: Int, pool: WorkerPool? = nil,
        isa: KernelISA
    ) throws(KernelError) {
        try KernelISA.withCap(isa) { () throws(KernelError) in
            try memoryGather(
                codes: codes, weights: weights, rows: rows, table: table, bias: bias, into: y, ldy: ldy,
                pool: pool)
        }
    }
}
