import SwiftletFormat
import Testing

@Suite struct QuantizeTests {
    /// Every binary16 value decodes exactly as the standard library's Float16 does.
    @Test func halfToFloatIsExactForAllHalves() {
        var mismatches = 0
        for bits in 0...UInt16.max {
            let ours = Quantize.float(halfBits: bits)
            let ref = Float(Float16(bitPattern: bits))
            if ref.isNaN ? !ours.isNaN : ours.bitPattern != ref.bitPattern { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    /// float → half rounds as the standard library does (nearest even), including subnormals,
    /// overflow to infinity and the halfway cases.
    @Test func floatToHalfMatchesFloat16() {
        var rng = SplitMix(7)
        var inputs: [Float] = [
            0, -0, 1, -1, 65504, 65519.99, 65520, 1e9, -1e9, .infinity, -.infinity,
            0x1p-24, 0x1p-25, 0x1.8p-25, 0x1p-26, 0x1p-14, 0x1.ffcp-15, 5.96e-8, 6.1e-5,
            1 + 0x1p-11, 1 + 0x1p-11 + 0x1p-23, 1 + 3 * 0x1p-11, .leastNonzeroMagnitude,
        ]
        for _ in 0..<200_000 {
            // Random bit patterns across the whole exponent range near half precision.
            let exp = UInt32(rng.next() % 40) + 97
            let bits = UInt32(rng.next() & 0x807F_FFFF) | (exp << 23)
            inputs.append(Float(bitPattern: bits))
        }
        var mismatches = 0
        for x in inputs where Quantize.halfBits(x) != Float16(x).bitPattern { mismatches += 1 }
        #expect(mismatches == 0)
        #expect(Quantize.float(halfBits: Quantize.halfBits(.nan)).isNaN)
        #expect(Quantize.float(halfBits: Quantize.halfBits(Float(bitPattern: 0x7F80_0001))).isNaN)
    }

    /// bf16 encoding picks the nearest bf16 value and breaks ties to an even code.
    @Test func bfloat16IsNearestEven() {
        var rng = SplitMix(11)
        var inputs: [Float] = [1 + 0x1p-8, 1 + 3 * 0x1p-8, 1 + 0x1p-8 + 0x1p-23, 3.0e38, -2.5]
        for _ in 0..<100_000 { inputs.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0xBFFF_FFFF)) }
        var bad = 0
        for x in inputs where x.isFinite {
            let c = Quantize.bfloat16Bits(x)
            let d = Double(Quantize.float(bfloat16Bits: c))
            let err = abs(Double(x) - d)
            for n in [c &- 1, c &+ 1] where (n & 0x8000) == (c & 0x8000) && (n & 0x7FFF) < 0x7F80 {
                let other = abs(Double(x) - Double(Quantize.float(bfloat16Bits: n)))
                if other < err || (other == err && c & 1 == 1) { bad += 1 }
            }
        }
        #expect(bad == 0)
        #expect(Quantize.float(bfloat16Bits: Quantize.bfloat16Bits(.nan)).isNaN)
        #expect(Quantize.bfloat16Bits(.infinity) == 0x7F80)
    }

    @Test func q8RowErrorIsAtMostHalfAStep() {
        var rng = SplitMix(3)
        let rows = 5
        let cols = 33
        var x = rng.floats(rows * cols, scale: 4)
        for c in 0..<cols { x[2 * cols + c] = 0 } // a zero row
        let bytes = Quantize.q8RowBytes(x, rows: rows, cols: cols)
        #expect(bytes.count == rows * cols + 4 * rows)
        for r in 0..<rows {
            let scaleBits = (0..<4).reduce(UInt32(0)) {
                $0 | UInt32(bytes[rows * cols + 4 * r + $1]) << (8 * UInt32($1))
            }
            let scale = Float(bitPattern: scaleBits)
            let row = x[(r * cols)..<((r + 1) * cols)]
            let maxAbs = row.map(abs).max()!
            #expect(scale == maxAbs / 127)
            var sawFull = r == 2
            for c in 0..<cols {
                let q = Int8(bitPattern: bytes[r * cols + c])
                #expect(q >= -127)
                let err = abs(Float(q) * scale - x[r * cols + c])
                #expect(err <= scale * 0.5001 + 1e-7, "row \(r) col \(c)")
                if abs(q) == 127 { sawFull = true }
            }
            #expect(sawFull, "the row maximum maps to ±127")
        }
    }

    @Test func q8RowBadInput() throws {
        #expect(Quantize.q8RowBytes([1, 2, 3], rows: 2, cols: 2).isEmpty)
        #expect(Quantize.q8RowBytes([], rows: -1, cols: 0).isEmpty)
        // The empty result makes the writer report the mismatch instead of storing garbage.
        var w = SWLWriter()
        #expect {
            try w.addTensor(
                name: "q", dtype: .q8Row, shape: [2, 2], bytes: Quantize.q8RowBytes([1, 2, 3], rows: 2, cols: 2))
        } throws: { ($0 as? FormatError)?.kind == .invalidArgument }
        // Non-finite values: the scale comes from the finite ones; NaN → 0, ±inf → ±127.
        let b = Quantize.q8RowBytes([.nan, 2, -.infinity, .infinity, -1], rows: 1, cols: 5)
        #expect(b.count == 5 + 4)
        #expect(b[0..<5].map { Int8(bitPattern: $0) } == [0, 127, -127, 127, -64])
        #expect(
            Float(
                bitPattern: b[5..<9].enumerated().reduce(UInt32(0)) {
                    $0 | UInt32($1.element) << (8 * UInt32($1.offset))
                }) == Float(2) / 127)
    }

    @Test func integerAndFloatEncodersAreLittleEndian() {
        #expect(Quantize.f32Bytes([1]) == [0, 0, 0x80, 0x3F])
        #expect(Quantize.f16Bytes([1, -2]) == [0, 0x3C, 0, 0xC0])
        #expect(Quantize.bf16Bytes([1]) == [0x80, 0x3F])
        #expect(Quantize.i32Bytes([-2]) == [0xFE, 0xFF, 0xFF, 0xFF])
        #expect(Quantize.i64Bytes([258]) == [2, 1, 0, 0, 0, 0, 0, 0])
    }
}
