import Foundation
import SwiftletFormat

/// Converts MemoryFormer checkpoints (C0-Design/MemoryFormer, GPT-NeoX based) to `.swl`.
///
/// KWARGS: the fields of the fixture's `config` — `hidden_size`, `num_attention_heads`, `num_layers`,
/// `ffn_num_table`, `code_length`, `vocab_size`, `rotary_pct`, `rotary_emb_base`, `norm`,
/// `rms_norm_epsilon`, `mlp_layernorm_epsilon`, `remove_projection`, `del_dense`, `double_mlp_table`,
/// `mlp_expand_type`, `extra_bits`, `no_weight_tying` — or the official NeoX YAML keys (dashes or
/// underscores; `attn_memory_config` / `memory_config` dicts carry the table settings, and win over
/// top-level `ffn_num_table` / `code_length`, which must then agree). Defaults are the official
/// ones (`norm: layernorm`, `rotary_pct: 1`, `no_weight_tying: false`, `double_mlp_table: false`,
/// ...); `pos_emb` and `mlp_type` are not in the fixture's schema and default to the only values the
/// official MemoryFormer layer accepts with a memory MLP (`rotary`, `MemoryBlock`). Options the
/// runtime does not implement are refused, naming the field.
///
/// Tensor names: the fixture's (`word_embeddings.weight`, `layers.N.…`, `final_norm.scale`,
/// `lm_head.weight`) or the official DeepSpeed pipeline names (`sequential.0.word_embeddings.weight`,
/// `sequential.{N+2}.…`, `sequential.{L+3}.norm.scale`, `sequential.{L+4}.final_linear.weight`),
/// optionally under a `module.` prefix. Tables are stored as `options.tableDType` (f32, f16 or
/// q8_row), the embedding and LM head as `options.weightDType`, everything else as f32.
public enum MemoryFormerConverter: FamilyConverter {
    public static let family = "memoryformer"

    /// The official code hard-codes two extra bits for the MLP's second table (`extra_bit = 2`).
    static let officialExtraBits = 2

    struct Settings {
        var hidden = 0, heads = 0, layers = 0
        var vocab: Int?
        var attentionTables = 0, attentionCodeLength = 0
        var mlpTables = 0, mlpCodeLength = 0
        var rotaryDims = 0
        var rotaryBase = 10000.0
        var rmsEpsilon = 1e-8
        var layerNormEpsilon = 1e-5
        var context = 2048
        var tied = true
    }

    public static func convert(_ checkpoint: Checkpoint, config: ConstructorConfig, options: ConvertOptions,
                               into output: inout ModelWriter) throws {
        var s = try settings(config)
        switch options.tableDType {
        case .f32, .f16, .q8Row: break
        default:
            throw ConvertError("memoryformer tables can be stored as f32, f16 or q8 (--table-dtype), not \(options.tableDType.name)")
        }
        let names = try Names(checkpoint, layers: s.layers)
        try names.refuseUnimplementedTensors(checkpoint)

        let embedding = try checkpoint.require(names.embedding)
        guard embedding.shape.count == 2, embedding.shape[1] == s.hidden else {
            throw ConvertError("'\(names.embedding)' has shape \(embedding.shape), expected [vocab, \(s.hidden)] (hidden_size)")
        }
        if let vocab = s.vocab, vocab != embedding.shape[0] {
            throw ConvertError("vocab_size is \(vocab) but '\(names.embedding)' has \(embedding.shape[0]) rows; give the padded vocabulary size")
        }
        s.vocab = embedding.shape[0]
        let V = embedding.shape[0], H = s.hidden
        let mlpWidth = s.mlpTables * (s.mlpCodeLength + officialExtraBits)

        let p = "memoryformer."
        output.metadata(p + "hidden_size", .int(Int64(H)))
        output.metadata(p + "num_attention_heads", .int(Int64(s.heads)))
        output.metadata(p + "num_layers", .int(Int64(s.layers)))
        output.metadata(p + "vocab_size", .int(Int64(V)))
        output.metadata(p + "attention_tables", .int(Int64(s.attentionTables)))
        output.metadata(p + "attention_code_length", .int(Int64(s.attentionCodeLength)))
        output.metadata(p + "mlp_tables", .int(Int64(s.mlpTables)))
        output.metadata(p + "mlp_code_length", .int(Int64(s.mlpCodeLength)))
        output.metadata(p + "extra_bits", .int(Int64(officialExtraBits)))
        output.metadata(p + "rotary_dims", .int(Int64(s.rotaryDims)))
        output.metadata(p + "rotary_emb_base", .float(s.rotaryBase))
        output.metadata(p + "rms_norm_epsilon", .float(s.rmsEpsilon))
        output.metadata(p + "mlp_layernorm_epsilon", .float(s.layerNormEpsilon))
        output.metadata(p + "context_length", .int(Int64(s.context)))
        output.metadata(p + "table_dtype", .string(options.tableDType.name))

        let attentionRows = s.attentionTables << s.attentionCodeLength
        let mlpInRows = s.mlpTables << s.mlpCodeLength
        let mlpOutRows = s.mlpTables << (s.mlpCodeLength + officialExtraBits)
        /// Copies a tensor, refusing non-finite values (int8 and f16 storage cannot represent them,
        /// and a NaN in a table would silently poison every token that selects its row).
        func put(_ source: String, as name: String, shape: [Int], dtype: DType = .f32) throws {
            let values = try checkpoint.require(source, shape: shape).floats()
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw ConvertError("checkpoint tensor '\(source)' holds \(values[bad]) at flat index \(bad); weights must be finite")
            }
            try output.floats(name, values, shape: shape, dtype: dtype)
        }
        try put(names.embedding, as: "word_embeddings.weight", shape: [V, H], dtype: options.weightDType)
        for i in 0..<s.layers {
            let src = names.layer(i), dst = "layers.\(i)."
            func copy(_ suffix: String, _ shape: [Int], _ dtype: DType = .f32) throws {
                try put(src + suffix, as: dst + suffix, shape: shape, dtype: dtype)
            }
            try copy("input_layernorm.scale", [H])
            for proj in ["query_proj", "key_proj", "value_proj"] {
                try copy("attention.\(proj).tables", [attentionRows, H], options.tableDType)
                try copy("attention.\(proj).bias", [H])
            }
            try copy("post_attention_layernorm.scale", [H])
            try copy("mlp.0.tables", [mlpInRows, mlpWidth], options.tableDType)
            try copy("mlp.0.bias", [mlpWidth])
            try copy("mlp.1.weight", [mlpWidth])
            try copy("mlp.1.bias", [mlpWidth])
            try copy("mlp.2.tables", [mlpOutRows, H], options.tableDType)
            try copy("mlp.2.bias", [H])
        }
        try put(names.finalNorm, as: "final_norm.scale", shape: [H])
        if s.tied {
            if checkpoint[names.head] != nil {
                throw ConvertError("the config ties the LM head to the embedding (no_weight_tying is false or absent, the GPT-NeoX default) but the checkpoint has '\(names.head)'; set no_weight_tying: true")
            }
        } else {
            guard checkpoint[names.head] != nil else {
                throw ConvertError("no_weight_tying is true but the checkpoint has no LM head '\(names.head)'")
            }
            try put(names.head, as: "lm_head.weight", shape: [V, H], dtype: options.weightDType)
        }
    }

    // MARK: configuration

    /// Reads and checks the KWARGS, refusing every option whose computation the runtime lacks.
    static func settings(_ config: ConstructorConfig) throws -> Settings {
        let top = normalized(config.values)
        let cfg = ConstructorConfig(values: top, source: config.source)
        func nested(_ key: String) throws -> ConstructorConfig? {
            guard let v = top[key], !(v is NSNull) else { return nil }
            guard let d = v as? [String: Any] else { throw ConvertError("\(config.source): '\(key)' must be an object") }
            return ConstructorConfig(values: d, source: "\(config.source) → \(key)")
        }
        let attention = try nested("attn_memory_config")
        let memory = try nested("memory_config")
        func refuse(_ field: String, _ value: Any, _ why: String) -> ConvertError {
            ConvertError("\(config.source): \(field) = \(value) is not supported: \(why)")
        }

        var s = Settings()
        s.hidden = try cfg.int("hidden_size")
        s.heads = try cfg.int("num_attention_heads")
        s.layers = try cfg.int("num_layers")
        guard s.hidden > 0, s.heads > 0, s.hidden % s.heads == 0, s.layers > 0 else {
            throw ConvertError("\(config.source): hidden_size \(s.hidden) must be a positive multiple of num_attention_heads \(s.heads), and num_layers \(s.layers) positive")
        }
        if cfg.has("vocab_size") { s.vocab = try cfg.int("vocab_size") }
        else if cfg.has("padded_vocab_size") { s.vocab = try cfg.int("padded_vocab_size") }

        /// A table setting: the nested dict's value, else the top-level one; both present must agree.
        func tableField(_ dict: ConstructorConfig?, _ dictName: String, _ key: String) throws -> Int {
            let inner = try dict.flatMap { d in d.has(key) ? try d.int(key) : nil }
            let outer = cfg.has(key) ? try cfg.int(key) : nil
            if let inner, let outer, inner != outer {
                throw ConvertError("\(config.source): \(dictName).\(key) = \(inner) disagrees with \(key) = \(outer)")
            }
            guard let v = inner ?? outer else {
                throw ConvertError("\(config.source): the field '\(key)' (an integer, top level or in \(dictName)) is missing")
            }
            return v
        }
        func flag(_ dict: ConstructorConfig?, _ key: String, default d: Bool?) throws -> Bool {
            if let dict, dict.has(key) { return try dict.bool(key, default: false) }
            if cfg.has(key) { return try cfg.bool(key, default: false) }
            guard let d else { throw ConvertError("\(config.source): the field '\(key)' (true or false) is missing") }
            return d
        }
        s.attentionTables = try tableField(attention, "attn_memory_config", "ffn_num_table")
        s.attentionCodeLength = try tableField(attention, "attn_memory_config", "code_length")
        s.mlpTables = try tableField(memory, "memory_config", "ffn_num_table")
        s.mlpCodeLength = try tableField(memory, "memory_config", "code_length")
        guard s.attentionTables > 0, s.mlpTables > 0, (1...20).contains(s.attentionCodeLength),
              (1...18).contains(s.mlpCodeLength) else {
            throw ConvertError("\(config.source): ffn_num_table must be positive and code_length 1...20 (MLP: 1...18, it gets 2 extra bits)")
        }

        // Attention: memory-layer Q/K/V hashing the normed input itself, no dense output.
        if try flag(attention, "fc_qkv", default: false) {
            throw refuse("fc_qkv", true, "the nn.Linear Q/K/V baseline is not a MemoryFormer; only memory-layer Q/K/V are implemented")
        }
        if !(try flag(attention, "remove_projection", default: nil)) {
            throw refuse("remove_projection", false, "a projection (nn.Linear) before hashing is not implemented; the runtime hashes the normed input itself")
        }
        if try flag(attention, "shared_projection", default: false) {
            throw refuse("shared_projection", true, "the shared hash projection (attention.hash_proj) before the Q/K/V hash is not implemented")
        }
        if !(try flag(attention, "del_dense", default: nil)) {
            throw refuse("del_dense", false, "the dense attention output projection is not implemented")
        }
        let valueSize = try (attention.flatMap { $0.has("value_size") ? try $0.int("value_size") : nil })
            ?? cfg.int("value_size", default: s.hidden)
        if valueSize != s.hidden {
            throw refuse("value_size", valueSize, "only value_size == hidden_size (\(s.hidden)) is implemented (no zero-pad / repeat residual)")
        }
        if s.attentionTables * s.attentionCodeLength != s.hidden {
            throw ConvertError("\(config.source): without a projection the attention hash splits hidden_size \(s.hidden) into ffn_num_table × code_length, but \(s.attentionTables) × \(s.attentionCodeLength) = \(s.attentionTables * s.attentionCodeLength)")
        }

        // MLP: memory layer → LayerNorm → memory layer with 2 extra bits.
        let mlpType = try cfg.string("mlp_type", default: "MemoryBlock")
        if mlpType != "MemoryBlock" {
            throw refuse("mlp_type", mlpType, "MemoryFormer's layer requires MemoryBlock")
        }
        if !(try flag(memory, "remove_projection", default: nil)) {
            throw refuse("memory_config.remove_projection", false, "a projection (nn.Linear) before the MLP hash is not implemented")
        }
        if !(try cfg.bool("double_mlp_table", default: false)) {
            throw refuse("double_mlp_table", false, "the single H→H MLP memory table (the GPT-NeoX default when absent) is not implemented; only the double table (memory → LayerNorm → memory)")
        }
        let expand = try cfg.string("mlp_expand_type", default: "extra_bit")
        if expand != "extra_bit" {
            throw refuse("mlp_expand_type", expand, "only extra_bit (2 extra code bits in the second table) is implemented")
        }
        let extraBits = try cfg.int("extra_bits", default: officialExtraBits)
        if extraBits != officialExtraBits {
            throw refuse("extra_bits", extraBits, "the official code hard-codes 2 extra bits")
        }
        if s.mlpTables * s.mlpCodeLength != s.hidden {
            throw ConvertError("\(config.source): without a projection the MLP hash splits hidden_size \(s.hidden) into memory_config ffn_num_table × code_length, but \(s.mlpTables) × \(s.mlpCodeLength) = \(s.mlpTables * s.mlpCodeLength)")
        }

        // Norms, positions, attention scaling.
        let norm = try cfg.string("norm", default: "layernorm")
        if norm != "rmsnorm" {
            throw refuse("norm", norm, "only rmsnorm (GPT-NeoX form, eps added to the RMS) is implemented; GPT-NeoX defaults to layernorm when the field is absent")
        }
        s.rmsEpsilon = try cfg.double("rms_norm_epsilon", default: 1e-8)
        s.layerNormEpsilon = try cfg.double("mlp_layernorm_epsilon", default: 1e-5)
        guard s.rmsEpsilon >= 0, s.layerNormEpsilon >= 0 else {
            throw ConvertError("\(config.source): epsilons must be ≥ 0")
        }
        let posEmb = try cfg.string("pos_emb", default: "rotary")
        if posEmb != "rotary" {
            throw refuse("pos_emb", posEmb, "only rotary position embeddings are implemented")
        }
        let pct = try cfg.double("rotary_pct", default: 1.0)
        guard pct > 0, pct <= 1 else { throw refuse("rotary_pct", pct, "it must be in (0, 1]") }
        let headDim = s.hidden / s.heads
        s.rotaryDims = Int((Double(headDim) * pct).rounded(.towardZero))   // Python int()
        if s.rotaryDims % 2 != 0 {
            throw refuse("rotary_pct", pct, "it gives \(s.rotaryDims) rotary dims of \(headDim); rotate_half needs an even count")
        }
        s.rotaryBase = try cfg.double("rotary_emb_base", default: 10000)
        guard s.rotaryBase > 0 else { throw refuse("rotary_emb_base", s.rotaryBase, "it must be positive") }
        for key in ["use_qk_layernorm", "apply_query_key_layer_scaling", "use_mup", "gpt_j_residual"]
        where try cfg.bool(key, default: false) {
            throw refuse(key, true, "not implemented (the released MemoryFormer configs leave it off)")
        }
        s.tied = !(try cfg.bool("no_weight_tying", default: false))
        s.context = try cfg.int("seq_length", default: cfg.int("max_position_embeddings", default: 2048))
        guard (1...(1 << 20)).contains(s.context) else {
            throw ConvertError("\(config.source): seq_length \(s.context) must be in 1...\(1 << 20)")
        }
        return s
    }

    /// The official YAML spells keys with dashes; NeoX treats them as underscores.
    static func normalized(_ values: [String: Any]) -> [String: Any] {
        var out: [String: Any] = [:]
        for (k, v) in values {
            let key = k.replacingOccurrences(of: "-", with: "_")
            if let d = v as? [String: Any] { out[key] = normalized(d) } else { out[key] = v }
        }
        return out
    }

    // MARK: checkpoint names

    struct Names {
        let embedding: String
        let finalNorm: String
        let head: String
        let layerPrefix: (Int) -> String
        let layers: Int

        func layer(_ i: Int) -> String { layerPrefix(i) }

        init(_ checkpoint: Checkpoint, layers: Int) throws {
            self.layers = layers
            let prefix = checkpoint["module.sequential.0.word_embeddings.weight"] != nil
                || checkpoint["module.word_embeddings.weight"] != nil ? "module." : ""
            if checkpoint[prefix + "sequential.0.word_embeddings.weight"] != nil {
                // DeepSpeed pipeline naming: 1 and L+2 are parameter-free functions.
                embedding = prefix + "sequential.0.word_embeddings.weight"
                layerPrefix = { "\(prefix)sequential.\($0 + 2)." }
                finalNorm = "\(prefix)sequential.\(layers + 3).norm.scale"
                head = "\(prefix)sequential.\(layers + 4).final_linear.weight"
                if checkpoint["\(prefix)sequential.\(layers + 2).input_layernorm.scale"] != nil {
                    throw ConvertError("the checkpoint has more than num_layers = \(layers) layers")
                }
            } else if checkpoint[prefix + "word_embeddings.weight"] != nil {
                embedding = prefix + "word_embeddings.weight"
                layerPrefix = { "\(prefix)layers.\($0)." }
                finalNorm = prefix + "final_norm.scale"
                head = prefix + "lm_head.weight"
                if checkpoint["\(prefix)layers.\(layers).input_layernorm.scale"] != nil {
                    throw ConvertError("the checkpoint has more than num_layers = \(layers) layers")
                }
            } else {
                throw ConvertError("the checkpoint has neither 'word_embeddings.weight' nor 'sequential.0.word_embeddings.weight'; is this a MemoryFormer checkpoint?")
            }
        }

        /// Parameters of computations the runtime lacks mean the config does not describe this
        /// checkpoint: refuse rather than silently drop them.
        func refuseUnimplementedTensors(_ checkpoint: Checkpoint) throws {
            for i in 0..<layers {
                let l = layer(i)
                let found: [(String, String)] = [
                    (l + "attention.hash_proj.weight", "a shared hash projection (shared_projection)"),
                    (l + "attention.dense.weight", "a dense attention output projection (del_dense false)"),
                    (l + "attention.query_proj.weight", "nn.Linear Q/K/V (fc_qkv)"),
                    (l + "attention.value_proj.hash.projection.weight", "a projection before hashing (remove_projection false)"),
                    (l + "mlp.0.hash.projection.weight", "a projection before the MLP hash (remove_projection false)"),
                ]
                for (name, what) in found where checkpoint[name] != nil {
                    throw ConvertError("the checkpoint has '\(name)': \(what), which the runtime does not implement")
                }
            }
        }
    }
}
