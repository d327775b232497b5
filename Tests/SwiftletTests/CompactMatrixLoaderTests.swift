import SwiftletFormat
import SwiftletKernels
import SwiftletModels
import Testing

/// `Weights.compactMatrix`, the one loader LoopFormer, MemoryFormer and LMUFormer use for their
/// compact weight matrices: every stored type is read in place and decodes to the values written;
/// wrong names, shapes and types are refused with messages that say what is wrong.
@Suite struct CompactMatrixLoaderTests {
    static let rows = 6
    static let cols = 5
    static let values: [Float] = (0..<(rows * cols)).map { Float($0 % 7) * 0.375 - 1.0 + Float($0) / 64 }

    /// A file holding `values` as a [6, 5] matrix in each float type, the same as [2, 3, 5], and an
    /// int32 tensor.
    static func file() throws -> SWLFile {
        var writer = SWLWriter()
        writer.setMetadata("general.family", .string("test"))
        let v = values
        try writer.addTensor(name: "m.f32", dtype: .f32, shape: [rows, cols], bytes: Quantize.f32Bytes(v))
        try writer.addTensor(name: "m.f16", dtype: .f16, shape: [rows, cols], bytes: Quantize.f16Bytes(v))
        try writer.addTensor(name: "m.bf16", dtype: .bf16, shape: [rows, cols], bytes: Quantize.bf16Bytes(v))
        try writer.addTensor(
            name: "m.q8", dtype: .q8Row, shape: [rows, cols], bytes: Quantize.q8RowBytes(v, rows: rows, cols: cols))
        try writer.addTensor(
            name: "conv.q8", dtype: .q8Row, shape: [2, 3, cols],
            bytes: Quantize.q8RowBytes(v, rows: rows, cols: cols))
        try writer.addTensor(
            name: "m.i32", dtype: .i32, shape: [rows, cols], bytes: Quantize.i32Bytes(v.map { Int32($0) }))
        let bytes = try writer.serialize()
        return try bytes.withUnsafeBytes { try SWLFile(bytes: $0, copy: true) }
    }

    static func decoded(_ m: CompactMatrix) -> [Float] {
        var out = [Float](repeating: .nan, count: m.rows * m.cols)
        out.withUnsafeMutableBufferPointer { Kernels.dequantizeRows(m, from: 0, count: m.rows, into: $0.baseAddress!) }
        return out
    }

    @Test func everyStoredTypeIsReadInPlace() throws {
        let file = try Self.file()
        let w = Weights(file)
        let expected: [(String, CompactFormat, Float)] = [
            // Worst element error of each type, relative to the largest |value| (2^-24, 2^-11, 2^-8
            // relative per element; q8_row half a step of its row's max|x| / 127).
            ("m.f32", .f32, 0), ("m.f16", .f16, 1.0 / 2048), ("m.bf16", .bf16, 1.0 / 256), ("m.q8", .q8Row, 0.5 / 127),
        ]
        let scale = Self.values.map(abs).max()!
        for (name, format, bound) in expected {
            let m = try w.compactMatrix(name, shape: [Self.rows, Self.cols])
            #expect(m.format == format, "\(name)")
            #expect(m.rows == Self.rows && m.cols == Self.cols)
            let raw = try file.rawBytes(name)
            #expect(m.values == raw.baseAddress!, "\(name) is read where it is stored, not copied")
            #expect((m.scales != nil) == (format == .q8Row))
            for (got, want) in zip(Self.decoded(m), Self.values) {
                #expect(abs(got - want) <= bound * scale, "\(name): \(got) vs \(want)")
            }
        }
    }

    @Test func higherRankIsRowsTimesLastDimension() throws {
        let w = Weights(try Self.file())
        let m = try w.compactMatrix("conv.q8", shape: [2, 3, Self.cols])
        #expect(m.rows == 6 && m.cols == Self.cols && m.format == .q8Row)
        let flat = try w.compactMatrix("m.q8", shape: [Self.rows, Self.cols])
        #expect(Self.decoded(m) == Self.decoded(flat))
    }

    @Test func refusalsNameTheTensorAndWhatIsWrong() throws {
        let w = Weights(try Self.file())
        func message(_ body: () throws(ModelError) -> CompactMatrix) -> ModelError? {
            do {
                _ = try body()
                return nil
            } catch {
                return error
            }
        }
        let missing = message { () throws(ModelError) in try w.compactMatrix("nope", shape: [1, 1]) }
        #expect(missing?.kind == .format)
        #expect(missing?.message.contains("'nope'") == true && missing?.message.contains("missing") == true)

        let shape = message { () throws(ModelError) in try w.compactMatrix("m.f16", shape: [5, 6]) }
        #expect(shape?.kind == .format)
        #expect(shape?.message.contains("'m.f16'") == true)
        #expect(shape?.message.contains("[6, 5]") == true && shape?.message.contains("expected [5, 6]") == true)

        let type = message { () throws(ModelError) in
            try w.compactMatrix("m.i32", shape: [Self.rows, Self.cols], what: "the LM head")
        }
        #expect(type?.kind == .unsupported)
        for part in ["'m.i32'", "i32", "[6, 5]", "the LM head", "f32, f16, bf16 or q8_row", "--dtype"] {
            #expect(type?.message.contains(part) == true, "\(part) in \(type?.message ?? "")")
        }
    }
}
