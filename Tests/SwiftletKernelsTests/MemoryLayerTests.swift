import Glibc
import Testing

@testable import SwiftletKernels

/// The memory layer against a direct float64 transcription of its definition (MemoryFormer's
/// `Hashing` + `compute_code_score_torch` + gather).
@Suite struct MemoryLayerTests {
    /// Codes (MSB first, bit = z ≥ 0) and weights Σ|z| / Π(1 + e^(−2|z|)) in float64.
    static func referenceHash(_ z: [Float], tables: Int, bits: Int) -> (codes: [Int], weights: [Double]) {
        var codes: [Int] = []
        var weights: [Double] = []
        for k in 0..<tables {
            var code = 0
            var sum = 0.0
            var product = 1.0
            for i in 0..<bits {
                let v = Double(z[k * bits + i])
                if v >= 0 { code |= 1 << (bits - 1 - i) }
                sum += abs(v)
                product *= 1 + Glibc.exp(-2 * abs(v))
            }
            codes.append(code)
            weights.append(sum / product)
        }
        return (codes, weights)
    }

    /// Σ_k w_k · rows[k·2^L + code_k] + bias, in float64, from decoded float rows.
    static func referenceGather(
        codes: [Int], weights: [Double], rows: (Int) -> [Float], bias: [Float]?, bits: Int, out: Int
    ) -> [Double] {
        var y = (0..<out).map { Double(bias?[$0] ?? 0) }
        for (k, c) in codes.enumerated() {
            let r = rows((k << bits) + c)
            for j in 0..<out { y[j] += weights[k] * Double(r[j]) }
        }
        return y
    }

    /// The code paths this CPU has (the portable one always).
    static let isas: [KernelISA] = KernelISA.available

    // 8-bit chunks take the eight-chunks-per-vector path (with 3 chunks left over for T = 11), other
    // lengths the strided one (one left over for T = 9); each ISA against the float64 definition.
    @Test(
        arguments: [
            (tables: 4, bits: 8), (tables: 11, bits: 8), (tables: 16, bits: 8), (tables: 3, bits: 10),
            (tables: 9, bits: 10), (tables: 5, bits: 3), (tables: 2, bits: 17), (tables: 8, bits: 24),
        ],
        isas.filter { $0 != .avx512 })
    func hashMatchesDefinition(_ shape: (tables: Int, bits: Int), _ isa: KernelISA) throws {
        var rng = SeededRandom(seed: UInt64(shape.tables * 100 + shape.bits))
        let D = shape.tables * shape.bits
        let rows = 6
        let ldz = D + 3
        let z = Buffer(random: rows * ldz, &rng, lo: -3, hi: 3)
        // Some exact zeros, negative zero and tiny magnitudes: zero sets its bit (z ≥ 0) and weighs
        // nothing; large magnitudes make exp(−2|z|) underflow.
        z[1] = 0
        z[ldz + 2] = -1e-30
        z[2 * ldz] = 1e-30
        z[2 * ldz + 1] = -0.0
        z[3 * ldz + 4] = 95
        z[3 * ldz + 5] = -200
        let codes = UnsafeMutablePointer<Int32>.allocate(capacity: rows * shape.tables)
        defer { codes.deallocate() }
        let weights = Buffer(count: rows * shape.tables)
        try Kernels.memoryHash(
            z.c, rows: rows, ldz: ldz, tables: shape.tables, codeLength: shape.bits,
            codes: codes, weights: weights.p, isa: isa)
        for n in 0..<rows {
            let row = Array(z.array[(n * ldz)..<(n * ldz + D)])
            let ref = Self.referenceHash(row, tables: shape.tables, bits: shape.bits)
            for k in 0..<shape.tables {
                #expect(Int(codes[n * shape.tables + k]) == ref.codes[k], "\(isa) row \(n) table \(k)")
                let w = Double(weights[n * shape.tables + k])
                #expect(
                    abs(w - ref.weights[k]) <= 4e-6 * abs(ref.weights[k]) + 1e-30,
                    "\(isa) row \(n) table \(k): \(w) vs \(ref.weights[k])")
            }
        }
    }

    @Test func hashOfNaNSetsNoBitAndPoisonsOnlyItsChunk() throws {
        for isa in Self.isas where isa != .avx512 {
            // Two tables of 8: the first chunk has a NaN in its most significant place.
            var z = [Float](repeating: 1, count: 16)
            z[0] = .nan
            var codes = [Int32](repeating: -1, count: 2)
            var w = [Float](repeating: 0, count: 2)
            try Kernels.memoryHash(z, rows: 1, ldz: 16, tables: 2, codeLength: 8, codes: &codes, weights: &w, isa: isa)
            #expect(codes == [0x7f, 0xff], "\(isa)")
            #expect(w[0].isNaN && w[1].isFinite, "\(isa)")
        }
    }

    @Test func codeBitOrderIsMostSignificantFirst() throws {
        // Chunks of 3: [+, −, −] → 0b100; [−, −, +] → 0b001; [0, −, 0] → 0b101 (zero counts as ≥ 0).
        let z: [Float] = [2, -1, -1, -1, -1, 2, 0, -3, 0]
        let b = Buffer(z)
        var codes = [Int32](repeating: -1, count: 3)
        let w = Buffer(count: 3)
        try Kernels.memoryHash(b.c, rows: 1, ldz: 9, tables: 3, codeLength: 3, codes: &codes, weights: w.p)
        #expect(codes == [4, 1, 5])
        // Weight of [2, −1, −1]: 4 / ((1 + e⁻⁴)(1 + e⁻²)²).
        let expected = 4 / ((1 + Glibc.exp(-4.0)) * (1 + Glibc.exp(-2.0)) * (1 + Glibc.exp(-2.0)))
        #expect(abs(Double(w[0]) - expected) < 1e-6)
    }

    /// Table storages under test, with the test's own encoders (round to nearest; q8: max|x|/127;
    /// q4: max|block of 32|/7, nibbles packed low first, rows padded to a byte and to a 4-byte
    /// stride so that the strides are not the tight ones).
    enum Storage: CaseIterable { case f32, f16, q8Separate, q8Interleaved, q4 }

    /// Encoded table bytes plus the `MemoryTables` view of them (which borrows `bytes`).
    final class EncodedTable {
        let bytes: UnsafeMutableRawBufferPointer
        var table: MemoryTables!
        init(count: Int) {
            bytes = .allocate(byteCount: max(count, 1), alignment: 64)
            bytes.initializeMemory(as: UInt8.self, repeating: 0)
        }
        deinit { bytes.deallocate() }
    }

    static func encode(_ values: [Float], storage: Storage, tables: Int, bits: Int, out: Int) throws -> EncodedTable {
        let rows = tables << bits
        switch storage {
        case .f32:
            let e = EncodedTable(count: rows * out * 4)
            for (i, v) in values.enumerated() { e.bytes.storeBytes(of: v, toByteOffset: 4 * i, as: Float.self) }
            e.table = try .f32(UnsafeRawBufferPointer(e.bytes), tables: tables, codeLength: bits, outFeatures: out)
            return e
        case .f16:
            let e = EncodedTable(count: rows * out * 2)
            for (i, v) in values.enumerated() {
                e.bytes.storeBytes(of: Float16(v).bitPattern, toByteOffset: 2 * i, as: UInt16.self)
            }
            e.table = try .f16(UnsafeRawBufferPointer(e.bytes), tables: tables, codeLength: bits, outFeatures: out)
            return e
        case .q8Separate, .q8Interleaved:
            // Separate: all int8 values, then the scales. Interleaved: [scale f32][int8 × out] per row.
            let interleaved = storage == .q8Interleaved
            let stride = interleaved ? out + 4 : out
            let e = EncodedTable(count: rows * (out + 4))
            for r in 0..<rows {
                let row = values[(r * out)..<((r + 1) * out)]
                let scale = (row.map { abs($0) }.max() ?? 0) / 127
                let valueAt = interleaved ? r * stride + 4 : r * stride
                let scaleAt = interleaved ? r * stride : rows * out + 4 * r
                e.bytes.storeBytes(of: scale, toByteOffset: scaleAt, as: Float.self)
                for (j, v) in row.enumerated() {
                    let q = scale > 0 ? Int8(max(-127, min(127, (v / scale).rounded()))) : 0
                    e.bytes.storeBytes(of: q, toByteOffset: valueAt + j, as: Int8.self)
                }
            }
            let all = UnsafeRawBufferPointer(e.bytes)
            if interleaved {
                e.table = try .q8Row(
                    values: UnsafeRawBufferPointer(rebasing: all[4...]), rowStride: stride,
                    scales: all, scaleStride: stride, tables: tables, codeLength: bits, outFeatures: out)
            } else {
                e.table = try .q8Row(
                    values: UnsafeRawBufferPointer(rebasing: all[0..<(rows * out)]), rowStride: out,
                    scales: UnsafeRawBufferPointer(rebasing: all[(rows * out)...]), scaleStride: 4,
                    tables: tables, codeLength: bits, outFeatures: out)
            }
            return e
        case .q4:
            let rowBytes = (out + 1) / 2 + 3
            let blocks = (out + 31) / 32
            let scaleStride = 4 * blocks + 8
            let e = EncodedTable(count: rows * rowBytes + rows * scaleStride)
            for r in 0..<rows {
                for b in 0..<blocks {
                    let c0 = b * 32
                    let c1 = min(out, c0 + 32)
                    let scale = Self.q4Scale(values[(r * out + c0)..<(r * out + c1)])
                    e.bytes.storeBytes(
                        of: scale, toByteOffset: rows * rowBytes + r * scaleStride + 4 * b, as: Float.self)
                    for c in c0..<c1 {
                        let q = scale > 0 ? Int(max(-7, min(7, (values[r * out + c] / scale).rounded()))) : 0
                        e.bytes[r * rowBytes + c / 2] |= UInt8(q & 15) << (c % 2 == 0 ? 0 : 4)
                    }
                }
            }
            let all = UnsafeRawBufferPointer(e.bytes)
            e.table = try .q4Block(
                values: UnsafeRawBufferPointer(rebasing: all[0..<(rows * rowBytes)]), rowStride: rowBytes,
                scales: UnsafeRawBufferPointer(rebasing: all[(rows * rowBytes)...]), scaleStride: scaleStride,
                tables: tables, codeLength: bits, outFeatures: out)
            return e
        }
    }

    static func q4Scale(_ block: ArraySlice<Float>) -> Float { (block.map { abs($0) }.max() ?? 0) / 7 }

    /// A stored row decoded independently of the kernel.
    static func decodedRow(_ row: [Float], storage: Storage) -> [Float] {
        guard storage == .q4 else {
            let m = row.map { abs($0) }.max() ?? 0
            return row.map { decoded($0, storage: storage, rowMax: m) }
        }
        return row.indices.map { c in
            let b0 = c / 32 * 32
            let scale = q4Scale(row[b0..<min(row.count, b0 + 32)])
            return scale > 0 ? Float(max(-7, min(7, (row[c] / scale).rounded()))) * scale : 0
        }
    }

    /// What a stored value decodes to, computed here independently of the kernel.
    static func decoded(_ v: Float, storage: Storage, rowMax: Float) -> Float {
        switch storage {
        case .f32: return v
        case .f16: return Float(Float16(v))
        case .q8Separate, .q8Interleaved:
            let scale = rowMax / 127
            return scale > 0 ? Float(max(-127, min(127, (v / scale).rounded()))) * scale : 0
        case .q4: return .nan // per block: decodedRow
        }
    }

    static func storageKind(_ storage: Storage) -> MemoryTableStorage {
        switch storage {
        case .f32: return .f32
        case .f16: return .f16
        case .q8Separate, .q8Interleaved: return .q8Row
        case .q4: return .q4Block
        }
    }

    /// Gathers with every code path and thread count and compares with the float64 definition.
    /// Shapes: 19 tables (two groups of eight plus 3 single rows), outputs that end in a partial
    /// vector and a partial cache line, rows crossing the prefetch look-ahead into the next token;
    /// 300 rows (blocks of 128 tokens walked table group by table group, one thread or parts of a
    /// few tokens on two); and a shape large enough (64 tables × 1600 outputs) for the threaded
    /// paths, split by columns for one row and by rows for several.
    @Test(arguments: Storage.allCases, isas)
    func gatherMatchesDefinition(_ storage: Storage, _ isa: KernelISA) throws {
        let shapes = [
            (tables: 11, bits: 3, out: 37, rows: 4, threads: 1), (tables: 19, bits: 4, out: 203, rows: 5, threads: 1),
            (tables: 19, bits: 4, out: 203, rows: 300, threads: 1),
            (tables: 19, bits: 4, out: 203, rows: 300, threads: 2),
            (tables: 64, bits: 1, out: 1600, rows: 1, threads: 2),
            (tables: 64, bits: 1, out: 1600, rows: 3, threads: 2),
            (tables: 64, bits: 1, out: 1600, rows: 3, threads: 3),
        ]
        for shape in shapes {
            let (tables, bits, out, rows) = (shape.tables, shape.bits, shape.out, shape.rows)
            let ldy = out + 2
            var rng = SeededRandom(seed: UInt64(77 + out))
            let values = (0..<((tables << bits) * out)).map { _ in rng.float(-2, 2) }
            let encoded = try Self.encode(values, storage: storage, tables: tables, bits: bits, out: out)
            let table = encoded.table!
            let bias = (0..<out).map { _ in rng.float() }
            var codes: [Int32] = (0..<(rows * tables)).map { _ in Int32(rng.int(1 << bits)) }
            codes[0] = 0
            codes[tables - 1] = Int32((1 << bits) - 1)
            let weights = (0..<(rows * tables)).map { _ in rng.float(0, 3) }
            // What every stored row decodes to, computed once (the reference reads rows many times).
            let stored: [[Float]] = (0..<(tables << bits)).map { r in
                Self.decodedRow(Array(values[(r * out)..<((r + 1) * out)]), storage: storage)
            }
            func storedRow(_ r: Int) -> [Float] { stored[r] }
            for withBias in [true, false] {
                let y = Buffer(count: rows * ldy, fill: .nan)
                try Kernels.memoryGather(
                    codes: codes, weights: weights, rows: rows, table: table, bias: withBias ? bias : nil,
                    into: y.p, ldy: ldy, pool: WorkerPool(threads: shape.threads), isa: isa)
                var worst = 0.0
                for n in 0..<rows {
                    let ref = Self.referenceGather(
                        codes: codes[(n * tables)..<((n + 1) * tables)].map(Int.init),
                        weights: weights[(n * tables)..<((n + 1) * tables)].map(Double.init),
                        rows: storedRow, bias: withBias ? bias : nil, bits: bits, out: out)
                    for j in 0..<out { worst = max(worst, abs(Double(y[n * ldy + j]) - ref[j]) / (1 + abs(ref[j]))) }
                    #expect(
                        y[n * ldy + out].isNaN && y[n * ldy + out + 1].isNaN, "the gather must not write past the row")
                }
                // Float32 accumulation of up to 64 products: a few ulps of the magnitude (NaN fails too).
                #expect(worst < 2e-5, "\(storage) \(isa) \(shape): worst relative error \(worst)")
                // decodeRow agrees with the independent decoding.
                #expect(
                    table.decodeRow(9).enumerated().allSatisfy { abs($0.element - storedRow(9)[$0.offset]) <= 1e-6 })
            }
        }
    }

    /// Every binary16 bit pattern (zeros, subnormals, normals, ±∞, NaNs) gathered with weight 1 onto a
    /// zero accumulator comes out as the exact float32 value on every code path (−0 as +0: it is
    /// added to 0). One table of 2 rows × 32768 outputs holds all 65536 patterns.
    @Test(arguments: isas)
    func halfRowsWidenExactlyForEveryBitPattern(_ isa: KernelISA) throws {
        let out = 32768
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * out * 2, alignment: 64)
        defer { raw.deallocate() }
        for h in 0..<65536 { raw.storeBytes(of: UInt16(h), toByteOffset: 2 * h, as: UInt16.self) }
        let table = try MemoryTables.f16(UnsafeRawBufferPointer(raw), tables: 1, codeLength: 1, outFeatures: out)
        let y = Buffer(count: 2 * out)
        try Kernels.memoryGather(
            codes: [0, 1], weights: [1, 1], rows: 2, table: table, bias: nil, into: y.p, ldy: out, isa: isa)
        var mismatches = 0
        for h in 0..<65536 {
            let want = Float(Float16(bitPattern: UInt16(h)))
            let got = y[h]
            if want.isNaN ? !got.isNaN : got != want { mismatches += 1 }
        }
        #expect(mismatches == 0, "\(isa)")
    }

    /// The code paths agree with each other on 8-bit codes from the hash (16 tables × 256 rows × 256).
    @Test(arguments: [MemoryTableStorage.f32, .f16, .q8Row, .q4Block])
    func codePathsAgreeWithEachOther(_ kind: MemoryTableStorage) throws {
        let tables = 16
        let bits = 8
        let out = 256
        let rows = 3
        var rng = SeededRandom(seed: 99)
        let values = (0..<((tables << bits) * out)).map { _ in rng.float(-0.05, 0.05) }
        let storage: Storage = kind == .f32 ? .f32 : kind == .f16 ? .f16 : kind == .q4Block ? .q4 : .q8Separate
        let encoded = try Self.encode(values, storage: storage, tables: tables, bits: bits, out: out)
        let x = Buffer(random: rows * tables * bits, &rng, lo: -1, hi: 1)
        var results: [(KernelISA, [Float])] = []
        let paths = Self.isas
        for isa in paths {
            let codes = UnsafeMutablePointer<Int32>.allocate(capacity: rows * tables)
            defer { codes.deallocate() }
            let w = Buffer(count: rows * tables)
            try Kernels.memoryHash(
                x.c, rows: rows, ldz: tables * bits, tables: tables, codeLength: bits, codes: codes,
                weights: w.p, isa: isa == .avx512 ? .avx2 : isa)
            let y = Buffer(count: rows * out)
            try Kernels.memoryGather(
                codes: codes, weights: w.c, rows: rows, table: encoded.table, bias: nil, into: y.p,
                ldy: out, isa: isa)
            results.append((isa, y.array))
        }
        #expect(results.count == paths.count && paths.contains(.portable))
        for (isa, y) in results.dropFirst() {
            let worst = zip(y, results[0].1).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst < 1e-5, "\(kind) \(isa) vs portable: \(worst)")
        }
    }

    @Test func badArgumentsThrowInsteadOfTrapping() throws {
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 * 16 * 2, alignment: 16)
        defer { raw.deallocate() }
        raw.initializeMemory(as: UInt8.self, repeating: 0)
        let bytes = UnsafeRawBufferPointer(raw)
        // Too few bytes for 2 tables × 2^3 rows × 2 floats (needs 128, has 128 → fits; 3 tables do not).
        #expect(throws: KernelError.self) { try MemoryTables.f32(bytes, tables: 3, codeLength: 3, outFeatures: 2) }
        #expect(throws: KernelError.self) { try MemoryTables.f32(bytes, tables: 1, codeLength: 0, outFeatures: 2) }
        #expect(throws: KernelError.self) { try MemoryTables.f32(bytes, tables: 1, codeLength: 40, outFeatures: 2) }
        // q4: 16 rows of 33 values need 16 × 17 value bytes and 16 × 8 scale bytes.
        #expect(throws: KernelError.self) {
            try MemoryTables.q4Block(
                values: UnsafeRawBufferPointer(rebasing: bytes[0..<100]), rowStride: 17, scales: bytes, scaleStride: 8,
                tables: 2, codeLength: 3, outFeatures: 33)
        }
        #expect(throws: KernelError.self) {
            try MemoryTables.q4Block(
                values: bytes, rowStride: 16, scales: bytes, scaleStride: 8, tables: 1, codeLength: 1, outFeatures: 33)
        }
        #expect(throws: KernelError.self) {
            try MemoryTables.q4Block(
                values: bytes, rowStride: 17, scales: bytes, scaleStride: 4, tables: 1, codeLength: 1, outFeatures: 33)
        }
        let table = try MemoryTables.f32(bytes, tables: 2, codeLength: 3, outFeatures: 2)
        #expect(table.rowCount == 16 && table.inFeatures == 6 && table.bytesPerRow == 8)
        var y: [Float] = [0, 0]
        #expect(throws: KernelError.indexOutOfRange(index: 8, bound: 8)) {
            try Kernels.memoryGather(
                codes: [1, 8], weights: [1, 1], rows: 1, table: table, bias: nil, into: &y, ldy: 2)
        }
        #expect(throws: KernelError.self) {
            try Kernels.memoryGather(
                codes: [1, 2], weights: [1, 1], rows: 1, table: table, bias: nil, into: &y, ldy: 1)
        }
        var codes: [Int32] = [0]
        var w: [Float] = [0]
        #expect(throws: KernelError.self) {
            try Kernels.memoryHash([1, 2, 3], rows: 1, ldz: 2, tables: 1, codeLength: 3, codes: &codes, weights: &w)
        }
    }

    @Test func trackerCountsDistinctRowsPerTable() {
        var tracker = MemoryRowTracker(rowCount: 2 << 3)
        // Two tables of 8 rows: table 0 reads {5, 7}, table 1 reads {5, 2}; equal codes in different
        // tables are different rows.
        let codes: [Int32] = [5, 5, 5, 2, 7, 5]
        #expect(tracker.mark(codes: codes, rows: 3, tables: 2, codeLength: 3) == 4)
        #expect(tracker.touchedRows == 4)
        #expect(tracker.mark(codes: codes, rows: 1, tables: 2, codeLength: 3) == 0)
        tracker.reset()
        #expect(tracker.touchedRows == 0)
    }
}
