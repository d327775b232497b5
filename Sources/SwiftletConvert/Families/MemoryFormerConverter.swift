import Foundation
import SwiftletFormat

/// Converts MemoryFormer checkpoints (C0-Design/MemoryFormer, GPT-NeoX based) to `.swl`.
///
/// KWARGS: the fields of the fixture's `config` — `hidden_size`, `num_attention_heads`, `num_layers`,
/// `ffn_num_table`, `code_length`, `vocab_size`, `rotary_pct`, `rotary_emb_base`, `norm`,
/// `rms_norm_epsilon`, `mlp_layernorm_epsilon`, `remove_projection`, `del_dense`, `double_mlp_table`,
/// `mlp_expand_type`, `extra_bits`, `no_weight_tying` — or the official NeoX YAML keys (dashes or
/// underscores; `attn_memory_config` / `memory_config` dicts carry the table settings, and win over
/// top-level `ffn_num_table` / `code_length`, which must then agree). A GPT-NeoX checkpoint records
/// `args` (layers, width, heads, positions, padded vocabulary), a folder its `config.json`: they
/// complete the config.
///
/// The tensors determine `hidden_size`, `vocab_size`, `num_layers`, the table layouts
/// (`ffn_num_table`, `code_length`) and `no_weight_tying`: omitted ones are read from them,
/// contradicting ones refused. `num_attention_heads` has no official default and must be given.
/// `rotary_pct` (1), `rotary_emb_base` (10000), `rms_norm_epsilon` (1e-8), `mlp_layernorm_epsilon`
/// (1e-5) and `seq_length` (2048) take those defaults with a warning. The switches must be given
/// where the official default (`norm: layernorm`, `double_mlp_table: false`, ...) is not what the
/// runtime implements; `pos_emb` and `mlp_type` default to the only values the official
/// MemoryFormer layer accepts with a memory MLP (`rotary`, `MemoryBlock`). Options the runtime does
/// not implement are refused, naming the field.
///
/// Tensor names: the fixture's (`word_embeddings.weight`, `layers.N.…`, `final_norm.scale`,
/// `lm_head.weight`) or the official DeepSpeed pipeline names (`sequential.0.word_embeddings.weight`,
/// `sequential.{N+2}.…`, `sequential.{L+3}.norm.scale`, `sequential.{L+4}.final_linear.weight`),
/// optionally under a `module.` prefix. Tables are stored as `options.tableDType` (f32, f16, q8_row
/// or q4_block), the embedding and LM head as `options.weightDType`, everything else as f32.
public enum MemoryFormerConverter: FamilyConverter {
    public static let family = MemoryFormerSchema.family
    typealias S = MemoryFormerSchema

    /// The official code hard-codes two extra bits for the MLP's second table (`extra_bit = 2`).
    static let officialExtraBits = 2

    /// Every key `settings` reads: what a stored config may contribute.
    static let readKeys: Set<String> = [
        "hidden_size", "num_attention_heads", "num_layers", "vocab_size", "padded_vocab_size",
        "ffn_num_table", "code_length", "attn_memory_config", "memory_config", "fc_qkv", "remove_projection",
        "shared_projection", "del_dense", "value_size", "mlp_type", "double_mlp_table", "mlp_expand_type",
        "extra_bits", "norm", "rms_norm_epsilon", "mlp_layernorm_epsilon", "pos_emb", "rotary_pct",
        "rotary_emb_base", "use_qk_layernorm", "apply_query_key_layer_scaling", "use_mup", "gpt_j_residual",
        "no_weight_tying", "seq_length", "max_position_embeddings",
    ]

    /// GPT-NeoX's `save_ds_checkpoint` stores `args`; a Hugging Face-style folder has `config.json`.
    public static func storedArguments(in checkpoint: Checkpoint) -> [(origin: String, values: [String: Any])] {
        ["args", "config.json"].compactMap { checkpoint.storedArguments($0, keys: readKeys) }
    }

    struct Settings {
        var hidden = 0, heads = 0, layers = 0, vocab = 0
        var attentionTables = 0, attentionCodeLength = 0
        var mlpTables = 0, mlpCodeLength = 0
        var rotaryDims = 0
        var rotaryBase = 10000.0
        var rmsEpsilon = 1e-8
        var layerNormEpsilon = 1e-5
        var context = 2048
        var tied = true
    }

    public static func convert(
        _ checkpoint: Checkpoint, config: ConstructorConfig, options: ConvertOptions,
        into output: inout ModelWriter
    ) throws {
        switch options.tableDType {
        case .f32, .f16, .q8Row, .q4Block: break
        default:
            throw ConvertError(
                "memoryformer tables can be stored as f32, f16, q8 or q4 (--table-dtype), not \(options.tableDType.name)"
            )
        }
        let names = try Names(checkpoint)
        try names.refuseUnimplementedTensors(checkpoint)
        var hp = Hyperparameters(try config.renamingKeys { $0.replacingOccurrences(of: "-", with: "_") })
        let s = try settings(&hp, checkpoint, names)
        for w in hp.warnings { output.warn(w) }
        let V = s.vocab
        let H = s.hidden
        let mlpWidth = s.mlpTables * (s.mlpCodeLength + officialExtraBits)

        output.metadata(S.Key.hidden, .int(Int64(H)))
        output.metadata(S.Key.heads, .int(Int64(s.heads)))
        output.metadata(S.Key.layers, .int(Int64(s.layers)))
        output.metadata(S.Key.vocab, .int(Int64(V)))
        output.metadata(S.Key.attentionTables, .int(Int64(s.attentionTables)))
        output.metadata(S.Key.attentionCodeLength, .int(Int64(s.attentionCodeLength)))
        output.metadata(S.Key.mlpTables, .int(Int64(s.mlpTables)))
        output.metadata(S.Key.mlpCodeLength, .int(Int64(s.mlpCodeLength)))
        output.metadata(S.Key.extraBits, .int(Int64(officialExtraBits)))
        output.metadata(S.Key.rotaryDims, .int(Int64(s.rotaryDims)))
        output.metadata(S.Key.rotaryBase, .float(s.rotaryBase))
        output.metadata(S.Key.rmsNormEpsilon, .float(s.rmsEpsilon))
        output.metadata(S.Key.mlpLayerNormEpsilon, .float(s.layerNormEpsilon))
        output.metadata(S.Key.context, .int(Int64(s.context)))
        output.metadata(S.Key.tableDType, .string(options.tableDType.name))

        let attentionRows = s.attentionTables << s.attentionCodeLength
        let mlpInRows = s.mlpTables << s.mlpCodeLength
        let mlpOutRows = s.mlpTables << (s.mlpCodeLength + officialExtraBits)
        /// Copies a tensor, refusing non-finite values (int8 and f16 storage cannot represent them,
        /// and a NaN in a table would silently poison every token that selects its row).
        func put(_ source: String, as name: String, shape: [Int], dtype: DType = .f32) throws {
            let values = try checkpoint.require(source, shape: shape).floats()
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw ConvertError(
                    "checkpoint tensor '\(source)' holds \(values[bad]) at flat index \(bad); weights must be finite")
            }
            try output.floats(name, values, shape: shape, dtype: dtype)
        }
        try put(names.embedding, as: S.embedding, shape: [V, H], dtype: options.weightDType)
        for i in 0..<s.layers {
            func copy(_ t: S.LayerTensor, _ shape: [Int], _ dtype: DType = .f32) throws {
                try put(names.layer(i) + t.rawValue, as: S.layer(i, t), shape: shape, dtype: dtype)
            }
            try copy(.inputNorm, [H])
            for (tables, bias) in [
                (S.LayerTensor.queryTables, S.LayerTensor.queryBias), (.keyTables, .keyBias),
                (.valueTables, .valueBias),
            ] {
                try copy(tables, [attentionRows, H], options.tableDType)
                try copy(bias, [H])
            }
            try copy(.postAttentionNorm, [H])
            try copy(.mlpInTables, [mlpInRows, mlpWidth], options.tableDType)
            try copy(.mlpInBias, [mlpWidth])
            try copy(.mlpNormWeight, [mlpWidth])
            try copy(.mlpNormBias, [mlpWidth])
            try copy(.mlpOutTables, [mlpOutRows, H], options.tableDType)
            try copy(.mlpOutBias, [H])
        }
        try put(names.finalNorm, as: S.finalNorm, shape: [H])
        if !s.tied {
            try put(names.head, as: S.head, shape: [V, H], dtype: options.weightDType)
        }
    }

    // MARK: configuration

    /// Reads the KWARGS against the tensors, refusing every option whose computation the runtime lacks.
    static func settings(_ hp: inout Hyperparameters, _ checkpoint: Checkpoint, _ names: Names) throws -> Settings {
        let cfg = hp.config
        let source = cfg.source
        func nested(_ key: String) throws -> ConstructorConfig? {
            guard cfg.has(key), let v = cfg.values[key] else { return nil }
            guard let d = v as? [String: Any] else {
                throw ConvertError("\(cfg.origin(of: key)): '\(key)' must be an object")
            }
            return ConstructorConfig(values: d, source: "\(cfg.origin(of: key)) → \(key)")
        }
        let attention = try nested("attn_memory_config")
        let memory = try nested("memory_config")
        func refuse(_ field: String, _ value: Any, _ why: String) -> ConvertError {
            ConvertError("\(cfg.origin(of: field)): \(field) = \(value) is not supported: \(why)")
        }
        func shape(_ t: CheckpointTensor) -> String { "'\(t.name)' has shape \(t.shape)" }

        // Sizes the tensors show.
        var s = Settings()
        let embedding = try checkpoint.require(names.embedding)
        guard embedding.shape.count == 2 else {
            throw ConvertError("'\(names.embedding)' has shape \(embedding.shape), expected [vocab, hidden_size]")
        }
        s.hidden = try hp.int("hidden_size", inferred: embedding.shape[1], shape(embedding))
        // NeoX pads the vocabulary: padded_vocab_size is the embedding's row count when both are given.
        s.vocab = try hp.int(
            cfg.has("padded_vocab_size") ? "padded_vocab_size" : "vocab_size", inferred: embedding.shape[0],
            shape(embedding))
        s.layers = try hp.int("num_layers", inferred: names.layers, "it has layers 0…\(names.layers - 1)")
        guard cfg.has("num_attention_heads") else {
            throw ConvertError(
                "num_attention_heads is given neither by the config nor by the checkpoint, and the tensors do not determine it (GPT-NeoX has no default); set it in the config"
            )
        }
        s.heads = try cfg.int("num_attention_heads")
        guard s.heads > 0, s.hidden % s.heads == 0 else {
            throw ConvertError(
                "\(cfg.origin(of: "num_attention_heads")): hidden_size \(s.hidden) must be a positive multiple of num_attention_heads \(s.heads)"
            )
        }

        /// A table setting: the nested dict's value, else the top-level one; both present must agree.
        func tableField(_ dict: ConstructorConfig?, _ dictName: String, _ key: String) throws -> (
            value: Int, label: String
        )? {
            let inner = try dict.flatMap { d in d.has(key) ? try d.int(key) : nil }
            let outer = cfg.has(key) ? try cfg.int(key) : nil
            if let inner, let outer, inner != outer {
                throw ConvertError("\(source): \(dictName).\(key) = \(inner) disagrees with \(key) = \(outer)")
            }
            return inner.map { ($0, "\(dictName).\(key)") } ?? outer.map { ($0, key) }
        }
        /// How `tables` (shape `[T · 2^L, out(T, L)]`) splits hidden_size into T chunks of L bits:
        /// the layout the tensor fits, which the config (if it says) must match.
        func layout(
            _ tables: CheckpointTensor, _ dict: ConstructorConfig?, _ dictName: String, maxBits: Int,
            out: (Int, Int) -> Int
        ) throws -> (tables: Int, bits: Int) {
            let H = s.hidden
            let fits =
                tables.shape.count != 2
                ? []
                : (1...maxBits).compactMap { L -> (tables: Int, bits: Int)? in
                    let T = H / L
                    return H % L == 0 && T << L == tables.shape[0] && out(T, L) == tables.shape[1] ? (T, L) : nil
                }
            guard !fits.isEmpty else {
                throw ConvertError(
                    "\(shape(tables)), which fits no split of hidden_size \(H) into ffn_num_table × code_length (code_length ≤ \(maxBits))"
                )
            }
            var matching = fits
            for (key, part) in [("ffn_num_table", \(tables: Int, bits: Int).tables), ("code_length", \.bits)] {
                guard let given = try tableField(dict, dictName, key) else { continue }
                matching = matching.filter { $0[keyPath: part] == given.value }
                if matching.isEmpty {
                    let actual = fits.map { String($0[keyPath: part]) }.joined(separator: " or ")
                    throw hp.contradiction(
                        String(given.label.prefix { $0 != "." }), given.value,
                        "\(shape(tables)), so \(key) = \(actual)", as: given.label)
                }
            }
            guard matching.count == 1 else {
                throw ConvertError(
                    "\(shape(tables)), which fits \(matching.map { "\($0.tables) tables of \($0.bits) bits" }.joined(separator: " and ")); set ffn_num_table and code_length in \(dictName)"
                )
            }
            return matching[0]
        }
        let first = names.layer(0)
        (s.attentionTables, s.attentionCodeLength) = try layout(
            try checkpoint.require(first + S.LayerTensor.queryTables.rawValue), attention, "attn_memory_config",
            maxBits: 20, out: { [H = s.hidden] _, _ in H })
        (s.mlpTables, s.mlpCodeLength) = try layout(
            try checkpoint.require(first + S.LayerTensor.mlpInTables.rawValue), memory, "memory_config",
            maxBits: 18, out: { T, L in T * (L + officialExtraBits) }) // the second table gets 2 more bits

        func flag(_ dict: ConstructorConfig?, _ key: String, default d: Bool?) throws -> Bool {
            if let dict, dict.has(key) { return try dict.bool(key, default: false) }
            if cfg.has(key) { return try cfg.bool(key, default: false) }
            guard let d else { throw ConvertError("\(source): the field '\(key)' (true or false) is missing") }
            return d
        }

        // Attention: memory-layer Q/K/V hashing the normed input itself, no dense output.
        if try flag(attention, "fc_qkv", default: false) {
            throw refuse(
                "fc_qkv", true,
                "the nn.Linear Q/K/V baseline is not a MemoryFormer; only memory-layer Q/K/V are implemented")
        }
        if !(try flag(attention, "remove_projection", default: nil)) {
            throw refuse(
                "remove_projection", false,
                "a projection (nn.Linear) before hashing is not implemented; the runtime hashes the normed input itself"
            )
        }
        if try flag(attention, "shared_projection", default: false) {
            throw refuse(
                "shared_projection", true,
                "the shared hash projection (attention.hash_proj) before the Q/K/V hash is not implemented")
        }
        if !(try flag(attention, "del_dense", default: nil)) {
            throw refuse("del_dense", false, "the dense attention output projection is not implemented")
        }
        let valueSize =
            try (attention.flatMap { $0.has("value_size") ? try $0.int("value_size") : nil })
            ?? cfg.int("value_size", default: s.hidden)
        if valueSize != s.hidden {
            throw refuse(
                "value_size", valueSize,
                "only value_size == hidden_size (\(s.hidden)) is implemented (no zero-pad / repeat residual)")
        }

        // MLP: memory layer → LayerNorm → memory layer with 2 extra bits.
        let mlpType = try cfg.string("mlp_type", default: "MemoryBlock")
        if mlpType != "MemoryBlock" {
            throw refuse("mlp_type", mlpType, "MemoryFormer's layer requires MemoryBlock")
        }
        if !(try flag(memory, "remove_projection", default: nil)) {
            throw refuse(
                "memory_config.remove_projection", false,
                "a projection (nn.Linear) before the MLP hash is not implemented")
        }
        if !(try cfg.bool("double_mlp_table", default: false)) {
            throw refuse(
                "double_mlp_table", false,
                "the single H→H MLP memory table (the GPT-NeoX default when absent) is not implemented; only the double table (memory → LayerNorm → memory)"
            )
        }
        let expand = try cfg.string("mlp_expand_type", default: "extra_bit")
        if expand != "extra_bit" {
            throw refuse(
                "mlp_expand_type", expand, "only extra_bit (2 extra code bits in the second table) is implemented")
        }
        let extraBits = try cfg.int("extra_bits", default: officialExtraBits)
        if extraBits != officialExtraBits {
            throw refuse("extra_bits", extraBits, "the official code hard-codes 2 extra bits")
        }

        // Norms, positions, attention scaling.
        let norm = try cfg.string("norm", default: "layernorm")
        if norm != "rmsnorm" {
            throw refuse(
                "norm", norm,
                "only rmsnorm (GPT-NeoX form, eps added to the RMS) is implemented; GPT-NeoX defaults to layernorm when the field is absent"
            )
        }
        s.rmsEpsilon = try hp.double("rms_norm_epsilon", default: 1e-8, "GPT-NeoX's default")
        s.layerNormEpsilon = try hp.double("mlp_layernorm_epsilon", default: 1e-5, "nn.LayerNorm's default")
        guard s.rmsEpsilon >= 0, s.layerNormEpsilon >= 0 else {
            throw ConvertError("\(source): epsilons must be ≥ 0")
        }
        let posEmb = try cfg.string("pos_emb", default: "rotary")
        if posEmb != "rotary" {
            throw refuse("pos_emb", posEmb, "only rotary position embeddings are implemented")
        }
        let pct = try hp.double("rotary_pct", default: 1.0, "GPT-NeoX's default; it sets how many dimensions rotate")
        guard pct > 0, pct <= 1 else { throw refuse("rotary_pct", pct, "it must be in (0, 1]") }
        let headDim = s.hidden / s.heads
        s.rotaryDims = Int((Double(headDim) * pct).rounded(.towardZero)) // Python int()
        if s.rotaryDims % 2 != 0 {
            throw refuse(
                "rotary_pct", pct, "it gives \(s.rotaryDims) rotary dims of \(headDim); rotate_half needs an even count"
            )
        }
        s.rotaryBase = try hp.double("rotary_emb_base", default: 10000, "GPT-NeoX's default")
        guard s.rotaryBase > 0 else { throw refuse("rotary_emb_base", s.rotaryBase, "it must be positive") }
        for key in ["use_qk_layernorm", "apply_query_key_layer_scaling", "use_mup", "gpt_j_residual"]
        where try cfg.bool(key, default: false) {
            throw refuse(key, true, "not implemented (the released MemoryFormer configs leave it off)")
        }
        let hasHead = checkpoint[names.head] != nil
        s.tied =
            !(try hp.bool(
                "no_weight_tying", inferred: hasHead, "it \(hasHead ? "has" : "has no") LM head '\(names.head)'"))
        // seq_length, else NeoX's max_position_embeddings (what its `args` record), else the default.
        s.context =
            try cfg.has("seq_length") || !cfg.has("max_position_embeddings")
            ? hp.int("seq_length", default: 2048, "the longest context the runtime will accept")
            : cfg.int("max_position_embeddings")
        guard (1...(1 << 20)).contains(s.context) else {
            throw ConvertError("\(source): seq_length \(s.context) must be in 1...\(1 << 20)")
        }
        return s
    }

    // MARK: checkpoint names

    struct Names {
        let embedding: String
        let finalNorm: String
        let head: String
        let layerPrefix: (Int) -> String
        let layers: Int

        func layer(_ i: Int) -> String { layerPrefix(i) }

        /// Finds the naming and counts the layers (those with an input norm, numbered from 0).
        init(_ checkpoint: Checkpoint) throws {
            let prefix =
                checkpoint["module.sequential.0.word_embeddings.weight"] != nil
                    || checkpoint["module.word_embeddings.weight"] != nil ? "module." : ""
            let pipeline = checkpoint[prefix + "sequential.0.word_embeddings.weight"] != nil
            guard pipeline || checkpoint[prefix + S.embedding] != nil else {
                throw ConvertError(
                    "the checkpoint has neither '\(S.embedding)' nor 'sequential.0.word_embeddings.weight'; is this a MemoryFormer checkpoint?"
                )
            }
            // DeepSpeed pipeline naming: module 1 and L+2 are parameter-free functions.
            let layerPrefix: (Int) -> String =
                pipeline ? { "\(prefix)sequential.\($0 + 2)." } : { "\(prefix)\(S.layerPrefix)\($0)." }
            let norm = S.LayerTensor.inputNorm.rawValue
            var layers = 0
            while checkpoint[layerPrefix(layers) + norm] != nil { layers += 1 }
            guard layers > 0 else { throw ConvertError("the checkpoint has no layer ('\(layerPrefix(0))\(norm)')") }
            self.layers = layers
            self.layerPrefix = layerPrefix
            if pipeline {
                embedding = prefix + "sequential.0.word_embeddings.weight"
                finalNorm = "\(prefix)sequential.\(layers + 3).norm.scale"
                head = "\(prefix)sequential.\(layers + 4).final_linear.weight"
            } else {
                embedding = prefix + S.embedding
                finalNorm = prefix + S.finalNorm
                head = prefix + S.head
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
                    (
                        l + "attention.value_proj.hash.projection.weight",
                        "a projection before hashing (remove_projection false)"
                    ),
                    (l + "mlp.0.hash.projection.weight", "a projection before the MLP hash (remove_projection false)"),
                ]
                for (name, what) in found where checkpoint[name] != nil {
                    throw ConvertError("the checkpoint has '\(name)': \(what), which the runtime does not implement")
                }
            }
        }
    }
}
