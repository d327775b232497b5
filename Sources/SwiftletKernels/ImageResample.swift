import Glibc

/// The resampling filters of Pillow's `Image.resize` that the runtime reproduces, under the names
/// timm's `interpolation` uses.
public enum ResampleFilter: String, Sendable, CaseIterable {
    case bilinear, bicubic, lanczos, box

    /// Half-width of the kernel, in input pixels, when the image is not reduced.
    var support: Double {
        switch self {
        case .box: 0.5
        case .bilinear: 1
        case .bicubic: 2
        case .lanczos: 3
        }
    }

    /// The continuous kernel at offset `x` (input pixels, after scaling by the reduction factor).
    func weight(_ x: Double) -> Double {
        switch self {
        case .box:
            return x > -0.5 && x <= 0.5 ? 1 : 0
        case .bilinear:
            let t = abs(x)
            return t < 1 ? 1 - t : 0
        case .bicubic: // Keys' cubic convolution with a = -0.5, Pillow's choice
            let a = -0.5
            let t = abs(x)
            if t < 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
            if t < 2 { return (((t - 5) * t + 8) * t - 4) * a }
            return 0
        case .lanczos:
            return x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0
        }
    }

    private func sinc(_ x: Double) -> Double {
        guard x != 0 else { return 1 }
        let p = x * Double.pi
        return sin(p) / p
    }
}

/// An 8-bit RGB image in memory the caller owns: `height` rows of `width` pixels of three bytes (R, G,
/// B), each row `rowStride` bytes after the previous one (at least `3 · width`).
public struct RGB8Pixels {
    public let base: UnsafePointer<UInt8>
    public let width: Int
    public let height: Int
    public let rowStride: Int

    public init(base: UnsafePointer<UInt8>, width: Int, height: Int, rowStride: Int) {
        precondition(width > 0 && height > 0 && rowStride >= 3 * width, "RGB8Pixels: bad geometry")
        self.base = base
        self.width = width
        self.height = height
        self.rowStride = rowStride
    }
}

/// A rectangle of an image: `width × height` pixels from column `x`, row `y`.
public struct PixelWindow: Sendable, Equatable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }
}

/// Pillow's resize of 8-bit images (`Image.resize` with a convolution filter), reproduced from its
/// documented behaviour so that the pixels match it exactly:
///
/// - separable: one pass along each axis that changes size, the result of the first pass rounded to
///   8 bits (and clipped) before the second. Pillow 13 runs the vertical pass first when the height
///   shrinks by more than twice as many pixels as the width does (and the horizontal pass first
///   otherwise); the order changes the rounding, so it is reproduced too.
/// - each output pixel `i` of an axis is centred at input coordinate `(i + 0.5) · scale`
///   (`scale = input / output`); when reducing, the filter is stretched by `scale` (antialiasing), so it
///   covers `support · scale` input pixels on each side; the weights are normalised to sum to 1.
/// - the weights are fixed-point numbers with 22 fractional bits (rounded half away from zero); a pixel
///   is the sum of weight × input, plus one half, shifted right by 22 bits and clipped to 0…255.
///
/// Only the `window` of the `width × height` result is computed (a centre crop of a large resize costs
/// what the crop needs); every pixel in it is what the whole resize would give.
public enum ImageResample {
    /// Fixed-point precision of the weights (Pillow's for 8-bit images: 32 − 8 − 2 bits).
    static let precisionBits = 22

    /// The `window` of `source` resized to `width × height`, as tightly packed RGB8 rows.
    public static func resize(
        _ source: RGB8Pixels, width: Int, height: Int, filter: ResampleFilter, window: PixelWindow
    ) -> [UInt8] {
        precondition(width > 0 && height > 0, "ImageResample: empty output")
        precondition(
            window.x >= 0 && window.y >= 0 && window.width > 0 && window.height > 0
                && window.x + window.width <= width && window.y + window.height <= height,
            "ImageResample: window outside the output")
        let needH = width != source.width
        let needV = height != source.height
        let tx =
            needH
            ? Taps(input: source.width, output: width, outputs: window.x..<(window.x + window.width), filter) : nil
        let ty =
            needV
            ? Taps(input: source.height, output: height, outputs: window.y..<(window.y + window.height), filter) : nil
        var out = [UInt8](repeating: 0, count: window.width * window.height * 3)
        let outStride = window.width * 3
        let verticalFirst = height < source.height && source.height - height > 2 * (source.width - width)
        out.withUnsafeMutableBufferPointer { o in
            let dst = o.baseAddress!
            if verticalFirst {
                // Columns the horizontal pass reads; the vertical pass makes only those.
                let cols = tx?.inputSpan ?? window.x..<(window.x + window.width)
                var temp: [UInt8] = []
                var mid = source.base + window.y * source.rowStride + cols.lowerBound * 3
                var midStride = source.rowStride
                if let ty {
                    temp = [UInt8](repeating: 0, count: window.height * cols.count * 3)
                    temp.withUnsafeMutableBufferPointer { t in
                        vertical(
                            source.base + cols.lowerBound * 3, stride: source.rowStride, columns: cols.count, taps: ty,
                            firstRow: 0, into: t.baseAddress!, outStride: cols.count * 3)
                    }
                    midStride = cols.count * 3
                }
                temp.withUnsafeBufferPointer { t in
                    if ty != nil { mid = t.baseAddress! }
                    if let tx {
                        horizontal(
                            mid, stride: midStride, rows: window.height, taps: tx, firstColumn: cols.lowerBound,
                            into: dst, outStride: outStride)
                    } else {
                        copyRows(mid, stride: midStride, rows: window.height, bytes: outStride, into: dst)
                    }
                }
            } else {
                // Rows the vertical pass reads; the horizontal pass makes only those.
                let rows = ty?.inputSpan ?? window.y..<(window.y + window.height)
                var temp: [UInt8] = []
                var mid = source.base + rows.lowerBound * source.rowStride + window.x * 3
                var midStride = source.rowStride
                if let tx {
                    temp = [UInt8](repeating: 0, count: rows.count * outStride)
                    temp.withUnsafeMutableBufferPointer { t in
                        horizontal(
                            source.base + rows.lowerBound * source.rowStride, stride: source.rowStride,
                            rows: rows.count, taps: tx, firstColumn: 0, into: t.baseAddress!, outStride: outStride)
                    }
                    midStride = outStride
                }
                temp.withUnsafeBufferPointer { t in
                    if tx != nil { mid = t.baseAddress! }
                    if let ty {
                        vertical(
                            mid, stride: midStride, columns: window.width, taps: ty, firstRow: rows.lowerBound,
                            into: dst, outStride: outStride)
                    } else {
                        copyRows(mid, stride: midStride, rows: window.height, bytes: outStride, into: dst)
                    }
                }
            }
        }
        return out
    }

    /// The filter taps of some outputs of one axis: for output `i` (counted from the first requested),
    /// the input index of its first tap, how many taps it has and their fixed-point weights.
    struct Taps {
        var first: [Int] = []
        var count: [Int] = []
        var weights: [Int32] = []
        /// Weights per output in `weights` (room for the widest).
        let stride: Int

        init(input: Int, output: Int, outputs: Range<Int>, _ filter: ResampleFilter) {
            let scale = Double(input) / Double(output)
            let filterScale = max(scale, 1)
            let support = filter.support * filterScale
            stride = Int(support.rounded(.up)) * 2 + 1
            first.reserveCapacity(outputs.count)
            count.reserveCapacity(outputs.count)
            weights = [Int32](repeating: 0, count: outputs.count * stride)
            let unit = Double(1 << ImageResample.precisionBits)
            let shrink = 1 / filterScale // multiplied, not divided: the rounding must be Pillow's
            var w = [Double](repeating: 0, count: stride)
            for (n, i) in outputs.enumerated() {
                let center = (Double(i) + 0.5) * scale
                // C-style truncation toward zero, then clamped to the image.
                let lo = max(Int(center - support + 0.5), 0)
                let taps = min(Int(center + support + 0.5), input) - lo
                var sum = 0.0
                for t in 0..<taps {
                    w[t] = filter.weight((Double(t + lo) - center + 0.5) * shrink)
                    sum += w[t]
                }
                for t in 0..<taps {
                    let v = sum != 0 ? w[t] / sum : w[t]
                    weights[n * stride + t] = Int32(v < 0 ? -0.5 + v * unit : 0.5 + v * unit)
                }
                first.append(lo)
                count.append(taps)
            }
        }

        /// The input indices any of these outputs reads.
        var inputSpan: Range<Int> {
            var lo = Int.max
            var hi = 0
            for i in 0..<first.count {
                lo = min(lo, first[i])
                hi = max(hi, first[i] + count[i])
            }
            return lo..<max(lo, hi)
        }
    }

    @inline(__always)
    static func clip8(_ sum: Int) -> UInt8 {
        let v = sum >> precisionBits
        return UInt8(truncatingIfNeeded: v < 0 ? 0 : v > 255 ? 255 : v)
    }

    /// Resamples along rows: `rows` rows of `source` (row `r` at `source + r · stride`, column `c` of the
    /// image at byte `(c − firstColumn) · 3`) into rows of `taps.first.count` pixels.
    static func horizontal(
        _ source: UnsafePointer<UInt8>, stride: Int, rows: Int, taps: Taps, firstColumn: Int,
        into out: UnsafeMutablePointer<UInt8>, outStride: Int
    ) {
        let half = 1 << (precisionBits - 1)
        taps.weights.withUnsafeBufferPointer { k in
            for r in 0..<rows {
                let src = source + r * stride
                let dst = out + r * outStride
                for j in 0..<taps.first.count {
                    let p = src + (taps.first[j] - firstColumn) * 3
                    let kj = k.baseAddress! + j * taps.stride
                    var s0 = half
                    var s1 = half
                    var s2 = half
                    for t in 0..<taps.count[j] {
                        let w = Int(kj[t])
                        s0 += Int(p[3 * t]) * w
                        s1 += Int(p[3 * t + 1]) * w
                        s2 += Int(p[3 * t + 2]) * w
                    }
                    dst[3 * j] = clip8(s0)
                    dst[3 * j + 1] = clip8(s1)
                    dst[3 * j + 2] = clip8(s2)
                }
            }
        }
    }

    /// Resamples along columns: `columns` pixels of each row of `source` (image row `y` at
    /// `source + (y − firstRow) · stride`) into `taps.first.count` rows.
    static func vertical(
        _ source: UnsafePointer<UInt8>, stride: Int, columns: Int, taps: Taps, firstRow: Int,
        into out: UnsafeMutablePointer<UInt8>, outStride: Int
    ) {
        let half = 1 << (precisionBits - 1)
        taps.weights.withUnsafeBufferPointer { k in
            for i in 0..<taps.first.count {
                let src = source + (taps.first[i] - firstRow) * stride
                let ki = k.baseAddress! + i * taps.stride
                let n = taps.count[i]
                let dst = out + i * outStride
                for b in 0..<(columns * 3) {
                    var s = half
                    for t in 0..<n { s += Int(src[t * stride + b]) * Int(ki[t]) }
                    dst[b] = clip8(s)
                }
            }
        }
    }

    static func copyRows(
        _ source: UnsafePointer<UInt8>, stride: Int, rows: Int, bytes: Int, into out: UnsafeMutablePointer<UInt8>
    ) {
        for r in 0..<rows { (out + r * bytes).update(from: source + r * stride, count: bytes) }
    }
}
