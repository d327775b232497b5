import SwiftletFormat
import SwiftletKernels

/// LoopFormer (armenjeddi/loopformer, `models/loopformer.py`): a nanoGPT language model whose shared
/// stack of blocks is applied once per step of a *trajectory* — step sizes dt summing to 1 — with
/// adaLN gates and scales computed from TimestepEmbedder(t) + TimestepEmbedder(dt). Fewer, larger
/// steps cost less; the budget picks the trajectory (see `LoopFormerModel.chooseTrajectory`).
///
/// Input `input_ids` i32 [B, T] (T ≤ block_size); output `logits` f32 [B, T, vocab] for every
/// position. As a language model a session prefills a prompt and decodes through one K/V cache per
/// (loop step, block); that cache belongs to the trajectory chosen at prefill.
public final class LoopFormerModel: FamilyModel, @unchecked Sendable {
    public static let familyName = LoopFormerSchema.family
    public var family: String { Self.familyName }

    /// Width of the sinusoidal time features (`frequency_embedding_size` in the official code).
    static let frequencyFeatures = LoopFormerSchema.frequencyEmbeddingSize
    /// Explicit trajectories longer than this are refused (each step needs its own K/V cache).
    public static let maxTrajectorySteps = 1024

    // Configuration (metadata "loopformer.*").
    let contextLength: Int // block_size: rows of wpe
    let vocab: Int
    let blockCount: Int // n_layer: distinct blocks in the shared stack
    let heads: Int
    let width: Int // n_embd, C
    let hidden: Int // intermediate_dim, I (MLP width)
    let headDim: Int
    /// Loop count the model was trained with (`max_model_loops`); the unit of the step policy.
    public let maxLoops: Int
    let eps: Float // RMSNorm epsilon (float32 machine epsilon when the code leaves it unset)
    let maxPeriod: Float

    /// Weight matrices are used in place in the file's storage format (f32, or f16 / bf16 / q8_row
    /// from `swiftlet convert --dtype`): decoding reads every weight once per loop step and token, so
    /// fewer bytes per weight is what makes it faster.
    struct Block {
        let attnWeight: CompactMatrix // [3C, C]: rows Q | K | V
        let attnBias: UnsafePointer<Float>? // [3C]
        let attnProjWeight: CompactMatrix // [C, C]
        let attnProjBias: UnsafePointer<Float>?
        let fcWeight: CompactMatrix // [I, C]
        let fcBias: UnsafePointer<Float>?
        let mlpProjWeight: CompactMatrix // [C, I]
        let mlpProjBias: UnsafePointer<Float>?
        let adaWeight: CompactMatrix // [4C, C]: gate_msa | gate_mlp | scale_msa | scale_mlp
        let adaBias: UnsafePointer<Float> // [4C]
    }

    struct TimestepEmbedder {
        let w1: UnsafePointer<Float> // [C, 256]
        let b1: UnsafePointer<Float> // [C]
        let w2: UnsafePointer<Float> // [C, C]
        let b2: UnsafePointer<Float> // [C]
    }

    let wte: CompactMatrix // [V, C], also the LM head (tied)
    let wpe: UnsafePointer<Float> // [block_size, C]
    let normF: UnsafePointer<Float> // [C]
    let blocks: [Block]
    let timeEmbedder: TimestepEmbedder
    let dtEmbedder: TimestepEmbedder
    let file: SWLFile // keeps the mapped (or dequantised) weights alive
    /// Storage format(s) of the weight matrices: "f32" unless converted with a compact `--dtype`.
    public let weightFormat: String
    /// Scratch floats a multi-row product with a compact matrix needs (0 when all are f32).
    let panelFloats: Int
    /// Every weight matrix is q8_row and this CPU multiplies them with int8 instructions: then no
    /// product of a call goes through OpenBLAS's GEMM, only the prompt's small attention products.
    let int8Products: Bool
    /// The quality profile's settings as trajectories, when the model carries one (`swiftlet profile`).
    let profile: [(entry: QualityProfile.Entry, steps: [Double])]?

    public init(file: SWLFile) throws(ModelError) {
        typealias S = LoopFormerSchema
        let w = Weights(file)
        self.file = file
        let meta = try LoopFormerMetadata(w)
        contextLength = meta.contextLength
        vocab = meta.vocab
        blockCount = meta.blockCount
        heads = meta.heads
        width = meta.width
        hidden = meta.hidden
        maxLoops = meta.maxLoops
        let bias = meta.bias
        eps = meta.eps
        maxPeriod = meta.maxPeriod
        headDim = width / heads

        let C = width
        let I = hidden
        func p(_ name: String, _ shape: [Int]) throws(ModelError) -> UnsafePointer<Float> {
            let values = try w.floats(name, shape: shape)
            return values.baseAddress!
        }
        func optional(_ name: String, _ shape: [Int]) throws(ModelError) -> UnsafePointer<Float>? {
            bias ? try p(name, shape) : nil
        }
        var formats = Set<CompactFormat>()
        var panel = 0
        // A weight matrix in its stored format, in place.
        func matrix(_ name: String, _ shape: [Int]) throws(ModelError) -> CompactMatrix {
            let m = try w.compactMatrix(name, shape: shape)
            formats.insert(m.format)
            if m.format != .f32 { panel = max(panel, Kernels.compactPanelFloats(cols: shape[1])) }
            return m
        }
        wte = try matrix(S.tokenEmbedding, [vocab, C])
        wpe = try p(S.positionEmbedding, [contextLength, C])
        normF = try p(S.finalNorm, [C])
        var blocks: [Block] = []
        for i in 0..<blockCount {
            func b(_ t: S.BlockTensor) -> String { S.block(i, t) }
            blocks.append(
                Block(
                    attnWeight: try matrix(b(.qkvWeight), [3 * C, C]),
                    attnBias: try optional(b(.qkvBias), [3 * C]),
                    attnProjWeight: try matrix(b(.attnProjWeight), [C, C]),
                    attnProjBias: try optional(b(.attnProjBias), [C]),
                    fcWeight: try matrix(b(.fcWeight), [I, C]),
                    fcBias: try optional(b(.fcBias), [I]),
                    mlpProjWeight: try matrix(b(.mlpProjWeight), [C, I]),
                    mlpProjBias: try optional(b(.mlpProjBias), [C]),
                    adaWeight: try matrix(b(.adaLNWeight), [4 * C, C]),
                    adaBias: try p(b(.adaLNBias), [4 * C])))
        }
        self.blocks = blocks
        let names: [CompactFormat: String] = [.f32: "f32", .f16: "f16", .bf16: "bf16", .q8Row: "q8_row"]
        int8Products = formats == [.q8Row] && Kernels.q8ProductsUseVNNI
        weightFormat = formats.sorted { $0.rawValue < $1.rawValue }.compactMap { names[$0] }.joined(separator: "+")
        panelFloats = panel
        func embedder(_ e: S.Embedder) throws(ModelError) -> TimestepEmbedder {
            TimestepEmbedder(
                w1: try p(S.embedder(e, .inWeight), [C, Self.frequencyFeatures]),
                b1: try p(S.embedder(e, .inBias), [C]),
                w2: try p(S.embedder(e, .outWeight), [C, C]),
                b2: try p(S.embedder(e, .outBias), [C]))
        }
        timeEmbedder = try embedder(.time)
        dtEmbedder = try embedder(.dt)
        let maxLoops = self.maxLoops
        profile = try QualityProfile(metadata: file.metadata, full: "loops=\(maxLoops)").map {
            (p) throws(ModelError) in
            try p.entries.map { (e) throws(ModelError) in (e, try Self.trajectory(e.setting, maxLoops: maxLoops)) }
        }
    }

    /// The trajectory of a profile setting spelled "loops=4" or "trajectory=0.5,0.25,0.25".
    static func trajectory(_ setting: String, maxLoops: Int) throws(ModelError) -> [Double] {
        func bad() -> ModelError {
            ModelError(
                .format,
                "the model's quality profile lists '\(setting)', which is not loops=L or trajectory=a,b,...; profile the model again"
            )
        }
        if setting.hasPrefix("loops="), let loops = Int(setting.dropFirst(6)) {
            return try evenTrajectory(loops: loops, maxLoops: maxLoops)
        }
        guard setting.hasPrefix("trajectory=") else { throw bad() }
        let steps = setting.dropFirst(11).split(separator: ",").map { Double($0) }
        guard !steps.isEmpty, steps.count <= maxTrajectorySteps, !steps.contains(nil) else { throw bad() }
        try Budget(trajectory: steps.map { $0! }).validateCommon()
        return steps.map { $0! }
    }

    /// The profiled quality of a trajectory (nil when it was not profiled).
    func quality(of steps: [Double]) -> Double? {
        profile?.first { $0.steps == steps }?.entry.quality
    }

    public var inputs: [TensorInfo] {
        [TensorInfo(name: "input_ids", dtype: .i32, shape: [-1, -1], dimensionNames: ["batch", "sequence"])]
    }
    public var outputs: [TensorInfo] {
        [TensorInfo(name: "logits", dtype: .f32, shape: [-1, -1, vocab], dimensionNames: ["batch", "sequence"])]
    }

    public var sessionKnobs: Set<BudgetKnob> {
        [.maxLatencyMs, .maxGFLOPs, .loops, .trajectory, .generationTokens, .minQuality, .generationMs]
    }

    public func makeRunner(context: ExecutionContext) throws(ModelError) -> any FamilyRunner {
        LoopFormerRunner(model: self, context: context)
    }

    // MARK: work model (a multiply-add counts 2 FLOPs)

    /// GFLOP of one token at `loops` loop steps attending to `keys` positions, LM head included:
    /// per step and block 8C² (QKV + out-projection) + 4CI (MLP) + 4C·keys (scores + weighted sum).
    public func gflopsPerToken(loops: Int, keys: Int) -> Double {
        let C = Double(width)
        let I = Double(hidden)
        let perStep = Double(blockCount) * (8 * C * C + 4 * C * I + 4 * C * Double(keys))
        return (Double(loops) * perStep + 2 * C * Double(vocab)) * 1e-9
    }

    /// GFLOP of `tokens` consecutive positions after `past` cached ones (token j attends past + j + 1 keys),
    /// with the LM head on `headRows` of them (all by default).
    func gflops(tokens: Int, past: Int, loops: Int, headRows: Int? = nil) -> Double {
        let C = Double(width)
        let I = Double(hidden)
        let T = Double(tokens)
        let keys = T * Double(past) + T * (T + 1) / 2
        let perStep = Double(blockCount) * ((8 * C * C + 4 * C * I) * T + 4 * C * keys)
        return (Double(loops) * perStep + 2 * C * Double(vocab) * Double(headRows ?? tokens)) * 1e-9
    }

    /// GFLOP of the per-trajectory conditioning: both embedders per step, the adaLN map per (step, block).
    func conditioningGFLOPs(loops: Int) -> Double {
        let C = Double(width)
        let F = Double(Self.frequencyFeatures)
        let perStep = 2 * (2 * F * C + 2 * C * C) + Double(blockCount) * 8 * C * C
        return Double(loops) * perStep * 1e-9
    }
}
