import CZstd

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Builds a `.swl` file (Formats/swl.md). Output bytes depend only on the tensors, metadata and
/// codec choices, never on the order of calls.
public struct SWLWriter {
    private struct Pending {
        let name: String
        let dtype: DType
        let shape: [Int]
        let bytes: [UInt8]
        let codec: Codec
        let shuffle: Bool
    }

    private var tensors: [String: Pending] = [:]
    private var metadata: [String: MetadataValue] = [:]
    /// zstd compression level for `.zstd` tensors.
    public var zstdLevel: Int32 = 9

    public init() {}

    /// Sets (or replaces) a metadata value. `general.tensor_hash` is always computed by the writer.
    public mutating func setMetadata(_ key: String, _ value: MetadataValue) {
        metadata[key] = value
    }

    /// Adds a tensor. `bytes` are its raw little-endian bytes (see `Quantize` for encoders); their
    /// count must match the data type and shape.
    public mutating func addTensor(
        name: String, dtype: DType, shape: [Int], bytes: [UInt8],
        codec: Codec = .raw, shuffle: Bool = false
    ) throws(FormatError) {
        func bad(_ msg: String) -> FormatError {
            FormatError(.invalidArgument, "tensor '\(name)': \(msg)", tensor: name)
        }
        guard !name.isEmpty, name.utf8.count <= Int(UInt16.max) else {
            throw bad("a name must be 1 to 65535 UTF-8 bytes")
        }
        guard tensors[name] == nil else { throw bad("a tensor of this name was already added") }
        guard tensors.count < Layout.maxTensors else { throw bad("more than \(Layout.maxTensors) tensors") }
        guard shape.count <= Layout.maxDims else { throw bad("\(shape.count) dimensions, more than \(Layout.maxDims)") }
        guard !((dtype == .q8Row || dtype == .q4Block) && shape.isEmpty) else {
            throw bad("a \(dtype.name) tensor needs at least one dimension")
        }
        guard let expected = dtype.rawSize(shape: shape) else { throw bad("invalid or too large shape \(shape)") }
        guard bytes.count == expected else {
            throw bad("\(bytes.count) bytes given, a \(dtype.name) tensor of shape \(shape) takes \(expected)")
        }
        guard !(shuffle && codec != .zstd) else { throw bad("the byte-shuffle filter needs the zstd codec") }
        tensors[name] = Pending(name: name, dtype: dtype, shape: shape, bytes: bytes, codec: codec, shuffle: shuffle)
    }

    /// Told after each tensor is checksummed (and compressed): tensors done, tensors in all, raw bytes
    /// done, raw bytes in all.
    public typealias Progress = (_ tensors: Int, _ totalTensors: Int, _ bytes: Int, _ totalBytes: Int) -> Void

    /// The complete file.
    public func serialize(progress: Progress? = nil) throws(FormatError) -> [UInt8] {
        guard case .string? = metadata["general.family"] else {
            throw FormatError(
                .invalidArgument, "metadata 'general.family' (a string) is required: set it to the model family")
        }
        let sorted = tensors.values.sorted { utf8Less($0.name, $1.name) }

        // Stored bytes and the weights hash.
        var stored: [[UInt8]] = []
        var tensorHash = XXH64()
        var cctx: OpaquePointer? = nil
        defer { if let cctx { ZSTD_freeCCtx(cctx) } }
        let totalBytes = sorted.reduce(0) { $0 + $1.bytes.count }
        var doneBytes = 0
        for (done, t) in sorted.enumerated() {
            var head: [UInt8] = []
            head.appendLE(UInt32(t.name.utf8.count))
            head.append(contentsOf: t.name.utf8)
            head.append(t.dtype.rawValue)
            head.append(UInt8(t.shape.count))
            for d in t.shape { head.appendLE(UInt64(d)) }
            head.appendLE(UInt64(t.bytes.count))
            tensorHash.update(head)
            tensorHash.update(t.bytes)
            switch t.codec {
            case .raw:
                stored.append(t.bytes)
            case .zstd:
                if cctx == nil { cctx = ZSTD_createCCtx() }
                guard let cctx else {
                    throw FormatError(.io, "cannot create a zstd compression context: out of memory")
                }
                stored.append(try compress(t, cctx))
            }
            doneBytes += t.bytes.count
            progress?(done + 1, sorted.count, doneBytes, totalBytes)
        }

        var meta = metadata
        meta["general.tensor_hash"] = .string("xxh64:" + hex(tensorHash.finalize()).dropFirst(2))
        let keys = meta.keys.sorted(by: utf8Less)
        var metaBytes: [UInt8] = []
        for key in keys {
            let value = meta[key]!
            let encoded = value.encoded()
            guard !key.isEmpty, key.utf8.count <= Int(UInt16.max) else {
                throw FormatError(.invalidArgument, "metadata key '\(key)': a key must be 1 to 65535 UTF-8 bytes")
            }
            guard encoded.count <= Int(UInt32.max) else {
                throw FormatError(.invalidArgument, "metadata '\(key)': the value is larger than 4 GiB")
            }
            metaBytes.appendLE(UInt16(key.utf8.count))
            metaBytes.append(value.typeCode)
            metaBytes.append(0)
            metaBytes.appendLE(UInt32(encoded.count))
            metaBytes.append(contentsOf: key.utf8)
            metaBytes.append(contentsOf: encoded)
        }
        guard metaBytes.count <= Layout.maxMetadataSize else {
            throw FormatError(
                .invalidArgument,
                "the metadata takes \(metaBytes.count) bytes, more than the \(Layout.maxMetadataSize)-byte limit")
        }

        // Layout: header | index | metadata | pad | data (each tensor 64-aligned).
        var indexSize = 0
        for t in sorted { indexSize += Layout.align(Layout.entryFixedSize + 8 * t.shape.count + t.name.utf8.count, 8) }
        guard indexSize <= Layout.maxIndexSize else {
            throw FormatError(
                .invalidArgument,
                "the tensor index takes \(indexSize) bytes, more than the \(Layout.maxIndexSize)-byte limit")
        }
        let indexOffset = Layout.headerSize
        let metaOffset = indexOffset + indexSize
        let dataOffset = Layout.align(metaOffset + metaBytes.count, Layout.dataAlignment)
        var offsets: [Int] = []
        var end = dataOffset
        for s in stored {
            let at = Layout.align(end, Layout.dataAlignment)
            offsets.append(at)
            end = at + s.count
        }
        let fileSize = end

        var out = [UInt8](repeating: 0, count: fileSize)
        func put<T: FixedWidthInteger>(_ v: T, _ at: Int) { Quantize.store(v, &out, at) }
        for (k, b) in Layout.magic.enumerated() { out[k] = b }
        put(Layout.major, 8)
        put(Layout.minor, 10)
        put(UInt32(Layout.headerSize), 12)
        put(UInt64(0), 16)
        put(UInt64(fileSize), 24)
        put(UInt64(indexOffset), 32)
        put(UInt64(indexSize), 40)
        put(UInt64(metaOffset), 48)
        put(UInt64(metaBytes.count), 56)
        put(UInt64(dataOffset), 64)
        put(UInt64(fileSize - dataOffset), 72)
        put(UInt32(sorted.count), 80)
        put(UInt32(keys.count), 84)

        var pos = indexOffset
        for (k, t) in sorted.enumerated() {
            let name = Array(t.name.utf8)
            let size = Layout.align(Layout.entryFixedSize + 8 * t.shape.count + name.count, 8)
            put(UInt32(size), pos)
            put(UInt16(name.count), pos + 4)
            out[pos + 6] = t.dtype.rawValue
            out[pos + 7] = t.codec.rawValue
            out[pos + 8] = t.shuffle ? Layout.shuffleFilter : 0
            out[pos + 9] = UInt8(t.shape.count)
            put(UInt64(offsets[k]), pos + 16)
            put(UInt64(stored[k].count), pos + 24)
            put(UInt64(t.bytes.count), pos + 32)
            put(xxh64(t.bytes), pos + 40)
            for (d, v) in t.shape.enumerated() { put(UInt64(v), pos + Layout.entryFixedSize + 8 * d) }
            let nameAt = pos + Layout.entryFixedSize + 8 * t.shape.count
            out.replaceSubrange(nameAt..<(nameAt + name.count), with: name)
            pos += size
        }
        out.replaceSubrange(metaOffset..<(metaOffset + metaBytes.count), with: metaBytes)
        for (k, s) in stored.enumerated() { out.replaceSubrange(offsets[k]..<(offsets[k] + s.count), with: s) }

        let checksum = out.withUnsafeBytes { b -> UInt64 in
            var h = XXH64()
            h.update(UnsafeRawBufferPointer(rebasing: b[0..<Layout.headerSize])) // checksum field still zero
            h.update(UnsafeRawBufferPointer(rebasing: b[indexOffset..<(metaOffset + metaBytes.count)]))
            return h.finalize()
        }
        put(checksum, Layout.checksumOffset)
        return out
    }

    /// Writes the file atomically: a temporary file in the same directory, fsync, rename over
    /// `path`, fsync of the directory. On failure the temporary file is removed.
    public func write(to path: String, progress: Progress? = nil) throws(FormatError) {
        let bytes = try serialize(progress: progress)
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !base.isEmpty else { throw FormatError(.invalidArgument, "'\(path)' names a directory, not a file") }
        var rng = SystemRandomNumberGenerator()
        let temp = (dir == "/" ? "" : dir) + "/." + base + ".tmp-" + String(rng.next() as UInt64, radix: 36)

        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FormatError(.io, "cannot create '\(temp)': \(errnoText())") }
        var ok = false
        defer { if !ok { unlink(temp) } }
        // Returns 0 or the errno of the failed call.
        let failure: Int32 = bytes.withUnsafeBytes { b in
            var done = 0
            while done < b.count {
                let n = systemWrite(fd, b.baseAddress! + done, b.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                done += n
            }
            return fsync(fd) == 0 ? 0 : errno
        }
        close(fd)
        guard failure == 0 else {
            throw FormatError(.io, "cannot write '\(temp)': \(String(cString: strerror(failure)))")
        }
        guard rename(temp, path) == 0 else {
            throw FormatError(.io, "cannot rename '\(temp)' to '\(path)': \(errnoText())")
        }
        ok = true
        // Make the rename itself durable.
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            let synced = fsync(dfd) == 0
            close(dfd)
            if !synced { throw FormatError(.io, "cannot sync directory '\(dir)': \(errnoText())") }
        }
    }

    private func compress(_ t: Pending, _ cctx: OpaquePointer) throws(FormatError) -> [UInt8] {
        var input = t.bytes
        if t.shuffle {
            var shuffled = [UInt8](repeating: 0, count: input.count)
            input.withUnsafeBytes { src in
                shuffled.withUnsafeMutableBytes { dst in shuffleBytes(src, dst, width: t.dtype.elementSize) }
            }
            input = shuffled
        }
        let bound = ZSTD_compressBound(input.count)
        guard ZSTD_isError(bound) == 0 else {
            throw FormatError(.invalidArgument, "tensor '\(t.name)' is too large for zstd", tensor: t.name)
        }
        var out = [UInt8](repeating: 0, count: bound)
        let n = out.withUnsafeMutableBytes { dst in
            input.withUnsafeBytes { src in
                ZSTD_compressCCtx(cctx, dst.baseAddress, dst.count, src.baseAddress, src.count, zstdLevel)
            }
        }
        guard ZSTD_isError(n) == 0 else {
            throw FormatError(
                .io, "tensor '\(t.name)': zstd compression failed: \(String(cString: ZSTD_getErrorName(n)))",
                tensor: t.name)
        }
        out.removeSubrange(n...)
        return out
    }
}
