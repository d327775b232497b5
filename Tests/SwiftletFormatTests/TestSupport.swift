import Glibc
import SwiftletFormat
import SwiftletKernels
import Testing

/// Deterministic pseudo-random numbers (the library's SplitMix64) so that every run tests the same data.
typealias SplitMix = SplitMix64

extension SplitMix64 {
    init(_ seed: UInt64) { self.init(seed: seed) }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

/// Opens bytes through the public API (copied), returning the error instead of throwing.
func open(_ bytes: [UInt8], verify: ReadOptions.Verify = .onFirstUse, copy: Bool = true) -> Result<SWLFile, FormatError>
{
    bytes.withUnsafeBytes { raw in
        Result { () throws(FormatError) in try SWLFile(bytes: raw, copy: copy, options: ReadOptions(verify: verify)) }
    }
}

func openError(_ bytes: [UInt8], verify: ReadOptions.Verify = .onFirstUse) -> FormatError? {
    if case .failure(let e) = open(bytes, verify: verify) { return e }
    return nil
}

/// A scratch directory, removed with its files by `remove()`.
struct TempDir {
    let path: String
    init() {
        var template = Array("/tmp/swl-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: p!)
    }
    func entries() -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
    func remove() {
        for name in entries() { unlink(path + "/" + name) }
        rmdir(path)
    }
}

/// Little-endian reads and writes on a file image, and the layout facts the corruption tests need.
/// Walks the structures as Formats/swl.md describes them, independently of the reader.
struct Image {
    var b: [UInt8]
    init(_ b: [UInt8]) { self.b = b }

    func u(_ at: Int, _ n: Int) -> UInt64 {
        var v: UInt64 = 0
        for k in 0..<n { v |= UInt64(b[at + k]) << (8 * UInt64(k)) }
        return v
    }
    mutating func set(_ at: Int, _ n: Int, _ v: UInt64) {
        for k in 0..<n { b[at + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
    }

    var headerSize: Int { Int(u(12, 4)) }
    var indexOffset: Int { Int(u(32, 8)) }
    var indexSize: Int { Int(u(40, 8)) }
    var metaOffset: Int { Int(u(48, 8)) }
    var metaSize: Int { Int(u(56, 8)) }
    var dataOffset: Int { Int(u(64, 8)) }
    var dataSize: Int { Int(u(72, 8)) }
    var tensorCount: Int { Int(u(80, 4)) }
    var metaCount: Int { Int(u(84, 4)) }

    /// Recomputes the header checksum after a deliberate edit, so that later checks are reached.
    mutating func reseal() {
        set(88, 8, 0)
        var h = XXH64()
        h.update(Array(b[0..<headerSize]))
        h.update(Array(b[indexOffset..<(indexOffset + indexSize)]))
        h.update(Array(b[metaOffset..<(metaOffset + metaSize)]))
        set(88, 8, h.finalize())
    }

    /// Start of index entry `k`.
    func entry(_ k: Int) -> Int {
        var p = indexOffset
        for _ in 0..<k { p += Int(u(p, 4)) }
        return p
    }
    func entryName(_ k: Int) -> String {
        let p = entry(k)
        let start = p + 48 + 8 * Int(b[p + 9])
        return String(decoding: b[start..<(start + Int(u(p + 4, 2)))], as: UTF8.self)
    }
    func entry(named name: String) -> Int {
        for k in 0..<tensorCount where entryName(k) == name { return entry(k) }
        fatalError("test file has no tensor \(name)")
    }
    /// Start of the metadata entry with this key.
    func metaEntry(_ key: String) -> Int {
        var p = metaOffset
        for _ in 0..<metaCount {
            let keyLen = Int(u(p, 2))
            if String(decoding: b[(p + 8)..<(p + 8 + keyLen)], as: UTF8.self) == key { return p }
            p += 8 + keyLen + Int(u(p + 4, 4))
        }
        fatalError("test file has no key \(key)")
    }
    /// Byte ranges covered by no checksum: the gap before the data section and gaps between tensors.
    func paddingRanges() -> [Range<Int>] {
        var spans: [(Int, Int)] = (0..<tensorCount).map { k in
            let p = entry(k)
            return (Int(u(p + 16, 8)), Int(u(p + 24, 8)))
        }
        spans.sort { $0.0 < $1.0 }
        var ranges = [(metaOffset + metaSize)..<dataOffset]
        var end = dataOffset
        for (off, size) in spans {
            if off > end { ranges.append(end..<off) }
            end = max(end, off + size)
        }
        return ranges
    }
}

/// A small file with every kind of content: raw and zstd tensors, shuffled and not, several dtypes,
/// every metadata type.
func sampleFile() throws -> [UInt8] {
    var rng = SplitMix(42)
    var w = SWLWriter()
    w.setMetadata("general.family", .string("test"))
    w.setMetadata("general.name", .string("sample"))
    w.setMetadata("lmu.theta", .float(1.5))
    w.setMetadata("test.layers", .int(3))
    w.setMetadata("test.causal", .bool(true))
    w.setMetadata("test.dims", .ints([1, -2, 3]))
    w.setMetadata("test.scales", .floats([0.5, -0.25]))
    w.setMetadata("test.vocab", .strings(["<s>", "é", ""]))
    try w.addTensor(name: "a.weight", dtype: .f32, shape: [4, 8], bytes: Quantize.f32Bytes(rng.floats(32)))
    try w.addTensor(name: "b.bias", dtype: .f32, shape: [8], bytes: Quantize.f32Bytes(rng.floats(8)))
    try w.addTensor(
        name: "c.embed", dtype: .f16, shape: [3, 20], bytes: Quantize.f16Bytes(rng.floats(60)),
        codec: .zstd, shuffle: true)
    try w.addTensor(
        name: "d.proj", dtype: .q8Row, shape: [2, 6],
        bytes: Quantize.q8RowBytes(rng.floats(12), rows: 2, cols: 6))
    try w.addTensor(name: "e.ids", dtype: .i32, shape: [5], bytes: Quantize.i32Bytes([1, 2, 3, -4, 5]), codec: .zstd)
    return try w.serialize()
}
