import SwiftletFormat

/// Converts timm `VisionTransformer` / DeiT checkpoints for the `vit` family (ToMe merging is applied
/// at run time and adds no weights).
///
/// Config: the timm constructor arguments (`img_size`, `patch_size`, `in_chans`, `embed_dim`, `depth`,
/// `num_heads`, `mlp_ratio`, `num_classes`, `qkv_bias` — default true —, `no_embed_class`, ...), plus
/// two optional non-timm keys: `distilled` (DeiT's `VisionTransformerDistilled`; detected from the
/// checkpoint's `dist_token` when absent) and `prop_attn` (ToMe's proportional attention, default
/// true). Arguments the runtime does not implement (average pooling, no class token, layer scale,
/// register tokens, qk-norm, ...) are refused.
///
/// Checkpoints: a timm state dict, a DeiT `.pth` (state dict under `model`) or safetensors, with the
/// official key names, optionally all prefixed by `module.` (DataParallel). Tensors keep timm's names
/// and the tokens lose their leading `[1, 1]` / `[1]` axes. The matrices the runtime multiplies by
/// (patch embedding, qkv, proj, fc1, fc2; the patch conv flattened to `[D, C·p·p]` first) are stored
/// as column panels, `vit.weight_layout = "panels16"`: an `[n, k]` matrix becomes
/// `[ceil(n/16), k, 16]` with `panel[j][p][c] = W[16j + c, p]` (zero past n), the layout the runtime's
/// micro-kernels read in place (CSwiftletKernels/include/swiftlet_vit.h). With `q8_row` storage each
/// last-axis row, 16 weights of one input, then gets its own scale.
public enum ViTConverter: FamilyConverter {
    public static let family = "vit"

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

    public static func convert(_ checkpoint: Checkpoint, config: ConstructorConfig, options: ConvertOptions,
                               into output: inout ModelWriter) throws {
        let unknown = config.values.keys.filter { !known.contains($0) && !ignored.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw ConvertError("\(config.source): unknown VisionTransformer argument(s) \(unknown.joined(separator: ", "))")
        }
        func refuse(_ key: String, _ why: String) throws -> Never {
            throw ConvertError("\(config.source): \(key) is not supported by the vit runtime (\(why))")
        }
        func pair(_ key: String, default d: Int) throws -> (Int, Int) {
            guard config.has(key) else { return (d, d) }
            if let list = try? config.ints(key), list.count == 2, config.values[key] is [Any] { return (list[0], list[1]) }
            let v = try config.int(key)
            return (v, v)
        }

        // Shapes.
        let (imageHeight, imageWidth) = try pair("img_size", default: 224)
        let (patchH, patchW) = try pair("patch_size", default: 16)
        guard patchH == patchW else { try refuse("patch_size \([patchH, patchW])", "patches must be square") }
        let patch = patchH
        let channels = try config.int("in_chans", default: 3)
        let dim = try config.int("embed_dim", default: 768)
        let depth = try config.int("depth", default: 12)
        let heads = try config.int("num_heads", default: 12)
        let mlpRatio = try config.double("mlp_ratio", default: 4)
        let classes = try config.int("num_classes", default: 1000)
        guard patch >= 1, channels >= 1, dim >= 1, depth >= 1, heads >= 1, dim % heads == 0,
              imageHeight >= patch, imageWidth >= patch, mlpRatio > 0 else {
            throw ConvertError("\(config.source): inconsistent shapes (img_size \(imageHeight)×\(imageWidth), patch_size \(patch), in_chans \(channels), embed_dim \(dim), depth \(depth), num_heads \(heads), mlp_ratio \(mlpRatio)); embed_dim must be a multiple of num_heads")
        }
        guard classes >= 1 else { try refuse("num_classes=\(classes)", "the runtime needs a classifier head") }
        let hidden = Int(mlpRatio * Double(dim))   // timm: int(dim * mlp_ratio)

        // Switches the runtime implements, and the ones it refuses.
        let qkvBias = try config.bool("qkv_bias", default: true)
        let noEmbedClass = try config.bool("no_embed_class", default: false)
        let propAttn = try config.bool("prop_attn", default: true)
        let pool = try config.string("global_pool", default: "token")
        guard pool == "token" else { try refuse("global_pool='\(pool)'", "only the class-token head, global_pool='token', is implemented") }
        guard try config.bool("class_token", default: true) else { try refuse("class_token=false", "ToMe here protects and classifies from the class token") }
        guard !(try config.bool("qk_norm", default: false)) else { try refuse("qk_norm=true", "no q/k norm") }
        guard try config.bool("proj_bias", default: true) else { try refuse("proj_bias=false", "projections have biases") }
        guard !config.has("init_values") else { try refuse("init_values", "layer scale; ToMe's block ignores it too") }
        guard try config.string("pos_embed", default: "learn") == "learn" else { try refuse("pos_embed", "only learned position embeddings") }
        guard try config.int("reg_tokens", default: 0) == 0 else { try refuse("reg_tokens", "no register tokens") }
        guard !(try config.bool("pre_norm", default: false)) else { try refuse("pre_norm=true", "no norm before the blocks") }
        guard try config.bool("final_norm", default: true) else { try refuse("final_norm=false", "the final norm is always applied") }
        if config.has("fc_norm"), try config.bool("fc_norm", default: false) { try refuse("fc_norm=true", "the final norm comes before pooling") }
        guard !(try config.bool("dynamic_img_size", default: false)) else { try refuse("dynamic_img_size=true", "the image size is fixed") }
        guard !(try config.bool("dynamic_img_pad", default: false)) else { try refuse("dynamic_img_pad=true", "no padding") }
        guard !(try config.bool("scale_attn_norm", default: false)), !(try config.bool("scale_mlp_norm", default: false)) else {
            try refuse("scale_attn_norm/scale_mlp_norm", "no extra norms")
        }
        for key in ["embed_layer", "embed_norm_layer", "block_fn", "mlp_layer", "attn_layer"] where config.has(key) {
            try refuse(key, "only timm's default layers")
        }
        if config.has("norm_layer") {
            let v = try config.string("norm_layer")
            guard ["layernorm", "LayerNorm"].contains(v) else { try refuse("norm_layer='\(v)'", "only LayerNorm (eps 1e-6)") }
        }
        if config.has("act_layer") {
            let v = try config.string("act_layer")
            guard ["gelu", "GELU"].contains(v) else { try refuse("act_layer='\(v)'", "only exact GELU") }
        }

        // Checkpoint names, optionally under a DataParallel `module.` prefix.
        let prefix = checkpoint["cls_token"] == nil && checkpoint["module.cls_token"] != nil ? "module." : ""
        func name(_ key: String) -> String { prefix + key }
        let hasDist = checkpoint[name("dist_token")] != nil
        let distilled = try config.bool("distilled", default: hasDist)
        if distilled != hasDist {
            throw ConvertError(distilled
                ? "the config says distilled but the checkpoint has no 'dist_token'; is this a distilled DeiT?"
                : "the checkpoint has a 'dist_token' (a distilled DeiT) but the config says distilled=false")
        }
        guard checkpoint[name("head_dist.weight")] != nil || !distilled else {
            throw ConvertError("the checkpoint has a 'dist_token' but no 'head_dist.weight'")
        }

        let tokens = (imageHeight / patch) * (imageWidth / patch) + (distilled ? 2 : 1)
        let positions = noEmbedClass ? tokens - (distilled ? 2 : 1) : tokens
        if let pos = checkpoint[name("pos_embed")], pos.shape != [1, positions, dim] {
            throw ConvertError("checkpoint 'pos_embed' has shape \(pos.shape) but img_size \(imageHeight)×\(imageWidth) with patch \(patch) needs [1, \(positions), \(dim)]; the runtime does not resample position embeddings")
        }

        output.metadata("vit.image_size", .ints([Int64(imageHeight), Int64(imageWidth)]))
        output.metadata("vit.patch_size", .int(Int64(patch)))
        output.metadata("vit.in_chans", .int(Int64(channels)))
        output.metadata("vit.embed_dim", .int(Int64(dim)))
        output.metadata("vit.depth", .int(Int64(depth)))
        output.metadata("vit.num_heads", .int(Int64(heads)))
        output.metadata("vit.mlp_hidden", .int(Int64(hidden)))
        output.metadata("vit.num_classes", .int(Int64(classes)))
        output.metadata("vit.qkv_bias", .bool(qkvBias))
        output.metadata("vit.distilled", .bool(distilled))
        output.metadata("vit.no_embed_class", .bool(noEmbedClass))
        output.metadata("vit.prop_attn", .bool(propAttn))
        output.metadata("vit.layer_norm_eps", .float(1e-6))
        output.metadata("vit.global_pool", .string("token"))

        output.metadata("vit.weight_layout", .string(weightLayout))

        let big = options.weightDType
        func copy(_ key: String, _ shape: [Int], as stored: [Int]? = nil, dtype: DType = .f32) throws {
            let t = try checkpoint.require(name(key), shape: shape)
            try output.floats(key, try t.floats(), shape: stored ?? shape, dtype: dtype)
        }
        /// A weight the runtime multiplies by, `[n, k]` after flattening, stored as panels.
        func matrix(_ key: String, _ shape: [Int]) throws {
            let t = try checkpoint.require(name(key), shape: shape)
            let n = shape[0], k = shape.dropFirst().reduce(1, *)
            try output.floats(key, panels(try t.floats(), n: n, k: k), shape: panelShape(n: n, k: k), dtype: big)
        }
        try matrix("patch_embed.proj.weight", [dim, channels, patch, patch])
        try copy("patch_embed.proj.bias", [dim])
        try copy("cls_token", [1, 1, dim], as: [dim])
        if distilled { try copy("dist_token", [1, 1, dim], as: [dim]) }
        try copy("pos_embed", [1, positions, dim], as: [positions, dim])
        for i in 0..<depth {
            let p = "blocks.\(i)."
            try copy(p + "norm1.weight", [dim])
            try copy(p + "norm1.bias", [dim])
            try matrix(p + "attn.qkv.weight", [3 * dim, dim])
            if qkvBias {
                try copy(p + "attn.qkv.bias", [3 * dim])
            } else if checkpoint[name(p + "attn.qkv.bias")] != nil {
                throw ConvertError("the config says qkv_bias=false but the checkpoint has '\(p)attn.qkv.bias'")
            }
            for key in ["attn.q_norm.weight", "attn.k_norm.weight", "ls1.gamma", "ls2.gamma"] where checkpoint[name(p + key)] != nil {
                throw ConvertError("the checkpoint has '\(p)\(key)', which the config does not describe and the runtime does not implement")
            }
            try matrix(p + "attn.proj.weight", [dim, dim])
            try copy(p + "attn.proj.bias", [dim])
            try copy(p + "norm2.weight", [dim])
            try copy(p + "norm2.bias", [dim])
            try matrix(p + "mlp.fc1.weight", [hidden, dim])
            try copy(p + "mlp.fc1.bias", [hidden])
            try matrix(p + "mlp.fc2.weight", [dim, hidden])
            try copy(p + "mlp.fc2.bias", [dim])
        }
        if checkpoint[name("blocks.\(depth).norm1.weight")] != nil {
            throw ConvertError("the checkpoint has more than depth=\(depth) blocks; check 'depth' in the config")
        }
        try copy("norm.weight", [dim])
        try copy("norm.bias", [dim])
        try copy("head.weight", [classes, dim], dtype: big)
        try copy("head.bias", [classes])
        if distilled {
            try copy("head_dist.weight", [classes, dim], dtype: big)
            try copy("head_dist.bias", [classes])
        }
    }

    /// The value of `vit.weight_layout` this converter writes.
    public static let weightLayout = "panels16"

    /// Shape of an `[n, k]` matrix in the panel layout.
    static func panelShape(n: Int, k: Int) -> [Int] { [(n + 15) / 16, k, 16] }

    /// `w` (`[n, k]`, row-major) in the panel layout: `out[(j·k + p)·16 + c] = w[(16j + c)·k + p]`,
    /// zero for rows past n.
    static func panels(_ w: [Float], n: Int, k: Int) -> [Float] {
        var out = [Float](repeating: 0, count: (n + 15) / 16 * 16 * k)
        for r in 0..<n {
            let j = r / 16, c = r % 16
            for p in 0..<k { out[(j * k + p) * 16 + c] = w[r * k + p] }
        }
        return out
    }
}
