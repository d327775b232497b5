import Foundation
import SwiftletConvert
import Testing

/// Hand-built safetensors files: every dtype, header order, metadata and malformed headers.
@Suite struct SafetensorsReaderTests {
    /// A file from a raw JSON header and data section.
    static func file(header: String, data: [UInt8]) -> [UInt8] {
        let json = Array(header.utf8)
        return leBytes(UInt64(json.count)) + json + data
    }

    @Test func readsEveryDTypeInHeaderOrder() throws {
        let entries: [(String, String, [Int], [UInt8], [Float])] = [
            ("z.f32", "F32", [2], floatBytes([1.5, -2]), [1.5, -2]),
            ("y.f64", "F64", [1], leBytes(Double(0.25).bitPattern), [0.25]),
            (
                "x.f16", "F16", [3], leBytes(UInt16(0x3C00)) + leBytes(UInt16(0xC000)) + leBytes(UInt16(0x0001)),
                [1, -2, 0x1p-24]
            ),
            ("w.bf16", "BF16", [1], leBytes(UInt16(0xC040)), [-3]),
            ("v.i64", "I64", [1], leBytes(Int64(-5)), [-5]),
            ("u.i32", "I32", [1], leBytes(Int32(70000)), [70000]),
            ("t.i16", "I16", [1], leBytes(Int16(-7)), [-7]),
            ("s.i8", "I8", [2], [0x80, 0x7F], [-128, 127]),
            ("r.u8", "U8", [2], [0, 255], [0, 255]),
            ("q.bool", "BOOL", [2, 1], [1, 0], [1, 0]),
        ]
        var header = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"caf\\u00e9\"}"
        var data: [UInt8] = []
        for (name, dtype, shape, bytes, _) in entries {
            header +=
                ",\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),"
                + "\"data_offsets\":[\(data.count),\(data.count + bytes.count)]}"
            data += bytes
        }
        header += "}"
        let ckpt = try CheckpointReader.read(data: Data(Self.file(header: header, data: data)))
        #expect(ckpt.format == "safetensors")
        #expect(ckpt.names == entries.map(\.0)) // header order, not sorted
        #expect(ckpt.metadata == ["format": "pt", "note": "café"])
        for (name, _, shape, bytes, values) in entries {
            let tensor = try #require(ckpt[name])
            #expect(tensor.shape == shape)
            #expect(tensor.bytes == bytes)
            #expect(try tensor.floats() == values, "\(name)")
        }
        #expect(ckpt["q.bool"]?.dtype == .bool)
        #expect(try ckpt["v.i64"]?.int64s() == [-5])
    }

    @Test func headerPointingPastTheEndIsRefused() throws {
        let header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}"
        let message = readError(Self.file(header: header, data: floatBytes([1, 2])))
        #expect(message.contains("'w'") && message.contains("past the end"), "\(message)")
    }

    @Test func headerLengthBeyondTheFileIsTruncation() throws {
        var bytes = Self.file(header: "{\"w\":{}}", data: [])
        bytes.replaceSubrange(0..<8, with: leBytes(UInt64(5000)))
        let message = readError(bytes)
        #expect(message.contains("truncated"), "\(message)")
    }

    @Test func gitLFSPointerIsRecognised() throws {
        let pointer = """
            version https://git-lfs.github.com/spec/v1
            oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393
            size 12345

            """
        let message = readError(Array(pointer.utf8))
        #expect(message.contains("Git LFS"), "\(message)")

        // Also through a path, where the message names the file.
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("model.safetensors").path
        try Data(pointer.utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try CheckpointReader.read(path: path)
            Issue.record("an LFS pointer loaded")
        } catch let error as CheckpointError {
            #expect(error.message.contains(path) && error.message.contains("git lfs pull"))
        }
    }

    @Test func malformedEntriesAreRefused() throws {
        let cases: [(String, [UInt8], String)] = [
            // size disagrees with shape
            (
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", floatBytes([1, 2]),
                "needs 12 bytes"
            ),
            // overlapping tensors
            (
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                floatBytes([1, 2, 3]), "overlap"
            ),
            // negative dimension
            (
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", floatBytes([1]),
                "non-negative"
            ),
            // reversed offsets
            (
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", floatBytes([1, 2]),
                "data_offsets"
            ),
            // shape whose byte size overflows Int
            (
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}",
                floatBytes([1]), "overflows"
            ),
            // duplicate names
            (
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", floatBytes([1]),
                "duplicate"
            ),
            // broken JSON
            ("{\"w\":{\"dtype\":\"F32\",", floatBytes([1]), "invalid JSON"),
            ("{\"w\":5}", [], "entry is a number"),
            ("[1, 2]", [], "unrecognised"), // not even recognised as safetensors
            ("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", floatBytes([1]), "missing \"dtype\""),
        ]
        for (header, data, expected) in cases {
            let message = readError(Self.file(header: header, data: data))
            #expect(message.contains(expected), "\(header): \(message)")
        }
    }

    @Test func unsupportedDTypeSkipsOnlyThatTensor() throws {
        let header =
            "{\"f8\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]},"
            + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}"
        let ckpt = try CheckpointReader.read(
            data: Data(Self.file(header: header, data: [1, 2, 0, 0] + floatBytes([9]))))
        #expect(ckpt.names == ["w"])
        #expect(try ckpt["w"]?.floats() == [9])
        #expect(ckpt.skipped.count == 1)
        #expect(ckpt.skipped.first?.reason.contains("F8_E4M3") == true)
    }

    @Test func complexTensorsHaveNoFloatView() throws {
        let header = "{\"c\":{\"dtype\":\"C64\",\"shape\":[2],\"data_offsets\":[0,16]}}"
        let ckpt = try CheckpointReader.read(
            data: Data(Self.file(header: header, data: floatBytes([1, 2, 3, 4]))))
        let c = try #require(ckpt["c"])
        #expect(c.dtype == .complex64)
        #expect(throws: CheckpointError.self) { try c.floats() }
        let parts = try c.complexParts()
        #expect(parts.real == [1, 3] && parts.imag == [2, 4])
    }

    @Test func emptyAndScalarTensors() throws {
        let header =
            "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[0,0]},"
            + "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}  "
        let ckpt = try CheckpointReader.read(data: Data(Self.file(header: header, data: floatBytes([6]))))
        #expect(ckpt["e"]?.shape == [0, 5] && ckpt["e"]?.bytes.isEmpty == true)
        #expect(ckpt["s"]?.shape == [])
        #expect(try ckpt["s"]?.floats() == [6])
    }

    @Test func halfFloatSpecialValues() throws {
        let bits: [UInt16] = [0x7C00, 0xFC00, 0x7BFF, 0x0400, 0x8000, 0x03FF]
        let header =
            "{\"h\":{\"dtype\":\"F16\",\"shape\":[6],\"data_offsets\":[0,12]},"
            + "\"nan\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[12,14]}}"
        let ckpt = try CheckpointReader.read(
            data: Data(Self.file(header: header, data: bits.flatMap { leBytes($0) } + leBytes(UInt16(0x7E00)))))
        let values = try #require(try ckpt["h"]?.floats())
        #expect(values == [.infinity, -.infinity, 65504, 0x1p-14, 0, 0x1.ff8p-15])
        #expect(values[4].sign == .minus)
        #expect(try ckpt["nan"]?.floats().first?.isNaN == true)
    }
}
