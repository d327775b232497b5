import CSwiftletKernels
import Foundation
import SwiftletKernels
import Testing

/// A random matrix stored in each compact format, with its decoded float32 values as the reference.
private struct CompactFixture {
    let format: CompactFormat
    let rows: Int
    let cols: Int
    var bytes: [UInt8]
    /// What each stored weight means (scale applied), in float32.
    var decoded: [Float]

    init(_ format: CompactFormat, rows: Int, cols: Int, seed: UInt64) {
        self.format = format
        self.rows = rows
        self.cols = cols
        var rng = SplitMix64(seed: seed)
        // Rows of different magnitudes, so that a wrong per-row scale shows.
        let values = (0..<(rows * cols)).map { i in rng.float() * Float(1 + (i / max(cols, 1)) % 5) * 0.1 }
        var bytes: [UInt8] = []
        var decoded = [Float](repeating: 0, count: values.count)
        switch format {
        case .f32:
            for (i, v) in values.enumerated() {
                Self.append(v.bitPattern, to: &bytes)
                decoded[i] = v
            }
        case .f16:
            for (i, v) in values.enumerated() {
                let h = Float16(v)
                Self.append(h.bitPattern, to: &bytes)
                decoded[i] = Float(h)
            }
        case .bf16:
            for (i, v) in values.enumerated() {
                let b = UInt16(truncatingIfNeeded: (v.bitPattern &+ 0x7FFF &+ ((v.bitPattern >> 16) & 1)) >> 16)
                Self.append(b, to: &bytes)
                decoded[i] = Float(bitPattern: UInt32(b) << 16)
            }
        case .q8Row:
            var scales: [Float] = []
            for r in 0..<rows {
                let row = values[(r * cols)..<((r + 1) * cols)]
                let scale = (row.map { abs($0) }.max() ?? 0) / 127
                scales.append(scale)
                for (c, v) in row.enumerated() {
                    let q = scale > 0 ? Int8(max(-127, min(127, (v / scale).rounded()))) : 0
                    bytes.append(UInt8(bitPattern: q))
                    decoded[r * cols + c] = Float(q) * scale
                }
            }
            for s in scales { Self.append(s.bitPattern, to: &bytes) }
        case .q4Block:
            // Packed rows of ⌈cols/2⌉ bytes (column 2i in the low nibble), then a scale per block of 32:
            // here max|block| / 7 with q in −7 … 7 (any scale is valid; the converter's choice is
            // tested with the format).
            let rowBytes = (cols + 1) / 2
            let blocks = (cols + 31) / 32
            bytes = [UInt8](repeating: 0, count: rows * rowBytes)
            var scales: [Float] = []
            for r in 0..<rows {
                for b in 0..<blocks {
                    let c0 = b * 32
                    let c1 = min(cols, c0 + 32)
                    let scale = (values[(r * cols + c0)..<(r * cols + c1)].map { abs($0) }.max() ?? 0) / 7
                    scales.append(scale)
                    for c in c0..<c1 {
                        let q = scale > 0 ? Int(max(-7, min(7, (values[r * cols + c] / scale).rounded()))) : 0
                        bytes[r * rowBytes + c / 2] |= UInt8(q & 15) << (c % 2 == 0 ? 0 : 4)
                        decoded[r * cols + c] = Float(q) * scale
                    }
                }
            }
            for s in scales { Self.append(s.bitPattern, to: &bytes) }
        }
        self.bytes = bytes
        self.decoded = decoded
    }

    static func append<T: FixedWidthInteger>(_ v: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// `body` with the matrix over (a copy of) the bytes at an odd address, since mapped tensors need
    /// not be aligned for the element type.
    func withMatrix<R>(_ body: (CompactMatrix) throws -> R) rethrows -> R {
        let storage = UnsafeMutableRawPointer.allocate(byteCount: bytes.count + 1, alignment: 64)
        defer { storage.deallocate() }
        let base = storage + 1
        bytes.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        let m = CompactMatrix(
            format: format, rows: rows, cols: cols,
            bytes: UnsafeRawBufferPointer(start: base, count: bytes.count))!
        return try body(m)
    }

    /// `W · x + bias` in double precision from the decoded values, and Σ|w·x| + |bias| per row for the
    /// tolerance.
    func reference(_ x: [Float], bias: [Float]?) -> (y: [Double], magnitude: [Double]) {
        var y = [Double](repeating: 0, count: rows)
        var m = y
        for r in 0..<rows {
            for c in 0..<cols {
                let p = Double(decoded[r * cols + c]) * Double(x[c])
                y[r] += p
                m[r] += abs(p)
            }
            y[r] += Double(bias?[r] ?? 0)
            m[r] += abs(Double(bias?[r] ?? 0))
        }
        return (y, m)
    }
}

/// Levels this CPU runs (portable C always).
private let levels = KernelISA.available

/// The worst |got − want| relative to the row's Σ|w·x| (the scale of float32 rounding in a dot product).
private func worstRelativeError(_ got: [Float], _ ref: (y: [Double], magnitude: [Double])) -> Double {
    var worst = 0.0
    for (g, (w, m)) in zip(got, zip(ref.y, ref.magnitude)) {
        let e = abs(Double(g) - w) / max(m, 1e-30)
        worst = max(worst, e.isNaN ? .infinity : e)
    }
    return worst
}

// The level cap is per thread and these tests set it, so they run one at a time.
@Suite(.serialized) struct LowPrecisionTests {
    /// Shapes that exercise the 4-row groups, the 2×16 / 16 / scalar column tails of every level.
    static let shapes: [(rows: Int, cols: Int)] = [(1, 1), (3, 7), (4, 16), (5, 33), (13, 70), (64, 256), (130, 1000)]

    @Test(arguments: CompactFormat.allCases)
    func gemvMatchesTheDecodedReference(_ format: CompactFormat) throws {
        for level in levels {
            swk_isa_set_cap(level.rawValue)
            defer { swk_isa_set_cap(KernelISA.avx512.rawValue) }
            #expect(KernelISA.current == level)
            for (i, shape) in Self.shapes.enumerated() {
                let fixture = CompactFixture(format, rows: shape.rows, cols: shape.cols, seed: UInt64(17 + i))
                var rng = SplitMix64(seed: UInt64(99 + i))
                let x = (0..<shape.cols).map { _ in rng.float() }
                let bias = i % 2 == 0 ? (0..<shape.rows).map { _ in rng.float() } : nil
                let ref = fixture.reference(x, bias: bias)
                for threads in [1, 3] {
                    var y = [Float](repeating: .nan, count: shape.rows)
                    fixture.withMatrix { m in
                        x.withUnsafeBufferPointer { xp in
                            y.withUnsafeMutableBufferPointer { yp in
                                if let bias {
                                    bias.withUnsafeBufferPointer {
                                        Kernels.gemv(
                                            m, x: xp.baseAddress!, bias: $0.baseAddress!, into: yp.baseAddress!,
                                            pool: WorkerPool(threads: threads))
                                    }
                                } else {
                                    Kernels.gemv(
                                        m, x: xp.baseAddress!, bias: nil, into: yp.baseAddress!,
                                        pool: WorkerPool(threads: threads))
                                }
                            }
                        }
                    }
                    // float32 accumulation over ≤ 1000 terms: well under 1e-5 of Σ|w·x|.
                    let err = worstRelativeError(y, ref)
                    #expect(err < 1e-5, "\(format) level \(level) \(shape) threads \(threads): relative error \(err)")
                }
            }
        }
    }

    @Test(arguments: CompactFormat.allCases)
    func dequantizedRowsAreExact(_ format: CompactFormat) throws {
        for level in levels {
            swk_isa_set_cap(level.rawValue)
            defer { swk_isa_set_cap(KernelISA.avx512.rawValue) }
            let fixture = CompactFixture(format, rows: 37, cols: 45, seed: 5)
            for (row0, count, threads) in [(0, 37, 1), (3, 20, 2), (36, 1, 1), (30, 50, 4)] {
                let n = min(count, 37 - row0)
                var out = [Float](repeating: .nan, count: n * 45 + 1)
                fixture.withMatrix { m in
                    out.withUnsafeMutableBufferPointer {
                        Kernels.dequantizeRows(
                            m, from: row0, count: count, into: $0.baseAddress!, pool: WorkerPool(threads: threads))
                    }
                }
                #expect(
                    Array(out[..<(n * 45)]) == Array(fixture.decoded[(row0 * 45)..<((row0 + n) * 45)]),
                    "\(format) level \(level) rows \(row0)+\(count)")
                #expect(out[n * 45].isNaN, "wrote past the clamped range")
            }
        }
    }

    /// Several rows: panels of the decoded matrix through BLAS, with panels that do not divide the rows
    /// (or the bf16 / q8 kernels where they are native, each with its rounding of the activations).
    @Test(arguments: CompactFormat.allCases)
    func multiRowLinearMatchesTheReference(_ format: CompactFormat) throws {
        let rows = 6
        let outFeatures = 70
        let inFeatures = 48
        let fixture = CompactFixture(format, rows: outFeatures, cols: inFeatures, seed: 11)
        var rng = SplitMix64(seed: 3)
        let x = (0..<(rows * inFeatures)).map { _ in rng.float() }
        let bias = (0..<outFeatures).map { _ in rng.float() }
        for panelFloats in [Kernels.compactPanelFloats(cols: inFeatures), 16 * inFeatures, inFeatures, 1] {
            var y = [Float](repeating: .nan, count: rows * outFeatures)
            var panel = [Float](repeating: 0, count: max(panelFloats, 1))
            fixture.withMatrix { m in
                x.withUnsafeBufferPointer { xp in
                    bias.withUnsafeBufferPointer { bp in
                        y.withUnsafeMutableBufferPointer { yp in
                            panel.withUnsafeMutableBufferPointer { pp in
                                Kernels.linear(
                                    xp.baseAddress!, rows: rows, weight: m, bias: bp.baseAddress!,
                                    into: yp.baseAddress!,
                                    panel: pp.baseAddress!, panelFloats: panelFloats)
                            }
                        }
                    }
                }
            }
            for r in 0..<rows {
                let row = Array(x[(r * inFeatures)..<((r + 1) * inFeatures)])
                let ref = fixture.reference(row, bias: bias)
                // Where the product rounds the activations first, that rounding on top of float32's:
                // bf16 (AVX-512 BF16) 2^-8 of each |x|, so 2^-8 of Σ|w·x|; q8 on the integer path half a
                // step of max|x| / levels per element, so that times Σ|w| of the output row.
                let amax = Double(row.map { abs($0) }.max() ?? 0)
                for c in 0..<outFeatures {
                    var activation = 0.0
                    if format == .bf16 && Kernels.bf16ProductsNative { activation = 0x1p-8 * ref.magnitude[c] }
                    if format == .q8Row && Kernels.q8ProductsUseVNNI {
                        let wabs = fixture.decoded[(c * inFeatures)..<((c + 1) * inFeatures)].reduce(0.0) {
                            $0 + abs(Double($1))
                        }
                        activation = 0.5 * amax / Double(Kernels.q8ActivationLevels) * wabs
                    }
                    let err = abs(Double(y[r * outFeatures + c]) - ref.y[c])
                    #expect(
                        err <= 1e-5 * ref.magnitude[c] + activation * 1.01,
                        "\(format) panel \(panelFloats) [\(r), \(c)]: error \(err), Σ|w·x| \(ref.magnitude[c])")
                }
            }
        }
    }

    /// The integer path (AVX-512 VNNI) against an exact emulation of its rounding — x rounded per row
    /// to int8 (scale max|x| / 127, where int8 dot products are native) or int16 (max|x| / 32767:
    /// ``Kernels/q8ActivationLevels``), exact sums — and against the float reference within the bound
    /// that rounding implies: Σ|w| · ½ · scale per output.
    @Test func q8ProductsWithVNNIMatchTheirRounding() throws {
        guard Kernels.q8ProductsUseVNNI else { return } // other CPUs take the float32 panel path
        for (m, n, k) in [(1, 4, 32), (2, 4, 32), (7, 9, 70), (13, 33, 1000), (6, 4, 5)] {
            let fixture = CompactFixture(.q8Row, rows: n, cols: k, seed: UInt64(m * 100 + n))
            var rng = SplitMix64(seed: UInt64(k))
            let x = (0..<(m * k)).map { i in rng.float() * Float(1 + i % 3) }
            let bias = (0..<n).map { _ in rng.float() }
            var y = [Float](repeating: .nan, count: m * n)
            var panel = [Float](repeating: 0, count: Kernels.compactPanelFloats(cols: k))
            fixture.withMatrix { w in
                x.withUnsafeBufferPointer { xp in
                    bias.withUnsafeBufferPointer { bp in
                        y.withUnsafeMutableBufferPointer { yp in
                            panel.withUnsafeMutableBufferPointer { pp in
                                Kernels.linear(
                                    xp.baseAddress!, rows: m, weight: w, bias: bp.baseAddress!, into: yp.baseAddress!,
                                    panel: pp.baseAddress!, panelFloats: pp.count)
                            }
                        }
                    }
                }
            }
            for r in 0..<m {
                let row = Array(x[(r * k)..<((r + 1) * k)])
                let amax = row.map { abs($0) }.max()!
                let levels = Float(Kernels.q8ActivationLevels)
                let inv = levels / amax
                let sx = amax / levels
                let q = row.map { Double(($0 * inv).rounded(.toNearestOrEven)) }
                for c in 0..<n {
                    // Undo the row scale of the decoded weights to get the stored int8 values back.
                    let wRow = fixture.decoded[(c * k)..<((c + 1) * k)]
                    let sw = Double((wRow.map { abs($0) }.max() ?? 0) / 127)
                    var exact = 0.0
                    var bound = 0.0
                    var float = 0.0
                    for (i, wv) in wRow.enumerated() {
                        let qw = sw > 0 ? (Double(wv) / sw).rounded() : 0
                        exact += q[i] * qw
                        bound += abs(Double(wv)) * 0.5 * Double(sx)
                        float += Double(wv) * Double(row[i])
                    }
                    let want = exact * Double(sx) * sw + Double(bias[c])
                    let got = Double(y[r * n + c])
                    // One row is a float32 matrix-vector product; several take the integer path.
                    if m > 1 {
                        #expect(
                            abs(got - want) <= 1e-5 * (abs(want) + 1),
                            "m \(m) n \(n) k \(k) [\(r), \(c)]: \(got) vs exact rounding \(want)")
                    }
                    #expect(
                        abs(got - float - Double(bias[c])) <= bound * 1.01 + 1e-5,
                        "[\(r), \(c)] beyond the activation rounding bound")
                }
            }
        }
    }

    /// Several threads using one pool at once: one gets it, the others run inline; all are right.
    @Test func concurrentCallersGetCorrectResults() async throws {
        let fixture = CompactFixture(.q8Row, rows: 512, cols: 512, seed: 8)
        let pool = WorkerPool(threads: 2)
        var rng = SplitMix64(seed: 4)
        let x = (0..<512).map { _ in rng.float() }
        let ref = fixture.reference(x, bias: nil)
        let errors = await withTaskGroup(of: Double.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var worst = 0.0
                    for _ in 0..<50 {
                        var y = [Float](repeating: .nan, count: 512)
                        fixture.withMatrix { m in
                            x.withUnsafeBufferPointer { xp in
                                y.withUnsafeMutableBufferPointer {
                                    Kernels.gemv(m, x: xp.baseAddress!, bias: nil, into: $0.baseAddress!, pool: pool)
                                }
                            }
                        }
                        worst = max(worst, worstRelativeError(y, ref))
                    }
                    return worst
                }
            }
            return await group.reduce(into: [Double]()) { $0.append($1) }
        }
        #expect(errors.count == 4)
        #expect(errors.allSatisfy { $0 < 1e-5 }, "\(errors)")
    }

    @Test func matrixSizeIsChecked() {
        let bytes = [UInt8](repeating: 0, count: 30)
        bytes.withUnsafeBytes { raw in
            let exact = UnsafeRawBufferPointer(rebasing: raw[..<28])
            // q8_row 4×3: 12 int8 values and 4 float32 scales.
            #expect(CompactMatrix(format: .q8Row, rows: 4, cols: 3, bytes: exact) != nil)
            #expect(CompactMatrix(format: .q8Row, rows: 4, cols: 3, bytes: raw) == nil)
            #expect(CompactMatrix(format: .f16, rows: 2, cols: 7, bytes: exact) != nil)
            #expect(CompactMatrix(format: .f16, rows: 2, cols: 7, bytes: raw) == nil)
            #expect(CompactMatrix(format: .f32, rows: 2, cols: 7, bytes: exact) == nil)
            #expect(CompactMatrix(format: .bf16, rows: -1, cols: 3, bytes: raw) == nil)
            #expect(CompactMatrix(format: .f16, rows: Int.max, cols: 2, bytes: raw) == nil)
            // q4_block 2×33: 2 rows of 17 bytes, then 2 × 2 block scales = 34 + 16 bytes.
            let q4 = [UInt8](repeating: 0, count: 51)
            q4.withUnsafeBytes { q in
                let m = CompactMatrix(
                    format: .q4Block, rows: 2, cols: 33, bytes: UnsafeRawBufferPointer(rebasing: q[..<50]))
                #expect(m != nil && m?.scales == q.baseAddress! + 34)
                #expect(CompactMatrix(format: .q4Block, rows: 2, cols: 33, bytes: q) == nil)
                #expect(
                    CompactMatrix(
                        format: .q4Block, rows: 2, cols: 33, bytes: UnsafeRawBufferPointer(rebasing: q[..<49])) == nil)
                #expect(CompactMatrix(format: .q4Block, rows: Int.max / 4, cols: 64, bytes: q) == nil)
            }
        }
    }
}
