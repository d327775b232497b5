import Glibc
import SwiftletFormat
import Testing

/// Raw bytes and expected float32 values for one tensor of each dtype.
private func sample(_ dtype: DType, rows: Int, cols: Int, seed: UInt64) throws -> (bytes: [UInt8], floats: [Float]?) {
    var rng = SplitMix(seed)
    let x = rng.floats(rows * cols, scale: 3)
    switch dtype {
    case .f32: return (Quantize.f32Bytes(x), x)
    case .f16: return (Quantize.f16Bytes(x), x.map { Float(Float16($0)) })
    case .bf16:
        // Reference: round to nearest even done in Double on the bit level.
        return (Quantize.bf16Bytes(x), x.map { Float(bitPattern: Quantize.bfloat16Bits($0).asUpperHalf) })
    case .q8Row: return (Quantize.q8RowBytes(x, rows: rows, cols: cols), x)
    case .q4Block: return (Quantize.q4BlockBytes(x, rows: rows, cols: cols), x)
    case .i32: return (Quantize.i32Bytes(x.map { Int32($0 * 1000) }), nil)
    case .i64: return (Quantize.i64Bytes(x.map { Int64($0 * 1e6) }), nil)
    case .u8: return (rng.bytes(rows * cols), nil)
    }
}

extension UInt16 {
    fileprivate var asUpperHalf: UInt32 { UInt32(self) << 16 }
}

private struct Case: CustomStringConvertible, Sendable {
    let dtype: DType, codec: Codec, shuffle: Bool
    var description: String { "\(dtype.name)/\(codec.name)\(shuffle ? "+shuffle" : "")" }
}

private let allCases: [Case] = DType.allCases.flatMap { d in
    [
        Case(dtype: d, codec: .raw, shuffle: false), Case(dtype: d, codec: .zstd, shuffle: false),
        Case(dtype: d, codec: .zstd, shuffle: true),
    ]
}

@Suite struct RoundTripTests {
    /// Writes one file holding every dtype × codec × shuffle combination and reads it back three
    /// ways: from a path (mmap), from memory copied, from memory in place.
    @Test func everyDTypeAndCodec() throws {
        var w = SWLWriter()
        w.setMetadata("general.family", .string("test"))
        var expected: [String: ([UInt8], [Float]?, Case)] = [:]
        for (k, c) in allCases.enumerated() {
            let rows = 3 + k % 4
            let cols = 17 + k
            let (bytes, floats) = try sample(c.dtype, rows: rows, cols: cols, seed: UInt64(k))
            let name = "t\(k).\(c.dtype.name)"
            try w.addTensor(
                name: name, dtype: c.dtype, shape: [rows, cols], bytes: bytes, codec: c.codec, shuffle: c.shuffle)
            expected[name] = (bytes, floats, c)
        }
        let file = try w.serialize()
        let dir = TempDir()
        defer { dir.remove() }
        try w.write(to: dir.path + "/all.swl")

        let fromPath = try SWLFile(path: dir.path + "/all.swl")
        #expect(fromPath.fileSize == file.count)
        try file.withUnsafeBytes { raw in
            let copied = try SWLFile(bytes: raw, copy: true)
            let inPlace = try SWLFile(bytes: raw, copy: false)
            for f in [fromPath, copied, inPlace] {
                #expect(f.major == 1 && f.minor == 0)
                #expect(f.tensors.count == allCases.count)
                #expect(f.tensors.map(\.name) == f.tensors.map(\.name).sorted())
                for (name, (bytes, floats, c)) in expected {
                    let e = try #require(f.entry(name))
                    #expect(e.dtype == c.dtype && e.codec == c.codec && e.shuffle == c.shuffle, "\(c)")
                    #expect(e.rawSize == bytes.count)
                    if c.codec == .zstd { #expect(e.storedSize != e.rawSize) }
                    let got = try f.rawBytes(name)
                    #expect(Array(got) == bytes, "\(c)")
                    #expect(f.checksumState(name) == .verified)
                    if c.codec == .raw {
                        // Zero copy: the bytes are the file's own.
                        let base = f === inPlace ? raw.baseAddress! : nil
                        if let base { #expect(got.baseAddress == base + e.offset) }
                    }
                    if let floats {
                        let values = try f.floats(name)
                        #expect(values.count == floats.count)
                        if c.dtype == .q8Row {
                            let cols = e.shape[1]
                            for r in 0..<e.shape[0] {
                                let row = floats[(r * cols)..<((r + 1) * cols)]
                                let step = row.map(abs).max()! / 127
                                for j in 0..<cols {
                                    #expect(abs(values[r * cols + j] - floats[r * cols + j]) <= step * 0.5001 + 1e-7)
                                }
                            }
                        } else if c.dtype == .q4Block {
                            // Within one step max|block| / 8 (half a step, or a whole one where 8
                            // clamps to 7).
                            let cols = e.shape[1]
                            for r in 0..<e.shape[0] {
                                for j in 0..<cols {
                                    let b0 = r * cols + j / 32 * 32
                                    let b1 = min(b0 + 32, (r + 1) * cols)
                                    let step = floats[b0..<b1].map(abs).max()! / 8
                                    #expect(abs(values[r * cols + j] - floats[r * cols + j]) <= step * 1.0001 + 1e-7)
                                }
                            }
                        } else {
                            #expect(Array(values) == floats, "\(c)")
                        }
                        // Cached: the same pointer again.
                        #expect(try f.floats(name).baseAddress == values.baseAddress)
                    } else {
                        #expect { try f.floats(name) } throws: { ($0 as? FormatError)?.kind == .wrongType }
                    }
                }
            }
        }
    }

    @Test func metadataRoundTrip() throws {
        let f = try open(sampleFile()).get()
        #expect(f.family == "test")
        #expect(f.metadata["general.name"] == .string("sample"))
        #expect(f.metadata["lmu.theta"] == .float(1.5))
        #expect(f.metadata["test.layers"] == .int(3))
        #expect(f.metadata["test.causal"] == .bool(true))
        #expect(f.metadata["test.dims"] == .ints([1, -2, 3]))
        #expect(f.metadata["test.scales"] == .floats([0.5, -0.25]))
        #expect(f.metadata["test.vocab"] == .strings(["<s>", "é", ""]))
        guard case .string(let hash)? = f.metadata["general.tensor_hash"] else {
            Issue.record("general.tensor_hash missing")
            return
        }
        #expect(hash.hasPrefix("xxh64:") && hash.count == 22)
        #expect(f.metadataKeys == f.metadataKeys.sorted() && f.metadataKeys.count == 9)
    }

    @Test func misalignedInPlaceBufferStillGivesFloats() throws {
        let file = try sampleFile()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: file.count + 1, alignment: 64)
        defer { buffer.deallocate() }
        let shifted = UnsafeMutableRawBufferPointer(rebasing: buffer[1...])
        shifted.copyBytes(from: file)
        let f = try SWLFile(bytes: UnsafeRawBufferPointer(shifted), copy: false)
        let reference = try open(file).get()
        #expect(Array(try f.floats("a.weight")) == Array(try reference.floats("a.weight")))
        #expect(Array(try f.floats("d.proj")) == Array(try reference.floats("d.proj")))
    }

    @Test func deterministicWhateverTheCallOrder() throws {
        var rng = SplitMix(5)
        let tensors: [(String, [Float])] = (0..<6).map { ("layer.\($0).w", rng.floats(40)) }
        func build(_ order: [Int], metadataFirst: Bool) throws -> [UInt8] {
            var w = SWLWriter()
            func meta() {
                w.setMetadata("general.converter", .string("swiftlet-convert 1.0"))
                w.setMetadata("general.family", .string("test"))
                w.setMetadata("general.name", .string("det"))
            }
            if metadataFirst { meta() }
            for i in order {
                try w.addTensor(
                    name: tensors[i].0, dtype: .f16, shape: [8, 5],
                    bytes: Quantize.f16Bytes(tensors[i].1), codec: i % 2 == 0 ? .zstd : .raw,
                    shuffle: i % 2 == 0)
            }
            if !metadataFirst { meta() }
            return try w.serialize()
        }
        let a = try build([0, 1, 2, 3, 4, 5], metadataFirst: true)
        let b = try build([5, 3, 1, 0, 4, 2], metadataFirst: false)
        #expect(a == b)
        #expect(try build([0, 1, 2, 3, 4, 5], metadataFirst: true) == a)
    }

    /// general.tensor_hash depends on the weights only: not on codecs; but on every value.
    @Test func tensorHashIsAHashOfTheWeights() throws {
        var rng = SplitMix(9)
        let x = rng.floats(64)
        func hash(_ codec: Codec, _ values: [Float], name: String = "w") throws -> MetadataValue? {
            var w = SWLWriter()
            w.setMetadata("general.family", .string("test"))
            w.setMetadata("general.tensor_hash", .string("user value is replaced"))
            try w.addTensor(name: name, dtype: .f32, shape: [8, 8], bytes: Quantize.f32Bytes(values), codec: codec)
            return try open(w.serialize()).get().metadata["general.tensor_hash"]
        }
        let raw = try hash(.raw, x)
        #expect(raw != .string("user value is replaced"))
        #expect(try hash(.zstd, x) == raw)
        var y = x
        y[17] = y[17].nextUp
        #expect(try hash(.raw, y) != raw)
        #expect(try hash(.raw, x, name: "v") != raw)
    }

    @Test func atomicWriteLeavesOnlyTheTarget() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var w = SWLWriter()
        w.setMetadata("general.family", .string("test"))
        try w.addTensor(name: "x", dtype: .u8, shape: [3], bytes: [1, 2, 3])
        try w.write(to: dir.path + "/m.swl")
        try w.write(to: dir.path + "/m.swl") // replaces
        #expect(dir.entries() == ["m.swl"])
        let f = try SWLFile(path: dir.path + "/m.swl")
        #expect(Array(try f.rawBytes("x")) == [1, 2, 3])

        // A directory that does not exist: an io error, and nothing left behind anywhere.
        #expect { try w.write(to: dir.path + "/missing/m.swl") } throws: { ($0 as? FormatError)?.kind == .io }
        #expect(dir.entries() == ["m.swl"])
    }

    @Test func writerRejectsInconsistentInput() {
        var w = SWLWriter()
        func kind(_ body: (inout SWLWriter) throws -> Void) -> FormatError.Kind? {
            do {
                try body(&w)
                return nil
            } catch { return (error as? FormatError)?.kind }
        }
        #expect(kind { try $0.addTensor(name: "a", dtype: .f32, shape: [2], bytes: [0, 0, 0]) } == .invalidArgument)
        #expect(kind { try $0.addTensor(name: "", dtype: .u8, shape: [1], bytes: [0]) } == .invalidArgument)
        #expect(
            kind { try $0.addTensor(name: "a", dtype: .u8, shape: [1, 1, 1, 1, 1, 1, 1, 1, 1], bytes: [0]) }
                == .invalidArgument)
        #expect(kind { try $0.addTensor(name: "a", dtype: .u8, shape: [Int.max, 2], bytes: []) } == .invalidArgument)
        #expect(kind { try $0.addTensor(name: "a", dtype: .u8, shape: [-1], bytes: []) } == .invalidArgument)
        #expect(
            kind { try $0.addTensor(name: "a", dtype: .u8, shape: [1], bytes: [0], codec: .raw, shuffle: true) }
                == .invalidArgument)
        #expect(
            kind { try $0.addTensor(name: "a", dtype: .q8Row, shape: [], bytes: [0, 0, 0, 0, 0]) } == .invalidArgument)
        #expect(kind { try $0.addTensor(name: "a", dtype: .u8, shape: [1], bytes: [0]) } == nil)
        #expect(kind { try $0.addTensor(name: "a", dtype: .u8, shape: [1], bytes: [0]) } == .invalidArgument)
        // general.family is required.
        #expect(kind { _ = try $0.serialize() } == .invalidArgument)
        w.setMetadata("general.family", .string("test"))
        #expect(kind { _ = try $0.serialize() } == nil)
    }

    @Test func emptyAndScalarTensors() throws {
        var w = SWLWriter()
        w.setMetadata("general.family", .string("test"))
        try w.addTensor(name: "empty", dtype: .f32, shape: [0, 4], bytes: [])
        try w.addTensor(name: "emptyz", dtype: .f16, shape: [0], bytes: [], codec: .zstd, shuffle: true)
        try w.addTensor(name: "scalar", dtype: .f32, shape: [], bytes: Quantize.f32Bytes([2.5]), codec: .zstd)
        let f = try open(w.serialize(), verify: .eager).get()
        #expect(try f.floats("empty").count == 0)
        #expect(try f.rawBytes("emptyz").count == 0)
        #expect(Array(try f.floats("scalar")) == [2.5])
        #expect(f.entry("scalar")?.shape == [])
    }

    @Test func concurrentReadersShareOneDecodedCopy() async throws {
        let f = try open(sampleFile()).get()
        let addresses = await withTaskGroup(of: [Int].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var out: [Int] = []
                    for name in ["c.embed", "d.proj", "a.weight"] {
                        let p = (try? f.floats(name))?.baseAddress
                        out.append(p.map { Int(bitPattern: $0) } ?? 0)
                    }
                    return out
                }
            }
            var all: [[Int]] = []
            for await r in group { all.append(r) }
            return all
        }
        #expect(addresses.count == 8)
        #expect(Set(addresses).count == 1)
        #expect(addresses[0].allSatisfy { $0 != 0 })
    }

    @Test func verifyModes() throws {
        let file = try sampleFile()
        let eager = try open(file, verify: .eager).get()
        #expect(eager.tensors.allSatisfy { eager.checksumState($0.name) == .verified })
        let lazy = try open(file, verify: .never).get()
        _ = try lazy.rawBytes("a.weight")
        #expect(lazy.checksumState("a.weight") == .unverified)
        try lazy.verifyAll()
        #expect(lazy.tensors.allSatisfy { lazy.checksumState($0.name) == .verified })
    }

    /// Resident bytes of this process's mapping that contains `address` (its VMA in /proc/self/smaps).
    static func residentBytes(ofMappingAt address: UnsafeRawPointer) -> Int? {
        let a = UInt(bitPattern: address)
        guard let f = fopen("/proc/self/smaps", "r") else { return nil }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 4096)
        var inside = false
        while fgets(&line, Int32(line.count), f) != nil {
            let text = String(cString: line)
            let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
            guard let head = fields.first else { continue }
            if head.contains("-") && !head.hasSuffix(":") {
                let bounds = head.split(separator: "-").map { UInt($0, radix: 16) ?? 0 }
                inside = bounds.count == 2 && bounds[0] <= a && a < bounds[1]
            } else if inside && head == "Rss:" && fields.count >= 2 {
                return Int(fields[1]).map { $0 * 1024 }
            }
        }
        return nil
    }

    /// After hashing a large table in full (MemoryFormer verifies its tables at first use), its pages
    /// can be given back: the mapping's resident size drops, and the bytes read the same afterwards.
    @Test func releasedPagesLeaveTheMappingAndReadTheSame() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var rng = SplitMix(5)
        var w = SWLWriter()
        w.setMetadata("general.family", .string("test"))
        try w.addTensor(name: "table", dtype: .u8, shape: [8 << 20], bytes: rng.bytes(8 << 20))
        try w.write(to: dir.path + "/t.swl")
        let f = try SWLFile(path: dir.path + "/t.swl")
        let bytes = try f.rawBytes("table") // hashed: every page touched
        #expect(f.checksumState("table") == .verified)
        let before = try #require(Self.residentBytes(ofMappingAt: bytes.baseAddress!))
        #expect(before >= 8 << 20)
        f.releasePages("table")
        let after = try #require(Self.residentBytes(ofMappingAt: bytes.baseAddress!))
        #expect(after < 1 << 20, "resident \(before) → \(after) bytes")
        #expect(xxh64(bytes) == f.entry("table")!.checksum)
        // A file read from memory is left alone (dropping its pages would zero them).
        let copy = try open(try w.serialize()).get()
        copy.releasePages("table")
        #expect(xxh64(try copy.rawBytes("table")) == copy.entry("table")!.checksum)
    }
}
