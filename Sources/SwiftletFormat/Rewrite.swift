extension SWLWriter {
    /// A writer holding every tensor and metadata value of `file`, each tensor with the codec and
    /// filter it was stored with, so that a tool can change metadata and write the file again
    /// (`swiftlet profile`). Every tensor is read and its checksum verified on the way.
    public init(copying file: SWLFile) throws(FormatError) {
        self.init()
        for (key, value) in file.metadata where key != "general.tensor_hash" {
            setMetadata(key, value)
        }
        for entry in file.tensors {
            guard let dtype = entry.dtype, let codec = entry.codec else {
                throw FormatError(
                    .unsupportedDType, "tensor '\(entry.name)' uses a data type or codec this Swiftlet does not know",
                    tensor: entry.name)
            }
            let bytes = try file.rawBytes(entry.name, verifyChecksum: true)
            try addTensor(
                name: entry.name, dtype: dtype, shape: entry.shape, bytes: Array(bytes), codec: codec,
                shuffle: entry.shuffle)
            file.releasePages(entry.name)
        }
    }
}

/// What ``SWLWriter/quantized(_:to:rule:)`` changed.
public struct QuantizeSummary: Sendable {
    /// The tensors re-encoded, in file order.
    public var tensors: [String] = []
    /// Their raw bytes before and after.
    public var bytesBefore = 0
    public var bytesAfter = 0
    /// Metadata keys left out: a quality profile (`quality.*`) scores the weights it was measured
    /// with, so it does not describe the new ones.
    public var droppedKeys: [String] = []
}

extension Quantize {
    /// `values` (a tensor of `shape`) as the raw bytes of `dtype`: f32, f16, bf16, or q8_row with one
    /// scale per row of the last dimension. Nil for another type or a count that does not match.
    public static func bytes(_ values: [Float], as dtype: DType, shape: [Int]) -> [UInt8]? {
        guard let count = elementCount(shape), count == values.count else { return nil }
        switch dtype {
        case .f32: return f32Bytes(values)
        case .f16: return f16Bytes(values)
        case .bf16: return bf16Bytes(values)
        case .q8Row:
            guard let cols = shape.last, cols > 0 else { return nil }
            return q8RowBytes(values, rows: count / cols, cols: cols)
        case .q4Block:
            guard let cols = shape.last, cols > 0 else { return nil }
            return q4BlockBytes(values, rows: count / cols, cols: cols)
        case .i32, .i64, .u8: return nil
        }
    }
}

extension SWLWriter {
    /// A copy of `file` whose compactable tensors (`rule`) are stored as `dtype`, everything else as
    /// it was (each tensor's codec kept); a quality profile is left out (see ``QuantizeSummary``).
    ///
    /// Refused (`.invalidArgument`, one line saying why) when `dtype` is not one the family reads in
    /// place, when the file has no compactable tensor, when a compactable tensor is already stored
    /// as `dtype` or at a lower precision (``CompactWeights/precisionRank(_:)``: rounding rounded values
    /// again), when the file lacks the rule's `requiredMetadata`, and for q8_row and q4_block when a tensor holds a
    /// non-finite value. A rule with a `relayout` writes its tensors in place of each compactable one.
    public static func quantized(
        _ file: SWLFile, to dtype: DType, rule: CompactWeights
    ) throws(FormatError) -> (writer: SWLWriter, summary: QuantizeSummary) {
        let family = file.family ?? "this"
        guard rule.dtypes.contains(dtype) else {
            let offered =
                rule.dtypes.isEmpty
                ? "none" : rule.dtypes.map { $0 == .q8Row ? "q8" : $0.name }.joined(separator: ", ")
            throw FormatError(
                .invalidArgument,
                "a \(family) model cannot use \(dtype.name) weights: \(rule.note.map { $0 + "; " } ?? "")compact types it reads in place: \(offered)"
            )
        }
        for (key, value) in rule.requiredMetadata.sorted(by: { $0.key < $1.key }) where file.metadata[key] != value {
            func shown(_ v: MetadataValue?) -> String {
                guard let v else { return "none" }
                if case .string(let s) = v { return "'\(s)'" }
                return "\(v)"
            }
            throw FormatError(
                .invalidArgument,
                "a \(family) model is quantized from its float32 weights (\(key) \(shown(value))), this file has \(shown(file.metadata[key])): quantize the f32 file, or convert the checkpoint with --dtype \(dtype == .q8Row ? "q8" : dtype.name)"
            )
        }
        let targets = file.tensors.filter { rule.isCompactable($0.name, $0.shape) && !rule.keeps($0.name, dtype) }
        guard !targets.isEmpty else {
            throw FormatError(.invalidArgument, "the \(family) file has no weight matrix that may be stored compactly")
        }
        let target = CompactWeights.precisionRank(dtype) ?? 0
        for t in targets {
            guard let have = t.dtype, let rank = CompactWeights.precisionRank(have) else {
                throw FormatError(
                    .unsupportedDType, "tensor '\(t.name)' is stored as \(t.dtypeName), not a float type",
                    tensor: t.name)
            }
            if have == dtype {
                throw FormatError(
                    .invalidArgument,
                    "the weights are already \(dtype.name) (tensor '\(t.name)'): nothing to do", tensor: t.name)
            }
            if rank < target {
                throw FormatError(
                    .invalidArgument,
                    "tensor '\(t.name)' is stored as \(have.name), which is less precise than \(dtype.name): quantize the f32 file, or convert the checkpoint with --dtype \(dtype == .q8Row ? "q8" : dtype.name)",
                    tensor: t.name)
            }
        }
        var writer = SWLWriter()
        var summary = QuantizeSummary()
        for (key, value) in file.metadata where key != "general.tensor_hash" {
            if key.hasPrefix("quality.") {
                summary.droppedKeys.append(key)
                continue
            }
            writer.setMetadata(key, value)
        }
        summary.droppedKeys.sort()
        for (key, value) in rule.metadata(dtype) { writer.setMetadata(key, value) }
        let names = Set(targets.map(\.name))
        for entry in file.tensors {
            guard let stored = entry.dtype, let codec = entry.codec else {
                throw FormatError(
                    .unsupportedDType, "tensor '\(entry.name)' uses a data type or codec this Swiftlet does not know",
                    tensor: entry.name)
            }
            guard names.contains(entry.name) else {
                let bytes = try file.rawBytes(entry.name, verifyChecksum: true)
                try writer.addTensor(
                    name: entry.name, dtype: stored, shape: entry.shape, bytes: Array(bytes), codec: codec,
                    shuffle: entry.shuffle)
                file.releasePages(entry.name)
                continue
            }
            _ = try file.rawBytes(entry.name, verifyChecksum: true)
            let values = Array(try file.floats(entry.name))
            if dtype == .q8Row || dtype == .q4Block, let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw FormatError(
                    .invalidArgument,
                    "tensor '\(entry.name)' holds \(values[bad]) at index \(bad): non-finite weights cannot be stored as \(dtype.name)",
                    tensor: entry.name)
            }
            if let relayout = rule.relayout {
                // Another layout: the family's tensors replace this one, each with this one's codec.
                for t in try relayout(file, entry.name, values, dtype) {
                    try writer.addTensor(
                        name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.bytes, codec: codec,
                        shuffle: codec == .zstd && t.dtype.elementSize > 1)
                    summary.bytesAfter += t.bytes.count
                }
                summary.tensors.append(entry.name)
                summary.bytesBefore += entry.rawSize
                file.releasePages(entry.name)
                continue
            }
            guard let bytes = Quantize.bytes(values, as: dtype, shape: entry.shape) else {
                throw FormatError(
                    .invalidArgument,
                    "tensor '\(entry.name)' of shape \(entry.shape) cannot be stored as \(dtype.name)",
                    tensor: entry.name)
            }
            // zstd stays zstd; the byte shuffle groups the bytes of multi-byte elements only.
            try writer.addTensor(
                name: entry.name, dtype: dtype, shape: entry.shape, bytes: bytes, codec: codec,
                shuffle: codec == .zstd && dtype.elementSize > 1)
            summary.tensors.append(entry.name)
            summary.bytesBefore += entry.rawSize
            summary.bytesAfter += bytes.count
            file.releasePages(entry.name)
        }
        return (writer, summary)
    }
}
