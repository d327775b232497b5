/// Reads `torch.save` zip checkpoints: `<archive>/data.pkl` (unpickled by the restricted
/// `Unpickler`), `<archive>/data/<key>` raw storages, `<archive>/byteorder`.
enum TorchZipReader {
    static func read(_ view: CheckpointBytes) throws -> Checkpoint {
        let archive = try ZipArchive(view)
        let (prefix, pickleEntry) = try findPickle(archive)

        if let order = archive.entry(named: prefix + "byteorder") {
            let text = String(decoding: try archive.data(of: order), as: UTF8.self)
            guard text == "little" else {
                throw CheckpointError(
                    "torch checkpoint: byte order '\(text)' is not supported (only little-endian)")
            }
        }

        var unpickler = Unpickler(
            bytes: try archive.data(of: pickleEntry), source: pickleEntry.name,
            persistentLoad: TorchPickleSemantics.persistentStorage)
        let root = try unpickler.load()
        let arena = unpickler.arena

        let located = try StateDictLocator.locate(root, in: arena)
        var storages = StorageCache(archive: archive, prefix: prefix)
        var tensors: [CheckpointTensor] = []
        var skipped: [SkippedEntry] = []
        let budget = view.count.multipliedReportingOverflow(by: 4).partialValue &+ (1 << 28)
        var materialized = 0
        for (key, value) in located.entries {
            guard case .string(let name) = key else {
                skipped.append(
                    SkippedEntry(
                        name: "<\(arena.kind(key)) key>", reason: "state-dict keys must be strings"))
                continue
            }
            if case .object(let index) = value, arena.isTensorLike(value) {
                // Meta, quantized, sparse or numpy-backed tensors: no raw storage to read.
                throw CheckpointError(
                    "tensor '\(name)' has no storage in the archive: it is rebuilt by "
                        + "torch._utils.\(arena.objects[index].name), which this reader does not support")
            }
            guard case .tensor(let tensor) = value else {
                skipped.append(SkippedEntry(name: name, reason: "not a tensor (\(arena.kind(value)))"))
                continue
            }
            guard let dtype = tensor.storage.dtype else {
                skipped.append(
                    SkippedEntry(
                        name: name, reason: "unsupported storage type \(tensor.storage.typeName)"))
                continue
            }
            // Views may overlap (stride 0, tied weights), so a tiny file could ask for terabytes.
            if let size = CheckpointNumerics.byteCount(tensor.size, elementSize: dtype.byteSize) {
                materialized = materialized.addingReportingOverflow(size).partialValue
                guard materialized >= 0, materialized <= budget else {
                    throw CheckpointError(
                        "tensor '\(name)': the tensors expand to more than \(budget) bytes from a "
                            + "\(view.count)-byte file; overlapping views this large mean a corrupt or "
                            + "hostile checkpoint")
                }
            }
            let storage = try storages.bytes(of: tensor.storage, dtype: dtype, tensor: name)
            let bytes = try gather(tensor, dtype: dtype, storage: storage, name: name)
            tensors.append(try CheckpointTensor(name: name, dtype: dtype, shape: tensor.size, bytes: bytes))
        }
        return try Checkpoint(
            tensors: tensors, format: "torch-zip", stateDictKey: located.path, skipped: skipped,
            extras: StoredValue.extras(root, stateDictPath: located.path, arena: arena))
    }

    /// The pickle is `<archive>/data.pkl`, where `<archive>` is whatever folder name torch chose.
    private static func findPickle(_ archive: ZipArchive) throws -> (String, ZipArchive.Entry) {
        for entry in archive.entries where entry.name.hasSuffix("data.pkl") {
            let parts = entry.name.split(separator: "/", omittingEmptySubsequences: false)
            if parts.count == 2 && parts[1] == "data.pkl" { return (parts[0] + "/", entry) }
            if parts.count == 1 && parts[0] == "data.pkl" { return ("", entry) }
        }
        let names = archive.entries.prefix(5).map(\.name).joined(separator: ", ")
        throw CheckpointError(
            "zip archive has no <archive>/data.pkl, so it is not a torch checkpoint (entries: \(names))")
    }

    /// Storages read once each; several tensors may view the same one (tied weights).
    private struct StorageCache {
        let archive: ZipArchive
        let prefix: String
        var cache: [String: [UInt8]] = [:]

        mutating func bytes(of storage: PickleStorage, dtype: TensorDType, tensor: String) throws
            -> [UInt8]
        {
            if let bytes = cache[storage.key] { return bytes }
            let entryName = prefix + "data/" + storage.key
            guard let entry = archive.entry(named: entryName) else {
                throw CheckpointError(
                    "tensor '\(tensor)' has no storage: '\(entryName)' is not in the archive")
            }
            guard let expected = CheckpointNumerics.multiply(storage.elementCount, dtype.byteSize),
                expected == entry.uncompressedSize
            else {
                throw CheckpointError(
                    "storage '\(entryName)' holds \(entry.uncompressedSize) bytes but the pickle declares "
                        + "\(storage.elementCount) elements of \(dtype) (corrupt checkpoint)")
            }
            let bytes = Array(try archive.data(of: entry))
            cache[storage.key] = bytes
            return bytes
        }
    }

    /// The tensor's elements in C order, gathered from its strided view of the storage.
    static func gather(
        _ tensor: PickleTensor, dtype: TensorDType, storage: [UInt8], name: String
    ) throws -> [UInt8] {
        let size = tensor.size
        // A stride of a length-1 dimension is never used; zero it so it cannot overflow the walk.
        let stride = zip(size, tensor.stride).map { $0 == 1 ? 0 : $1 }
        let elementSize = dtype.byteSize
        let storageCount = storage.count / elementSize
        func fail(_ what: String) -> CheckpointError {
            CheckpointError("tensor '\(name)': \(what)")
        }
        guard size.count == tensor.stride.count else {
            throw fail("size \(size) and stride \(tensor.stride) differ in rank")
        }
        guard size.count <= 64 else { throw fail("\(size.count) dimensions") }
        guard let count = CheckpointNumerics.product(size) else { throw fail("invalid size \(size)") }
        guard tensor.offset >= 0, stride.allSatisfy({ $0 >= 0 }) else {
            throw fail("negative storage offset or stride (offset \(tensor.offset), stride \(stride))")
        }
        if count == 0 { return [] }

        // The farthest element the view touches must lie inside the storage.
        var last = tensor.offset
        for (extent, step) in zip(size, stride) {
            guard let reach = CheckpointNumerics.multiply(extent - 1, step) else { throw fail("stride overflow") }
            let (sum, overflow) = last.addingReportingOverflow(reach)
            guard !overflow else { throw fail("stride overflow") }
            last = sum
        }
        guard last < storageCount else {
            throw fail(
                "view (offset \(tensor.offset), size \(size), stride \(stride)) reaches element \(last) "
                    + "of a \(storageCount)-element storage")
        }

        var contiguous = true
        var expected = 1
        for (extent, step) in zip(size, stride).reversed() where extent != 1 {
            if step != expected { contiguous = false }
            expected *= extent
        }
        let start = tensor.offset * elementSize
        let byteCount = count * elementSize
        if contiguous {
            if start == 0 && byteCount == storage.count { return storage } // shares the buffer
            return Array(storage[start..<start + byteCount])
        }

        // Non-contiguous: walk the outer indices like an odometer, copying innermost rows.
        var out = [UInt8](repeating: 0, count: byteCount)
        let rank = size.count
        let rowLength = size[rank - 1]
        let rowStride = stride[rank - 1]
        var index = [Int](repeating: 0, count: rank - 1)
        var base = tensor.offset
        var written = 0
        storage.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                while written < byteCount {
                    if rowStride == 1 {
                        dst.baseAddress!.advanced(by: written).copyMemory(
                            from: src.baseAddress!.advanced(by: base * elementSize),
                            byteCount: rowLength * elementSize)
                        written += rowLength * elementSize
                    } else {
                        for j in 0..<rowLength {
                            dst.baseAddress!.advanced(by: written).copyMemory(
                                from: src.baseAddress!.advanced(by: (base + j * rowStride) * elementSize),
                                byteCount: elementSize)
                            written += elementSize
                        }
                    }
                    // Advance the outer index, last outer dimension fastest.
                    var d = rank - 2
                    while d >= 0 {
                        index[d] += 1
                        base += stride[d]
                        if index[d] < size[d] { break }
                        base -= stride[d] * size[d]
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }
        return out
    }
}
