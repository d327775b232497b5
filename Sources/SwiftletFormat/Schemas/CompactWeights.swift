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

    public init(
        dtypes: [DType], note: String? = nil,
        metadata: @escaping @Sendable (DType) -> [String: MetadataValue] = { _ in [:] },
        isCompactable: @escaping @Sendable (_ name: String, _ shape: [Int]) -> Bool
    ) {
        self.dtypes = dtypes
        self.note = note
        self.metadata = metadata
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
    /// The patch-embedding convolutions, the block matrices and the head, read in place as f16
    /// (`LMUFormerModel.matrix`); other compact types would be widened to float32 at load.
    public static let compactWeights = CompactWeights(
        dtypes: [.f16], note: "its loader reads f16 matrices in place and would widen bf16 or q8_row ones to float32"
    ) { name, _ in
        if name == headWeight { return true }
        if (0..<patchConvolutions).contains(where: { name == patch($0, .weight) }) { return true }
        guard name.hasPrefix("block.") else { return false }
        let matrices: [BlockTensor] = [.hWeight, .projWeight, .fc1Weight, .fc2Weight]
        return matrices.contains { name.hasSuffix("." + $0.rawValue) }
    }
}

extension MemoryFormerSchema {
    /// The hash tables, read in place as f16, q8_row or q4_block (`memoryformer.table_dtype` records
    /// which); the embedding and LM head are read as float32. q4 is offered for the tables only: on the
    /// trained text model int4 tables cost +0.18 % perplexity, an int4 head +1.26 % (Benchmarks/README.md).
    public static let compactWeights = CompactWeights(
        dtypes: [.f16, .q8Row, .q4Block], note: "its tables are read in place as f16, q8_row or q4_block, not bf16",
        metadata: { [Key.tableDType: .string($0.name)] }
    ) { name, shape in
        shape.count == 2 && name.hasPrefix(layerPrefix) && name.hasSuffix(".tables")
    }
}

extension ViTSchema {
    /// None yet: the panel matrices' compact layouts are being defined (bf16 and int8 panel GEMMs), and
    /// the f16 / q8_row panels of `convert --dtype` are widened to float32 at load.
    public static let compactWeights = CompactWeights(
        dtypes: [],
        note:
            "its panel matrices are not read in place in any compact type yet (convert --dtype f16|q8 files are widened to float32 at load)"
    ) { _, _ in false }
}
