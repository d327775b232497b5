/// Bounds-checked little-endian reads over raw bytes (a mapped file). Every access is checked
/// explicitly because `UnsafeRawBufferPointer` subscripts are unchecked in optimized builds and the
/// bytes come from untrusted files.
struct CheckpointBytes {
    let base: UnsafeRawBufferPointer

    init(_ base: UnsafeRawBufferPointer) {
        self.base = base
    }

    var count: Int { base.count }

    /// Whether `offset ..< offset + length` lies inside the buffer (no overflow possible).
    func contains(offset: Int, length: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= base.count && length <= base.count - offset
    }

    func check(offset: Int, length: Int, _ what: @autoclosure () -> String) throws {
        guard contains(offset: offset, length: length) else {
            throw CheckpointError(
                "\(what()): bytes \(offset)..<\(offset &+ length) lie outside the \(base.count)-byte input "
                    + "(the file is truncated or corrupt)")
        }
    }

    func u8(_ offset: Int) throws -> UInt8 {
        try check(offset: offset, length: 1, "read of 1 byte")
        return base[offset]
    }

    func u16(_ offset: Int) throws -> UInt16 {
        try check(offset: offset, length: 2, "read of 2 bytes")
        return UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    func u32(_ offset: Int) throws -> UInt32 {
        try check(offset: offset, length: 4, "read of 4 bytes")
        return UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    func u64(_ offset: Int) throws -> UInt64 {
        try check(offset: offset, length: 8, "read of 8 bytes")
        return UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// A checked sub-range of the bytes.
    func slice(_ offset: Int, _ length: Int, _ what: @autoclosure () -> String = "read")
        throws -> UnsafeRawBufferPointer
    {
        try check(offset: offset, length: length, what())
        return UnsafeRawBufferPointer(rebasing: base[offset..<offset + length])
    }

    /// A checked copy of a sub-range.
    func copy(_ offset: Int, _ length: Int, _ what: @autoclosure () -> String = "read") throws
        -> [UInt8]
    {
        Array(try slice(offset, length, what()))
    }

    func hasPrefix(_ prefix: [UInt8], at offset: Int = 0) -> Bool {
        guard contains(offset: offset, length: prefix.count) else { return false }
        for (i, byte) in prefix.enumerated() where base[offset + i] != byte { return false }
        return true
    }
}
