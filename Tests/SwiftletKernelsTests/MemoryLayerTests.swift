import Glibc
import Testing
@testable import SwiftletKernels

/// The memory layer against a direct float64 transcription of its definition (MemoryFormer's
/// `Hashing` + `compute_code_score_torch` + gather).
@Suite struct MemoryLayerTests {
  /// Codes (MSB first, bit = z ≥ 0) and weights Σ|z| / Π(1 + e^(−2|z|)) in float64.
  static func referenceHash(_ z: [Float], tables: Int, bits: Int) -> (codes: [Int], weights: [Double]) {
    var codes: [Int] = [], weights: [Double] = []
    for k in 0..<tables {
      var code = 0, sum = 0.0, product = 1.0
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

  @Test(arguments: [(tables: 4, bits: 8), (tables: 3, bits: 10), (tables: 5, bits: 3), (tables: 2, bits: 17)])
  func hashMatchesDefinition(_ shape: (tables: Int, bits: Int)) throws {
    var rng = SeededRandom(seed: UInt64(shape.tables * 100 + shape.bits))
    let D = shape.tables * shape.bits, rows = 6, ldz = D + 3
    let z = Buffer(random: rows * ldz, &rng, lo: -3, hi: 3)
    // Some exact zeros and tiny magnitudes: zero sets its bit (z ≥ 0) and weighs nothing.
    z[1] = 0
    z[ldz + 2] = -1e-30
    z[2 * ldz] = 1e-30
    let codes = UnsafeMutablePointer<Int32>.allocate(capacity: rows * shape.tables)
    defer { codes.deallocate() }
    let weights = Buffer(count: rows * shape.tables)
    try Kernels.memoryHash(z.c, rows: rows, ldz: ldz, tables: shape.tables, codeLength: shape.bits,
                           codes: codes, weights: weights.p)
    for n in 0..<rows {
      let row = Array(z.array[(n * ldz)..<(n * ldz + D)])
      let ref = Self.referenceHash(row, tables: shape.tables, bits: shape.bits)
      for k in 0..<shape.tables {
        #expect(Int(codes[n * shape.tables + k]) == ref.codes[k], "row \(n) table \(k)")
        let w = Double(weights[n * shape.tables + k])
        #expect(abs(w - ref.weights[k]) <= 4e-6 * abs(ref.weights[k]) + 1e-30, "row \(n) table \(k): \(w) vs \(ref.weights[k])")
      }
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

  /// Table storages under test, with the test's own encoders (round to nearest; q8: max|x|/127).
  enum Storage: CaseIterable { case f32, f16, q8Separate, q8Interleaved }

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
      for (i, v) in values.enumerated() { e.bytes.storeBytes(of: Float16(v).bitPattern, toByteOffset: 2 * i, as: UInt16.self) }
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
        e.table = try .q8Row(values: UnsafeRawBufferPointer(rebasing: all[4...]), rowStride: stride,
                             scales: all, scaleStride: stride, tables: tables, codeLength: bits, outFeatures: out)
      } else {
        e.table = try .q8Row(values: UnsafeRawBufferPointer(rebasing: all[0..<(rows * out)]), rowStride: out,
                             scales: UnsafeRawBufferPointer(rebasing: all[(rows * out)...]), scaleStride: 4,
                             tables: tables, codeLength: bits, outFeatures: out)
      }
      return e
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
    }
  }

  @Test(arguments: Storage.allCases)
  func gatherMatchesDefinition(_ storage: Storage) throws {
    // 11 tables (one 8-table pass + 3 single ones), 37 outputs (full blocks of 8 and 16 plus a
    // tail), 2^3 rows per table.
    let tables = 11, bits = 3, out = 37, rows = 4, ldy = out + 2
    var rng = SeededRandom(seed: 77)
    let values = (0..<((tables << bits) * out)).map { _ in rng.float(-2, 2) }
    let encoded = try Self.encode(values, storage: storage, tables: tables, bits: bits, out: out)
    let table = encoded.table!
    let bias = (0..<out).map { _ in rng.float() }
    var codes: [Int32] = (0..<(rows * tables)).map { _ in Int32(rng.int(1 << bits)) }
    codes[0] = 0
    codes[tables - 1] = Int32((1 << bits) - 1)
    let weights = (0..<(rows * tables)).map { _ in rng.float(0, 3) }
    let y = Buffer(count: rows * ldy, fill: .nan)
    try Kernels.memoryGather(codes: codes, weights: weights, rows: rows, table: table, bias: bias, into: y.p, ldy: ldy)

    func storedRow(_ r: Int) -> [Float] {
      let row = Array(values[(r * out)..<((r + 1) * out)])
      let m = row.map { abs($0) }.max() ?? 0
      return row.map { Self.decoded($0, storage: storage, rowMax: m) }
    }
    var worst = 0.0
    for n in 0..<rows {
      let ref = Self.referenceGather(
        codes: codes[(n * tables)..<((n + 1) * tables)].map(Int.init),
        weights: weights[(n * tables)..<((n + 1) * tables)].map(Double.init),
        rows: storedRow, bias: bias, bits: bits, out: out)
      for j in 0..<out { worst = max(worst, abs(Double(y[n * ldy + j]) - ref[j]) / (1 + abs(ref[j]))) }
      #expect(y[n * ldy + out].isNaN, "the gather must not write past the row")
    }
    // Float32 accumulation of 11 products: a few ulps of the magnitude.
    #expect(worst < 1e-5, "\(storage): worst relative error \(worst)")
    // decodeRow agrees with the independent decoding.
    #expect(table.decodeRow(9).enumerated().allSatisfy { abs($0.element - storedRow(9)[$0.offset]) <= 1e-6 })
  }

  @Test func halfConversionIsExactForEveryBitPattern() {
    var mismatches = 0
    var bits = SIMD4<UInt32>()
    for start in stride(from: 0, to: 65536, by: 4) {
      for l in 0..<4 { bits[l] = UInt32(start + l) }
      let got = halfToFloat(bits)
      for l in 0..<4 {
        let want = Float(Float16(bitPattern: UInt16(bits[l])))
        if want.isNaN ? !got[l].isNaN : got[l].bitPattern != want.bitPattern { mismatches += 1 }
      }
    }
    #expect(mismatches == 0)
    // The f16 block loader (a fast path for blocks of normal halves, the exact conversion
    // otherwise): every bit pattern at every position, among normal neighbours.
    var blockMismatches = 0
    var block = [UInt16](repeating: 0, count: 8)
    for h in 0..<65536 {
      for l in 0..<8 { block[l] = Float16(Float(l) * 0.375 - 1.3).bitPattern }
      block[h % 8] = UInt16(h)
      let got = block.withUnsafeBytes { F16Row.loadBlock($0.baseAddress!, 0) }
      for l in 0..<8 {
        let want = Float(Float16(bitPattern: block[l])), g = got[F16Row.lane(of: l)]
        if want.isNaN ? !g.isNaN : g.bitPattern != want.bitPattern { blockMismatches += 1 }
      }
    }
    #expect(blockMismatches == 0)
    // The block loaders put element i in lane `lane(of: i)`.
    let halves: [UInt16] = (0..<16).map { Float16(Float($0) - 7.5).bitPattern }
    halves.withUnsafeBytes { raw in
      let block = F16Row.loadBlock(raw.baseAddress!, 8)
      #expect((0..<8).allSatisfy { block[F16Row.lane(of: $0)] == Float(8 + $0) - 7.5 })
      #expect(F16Row.load1(raw.baseAddress!, 3) == -4.5)
    }
    let bytes: [Int8] = (0..<32).map { Int8($0 * 8 - 128) }
    bytes.withUnsafeBytes { raw in
      let block = Q8Row.loadBlock(raw.baseAddress!, 16)
      #expect((0..<16).allSatisfy { block[Q8Row.lane(of: $0)] == Float((16 + $0) * 8 - 128) })
      #expect(Set((0..<16).map(Q8Row.lane(of:))).count == 16)
    }
  }

  @Test func memoryLayerIsHashThenGatherAndReturnsScratch() throws {
    let tables = 4, bits = 8, out = 24, rows = 3
    var rng = SeededRandom(seed: 5)
    let values = (0..<((tables << bits) * out)).map { _ in rng.float() }
    let encoded = try Self.encode(values, storage: .f32, tables: tables, bits: bits, out: out)
    let x = Buffer(random: rows * tables * bits, &rng, lo: -1, hi: 1)
    let y = Buffer(count: rows * out)
    let arena = Arena()
    let mark = arena.mark()
    try Kernels.memoryLayer(x.c, rows: rows, ldx: tables * bits, table: encoded.table, bias: nil,
                            into: y.p, ldy: out, scratch: arena)
    #expect(arena.mark() == mark)
    for n in 0..<rows {
      let h = Self.referenceHash(Array(x.array[(n * tables * bits)..<((n + 1) * tables * bits)]), tables: tables, bits: bits)
      let ref = Self.referenceGather(codes: h.codes, weights: h.weights,
                                     rows: { r in Array(values[(r * out)..<((r + 1) * out)]) }, bias: nil, bits: bits, out: out)
      for j in 0..<out { #expect(abs(Double(y[n * out + j]) - ref[j]) <= 1e-5 * (1 + abs(ref[j]))) }
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
    let table = try MemoryTables.f32(bytes, tables: 2, codeLength: 3, outFeatures: 2)
    #expect(table.rowCount == 16 && table.inFeatures == 6 && table.bytesPerRow == 8)
    var y: [Float] = [0, 0]
    #expect(throws: KernelError.indexOutOfRange(index: 8, bound: 8)) {
      try Kernels.memoryGather(codes: [1, 8], weights: [1, 1], rows: 1, table: table, bias: nil, into: &y, ldy: 2)
    }
    #expect(throws: KernelError.self) {
      try Kernels.memoryGather(codes: [1, 2], weights: [1, 1], rows: 1, table: table, bias: nil, into: &y, ldy: 1)
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
