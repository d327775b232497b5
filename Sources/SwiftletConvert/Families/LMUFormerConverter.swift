import SwiftletFormat

/// Converts official LMUFormer checkpoints (zeyuliu1037/LMUFormer, `src/lmu_rnn.py`): the
/// constructors `lmu_rnn_conv1d`, `slmu_rnn_conv1d` and `slmu_rnn_ms_conv1d`.
///
/// KWARGS: `model` (the constructor), `in_channels`, `embed_dims`, `depths`, `mlp_ratios` (single
/// numbers), `num_classes`; `test_mode`, `num_heads` and the arguments the code ignores are accepted.
/// The official training saves a bare state dict, but its tensors determine every one of these, so
/// the config may leave them out; a value it gives that contradicts them is refused. Optional
/// front-end keys: `audio_mean`, `audio_std`, `target_frames` (the official Speech Commands loader's
/// values, with a warning, when absent).
///
/// State-dict names are the official ones, optionally under `module.` (DataParallel). Every
/// BatchNorm (eval statistics, eps 1e-5) is folded into the product right before it, or stored as a
/// scale/shift where a nonlinearity sits between. Linear weights are stored input-major `[in, out]`
/// and k=3 convolution weights tap-major `[3, in, out]`. The LMU's `A` and `B` are stored; the derived
/// `H` and complex `fft_H` buffers are skipped (the runtime derives what it needs from `A`, `B`).
public enum LMUFormerConverter: FamilyConverter {
    public static let family = LMUFormerSchema.family
    typealias S = LMUFormerSchema

    /// Hard-coded in every LMU cell of the official code.
    static let theta = 128
    static let bnEpsilon = 1e-5

    static let acceptedKeys: Set<String> = [
        "model", "in_channels", "embed_dims", "depths", "mlp_ratios", "num_classes", "test_mode", "num_heads",
        "img_size_h", "img_size_w", "patch_size", "qkv_bias", "qk_scale", "drop_rate", "attn_drop_rate",
        "drop_path_rate", "sr_ratios", "T", "pretrained", "audio_mean", "audio_std", "target_frames",
    ]

    /// The patch-embedding module only each constructor has (checked in this order: the spiking
    /// embedding also has `proj_bn3`).
    static let variantMarkers: [(S.Variant, String)] = [
        (.spiking, "patch_embed.rpe_bn"), (.membraneShortcut, "patch_embed.proj_bn3"),
        (.plain, "patch_embed.conv_layers.0.3"),
    ]

    public static func convert(
        _ checkpoint: Checkpoint, config: ConstructorConfig, options: ConvertOptions,
        into output: inout ModelWriter
    ) throws {
        try config.refuseUnknownKeys(
            accepted: acceptedKeys, "LMUFormer argument(s)",
            hint:
                "; the official constructors take model, in_channels, embed_dims, depths, mlp_ratios, num_classes, test_mode and ignored layout arguments"
        )
        if config.has("model"), S.Variant(rawValue: try config.string("model")) == nil {
            throw ConvertError(
                "\(config.source): model '\(try config.string("model"))' is not supported; use lmu_rnn_conv1d, slmu_rnn_conv1d or slmu_rnn_ms_conv1d (attn_ms_conv1d, the attention ablation, is not an LMU)"
            )
        }
        if let mode = config.values["test_mode"] as? String, mode != "normal" && mode != "all_seq" {
            throw ConvertError("\(config.source): test_mode must be 'normal' or 'all_seq', got '\(mode)'")
        }

        // State-dict names, under `module.` when saved from DataParallel.
        let prefix = checkpoint.names.contains { $0.hasPrefix("module.") } ? "module." : ""
        func tensor(_ name: String, rank: Int) throws -> CheckpointTensor {
            let t = try checkpoint.require(prefix + name)
            guard t.shape.count == rank else {
                throw ConvertError("checkpoint tensor '\(t.name)' has shape \(t.shape), expected \(rank) dimensions")
            }
            return t
        }
        func shape(_ t: CheckpointTensor) -> String { "'\(t.name)' has shape \(t.shape)" }

        // Constructor arguments: the tensors determine them all.
        var hp = Hyperparameters(config)
        guard let (variant, marker) = variantMarkers.first(where: { checkpoint[prefix + $0.1 + ".weight"] != nil })
        else {
            throw ConvertError(
                "the checkpoint has none of \(variantMarkers.map { "'\($0.1).weight'" }.joined(separator: ", ")): it is not an LMUFormer state dict"
            )
        }
        let modelName = try hp.string(
            "model", inferred: variant.rawValue,
            "it has '\(prefix)\(marker).weight', which only \(variant.rawValue) has")
        let ms = variant == .membraneShortcut
        let eb = variant == .spiking
        let firstConv = try tensor(
            variant == .plain ? "patch_embed.conv_layers.0.0.weight" : "patch_embed.proj_conv.weight", rank: 3)
        let f = try hp.int("in_channels", inferred: firstConv.shape[1], shape(firstConv))
        let c = try hp.int("embed_dims", inferred: firstConv.shape[0], shape(firstConv))
        let blocksInFile = Set(
            checkpoint.names.compactMap { name -> Int? in
                let parts = name.dropFirst(prefix.count).split(separator: ".")
                return parts.count > 1 && parts[0] == "block" ? Int(parts[1]) : nil
            })
        guard !blocksInFile.isEmpty, blocksInFile == Set(0..<blocksInFile.count) else {
            throw ConvertError("the checkpoint has blocks \(blocksInFile.sorted()); expected block.0, block.1, …")
        }
        let depth = try hp.int("depths", inferred: blocksInFile.count, "it has blocks 0…\(blocksInFile.count - 1)")
        let fc1 = try tensor("block.0.mlp.fc1_conv.weight", rank: 3)
        let hid = fc1.shape[0]
        if config.has("mlp_ratios"), Int(Double(c) * (try config.double("mlp_ratios"))) != hid { // Python int(dim * ratio)
            throw hp.contradiction(
                "mlp_ratios", config.values["mlp_ratios"]!, "\(shape(fc1)), so mlp_ratios = \(Double(hid) / Double(c))")
        }
        let head = try tensor("head.weight", rank: 2)
        let k = try hp.int("num_classes", inferred: head.shape[0], shape(head))
        guard f >= 1, c >= 1, hid >= 1, k >= 1 else {
            throw ConvertError(
                "the checkpoint's in_channels \(f), embed_dims \(c), MLP width \(hid) and num_classes \(k) must be positive"
            )
        }
        if eb && (f != 128 || c != 256) {
            throw ConvertError(
                "slmu_rnn_conv1d's patch embedding is always 128 → 256 channels in the official code (it ignores its arguments), but this checkpoint's is \(f) → \(c)"
            )
        }
        let m = ms || eb ? 2 * c : c
        if !ms && checkpoint[prefix + "head_bn.weight"] != nil {
            throw ConvertError(
                "the checkpoint has 'head_bn' (a slmu_rnn_ms_conv1d model) but its patch embedding is \(modelName)'s")
        }
        // The data loader's normalisation is not in the checkpoint: Speech Commands unless told.
        let audio: [(key: String, value: Double)] = [
            ("audio_mean", -6.845978), ("audio_std", 5.5654526), ("target_frames", 128),
        ]
        let missing = audio.filter { !config.has($0.key) }
        if !missing.isEmpty {
            hp.warnDefault(
                missing.map(\.key), missing.map { ConstructorConfig.describe($0.value) },
                "the official Speech Commands data loader")
        }
        let mean = try config.double("audio_mean", default: audio[0].value)
        let std = try config.double("audio_std", default: audio[1].value)
        let target = try config.int("target_frames", default: Int(audio[2].value))
        guard std > 0, target >= 0 else {
            throw ConvertError("\(config.source): audio_std must be positive and target_frames at least 0")
        }
        for w in hp.warnings { output.warn(w) }

        func tensor(_ name: String, _ shape: [Int]) throws -> [Double] {
            try checkpoint.require(prefix + name, shape: shape).floats().map(Double.init)
        }
        func bn(_ name: String, _ n: Int) throws -> (scale: [Double], shift: [Double]) {
            let w = try tensor("\(name).weight", [n])
            let b = try tensor("\(name).bias", [n])
            let mean = try tensor("\(name).running_mean", [n])
            let variance = try tensor("\(name).running_var", [n])
            let scale = (0..<n).map { w[$0] / (variance[$0] + bnEpsilon).squareRoot() }
            return (scale, (0..<n).map { b[$0] - mean[$0] * scale[$0] })
        }
        func store(_ name: String, _ values: [Double], _ shape: [Int], matrix: Bool = false) throws {
            try output.floats(name, values.map(Float.init), shape: shape, dtype: matrix ? options.weightDType : .f32)
        }
        /// A k=3 convolution [out, in, 3] → tap-major [3, in, out], each output scaled by `scale`.
        func conv3(_ name: String, cin: Int, scale: [Double]?, into dest: String) throws {
            let w = try tensor(name, [c, cin, 3])
            var out = [Double](repeating: 0, count: 3 * cin * c)
            for o in 0..<c {
                let s = scale?[o] ?? 1
                for i in 0..<cin {
                    for j in 0..<3 { out[(j * cin + i) * c + o] = w[(o * cin + i) * 3 + j] * s }
                }
            }
            try store(dest, out, [3, cin, c], matrix: true)
        }
        /// A linear map [out, in] (or a 1×1 convolution [out, in, 1]) → input-major [in, out], with a
        /// following BatchNorm folded in when given.
        func linear(
            _ name: String, inFeatures: Int, outFeatures: Int, kernel: Bool,
            bn fold: (scale: [Double], shift: [Double])?,
            into dest: (weight: String, bias: String), shape: [Int]? = nil
        ) throws {
            let w = try tensor("\(name).weight", kernel ? [outFeatures, inFeatures, 1] : [outFeatures, inFeatures])
            let b = try tensor("\(name).bias", [outFeatures])
            var wt = [Double](repeating: 0, count: inFeatures * outFeatures)
            var bias = b
            for o in 0..<outFeatures {
                let s = fold?.scale[o] ?? 1
                for i in 0..<inFeatures { wt[i * outFeatures + o] = w[o * inFeatures + i] * s }
                if let fold { bias[o] = b[o] * s + fold.shift[o] }
            }
            try store(dest.weight, wt, shape ?? [inFeatures, outFeatures], matrix: outFeatures > 1)
            try store(dest.bias, bias, [outFeatures])
        }
        func storeBN(_ source: String, _ n: Int, as dest: (scale: String, shift: String)) throws {
            let (scale, shift) = try bn(source, n)
            try store(dest.scale, scale, [n])
            try store(dest.shift, shift, [n])
        }

        typealias K = S.Key
        output.metadata(K.variant, .string(modelName))
        output.metadata(K.inChannels, .int(Int64(f)))
        output.metadata(K.width, .int(Int64(c)))
        output.metadata(K.depth, .int(Int64(depth)))
        output.metadata(K.mlpWidth, .int(Int64(hid)))
        output.metadata(K.memorySize, .int(Int64(m)))
        output.metadata(K.classes, .int(Int64(k)))
        output.metadata(K.theta, .int(Int64(theta)))
        output.metadata(K.lifTau, .float(2.0))
        // The Speech Commands front end of the official data loader (torchaudio Kaldi fbank).
        output.metadata(K.sampleRate, .float(16000))
        output.metadata(K.melBins, .int(Int64(f)))
        output.metadata(K.frameLengthMs, .float(25))
        output.metadata(K.frameShiftMs, .float(10))
        output.metadata(K.preemphasis, .float(0.97))
        output.metadata(K.lowFrequency, .float(20))
        output.metadata(K.highFrequency, .float(0))
        output.metadata(K.window, .string("hanning"))
        output.metadata(K.audioMean, .float(mean))
        output.metadata(K.audioStd, .float(std))
        output.metadata(K.targetFrames, .int(Int64(target)))

        // Patch embedding.
        let pe = "patch_embed."
        func patch(_ i: Int) -> (weight: String, bias: String) { (S.patch(i, .weight), S.patch(i, .bias)) }
        if ms || eb {
            let convNames = ["proj_conv", "proj_conv1", "proj_conv2", "proj_conv3"]
            let bnNames = ["proj_bn", "proj_bn1", "proj_bn2", "proj_bn3"]
            for i in 0..<4 {
                let cin = i == 0 ? f : c
                let (scale, shift) = try bn(pe + bnNames[i], c)
                if ms && i == 3 {
                    // conv3's raw output is the residual stream; BN3 only feeds rpe_conv's LIF.
                    try conv3(pe + convNames[i] + ".weight", cin: cin, scale: nil, into: S.patch(i, .weight))
                    try store(S.patch(i, .bnScale), scale, [c])
                    try store(S.patch(i, .bnShift), shift, [c])
                } else {
                    try conv3(pe + convNames[i] + ".weight", cin: cin, scale: scale, into: S.patch(i, .weight))
                    try store(S.patch(i, .bias), shift, [c])
                }
            }
            if eb {
                let (scale, shift) = try bn(pe + "rpe_bn", c)
                try conv3(pe + "rpe_conv.weight", cin: c, scale: scale, into: S.patch(4, .weight))
                try store(S.patch(4, .bias), shift, [c])
            } else {
                try conv3(pe + "rpe_conv.weight", cin: c, scale: nil, into: S.patch(4, .weight))
            }
        } else {
            for i in 0..<4 {
                // conv → ReLU → BN: the BN follows a nonlinearity and stays a scale/shift.
                try conv3(pe + "conv_layers.\(i).0.weight", cin: i == 0 ? f : c, scale: nil, into: S.patch(i, .weight))
                let (scale, shift) = try bn(pe + "conv_layers.\(i).3", c)
                try store(S.patch(i, .bnScale), scale, [c])
                try store(S.patch(i, .bnShift), shift, [c])
            }
            try conv3(pe + "rpe_conv.weight", cin: c, scale: nil, into: S.patch(4, .weight))
        }

        // Blocks.
        for n in 0..<depth {
            let src = "block.\(n)."
            func dst(_ t: S.BlockTensor) -> String { S.block(n, t) }
            let lmu = src + "attn.lmu."
            guard let a = checkpoint[prefix + lmu + "A"], a.shape == [m, m] else {
                throw ConvertError(
                    "'\(lmu)A' must be [\(m), \(m)] for \(modelName) with embed_dims \(c) (memory size \(m))")
            }
            try output.floats(dst(.lmuA), try a.floats(), shape: [m, m])
            try output.floats(
                dst(.lmuB), try checkpoint.require(prefix + lmu + "B", shape: [m, 1]).floats(), shape: [m, 1])
            let spiking = ms || eb
            var uFold: (scale: [Double], shift: [Double])? = nil
            var hFold: (scale: [Double], shift: [Double])? = nil
            if spiking {
                uFold = try bn(lmu + "bn_u", 1)
                hFold = try bn(lmu + "bn_h", c)
            }
            try linear(
                lmu + "W_u", inFeatures: c, outFeatures: 1, kernel: false, bn: uFold,
                into: (dst(.uWeight), dst(.uBias)), shape: [c])
            if spiking { try storeBN(lmu + "bn_m", m, as: (dst(.memoryScale), dst(.memoryShift))) }
            try linear(
                lmu + "W_h", inFeatures: m + c, outFeatures: c, kernel: false,
                bn: hFold, into: (dst(.hWeight), dst(.hBias)))
            try linear(
                src + "attn.proj_conv", inFeatures: c, outFeatures: c, kernel: true,
                bn: try bn(src + "attn.proj_bn", c), into: (dst(.projWeight), dst(.projBias)))
            if ms {
                try storeBN(src + "attn.prev_bn", c, as: (dst(.prevScale), dst(.prevShift)))
                try storeBN(src + "mlp.fc1_bn", c, as: (dst(.fc1Scale), dst(.fc1Shift)))
                try storeBN(src + "mlp.fc2_bn", hid, as: (dst(.fc2Scale), dst(.fc2Shift)))
                try linear(
                    src + "mlp.fc1_conv", inFeatures: c, outFeatures: hid, kernel: true, bn: nil,
                    into: (dst(.fc1Weight), dst(.fc1Bias)))
                try linear(
                    src + "mlp.fc2_conv", inFeatures: hid, outFeatures: c, kernel: true, bn: nil,
                    into: (dst(.fc2Weight), dst(.fc2Bias)))
            } else {
                try linear(
                    src + "mlp.fc1_conv", inFeatures: c, outFeatures: hid, kernel: true,
                    bn: try bn(src + "mlp.fc1_bn", hid), into: (dst(.fc1Weight), dst(.fc1Bias)))
                try linear(
                    src + "mlp.fc2_conv", inFeatures: hid, outFeatures: c, kernel: true,
                    bn: try bn(src + "mlp.fc2_bn", c), into: (dst(.fc2Weight), dst(.fc2Bias)))
            }
        }

        // Head.
        try linear("head", inFeatures: c, outFeatures: k, kernel: false, bn: nil, into: (S.headWeight, S.headBias))
        if ms { try storeBN("head_bn", c, as: (S.headScale, S.headShift)) }
    }
}
