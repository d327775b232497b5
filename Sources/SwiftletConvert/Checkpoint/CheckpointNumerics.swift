/// Overflow-checked size arithmetic and element decoding shared by the readers.
enum CheckpointNumerics {
    /// Product of non-negative dimensions; nil on overflow or a negative dimension. (SwiftletFormat's
    /// `elementCount` is the same function, but the checkpoint readers build on their own, without
    /// SwiftletFormat, for `fuzz_checkpoint`.)
    static func product(_ values: [Int]) -> Int? {
        var product = 1
        for value in values {
            guard value >= 0 else { return nil }
            let (result, overflow) = product.multipliedReportingOverflow(by: value)
            if overflow { return nil }
            product = result
        }
        return product
    }

    /// Bytes of a C-order array of `shape` with `elementSize`-byte elements; nil on overflow or a
    /// negative dimension.
    static func byteCount(_ shape: [Int], elementSize: Int) -> Int? {
        product(shape).flatMap { multiply($0, elementSize) }
    }

    /// Checks that `actual` bytes hold exactly the elements of `shape` (of `dtype`); `context` — the
    /// tensor or file — starts the error message.
    static func checkByteCount(_ shape: [Int], of dtype: some Any, elementSize: Int, actual: Int, context: String)
        throws
    {
        guard let size = byteCount(shape, elementSize: elementSize) else {
            throw CheckpointError("\(context): invalid shape \(shape)")
        }
        guard size == actual else {
            throw CheckpointError("\(context): shape \(shape) of \(dtype) needs \(size) bytes, got \(actual)")
        }
    }

    /// `a * b`; nil on overflow.
    static func multiply(_ a: Int, _ b: Int) -> Int? {
        let (result, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : result
    }

    /// Element `index` of a little-endian array of `T`; the caller guarantees the bounds.
    @inline(__always)
    static func loadLE<T: FixedWidthInteger>(
        _ raw: UnsafeRawBufferPointer, _ index: Int, _: T.Type
    ) -> T {
        T(littleEndian: raw.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
    }

    /// IEEE binary16 → Float, done on bits so it behaves the same on every platform (Swift's
    /// Float16 is not available everywhere).
    @inline(__always)
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x03FF)
        if exponent == 0x1F {
            // Inf / NaN: keep the payload.
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        if exponent == 0 {
            // Zero or subnormal: mantissa · 2^-24, exact in Float.
            let magnitude = Float(mantissa) * (1.0 / 16_777_216.0)
            return sign != 0 ? -magnitude : magnitude
        }
        return Float(bitPattern: sign | (UInt32(exponent + 112) << 23) | (mantissa << 13))
    }
}
