/// A minimal zip reader for `torch.save` archives: walks the central directory (zip64 included)
/// and returns STORED entries' bytes after checking their CRC-32. Compressed entries are refused
/// with a clear message rather than inflated: torch writes its archives uncompressed.
struct ZipArchive {
    struct Entry {
        let name: String
        let method: UInt16
        let flags: UInt16
        let crc32: UInt32
        let compressedSize: Int
        let uncompressedSize: Int
        let localHeaderOffset: Int
    }

    let view: CheckpointBytes
    let entries: [Entry]
    private let byName: [String: Int]

    static let localSignature: UInt32 = 0x0403_4B50
    static let centralSignature: UInt32 = 0x0201_4B50
    static let endSignature: UInt32 = 0x0605_4B50
    static let zip64EndSignature: UInt32 = 0x0606_4B50
    static let zip64LocatorSignature: UInt32 = 0x0706_4B50

    init(_ view: CheckpointBytes) throws {
        self.view = view
        let end = try ZipArchive.findEndRecord(view)
        var entryCount = Int(try view.u16(end + 10))
        var directorySize = Int(try view.u32(end + 12))
        var directoryOffset = Int(try view.u32(end + 16))
        var directoryLimit = end

        // Zip64: the classic record holds 0xFFFF/0xFFFFFFFF and a locator precedes it.
        if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            let locator = end - 20
            guard locator >= 0, try view.u32(locator) == ZipArchive.zip64LocatorSignature else {
                throw CheckpointError(
                    "zip: the end record asks for zip64 but there is no zip64 locator (corrupt archive)")
            }
            let record = try ZipArchive.int(try view.u64(locator + 8), "zip64 end record offset")
            guard record <= locator - 56, try view.u32(record) == ZipArchive.zip64EndSignature else {
                throw CheckpointError("zip: zip64 end record missing or misplaced (corrupt archive)")
            }
            entryCount = try ZipArchive.int(try view.u64(record + 32), "zip64 entry count")
            directorySize = try ZipArchive.int(try view.u64(record + 40), "zip64 directory size")
            directoryOffset = try ZipArchive.int(try view.u64(record + 48), "zip64 directory offset")
            directoryLimit = record
        }
        guard directoryOffset <= directoryLimit, directorySize <= directoryLimit - directoryOffset
        else {
            throw CheckpointError(
                "zip: central directory (offset \(directoryOffset), \(directorySize) bytes) lies "
                    + "outside the archive (the file is truncated or corrupt)")
        }
        guard entryCount <= directorySize / 46 else {
            throw CheckpointError(
                "zip: \(entryCount) entries cannot fit in a \(directorySize)-byte central directory")
        }

        var entries: [Entry] = []
        entries.reserveCapacity(entryCount)
        var byName: [String: Int] = [:]
        var position = directoryOffset
        let directoryEnd = directoryOffset + directorySize
        for index in 0..<entryCount {
            guard position <= directoryEnd - 46, try view.u32(position) == ZipArchive.centralSignature
            else {
                throw CheckpointError("zip: central directory entry \(index) is corrupt")
            }
            let flags = try view.u16(position + 8)
            let method = try view.u16(position + 10)
            let crc = try view.u32(position + 16)
            var compressed = UInt64(try view.u32(position + 20))
            var uncompressed = UInt64(try view.u32(position + 24))
            let nameLength = Int(try view.u16(position + 28))
            let extraLength = Int(try view.u16(position + 30))
            let commentLength = Int(try view.u16(position + 32))
            var localOffset = UInt64(try view.u32(position + 42))
            let nameStart = position + 46
            let recordEnd = nameStart + nameLength + extraLength + commentLength
            guard recordEnd <= directoryEnd else {
                throw CheckpointError("zip: central directory entry \(index) runs past the directory")
            }
            let name = String(decoding: try view.slice(nameStart, nameLength), as: UTF8.self)

            // The zip64 extra field holds, in order, only the fields whose 32-bit value saturated.
            if compressed == 0xFFFF_FFFF || uncompressed == 0xFFFF_FFFF || localOffset == 0xFFFF_FFFF {
                var field = nameStart + nameLength
                let extraEnd = field + extraLength
                var found = false
                while field + 4 <= extraEnd {
                    let id = try view.u16(field)
                    let size = Int(try view.u16(field + 2))
                    let body = field + 4
                    guard body + size <= extraEnd else { break }
                    if id == 0x0001 {
                        var cursor = body
                        func next() throws -> UInt64 {
                            guard cursor + 8 <= body + size else {
                                throw CheckpointError("zip: entry '\(name)' has a short zip64 extra field")
                            }
                            defer { cursor += 8 }
                            return try view.u64(cursor)
                        }
                        if uncompressed == 0xFFFF_FFFF { uncompressed = try next() }
                        if compressed == 0xFFFF_FFFF { compressed = try next() }
                        if localOffset == 0xFFFF_FFFF { localOffset = try next() }
                        found = true
                        break
                    }
                    field = body + size
                }
                guard found else {
                    throw CheckpointError("zip: entry '\(name)' needs a zip64 extra field and has none")
                }
            }

            let entry = Entry(
                name: name, method: method, flags: flags, crc32: crc,
                compressedSize: try ZipArchive.int(compressed, "size of '\(name)'"),
                uncompressedSize: try ZipArchive.int(uncompressed, "size of '\(name)'"),
                localHeaderOffset: try ZipArchive.int(localOffset, "offset of '\(name)'"))
            byName[name] = entries.count
            entries.append(entry)
            position = recordEnd
        }
        self.entries = entries
        self.byName = byName
    }

    func entry(named name: String) -> Entry? {
        byName[name].map { entries[$0] }
    }

    /// The bytes of a STORED entry, CRC-checked.
    func data(of entry: Entry) throws -> UnsafeRawBufferPointer {
        guard entry.flags & 1 == 0 else {
            throw CheckpointError("zip: entry '\(entry.name)' is encrypted")
        }
        guard entry.method == 0 else {
            let method = entry.method == 8 ? "deflate-compressed" : "compressed (method \(entry.method))"
            throw CheckpointError(
                "zip: entry '\(entry.name)' is \(method); only uncompressed (STORED) entries are "
                    + "supported, as torch.save writes them — re-save the checkpoint with torch.save")
        }
        guard entry.compressedSize == entry.uncompressedSize else {
            throw CheckpointError(
                "zip: stored entry '\(entry.name)' has compressed size \(entry.compressedSize) != size "
                    + "\(entry.uncompressedSize)")
        }
        let local = entry.localHeaderOffset
        guard view.contains(offset: local, length: 30),
            try view.u32(local) == ZipArchive.localSignature
        else {
            throw CheckpointError(
                "zip: local header of '\(entry.name)' is missing (the file is truncated or corrupt)")
        }
        let start = local + 30 + Int(try view.u16(local + 26)) + Int(try view.u16(local + 28))
        let bytes = try view.slice(start, entry.uncompressedSize, "zip entry '\(entry.name)'")
        let crc = ZipCRC32.checksum(bytes)
        guard crc == entry.crc32 else {
            throw CheckpointError(
                "zip: entry '\(entry.name)' fails its CRC-32 check (the file is corrupt)")
        }
        return bytes
    }

    /// The end-of-central-directory record: searched backwards over the maximal comment length.
    private static func findEndRecord(_ view: CheckpointBytes) throws -> Int {
        let lastCandidate = view.count - 22
        let firstCandidate = max(0, lastCandidate - 0xFFFF)
        if lastCandidate >= 0 {
            for offset in stride(from: lastCandidate, through: firstCandidate, by: -1)
            where try view.u32(offset) == endSignature {
                // A genuine record's comment ends exactly at the end of the file.
                if offset + 22 + Int(try view.u16(offset + 20)) == view.count { return offset }
            }
        }
        throw CheckpointError(
            "zip: no end-of-central-directory record — the archive is truncated (incomplete download "
                + "or copy) or is not a zip file")
    }

    private static func int(_ value: UInt64, _ what: String) throws -> Int {
        guard value <= UInt64(Int.max) else { throw CheckpointError("zip: \(what) is too large") }
        return Int(value)
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zip uses), table-driven.
enum ZipCRC32 {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc ^ 0xFFFF_FFFF
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
