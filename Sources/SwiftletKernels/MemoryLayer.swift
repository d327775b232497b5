// The memory layer of MemoryFormer (a hashed lookup that replaces a fully-connected layer):
//
//   split the input row z (T·L values) into T contiguous chunks of L values;
//   code_k   = Σ_i [z_{k,i} ≥ 0] · 2^(L−1−i)                  (sign bits, first element = most significant)
//   weight_k = Σ_i |z_{k,i}| / Π_i (1 + exp(−2|z_{k,i}|))
//   y        = Σ_k weight_k · table[k·2^L + code_k] + bias
//
// A lookup reads T rows of `out` values instead of multiplying by a (T·L)×out matrix, so the cost is
// memory traffic. Tables are read in place from the model file in f32, f16 or int8-with-row-scale
// form, so only the rows that are touched are ever paged in.
//
// The loops are C (CSwiftletKernels/memory_*.c) so that they can use AVX2/F16C/AVX-512 chosen at run
// time while the Swift code stays baseline x86-64; this file validates every argument first.

import CSwiftletKernels

/// How the rows of a memory layer's tables are stored.
public enum MemoryTableStorage: Sendable, Equatable, CustomStringConvertible {
    /// IEEE float32 values.
    case f32
    /// IEEE binary16 values (widened to float32 while gathering).
    case f16
    /// Signed 8-bit values with one float32 scale per row: `value = Float(q) · scale`.
    case q8Row
    /// Signed 4-bit values, two per byte (column `2i` in the low nibble of byte `i`, `2i + 1` in the
    /// high one), with one float32 scale per block of 32 columns: `value = Float(q) · scale[c / 32]`
    /// (the .swl `q4_block` layout).
    case q4Block

    public var description: String {
        switch self {
        case .f32: return "f32"
        case .f16: return "f16"
        case .q8Row: return "q8"
        case .q4Block: return "q4"
        }
    }

    /// The C kernels' storage code.
    var cKind: Int32 {
        switch self {
        case .f32: return Int32(SWK_F32)
        case .f16: return Int32(SWK_F16)
        case .q8Row: return Int32(SWK_Q8ROW)
        case .q4Block: return Int32(SWK_Q4BLOCK)
        }
    }
}

/// The tables of one memory layer, `[tables · 2^codeLength, outFeatures]`, read in place (no copy):
/// table `k`'s row `c` is global row `k · 2^codeLength + c`.
///
/// The view borrows the memory it was made from; the owner (for example a memory-mapped model file)
/// must outlive it.
public struct MemoryTables: @unchecked Sendable {
    public let storage: MemoryTableStorage
    /// Number of tables T (= chunks of the hashed input).
    public let tables: Int
    /// Bits per code L; each table has 2^L rows.
    public let codeLength: Int
    /// Width of a row (the layer's output width).
    public let outFeatures: Int
    let values: UnsafeRawPointer
    /// Bytes from one row's values to the next row's.
    let rowStride: Int
    /// q8Row: where row 0's float32 scale is, and the bytes between consecutive scales; q4Block: where
    /// row 0's block scales start, and the bytes from one row's block scales to the next's.
    let scales: UnsafeRawPointer?
    let scaleStride: Int

    /// Rows over all tables, `tables · 2^codeLength`.
    public var rowCount: Int { tables << codeLength }
    /// Width of the hashed input, `tables · codeLength`.
    public var inFeatures: Int { tables * codeLength }
    /// Bytes one gathered row reads: its values, plus its scale for q8Row or block scales for q4Block.
    public var bytesPerRow: Int {
        switch storage {
        case .f32: return 4 * outFeatures
        case .f16: return 2 * outFeatures
        case .q8Row: return outFeatures + 4
        case .q4Block: return Self.q4RowBytes(outFeatures) + 4 * Self.q4Blocks(outFeatures)
        }
    }

    /// Bytes of the packed values of a q4 row of `columns` values, and its number of block scales.
    public static func q4RowBytes(_ columns: Int) -> Int { (columns + 1) / 2 }
    public static func q4Blocks(_ columns: Int) -> Int { (columns + 31) / 32 }
    /// Bytes of all the tables (what a dense copy in this storage would occupy).
    public var totalBytes: Int { rowCount * bytesPerRow }

    /// Largest supported code length: 2^24 rows per table is already far beyond any released model.
    public static let maxCodeLength = 24
    /// Largest supported table count (the C kernels index tables with 32-bit integers).
    public static let maxTables = 1 << 24

    private init(
        storage: MemoryTableStorage, tables: Int, codeLength: Int, outFeatures: Int,
        values: UnsafeRawPointer, rowStride: Int, scales: UnsafeRawPointer?, scaleStride: Int
    ) {
        self.storage = storage
        self.tables = tables
        self.codeLength = codeLength
        self.outFeatures = outFeatures
        self.values = values
        self.rowStride = rowStride
        self.scales = scales
        self.scaleStride = scaleStride
    }

    /// Checks the geometry and returns the row count, or throws.
    private static func rows(tables: Int, codeLength: Int, outFeatures: Int) throws(KernelError) -> Int {
        guard (1...maxTables).contains(tables), outFeatures > 0, (1...maxCodeLength).contains(codeLength) else {
            throw .invalidShape(
                "memory tables: \(tables) tables, code length \(codeLength), \(outFeatures) outputs "
                    + "(need 1...\(maxTables) tables, 1...\(maxCodeLength) bits, ≥ 1 output)")
        }
        let (rows, overflow) = tables.multipliedReportingOverflow(by: 1 << codeLength)
        let (_, overflow2) = rows.multipliedReportingOverflow(by: outFeatures * 4)
        guard !overflow, !overflow2 else {
            throw .invalidShape("memory tables: \(tables) × 2^\(codeLength) rows of \(outFeatures) overflow")
        }
        return rows
    }

    private static func check(_ bytes: UnsafeRawBufferPointer, needs: Int, _ what: String) throws(KernelError) {
        guard bytes.baseAddress != nil, bytes.count >= needs else {
            throw .invalidShape(
                "memory tables (\(what)): the buffer has \(bytes.count) bytes, the shape needs \(needs)")
        }
    }

    /// Float32 tables: `rows × outFeatures` contiguous floats.
    public static func f32(
        _ bytes: UnsafeRawBufferPointer, tables: Int, codeLength: Int, outFeatures: Int
    ) throws(KernelError) -> MemoryTables {
        try contiguous(bytes, .f32, valueSize: 4, tables: tables, codeLength: codeLength, outFeatures: outFeatures)
    }

    /// Float16 tables: `rows × outFeatures` contiguous binary16 values (little-endian bit patterns).
    public static func f16(
        _ bytes: UnsafeRawBufferPointer, tables: Int, codeLength: Int, outFeatures: Int
    ) throws(KernelError) -> MemoryTables {
        try contiguous(bytes, .f16, valueSize: 2, tables: tables, codeLength: codeLength, outFeatures: outFeatures)
    }

    private static func contiguous(
        _ bytes: UnsafeRawBufferPointer, _ storage: MemoryTableStorage, valueSize: Int, tables: Int, codeLength: Int,
        outFeatures: Int
    ) throws(KernelError) -> MemoryTables {
        let rows = try rows(tables: tables, codeLength: codeLength, outFeatures: outFeatures)
        try check(bytes, needs: rows * outFeatures * valueSize, "\(storage)")
        return MemoryTables(
            storage: storage, tables: tables, codeLength: codeLength, outFeatures: outFeatures,
            values: bytes.baseAddress!, rowStride: outFeatures * valueSize, scales: nil, scaleStride: 0)
    }

    /// Int8 tables with one float32 scale per row. Row `r`'s `outFeatures` int8 values start at
    /// `values + r · rowStride`, its scale at `scales + r · scaleStride` (so both a separate scale array
    /// and scales stored inside each row are expressible).
    public static func q8Row(
        values: UnsafeRawBufferPointer, rowStride: Int, scales: UnsafeRawBufferPointer, scaleStride: Int,
        tables: Int, codeLength: Int, outFeatures: Int
    ) throws(KernelError) -> MemoryTables {
        let rows = try rows(tables: tables, codeLength: codeLength, outFeatures: outFeatures)
        guard rowStride >= outFeatures, scaleStride >= 4 || (scaleStride >= 0 && rows == 1) else {
            throw .invalidShape(
                "memory tables (q8): row stride \(rowStride) < \(outFeatures) or scale stride \(scaleStride) < 4")
        }
        try check(values, needs: (rows - 1) * rowStride + outFeatures, "q8 values")
        try check(scales, needs: (rows - 1) * scaleStride + 4, "q8 scales")
        return MemoryTables(
            storage: .q8Row, tables: tables, codeLength: codeLength, outFeatures: outFeatures,
            values: values.baseAddress!, rowStride: rowStride, scales: scales.baseAddress!, scaleStride: scaleStride)
    }

    /// Int4 tables with one float32 scale per block of 32 values (``MemoryTableStorage/q4Block``): row
    /// `r`'s packed values start at `values + r · rowStride` (at least `(outFeatures + 1) / 2` bytes),
    /// its `(outFeatures + 31) / 32` consecutive float32 block scales at `scales + r · scaleStride`.
    public static func q4Block(
        values: UnsafeRawBufferPointer, rowStride: Int, scales: UnsafeRawBufferPointer, scaleStride: Int,
        tables: Int, codeLength: Int, outFeatures: Int
    ) throws(KernelError) -> MemoryTables {
        let rows = try rows(tables: tables, codeLength: codeLength, outFeatures: outFeatures)
        let rowBytes = q4RowBytes(outFeatures)
        let scaleBytes = 4 * q4Blocks(outFeatures)
        guard rowStride >= rowBytes, scaleStride >= scaleBytes || (scaleStride >= 0 && rows == 1) else {
            throw .invalidShape(
                "memory tables (q4): row stride \(rowStride) < \(rowBytes) or scale stride \(scaleStride) < \(scaleBytes)"
            )
        }
        try check(values, needs: (rows - 1) * rowStride + rowBytes, "q4 values")
        try check(scales, needs: (rows - 1) * scaleStride + scaleBytes, "q4 scales")
        return MemoryTables(
            storage: .q4Block, tables: tables, codeLength: codeLength, outFeatures: outFeatures,
            values: values.baseAddress!, rowStride: rowStride, scales: scales.baseAddress!, scaleStride: scaleStride)
    }

    /// Row `row` decoded to float32, or `[]` for a row outside the tables (a test and debugging
    /// helper; the gather never materialises rows).
    public func decodeRow(_ row: Int) -> [Float] {
        guard row >= 0 && row < rowCount else { return [] }
        let p = values + row * rowStride
        switch storage {
        case .f32: return (0..<outFeatures).map { p.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
        case .f16:
            return (0..<outFeatures).map {
                Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)))
            }
        case .q8Row:
            let s = scales!.loadUnaligned(fromByteOffset: row * scaleStride, as: Float.self)
            return (0..<outFeatures).map { Float(p.loadUnaligned(fromByteOffset: $0, as: Int8.self)) * s }
        case .q4Block:
            let sp = scales! + row * scaleStride
            return (0..<outFeatures).map { c in
                let byte = p.load(fromByteOffset: c / 2, as: UInt8.self)
                let nibble = Int(c % 2 == 0 ? byte & 15 : byte >> 4)
                return Float(nibble >= 8 ? nibble - 16 : nibble)
                    * sp.loadUnaligned(fromByteOffset: 4 * (c / 32), as: Float.self)
            }
        }
    }

    /// The C kernels' description of these tables.
    var cTables: swk_memory_tables {
        swk_memory_tables(
            storage: storage.cKind, tables: Int32(tables), code_length: Int32(codeLength), out: outFeatures,
            values: values, row_stride: rowStride, scales: scales, scale_stride: scaleStride)
    }
}

// MARK: - Kernels

extension Kernels {
    /// Hashes each row of `z[rows, tables · codeLength]` (row stride `ldz`) into `codes[rows, tables]`
    /// and `weights[rows, tables]`: chunk `k` is `z[k·L ..< (k+1)·L]`; its code has bit `L−1−i` set when
    /// `z[k·L+i] ≥ 0`; its weight is `Σ|z| / Π(1 + exp(−2|z|))` (finite for every finite input).
    public static func memoryHash(
        _ z: UnsafePointer<Float>, rows: Int, ldz: Int, tables: Int, codeLength: Int,
        codes: UnsafeMutablePointer<Int32>, weights: UnsafeMutablePointer<Float>
    ) throws(KernelError) {
        guard (1...MemoryTables.maxTables).contains(tables), (1...MemoryTables.maxCodeLength).contains(codeLength),
            ldz >= tables * codeLength
        else {
            throw .invalidShape(
                "memory hash: \(tables) tables × \(codeLength) bits with row stride \(ldz) "
                    + "(need 1...\(MemoryTables.maxTables) tables, 1...\(MemoryTables.maxCodeLength) bits, stride ≥ tables × bits)"
            )
        }
        guard rows > 0 else { return }
        swk_memory_hash(z, rows, ldz, Int32(tables), Int32(codeLength), codes, weights)
    }

    /// `y[n] = Σ_k weights[n, k] · table[k·2^L + codes[n, k]] + bias` for `rows` rows, with `codes` and
    /// `weights` as `memoryHash` writes them (`[rows, tables]`) and `y` `[rows, outFeatures]` (row
    /// stride `ldy`). `bias` (`[outFeatures]`) is optional. Throws, before writing anything, when a code
    /// is outside `0 ..< 2^L`. A large call is split over `pool`'s threads (tokens, or the columns of a
    /// single token).
    public static func memoryGather(
        codes: UnsafePointer<Int32>, weights: UnsafePointer<Float>, rows: Int, table: MemoryTables,
        bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, ldy: Int, pool: WorkerPool? = nil
    ) throws(KernelError) {
        guard ldy >= table.outFeatures else {
            throw .invalidShape("memory gather: output stride \(ldy) < \(table.outFeatures)")
        }
        guard rows > 0 else { return }
        let size = Int32(1 << table.codeLength)
        for i in 0..<(rows * table.tables) where codes[i] < 0 || codes[i] >= size {
            throw .indexOutOfRange(index: Int(codes[i]), bound: Int(size))
        }
        var t = table.cTables
        swk_memory_gather(&t, codes, weights, rows, bias, y, ldy, pool?.raw)
    }

}

// MARK: - Residency accounting

/// Remembers which rows of a set of memory tables have been read, so a caller can report how many
/// table bytes a workload actually needed (the rest of a memory-mapped table is never paged in).
/// One bit per row.
public struct MemoryRowTracker: Sendable {
    private var bits: [UInt64]
    /// Rows in the tracked tables.
    public let rowCount: Int
    /// Distinct rows read since creation or the last `reset()`.
    public private(set) var touchedRows = 0

    public init(rowCount: Int) {
        self.rowCount = max(rowCount, 0)
        bits = [UInt64](repeating: 0, count: (self.rowCount + 63) / 64)
    }

    /// Marks the rows selected by `codes[rows, tables]` (codes of `codeLength` bits, as `memoryHash`
    /// writes them); codes outside the tables are ignored. Returns how many rows were new.
    @discardableResult
    public mutating func mark(codes: UnsafePointer<Int32>, rows: Int, tables: Int, codeLength: Int) -> Int {
        guard rows > 0, tables > 0 else { return 0 }
        let size = 1 << codeLength
        var added = 0
        bits.withUnsafeMutableBufferPointer { b in
            for n in 0..<rows {
                for k in 0..<tables {
                    let c = Int(codes[n * tables + k])
                    guard c >= 0, c < size else { continue }
                    let index = k * size + c
                    guard index < rowCount else { continue }
                    let word = index >> 6
                    let bit = UInt64(1) << UInt64(index & 63)
                    if b[word] & bit == 0 {
                        b[word] |= bit
                        added += 1
                    }
                }
            }
        }
        touchedRows += added
        return added
    }

    /// Forgets every row.
    public mutating func reset() {
        for i in bits.indices { bits[i] = 0 }
        touchedRows = 0
    }
}
