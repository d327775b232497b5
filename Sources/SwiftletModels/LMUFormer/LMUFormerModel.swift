import Synchronization
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
/// converted as f16 (`--dtype f16`) are used in place: half the bytes to read per streamed frame,
/// at a cost in accuracy (about 1e-2 on the logits of the fixtures), so f32 stays the default.
public final class LMUFormerModel: FamilyModel, @unchecked Sendable {
    public static let familyName = "lmuformer"
    public var family: String { Self.familyName }

    /// The official constructors.
    enum Variant: String {
        case plain = "lmu_rnn_conv1d"
        case spiking = "slmu_rnn_conv1d"
        case membraneShortcut = "slmu_rnn_ms_conv1d"

        var code: UInt32 {
            switch self {
            case .plain: 1
            case .spiking: 2
            case .membraneShortcut: 3
            }
        }
    }

    /// A k=3, padding-1 convolution of the patch embedding and what is folded around it.
    struct Conv {
        let inChannels: Int
        let weight: LinearWeights               // [3, in, C]
        let bias: UnsafePointer<Float>?          // [C], a folded BatchNorm shift
        let bnScale: UnsafePointer<Float>?       // [C], a BatchNorm after a nonlinearity
        let bnShift: UnsafePointer<Float>?
        let lif: Int                             // LIF layer after it (-1: none)
    }

    /// One block's weights and LIF layers (-1 where the variant has none).
    struct Block {
        let a: UnsafePointer<Float>              // [M, M]
        let b: UnsafePointer<Float>              // [M]
        let impulse: UnsafeMutablePointer<Float> // [impulseLength, M], row k = (A^k B)ᵀ
        let uWeight: UnsafePointer<Float>        // [C]
        let uBias: Float
        let mScale: UnsafePointer<Float>?        // [M]
        let mShift: UnsafePointer<Float>?
        let hWeight: LinearWeights               // [M + C, C]: memory rows first
        let hBias: UnsafePointer<Float>
        let projWeight: LinearWeights            // [C, C]
        let projBias: UnsafePointer<Float>
        let fc1Weight: LinearWeights             // [C, hid]
        let fc1Bias: UnsafePointer<Float>
        let fc2Weight: LinearWeights             // [hid, C]
        let fc2Bias: UnsafePointer<Float>
        let prevScale: UnsafePointer<Float>?     // membrane shortcut: BN before the block's LIF
        let prevShift: UnsafePointer<Float>?
        let fc1Scale: UnsafePointer<Float>?      // membrane shortcut: BN before fc1 ([C])
        let fc1Shift: UnsafePointer<Float>?
        let fc2Scale: UnsafePointer<Float>?      // membrane shortcut: BN before fc2 ([hid])
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
    let features: Int      // F
    let dim: Int           // C
    let depth: Int
    let hidden: Int
    let memory: Int        // M
    let classes: Int       // K
    let impulseLength: Int
    let convs: [Conv]      // conv0...conv3, rpe
    let blocks: [Block]
    let headWeight: LinearWeights          // [C, K]
    let headBias: UnsafePointer<Float>     // [K]
    let headScale: UnsafePointer<Float>?   // membrane shortcut: BN + LIF before the head
    let headShift: UnsafePointer<Float>?
    let headLIF: Int
    let lifLayers: [LIFLayer]
    let membraneCount: Int
    /// The audio front end and normalisation of PCM streams (nil when the file has none).
    let audio: (options: FbankOptions, normalization: FbankNormalization)?
    let file: SWLFile

    /// A^2, A^4, … per block, computed on first need (they are only used to carry a non-zero memory
    /// state across a block of frames).
    private let squaringCache: Mutex<[UnsafeMutablePointer<Float>?]>
    let squaringCount: Int

    public init(file: SWLFile) throws(ModelError) {
        self.file = file
        let w = Weights(file)
        let name = try w.string("lmuformer.variant")
        guard let variant = Variant(rawValue: name) else {
            throw ModelError(.unsupported, "unknown lmuformer variant '\(name)'; this build runs lmu_rnn_conv1d, slmu_rnn_conv1d and slmu_rnn_ms_conv1d")
        }
        self.variant = variant
        features = try w.int("lmuformer.in_channels")
        dim = try w.int("lmuformer.embed_dims")
        depth = try w.int("lmuformer.depths")
        hidden = try w.int("lmuformer.hidden_dims")
        memory = try w.int("lmuformer.memory_size")
        classes = try w.int("lmuformer.num_classes")
        impulseLength = try w.int("lmuformer.theta", default: 128)
        let tau = try w.double("lmuformer.lif_tau", default: 2)
        guard (1...65536).contains(features), (1...65536).contains(dim), (1...256).contains(depth),
              (1...262144).contains(hidden), (1...65536).contains(memory), (1...65536).contains(classes),
              (1...4096).contains(impulseLength), tau == 2 else {
            throw ModelError(.format, "lmuformer metadata out of range (in_channels \(features), embed_dims \(dim), depths \(depth), hidden \(hidden), memory \(memory), classes \(classes), theta \(impulseLength), tau \(tau))")
        }
        let c = dim, m = memory, hid = hidden

        // LIF layers in the order of the official modules (the order of report "spike_rate").
        var layers: [LIFLayer] = []
        func lif(_ name: String, _ width: Int, _ threshold: Float = 1) -> Int {
            guard variant != .plain else { return -1 }
            let offset = layers.last.map { $0.offset + $0.width } ?? 0
            layers.append(LIFLayer(name: name, width: width, threshold: threshold, offset: offset))
            return layers.count - 1
        }

        var convs: [Conv] = []
        for i in 0..<5 {
            let prefix = i < 4 ? "patch.conv\(i)" : "patch.rpe"
            let cin = i == 0 ? features : c
            let weight = try Self.matrix(w, "\(prefix).weight", shape: [3, cin, c])
            var bias: UnsafePointer<Float>? = nil
            var scale: UnsafePointer<Float>? = nil, shift: UnsafePointer<Float>? = nil
            var layer = -1
            switch variant {
            case .plain:
                if i < 4 {
                    scale = try w.floats("\(prefix).bn_scale", shape: [c]).baseAddress
                    shift = try w.floats("\(prefix).bn_shift", shape: [c]).baseAddress
                }
            case .spiking:
                bias = try w.floats("\(prefix).bias", shape: [c]).baseAddress
                layer = lif(i < 4 ? "patch.\(i)" : "patch.rpe", c)
            case .membraneShortcut:
                if i < 3 {
                    bias = try w.floats("\(prefix).bias", shape: [c]).baseAddress
                } else if i == 3 {
                    scale = try w.floats("\(prefix).bn_scale", shape: [c]).baseAddress
                    shift = try w.floats("\(prefix).bn_shift", shape: [c]).baseAddress
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
                let p = "block.\(n)"
                let a = try w.floats("\(p).lmu.A", shape: [m, m]).baseAddress!
                let b = try w.floats("\(p).lmu.B", shape: [m, 1]).baseAddress!
                let uBias = try w.floats("\(p).u.bias", shape: [1])[0]
                let spiking = variant != .plain
                let ms = variant == .membraneShortcut
                func opt(_ name: String, _ n: Int) throws(ModelError) -> UnsafePointer<Float> {
                    try w.floats(name, shape: [n]).baseAddress!
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
                blocks.append(try Block(
                    a: a, b: b, impulse: impulse,
                    uWeight: w.floats("\(p).u.weight", shape: [c]).baseAddress!, uBias: uBias,
                    mScale: spiking ? opt("\(p).m_bn.scale", m) : nil,
                    mShift: spiking ? opt("\(p).m_bn.shift", m) : nil,
                    hWeight: Self.matrix(w, "\(p).h.weight", shape: [m + c, c]),
                    hBias: opt("\(p).h.bias", c),
                    projWeight: Self.matrix(w, "\(p).proj.weight", shape: [c, c]),
                    projBias: opt("\(p).proj.bias", c),
                    fc1Weight: Self.matrix(w, "\(p).fc1.weight", shape: [c, hid]),
                    fc1Bias: opt("\(p).fc1.bias", hid),
                    fc2Weight: Self.matrix(w, "\(p).fc2.weight", shape: [hid, c]),
                    fc2Bias: opt("\(p).fc2.bias", c),
                    prevScale: ms ? opt("\(p).prev_bn.scale", c) : nil,
                    prevShift: ms ? opt("\(p).prev_bn.shift", c) : nil,
                    fc1Scale: ms ? opt("\(p).fc1_bn.scale", c) : nil,
                    fc1Shift: ms ? opt("\(p).fc1_bn.shift", c) : nil,
                    fc2Scale: ms ? opt("\(p).fc2_bn.scale", hid) : nil,
                    fc2Shift: ms ? opt("\(p).fc2_bn.shift", hid) : nil,
                    prevLIF: prevLIF, uLIF: uLIF, mLIF: mLIF, hLIF: hLIF, projLIF: projLIF,
                    fc1LIF: fc1LIF, fc2LIF: fc2LIF))
            }
            headWeight = try Self.matrix(w, "head.weight", shape: [c, classes])
            headBias = try w.floats("head.bias", shape: [classes]).baseAddress!
            if variant == .membraneShortcut {
                headScale = try w.floats("head_bn.scale", shape: [c]).baseAddress
                headShift = try w.floats("head_bn.shift", shape: [c]).baseAddress
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
        squaringCache = Mutex([UnsafeMutablePointer<Float>?](repeating: nil, count: depth))

        // The audio front end: present unless the converter wrote `lmuformer.audio.enabled = false`.
        if try w.bool("lmuformer.audio.enabled", default: true) {
            var o = FbankOptions()
            o.sampleRate = try w.double("lmuformer.audio.sample_rate", default: 16000)
            o.numMelBins = try w.int("lmuformer.audio.num_mel_bins", default: features)
            o.frameLengthMs = try w.double("lmuformer.audio.frame_length_ms", default: 25)
            o.frameShiftMs = try w.double("lmuformer.audio.frame_shift_ms", default: 10)
            o.preemphasis = try w.double("lmuformer.audio.preemphasis", default: 0.97)
            o.lowFrequency = try w.double("lmuformer.audio.low_freq", default: 20)
            o.highFrequency = try w.double("lmuformer.audio.high_freq", default: 0)
            let window = w.file.metadata["lmuformer.audio.window"] == nil ? "hanning" : try w.string("lmuformer.audio.window")
            guard let kind = FbankWindow(rawValue: window) else {
                throw ModelError(.unsupported, "unknown fbank window '\(window)' in lmuformer.audio.window")
            }
            o.window = kind
            let norm = FbankNormalization(
                mean: Float(try w.double("lmuformer.audio.mean", default: Double(FbankNormalization.speechCommands.mean))),
                std: Float(try w.double("lmuformer.audio.std", default: Double(FbankNormalization.speechCommands.std))),
                targetFrames: try w.int("lmuformer.audio.target_frames", default: 128))
            guard o.numMelBins == features else {
                throw ModelError(.format, "lmuformer.audio.num_mel_bins (\(o.numMelBins)) must equal in_channels (\(features))")
            }
            do {
                try o.validate()
                try norm.validate()
            } catch {
                throw ModelError(.format, "the model's audio front end settings are invalid: \(error)")
            }
            audio = (o, norm)
        } else {
            audio = nil
        }
        initialized = true
    }

    deinit {
        for b in blocks { b.impulse.deallocate() }
        squaringCache.withLock { cache in
            for p in cache { p?.deallocate() }
        }
    }

    public var inputs: [TensorInfo] { [TensorInfo(name: "x", dtype: .f32, shape: [-1, -1, features])] }
    public var outputs: [TensorInfo] {
        [TensorInfo(name: "logits", dtype: .f32, shape: [-1, classes]),
         TensorInfo(name: "logits_per_step", dtype: .f32, shape: [-1, -1, classes])]
    }

    public var sessionKnobs: Set<BudgetKnob> { [.maxLatencyMs, .maxGFLOPs] }
    public var streamKnobs: Set<BudgetKnob> { [.maxLatencyMs, .maxGFLOPs, .earlyFraction, .earlyMargin, .expectedFrames] }

    public func makeRunner(context: ExecutionContext) throws(ModelError) -> any FamilyRunner {
        LMUFormerRunner(model: self, context: context)
    }

    public func makeStreamer(input: StreamInput, context: ExecutionContext) throws(ModelError) -> any FamilyStreamer {
        if input == .pcm && audio == nil {
            throw ModelError(.unsupported, "this model file has no audio front end; stream feature frames instead of PCM")
        }
        return try LMUFormerStreamer(model: self, input: input, context: context)
    }

    /// An input-major weight matrix (last dimension = outputs), used in place: binary16 as stored
    /// (a file converted with `--dtype f16`: half the bytes to stream per frame), float32 as stored,
    /// other float types dequantized once by the file.
    static func matrix(_ w: Weights, _ name: String, shape: [Int]) throws(ModelError) -> LinearWeights {
        let columns = shape.last ?? 1
        if let entry = w.file.entry(name), entry.dtype == .f16, entry.shape == shape {
            let raw: UnsafeRawBufferPointer
            do {
                raw = try w.file.rawBytes(name)
            } catch {
                throw ModelError(error)
            }
            if let p = raw.baseAddress, Int(bitPattern: p) % 2 == 0, raw.count == 2 * shape.reduce(1, *) {
                return LinearWeights(half: p.assumingMemoryBound(to: UInt16.self), rowStride: columns)
            }
        }
        return LinearWeights(try w.floats(name, shape: shape).baseAddress!, rowStride: columns)
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
        let c = dim, m = memory
        var macs = 3 * features * c + 12 * c * c + classes * c
        macs += depth * (c + m * m + m + (m + c) * c + c * c + 2 * c * hidden)
        return macs
    }

    var gflopsPerFrame: Double { Double(2 * macsPerFrame) * 1e-9 }

    /// Frames of look-ahead: each of the five k=3 convolutions needs one future frame.
    static let latencyFrames = 5
}
