import CSwiftletKernels

// Kernels for spiking and streamed layers (C, CSwiftletKernels/row_linear.c and lif.c, at
// `KernelISA.current`): a multi-step LIF neuron run along time; products that sum only the weight rows of the
// non-zero inputs (spikes are exactly 0 or 1, ReLU outputs are mostly 0, so a dense product mostly
// multiplies by zero); and dense products for a few rows that read every weight once.

/// An input-major weight matrix `w[inFeatures, outFeatures]` (row `i` holds input `i`'s weights, row
/// stride `rowStride` elements), used in place: float32, IEEE binary16, bfloat16, or int8 with one
/// float32 scale per row (`q8Row`: `w[i, j] = q[i, j] · scales[i]`, the .swl `q8_row` layout).
public struct LinearWeights: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let format: CompactFormat
    /// `q8Row`: the scale of each row from this view's first row (any alignment); nil otherwise.
    public let scales: UnsafeRawPointer?
    public let rowStride: Int

    public var isHalf: Bool { format == .f16 }

    public init(_ p: UnsafePointer<Float>, rowStride: Int) {
        self.init(checked: .f32, base: UnsafeRawPointer(p), scales: nil, rowStride: rowStride)
    }

    /// Binary16 bit patterns.
    public init(half p: UnsafePointer<UInt16>, rowStride: Int) {
        self.init(checked: .f16, base: UnsafeRawPointer(p), scales: nil, rowStride: rowStride)
    }

    /// Elements of `format` at `base` (any alignment); `scales` (float32, one per row) for `q8Row`. Nil
    /// for `q4Block`: the row products have no int4 path (its rows are not byte-addressable per element).
    public init?(format: CompactFormat, base: UnsafeRawPointer, scales: UnsafeRawPointer?, rowStride: Int) {
        guard format != .q4Block else { return nil }
        self.init(checked: format, base: base, scales: scales, rowStride: rowStride)
    }

    private init(checked format: CompactFormat, base: UnsafeRawPointer, scales: UnsafeRawPointer?, rowStride: Int) {
        self.base = base
        self.format = format
        self.scales = format == .q8Row ? scales : nil
        self.rowStride = rowStride
    }

    /// The weights from row `row` and column `column` on.
    public func offset(row: Int, column: Int = 0) -> LinearWeights {
        let elements = row * rowStride + column
        return LinearWeights(
            checked: format, base: base + elements * format.bytesPerWeight, scales: scales.map { $0 + 4 * row },
            rowStride: rowStride)
    }

    var type: Int32 { format.rawValue }
}

extension Kernels {
    /// A leaky integrate-and-fire neuron per column, stepped along the rows (time) of
    /// `x[rows, cols]` (row stride `ldx`): with the input `i = x · scale + shift` (an optional folded
    /// BatchNorm), `h = v + (i − v) / tau`, spike `s = h ≥ threshold`, then `v = s ? 0 : h` (hard reset
    /// to 0, spikingjelly's `MultiStepLIFNode` with `decay_input`). `membrane[cols]` carries `v` in and
    /// out. Writes the spikes (exactly 0 or 1) to `y` (row stride `ldy`; may be `x`). Returns the
    /// number of spikes.
    @discardableResult
    public static func lif(
        _ x: UnsafePointer<Float>, rows: Int, cols: Int, ldx: Int, scale: UnsafePointer<Float>?,
        shift: UnsafePointer<Float>?, membrane: UnsafeMutablePointer<Float>, threshold: Float,
        tau: Float = 2, into y: UnsafeMutablePointer<Float>, ldy: Int
    ) -> Int {
        guard rows > 0, cols > 0 else { return 0 }
        return swk_lif(x, rows, cols, ldx, scale, shift, membrane, threshold, tau, y, ldy)
    }

    /// Number of non-zero entries of `x[rows, cols]` (row stride `ldx`); NaN counts as non-zero.
    public static func countNonZero(_ x: UnsafePointer<Float>, rows: Int, cols: Int, ldx: Int) -> Int {
        guard rows > 0, cols > 0 else { return 0 }
        return swk_count_nonzero(x, rows, cols, ldx)
    }

    /// `y[r, :] (+)= bias + Σ_{i : x[r, i] ≠ 0} x[r, i] · w[i, :]` for each row `r`: a linear layer
    /// whose input is mostly zero (spikes, small integer sums of spikes, ReLU outputs). Only the
    /// weight rows of non-zero inputs are read. With `binary`, the non-zero inputs must all be 1 and
    /// are not multiplied. With `accumulate`, the sums are added to `y`; otherwise `y` is overwritten.
    /// `bias` (`[outFeatures]`) is optional. Returns the number of non-zero inputs.
    @discardableResult
    public static func sparseInputLinear(
        _ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, ldx: Int, weight: LinearWeights,
        bias: UnsafePointer<Float>?, outFeatures: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
        accumulate: Bool, binary: Bool
    ) -> Int {
        guard rows > 0 else { return 0 }
        return swk_sparse_linear(
            x, rows, ldx, inFeatures, binary ? 1 : 0, weight.base, weight.type, weight.scales, weight.rowStride,
            outFeatures, bias, y, ldy, accumulate ? 1 : 0)
    }

    /// `y[r, :] (+)= bias + x[r, :] · w`, register-tiled: each weight row is read once per group of up
    /// to 8 rows, so for a streamed frame or a small chunk (weights not cache-resident) every weight
    /// is read once, and for many rows it runs near the FMA peak (on a Zen 4 core as fast as
    /// OpenBLAS's sgemm for LMUFormer's shapes). `x`'s rows may overlap (`ldx` < `inFeatures`).
    public static func fewRowsLinear(
        _ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, ldx: Int, weight: LinearWeights,
        bias: UnsafePointer<Float>?, outFeatures: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
        accumulate: Bool
    ) {
        swk_row_linear(
            x, rows, ldx, inFeatures, weight.base, weight.type, weight.scales, weight.rowStride, outFeatures,
            bias, y, ldy, accumulate ? 1 : 0)
    }

    /// Whether ``fewRowsLinearInt8`` runs on int8 dot products on this CPU (AVX-512 VNNI; NEON with the
    /// dot product). Elsewhere it gives the same results in portable C, slower than ``fewRowsLinear``.
    public static var fewRowsInt8Native: Bool { swk_row_linear_i8_native() != 0 }

    /// Most inputs ``fewRowsLinearInt8`` takes.
    public static let fewRowsInt8MaxInputs = Int(SWK_ROW_LINEAR_I8_MAX_K)

    /// ``fewRowsLinear`` for a `q8Row` weight with int8 × int8 products (`swk_row_linear_i8`): each row of
    /// `x`, its inputs times their weight rows' scales, is rounded to int8 with one scale per row (`sx =
    /// max|x·s| / 127`, half a step per input at most), and the integer sums are scaled by `sx`. A row's
    /// result depends only on that row, so any split of the rows (a stream's chunks) or columns gives the
    /// same bits. Returns false, writing nothing, unless the weight is `q8Row` with 1 … `fewRowsInt8MaxInputs`
    /// inputs.
    @discardableResult
    public static func fewRowsLinearInt8(
        _ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, ldx: Int, weight: LinearWeights,
        bias: UnsafePointer<Float>?, outFeatures: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
        accumulate: Bool
    ) -> Bool {
        guard weight.format == .q8Row, let scales = weight.scales, inFeatures >= 1,
            inFeatures <= fewRowsInt8MaxInputs
        else { return false }
        return swk_row_linear_i8(
            x, rows, ldx, inFeatures, weight.base, scales, weight.rowStride, outFeatures, bias, y, ldy,
            accumulate ? 1 : 0) == 0
    }
}
