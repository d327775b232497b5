import SwiftletFormat

/// Converts timm `VisionTransformer` / DeiT checkpoints for the `vit` family (ToMe merging is applied
/// at run time and adds no weights).
///
/// Config: the timm constructor arguments (`img_size`, `patch_size`, `in_chans`, `embed_dim`, `depth`,
/// `num_heads`, `mlp_ratio`, `num_classes`, `qkv_bias`, `no_embed_class`, ...), plus two optional
/// non-timm keys: `distilled` (DeiT's `VisionTransformerDistilled`) and `prop_attn` (ToMe's
/// proportional attention, default true: a run-time choice, not a property of the weights). A DeiT
/// `.pth` records its `args` (model name, input size, class count), a Hugging Face timm folder its
/// `config.json`; they complete the config. The tensors determine `embed_dim`, `in_chans`,
/// `patch_size`, `depth`, `mlp_ratio`, `num_classes`, `qkv_bias`, `distilled` and, for a square
/// grid, `img_size` and `no_embed_class`; `num_heads` shows in no tensor and comes from the config,
/// from a known model name (`deit_tiny_…`: 3), or is timm's default 12 with a warning. Arguments the
/// runtime does not implement (average pooling, no class token, layer scale, register tokens,
/// qk-norm, ...) are refused.
///
/// Checkpoints: a timm state dict, a DeiT `.pth` (state dict under `model`) or safetensors, with the
/// official key names, optionally all prefixed by `module.` (DataParallel). Tensors keep timm's names
/// and the tokens lose their leading `[1, 1]` / `[1]` axes. The matrices the runtime multiplies by
/// (patch embedding, qkv, proj, fc1, fc2; the patch conv flattened to `[D, C·p·p]` first) are stored
/// as column panels (`ViTSchema.weightLayout`), the layout the runtime's micro-kernels read in place
/// (CSwiftletKernels/include/swk_panel.h). `--dtype bf16` stores them as bf16 pair panels and `q8` as
/// int8 quad panels with a scale per output column (`ViTSchema.weightLayoutBF16`, `weightLayoutQ8`,
/// CSwiftletKernels/include/swk_panel_lowp.h), the heads too; f16 is refused (bf16 is as small and
/// has an in-place kernel).
public enum ViTConverter: FamilyConverter {
    public static let family = ViTSchema.family
    typealias S = ViTSchema

    /// Constructor arguments with no effect at inference (dropout, init schemes).
    static let ignored: Set<String> = [
        "drop_rate", "pos_drop_rate", "patch_drop_rate", "proj_drop_rate", "attn_drop_rate",
        "drop_path_rate", "weight_init", "fix_init", "pool_include_prefix", "device", "dtype",
        "pretrained", "pretrained_cfg", "pretrained_cfg_overlay",
    ]
    /// Arguments read (and checked) below.
    static let known: Set<String> = [
        "img_size", "patch_size", "in_chans", "num_classes", "global_pool", "embed_dim", "depth",
        "num_heads", "mlp_ratio", "qkv_bias", "qk_norm", "proj_bias", "init_values", "class_token",
        "pos_embed", "no_embed_class", "reg_tokens", "pre_norm", "final_norm", "fc_norm",
        "dynamic_img_size", "dynamic_img_pad", "scale_attn_norm", "scale_mlp_norm", "embed_layer",
        "embed_norm_layer", "norm_layer", "act_layer", "block_fn", "mlp_layer", "attn_layer",
        "distilled", "prop_attn",
    ]

    /// Head counts of timm's named sizes: a DeiT checkpoint records only its model name.
    static func heads(ofModel name: String) -> Int? {
        let sizes = ["tiny": 3, "small": 6, "base": 12, "large": 16, "huge": 16]
        let parts = name.split(separator: "_").map(String.init)
        guard let first = parts.first, first.hasPrefix("deit") || first.hasPrefix("vit") else { return nil }
        return parts.lazy.compactMap { sizes[$0] }.first
    }

    /// DeiT's `args` (argparse: `model`, `input_size`, `nb_classes`) or timm's Hugging Face
    /// `config.json` (`architecture`, `num_classes`, `pretrained_cfg.input_size`, `model_args`).
    public static func storedArguments(in checkpoint: Checkpoint) -> [(origin: String, values: [String: Any])] {
        var sources: [(origin: String, values: [String: Any])] = []
        func add(_ origin: String, _ values: [String: StoredValue?]) {
            let found = values.compactMapValues { $0 }
            if !found.isEmpty { sources.append((origin, found.mapValues(\.foundationValue))) }
        }
        if let args = checkpoint.extras["args"]?.dictionary {
            var size: StoredValue? = nil
            if case .int(let n)? = args["input_size"] { size = .list([.int(n), .int(n)]) }
            add("the checkpoint's 'args'", ["img_size": size, "num_classes": args["nb_classes"]])
            if case .string(let model)? = args["model"], let h = heads(ofModel: model) {
                add("the checkpoint's 'args' (model '\(model)')", ["num_heads": .int(h)])
            }
        }
        if let json = checkpoint.extras["config.json"]?.dictionary {
            add("the checkpoint's 'config.json'", json.filter { known.contains($0.key) })
            if let args = json["model_args"]?.dictionary {
                add("the checkpoint's 'config.json' model_args", args.filter { known.contains($0.key) })
            }
            var size: StoredValue? = nil
            var channels: StoredValue? = nil
            if case .list(let shape)? = json["pretrained_cfg"]?.dictionary?["input_size"], shape.count == 3 {
                channels = shape[0]
                size = .list(Array(shape[1...]))
            }
            add("the checkpoint's 'config.json' pretrained_cfg", ["img_size": size, "in_chans": channels])
            if case .string(let model)? = json["architecture"], let h = heads(ofModel: model) {
                add("the checkpoint's 'config.json' (architecture '\(model)')", ["num_heads": .int(h)])
            }
        }
        return sources
    }

    public static func convert(
        _ checkpoint: Checkpoint, config: ConstructorConfig, options: ConvertOptions,
        into output: inout ModelWriter
    ) throws {
        try config.refuseUnknownKeys(accepted: known.union(ignored), "VisionTransformer argument(s)")
        func refuse(_ key: String, _ why: String) throws -> Never {
            throw ConvertError("\(config.source): \(key) is not supported by the vit runtime (\(why))")
        }
        func pair(_ key: String) throws -> (Int, Int) {
            if let list = try? config.ints(key), list.count == 2, config.values[key] is [Any] {
                return (list[0], list[1])
            }
            let v = try config.int(key)
            return (v, v)
        }

        // Switches the runtime implements, and the ones it refuses.
        let propAttn = try config.bool("prop_attn", default: true)
        let pool = try config.string("global_pool", default: "token")
        guard pool == "token" else {
            try refuse("global_pool='\(pool)'", "only the class-token head, global_pool='token', is implemented")
        }
        guard try config.bool("class_token", default: true) else {
            try refuse("class_token=false", "ToMe here protects and classifies from the class token")
        }
        guard !(try config.bool("qk_norm", default: false)) else { try refuse("qk_norm=true", "no q/k norm") }
        guard try config.bool("proj_bias", default: true) else {
            try refuse("proj_bias=false", "projections have biases")
        }
        guard !config.has("init_values") else { try refuse("init_values", "layer scale; ToMe's block ignores it too") }
        guard try config.string("pos_embed", default: "learn") == "learn" else {
            try refuse("pos_embed", "only learned position embeddings")
        }
        guard try config.int("reg_tokens", default: 0) == 0 else { try refuse("reg_tokens", "no register tokens") }
        guard !(try config.bool("pre_norm", default: false)) else {
            try refuse("pre_norm=true", "no norm before the blocks")
        }
        guard try config.bool("final_norm", default: true) else {
            try refuse("final_norm=false", "the final norm is always applied")
        }
        if config.has("fc_norm"), try config.bool("fc_norm", default: false) {
            try refuse("fc_norm=true", "the final norm comes before pooling")
        }
        guard !(try config.bool("dynamic_img_size", default: false)) else {
            try refuse("dynamic_img_size=true", "the image size is fixed")
        }
        guard !(try config.bool("dynamic_img_pad", default: false)) else {
            try refuse("dynamic_img_pad=true", "no padding")
        }
        guard !(try config.bool("scale_attn_norm", default: false)),
            !(try config.bool("scale_mlp_norm", default: false))
        else {
            try refuse("scale_attn_norm/scale_mlp_norm", "no extra norms")
        }
        for key in ["embed_layer", "embed_norm_layer", "block_fn", "mlp_layer", "attn_layer"] where config.has(key) {
            try refuse(key, "only timm's default layers")
        }
        if config.has("norm_layer") {
            let v = try config.string("norm_layer")
            guard ["layernorm", "LayerNorm"].contains(v) else {
                try refuse("norm_layer='\(v)'", "only LayerNorm (eps 1e-6)")
            }
        }
        if config.has("act_layer") {
            let v = try config.string("act_layer")
            guard ["gelu", "GELU"].contains(v) else { try refuse("act_layer='\(v)'", "only exact GELU") }
        }

        // Checkpoint names, optionally under a DataParallel `module.` prefix.
        let prefix = checkpoint[S.classToken] == nil && checkpoint["module." + S.classToken] != nil ? "module." : ""
        func name(_ key: String) -> String { prefix + key }
        func tensor(_ key: String, rank: Int) throws -> CheckpointTensor {
            let t = try checkpoint.require(name(key))
            guard t.shape.count == rank else {
                throw ConvertError("checkpoint tensor '\(t.name)' has shape \(t.shape), expected \(rank) dimensions")
            }
            return t
        }
        func shape(_ t: CheckpointTensor) -> String { "'\(t.name)' has shape \(t.shape)" }

        // Shapes: the tensors' word where they have one.
        var hp = Hyperparameters(config)
        let patchWeight = try tensor(S.patchWeight, rank: 4) // [D, C, p, p]
        let dim = try hp.int("embed_dim", inferred: patchWeight.shape[0], shape(patchWeight))
        let channels = try hp.int("in_chans", inferred: patchWeight.shape[1], shape(patchWeight))
        let patch = patchWeight.shape[2]
        guard patchWeight.shape[3] == patch else {
            try refuse("patch_size \(patchWeight.shape[2...])", "patches must be square")
        }
        if config.has("patch_size"), try pair("patch_size") != (patch, patch) {
            throw hp.contradiction(
                "patch_size", config.values["patch_size"]!, "\(shape(patchWeight)), so patch_size = \(patch)")
        }
        let blockIndices = Set(
            checkpoint.names.compactMap { n -> Int? in
                guard n.hasPrefix(name("blocks.")) else { return nil }
                return Int(n.dropFirst(name("blocks.").count).prefix { $0 != "." })
            })
        guard !blockIndices.isEmpty, blockIndices == Set(0..<blockIndices.count) else {
            throw ConvertError("the checkpoint has blocks \(blockIndices.sorted()); expected blocks 0, 1, …")
        }
        let depth = try hp.int("depth", inferred: blockIndices.count, "it has blocks 0…\(blockIndices.count - 1)")
        let fc1 = try tensor(S.block(0, .fc1Weight), rank: 2)
        let hidden = fc1.shape[0]
        if config.has("mlp_ratio"), Int(try config.double("mlp_ratio") * Double(dim)) != hidden { // timm: int(dim * mlp_ratio)
            throw hp.contradiction(
                "mlp_ratio", config.values["mlp_ratio"]!,
                "\(shape(fc1)), so mlp_ratio = \(Double(hidden) / Double(dim))")
        }
        let head = try tensor(S.headWeight, rank: 2)
        let classes = try hp.int("num_classes", inferred: head.shape[0], shape(head))
        let hasQKVBias = checkpoint[name(S.block(0, .qkvBias))] != nil
        let qkvBias = try hp.bool(
            "qkv_bias", inferred: hasQKVBias, "it \(hasQKVBias ? "has" : "has no") '\(S.block(0, .qkvBias))'")
        let hasDist = checkpoint[name(S.distillationToken)] != nil
        let distilled = try hp.bool(
            "distilled", inferred: hasDist,
            "it \(hasDist ? "has" : "has no") '\(S.distillationToken)' (a distilled DeiT has one)")
        guard checkpoint[name(S.distillationHeadWeight)] != nil || !distilled else {
            throw ConvertError("the checkpoint has a '\(S.distillationToken)' but no '\(S.distillationHeadWeight)'")
        }

        // Image size and where the position embeddings start, from their count.
        let prefixTokens = distilled ? 2 : 1
        let pos = try tensor(S.positionEmbedding, rank: 3)
        let positions = pos.shape[1]
        let (imageHeight, imageWidth): (Int, Int)
        let noEmbedClass: Bool
        if config.has("img_size") {
            (imageHeight, imageWidth) = try pair("img_size")
            guard imageHeight >= patch, imageWidth >= patch else {
                throw ConvertError(
                    "\(config.origin(of: "img_size")): img_size \(imageHeight)×\(imageWidth) is smaller than a \(patch)×\(patch) patch"
                )
            }
            let patches = (imageHeight / patch) * (imageWidth / patch)
            guard positions == patches || positions == patches + prefixTokens else {
                throw hp.contradiction(
                    "img_size", config.values["img_size"]!,
                    "\(shape(pos)), but a \(imageHeight)×\(imageWidth) image in \(patch)×\(patch) patches has \(patches) patches (+\(prefixTokens) prefix token(s)); the runtime does not resample position embeddings"
                )
            }
            noEmbedClass = try hp.bool(
                "no_embed_class", inferred: positions == patches, "\(shape(pos)) for \(patches) patches")
        } else {
            // A square grid: the only shape a count of positions pins down.
            let choices =
                config.has("no_embed_class") ? [try config.bool("no_embed_class", default: false)] : [false, true]
            let grid = choices.lazy.compactMap { noEmbed -> (Bool, Int)? in
                let patches = noEmbed ? positions : positions - prefixTokens
                let side = Int(Double(max(patches, 0)).squareRoot().rounded())
                return side > 0 && side * side == patches ? (noEmbed, side) : nil
            }.first
            guard let (noEmbed, side) = grid else {
                throw ConvertError(
                    "img_size is not in the config, and \(shape(pos)), which is not a square grid of patches (with \(prefixTokens) prefix token(s)); set img_size"
                )
            }
            noEmbedClass = noEmbed
            (imageHeight, imageWidth) = (side * patch, side * patch)
        }
        let heads = try hp.int(
            "num_heads", default: 12, "timm's default; a wrong head count runs but computes wrong logits")
        for w in hp.warnings { output.warn(w) }
        guard heads >= 1, dim % heads == 0 else {
            throw ConvertError(
                "\(config.origin(of: "num_heads")): embed_dim \(dim) is not a multiple of num_heads \(heads)")
        }

        output.metadata(S.Key.imageSize, .ints([Int64(imageHeight), Int64(imageWidth)]))
        output.metadata(S.Key.patchSize, .int(Int64(patch)))
        output.metadata(S.Key.channels, .int(Int64(channels)))
        output.metadata(S.Key.width, .int(Int64(dim)))
        output.metadata(S.Key.depth, .int(Int64(depth)))
        output.metadata(S.Key.heads, .int(Int64(heads)))
        output.metadata(S.Key.mlpWidth, .int(Int64(hidden)))
        output.metadata(S.Key.classes, .int(Int64(classes)))
        output.metadata(S.Key.qkvBias, .bool(qkvBias))
        output.metadata(S.Key.distilled, .bool(distilled))
        output.metadata(S.Key.noEmbedClass, .bool(noEmbedClass))
        output.metadata(S.Key.proportionalAttention, .bool(propAttn))
        output.metadata(S.Key.layerNormEpsilon, .float(1e-6))
        output.metadata(S.Key.globalPool, .string("token"))
        // The matrices' storage: float32 panels, bf16 pair panels or int8 quad panels, each read in
        // place by its kernel (swk_panel_lowp.h). f16 has no in-place ViT kernel: bf16 is the same size.
        let big = options.weightDType
        let layout: String
        switch big {
        case .f32: layout = S.weightLayout
        case .bf16: layout = S.weightLayoutBF16
        case .q8Row: layout = S.weightLayoutQ8
        default:
            throw ConvertError(
                "--dtype \(big.name) is not supported for vit models: use f32, bf16 (the same size as f16, read in place by bf16 kernels) or q8 (int8 per output column, activations quantized per token)"
            )
        }
        output.metadata(S.Key.weightLayout, .string(layout))
        if let preprocess = options.preprocess {
            let (values, warnings) = try preprocess.metadata(channels: channels, height: imageHeight, width: imageWidth)
            for (key, value) in values { output.metadata(key, value) }
            for w in warnings { output.warn(w) }
        }

        func copy(_ key: String, _ shape: [Int], as stored: [Int]? = nil, dtype: DType = .f32) throws {
            let t = try checkpoint.require(name(key), shape: shape)
            try output.floats(key, try t.floats(), shape: stored ?? shape, dtype: dtype)
        }
        /// A weight the runtime multiplies by, `[n, k]` after flattening, stored as panels.
        func matrix(_ key: String, _ shape: [Int]) throws {
            let t = try checkpoint.require(name(key), shape: shape)
            let n = shape[0]
            let k = shape.dropFirst().reduce(1, *)
            try store(key, try t.floats(), n: n, k: k)
        }
        /// `[n, k]` values (row-major) in the layout of `big`.
        func store(_ key: String, _ w: [Float], n: Int, k: Int) throws {
            switch big {
            case .bf16:
                try output.floats(key, S.bf16Panels(w, n: n, k: k), shape: S.bf16PanelShape(n: n, k: k), dtype: .bf16)
            case .q8Row:
                guard w.allSatisfy(\.isFinite) else {
                    throw ConvertError("tensor '\(key)' holds a NaN or an infinity, which int8 cannot store")
                }
                let (bytes, scales) = S.q8Panels(w, n: n, k: k)
                try output.writer.addTensor(
                    name: key, dtype: .u8, shape: S.q8PanelShape(n: n, k: k), bytes: bytes,
                    codec: options.compress ? .zstd : .raw, shuffle: false)
                try output.floats(S.scaleName(of: key), scales, shape: [n])
            default:
                try output.floats(key, S.panels(w, n: n, k: k), shape: S.panelShape(n: n, k: k))
            }
        }
        /// The classifier heads: float32 rows for BLAS in an f32 file, panels otherwise.
        func classifier(_ key: String) throws {
            let t = try checkpoint.require(name(key), shape: [classes, dim])
            if big == .f32 {
                try output.floats(key, try t.floats(), shape: [classes, dim])
            } else {
                try store(key, try t.floats(), n: classes, k: dim)
            }
        }
        try matrix(S.patchWeight, [dim, channels, patch, patch])
        try copy(S.patchBias, [dim])
        try copy(S.classToken, [1, 1, dim], as: [dim])
        if distilled { try copy(S.distillationToken, [1, 1, dim], as: [dim]) }
        try copy(S.positionEmbedding, [1, positions, dim], as: [positions, dim])
        for i in 0..<depth {
            func b(_ t: S.BlockTensor) -> String { S.block(i, t) }
            try copy(b(.norm1Weight), [dim])
            try copy(b(.norm1Bias), [dim])
            try matrix(b(.qkvWeight), [3 * dim, dim])
            if qkvBias { try copy(b(.qkvBias), [3 * dim]) }
            let p = "blocks.\(i)."
            for key in ["attn.q_norm.weight", "attn.k_norm.weight", "ls1.gamma", "ls2.gamma"]
            where checkpoint[name(p + key)] != nil {
                throw ConvertError(
                    "the checkpoint has '\(p)\(key)', which the config does not describe and the runtime does not implement"
                )
            }
            try matrix(b(.projWeight), [dim, dim])
            try copy(b(.projBias), [dim])
            try copy(b(.norm2Weight), [dim])
            try copy(b(.norm2Bias), [dim])
            try matrix(b(.fc1Weight), [hidden, dim])
            try copy(b(.fc1Bias), [hidden])
            try matrix(b(.fc2Weight), [dim, hidden])
            try copy(b(.fc2Bias), [dim])
        }
        try copy(S.normWeight, [dim])
        try copy(S.normBias, [dim])
        try classifier(S.headWeight)
        try copy(S.headBias, [classes])
        if distilled {
            try classifier(S.distillationHeadWeight)
            try copy(S.distillationHeadBias, [classes])
        }
    }
}
