/// What a `memoryformer` file holds: its metadata keys and tensor names, for the converter that
/// writes them and the loader that reads them. Names and keys are part of the file format and never
/// change.
public enum MemoryFormerSchema {
    public static let family = "memoryformer"

    /// Metadata keys.
    public enum Key {
        public static let hidden = "memoryformer.hidden_size"
        public static let heads = "memoryformer.num_attention_heads"
        public static let layers = "memoryformer.num_layers"
        public static let vocab = "memoryformer.vocab_size"
        public static let attentionTables = "memoryformer.attention_tables"
        public static let attentionCodeLength = "memoryformer.attention_code_length"
        public static let mlpTables = "memoryformer.mlp_tables"
        public static let mlpCodeLength = "memoryformer.mlp_code_length"
        public static let extraBits = "memoryformer.extra_bits"
        public static let rotaryDims = "memoryformer.rotary_dims"
        public static let rotaryBase = "memoryformer.rotary_emb_base"
        public static let rmsNormEpsilon = "memoryformer.rms_norm_epsilon"
        public static let mlpLayerNormEpsilon = "memoryformer.mlp_layernorm_epsilon"
        public static let context = "memoryformer.context_length"
        public static let tableDType = "memoryformer.table_dtype"
    }

    public static let embedding = "word_embeddings.weight" // [vocab, H]
    public static let finalNorm = "final_norm.scale" // [H]
    /// `[vocab, H]`; absent when the head is tied to the embedding.
    public static let head = "lm_head.weight"

    /// Tensors of one layer. A `.tables` tensor holds `tables · 2^bits` rows.
    public enum LayerTensor: String, CaseIterable, Sendable {
        case inputNorm = "input_layernorm.scale"
        case queryTables = "attention.query_proj.tables", queryBias = "attention.query_proj.bias"
        case keyTables = "attention.key_proj.tables", keyBias = "attention.key_proj.bias"
        case valueTables = "attention.value_proj.tables", valueBias = "attention.value_proj.bias"
        case postAttentionNorm = "post_attention_layernorm.scale"
        case mlpInTables = "mlp.0.tables", mlpInBias = "mlp.0.bias"
        case mlpNormWeight = "mlp.1.weight", mlpNormBias = "mlp.1.bias"
        case mlpOutTables = "mlp.2.tables", mlpOutBias = "mlp.2.bias"
    }

    public static let layerPrefix = "layers."

    public static func layer(_ i: Int, _ t: LayerTensor) -> String { "\(layerPrefix)\(i).\(t.rawValue)" }
}
