/// Element types of `.swl` tensors (codes are part of the file format and never change).
public enum DType: UInt8, Sendable, CaseIterable {
    case f32 = 1
    case f16 = 2
    case bf16 = 3
    case q8Row = 4
    case i32 = 5
    case i64 = 6
    case u8 = 7
    /// int4, two per byte, with a float32 scale per block of 32 values of a row (§6).
    case q4Block = 8

    /// The name used in the format specification and in messages.
    public var name: String {
        switch self {
        case .f32: "f32"
        case .f16: "f16"
        case .bf16: "bf16"
        case .q8Row: "q8_row"
        case .i32: "i32"
        case .i64: "i64"
        case .u8: "u8"
        case .q4Block: "q4_block"
        }
    }

    public init?(name: String) {
        guard let t = DType.allCases.first(where: { $0.name == name }) else { return nil }
        self = t
    }

    /// Bytes per element (for `q8_row` the int8 value; the per-row scales come on top; for `q4_block`
    /// 1, the unit of its packed bytes — two values share one).
    public var elementSize: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16: 2
        case .q8Row, .u8, .q4Block: 1
        case .i64: 8
        }
    }

    /// Whether `SWLFile.floats` can read this type.
    public var isFloat: Bool {
        switch self {
        case .f32, .f16, .bf16, .q8Row, .q4Block: true
        case .i32, .i64, .u8: false
        }
    }

    /// Raw byte size of a tensor of this type and shape; nil on overflow, a negative dim, or a
    /// `q8_row` or `q4_block` scalar.
    public func rawSize(shape: [Int]) -> Int? {
        guard let count = elementCount(shape) else { return nil }
        if self == .q4Block {
            // R rows of C values: R·⌈C/2⌉ packed bytes, then R·⌈C/32⌉ float32 scales.
            guard let cols = shape.last else { return nil }
            let rows = cols == 0 ? 0 : count / cols
            let (values, o1) = rows.multipliedReportingOverflow(by: cols / 2 + cols % 2)
            let (blocks, o2) = rows.multipliedReportingOverflow(by: cols / 32 + (cols % 32 == 0 ? 0 : 1))
            let (scales, o3) = blocks.multipliedReportingOverflow(by: 4)
            let (total, o4) = values.addingReportingOverflow(scales)
            return o1 || o2 || o3 || o4 ? nil : total
        }
        if self == .q8Row {
            guard let cols = shape.last else { return nil }
            let rows = cols == 0 ? 0 : count / cols
            let (scales, o1) = rows.multipliedReportingOverflow(by: 4)
            let (total, o2) = count.addingReportingOverflow(scales)
            return o1 || o2 ? nil : total
        }
        let (total, o) = count.multipliedReportingOverflow(by: elementSize)
        return o ? nil : total
    }
}

/// Number of elements of a shape, or nil on overflow or a negative dim.
func elementCount(_ shape: [Int]) -> Int? {
    var n = 1
    for d in shape {
        guard d >= 0 else { return nil }
        let (p, o) = n.multipliedReportingOverflow(by: d)
        if o { return nil }
        n = p
    }
    return n
}

/// How a tensor's bytes are stored.
public enum Codec: UInt8, Sendable, CaseIterable {
    /// The raw bytes, mapped without copying.
    case raw = 0
    /// One independent Zstandard frame.
    case zstd = 1

    public var name: String {
        switch self {
        case .raw: "raw"
        case .zstd: "zstd"
        }
    }
}

/// One entry of the tensor index.
public struct TensorEntry: Sendable, Equatable {
    public let name: String
    /// nil when the file uses a data type this runtime does not know (`dtypeCode` holds it).
    public let dtype: DType?
    public let dtypeCode: UInt8
    /// Dimensions, outermost first; empty for a scalar.
    public let shape: [Int]
    /// nil when the file uses a codec this runtime does not know (`codecCode` holds it).
    public let codec: Codec?
    public let codecCode: UInt8
    /// Raw filter bits (bit 0: byte shuffle).
    public let filters: UInt8
    /// Absolute file offset of the stored bytes.
    public let offset: Int
    /// Bytes stored in the file (after the codec).
    public let storedSize: Int
    /// Bytes after decoding.
    public let rawSize: Int
    /// XXH64 of the decoded bytes.
    public let checksum: UInt64

    /// Whether the byte-shuffle filter was applied before compression.
    public var shuffle: Bool { filters & Layout.shuffleFilter != 0 }
    /// Number of elements (1 for a scalar); the shape was checked for overflow when the file opened.
    public var elementCount: Int { shape.reduce(1, *) }
    /// "f32", … or "code N" for an unknown type.
    public var dtypeName: String { dtype?.name ?? "code \(dtypeCode)" }
}

/// Constants of format 1.0.
enum Layout {
    static let magic: [UInt8] = [0x89, 0x53, 0x57, 0x4C, 0x0D, 0x0A, 0x1A, 0x0A]
    static let major: UInt16 = 1
    static let minor: UInt16 = 0
    static let headerSize = 96
    static let maxHeaderSize = 4096
    static let checksumOffset = 88
    static let dataAlignment = 64
    static let entryFixedSize = 48
    /// Smallest possible index entry: fixed part + 1-byte name, padded to 8.
    static let minEntrySize = 56
    /// Smallest possible metadata entry: fixed part + 1-byte key.
    static let minMetadataEntrySize = 9
    static let maxDims = 8
    static let maxTensors = 1 << 20
    static let maxMetadataEntries = 1 << 20
    static let maxIndexSize = 256 << 20
    static let maxMetadataSize = 1 << 30
    static let shuffleFilter: UInt8 = 1
    static let knownFilters: UInt8 = 1
    static let lfsPrefix = Array("version https://git-lfs".utf8)

    /// Largest stored size a zstd encoder can produce for `raw` bytes (loose bound).
    static func zstdBound(_ raw: Int) -> Int? {
        let (a, o1) = raw.addingReportingOverflow(raw / 128)
        let (b, o2) = a.addingReportingOverflow(1024)
        return o1 || o2 ? nil : b
    }

    /// Most bytes one stored byte of a zstd frame can decode to: a block decodes to at most 128 KiB
    /// and takes at least 4 bytes (a 3-byte header and an RLE byte; RFC 8878 §3.1.1.2).
    static let zstdMaxExpansion = 32768

    /// Whether `stored` bytes of one zstd frame can decode to `raw` bytes: a file whose index claims
    /// more (a small tensor "declaring" gigabytes) is refused before anything is allocated.
    static func zstdCanHold(stored: Int, raw: Int) -> Bool {
        let (most, o) = stored.multipliedReportingOverflow(by: zstdMaxExpansion)
        return o || raw <= most
    }

    static func align(_ x: Int, _ a: Int) -> Int { (x + a - 1) / a * a }
}

/// Little-endian reads from a buffer whose bounds the caller has already checked.
extension UnsafeRawBufferPointer {
    @inline(__always) func u8(_ at: Int) -> UInt8 { self[at] }
    @inline(__always) func u16(_ at: Int) -> UInt16 {
        UInt16(littleEndian: loadUnaligned(fromByteOffset: at, as: UInt16.self))
    }
    @inline(__always) func u32(_ at: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: at, as: UInt32.self))
    }
    @inline(__always) func u64(_ at: Int) -> UInt64 {
        UInt64(littleEndian: loadUnaligned(fromByteOffset: at, as: UInt64.self))
    }
    /// Whether `self[at...]` starts with `prefix`.
    func hasPrefix(_ prefix: [UInt8], at: Int = 0) -> Bool {
        guard at >= 0, count - at >= prefix.count else { return false }
        for i in 0..<prefix.count where self[at + i] != prefix[i] { return false }
        return true
    }
    /// Decodes UTF-8, nil if invalid.
    func utf8String(_ at: Int, _ length: Int) -> String? {
        String(validating: UnsafeRawBufferPointer(rebasing: self[at..<(at + length)]), as: UTF8.self)
    }
    /// Byte-order comparison of two ranges (memcmp semantics, shorter prefix first).
    func compareBytes(_ a: Range<Int>, _ b: Range<Int>) -> Int {
        let n = Swift.min(a.count, b.count)
        for i in 0..<n {
            let x = self[a.lowerBound + i]
            let y = self[b.lowerBound + i]
            if x != y { return x < y ? -1 : 1 }
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }
}

/// Byte-order comparison of UTF-8 strings, the order of names and keys in a file.
func utf8Less(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}
