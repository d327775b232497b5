import CSwiftletKernels

/// Storage format of a ``CompactMatrix``.
public enum CompactFormat: Int32, Sendable, CaseIterable {
    /// float32.
    case f32 = 0
    /// IEEE binary16.
    case f16 = 1
    /// bfloat16.
    case bf16 = 2
    /// int8 with one float32 scale per row: `W[r, c] = q[r, c] · scale[r]`.
    case q8Row = 3
    /// int4 with one float32 scale per block of 32 columns of a row (the .swl `q4_block` layout):
    /// rows of `(cols + 1) / 2` bytes, column `2i` in the low nibble of byte `i` and `2i + 1` in the
    /// high one (two's complement, −8 … 7), then `rows · ⌈cols / 32⌉` scales, row-major:
    /// `W[r, c] = q[r, c] · scale[r · ⌈cols / 32⌉ + c / 32]`.
    case q4Block = 4

    /// Bytes per weight, scales excluded (q4Block: 1, an upper bound — see ``byteCount(rows:cols:)``).
    public var bytesPerWeight: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q8Row, .q4Block: 1
        }
    }

    /// Bytes of a `rows × cols` matrix in this format, scales included; nil on overflow.
    public func byteCount(rows: Int, cols: Int) -> Int? {
        guard rows >= 0, cols >= 0 else { return nil }
        let (count, o1) = rows.multipliedReportingOverflow(by: cols)
        guard !o1 else { return nil }
        switch self {
        case .q4Block:
            let (values, o2) = rows.multipliedReportingOverflow(by: (cols + 1) / 2)
            let (scales, o3) = rows.multipliedReportingOverflow(by: 4 * ((cols + 31) / 32))
            let (total, o4) = values.addingReportingOverflow(scales)
            return o2 || o3 || o4 ? nil : total
        default:
            let (elements, o2) = count.multipliedReportingOverflow(by: bytesPerWeight)
            let (total, o3) = elements.addingReportingOverflow(self == .q8Row ? 4 * rows : 0)
            return o2 || o3 ? nil : total
        }
    }

    /// Bytes before the scales (q8Row, q4Block): the packed values.
    func valueBytes(rows: Int, cols: Int) -> Int {
        self == .q4Block ? rows * ((cols + 1) / 2) : rows * cols * bytesPerWeight
    }
}

/// A row-major `[rows, cols]` weight matrix in a compact format, read in place (e.g. from a mapped
/// model file). The memory must stay valid and unchanged while the matrix is used.
public struct CompactMatrix: @unchecked Sendable {
    public let format: CompactFormat
    public let rows: Int
    public let cols: Int
    /// The `rows · cols` elements (any alignment).
    public let values: UnsafeRawPointer
    /// `q8Row`: `rows` float32 scales; `q4Block`: `rows · ⌈cols / 32⌉` (any alignment); nil for the
    /// other formats.
    public let scales: UnsafeRawPointer?

    /// A matrix over `bytes` laid out as a .swl tensor: the elements, then for `q8Row` one float32
    /// scale per row, for `q4Block` one per block of 32 columns. Returns nil when the sizes do not
    /// match `bytes.count` (or overflow).
    public init?(format: CompactFormat, rows: Int, cols: Int, bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, let total = format.byteCount(rows: rows, cols: cols),
            total == bytes.count
        else { return nil }
        self.format = format
        self.rows = rows
        self.cols = cols
        values = base
        scales = format == .q8Row || format == .q4Block ? base + format.valueBytes(rows: rows, cols: cols) : nil
    }

    /// A float32 matrix.
    public init(rows: Int, cols: Int, floats: UnsafePointer<Float>) {
        format = .f32
        self.rows = max(rows, 0)
        self.cols = max(cols, 0)
        values = UnsafeRawPointer(floats)
        scales = nil
    }
}

extension Kernels {
    /// `y[r] = W[r, :] · x + bias[r]` for a compact `W` read in place (`x`: `cols` floats, `y`: `rows`
    /// floats, not overlapping `x`). Rows are split over `pool`'s threads; small matrices, or no pool,
    /// run on the calling thread.
    public static func gemv(
        _ w: CompactMatrix, x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>,
        pool: WorkerPool? = nil
    ) {
        guard w.rows > 0 else { return }
        _ = swk_compact_gemv(w.format.rawValue, w.values, w.scales, w.rows, w.cols, x, bias, y, pool?.raw)
    }

    /// Decodes rows `row0 ..< row0 + count` of `w` to float32 (`count · cols` floats, row stride
    /// `cols`), scales applied. Rows outside the matrix are not read: the range is clamped to it.
    public static func dequantizeRows(
        _ w: CompactMatrix, from row0: Int, count: Int, into out: UnsafeMutablePointer<Float>,
        pool: WorkerPool? = nil
    ) {
        let start = min(max(row0, 0), w.rows)
        let n = min(max(count, 0), w.rows - start)
        guard n > 0 else { return }
        _ = swk_compact_decode_rows(w.format.rawValue, w.values, w.scales, w.cols, start, n, out, pool?.raw)
    }

    /// Floats of scratch ``linear(_:rows:weight:bias:into:panel:panelFloats:pool:)`` wants for a
    /// matrix with `cols` columns: a panel of at least 128 rows, about 1 MiB for narrow matrices.
    public static func compactPanelFloats(cols: Int) -> Int {
        compactPanelRows(cols: cols) * max(cols, 1)
    }

    static func compactPanelRows(cols: Int) -> Int {
        // Each panel is one sgemm, which packs all of x again: wide panels keep that copy small.
        let rows = max(128, (256 * 1024) / max(cols, 1))
        return (rows + 15) / 16 * 16
    }

    /// A PyTorch `Linear` with a compact weight: `y[rows, out] = x[rows, in] · Wᵀ + bias`.
    ///
    /// - One row: ``gemv(_:x:bias:into:pool:)``.
    /// - Several rows of a `q8Row` matrix where the CPU has AVX-512 VNNI or the AArch64 dot product:
    ///   int8 × int8 products, `x` rounded to int8 per row (half a step of max|x| / 127 per element;
    ///   ``q8ActivationLevels``); on AArch64 without the dot product (NEON): int8 × int16 products, `x`
    ///   rounded to int16 per row (within 2^-16 of each row's largest magnitude).
    /// - Several rows of a `bf16` matrix where the CPU has AVX-512 BF16 (``bf16ProductsNative``):
    ///   `x` rounded to bfloat16, VDPBF16PS products summed in float32 (`swk_gemm_bf16.h`).
    /// - Otherwise `W` is decoded a panel of rows at a time into `panel` (``compactPanelFloats(cols:)``
    ///   floats; a smaller panel works at some speed, one smaller than a row falls back to a
    ///   matrix-vector product per row) and each panel multiplied with BLAS; f32 goes to BLAS directly.
    ///
    /// `y` must not overlap `x` or `panel`. `pool` splits every product and the decoding.
    public static func linear(
        _ x: UnsafePointer<Float>, rows: Int, weight w: CompactMatrix, bias: UnsafePointer<Float>?,
        into y: UnsafeMutablePointer<Float>, panel: UnsafeMutablePointer<Float>, panelFloats: Int,
        pool: WorkerPool? = nil
    ) {
        guard rows > 0, w.rows > 0 else { return }
        if rows == 1 {
            gemv(w, x: x, bias: bias, into: y, pool: pool)
            return
        }
        if w.format == .f32 {
            linear(
                x, rows: rows, inFeatures: w.cols, weight: w.values.assumingMemoryBound(to: Float.self), bias: bias,
                outFeatures: w.rows, into: y, pool: pool)
            return
        }
        let K = w.cols
        let N = w.rows
        if w.format == .q8Row, swk_gemm_q8_i8_native() != 0,
            q8Int8Linear(
                x, rows: rows, weight: w, bias: bias, into: y, panel: panel, panelFloats: panelFloats, pool: pool)
        {
            return
        }
        if w.format == .q8Row, swk_gemm_q8_supported() != 0,
            q8Linear(x, rows: rows, weight: w, bias: bias, into: y, panel: panel, panelFloats: panelFloats, pool: pool)
        {
            return
        }
        if w.format == .bf16, bf16ProductsNative,
            bf16Linear(
                x, rows: rows, weight: w, bias: bias, into: y, panel: panel, panelFloats: panelFloats, pool: pool)
        {
            return
        }
        guard panelFloats >= K else {
            // No room for a single decoded row: one matrix-vector product per input row.
            for r in 0..<rows { gemv(w, x: x + r * K, bias: bias, into: y + r * N, pool: pool) }
            return
        }
        let step = max(1, min(compactPanelRows(cols: K), panelFloats / max(K, 1), N))
        var n0 = 0
        while n0 < N {
            let nb = min(step, N - n0)
            _ = swk_compact_decode_rows(w.format.rawValue, w.values, w.scales, K, n0, nb, panel, pool?.raw)
            let beta: Float
            if let bias {
                for r in 0..<rows { (y + r * N + n0).update(from: bias + n0, count: nb) }
                beta = 1
            } else {
                beta = 0
            }
            BLAS.sgemm(
                transA: false, transB: true, m: rows, n: nb, k: K, alpha: 1, a: x, lda: max(K, 1),
                b: panel, ldb: max(K, 1), beta: beta, c: y + n0, ldc: N, pool: pool)
            n0 += nb
        }
    }

    /// Whether several rows times a `bf16` matrix take the bfloat16 dot-product path (AVX-512 BF16:
    /// activations rounded to bfloat16, products summed in float32; `swk_gemm_bf16.h`) rather than
    /// decoded panels through BLAS.
    public static var bf16ProductsNative: Bool { swk_gemm_bf16_native() != 0 }

    /// Runs a several-row kernel over as many rows at a time as `panel` (its bytes as scratch) holds:
    /// `scratch(m, parts)` is the bytes the kernel needs for m rows split `parts` ways, `product(r0, m,
    /// bytes)` multiplies rows r0 ..< r0 + m and returns the kernel's status. False (nothing written)
    /// when even one row does not fit or the first call is refused (the kernels refuse by size, up
    /// front); a later refusal finishes the rows with matrix-vector products.
    private static func inRowChunks(
        _ x: UnsafePointer<Float>, rows: Int, weight w: CompactMatrix, bias: UnsafePointer<Float>?,
        into y: UnsafeMutablePointer<Float>, panelFloats: Int, pool: WorkerPool?,
        scratch: (_ rows: Int, _ parts: Int32) -> Int, product: (_ r0: Int, _ rows: Int, _ bytes: Int) -> Int32
    ) -> Bool {
        let bytes = panelFloats * MemoryLayout<Float>.stride
        let parts = Int32(pool?.threads ?? 1)
        var chunk = rows
        while chunk > 1 && scratch(chunk, parts) > bytes { chunk = (chunk + 1) / 2 }
        guard scratch(chunk, 1) <= bytes else { return false }
        var r0 = 0
        while r0 < rows {
            let m = min(chunk, rows - r0)
            guard product(r0, m, bytes) == 0 else {
                if r0 == 0 { return false }
                for r in r0..<rows { gemv(w, x: x + r * w.cols, bias: bias, into: y + r * w.rows, pool: pool) }
                return true
            }
            r0 += m
        }
        return true
    }

    /// The bfloat16 path (`swk_gemm_bf16`); false (nothing written) if even one row does not fit.
    private static func bf16Linear(
        _ x: UnsafePointer<Float>, rows: Int, weight w: CompactMatrix, bias: UnsafePointer<Float>?,
        into y: UnsafeMutablePointer<Float>, panel: UnsafeMutablePointer<Float>, panelFloats: Int, pool: WorkerPool?
    ) -> Bool {
        inRowChunks(
            x, rows: rows, weight: w, bias: bias, into: y, panelFloats: panelFloats, pool: pool,
            scratch: { Int(swk_gemm_bf16_scratch($0, w.cols, $1)) }
        ) { r0, m, bytes in
            swk_gemm_bf16(
                x + r0 * w.cols, w.cols, m, w.values, w.rows, w.cols, bias, y + r0 * w.rows, w.rows, panel, bytes,
                pool?.raw)
        }
    }

    /// Whether several rows times a `q8Row` matrix take an integer path (AVX-512 VNNI, or NEON on
    /// AArch64) rather than decoded panels through BLAS.
    public static var q8ProductsUseVNNI: Bool { KernelISA.hasVNNI }

    /// Where the integer path runs, the largest |q| the activations are rounded to per row: 127 where
    /// int8 × int8 dot products are native (AVX-512 VNNI VPDPBUSD, AArch64 SDOT; `swk_gemm_q8_i8.h`),
    /// else 32767 (int16 activations, `swk_gemm_q8`).
    public static var q8ActivationLevels: Int { swk_gemm_q8_i8_native() != 0 ? 127 : 32767 }

    /// The int8 × int8 path (`swk_gemm_q8_i8`); false (nothing written) if even one row does not fit
    /// or k is beyond the kernel's 65536.
    private static func q8Int8Linear(
        _ x: UnsafePointer<Float>, rows: Int, weight w: CompactMatrix, bias: UnsafePointer<Float>?,
        into y: UnsafeMutablePointer<Float>, panel: UnsafeMutablePointer<Float>, panelFloats: Int, pool: WorkerPool?
    ) -> Bool {
        guard w.cols <= 65536 else { return false }
        return inRowChunks(
            x, rows: rows, weight: w, bias: bias, into: y, panelFloats: panelFloats, pool: pool,
            scratch: { Int(swk_gemm_q8_i8_scratch($0, w.cols, $1)) }
        ) { r0, m, bytes in
            swk_gemm_q8_i8(
                x + r0 * w.cols, w.cols, m, w.values, w.scales, w.rows, w.cols, bias, y + r0 * w.rows, w.rows, panel,
                bytes, pool?.raw)
        }
    }

    /// The int8 × int16 path (`swk_gemm_q8`: VNNI, or NEON without the dot product); false (nothing
    /// written) if it cannot run here (too many columns for its int32 lanes is refused up front).
    private static func q8Linear(
        _ x: UnsafePointer<Float>, rows: Int, weight w: CompactMatrix, bias: UnsafePointer<Float>?,
        into y: UnsafeMutablePointer<Float>, panel: UnsafeMutablePointer<Float>, panelFloats: Int, pool: WorkerPool?
    ) -> Bool {
        inRowChunks(
            x, rows: rows, weight: w, bias: bias, into: y, panelFloats: panelFloats, pool: pool,
            scratch: { m, _ in Int(swk_gemm_q8_scratch(m, w.cols)) }
        ) { r0, m, bytes in
            swk_gemm_q8(
                x + r0 * w.cols, w.cols, m, w.values, w.scales, w.rows, w.cols, bias, y + r0 * w.rows, w.rows, panel,
                bytes, pool?.raw)
        }
    }
}
