/// What an `lmuformer` file holds: its metadata keys and tensor names, for the converter that
/// writes them and the loader that reads them. Names and keys are part of the file format and never
/// change.
public enum LMUFormerSchema {
    public static let family = "lmuformer"

    /// The official constructors, the value of `lmuformer.variant`.
    public enum Variant: String, CaseIterable, Sendable {
        case plain = "lmu_rnn_conv1d"
        case spiking = "slmu_rnn_conv1d"
        case membraneShortcut = "slmu_rnn_ms_conv1d"
    }

    /// Metadata keys.
    public enum Key {
        public static let variant = "lmuformer.variant"
        public static let inChannels = "lmuformer.in_channels"
        public static let width = "lmuformer.embed_dims"
        public static let depth = "lmuformer.depths"
        public static let mlpWidth = "lmuformer.hidden_dims"
        public static let memorySize = "lmuformer.memory_size"
        public static let classes = "lmuformer.num_classes"
        public static let theta = "lmuformer.theta"
        public static let lifTau = "lmuformer.lif_tau"
        /// The audio front end (torchaudio Kaldi fbank + normalisation); `enabled` false drops it.
        public static let audioEnabled = "lmuformer.audio.enabled"
        public static let sampleRate = "lmuformer.audio.sample_rate"
        public static let melBins = "lmuformer.audio.num_mel_bins"
        public static let frameLengthMs = "lmuformer.audio.frame_length_ms"
        public static let frameShiftMs = "lmuformer.audio.frame_shift_ms"
        public static let preemphasis = "lmuformer.audio.preemphasis"
        public static let lowFrequency = "lmuformer.audio.low_freq"
        public static let highFrequency = "lmuformer.audio.high_freq"
        public static let window = "lmuformer.audio.window"
        public static let audioMean = "lmuformer.audio.mean"
        public static let audioStd = "lmuformer.audio.std"
        public static let targetFrames = "lmuformer.audio.target_frames"
    }

    /// The patch embedding's k=3 convolutions: conv0 … conv3, then the relative-position one.
    public static let patchConvolutions = 5

    /// A convolution's weight (tap-major `[3, in, C]`), a folded BatchNorm shift as its bias, or a
    /// BatchNorm kept as scale/shift where a nonlinearity sits in between.
    public enum ConvTensor: String, CaseIterable, Sendable {
        case weight, bias
        case bnScale = "bn_scale", bnShift = "bn_shift"
    }

    public static func patch(_ i: Int, _ t: ConvTensor) -> String {
        "patch.\(i < patchConvolutions - 1 ? "conv\(i)" : "rpe").\(t.rawValue)"
    }

    /// Tensors of one block. Linear weights are input-major `[in, out]`.
    public enum BlockTensor: String, CaseIterable, Sendable {
        case lmuA = "lmu.A", lmuB = "lmu.B" // [M, M], [M, 1]
        case uWeight = "u.weight", uBias = "u.bias" // [C], [1]
        case memoryScale = "m_bn.scale", memoryShift = "m_bn.shift" // spiking only, [M]
        case hWeight = "h.weight", hBias = "h.bias" // [M + C, C]: memory rows first
        case projWeight = "proj.weight", projBias = "proj.bias"
        case fc1Weight = "fc1.weight", fc1Bias = "fc1.bias" // [C, hid]
        case fc2Weight = "fc2.weight", fc2Bias = "fc2.bias" // [hid, C]
        // Membrane shortcut only: BatchNorms before LIF layers.
        case prevScale = "prev_bn.scale", prevShift = "prev_bn.shift"
        case fc1Scale = "fc1_bn.scale", fc1Shift = "fc1_bn.shift"
        case fc2Scale = "fc2_bn.scale", fc2Shift = "fc2_bn.shift"
    }

    public static func block(_ n: Int, _ t: BlockTensor) -> String { "block.\(n).\(t.rawValue)" }

    public static let headWeight = "head.weight" // [C, K]
    public static let headBias = "head.bias" // [K]
    /// Membrane shortcut only: the BatchNorm before the head's LIF.
    public static let headScale = "head_bn.scale"
    public static let headShift = "head_bn.shift"
}
