import Foundation
import SwiftletConvert

/// Test helpers: fixture paths, a tiny STORED zip writer and a pickle assembler, so that
/// malformed and unusual checkpoints can be built byte by byte without Python.

enum Fixtures {
    /// …/Tests/Fixtures, found from this file's location.
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func path(_ components: String...) -> String {
        components.reduce(root) { $0.appendingPathComponent($1) }.path
    }

    /// Every fixture folder that has both checkpoint.pth and checkpoint.safetensors.
    static var checkpointFolders: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.sorted().filter { name in
            FileManager.default.fileExists(atPath: path(name, "checkpoint.pth"))
                && FileManager.default.fileExists(atPath: path(name, "checkpoint.safetensors"))
        }
    }

    static func bytes(_ components: String...) throws -> [UInt8] {
        let url = components.reduce(root) { $0.appendingPathComponent($1) }
        return [UInt8](try Data(contentsOf: url))
    }

    static func config(_ folder: String) throws -> [String: Any] {
        let data = try Data(
            contentsOf: root.appendingPathComponent(folder)
                .appendingPathComponent("config.json"))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }
}

/// A unique scratch directory per call (tests run in parallel).
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("swiftlet-ckpt-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Reads a checkpoint from memory and returns the error message (a note if it loaded). Returning
/// a String keeps test failures from printing the whole input.
func readError(_ bytes: [UInt8]) -> String {
    do {
        _ = try CheckpointReader.read(data: Data(bytes))
        return "<loaded without error>"
    } catch let error as CheckpointError {
        return error.message
    } catch {
        return "unexpected error type: \(error)"
    }
}

func leBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

func floatBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { leBytes($0.bitPattern) }
}

/// Bitwise CRC-32 (deliberately not table-driven, unlike the reader's).
func bitwiseCRC32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
    }
    return ~crc
}

/// Writes a zip archive of STORED entries (optionally with zip64 records, or lying about its
/// method or CRC, to exercise the reader's checks).
struct TestZipWriter {
    struct Entry {
        var name: String
        var data: [UInt8]
        var method: UInt16 = 0
        var crcOverride: UInt32? = nil
    }

    var entries: [Entry] = []
    var zip64 = false

    mutating func add(_ name: String, _ data: [UInt8], method: UInt16 = 0, crc: UInt32? = nil) {
        entries.append(Entry(name: name, data: data, method: method, crcOverride: crc))
    }

    mutating func add(_ name: String, _ text: String) {
        add(name, Array(text.utf8))
    }

    func bytes() -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        for entry in entries {
            let offset = out.count
            let name = Array(entry.name.utf8)
            let crc = entry.crcOverride ?? bitwiseCRC32(entry.data)
            // Local header; pad its extra field so data starts 64-byte aligned, as torch does.
            let unpadded = offset + 30 + name.count + 4
            let pad = (64 - unpadded % 64) % 64
            var extra: [UInt8] = leBytes(UInt16(0x4246)) + leBytes(UInt16(pad)) + [UInt8](repeating: 0, count: pad)
            out += leBytes(UInt32(0x0403_4B50)) + leBytes(UInt16(20)) + leBytes(UInt16(0)) + leBytes(entry.method)
            out += leBytes(UInt16(0)) + leBytes(UInt16(0)) + leBytes(crc)
            out += leBytes(UInt32(entry.data.count)) + leBytes(UInt32(entry.data.count))
            out += leBytes(UInt16(name.count)) + leBytes(UInt16(extra.count)) + name + extra
            out += entry.data

            // Central directory record.
            var size32 = UInt32(entry.data.count)
            var offset32 = UInt32(offset)
            extra = []
            if zip64 {
                size32 = 0xFFFF_FFFF
                offset32 = 0xFFFF_FFFF
                extra =
                    leBytes(UInt16(1)) + leBytes(UInt16(24)) + leBytes(UInt64(entry.data.count))
                    + leBytes(UInt64(entry.data.count)) + leBytes(UInt64(offset))
            }
            central += leBytes(UInt32(0x0201_4B50)) + leBytes(UInt16(45)) + leBytes(UInt16(45)) + leBytes(UInt16(0))
            central += leBytes(entry.method) + leBytes(UInt16(0)) + leBytes(UInt16(0)) + leBytes(crc)
            central += leBytes(size32) + leBytes(size32) + leBytes(UInt16(name.count)) + leBytes(UInt16(extra.count))
            central +=
                leBytes(UInt16(0)) + leBytes(UInt16(0)) + leBytes(UInt16(0)) + leBytes(UInt32(0)) + leBytes(offset32)
            central += name + extra
        }
        let centralOffset = out.count
        out += central
        if zip64 {
            let recordOffset = out.count
            out += leBytes(UInt32(0x0606_4B50)) + leBytes(UInt64(44)) + leBytes(UInt16(45)) + leBytes(UInt16(45))
            out +=
                leBytes(UInt32(0)) + leBytes(UInt32(0)) + leBytes(UInt64(entries.count))
                + leBytes(UInt64(entries.count))
            out += leBytes(UInt64(central.count)) + leBytes(UInt64(centralOffset))
            out +=
                leBytes(UInt32(0x0706_4B50)) + leBytes(UInt32(0)) + leBytes(UInt64(recordOffset)) + leBytes(UInt32(1))
            out += leBytes(UInt32(0x0605_4B50)) + leBytes(UInt16(0)) + leBytes(UInt16(0))
            out += leBytes(UInt16(0xFFFF)) + leBytes(UInt16(0xFFFF)) + leBytes(UInt32(0xFFFF_FFFF))
            out += leBytes(UInt32(0xFFFF_FFFF)) + leBytes(UInt16(0))
        } else {
            out += leBytes(UInt32(0x0605_4B50)) + leBytes(UInt16(0)) + leBytes(UInt16(0))
            out += leBytes(UInt16(entries.count)) + leBytes(UInt16(entries.count))
            out += leBytes(UInt32(central.count)) + leBytes(UInt32(centralOffset)) + leBytes(UInt16(0))
        }
        return out
    }
}

/// Assembles pickle bytes opcode by opcode.
struct PickleAssembler {
    var bytes: [UInt8] = []
    private var nextMemo = 0

    mutating func op(_ code: UInt8) { bytes.append(code) }
    mutating func proto(_ version: UInt8) { bytes += [0x80, version] }
    mutating func mark() { op(0x28) }
    mutating func stop() { op(0x2E) }
    mutating func emptyDict() { op(0x7D) }
    mutating func emptyTuple() { op(0x29) }
    mutating func emptyList() { op(0x5D) }
    mutating func none() { op(0x4E) }
    mutating func bool(_ value: Bool) { op(value ? 0x88 : 0x89) }
    mutating func tuple() { op(0x74) }
    mutating func tuple1() { op(0x85) }
    mutating func tuple2() { op(0x86) }
    mutating func tuple3() { op(0x87) }
    mutating func setItem() { op(0x73) }
    mutating func setItems() { op(0x75) }
    mutating func appends() { op(0x65) }
    mutating func reduce() { op(0x52) }
    mutating func build() { op(0x62) }
    mutating func newObj() { op(0x81) }
    mutating func binPersId() { op(0x51) }

    mutating func int(_ value: Int) {
        switch value {
        case 0..<256: bytes += [0x4B, UInt8(value)]
        case 256..<65536: bytes += [0x4D] + leBytes(UInt16(value))
        case Int(Int32.min)...Int(Int32.max): bytes += [0x4A] + leBytes(Int32(value))
        default: bytes += [0x8A, 8] + leBytes(Int64(value)) // LONG1
        }
    }

    mutating func float(_ value: Double) {
        bytes.append(0x47)
        bytes += withUnsafeBytes(of: value.bitPattern.bigEndian) { Array($0) }
    }

    /// BINUNICODE (protocol 2), or SHORT_BINUNICODE when `short`.
    mutating func string(_ text: String, short: Bool = false) {
        let utf8 = Array(text.utf8)
        if short && utf8.count < 256 {
            bytes += [0x8C, UInt8(utf8.count)] + utf8
        } else {
            bytes += [0x58] + leBytes(UInt32(utf8.count)) + utf8
        }
    }

    mutating func global(_ module: String, _ name: String) {
        bytes += [0x63] + Array("\(module)\n\(name)\n".utf8)
    }

    /// STACK_GLOBAL (protocol 4).
    mutating func stackGlobal(_ module: String, _ name: String) {
        string(module, short: true)
        string(name, short: true)
        op(0x93)
    }

    mutating func put() -> Int {
        let index = nextMemo
        nextMemo += 1
        bytes += [0x71, UInt8(index)]
        return index
    }

    mutating func get(_ index: Int) { bytes += [0x68, UInt8(index)] }

    mutating func intTuple(_ values: [Int]) {
        mark()
        for value in values { int(value) }
        tuple()
    }

    /// `_rebuild_tensor_v2(persistent_load(('storage', torch.<type>, key, 'cpu', numel)),
    /// offset, size, stride, False, OrderedDict())`, as torch.save writes it.
    mutating func tensor(
        storageType: String = "FloatStorage", key: String, numel: Int, offset: Int = 0,
        size: [Int], stride: [Int]
    ) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        mark()
        string("storage")
        global("torch", storageType)
        string(key)
        string("cpu")
        int(numel)
        tuple()
        binPersId()
        int(offset)
        intTuple(size)
        intTuple(stride)
        bool(false)
        global("collections", "OrderedDict")
        emptyTuple()
        reduce()
        tuple()
        reduce()
    }

    /// The pickle (protocol 2) of `{name: tensor}`, the tensor as `tensor(key:numel:offset:size:stride:)`
    /// writes it.
    static func oneTensor(
        _ name: String, key: String = "0", numel: Int, offset: Int = 0, size: [Int], stride: [Int]
    ) -> [UInt8] {
        var p = PickleAssembler()
        p.proto(2)
        p.emptyDict()
        p.string(name)
        p.tensor(key: key, numel: numel, offset: offset, size: size, stride: stride)
        p.setItem()
        p.stop()
        return p.bytes
    }
}

/// A torch.save-style archive: `<prefix>/data.pkl`, byteorder, storages, version.
func torchArchive(
    pickle: [UInt8], storages: [(key: String, bytes: [UInt8])], prefix: String = "archive",
    zip64: Bool = false
) -> [UInt8] {
    var zip = TestZipWriter()
    zip.zip64 = zip64
    zip.add("\(prefix)/data.pkl", pickle)
    zip.add("\(prefix)/byteorder", "little")
    for storage in storages { zip.add("\(prefix)/data/\(storage.key)", storage.bytes) }
    zip.add("\(prefix)/version", "3\n")
    return zip.bytes()
}
