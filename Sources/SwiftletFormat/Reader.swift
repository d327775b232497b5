import CZstd

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// How a reader checks tensor checksums.
public struct ReadOptions: Sendable {
    public enum Verify: Sendable {
        /// Every tensor when the file is opened (zstd tensors are decoded then, and cached).
        case eager
        /// Each tensor the first time it is read.
        case onFirstUse
        /// Never, unless `verifyAll` is called. The header checksum is always checked.
        case never
    }

    public var verify: Verify

    public init(verify: Verify = .onFirstUse) {
        self.verify = verify
    }
}

/// Whether a tensor's checksum has been checked.
public enum ChecksumState: Sendable, Equatable {
    case verified
    case unverified
    case failed
}

/// A validated, read-only `.swl` file (Formats/swl.md).
///
/// Opening validates the header, index and metadata completely. Tensor bytes are returned in place
/// for `raw` tensors and decoded once (then cached) for `zstd` ones; every pointer handed out stays
/// valid while this object lives. Safe for concurrent readers.
public final class SWLFile: @unchecked Sendable {
    public let major: UInt16
    public let minor: UInt16
    public let fileSize: Int
    /// Index entries in file order (sorted by name).
    public let tensors: [TensorEntry]
    public let metadata: [String: MetadataValue]
    /// Metadata keys in file order (sorted).
    public let metadataKeys: [String]

    private enum Storage {
        case mapped
        case owned
        case borrowed
    }

    private let bytes: UnsafeRawBufferPointer
    private let storage: Storage
    private let options: ReadOptions
    private let byName: [String: Int]

    // Guarded by `lock`.
    private let lock = Lock()
    private var states: [ChecksumState]
    private var decoded: [Int: UnsafeMutableRawBufferPointer] = [:]
    private var floatCache: [Int: UnsafeMutableRawBufferPointer] = [:]
    private var dctx: OpaquePointer? = nil

    /// Opens and memory-maps a file read-only.
    public convenience init(path: String, options: ReadOptions = .init()) throws(FormatError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FormatError(.io, "cannot open '\(path)': \(errnoText())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FormatError(.io, "cannot stat '\(path)': \(errnoText())") }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw FormatError(.io, "'\(path)' is not a regular file")
        }
        let size = Int(st.st_size)
        guard size > 0 else { throw FormatError(.truncated, "'\(path)' is empty (0 bytes)") }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0),
            p != UnsafeMutableRawPointer(bitPattern: -1)
        else {
            throw FormatError(.io, "cannot map '\(path)' (\(size) bytes): \(errnoText())")
        }
        let buffer = UnsafeRawBufferPointer(start: p, count: size)
        let parsed: ParsedFile
        do {
            parsed = try parseFile(buffer)
        } catch {
            munmap(p, size)
            throw error
        }
        try self.init(parsed, buffer, .mapped, options)
    }

    /// Reads a file held in memory. With `copy: false` the bytes are used in place and must stay
    /// valid and unchanged while this object lives.
    public convenience init(bytes: UnsafeRawBufferPointer, copy: Bool, options: ReadOptions = .init())
        throws(FormatError)
    {
        guard copy, bytes.count > 0 else {
            try self.init(try parseFile(bytes), bytes, .borrowed, options)
            return
        }
        let parsed = try parseFile(bytes)
        let owned = try allocateAligned(bytes.count, alignment: 4096)
        owned.copyMemory(from: bytes)
        try self.init(parsed, UnsafeRawBufferPointer(owned), .owned, options)
    }

    private init(
        _ parsed: ParsedFile, _ bytes: UnsafeRawBufferPointer, _ storage: Storage,
        _ options: ReadOptions
    ) throws(FormatError) {
        major = parsed.major
        minor = parsed.minor
        fileSize = parsed.fileSize
        tensors = parsed.tensors
        metadata = parsed.metadata
        metadataKeys = parsed.metadataKeys
        self.bytes = bytes
        self.storage = storage
        self.options = options
        var map: [String: Int] = [:]
        map.reserveCapacity(parsed.tensors.count)
        for (i, t) in parsed.tensors.enumerated() { map[t.name] = i }
        byName = map
        states = Array(repeating: .unverified, count: parsed.tensors.count)
        if options.verify == .eager { try verifyAll() }
    }

    deinit {
        for b in decoded.values { freeAligned(b) }
        for b in floatCache.values { freeAligned(b) }
        if let dctx { ZSTD_freeDCtx(dctx) }
        switch storage {
        case .mapped: munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
        case .owned: free(UnsafeMutableRawPointer(mutating: bytes.baseAddress))
        case .borrowed: break
        }
    }

    /// The index entry of a tensor.
    public func entry(_ name: String) -> TensorEntry? {
        byName[name].map { tensors[$0] }
    }

    /// `general.family`, if present and a string.
    public var family: String? {
        if case .string(let s)? = metadata["general.family"] { return s }
        return nil
    }

    public func checksumState(_ name: String) -> ChecksumState {
        guard let i = byName[name] else { return .unverified }
        return lock.withLock { states[i] }
    }

    /// The decoded bytes of a tensor: in place for `raw`, decoded once and cached for `zstd`.
    /// The checksum is verified according to the read options.
    public func rawBytes(_ name: String) throws(FormatError) -> UnsafeRawBufferPointer {
        try rawBytes(name, verifyChecksum: options.verify != .never)
    }

    /// `rawBytes` with an explicit choice: `verifyChecksum: false` skips the hash, so a large `raw`
    /// tensor read sparsely (a lookup table) is only paged in where it is touched. A tensor whose
    /// checksum already failed still throws.
    public func rawBytes(_ name: String, verifyChecksum: Bool) throws(FormatError) -> UnsafeRawBufferPointer {
        let i = try lookup(name)
        guard tensors[i].dtype != nil else { throw unknownDType(tensors[i]) }
        return try decodedBytes(i, verify: verifyChecksum)
    }

    /// Tells the kernel that a mapped `raw` tensor's pages are not needed now: they leave this
    /// process's resident memory and are read again from the file (usually from the page cache) when
    /// touched. For a large tensor read sparsely after hashing it in full (MemoryFormer's tables), so
    /// that only the rows in use stay resident. No effect on files read from memory, zstd tensors or
    /// the pages a tensor shares with its neighbours.
    public func releasePages(_ name: String) {
        guard storage == .mapped, let i = byName[name], tensors[i].codec == .raw, let base = bytes.baseAddress else {
            return
        }
        let page = max(Int(sysconf(Int32(_SC_PAGESIZE))), 1)
        let start = Int(bitPattern: base) + tensors[i].offset
        let first = (start + page - 1) / page * page
        let end = (start + tensors[i].storedSize) / page * page
        guard end > first else { return }
        // A read-only private mapping has no private copies to lose: the pages come back unchanged.
        _ = madvise(UnsafeMutableRawPointer(bitPattern: first), end - first, MADV_DONTNEED)
    }

    /// A tensor as float32: `f32` in place (copied once if the memory is not 4-byte aligned);
    /// `f16`, `bf16` and `q8_row` dequantized once and cached.
    public func floats(_ name: String) throws(FormatError) -> UnsafeBufferPointer<Float> {
        let i = try lookup(name)
        let t = tensors[i]
        guard let dtype = t.dtype else { throw unknownDType(t) }
        guard dtype.isFloat else {
            throw FormatError(
                .wrongType, "tensor '\(name)' is \(dtype.name), not a float tensor (f32, f16, bf16 or q8_row)",
                tensor: name)
        }
        let raw = try decodedBytes(i, verify: options.verify != .never)
        let count = t.elementCount
        if dtype == .f32, let p = raw.baseAddress, Int(bitPattern: p) % MemoryLayout<Float>.alignment == 0 {
            return UnsafeBufferPointer(start: p.assumingMemoryBound(to: Float.self), count: count)
        }
        if let cached = lock.withLock({ floatCache[i] }) {
            return UnsafeBufferPointer(cached.bindMemory(to: Float.self))
        }
        let (bytes, o) = count.multipliedReportingOverflow(by: 4)
        guard !o else { throw FormatError(.tooLarge, "tensor '\(name)' is too large to read as float32", tensor: name) }
        let buffer = try allocateAligned(bytes, for: name)
        let out = buffer.bindMemory(to: Float.self)
        Quantize.dequantize(dtype, raw, shape: t.shape, into: out)
        // Another thread may have filled the cache meanwhile; keep one copy.
        let kept: UnsafeMutableRawBufferPointer = lock.withLock {
            if let existing = floatCache[i] { return existing }
            floatCache[i] = buffer
            return buffer
        }
        if kept.baseAddress != buffer.baseAddress { freeAligned(buffer) }
        return UnsafeBufferPointer(kept.bindMemory(to: Float.self))
    }

    /// Verifies every tensor checksum now (zstd tensors are decoded and cached). Tensors with an
    /// unknown codec or filter, and zstd tensors of an unknown data type (nothing bounds their
    /// decoded size), are skipped: they fail only when used.
    public func verifyAll() throws(FormatError) {
        for (i, t) in tensors.enumerated() {
            guard let codec = t.codec, t.filters & ~Layout.knownFilters == 0 else { continue }
            if codec == .zstd && t.dtype == nil { continue }
            _ = try decodedBytes(i, verify: true)
        }
    }

    // MARK: - Internals

    private func lookup(_ name: String) throws(FormatError) -> Int {
        guard let i = byName[name] else {
            throw FormatError(.notFound, "no tensor named '\(name)' in the file", tensor: name)
        }
        return i
    }

    private func unknownDType(_ t: TensorEntry) -> FormatError {
        FormatError(
            .unsupportedDType,
            "tensor '\(t.name)' has data type code \(t.dtypeCode), which this runtime does not know: it needs a newer Swiftlet",
            tensor: t.name)
    }

    private func checksumError(_ t: TensorEntry, _ actual: UInt64?) -> FormatError {
        let detail = actual.map { ", computed \(hex($0))" } ?? ""
        return FormatError(
            .checksum,
            "tensor '\(t.name)': checksum mismatch (stored \(hex(t.checksum))\(detail)): the file is damaged; download or convert it again",
            tensor: t.name)
    }

    private func decodedBytes(_ i: Int, verify: Bool) throws(FormatError) -> UnsafeRawBufferPointer {
        let t = tensors[i]
        guard let codec = t.codec else {
            throw FormatError(
                .unsupportedCodec,
                "tensor '\(t.name)' uses codec code \(t.codecCode), which this runtime does not know: it needs a newer Swiftlet",
                tensor: t.name)
        }
        guard t.filters & ~Layout.knownFilters == 0 else {
            throw FormatError(
                .unsupportedCodec,
                "tensor '\(t.name)' uses unknown filter bits 0x\(String(t.filters, radix: 16)): it needs a newer Swiftlet",
                tensor: t.name)
        }
        let stored = UnsafeRawBufferPointer(rebasing: bytes[t.offset..<(t.offset + t.storedSize)])
        switch codec {
        case .raw:
            let state = lock.withLock { states[i] }
            if state == .failed { throw checksumError(t, nil) }
            if verify && state == .unverified {
                // Hash outside the lock so that threads can verify different tensors at once.
                let h = xxh64(stored)
                let ok = h == t.checksum
                lock.withLock { states[i] = ok ? .verified : .failed }
                if !ok { throw checksumError(t, h) }
            }
            return stored
        case .zstd:
            return try lock.withLock { () throws(FormatError) -> UnsafeRawBufferPointer in
                if states[i] == .failed { throw checksumError(t, nil) }
                if let cached = decoded[i] {
                    if verify && states[i] == .unverified { try check(i, UnsafeRawBufferPointer(cached)) }
                    return UnsafeRawBufferPointer(cached)
                }
                let out = try decompress(t, stored)
                if verify {
                    do throws(FormatError) { try check(i, UnsafeRawBufferPointer(out)) } catch {
                        freeAligned(out)
                        throw error
                    }
                }
                decoded[i] = out
                return UnsafeRawBufferPointer(out)
            }
        }
    }

    /// Checks a tensor's decoded bytes; call with the lock held.
    private func check(_ i: Int, _ raw: UnsafeRawBufferPointer) throws(FormatError) {
        let h = xxh64(raw)
        if h == tensors[i].checksum {
            states[i] = .verified
        } else {
            states[i] = .failed
            throw checksumError(tensors[i], h)
        }
    }

    /// Decodes one zstd tensor into a new buffer; call with the lock held (the DCtx is shared).
    private func decompress(_ t: TensorEntry, _ src: UnsafeRawBufferPointer) throws(FormatError)
        -> UnsafeMutableRawBufferPointer
    {
        func fail(_ msg: String) -> FormatError {
            FormatError(
                .decompression, "tensor '\(t.name)': \(msg): the file is damaged; download or convert it again",
                tensor: t.name)
        }
        // Nothing is allocated before the size is bounded: raw_size by the dtype and shape (so a
        // tensor of unknown dtype is never decoded) and by what the stored bytes can hold, and the
        // frame's own content size must equal it.
        guard let dtype = t.dtype else { throw unknownDType(t) }
        guard dtype.rawSize(shape: t.shape) == t.rawSize, Layout.zstdCanHold(stored: src.count, raw: t.rawSize) else {
            throw fail(
                "\(t.rawSize) decoded bytes are impossible for a \(dtype.name) tensor of shape \(t.shape) in \(src.count) stored bytes"
            )
        }
        let content = ZSTD_getFrameContentSize(src.baseAddress, src.count)
        if content == UInt64.max { throw fail("the zstd frame does not record its content size") }
        if content == UInt64.max - 1 { throw fail("the stored bytes are not a valid zstd frame") }
        guard content == UInt64(t.rawSize) else {
            throw fail("the zstd frame holds \(content) bytes but the index says \(t.rawSize)")
        }
        let frameSize = ZSTD_findFrameCompressedSize(src.baseAddress, src.count)
        guard ZSTD_isError(frameSize) == 0, frameSize == src.count else {
            throw fail("the stored bytes are not exactly one zstd frame")
        }
        if dctx == nil { dctx = ZSTD_createDCtx() }
        guard let dctx else {
            throw FormatError(.io, "cannot create a zstd decompression context: out of memory", tensor: t.name)
        }
        let out = try allocateAligned(t.rawSize, for: t.name)
        var target = out
        var scratch: UnsafeMutableRawBufferPointer? = nil
        if t.shuffle {
            do { scratch = try allocateAligned(t.rawSize, for: t.name) } catch {
                freeAligned(out)
                throw error
            }
            target = scratch!
        }
        defer { if let scratch { freeAligned(scratch) } }
        let n = ZSTD_decompressDCtx(dctx, target.baseAddress, t.rawSize, src.baseAddress, src.count)
        if ZSTD_isError(n) != 0 {
            freeAligned(out)
            throw fail("zstd: \(String(cString: ZSTD_getErrorName(n)))")
        }
        guard n == t.rawSize else {
            freeAligned(out)
            throw fail("zstd produced \(n) bytes, expected \(t.rawSize)")
        }
        if let scratch {
            unshuffleBytes(UnsafeRawBufferPointer(scratch), out, width: dtype.elementSize)
        }
        return out
    }
}

func hex(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 16 - s.count) + s
}
