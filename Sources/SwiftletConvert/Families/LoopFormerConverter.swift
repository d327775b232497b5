import SwiftletFormat

/// Converts official LoopFormer checkpoints (armenjeddi/loopformer `models/loopformer.py` `GPT`).
///
/// Constructor arguments: the `GPTConfig` fields (`model_type`, `block_size`, `vocab_size`,
/// `n_layer`, `n_head`, `n_embd`, `dropout`, `bias`, `intermediate_dim`) plus `max_model_loops`, a
/// training global of `train.py`. The official `ckpt.pt` records `model_args` and `config` (the
/// `GPTConfig` itself), a Hugging Face folder its `config.json`: they complete the user's config,
/// which may then be left out. The tensors determine `vocab_size`, `n_embd`, `block_size`,
/// `n_layer`, `intermediate_dim` and `bias`; `n_head` and `max_model_loops` show in no tensor, so
/// without a value they take the official defaults (32, 8) with a warning.
///
/// - Names: prefixes `_orig_mod.` (torch.compile), `module.`, `model.` and `gpt.` (Hugging Face
///   release) are stripped repeatedly, as the official loader does. The `attn.bias` causal-mask buffer
///   of PyTorch < 2.0 checkpoints is not a weight and is skipped.
/// - Tied head: `transformer.wte.weight` and `lm_head.weight` may both be present (they must then be
///   equal) or only one of them; the file stores it once as `transformer.wte.weight`.
/// - Storage (`ConvertOptions.weightDType`, `swiftlet convert --dtype`): the weight matrices — the
///   tied embedding/head, the four projections and the adaLN map of every block — are stored as f32
///   (exact, the default), f16, bf16 or q8_row (int8 with a float32 scale per output row); the runtime
///   uses them in place, which is what makes cached decoding faster (it reads every weight once per
///   loop step and token). Vectors, the position table and the time embedders stay f32.
public enum LoopFormerConverter: FamilyConverter {
    public static let family = LoopFormerSchema.family
    typealias S = LoopFormerSchema

    static let prefixes = ["_orig_mod.", "module.", "model.", "gpt."]
    static let configKeys: Set<String> = [
        "model_type", "block_size", "vocab_size", "n_layer", "n_head", "n_embd", "dropout", "bias",
        "intermediate_dim", "max_model_loops",
    ]

    /// `model_args` (what train.py built the model with), `config` (the GPTConfig), `config.json`.
    /// Dropout and the model type do not change inference, so a stored value of them is not read.
    public static func storedArguments(in checkpoint: Checkpoint) -> [(origin: String, values: [String: Any])] {
        let keys = configKeys.subtracting(["model_type", "dropout"])
        return ["model_args", "config", "config.json"].compactMap { checkpoint.storedArguments($0, keys: keys) }
    }

    /// The name with every known wrapper prefix removed.
    static func stripPrefixes(_ name: String) -> String {
        var n = Substring(name)
        var changed = true
        while changed {
            changed = false
            for p in prefixes where n.hasPrefix(p) {
                n = n.dropFirst(p.count)
                changed = true
            }
        }
        return String(n)
    }

    public static func convert(
        _ checkpoint: Checkpoint, config: ConstructorConfig, options: ConvertOptions,
        into output: inout ModelWriter
    ) throws {
        try config.refuseUnknownKeys(
            accepted: configKeys, "loopformer config field(s)",
            hint: "; expected GPTConfig fields (\(configKeys.sorted().joined(separator: ", ")))")

        // Official names, wrapper prefixes stripped.
        var tensors: [String: CheckpointTensor] = [:]
        for t in checkpoint.tensors {
            let name = stripPrefixes(t.name)
            if let other = tensors[name] {
                throw ConvertError(
                    "checkpoint tensors '\(other.name)' and '\(t.name)' both name '\(name)' once prefixes are stripped")
            }
            tensors[name] = t
        }
        func matrix(_ name: String) throws -> CheckpointTensor {
            guard let t = tensors[name] else {
                throw ConvertError("the checkpoint has no tensor '\(name)'; is this a LoopFormer checkpoint?")
            }
            guard t.shape.count == 2 else {
                throw ConvertError("checkpoint tensor '\(name)' has shape \(t.shape), expected a matrix")
            }
            return t
        }
        func take(_ name: String, _ shape: [Int]) throws -> CheckpointTensor {
            guard let t = tensors.removeValue(forKey: name) else {
                throw ConvertError("the checkpoint has no tensor '\(name)'; is this a LoopFormer checkpoint?")
            }
            guard t.shape == shape else {
                throw ConvertError("checkpoint tensor '\(name)' has shape \(t.shape), the config implies \(shape)")
            }
            return t
        }

        // Tied embedding / LM head: either name, stored once.
        let embedding: CheckpointTensor
        switch (tensors.removeValue(forKey: S.tokenEmbedding), tensors.removeValue(forKey: "lm_head.weight")) {
        case (let wte?, let head?):
            guard wte.shape == head.shape, try wte.floats() == head.floats() else {
                throw ConvertError(
                    "\(S.tokenEmbedding) and lm_head.weight differ; LoopFormer ties them and the runtime needs them equal"
                )
            }
            embedding = wte
        case (let wte?, nil): embedding = wte
        case (nil, let head?): embedding = head
        case (nil, nil):
            throw ConvertError(
                "the checkpoint has neither '\(S.tokenEmbedding)' nor 'lm_head.weight'; is this a LoopFormer checkpoint?"
            )
        }
        guard embedding.shape.count == 2 else {
            throw ConvertError(
                "the token embedding '\(embedding.name)' has shape \(embedding.shape), expected [vocab_size, n_embd]")
        }

        // Constructor arguments: the tensors' word where they have one.
        var hp = Hyperparameters(config)
        _ = try config.string("model_type", default: "loopformer") // not used by the model
        _ = try config.double("dropout", default: 0) // inference: dropout is a no-op
        func shape(_ t: CheckpointTensor) -> String { "'\(t.name)' has shape \(t.shape)" }
        let vocab = try hp.int("vocab_size", inferred: embedding.shape[0], shape(embedding))
        let C = try hp.int("n_embd", inferred: embedding.shape[1], shape(embedding))
        let wpe = try matrix(S.positionEmbedding)
        let blockSize = try hp.int("block_size", inferred: wpe.shape[0], shape(wpe))
        let blockIndices = Set(
            tensors.keys.compactMap { name -> Int? in
                guard name.hasPrefix(S.blockPrefix) else { return nil }
                return Int(name.dropFirst(S.blockPrefix.count).prefix { $0 != "." })
            })
        guard !blockIndices.isEmpty, blockIndices == Set(0..<blockIndices.count) else {
            throw ConvertError(
                "the checkpoint has blocks \(blockIndices.sorted()); expected blocks 0, 1, … under '\(S.blockPrefix)'")
        }
        let layers = try hp.int("n_layer", inferred: blockIndices.count, "it has blocks 0…\(blockIndices.count - 1)")
        let fc = try matrix(S.block(0, .fcWeight))
        let hidden = try hp.int("intermediate_dim", inferred: fc.shape[0], shape(fc))
        let hasBias = tensors[S.block(0, .qkvBias)] != nil
        let bias = try hp.bool(
            "bias", inferred: hasBias, "it \(hasBias ? "has" : "has no") projection biases ('\(S.block(0, .qkvBias))')")
        let heads = try hp.int(
            "n_head", default: 32, "GPTConfig's default; a wrong head count runs but computes wrong logits")
        let maxLoops = try hp.int(
            "max_model_loops", default: 8, "train.py's default; the unit of the loop budget and the default trajectory")
        for w in hp.warnings { output.warn(w) }
        // The runtime's limits (LoopFormerModel.init).
        let limit = 1 << 20
        guard (1...limit).contains(blockSize), (1...limit).contains(vocab), (1...1024).contains(layers),
            (1...4096).contains(heads), (1...65536).contains(C), (1...limit).contains(hidden)
        else {
            throw ConvertError(
                "block_size \(blockSize), vocab_size \(vocab), n_layer \(layers), n_head \(heads), n_embd \(C) or intermediate_dim \(hidden) is out of range (all positive; n_layer ≤ 1024, n_head ≤ 4096, n_embd ≤ 65536, the others ≤ 2^20)"
            )
        }
        guard C % heads == 0 else {
            throw ConvertError("\(config.origin(of: "n_head")): n_embd \(C) is not a multiple of n_head \(heads)")
        }
        guard (1...4096).contains(maxLoops) else {
            throw ConvertError(
                "\(config.origin(of: "max_model_loops")): max_model_loops must be between 1 and 4096, got \(maxLoops)")
        }

        output.metadata(S.Key.blockSize, .int(Int64(blockSize)))
        output.metadata(S.Key.vocabSize, .int(Int64(vocab)))
        output.metadata(S.Key.layers, .int(Int64(layers)))
        output.metadata(S.Key.heads, .int(Int64(heads)))
        output.metadata(S.Key.width, .int(Int64(C)))
        output.metadata(S.Key.mlpWidth, .int(Int64(hidden)))
        output.metadata(S.Key.bias, .bool(bias))
        output.metadata(S.Key.maxLoops, .int(Int64(maxLoops)))
        // nn.RMSNorm without eps uses torch.finfo(float32).eps.
        output.metadata(S.Key.rmsNormEpsilon, .float(Double(Float.ulpOfOne)))
        output.metadata(S.Key.frequencyEmbeddingSize, .int(Int64(S.frequencyEmbeddingSize)))
        output.metadata(S.Key.maxPeriod, .float(10_000))

        let big = options.weightDType
        guard [.f32, .f16, .bf16, .q8Row].contains(big) else {
            throw ConvertError("loopformer weights can be stored as f32, f16, bf16 or q8_row, not \(big.name)")
        }
        func store(_ t: CheckpointTensor, as name: String, dtype: DType = .f32) throws {
            let values = try t.floats()
            let dtype = t.shape.count == 2 ? dtype : .f32
            // int8 cannot hold NaN or inf (they would become 0 / ±127 silently).
            if dtype == .q8Row, let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw ConvertError(
                    "tensor '\(t.name)' holds \(values[bad]) at index \(bad): non-finite weights cannot be stored as q8_row; use --dtype f32 or f16"
                )
            }
            try output.floats(name, values, shape: t.shape, dtype: dtype)
        }
        func copy(_ name: String, _ shape: [Int], dtype: DType = .f32) throws {
            try store(try take(name, shape), as: name, dtype: dtype)
        }
        try store(embedding, as: S.tokenEmbedding, dtype: big)
        try copy(S.positionEmbedding, [blockSize, C])
        try copy(S.finalNorm, [C])
        for e in S.Embedder.allCases {
            try copy(S.embedder(e, .inWeight), [C, S.frequencyEmbeddingSize])
            try copy(S.embedder(e, .inBias), [C])
            try copy(S.embedder(e, .outWeight), [C, C])
            try copy(S.embedder(e, .outBias), [C])
        }
        for i in 0..<layers {
            func b(_ t: S.BlockTensor) -> String { S.block(i, t) }
            try copy(b(.qkvWeight), [3 * C, C], dtype: big)
            if bias { try copy(b(.qkvBias), [3 * C]) }
            try copy(b(.attnProjWeight), [C, C], dtype: big)
            if bias { try copy(b(.attnProjBias), [C]) }
            try copy(b(.fcWeight), [hidden, C], dtype: big)
            if bias { try copy(b(.fcBias), [hidden]) }
            try copy(b(.mlpProjWeight), [C, hidden], dtype: big)
            if bias { try copy(b(.mlpProjBias), [C]) }
            try copy(b(.adaLNWeight), [4 * C, C], dtype: big)
            try copy(b(.adaLNBias), [4 * C])
            // PyTorch < 2.0 registers the causal mask as a buffer: not a weight.
            tensors.removeValue(forKey: "\(S.blockPrefix)\(i).attn.bias")
        }
        guard tensors.isEmpty else {
            let names = tensors.keys.sorted()
            throw ConvertError(
                "the checkpoint has tensors a LoopFormer does not use: \(names.prefix(8).joined(separator: ", "))\(names.count > 8 ? ", …" : "")"
            )
        }
    }
}
