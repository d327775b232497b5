import Foundation
import SwiftletFormat

/// Converts official LoopFormer checkpoints (armenjeddi/loopformer `models/loopformer.py` `GPT`).
///
/// KWARGS: the `GPTConfig` fields (`model_type`, `block_size`, `vocab_size`, `n_layer`, `n_head`,
/// `n_embd`, `dropout`, `bias`, `intermediate_dim`; missing ones take the `GPTConfig` defaults) plus
/// `max_model_loops` (default 8), which the official code keeps as a training global and never saves.
///
/// - Names: prefixes `_orig_mod.` (torch.compile), `module.`, `model.` and `gpt.` (Hugging Face
///   release) are stripped repeatedly, as the official loader does. The `attn.bias` causal-mask buffer
///   of PyTorch < 2.0 checkpoints is not a weight and is skipped.
/// - Tied head: `transformer.wte.weight` and `lm_head.weight` may both be present (they must then be
///   equal) or only one of them; the file stores it once as `transformer.wte.weight`.
/// - MLP width: `train.py` never passes `intermediate_dim`, so released models use the class default
///   5120 whatever `n_embd` is; when the config's value disagrees with the `mlp.c_fc.weight` shape,
///   the shape wins (a note is printed).
/// - Everything else (width, vocabulary, context, block count, biases) must agree with the tensors.
/// - Storage (`ConvertOptions.weightDType`, `swiftlet convert --dtype`): the weight matrices — the
///   tied embedding/head, the four projections and the adaLN map of every block — are stored as f32
///   (exact, the default), f16, bf16 or q8_row (int8 with a float32 scale per output row); the runtime
///   uses them in place, which is what makes cached decoding faster (it reads every weight once per
///   loop step and token). Vectors, the position table and the time embedders stay f32.
public enum LoopFormerConverter: FamilyConverter {
    public static let family = "loopformer"

    static let prefixes = ["_orig_mod.", "module.", "model.", "gpt."]
    static let configKeys: Set<String> = [
        "model_type", "block_size", "vocab_size", "n_layer", "n_head", "n_embd", "dropout", "bias",
        "intermediate_dim", "max_model_loops",
    ]

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

    public static func convert(_ checkpoint: Checkpoint, config: ConstructorConfig, options: ConvertOptions,
                               into output: inout ModelWriter) throws {
        let unknown = config.values.keys.filter { !configKeys.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw ConvertError("\(config.source): unknown loopformer config field(s) \(unknown.joined(separator: ", ")); expected GPTConfig fields (\(configKeys.sorted().joined(separator: ", ")))")
        }

        // Official names, wrapper prefixes stripped.
        var tensors: [String: CheckpointTensor] = [:]
        for t in checkpoint.tensors {
            let name = stripPrefixes(t.name)
            if let other = tensors[name] {
                throw ConvertError("checkpoint tensors '\(other.name)' and '\(t.name)' both name '\(name)' once prefixes are stripped")
            }
            tensors[name] = t
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
        switch (tensors.removeValue(forKey: "transformer.wte.weight"), tensors.removeValue(forKey: "lm_head.weight")) {
        case let (wte?, head?):
            guard wte.shape == head.shape, try wte.floats() == head.floats() else {
                throw ConvertError("transformer.wte.weight and lm_head.weight differ; LoopFormer ties them and the runtime needs them equal")
            }
            embedding = wte
        case let (wte?, nil): embedding = wte
        case let (nil, head?): embedding = head
        case (nil, nil):
            throw ConvertError("the checkpoint has neither 'transformer.wte.weight' nor 'lm_head.weight'; is this a LoopFormer checkpoint?")
        }

        // Config: GPTConfig defaults, overridden by KWARGS.
        let fields = Fields(config)
        _ = try fields.string("model_type", default: "loopformer")   // not used by the model
        _ = try fields.number("dropout", default: 0)                 // inference: dropout is a no-op
        let blockSize = try fields.int("block_size", default: 1024)
        let vocab = try fields.int("vocab_size", default: 50304)
        let layers = try fields.int("n_layer", default: 3)
        let heads = try fields.int("n_head", default: 32)
        let C = try fields.int("n_embd", default: 2048)
        let bias = try fields.bool("bias", default: false)
        var hidden = try fields.int("intermediate_dim", default: 5120)
        let maxLoops = try fields.int("max_model_loops", default: 8)
        // The runtime's limits (LoopFormerModel.init).
        let limit = 1 << 20
        guard (1...limit).contains(blockSize), (1...limit).contains(vocab), (1...1024).contains(layers),
              (1...4096).contains(heads), (1...65536).contains(C), (1...limit).contains(hidden) else {
            throw ConvertError("\(config.source): block_size \(blockSize), vocab_size \(vocab), n_layer \(layers), n_head \(heads), n_embd \(C) or intermediate_dim \(hidden) is out of range (all positive; n_layer ≤ 1024, n_head ≤ 4096, n_embd ≤ 65536, the others ≤ 2^20)")
        }
        guard C % heads == 0 else {
            throw ConvertError("\(config.source): n_embd \(C) is not a multiple of n_head \(heads)")
        }
        guard (1...4096).contains(maxLoops) else {
            throw ConvertError("\(config.source): max_model_loops must be between 1 and 4096, got \(maxLoops)")
        }
        guard embedding.shape == [vocab, C] else {
            throw ConvertError("the token embedding has shape \(embedding.shape), the config implies [vocab_size \(vocab), n_embd \(C)]; set vocab_size and n_embd in the config")
        }
        let blockIndices = Set(tensors.keys.compactMap { name -> Int? in
            let prefix = "transformer.h.blocks."
            guard name.hasPrefix(prefix) else { return nil }
            return Int(name.dropFirst(prefix.count).prefix { $0 != "." })
        })
        guard blockIndices == Set(0..<layers) else {
            throw ConvertError("the checkpoint has blocks \(blockIndices.sorted()), the config says n_layer \(layers)")
        }
        if let fc = tensors["transformer.h.blocks.0.mlp.c_fc.weight"], fc.shape.count == 2, fc.shape[1] == C,
           fc.shape[0] != hidden {
            output.progress("  note: intermediate_dim \(hidden) in the config, \(fc.shape[0]) in mlp.c_fc.weight: using \(fc.shape[0])")
            hidden = fc.shape[0]
        }
        let hasBias = tensors["transformer.h.blocks.0.attn.c_attn.bias"] != nil
        guard hasBias == bias else {
            throw ConvertError("\(config.source): bias is \(bias) but the checkpoint \(hasBias ? "has" : "has no") projection biases; set bias to \(hasBias)")
        }

        output.metadata("loopformer.block_size", .int(Int64(blockSize)))
        output.metadata("loopformer.vocab_size", .int(Int64(vocab)))
        output.metadata("loopformer.n_layer", .int(Int64(layers)))
        output.metadata("loopformer.n_head", .int(Int64(heads)))
        output.metadata("loopformer.n_embd", .int(Int64(C)))
        output.metadata("loopformer.intermediate_dim", .int(Int64(hidden)))
        output.metadata("loopformer.bias", .bool(bias))
        output.metadata("loopformer.max_model_loops", .int(Int64(maxLoops)))
        // nn.RMSNorm without eps uses torch.finfo(float32).eps.
        output.metadata("loopformer.rmsnorm_eps", .float(Double(Float.ulpOfOne)))
        output.metadata("loopformer.frequency_embedding_size", .int(256))
        output.metadata("loopformer.max_period", .float(10_000))

        let big = options.weightDType
        guard [.f32, .f16, .bf16, .q8Row].contains(big) else {
            throw ConvertError("loopformer weights can be stored as f32, f16, bf16 or q8_row, not \(big.name)")
        }
        func store(_ t: CheckpointTensor, as name: String, dtype: DType = .f32) throws {
            let values = try t.floats()
            let dtype = t.shape.count == 2 ? dtype : .f32
            // int8 cannot hold NaN or inf (they would become 0 / ±127 silently).
            if dtype == .q8Row, let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw ConvertError("tensor '\(t.name)' holds \(values[bad]) at index \(bad): non-finite weights cannot be stored as q8_row; use --dtype f32 or f16")
            }
            try output.floats(name, values, shape: t.shape, dtype: dtype)
        }
        func copy(_ name: String, _ shape: [Int], dtype: DType = .f32) throws {
            try store(try take(name, shape), as: name, dtype: dtype)
        }
        try store(embedding, as: "transformer.wte.weight", dtype: big)
        try copy("transformer.wpe.weight", [blockSize, C])
        try copy("transformer.norm_f.weight", [C])
        for e in ["time_embedder", "dt_embedder"] {
            try copy("\(e).mlp.0.weight", [C, 256])
            try copy("\(e).mlp.0.bias", [C])
            try copy("\(e).mlp.2.weight", [C, C])
            try copy("\(e).mlp.2.bias", [C])
        }
        for i in 0..<layers {
            let b = "transformer.h.blocks.\(i)."
            try copy(b + "attn.c_attn.weight", [3 * C, C], dtype: big)
            if bias { try copy(b + "attn.c_attn.bias", [3 * C]) }
            try copy(b + "attn.c_proj.weight", [C, C], dtype: big)
            if bias { try copy(b + "attn.c_proj.bias", [C]) }
            try copy(b + "mlp.c_fc.weight", [hidden, C], dtype: big)
            if bias { try copy(b + "mlp.c_fc.bias", [hidden]) }
            try copy(b + "mlp.c_proj.weight", [C, hidden], dtype: big)
            if bias { try copy(b + "mlp.c_proj.bias", [C]) }
            try copy(b + "adaLN_modulation.1.weight", [4 * C, C], dtype: big)
            try copy(b + "adaLN_modulation.1.bias", [4 * C])
            // PyTorch < 2.0 registers the causal mask as a buffer: not a weight.
            tensors.removeValue(forKey: b + "attn.bias")
        }
        guard tensors.isEmpty else {
            let names = tensors.keys.sorted()
            throw ConvertError("the checkpoint has tensors a LoopFormer does not use: \(names.prefix(8).joined(separator: ", "))\(names.count > 8 ? ", …" : "")")
        }
    }
}

/// Typed KWARGS fields. ConstructorConfig's getters test `v is Bool`, which on Linux is true for the
/// JSON numbers 0 and 1 (NSNumber bridging), so `n_layer: 1` or `dropout: 0.0` would be refused;
/// here a boolean is told apart by its NSNumber type code instead.
private struct Fields {
    let config: ConstructorConfig

    init(_ config: ConstructorConfig) { self.config = config }

    private func value(_ key: String) -> Any? { config.has(key) ? config.values[key] : nil }

    private static func isBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    func number(_ key: String, default d: Double) throws -> Double {
        guard let v = value(key) else { return d }
        guard let n = v as? NSNumber, !Self.isBoolean(n), n.doubleValue.isFinite else {
            throw ConvertError("\(config.source): '\(key)' must be a number, got \(v)")
        }
        return n.doubleValue
    }

    func int(_ key: String, default d: Int) throws -> Int {
        guard let v = value(key) else { return d }
        guard let n = v as? NSNumber, !Self.isBoolean(n), n.doubleValue == n.doubleValue.rounded(),
              abs(n.doubleValue) < 1e15 else {
            throw ConvertError("\(config.source): '\(key)' must be an integer, got \(v)")
        }
        return n.intValue
    }

    func bool(_ key: String, default d: Bool) throws -> Bool {
        guard let v = value(key) else { return d }
        guard let n = v as? NSNumber, Self.isBoolean(n) else {
            throw ConvertError("\(config.source): '\(key)' must be true or false, got \(v)")
        }
        return n.boolValue
    }

    func string(_ key: String, default d: String) throws -> String {
        guard let v = value(key) else { return d }
        guard let s = v as? String else { throw ConvertError("\(config.source): '\(key)' must be a string, got \(v)") }
        return s
    }
}
