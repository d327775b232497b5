import SwiftletFormat
import SwiftletKernels

/// LMUFormer (zeyuliu1037/LMUFormer): a convolutional patch embedding, Legendre-memory mixer blocks
/// with a convolutional FFN, and a linear head, in its plain and two spiking forms. Whole clips run
/// through a session (`x` [B, T, F] → `logits` [B, K], `logits_per_step` [B, T, K]); live input runs
/// through a stream, fed feature frames or 16 kHz PCM through the built-in Kaldi fbank front end.
///
/// The file (written by the converter) stores BatchNorms folded into the product before them, or as
/// scale/shift where a nonlinearity sits in between; linear weights input-major (`[in, out]`) so a
/// spike can select a row; k=3 convolution weights tap-major (`[3, in, out]`). Weight matrices
/// converted as f16, bf16 or q8 (`--dtype`; q8: int8 with one scale per input row) are used in place:
/// a half or a quarter of the bytes to read per streamed frame, at a cost in accuracy, so f32 stays
/// the default (keyword accuracy per dtype: Models/kws/README.md).
public final class LMUFormerModel: FamilyModel, @unchecked Sendable {
    public static let familyName = LMUFormerSchema.family
    public var family: String { Self.familyName }

    /// The official constructors.
    typealias Variant = LMUFormerSchema.Variant

    /// A k=3, padding-1 convolution of the patch embedding and what is folded around it.
    struct Conv {
        let inChannels: Int
        let weight: LinearWeights // [3, in, C]
        let bias: UnsafePointer<Float>? // [C], a folded BatchNorm shift
        let bnScale: UnsafePointer<Float>? // [C], a BatchNorm after a nonlinearity
        let bnShift: UnsafePointer<Float>?
        let lif: Int // LIF layer after it (-1: none)
    }

    /// One block's weights and LIF layers (-1 where the variant has none).
    struct Block {
        let a: UnsafePointer<Float> // [M, M]
        let b: UnsafePointer<Float> // [M]
        let impulse: UnsafeMutablePointer<Float> // [impulseLength, M], row k = (A^k B)ᵀ
        let uWeight: UnsafePointer<Float> // [C]
        let uBias: Float
        let mScale: UnsafePointer<Float>? // [M]
        let mShift: UnsafePointer<Float>?
        let hWeight: LinearWeights // [M + C, C]: memory rows first
        let hBias: UnsafePointer<Float>
        let projWeight: LinearWeights // [C, C]
        let projBias: UnsafePointer<Float>
        let fc1Weight: LinearWeights // [C, hid]
        let fc1Bias: UnsafePointer<Float>
        let fc2Weight: LinearWeights // [hid, C]
        let fc2Bias: UnsafePointer<Float>
        let prevScale: UnsafePointer<Float>? // membrane shortcut: BN before the block's LIF
        let prevShift: UnsafePointer<Float>?
        let fc1Scale: UnsafePointer<Float>? // membrane shortcut: BN before fc1 ([C])
        let fc1Shift: UnsafePointer<Float>?
        let fc2Scale: UnsafePointer<Float>? // membrane shortcut: BN before fc2 ([hid])
        let fc2Shift: UnsafePointer<Float>?
        let prevLIF: Int, uLIF: Int, mLIF: Int, hLIF: Int, projLIF: Int, fc1LIF: Int, fc2LIF: Int
    }

    /// A LIF layer: `width` membranes at `offset` in the stream's membrane array.
    struct LIFLayer {
        let name: String
        let width: Int
        let threshold: Float
        let offset: Int
    }

    let variant: Variant
    let features: Int // F
    let dim: Int // C
    let depth: Int
    let hidden: Int
    let memory: Int // M
    let classes: Int // K
    let impulseLength: Int
    let convs: [Conv] // conv0...conv3, rpe
    let blocks: [Block]
    let headWeight: LinearWeights // [C, K]
    let headBias: UnsafePointer<Float> // [K]
    let headScale: UnsafePointer<Float>? // membrane shortcut: BN + LIF before the head
    let headShift: UnsafePointer<Float>?
    let headLIF: Int
    let lifLayers: [LIFLayer]
    let membraneCount: Int
    /// The audio front end and normalisation of PCM streams (nil when the file has none).
    let audio: (options: FbankOptions, normalization: FbankNormalization)?
    let file: SWLFile
    /// Identity of the weights, written into saved stream states (`Weights.fingerprint`).
    let fingerprint: UInt64
    /// The quality profile's settings as early-decision fractions, when the model carries one
    /// (`swiftlet profile`: "early_fraction=0.5", full quality "early_fraction=1").
    let profile: [(entry: QualityProfile.Entry, fraction: Double)]?

    /// A^2, A^4, … per block, computed on first need (they are only used to carry a non-zero memory
    /// state across a block of frames).
    private let squaringCache: Locked<[UnsafeMutablePointer<Float>?]>
    let squaringCount: Int

    public init(file: SWLFile) throws(ModelError) {
        typealias S = LMUFormerSchema
        typealias K = LMUFormerSchema.Key
        self.file = file
        let w = Weights(file)
        fingerprint = w.fingerprint
        let name = try w.string(K.variant)
        guard let variant = Variant(rawValue: name) else {
            throw ModelError(
                .unsupported,
                "unknown lmuformer variant '\(name)'; this build runs \(Variant.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        self.variant = variant
        let meta = try LMUFormerMetadata(w)
        features = meta.features
        dim = meta.dim
        depth = meta.depth
        hidden = meta.hidden
        memory = meta.memory
        classes = meta.classes
        impulseLength = meta.impulseLength
        audio = meta.audio
        let c = dim
        let m = memory
        let hid = hidden

        // LIF layers in the order of the official modules (the order of report "spike_rate").
        var layers: [LIFLayer] = []
        func lif(_ name: String, _ width: Int, _ threshold: Float = 1) -> Int {
            guard variant != .plain else { return -1 }
            let offset = layers.last.map { $0.offset + $0.width } ?? 0
            layers.append(LIFLayer(name: name, width: width, threshold: threshold, offset: offset))
            return layers.count - 1
        }

        var convs: [Conv] = []
        for i in 0..<S.patchConvolutions {
            let cin = i == 0 ? features : c
            let weight = try Self.matrix(w, S.patch(i, .weight), shape: [3, cin, c])
            var bias: UnsafePointer<Float>? = nil
            var scale: UnsafePointer<Float>? = nil
            var shift: UnsafePointer<Float>? = nil
            var layer = -1
            switch variant {
            case .plain:
                if i < 4 {
                    scale = try w.floats(S.patch(i, .bnScale), shape: [c]).baseAddress
                    shift = try w.floats(S.patch(i, .bnShift), shape: [c]).baseAddress
                }
            case .spiking:
                bias = try w.floats(S.patch(i, .bias), shape: [c]).baseAddress
                layer = lif(i < 4 ? "patch.\(i)" : "patch.rpe", c)
            case .membraneShortcut:
                if i < 3 {
                    bias = try w.floats(S.patch(i, .bias), shape: [c]).baseAddress
                } else if i == 3 {
                    scale = try w.floats(S.patch(i, .bnScale), shape: [c]).baseAddress
                    shift = try w.floats(S.patch(i, .bnShift), shape: [c]).baseAddress
                }
                if i < 4 { layer = lif("patch.\(i)", c) }
            }
            convs.append(Conv(inChannels: cin, weight: weight, bias: bias, bnScale: scale, bnShift: shift, lif: layer))
        }
        self.convs = convs

        var blocks: [Block] = []
        var impulses: [UnsafeMutablePointer<Float>] = []
        // Until the last property is set, a throw does not run deinit: free the impulses here on any
        // error below (the audio front end settings are checked after the blocks are built).
        var initialized = false
        defer { if !initialized { for p in impulses { p.deallocate() } } }
        do {
            for n in 0..<depth {
                let p = "block.\(n)" // LIF layer labels in reports
                func t(_ tensor: S.BlockTensor) -> String { S.block(n, tensor) }
                let a = try w.floats(t(.lmuA), shape: [m, m]).baseAddress!
                let b = try w.floats(t(.lmuB), shape: [m, 1]).baseAddress!
                let uBias = try w.floats(t(.uBias), shape: [1])[0]
                let spiking = variant != .plain
                let ms = variant == .membraneShortcut
                func opt(_ tensor: S.BlockTensor, _ n: Int) throws(ModelError) -> UnsafePointer<Float> {
                    let values = try w.floats(t(tensor), shape: [n])
                    return values.baseAddress!
                }
                let prevLIF = ms ? lif("\(p).prev", c, 0.5) : -1
                let uLIF = lif("\(p).u", 1)
                let mLIF = lif("\(p).m", m)
                let hLIF = lif("\(p).h", c)
                let projLIF = variant == .spiking ? lif("\(p).proj", c) : -1
                let fc1LIF = lif("\(p).fc1", ms ? c : hid)
                let fc2LIF = lif("\(p).fc2", ms ? hid : c)
                let response = Kernels.impulseResponse(a: a, b: b, stateSize: m, length: impulseLength)
                let impulse = UnsafeMutablePointer<Float>.allocate(capacity: response.count)
                impulse.initialize(from: response, count: response.count)
                impulses.append(impulse)
                blocks.append(
                    try Block(
                        a: a, b: b, impulse: impulse,
                        uWeight: opt(.uWeight, c), uBias: uBias,
                        mScale: spiking ? opt(.memoryScale, m) : nil,
                        mShift: spiking ? opt(.memoryShift, m) : nil,
                        hWeight: Self.matrix(w, t(.hWeight), shape: [m + c, c]),
                        hBias: opt(.hBias, c),
                        projWeight: Self.matrix(w, t(.projWeight), shape: [c, c]),
                        projBias: opt(.projBias, c),
                        fc1Weight: Self.matrix(w, t(.fc1Weight), shape: [c, hid]),
                        fc1Bias: opt(.fc1Bias, hid),
                        fc2Weight: Self.matrix(w, t(.fc2Weight), shape: [hid, c]),
                        fc2Bias: opt(.fc2Bias, c),
                        prevScale: ms ? opt(.prevScale, c) : nil,
                        prevShift: ms ? opt(.prevShift, c) : nil,
                        fc1Scale: ms ? opt(.fc1Scale, c) : nil,
                        fc1Shift: ms ? opt(.fc1Shift, c) : nil,
                        fc2Scale: ms ? opt(.fc2Scale, hid) : nil,
                        fc2Shift: ms ? opt(.fc2Shift, hid) : nil,
                        prevLIF: prevLIF, uLIF: uLIF, mLIF: mLIF, hLIF: hLIF, projLIF: projLIF,
                        fc1LIF: fc1LIF, fc2LIF: fc2LIF))
            }
            headWeight = try Self.matrix(w, S.headWeight, shape: [c, classes])
            headBias = try w.floats(S.headBias, shape: [classes]).baseAddress!
            if variant == .membraneShortcut {
                headScale = try w.floats(S.headScale, shape: [c]).baseAddress
                headShift = try w.floats(S.headShift, shape: [c]).baseAddress
            } else {
                headScale = nil
                headShift = nil
            }
        }
        self.blocks = blocks
        headLIF = variant == .membraneShortcut ? lif("head", c) : -1
        lifLayers = layers
        membraneCount = layers.last.map { $0.offset + $0.width } ?? 0
        squaringCount = Kernels.squaringsNeeded(blockLength: impulseLength)
        squaringCache = Locked([UnsafeMutablePointer<Float>?](repeating: nil, count: depth))
        profile = try QualityProfile(metadata: file.metadata, full: "early_fraction=1").map {
            (p) throws(ModelError) in
            try p.entries.map { (e) throws(ModelError) in
                guard e.setting.hasPrefix("early_fraction="), let f = Double(e.setting.dropFirst(15)), f > 0, f <= 1
                else {
                    throw ModelError(
                        .format,
                        "the model's quality profile lists '\(e.setting)', which is not early_fraction=F with F in (0, 1]; profile the model again"
                    )
                }
                return (e, f)
            }
        }
        initialized = true
    }

    deinit {
        for b in blocks { b.impulse.deallocate() }
        squaringCache.withLock { cache in
            for p in cache { p?.deallocate() }
        }
    }

    public var classCount: Int? { classes }
    public var frameSeconds: Double? { audio.map { Double($0.options.frameShift) / $0.options.sampleRate } }
    public var inputs: [TensorInfo] {
        [TensorInfo(name: "x", dtype: .f32, shape: [-1, -1, features], dimensionNames: ["batch", "frames"])]
    }
    public var outputs: [TensorInfo] {
        [
            TensorInfo(name: "logits", dtype: .f32, shape: [-1, classes]),
            TensorInfo(
                name: "logits_per_step", dtype: .f32, shape: [-1, -1, classes], dimensionNames: ["batch", "frames"]),
        ]
    }

    public var sessionKnobs: Set<BudgetKnob> { [.maxLatencyMs, .maxGFLOPs] }
    public var streamKnobs: Set<BudgetKnob> {
        [.maxLatencyMs, .maxGFLOPs, .earlyFraction, .earlyMargin, .expectedFrames, .minQuality]
    }

    public func makeRunner(context: ExecutionContext) throws(ModelError) -> any FamilyRunner {
        LMUFormerRunner(model: self, context: context)
    }

    public func makeStreamer(input: StreamInput, context: ExecutionContext) throws(ModelError) -> any FamilyStreamer {
        if input == .pcm && audio == nil {
            throw ModelError(
                .unsupported, "this model file has no audio front end; stream feature frames instead of PCM")
        }
        return try LMUFormerStreamer(model: self, input: input, context: context)
    }

    /// An input-major weight matrix (last dimension = outputs), used in place in its stored type:
    /// float32, binary16, bfloat16, or q8_row (int8 with one float32 scale per input row: the rows a
    /// spike selects). A file converted with `--dtype f16|bf16|q8` has fewer bytes to stream per frame;
    /// nothing is widened to float32.
    static func matrix(_ w: Weights, _ name: String, shape: [Int]) throws(ModelError) -> LinearWeights {
        let m = try w.compactMatrix(name, shape: shape) // refuses q4_block (no int4 row products)
        guard let weights = LinearWeights(format: m.format, base: m.values, scales: m.scales, rowStride: m.cols) else {
            throw ModelError(
                .unsupported, "tensor '\(name)' is stored as \(m.format); convert it again with --dtype f16|bf16|q8")
        }
        return weights
    }

    /// `(A^(2^j))ᵀ`, j = 0…squaringCount, of block `n` (`[squaringCount + 1, M, M]`), computed once
    /// (the memory's free responses: streams at every block of `impulseLength` steps, long clips).
    func squarings(block n: Int) -> UnsafePointer<Float> {
        squaringCache.withLock { cache in
            if let p = cache[n] { return UnsafePointer(p) }
            let values = Kernels.transposedPowers(a: blocks[n].a, stateSize: memory, count: max(squaringCount, 1))
            let p = UnsafeMutablePointer<Float>.allocate(capacity: values.count)
            p.initialize(from: values, count: values.count)
            cache[n] = p
            return UnsafePointer(p)
        }
    }

    /// Multiply-adds per frame of the dense computation (the spiking variants do less: only the
    /// weight rows of inputs that spiked are summed).
    var macsPerFrame: Int {
        let c = dim
        let m = memory
        var macs = 3 * features * c + 12 * c * c + classes * c
        macs += depth * (c + m * m + m + (m + c) * c + c * c + 2 * c * hidden)
        return macs
    }

    var gflopsPerFrame: Double { Double(2 * macsPerFrame) * 1e-9 }

    /// Frames of look-ahead: each of the five k=3 convolutions needs one future frame.
    static let latencyFrames = 5
}

extension LMUFormerSchema.Variant {
    /// The variant's number in stream snapshots.
    var code: UInt32 {
        switch self {
        case .plain: 1
        case .spiking: 2
        case .membraneShortcut: 3
        }
    }
}
