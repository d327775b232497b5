/// Reads the safetensors format: an 8-byte little-endian header length N, N bytes of JSON
/// (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`), then
/// the data section the offsets are relative to.
enum SafetensorsReader {
    /// The reference implementation's cap; a larger header is corruption or a non-safetensors file.
    static let maxHeaderSize = 100_000_000

    /// Whether the bytes look like safetensors: a plausible header length followed by `{`.
    static func looksLikeSafetensors(_ view: CheckpointBytes) -> Bool {
        guard view.count >= 10, let n = try? view.u64(0), n >= 2, n <= UInt64(maxHeaderSize) else {
            return false
        }
        return (try? view.u8(8)) == UInt8(ascii: "{")
    }

    static func read(_ view: CheckpointBytes) throws -> Checkpoint {
        guard view.count >= 8 else {
            throw CheckpointError("safetensors: file is \(view.count) bytes, too short for a header")
        }
        let declared = try view.u64(0)
        guard declared <= UInt64(maxHeaderSize) else {
            throw CheckpointError(
                "safetensors: header length \(declared) exceeds the \(maxHeaderSize)-byte limit "
                    + "(not a safetensors file, or corrupt)")
        }
        let headerSize = Int(declared)
        guard headerSize <= view.count - 8 else {
            throw CheckpointError(
                "safetensors: header length \(headerSize) runs past the end of the \(view.count)-byte "
                    + "file (the file is truncated)")
        }
        let dataStart = 8 + headerSize
        let dataSize = view.count - dataStart

        let json: OrderedJSON
        do {
            json = try OrderedJSON.parse(try view.slice(8, headerSize))
        } catch let error as CheckpointError {
            throw CheckpointError("safetensors header: \(error.message)")
        }
        guard case .object(let members) = json else {
            throw CheckpointError("safetensors header is \(json.kind), expected an object")
        }

        var metadata: [String: String] = [:]
        var tensors: [CheckpointTensor] = []
        var skipped: [SkippedEntry] = []
        var ranges: [(begin: Int, end: Int, name: String)] = []

        for (name, entry) in members {
            if name == "__metadata__" {
                metadata = try readMetadata(entry)
                continue
            }
            let info = try TensorInfo(name: name, entry: entry)
            guard info.end <= dataSize else {
                throw CheckpointError(
                    "safetensors: tensor '\(name)' data_offsets [\(info.begin), \(info.end)] run past the "
                        + "end of the \(dataSize)-byte data section (the file is truncated or corrupt)")
            }
            ranges.append((info.begin, info.end, name))
            guard let dtype = TensorDType(safetensorsName: info.dtypeName) else {
                skipped.append(
                    SkippedEntry(
                        name: name, reason: "unsupported safetensors dtype \(info.dtypeName)"))
                continue
            }
            guard let size = CheckpointNumerics.byteCount(info.shape, elementSize: dtype.byteSize) else {
                throw CheckpointError("safetensors: tensor '\(name)' shape \(info.shape) overflows")
            }
            guard size == info.end - info.begin else {
                throw CheckpointError(
                    "safetensors: tensor '\(name)' of shape \(info.shape) and dtype \(info.dtypeName) "
                        + "needs \(size) bytes but data_offsets [\(info.begin), \(info.end)] span "
                        + "\(info.end - info.begin)")
            }
            let bytes = try view.copy(dataStart + info.begin, size, "tensor '\(name)'")
            tensors.append(try CheckpointTensor(name: name, dtype: dtype, shape: info.shape, bytes: bytes))
        }

        // Overlapping tensors mean a corrupt or malicious header.
        ranges.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var previous: (end: Int, name: String)? = nil
        for range in ranges where range.end > range.begin {
            if let previous, range.begin < previous.end {
                throw CheckpointError(
                    "safetensors: tensors '\(previous.name)' and '\(range.name)' overlap in the data section")
            }
            previous = (range.end, range.name)
        }

        return try Checkpoint(
            tensors: tensors, format: "safetensors", metadata: metadata, skipped: skipped)
    }

    private static func readMetadata(_ entry: OrderedJSON) throws -> [String: String] {
        guard case .object(let pairs) = entry else {
            throw CheckpointError("safetensors: __metadata__ is \(entry.kind), expected an object")
        }
        var metadata: [String: String] = [:]
        for (key, value) in pairs {
            guard case .string(let text) = value else {
                throw CheckpointError(
                    "safetensors: __metadata__[\"\(key)\"] is \(value.kind), expected a string")
            }
            metadata[key] = text
        }
        return metadata
    }

    /// One header entry, validated except for its dtype.
    private struct TensorInfo {
        let dtypeName: String
        let shape: [Int]
        let begin: Int
        let end: Int

        init(name: String, entry: OrderedJSON) throws {
            func fail(_ what: String) -> CheckpointError {
                CheckpointError("safetensors: tensor '\(name)': \(what)")
            }
            guard case .object(let fields) = entry else { throw fail("entry is \(entry.kind)") }
            func field(_ key: String) throws -> OrderedJSON {
                guard let value = fields.first(where: { $0.key == key })?.value else {
                    throw fail("missing \"\(key)\"")
                }
                return value
            }
            guard case .string(let dtypeName) = try field("dtype") else {
                throw fail("\"dtype\" is not a string")
            }
            guard case .array(let dims) = try field("shape") else {
                throw fail("\"shape\" is not an array")
            }
            guard dims.count <= 64 else { throw fail("\(dims.count) dimensions") }
            var shape: [Int] = []
            for dim in dims {
                guard case .int(let value) = dim, value >= 0 else {
                    throw fail("\"shape\" holds something other than non-negative integers")
                }
                shape.append(value)
            }
            guard case .array(let offsets) = try field("data_offsets"), offsets.count == 2,
                case .int(let begin) = offsets[0], case .int(let end) = offsets[1],
                begin >= 0, end >= begin
            else {
                throw fail("\"data_offsets\" must be two integers 0 <= begin <= end")
            }
            self.dtypeName = dtypeName
            self.shape = shape
            self.begin = begin
            self.end = end
        }
    }
}
