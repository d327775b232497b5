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

    /// q4_block (Formats/swl.md §6): nibble order, block scales after the values, the error bound of
    /// the encoder (half a step |scale| = max|block| / 8, a whole step where +8 clamps to 7), sizes.
    @Test func q4BlockLayoutAndErrorBound() throws {
        // One row of 3: the largest magnitude (−4) becomes −8 · scale with scale = −4 / −8 = 0.5.
        let small = Quantize.q4BlockBytes([1, -4, 2.1], rows: 1, cols: 3)
        #expect(small.count == 2 + 4)
        // 1 / 0.5 = 2 (low nibble of byte 0), −4 / 0.5 = −8 (high nibble: 0x8), 2.1 / 0.5 = 4.2 → 4.
        #expect(small[0] == 0x82 && small[1] == 0x04)
        #expect(small[2..<6].elementsEqual(Quantize.f32Bytes([0.5])))
        #expect(DType.q4Block.rawSize(shape: [1, 3]) == 6)
        #expect(DType.q4Block.rawSize(shape: [4, 65]) == 4 * 33 + 4 * 3 * 4)
        #expect(DType.q4Block.rawSize(shape: [2, 3, 64]) == 6 * 32 + 6 * 2 * 4)
        #expect(DType.q4Block.rawSize(shape: []) == nil)
        #expect(DType.q4Block.rawSize(shape: [Int.max / 2, 4]) == nil)

        var rng = SplitMix(5)
        let rows = 4
        let cols = 70 // two full blocks and a partial one; an even count of bytes per row
        var x = rng.floats(rows * cols, scale: 4)
        for c in 32..<64 { x[cols + c] = 0 } // a zero block
        let bytes = Quantize.q4BlockBytes(x, rows: rows, cols: cols)
        #expect(bytes.count == DType.q4Block.rawSize(shape: [rows, cols]))
        var w = SWLWriter()
        w.setMetadata("general.family", .string("test"))
        try w.addTensor(name: "q", dtype: .q4Block, shape: [rows, cols], bytes: bytes)
        let file = try w.serialize()
        try file.withUnsafeBytes { raw in
            let f = try SWLFile(bytes: raw, copy: false)
            let values = try f.floats("q")
            for r in 0..<rows {
                for b in 0..<3 {
                    let c0 = b * 32
                    let c1 = min(cols, c0 + 32)
                    let block = x[(r * cols + c0)..<(r * cols + c1)]
                    let step = block.map(abs).max()! / 8
                    for c in c0..<c1 {
                        let err = abs(values[r * cols + c] - x[r * cols + c])
                        // Half a step, unless the value clamped at +7 (x/scale in (7.5, 8]).
                        let clamped = step > 0 && (x[r * cols + c] / -(block.first { abs($0) == step * 8 }! / 8)) > 7.5
                        #expect(err <= step * (clamped ? 1.0001 : 0.5001) + 1e-7, "row \(r) col \(c)")
                    }
                }
            }
        }
        // Wrong byte counts are refused by the writer, non-finite input is not encoded silently.
        #expect(Quantize.q4BlockBytes([1, 2, 3], rows: 2, cols: 2).isEmpty)
        #expect {
            try w.addTensor(name: "r", dtype: .q4Block, shape: [2, 2], bytes: [0, 0, 0, 0, 0])
        } throws: { ($0 as? FormatError)?.kind == .invalidArgument }
        #expect {
            try w.addTensor(name: "s", dtype: .q4Block, shape: [], bytes: [0, 0, 0, 0, 0])
        } throws: { ($0 as? FormatError)?.kind == .invalidArgument }
    }

    /// A file cut anywhere inside a q4_block tensor is refused with an error, never read past its end.
    @Test func truncatedQ4BlockFileIsAnError() throws {
        var rng = SplitMix(9)
        var w = SWLWriter()
        w.setMetadata("general.family", .string("test"))
        try w.addTensor(
            name: "q", dtype: .q4Block, shape: [8, 96],
            bytes: Quantize.q4BlockBytes(rng.floats(8 * 96, scale: 1), rows: 8, cols: 96))
        let file = try w.serialize()
        for cut in [1, 7, 64, 200, file.count / 2] {
            let short = Array(file[..<(file.count - cut)])
            let result = Result { () throws -> Int in
                try short.withUnsafeBytes { raw in
                    let f = try SWLFile(bytes: raw, copy: true)
                    return try f.floats("q").count
                }
            }
            #expect(throws: FormatError.self, "cut \(cut)") { try result.get() }
        }
    }

    @Test func integerAndFloatEncodersAreLittleEndian() {
        #expect(Quantize.f32Bytes([1]) == [0, 0, 0x80, 0x3F])
        #expect(Quantize.f16Bytes([1, -2]) == [0, 0x3C, 0, 0xC0])
        #expect(Quantize.bf16Bytes([1]) == [0x80, 0x3F])
        #expect(Quantize.i32Bytes([-2]) == [0xFE, 0xFF, 0xFF, 0xFF])
        #expect(Quantize.i64Bytes([258]) == [2, 1, 0, 0, 0, 0, 0, 0])
    }
}
