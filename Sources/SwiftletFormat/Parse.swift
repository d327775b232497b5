/// The validated contents of a file's header, index and metadata.
struct ParsedFile {
    var major: UInt16
    var minor: UInt16
    var fileSize: Int
    var tensors: [TensorEntry]
    var metadata: [String: MetadataValue]
    var metadataKeys: [String]
}

/// Validates a whole file in the order of the specification (Formats/swl.md §9, steps 1–17).
/// Nothing whose size comes from the file is allocated before the checks that bound it.
func parseFile(_ b: UnsafeRawBufferPointer) throws(FormatError) -> ParsedFile {
    let size = b.count
    // 1. Git LFS pointer.
    if b.hasPrefix(Layout.lfsPrefix) {
        throw FormatError(
            .gitLFSPointer,
            "this is a Git LFS pointer file (\(size) bytes), not the weights: run `git lfs pull` in the repository it came from"
        )
    }
    // 2. Size.
    if size == 0 { throw FormatError(.truncated, "the file is empty (0 bytes)") }
    if size < Layout.headerSize {
        throw FormatError(
            .truncated,
            "the file is only \(size) byte\(size == 1 ? "" : "s"), smaller than the \(Layout.headerSize)-byte .swl header: it is cut short or not a .swl file"
        )
    }
    // 3. Magic.
    guard b.hasPrefix(Layout.magic) else {
        throw FormatError(.badMagic, "not a .swl file (wrong magic bytes at the start)")
    }
    // 4. Version.
    let major = b.u16(8)
    let minor = b.u16(10)
    if major > Layout.major {
        throw FormatError(
            .newerVersion,
            "this file needs Swiftlet format \(major).\(minor) or newer; this runtime reads format \(Layout.major).\(Layout.minor): update Swiftlet"
        )
    }
    if major == 0 { throw FormatError(.corruptHeader, "invalid format version 0.\(minor) in the header") }
    // 5. Header size.
    let headerSize = Int(b.u32(12))
    guard headerSize >= Layout.headerSize, headerSize <= Layout.maxHeaderSize, headerSize % 8 == 0 else {
        throw FormatError(
            .corruptHeader,
            "invalid header size \(headerSize) (must be a multiple of 8 from \(Layout.headerSize) to \(Layout.maxHeaderSize))"
        )
    }
    guard headerSize <= size else {
        throw FormatError(
            .truncated, "the header says it is \(headerSize) bytes but the file has only \(size): the file is cut short"
        )
    }
    // 6. Declared file size.
    let declared = b.u64(24)
    if declared > UInt64(size) {
        throw FormatError(
            .truncated, "the file is \(size) bytes but its header says \(declared): the download or copy was cut short")
    }
    if declared < UInt64(size) {
        throw FormatError(
            .corruptHeader,
            "the file is \(size) bytes but its header says \(declared): \(UInt64(size) - declared) unexpected bytes at the end"
        )
    }
    // 7. Sections inside the file.
    func section(_ at: Int, _ what: String, cap: Int?) throws(FormatError) -> Range<Int> {
        let off = b.u64(at)
        let len = b.u64(at + 8)
        if let cap, len > UInt64(cap) {
            throw FormatError(.tooLarge, "the \(what) section is \(len) bytes, more than the \(cap)-byte limit")
        }
        let (end, o) = off.addingReportingOverflow(len)
        guard !o, end <= UInt64(size) else {
            throw FormatError(
                .outOfBounds,
                "the \(what) section (offset \(off), size \(len)) extends past the end of the \(size)-byte file")
        }
        return Int(off)..<Int(end)
    }
    let index = try section(32, "tensor index", cap: Layout.maxIndexSize)
    let meta = try section(48, "metadata", cap: Layout.maxMetadataSize)
    let data = try section(64, "data", cap: nil)
    // 8. No overlaps; aligned data.
    let named: [(String, Range<Int>)] = [
        ("header", 0..<headerSize), ("tensor index", index), ("metadata", meta), ("data", data),
    ]
    for i in 0..<named.count {
        for j in (i + 1)..<named.count where named[i].1.overlaps(named[j].1) {
            throw FormatError(.overlap, "the \(named[i].0) and \(named[j].0) sections overlap")
        }
    }
    guard data.lowerBound % Layout.dataAlignment == 0 else {
        throw FormatError(
            .corruptHeader, "the data section starts at \(data.lowerBound), not a multiple of \(Layout.dataAlignment)")
    }
    // 9. Header checksum (header with its checksum field zeroed, then index, then metadata).
    var hasher = XXH64()
    hasher.update(UnsafeRawBufferPointer(rebasing: b[0..<Layout.checksumOffset]))
    withUnsafeBytes(of: UInt64(0)) { hasher.update($0) }
    hasher.update(UnsafeRawBufferPointer(rebasing: b[(Layout.checksumOffset + 8)..<headerSize]))
    hasher.update(UnsafeRawBufferPointer(rebasing: b[index]))
    hasher.update(UnsafeRawBufferPointer(rebasing: b[meta]))
    let stored = b.u64(Layout.checksumOffset)
    guard hasher.finalize() == stored else {
        throw FormatError(
            .checksum, "the header checksum does not match: the file is damaged; download or convert it again")
    }
    // 10. Counts.
    let tensorCount = Int(b.u32(80))
    let metaCount = Int(b.u32(84))
    guard tensorCount <= Layout.maxTensors else {
        throw FormatError(
            .tooLarge, "the file claims \(tensorCount) tensors, more than the limit of \(Layout.maxTensors)")
    }
    guard tensorCount * Layout.minEntrySize <= index.count else {
        throw FormatError(.corruptIndex, "\(tensorCount) tensors cannot fit in the \(index.count)-byte tensor index")
    }
    guard metaCount <= Layout.maxMetadataEntries else {
        throw FormatError(
            .tooLarge,
            "the file claims \(metaCount) metadata entries, more than the limit of \(Layout.maxMetadataEntries)")
    }
    guard metaCount * Layout.minMetadataEntrySize <= meta.count else {
        throw FormatError(
            .corruptMetadata, "\(metaCount) metadata entries cannot fit in the \(meta.count)-byte metadata section")
    }
    // 11–15. Index entries.
    let tensors = try parseIndex(b, index, count: tensorCount, data: data)
    // 16. Tensors do not overlap.
    var spans: [(Int, Int)] = []
    spans.reserveCapacity(tensorCount)
    for (i, t) in tensors.enumerated() where t.storedSize > 0 { spans.append((t.offset, i)) }
    spans.sort { $0.0 < $1.0 }
    if spans.count > 1 {
        for k in 1..<spans.count {
            let prev = tensors[spans[k - 1].1]
            let cur = tensors[spans[k].1]
            if prev.offset + prev.storedSize > cur.offset {
                throw FormatError(
                    .overlap, "tensors '\(prev.name)' and '\(cur.name)' share bytes in the file", tensor: cur.name)
            }
        }
    }
    // 17. Metadata.
    let (metadata, keys) = try parseMetadata(b, meta, count: metaCount)
    return ParsedFile(
        major: major, minor: minor, fileSize: size, tensors: tensors, metadata: metadata, metadataKeys: keys)
}

private func parseIndex(
    _ b: UnsafeRawBufferPointer, _ index: Range<Int>, count: Int,
    data: Range<Int>
) throws(FormatError) -> [TensorEntry] {
    var tensors: [TensorEntry] = []
    tensors.reserveCapacity(count)
    var pos = index.lowerBound
    var previousName: Range<Int>? = nil
    for i in 0..<count {
        func bad(_ msg: String) -> FormatError { FormatError(.corruptIndex, "tensor index entry \(i): \(msg)") }
        guard index.upperBound - pos >= Layout.entryFixedSize else {
            throw bad("truncated (runs past the end of the index)")
        }
        let entrySize = Int(b.u32(pos))
        let nameLen = Int(b.u16(pos + 4))
        let dtypeCode = b.u8(pos + 6)
        let codecCode = b.u8(pos + 7)
        let filters = b.u8(pos + 8)
        let nDims = Int(b.u8(pos + 9))
        guard entrySize % 8 == 0, entrySize >= Layout.entryFixedSize, entrySize <= index.upperBound - pos else {
            throw bad("invalid entry size \(entrySize) (\(index.upperBound - pos) bytes left in the index)")
        }
        guard nDims <= Layout.maxDims else {
            throw bad("\(nDims) dimensions, more than the limit of \(Layout.maxDims)")
        }
        guard nameLen >= 1 else { throw bad("empty tensor name") }
        let nameStart = pos + Layout.entryFixedSize + 8 * nDims
        guard nameStart + nameLen <= pos + entrySize else {
            throw bad("the \(nameLen)-byte name runs past the end of its \(entrySize)-byte entry")
        }
        let nameRange = nameStart..<(nameStart + nameLen)
        guard let name = b.utf8String(nameStart, nameLen) else { throw bad("the tensor name is not valid UTF-8") }
        if let prev = previousName {
            let c = b.compareBytes(prev, nameRange)
            if c == 0 { throw FormatError(.corruptIndex, "duplicate tensor name '\(name)' in the index", tensor: name) }
            if c > 0 {
                throw FormatError(.corruptIndex, "the tensor index is not sorted by name (at '\(name)')", tensor: name)
            }
        }
        previousName = nameRange
        if (dtypeCode == DType.q8Row.rawValue || dtypeCode == DType.q4Block.rawValue) && nDims == 0 {
            throw FormatError(
                .corruptIndex,
                "tensor '\(name)': a \(DType(rawValue: dtypeCode)!.name) tensor needs at least one dimension",
                tensor: name)
        }
        // 12. Shape and sizes, overflow-checked.
        var shape: [Int] = []
        shape.reserveCapacity(nDims)
        for d in 0..<nDims {
            let v = b.u64(pos + Layout.entryFixedSize + 8 * d)
            guard v <= UInt64(Int.max) else {
                throw FormatError(.tooLarge, "tensor '\(name)': dimension \(d) is \(v), too large", tensor: name)
            }
            shape.append(Int(v))
        }
        guard elementCount(shape) != nil else {
            throw FormatError(
                .tooLarge, "tensor '\(name)': shape \(shape) has more elements than fit in 64 bits", tensor: name)
        }
        let offset64 = b.u64(pos + 16)
        let stored64 = b.u64(pos + 24)
        let raw64 = b.u64(pos + 32)
        guard stored64 <= UInt64(Int.max), raw64 <= UInt64(Int.max) else {
            throw FormatError(.tooLarge, "tensor '\(name)': size beyond 2^63", tensor: name)
        }
        let stored = Int(stored64)
        let raw = Int(raw64)
        let dtype = DType(rawValue: dtypeCode)
        let codec = Codec(rawValue: codecCode)
        if let dtype {
            guard let expected = dtype.rawSize(shape: shape) else {
                throw FormatError(
                    .tooLarge, "tensor '\(name)': the byte size of a \(dtype.name) tensor of shape \(shape) overflows",
                    tensor: name)
            }
            // 13. raw size matches dtype and shape.
            guard expected == raw else {
                throw FormatError(
                    .corruptIndex,
                    "tensor '\(name)': raw size \(raw) does not match \(dtype.name) shape \(shape) (\(expected) bytes)",
                    tensor: name)
            }
        }
        // 13. stored size consistent with codec.
        switch codec {
        case .raw?:
            guard stored == raw else {
                throw FormatError(
                    .corruptIndex,
                    "tensor '\(name)': stored size \(stored) differs from raw size \(raw) for an uncompressed tensor",
                    tensor: name)
            }
            if filters & Layout.shuffleFilter != 0 {
                throw FormatError(
                    .corruptIndex, "tensor '\(name)': the byte-shuffle filter is only allowed with zstd", tensor: name)
            }
        case .zstd?:
            guard stored > 0, let bound = Layout.zstdBound(raw), stored <= bound else {
                throw FormatError(
                    .corruptIndex,
                    "tensor '\(name)': stored size \(stored) is impossible for a zstd frame of \(raw) bytes",
                    tensor: name)
            }
            guard Layout.zstdCanHold(stored: stored, raw: raw) else {
                throw FormatError(
                    .corruptIndex,
                    "tensor '\(name)': \(stored) stored bytes cannot decode to \(raw) bytes (a zstd frame expands at most \(Layout.zstdMaxExpansion)×): the file is damaged or crafted",
                    tensor: name)
            }
        case nil:
            break
        }
        // 14. Alignment.
        guard offset64 % UInt64(Layout.dataAlignment) == 0 else {
            throw FormatError(
                .corruptIndex, "tensor '\(name)': offset \(offset64) is not a multiple of \(Layout.dataAlignment)",
                tensor: name)
        }
        // 15. Inside the data section.
        let (end, o) = offset64.addingReportingOverflow(stored64)
        guard !o, offset64 >= UInt64(data.lowerBound), end <= UInt64(data.upperBound) else {
            throw FormatError(
                .outOfBounds,
                "tensor '\(name)': its \(stored) bytes at offset \(offset64) lie outside the data section (\(data.lowerBound)..<\(data.upperBound))",
                tensor: name)
        }
        let offset = Int(offset64)
        tensors.append(
            TensorEntry(
                name: name, dtype: dtype, dtypeCode: dtypeCode, shape: shape, codec: codec,
                codecCode: codecCode, filters: filters, offset: offset, storedSize: stored,
                rawSize: raw, checksum: b.u64(pos + 40)))
        pos += entrySize
    }
    return tensors
}
