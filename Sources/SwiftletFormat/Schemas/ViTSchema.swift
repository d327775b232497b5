/// What a `vit` file holds (timm ViT / DeiT, ToMe merging at run time): its metadata keys and tensor
/// names, for the converter that writes them and the loader that reads them. Tensors keep timm's
/// names; names and keys are part of the file format and never change.
public enum ViTSchema {
    public static let family = "vit"

    /// Metadata keys.
    public enum Key {
        public static let imageSize = "vit.image_size" // [height, width]
        public static let patchSize = "vit.patch_size"
        public static let channels = "vit.in_chans"
        public static let width = "vit.embed_dim"
        public static let depth = "vit.depth"
        public static let heads = "vit.num_heads"
        public static let mlpWidth = "vit.mlp_hidden"
        public static let classes = "vit.num_classes"
        public static let qkvBias = "vit.qkv_bias"
        public static let distilled = "vit.distilled"
        public static let noEmbedClass = "vit.no_embed_class"
        public static let proportionalAttention = "vit.prop_attn"
        public static let layerNormEpsilon = "vit.layer_norm_eps"
        public static let globalPool = "vit.global_pool"
        public static let weightLayout = "vit.weight_layout"
    }

    /// The value of `vit.weight_layout`: the matrices the runtime multiplies by are stored as
    /// 16-wide column panels, an `[n, k]` matrix as `[ceil(n/16), k, 16]` with
    /// `panel[j][p][c] = W[16j + c, p]` (zero past n).
    public static let weightLayout = "panels16"

    /// Stored shape of an `[n, k]` matrix in the panel layout.
    public static func panelShape(n: Int, k: Int) -> [Int] { [(n + 15) / 16, k, 16] }

    /// `vit.weight_layout` of a file whose matrices (patch embedding, qkv, proj, fc1, fc2 and the
    /// heads) are bfloat16 pair panels, read in place: an `[n, k]` matrix as bf16
    /// `[ceil(n/16), ceil(k/2), 16, 2]` with `panel[j][q][c][e] = W[16j + c, 2q + e]` (zero past n and
    /// k), the layout of AVX-512 BF16's `vdpbf16ps` (CSwiftletKernels/include/swk_panel_lowp.h).
    public static let weightLayoutBF16 = "panels16_bf16_pairs"

    /// `vit.weight_layout` of a file whose matrices are int8 quad panels, read in place: an `[n, k]`
    /// matrix quantized per row of W (symmetric, `scale = max|W[j, :]| / 127`) as u8 tensor (the bytes
    /// are two's-complement int8) `[ceil(n/16), ceil(k/4), 16, 4]` with
    /// `panel[j][g][c][e] = q[16j + c, 4g + e]` (zero past n and k), the layout of AVX-512 VNNI's
    /// `vpdpbusd`, and the f32 scales `[n]` in the tensor named `scaleName(of:)`.
    public static let weightLayoutQ8 = "panels16_q8_quads"

    /// Stored shape of an `[n, k]` matrix in the bf16 pair-panel layout.
    public static func bf16PanelShape(n: Int, k: Int) -> [Int] { [(n + 15) / 16, (k + 1) / 2, 16, 2] }

    /// Stored shape of an `[n, k]` matrix in the int8 quad-panel layout.
    public static func q8PanelShape(n: Int, k: Int) -> [Int] { [(n + 15) / 16, (k + 3) / 4, 16, 4] }

    /// The scales of an int8 quad-panel matrix, f32 `[n]`: one per row of W (per output column of
    /// `x · Wᵀ`). Formats/swl.md §6.1 describes the three layouts byte by byte.
    public static func scaleName(of matrix: String) -> String { matrix + "_scale" }

    public static let patchWeight = "patch_embed.proj.weight" // panels of [D, C·p·p]
    public static let patchBias = "patch_embed.proj.bias" // [D]
    public static let classToken = "cls_token" // [D]
    public static let distillationToken = "dist_token" // [D], distilled only
    public static let positionEmbedding = "pos_embed" // [positions, D]
    public static let normWeight = "norm.weight"
    public static let normBias = "norm.bias"
    public static let headWeight = "head.weight" // [classes, D]
    public static let headBias = "head.bias"
    public static let distillationHeadWeight = "head_dist.weight" // distilled only
    public static let distillationHeadBias = "head_dist.bias"

    /// Tensors of one block; the `*Weight` matrices of attention and MLP are stored as panels.
    public enum BlockTensor: String, CaseIterable, Sendable {
        case norm1Weight = "norm1.weight", norm1Bias = "norm1.bias"
        case qkvWeight = "attn.qkv.weight" // [3D, D]
        case qkvBias = "attn.qkv.bias" // [3D], only with qkv_bias
        case projWeight = "attn.proj.weight", projBias = "attn.proj.bias"
        case norm2Weight = "norm2.weight", norm2Bias = "norm2.bias"
        case fc1Weight = "mlp.fc1.weight", fc1Bias = "mlp.fc1.bias" // [hidden, D]
        case fc2Weight = "mlp.fc2.weight", fc2Bias = "mlp.fc2.bias" // [D, hidden]
    }

    public static func block(_ i: Int, _ t: BlockTensor) -> String { "blocks.\(i).\(t.rawValue)" }
}
