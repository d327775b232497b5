/// What a `loopformer` file holds: its metadata keys and tensor names. The converter writes exactly
/// these and the loader reads them, so both take them from here (the lowest layer both import).
/// Names are part of the file format: files already written carry them, so they never change.
public enum LoopFormerSchema {
    public static let family = "loopformer"

    /// Metadata keys (the official `GPTConfig` field names under `loopformer.`).
    public enum Key {
        public static let blockSize = "loopformer.block_size"
        public static let vocabSize = "loopformer.vocab_size"
        public static let layers = "loopformer.n_layer"
        public static let heads = "loopformer.n_head"
        public static let width = "loopformer.n_embd"
        public static let mlpWidth = "loopformer.intermediate_dim"
        public static let bias = "loopformer.bias"
        public static let maxLoops = "loopformer.max_model_loops"
        public static let rmsNormEpsilon = "loopformer.rmsnorm_eps"
        public static let frequencyEmbeddingSize = "loopformer.frequency_embedding_size"
        public static let maxPeriod = "loopformer.max_period"
    }

    /// `[vocab, C]`: the token embedding, also the LM head (tied).
    public static let tokenEmbedding = "transformer.wte.weight"
    /// `[block_size, C]`.
    public static let positionEmbedding = "transformer.wpe.weight"
    /// `[C]`: the final RMSNorm.
    public static let finalNorm = "transformer.norm_f.weight"

    /// Width of the sinusoidal time features the embedders read (fixed in the official code).
    public static let frequencyEmbeddingSize = 256

    /// The two timestep embedders (of t and of dt), each an MLP 256 → C → C.
    public enum Embedder: String, CaseIterable, Sendable {
        case time = "time_embedder"
        case dt = "dt_embedder"
    }

    public enum EmbedderTensor: String, CaseIterable, Sendable {
        case inWeight = "mlp.0.weight" // [C, frequencyEmbeddingSize]
        case inBias = "mlp.0.bias" // [C]
        case outWeight = "mlp.2.weight" // [C, C]
        case outBias = "mlp.2.bias" // [C]
    }

    public static func embedder(_ e: Embedder, _ t: EmbedderTensor) -> String { "\(e.rawValue).\(t.rawValue)" }

    /// Tensors of one block of the shared stack; the biases exist only when `bias` is true.
    public enum BlockTensor: String, CaseIterable, Sendable {
        case qkvWeight = "attn.c_attn.weight" // [3C, C]: rows Q | K | V
        case qkvBias = "attn.c_attn.bias" // [3C]
        case attnProjWeight = "attn.c_proj.weight" // [C, C]
        case attnProjBias = "attn.c_proj.bias" // [C]
        case fcWeight = "mlp.c_fc.weight" // [I, C]
        case fcBias = "mlp.c_fc.bias" // [I]
        case mlpProjWeight = "mlp.c_proj.weight" // [C, I]
        case mlpProjBias = "mlp.c_proj.bias" // [C]
        case adaLNWeight = "adaLN_modulation.1.weight" // [4C, C]
        case adaLNBias = "adaLN_modulation.1.bias" // [4C]
    }

    public static let blockPrefix = "transformer.h.blocks."

    public static func block(_ i: Int, _ t: BlockTensor) -> String { "\(blockPrefix)\(i).\(t.rawValue)" }
}
