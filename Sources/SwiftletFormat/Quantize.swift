/// Encoders from float32 to the stored element formats (for converters), and the scalar
/// conversions the reader uses to dequantize. All bytes are little-endian.
public enum Quantize {
    /// float32 → IEEE binary16 bits, round to nearest even; overflow gives ±inf; NaN stays NaN.
    public static func halfBits(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        let sign = UInt16(truncatingIfNeeded: (b >> 16) & 0x8000)
        let exp = Int((b >> 23) & 0xFF)
        var mant = b & 0x7F_FFFF
        if exp == 0xFF {
            // Keep NaN a NaN (quiet bit set) even when its payload lives only in the low bits.
            return sign | 0x7C00 | (mant != 0 ? UInt16(truncatingIfNeeded: 0x200 | (mant >> 13)) : 0)
        }
        let e = exp - 127 + 15
        if e >= 0x1F { return sign | 0x7C00 }
        if e <= 0 {
            // Result is subnormal (or zero): value = mant24 · 2^(e-14) units of 2^-24.
            if e < -10 { return sign }
            mant |= 0x80_0000
            let shift = UInt32(14 - e)
            let q = mant >> shift
            let rem = mant & ((1 << shift) - 1)
            let half = UInt32(1) << (shift - 1)
            let r = (rem > half || (rem == half && q & 1 == 1)) ? q + 1 : q
            return sign | UInt16(truncatingIfNeeded: r)
        }
        var h = UInt32(e) << 10 | (mant >> 13)
        let rem = mant & 0x1FFF
        // A carry out of the mantissa correctly bumps the exponent (up to inf).
        if rem > 0x1000 || (rem == 0x1000 && h & 1 == 1) { h += 1 }
        return sign | UInt16(truncatingIfNeeded: h)
    }

    /// IEEE binary16 bits → float32 (exact).
    @inline(__always)
    public static func float(halfBits h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = UInt32((h >> 10) & 0x1F)
        let mant = UInt32(h & 0x3FF)
        if exp == 0 {
            // Zero or subnormal: mant · 2^-24, exact in float32.
            let v = Float(mant) * 0x1p-24
            return sign == 0 ? v : -v
        }
        if exp == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
        return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
    }

    /// float32 → bfloat16 bits, round to nearest even; NaN stays NaN.
    @inline(__always)
    public static func bfloat16Bits(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: b >> 16) | 0x0040 }
        return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
    }

    /// bfloat16 bits → float32 (exact).
    @inline(__always)
    public static func float(bfloat16Bits h: UInt16) -> Float {
        Float(bitPattern: UInt32(h) << 16)
    }

    /// Little-endian float32 bytes.
    public static func f32Bytes(_ x: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: x.count * 4)
        for (i, v) in x.enumerated() { store(v.bitPattern, &out, i * 4) }
        return out
    }

    /// Little-endian binary16 bytes (round to nearest even).
    public static func f16Bytes(_ x: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: x.count * 2)
        for (i, v) in x.enumerated() { store(halfBits(v), &out, i * 2) }
        return out
    }

    /// Little-endian bfloat16 bytes (round to nearest even).
    public static func bf16Bytes(_ x: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: x.count * 2)
        for (i, v) in x.enumerated() { store(bfloat16Bits(v), &out, i * 2) }
        return out
    }

    /// Little-endian int32 bytes.
    public static func i32Bytes(_ x: [Int32]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: x.count * 4)
        for (i, v) in x.enumerated() { store(UInt32(bitPattern: v), &out, i * 4) }
        return out
    }

    /// Little-endian int64 bytes.
    public static func i64Bytes(_ x: [Int64]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: x.count * 8)
        for (i, v) in x.enumerated() { store(UInt64(bitPattern: v), &out, i * 8) }
        return out
    }

    /// `q8_row` bytes of a `rows × cols` row-major matrix: the `rows·cols` int8 values, then one
    /// float32 scale per row. Per row `scale = max|x| / 127` and `q = round(x / scale)` (nearest
    /// even), so the row's largest magnitude maps to ±127; a row of zeros gets scale 0.
    ///
    /// Returns an empty array when `x.count != rows · cols` (so that `SWLWriter.addTensor` then
    /// reports the size mismatch). Non-finite values cannot be represented: the scale comes from the
    /// finite values, NaN becomes 0 and ±inf saturates to ±127; converters should check first.
    public static func q8RowBytes(_ x: [Float], rows: Int, cols: Int) -> [UInt8] {
        guard rows >= 0, cols >= 0 else { return [] }
        let (count, overflow) = rows.multipliedReportingOverflow(by: cols)
        guard !overflow, count == x.count else { return [] }
        var out = [UInt8](repeating: 0, count: count + 4 * rows)
        for r in 0..<rows {
            var maxAbs: Float = 0
            for c in 0..<cols where x[r * cols + c].isFinite {
                maxAbs = max(maxAbs, abs(x[r * cols + c]))
            }
            let scale = maxAbs / 127
            if scale > 0 {
                for c in 0..<cols where !x[r * cols + c].isNaN {
                    let q = (x[r * cols + c] / scale).rounded(.toNearestOrEven)
                    out[r * cols + c] = UInt8(bitPattern: Int8(max(-127, min(127, q))))
                }
            }
            store(scale.bitPattern, &out, count + 4 * r)
        }
        return out
    }

    /// `q4_block` bytes of a `rows × cols` row-major matrix (Formats/swl.md §6): each row's values
    /// packed two per byte (column `2i` in the low nibble of byte `i`, `2i + 1` in the high one;
    /// `⌈cols/2⌉` bytes a row, an odd row's last high nibble 0), then one float32 scale per block of
    /// 32 values of a row (`rows · ⌈cols/32⌉`, row-major). Per block, `m` is the value of largest
    /// magnitude (the first if several), `scale = m / −8` and `q = round(x / scale)` (nearest even)
    /// clamped to −8 … 7: `m` itself is exactly −8, any other value is within `|scale| / 2` unless it
    /// clamps at 7 (within `|scale|`). A block of zeros gets scale 0.
    ///
    /// Returns an empty array when `x.count != rows · cols`. Non-finite values cannot be represented:
    /// the scale comes from the finite values, NaN becomes 0 and ±inf saturates; converters should
    /// check first.
    public static func q4BlockBytes(_ x: [Float], rows: Int, cols: Int) -> [UInt8] {
        guard rows >= 0, cols >= 0 else { return [] }
        let (count, overflow) = rows.multipliedReportingOverflow(by: cols)
        guard !overflow, count == x.count else { return [] }
        let rowBytes = (cols + 1) / 2
        let blocks = (cols + 31) / 32
        let valueBytes = rows * rowBytes
        var out = [UInt8](repeating: 0, count: valueBytes + 4 * rows * blocks)
        for r in 0..<rows {
            for b in 0..<blocks {
                let c0 = b * 32
                let c1 = min(cols, c0 + 32)
                var m: Float = 0
                for c in c0..<c1 where x[r * cols + c].isFinite && abs(x[r * cols + c]) > abs(m) {
                    m = x[r * cols + c]
                }
                let scale = m == 0 ? 0 : m / -8 // +0 for a block of zeros (0 / −8 would store −0)
                if scale != 0 {
                    for c in c0..<c1 where !x[r * cols + c].isNaN {
                        let q = Int((x[r * cols + c] / scale).rounded(.toNearestOrEven).clamped(-8, 7))
                        let nibble = UInt8(q & 15)
                        out[r * rowBytes + c / 2] |= c % 2 == 0 ? nibble : nibble << 4
                    }
                }
                store(scale.bitPattern, &out, valueBytes + 4 * (r * blocks + b))
            }
        }
        return out
    }

    @inline(__always)
    static func store<T: FixedWidthInteger>(_ v: T, _ out: inout [UInt8], _ at: Int) {
        var le = v.littleEndian
        withUnsafeBytes(of: &le) { src in
            for k in 0..<src.count { out[at + k] = src[k] }
        }
    }

    // MARK: - Dequantization (reader side)

    /// Decodes `count` elements of `raw` into float32 `out`.
    static func dequantize(
        _ dtype: DType, _ raw: UnsafeRawBufferPointer, shape: [Int],
        into out: UnsafeMutableBufferPointer<Float>
    ) {
        guard let src = raw.baseAddress, let dst = out.baseAddress else { return }
        let n = out.count
        switch dtype {
        case .f16:
            for i in 0..<n {
                dst[i] = float(
                    halfBits: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        case .bf16:
            for i in 0..<n {
                dst[i] = float(
                    bfloat16Bits: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        case .q8Row:
            let cols = shape.last ?? 1
            let rows = cols == 0 ? 0 : n / cols
            for r in 0..<rows {
                let bits = UInt32(littleEndian: src.loadUnaligned(fromByteOffset: n + 4 * r, as: UInt32.self))
                let scale = Float(bitPattern: bits)
                let base = r * cols
                for c in 0..<cols {
                    dst[base + c] = Float(src.load(fromByteOffset: base + c, as: Int8.self)) * scale
                }
            }
        case .q4Block:
            let cols = shape.last ?? 1
            let rows = cols == 0 ? 0 : n / cols
            let rowBytes = (cols + 1) / 2
            let blocks = (cols + 31) / 32
            let valueBytes = rows * rowBytes
            for r in 0..<rows {
                for c in 0..<cols {
                    let byte = src.load(fromByteOffset: r * rowBytes + c / 2, as: UInt8.self)
                    let nibble = Int(c % 2 == 0 ? byte & 15 : byte >> 4)
                    let bits = UInt32(
                        littleEndian: src.loadUnaligned(
                            fromByteOffset: valueBytes + 4 * (r * blocks + c / 32), as: UInt32.self))
                    dst[r * cols + c] = Float(nibble >= 8 ? nibble - 16 : nibble) * Float(bitPattern: bits)
                }
            }
        case .f32:
            for i in 0..<n {
                dst[i] = Float(
                    bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        case .i32, .i64, .u8:
            break
        }
    }
}

extension Float {
    fileprivate func clamped(_ lo: Float, _ hi: Float) -> Float { Swift.max(lo, Swift.min(hi, self)) }
}
