/// Which tensors of a family's file may be stored in a compact element type, and which compact types
/// its loader reads *in place* (never widened to float32 whole at load): what `swiftlet quantize`
/// may write. Each family's rule sits beside its schema (below); `FamilyRegistry.compactWeights`
/// finds it by `general.family`.
public struct CompactWeights: Sendable {
    /// The compact types the loader uses in place, most precise first.
    public let dtypes: [DType]
    /// Whether a tensor of the file (by name and stored shape) is one of the matrices that may be
    /// compact.
    public let isCompactable: @Sendable (_ name: String, _ shape: [Int]) -> Bool
    /// Metadata the family keeps in step with the stored type of those tensors (MemoryFormer's
    /// `memoryformer.table_dtype`).
    public let metadata: @Sendable (DType) -> [String: MetadataValue]
    /// Why a dtype the format has is not offered, when the family explains it (shown by refusals).
    public let note: String?
    /// Compactable tensors that a given dtype leaves as they are (MemoryFormer's tables have no bf16
    /// kernel).
    public let keeps: @Sendable (_ name: String, _ dtype: DType) -> Bool
    /// Metadata the file must hold to be quantized (ViT: only its float32 panel layout is repacked).
    public let requiredMetadata: [String: MetadataValue]
    /// For a family whose compact types store a matrix in another layout (ViT's panels): the tensors
    /// that replace compactable tensor `name` (its float32 `values`, in the stored layout) when it is
    /// stored as `dtype`. Nil: a tensor keeps its shape and is re-encoded element by element
    /// (`Quantize.bytes`).
    public let relayout:
        (
            @Sendable (_ file: SWLFile, _ name: String, _ values: [Float], _ dtype: DType) throws(FormatError) ->
                [RelaidTensor]
        )?

    public init(
        dtypes: [DType], note: String? = nil,
        metadata: @escaping @Sendable (DType) -> [String: MetadataValue] = { _ in [:] },
        keeps: @escaping @Sendable (_ name: String, _ dtype: DType) -> Bool = { _, _ in false },
        requiredMetadata: [String: MetadataValue] = [:],
        relayout: (
            @Sendable (_ file: SWLFile, _ name: String, _ values: [Float], _ dtype: DType) throws(FormatError) ->
                [RelaidTensor]
        )? = nil,
        isCompactable: @escaping @Sendable (_ name: String, _ shape: [Int]) -> Bool
    ) {
        self.dtypes = dtypes
        self.note = note
        self.metadata = metadata
        self.keeps = keeps
        self.requiredMetadata = requiredMetadata
        self.relayout = relayout
        self.isCompactable = isCompactable
    }

    /// Precision order of the float types: f32 > f16 > bf16 > q8_row > q4_block (f16 keeps 11
    /// significant bits, bf16 8, q8_row 8 relative to each row's largest magnitude, q4_block 4
    /// relative to each block of 32's). Re-rounding to a type of lower
    /// precision is allowed; to the same or a higher one it would only claim precision the values no
    /// longer have.
    public static func precisionRank(_ dtype: DType) -> Int? {
        switch dtype {
        case .f32: 3
        case .f16: 2
        case .bf16: 1
        case .q8Row: 0
        case .q4Block: -1
        case .i32, .i64, .u8: nil
        }
    }
}

/// A tensor written in place of a compactable one by a family whose compact types change the stored
/// layout (``CompactWeights/relayout``).
public struct RelaidTensor: Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// The raw bytes (`dtype`'s encoding, `raw_size` of `shape`).
    public let bytes: [UInt8]

    public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }
}

extension LoopFormerSchema {
    /// The token embedding (also the tied LM head) and the five matrices of every block, used in
    /// place as f16, bf16 or q8_row (`LoopFormerModel`); the timestep embedders stay float32.
    public static let compactWeights = CompactWeights(dtypes: [.f16, .bf16, .q8Row]) { name, shape in
        guard shape.count == 2 else { return false }
        if name == tokenEmbedding { return true }
        guard name.hasPrefix(blockPrefix) else { return false }
        let matrices: [BlockTensor] = [.qkvWeight, .attnProjWeight, .fcWeight, .mlpProjWeight, .adaLNWeight]
        return matrices.contains { name.hasSuffix("." + $0.rawValue) }
    }
}

extension LMUFormerSchema {
    /// The patch-embedding convolutions, the block matrices and the head, read in place as f16, bf16
    /// or q8_row (`LMUFormerModel.matrix`, `Weights.compactMatrix`; a convolution `[3, in, out]` is
    /// 3·in rows of `out`, one q8_row scale per row).
    public static let compactWeights = CompactWeights(dtypes: [.f16, .bf16, .q8Row]) { name, _ in
        if name == headWeight { return true }
        if (0..<patchConvolutions).contains(where: { name == patch($0, .weight) }) { return true }
        guard name.hasPrefix("block.") else { return false }
        let matrices: [BlockTensor] = [.hWeight, .projWeight, .fc1Weight, .fc2Weight]
        return matrices.contains { name.hasSuffix("." + $0.rawValue) }
    }
}

extension MemoryFormerSchema {
    /// The hash tables, read in place as f16, q8_row or q4_block (`memoryformer.table_dtype` records
    /// which), and the embedding and LM head, read in place as f16, bf16 or q8_row (`MemoryFormerModel`,
    /// `Weights.compactMatrix`). bf16 leaves the tables as they are (no bf16 table kernel): it is
    /// `convert --dtype bf16`; f16 and q8 are `convert --dtype X --table-dtype X`. q4 compacts the
    /// tables alone (`convert --table-dtype q4`): on the trained text model int4 tables cost +0.18 %
    /// perplexity, an int4 head +1.26 % and decodes no faster than q8 (Benchmarks/README.md).
    public static let compactWeights = CompactWeights(
        dtypes: [.f16, .bf16, .q8Row, .q4Block],
        metadata: { $0 == .bf16 ? [:] : [Key.tableDType: .string($0.name)] },
        keeps: { name, dtype in
            let table = name.hasSuffix(".tables")
            return (dtype == .bf16 && table) || (dtype == .q4Block && !table)
        }
    ) { name, shape in
        guard shape.count == 2 else { return false }
        if name == embedding || name == head { return true }
        return name.hasPrefix(layerPrefix) && name.hasSuffix(".tables")
    }
}

extension ViTSchema {
    /// The patch embedding, every block's qkv, proj, fc1 and fc2, and the heads, read in place as bf16
    /// pair panels or int8 quad panels with `<matrix>_scale` (`weightLayoutBF16`, `weightLayoutQ8`):
    /// quantize repacks the float32 panels of an f32 file (`weightLayout`) with the converter's
    /// packing, so the result is byte for byte `convert --dtype bf16|q8` of the same checkpoint.
    public static let compactWeights = CompactWeights(
        dtypes: [.bf16, .q8Row],
        note:
            "its matrices are read in place as bf16 pair panels or int8 quad panels; f16 has no vit kernel (bf16 is as small)",
        metadata: { [Key.weightLayout: .string($0 == .bf16 ? weightLayoutBF16 : weightLayoutQ8)] },
        requiredMetadata: [Key.weightLayout: .string(weightLayout)],
        relayout: { file, name, values, dtype throws(FormatError) in try compactPanels(file, name, values, dtype) }
    ) { name, _ in isPanelMatrix(name) }
}
