import CSwiftletKernels
import SwiftletFormat
import SwiftletKernels

/// ViT / DeiT (timm `VisionTransformer`, DeiT `VisionTransformerDistilled`) with ToMe token merging
/// (facebookresearch/ToMe `tome.patch.timm`): in every block, between attention and MLP, the most
/// similar tokens are merged by bipartite soft matching, attention is proportional to token sizes,
/// and the class (and distillation) token is never merged.
///
/// Input `images` f32 `[B, C, H, W]` (already normalised; H, W fixed by the model). Outputs, in this
/// order: `logits` `[B, classes]`, `tokens` `[B, N_left, D]` (the final normed tokens in ToMe's order)
/// and `sizes` `[B, N_left]` (how many original tokens each final token stands for). Every image of a
/// batch merges the same number of tokens per layer, but each picks its own tokens.
///
/// The budget's `mergeR` is ToMe's `r`: one value is a constant r per layer, exactly `[r, -1]` is
/// ToMe's decreasing `(r, -1)` schedule (2r down to 0), any other list is a per-layer list padded with
/// zeros. Without `mergeR`, a GFLOP or latency limit picks the smallest constant r that fits.
public final class ViTModel: FamilyModel, @unchecked Sendable {
    public static let familyName = ViTSchema.family
    public var family: String { Self.familyName }

    let config: ViTConfig
    let weights: ViTWeights
    let file: SWLFile // keeps the mapped weights alive
    /// The quality profile's settings as schedules, when the model carries one (`swiftlet profile`).
    let profile: [(entry: QualityProfile.Entry, schedule: MergeSchedule)]?
    /// From the `image.*` metadata (`swiftlet convert --preprocess`); nil when the file has none.
    let imagePreprocessing: Result<ImageTransform, ModelError>?

    public init(file: SWLFile) throws(ModelError) {
        self.file = file
        let w = Weights(file)
        config = try ViTConfig(w)
        weights = try ViTWeights(w, config)
        imagePreprocessing = try ImagePreprocessing.load(
            w, height: config.imageHeight, width: config.imageWidth, channels: config.channels)
        let depth = config.depth
        profile = try QualityProfile(metadata: file.metadata, full: "r=0").map { (p) throws(ModelError) in
            try p.entries.map { (e) throws(ModelError) in (e, try Self.schedule(e.setting, depth: depth)) }
        }
    }

    /// The schedule of a profile setting spelled "r=8", "r=8,-1" or "r=16,8,4".
    static func schedule(_ setting: String, depth: Int) throws(ModelError) -> MergeSchedule {
        let values = setting.hasPrefix("r=") ? setting.dropFirst(2).split(separator: ",").map { Int($0) } : []
        guard !values.isEmpty, !values.contains(nil) else {
            throw ModelError(
                .format,
                "the model's quality profile lists '\(setting)', which is not a merge schedule (r=8, r=8,-1 or r=16,8,4); profile the model again"
            )
        }
        return try MergeSchedule(values.map { $0! }, depth: depth)
    }

    /// The profiled quality of a schedule (nil when it was not profiled).
    func quality(of schedule: MergeSchedule) -> Double? {
        profile?.first { $0.schedule == schedule }?.entry.quality
    }

    public var classCount: Int? { config.classes }

    public func imageTransform() throws(ModelError) -> ImageTransform {
        guard let imagePreprocessing else {
            throw ModelError(
                .unsupported,
                "this vit model carries no image preprocessing; convert it with --preprocess (timm's pretrained_cfg JSON) to run it on images"
            )
        }
        return try imagePreprocessing.get()
    }

    public var inputs: [TensorInfo] {
        [
            TensorInfo(
                name: "images", dtype: .f32,
                shape: [-1, config.channels, config.imageHeight, config.imageWidth])
        ]
    }

    public var outputs: [TensorInfo] {
        [
            TensorInfo(name: "logits", dtype: .f32, shape: [-1, config.classes]),
            TensorInfo(name: "tokens", dtype: .f32, shape: [-1, -1, config.dim], dimensionNames: ["batch", "tokens"]),
            TensorInfo(name: "sizes", dtype: .f32, shape: [-1, -1], dimensionNames: ["batch", "tokens"]),
        ]
    }

    public var sessionKnobs: Set<BudgetKnob> { [.maxLatencyMs, .maxGFLOPs, .mergeR, .minQuality] }

    public func makeRunner(context: ExecutionContext) throws(ModelError) -> any FamilyRunner {
        ViTRunner(model: self, context: context)
    }
}

/// Shapes and switches of one model, read from the `vit.*` metadata.
struct ViTConfig: Sendable {
    let imageHeight: Int
    let imageWidth: Int
    let patch: Int
    let channels: Int
    let dim: Int
    let depth: Int
    let heads: Int
    let hidden: Int
    let classes: Int
    let qkvBias: Bool
    let distilled: Bool
    /// DeiT-III style: position embeddings on the patches only, prefix tokens added after.
    let noEmbedClass: Bool
    /// ToMe's proportional attention (+log size on the keys); on for off-the-shelf models.
    let propAttn: Bool
    let eps: Float

    var headDim: Int { dim / heads }
    var gridHeight: Int { imageHeight / patch }
    var gridWidth: Int { imageWidth / patch }
    var patches: Int { gridHeight * gridWidth }
    /// Protected tokens at the front: class, and distillation when present.
    var prefix: Int { distilled ? 2 : 1 }
    /// Tokens entering the first block.
    var tokens: Int { patches + prefix }
    /// Length of one flattened patch, `(c, kh, kw)` order.
    var patchLength: Int { channels * patch * patch }
    var positions: Int { noEmbedClass ? patches : tokens }
}

extension ViTConfig {
    /// Every numeric `vit.*` key, range-checked here before any arithmetic uses it: a crafted file
    /// (±2^63 sizes, a NaN or 1e300 epsilon) is refused with the key and the allowed range.
    init(_ w: Weights) throws(ModelError) {
        typealias K = ViTSchema.Key
        let limit = 1 << 16
        guard case .ints(let size)? = w.file.metadata[K.imageSize], size.count == 2 else {
            throw ModelError(.format, "metadata '\(K.imageSize)' ([height, width]) is missing from the model file")
        }
        guard size.allSatisfy({ (1...Int64(limit)).contains($0) }) else {
            throw ModelError(.format, "metadata '\(K.imageSize)' must be two integers in 1...\(limit), got \(size)")
        }
        imageHeight = Int(size[0])
        imageWidth = Int(size[1])
        patch = try w.int(K.patchSize, in: 1...limit)
        channels = try w.int(K.channels, in: 1...limit, default: 3)
        dim = try w.int(K.width, in: 1...limit)
        depth = try w.int(K.depth, in: 1...4096)
        heads = try w.int(K.heads, in: 1...limit)
        hidden = try w.int(K.mlpWidth, in: 1...(1 << 20))
        classes = try w.int(K.classes, in: 1...(1 << 20))
        qkvBias = try w.bool(K.qkvBias, default: true)
        distilled = try w.bool(K.distilled, default: false)
        noEmbedClass = try w.bool(K.noEmbedClass, default: false)
        propAttn = try w.bool(K.proportionalAttention, default: true)
        eps = Float(try w.double(K.layerNormEpsilon, in: 1e-30...1, default: 1e-6))
        guard imageHeight >= patch, imageWidth >= patch, dim % heads == 0 else {
            throw ModelError(
                .format,
                "vit metadata is inconsistent (image \(imageHeight)×\(imageWidth), patch \(patch), dim \(dim), heads \(heads)): need image ≥ patch and dim a multiple of heads"
            )
        }
        guard patches <= limit else {
            throw ModelError(.format, "vit metadata gives \(patches) patches; at most \(limit) are supported")
        }
        // The largest weight matrices, so that every later size product fits.
        _ = try sizeProduct(dim, patchLength, 4, what: "the patch embedding's size")
        _ = try sizeProduct(hidden, dim, 4, what: "the MLP matrix's size")
        _ = try sizeProduct(classes, dim, 4, what: "the head's size")
    }
}

/// The storage of a file's matrices, from `vit.weight_layout`.
enum ViTMatrixType: Sendable {
    /// float32 panels (`swk_panel_linear`).
    case f32
    /// bf16 pair panels (`swk_panel_linear_bf16`, activations rounded to bf16 per call).
    case bf16
    /// int8 quad panels with per-column scales (`swk_panel_linear_q8`, activations quantized per row).
    case q8
}

/// One `[n, k]` weight matrix read in place from the mapped file in the layout of its type; for q8
/// also its per-column scales (from the file) and column sums (computed at load, `n` int32).
final class ViTMatrix: @unchecked Sendable {
    let type: ViTMatrixType
    let n: Int
    let k: Int
    let pointer: UnsafeRawPointer
    let scales: UnsafePointer<Float>?
    let sums: UnsafeMutablePointer<Int32>?

    /// A float32 or bf16 matrix.
    init(type: ViTMatrixType, n: Int, k: Int, pointer: UnsafeRawPointer) {
        self.type = type
        self.n = n
        self.k = k
        self.pointer = pointer
        scales = nil
        sums = nil
    }

    /// An int8 matrix and its scales; nil when a weight byte is −128: writers store −127 … 127, so such
    /// a byte means a damaged or foreign file (swl.md §6.1; the kernels would still sum it exactly).
    init?(q8 n: Int, k: Int, pointer: UnsafeRawPointer, scales: UnsafePointer<Float>) {
        let sums = UnsafeMutablePointer<Int32>.allocate(capacity: max(n, 1))
        guard swk_panel_q8_sums(pointer.assumingMemoryBound(to: Int8.self), n, k, sums) == 0 else {
            sums.deallocate()
            return nil
        }
        type = .q8
        self.n = n
        self.k = k
        self.pointer = pointer
        self.scales = scales
        self.sums = sums
    }

    deinit { sums?.deallocate() }

    var floats: UnsafePointer<Float> { pointer.assumingMemoryBound(to: Float.self) }
}

/// Pointers into the mapped file, one set per block. The matrices are panels in the file's layout
/// (CSwiftletKernels/include/swk_panel.h, swk_panel_lowp.h).
struct ViTBlockWeights {
    let norm1Weight, norm1Bias: UnsafePointer<Float>
    let qkvWeight: ViTMatrix
    let qkvBias: UnsafePointer<Float>?
    let projWeight: ViTMatrix
    let projBias: UnsafePointer<Float>
    let norm2Weight, norm2Bias: UnsafePointer<Float>
    let fc1Weight: ViTMatrix
    let fc1Bias: UnsafePointer<Float>
    let fc2Weight: ViTMatrix
    let fc2Bias: UnsafePointer<Float>
}

struct ViTWeights {
    let type: ViTMatrixType
    let patchWeight: ViTMatrix // [D, C·p·p] as panels
    let patchBias: UnsafePointer<Float> // [D]
    let classToken: UnsafePointer<Float> // [D]
    let distToken: UnsafePointer<Float>? // [D]
    let positions: UnsafePointer<Float> // [positions, D]
    let blocks: [ViTBlockWeights]
    let normWeight, normBias: UnsafePointer<Float>
    /// `[classes, D]` float32 rows (BLAS) in an f32 file; panels of the file's type otherwise.
    let headWeight: ViTMatrix
    let headBias: UnsafePointer<Float>
    let headDistWeight: ViTMatrix?
    let headDistBias: UnsafePointer<Float>?

    init(_ w: Weights, _ c: ViTConfig) throws(ModelError) {
        typealias S = ViTSchema
        let d = c.dim
        func f(_ name: String, _ shape: [Int]) throws(ModelError) -> UnsafePointer<Float> {
            let values = try w.floats(name, shape: shape)
            return values.baseAddress!
        }
        let layout = w.file.metadata[S.Key.weightLayout]
        switch layout {
        case .string(S.weightLayout)?: type = .f32
        case .string(S.weightLayoutBF16)?: type = .bf16
        case .string(S.weightLayoutQ8)?: type = .q8
        case nil:
            throw ModelError(
                .format,
                "this vit file stores its weight matrices unpacked (converted by an older swiftlet); convert the checkpoint again"
            )
        default:
            throw ModelError(
                .unsupported,
                "\(S.Key.weightLayout) \(layout!) is not supported (this runtime reads '\(S.weightLayout)', '\(S.weightLayoutBF16)' and '\(S.weightLayoutQ8)')"
            )
        }
        let type = self.type
        /// The stored bytes of a tensor of exactly this type and shape, in place.
        func raw(_ name: String, _ dtype: DType, _ shape: [Int]) throws(ModelError) -> UnsafeRawPointer {
            guard let entry = w.file.entry(name) else {
                throw ModelError(.format, "tensor '\(name)' is missing from the model file")
            }
            guard entry.dtype == dtype, entry.shape == shape else {
                let stored = entry.dtypeName
                throw ModelError(
                    .format,
                    "tensor '\(name)' is \(stored) \(entry.shape), expected \(dtype.name) \(shape) (\(S.Key.weightLayout) '\(layout!)'); convert the checkpoint again"
                )
            }
            let bytes: UnsafeRawBufferPointer
            do {
                bytes = try w.file.rawBytes(name)
            } catch {
                throw ModelError(error)
            }
            guard let base = bytes.baseAddress, Int(bitPattern: base) % 4 == 0 else {
                throw ModelError(.format, "tensor '\(name)' is not 4-byte aligned in the file")
            }
            return base
        }
        // An `[n, k]` matrix in the panel layout of the file's type, read in place.
        func panels(_ name: String, _ n: Int, _ k: Int) throws(ModelError) -> ViTMatrix {
            switch type {
            case .f32:
                // f16 or q8_row panels (older swiftlet) would be widened at load: refused instead.
                if let e = w.file.entry(name), e.dtype != .f32 {
                    throw ModelError(
                        .unsupported,
                        "tensor '\(name)' is \(e.dtype?.name ?? "of an unknown type") float panels, which this runtime would have to widen to float32; convert the checkpoint again with --dtype f32, bf16 or q8"
                    )
                }
                return ViTMatrix(
                    type: .f32, n: n, k: k, pointer: UnsafeRawPointer(try f(name, S.panelShape(n: n, k: k))))
            case .bf16:
                return ViTMatrix(type: .bf16, n: n, k: k, pointer: try raw(name, .bf16, S.bf16PanelShape(n: n, k: k)))
            case .q8:
                let scales = try f(S.scaleName(of: name), [n])
                guard
                    let m = ViTMatrix(
                        q8: n, k: k, pointer: try raw(name, .u8, S.q8PanelShape(n: n, k: k)), scales: scales)
                else {
                    throw ModelError(
                        .format,
                        "tensor '\(name)' holds the int8 value -128, which no writer stores (-127 ... 127); the file is damaged or was written by another tool, convert it again"
                    )
                }
                return m
            }
        }
        /// A head: float32 rows in an f32 file (BLAS), panels otherwise.
        func head(_ name: String) throws(ModelError) -> ViTMatrix {
            if type == .f32 {
                if let e = w.file.entry(name), e.dtype != .f32 {
                    throw ModelError(
                        .unsupported,
                        "tensor '\(name)' is \(e.dtype?.name ?? "of an unknown type"), which this runtime would have to widen to float32; convert the checkpoint again with --dtype f32, bf16 or q8"
                    )
                }
                return ViTMatrix(
                    type: .f32, n: c.classes, k: d, pointer: UnsafeRawPointer(try f(name, [c.classes, d])))
            }
            return try panels(name, c.classes, d)
        }
        patchWeight = try panels(S.patchWeight, d, c.patchLength)
        patchBias = try f(S.patchBias, [d])
        classToken = try f(S.classToken, [d])
        distToken = c.distilled ? try f(S.distillationToken, [d]) : nil
        positions = try f(S.positionEmbedding, [c.positions, d])
        var blocks: [ViTBlockWeights] = []
        for i in 0..<c.depth {
            func b(_ t: S.BlockTensor) -> String { S.block(i, t) }
            blocks.append(
                ViTBlockWeights(
                    norm1Weight: try f(b(.norm1Weight), [d]), norm1Bias: try f(b(.norm1Bias), [d]),
                    qkvWeight: try panels(b(.qkvWeight), 3 * d, d),
                    qkvBias: c.qkvBias ? try f(b(.qkvBias), [3 * d]) : nil,
                    projWeight: try panels(b(.projWeight), d, d), projBias: try f(b(.projBias), [d]),
                    norm2Weight: try f(b(.norm2Weight), [d]), norm2Bias: try f(b(.norm2Bias), [d]),
                    fc1Weight: try panels(b(.fc1Weight), c.hidden, d), fc1Bias: try f(b(.fc1Bias), [c.hidden]),
                    fc2Weight: try panels(b(.fc2Weight), d, c.hidden), fc2Bias: try f(b(.fc2Bias), [d])))
        }
        self.blocks = blocks
        normWeight = try f(S.normWeight, [d])
        normBias = try f(S.normBias, [d])
        headWeight = try head(S.headWeight)
        headBias = try f(S.headBias, [c.classes])
        headDistWeight = c.distilled ? try head(S.distillationHeadWeight) : nil
        headDistBias = c.distilled ? try f(S.distillationHeadBias, [c.classes]) : nil
    }
}
