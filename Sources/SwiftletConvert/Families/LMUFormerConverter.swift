import Foundation
import SwiftletFormat

/// Converts official LMUFormer checkpoints (zeyuliu1037/LMUFormer, `src/lmu_rnn.py`): the
/// constructors `lmu_rnn_conv1d`, `slmu_rnn_conv1d` and `slmu_rnn_ms_conv1d`.
///
/// KWARGS: `model` (the constructor), `in_channels` (default 1), `embed_dims`, `depths`,
/// `mlp_ratios` (single numbers: the official list defaults do not run), `num_classes` (default 35);
/// `test_mode`, `num_heads` and the arguments the code ignores are accepted. Optional front-end keys:
/// `audio_mean`, `audio_std`, `target_frames` (Speech Commands values by default).
///
/// State-dict names are the official ones, optionally under `module.` (DataParallel). Every
/// BatchNorm (eval statistics, eps 1e-5) is folded into the product right before it, or stored as a
/// scale/shift where a nonlinearity sits between. Linear weights are stored input-major `[in, out]`
/// and k=3 convolution weights tap-major `[3, in, out]`. The LMU's `A` and `B` are stored; the derived
/// `H` and complex `fft_H` buffers are skipped (the runtime derives what it needs from `A`, `B`).
public enum LMUFormerConverter: FamilyConverter {
    public static let family = "lmuformer"

    /// Hard-coded in every LMU cell of the official code.
    static let theta = 128
    static let bnEpsilon = 1e-5

    static let acceptedKeys: Set<String> = [
        "model", "in_channels", "embed_dims", "depths", "mlp_ratios", "num_classes", "test_mode", "num_heads",
        "img_size_h", "img_size_w", "patch_size", "qkv_bias", "qk_scale", "drop_rate", "attn_drop_rate",
        "drop_path_rate", "sr_ratios", "T", "pretrained", "audio_mean", "audio_std", "target_frames",
    ]

    public static func convert(_ checkpoint: Checkpoint, config: ConstructorConfig, options: ConvertOptions,
                               into output: inout ModelWriter) throws {
        let unknown = config.values.keys.filter { !acceptedKeys.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw ConvertError("\(config.source): unknown LMUFormer argument(s) \(unknown.joined(separator: ", ")); the official constructors take model, in_channels, embed_dims, depths, mlp_ratios, num_classes, test_mode and ignored layout arguments")
        }
        let modelName = try config.string("model")
        let ms = modelName == "slmu_rnn_ms_conv1d"
        let eb = modelName == "slmu_rnn_conv1d"
        guard modelName == "lmu_rnn_conv1d" || ms || eb else {
            throw ConvertError("\(config.source): model '\(modelName)' is not supported; use lmu_rnn_conv1d, slmu_rnn_conv1d or slmu_rnn_ms_conv1d (attn_ms_conv1d, the attention ablation, is not an LMU)")
        }
        for key in ["embed_dims", "depths", "mlp_ratios"] where !config.has(key) {
            throw ConvertError("\(config.source): '\(key)' is required (the official default is a per-stage list the constructor cannot use)")
        }
        if let mode = config.values["test_mode"] as? String, mode != "normal" && mode != "all_seq" {
            throw ConvertError("\(config.source): test_mode must be 'normal' or 'all_seq', got '\(mode)'")
        }
        let f = try integer(config, "in_channels", default: 1)
        let c = try integer(config, "embed_dims")
        let depth = try integer(config, "depths")
        let ratio = try number(config, "mlp_ratios")
        let k = try integer(config, "num_classes", default: 35)
        guard f >= 1, c >= 1, depth >= 1, ratio > 0, k >= 1 else {
            throw ConvertError("\(config.source): in_channels, embed_dims, depths, mlp_ratios and num_classes must be positive")
        }
        if eb && (f != 128 || c != 256) {
            throw ConvertError("\(config.source): slmu_rnn_conv1d's patch embedding is always 128 → 256 channels in the official code (it ignores its arguments), so in_channels must be 128 and embed_dims 256; got \(f) and \(c)")
        }
        let hid = Int(Double(c) * ratio)
        let m = ms || eb ? 2 * c : c
        guard hid >= 1 else { throw ConvertError("\(config.source): embed_dims × mlp_ratios gives no hidden units") }

        // State-dict names, under `module.` when saved from DataParallel.
        let prefix = checkpoint.names.contains { $0.hasPrefix("module.") } ? "module." : ""
        let blocksInFile = Set(checkpoint.names.compactMap { name -> Int? in
            let parts = name.dropFirst(prefix.count).split(separator: ".")
            return parts.count > 1 && parts[0] == "block" ? Int(parts[1]) : nil
        })
        guard blocksInFile == Set(0..<depth) else {
            throw ConvertError("the checkpoint has blocks \(blocksInFile.sorted()) but depths is \(depth)")
        }
        let layout = ms ? "patch_embed.proj_bn3" : eb ? "patch_embed.rpe_bn" : "patch_embed.conv_layers.0.3"
        guard checkpoint[prefix + layout + ".weight"] != nil else {
            throw ConvertError("the checkpoint has no '\(layout).weight': it is not a \(modelName) state dict")
        }
        if !ms && checkpoint[prefix + "head_bn.weight"] != nil {
            throw ConvertError("the checkpoint has 'head_bn' (a slmu_rnn_ms_conv1d model) but model is \(modelName)")
        }

        func tensor(_ name: String, _ shape: [Int]) throws -> [Double] {
            try checkpoint.require(prefix + name, shape: shape).floats().map(Double.init)
        }
        func bn(_ name: String, _ n: Int) throws -> (scale: [Double], shift: [Double]) {
            let w = try tensor("\(name).weight", [n]), b = try tensor("\(name).bias", [n])
            let mean = try tensor("\(name).running_mean", [n]), variance = try tensor("\(name).running_var", [n])
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
        func linear(_ name: String, inFeatures: Int, outFeatures: Int, kernel: Bool, bn fold: (scale: [Double], shift: [Double])?,
                    into dest: String, shape: [Int]? = nil) throws {
            let w = try tensor("\(name).weight", kernel ? [outFeatures, inFeatures, 1] : [outFeatures, inFeatures])
            let b = try tensor("\(name).bias", [outFeatures])
            var wt = [Double](repeating: 0, count: inFeatures * outFeatures)
            var bias = b
            for o in 0..<outFeatures {
                let s = fold?.scale[o] ?? 1
                for i in 0..<inFeatures { wt[i * outFeatures + o] = w[o * inFeatures + i] * s }
                if let fold { bias[o] = b[o] * s + fold.shift[o] }
            }
            try store("\(dest).weight", wt, shape ?? [inFeatures, outFeatures], matrix: outFeatures > 1)
            try store("\(dest).bias", bias, [outFeatures])
        }
        func storeBN(_ source: String, _ n: Int, as dest: String) throws {
            let (scale, shift) = try bn(source, n)
            try store("\(dest).scale", scale, [n])
            try store("\(dest).shift", shift, [n])
        }

        output.metadata("lmuformer.variant", .string(modelName))
        output.metadata("lmuformer.in_channels", .int(Int64(f)))
        output.metadata("lmuformer.embed_dims", .int(Int64(c)))
        output.metadata("lmuformer.depths", .int(Int64(depth)))
        output.metadata("lmuformer.hidden_dims", .int(Int64(hid)))
        output.metadata("lmuformer.memory_size", .int(Int64(m)))
        output.metadata("lmuformer.num_classes", .int(Int64(k)))
        output.metadata("lmuformer.theta", .int(Int64(theta)))
        output.metadata("lmuformer.lif_tau", .float(2.0))
        // The Speech Commands front end of the official data loader (torchaudio Kaldi fbank).
        output.metadata("lmuformer.audio.sample_rate", .float(16000))
        output.metadata("lmuformer.audio.num_mel_bins", .int(Int64(f)))
        output.metadata("lmuformer.audio.frame_length_ms", .float(25))
        output.metadata("lmuformer.audio.frame_shift_ms", .float(10))
        output.metadata("lmuformer.audio.preemphasis", .float(0.97))
        output.metadata("lmuformer.audio.low_freq", .float(20))
        output.metadata("lmuformer.audio.high_freq", .float(0))
        output.metadata("lmuformer.audio.window", .string("hanning"))
        output.metadata("lmuformer.audio.mean", .float(try number(config, "audio_mean", default: -6.845978)))
        let std = try number(config, "audio_std", default: 5.5654526)
        let target = try integer(config, "target_frames", default: 128)
        guard std > 0, target >= 0 else { throw ConvertError("\(config.source): audio_std must be positive and target_frames at least 0") }
        output.metadata("lmuformer.audio.std", .float(std))
        output.metadata("lmuformer.audio.target_frames", .int(Int64(target)))

        // Patch embedding.
        let pe = "patch_embed."
        if ms || eb {
            let convNames = ["proj_conv", "proj_conv1", "proj_conv2", "proj_conv3"]
            let bnNames = ["proj_bn", "proj_bn1", "proj_bn2", "proj_bn3"]
            for i in 0..<4 {
                let cin = i == 0 ? f : c
                let (scale, shift) = try bn(pe + bnNames[i], c)
                if ms && i == 3 {
                    // conv3's raw output is the residual stream; BN3 only feeds rpe_conv's LIF.
                    try conv3(pe + convNames[i] + ".weight", cin: cin, scale: nil, into: "patch.conv3.weight")
                    try store("patch.conv3.bn_scale", scale, [c])
                    try store("patch.conv3.bn_shift", shift, [c])
                } else {
                    try conv3(pe + convNames[i] + ".weight", cin: cin, scale: scale, into: "patch.conv\(i).weight")
                    try store("patch.conv\(i).bias", shift, [c])
                }
            }
            if eb {
                let (scale, shift) = try bn(pe + "rpe_bn", c)
                try conv3(pe + "rpe_conv.weight", cin: c, scale: scale, into: "patch.rpe.weight")
                try store("patch.rpe.bias", shift, [c])
            } else {
                try conv3(pe + "rpe_conv.weight", cin: c, scale: nil, into: "patch.rpe.weight")
            }
        } else {
            for i in 0..<4 {
                // conv → ReLU → BN: the BN follows a nonlinearity and stays a scale/shift.
                try conv3(pe + "conv_layers.\(i).0.weight", cin: i == 0 ? f : c, scale: nil, into: "patch.conv\(i).weight")
                let (scale, shift) = try bn(pe + "conv_layers.\(i).3", c)
                try store("patch.conv\(i).bn_scale", scale, [c])
                try store("patch.conv\(i).bn_shift", shift, [c])
            }
            try conv3(pe + "rpe_conv.weight", cin: c, scale: nil, into: "patch.rpe.weight")
        }

        // Blocks.
        for n in 0..<depth {
            let src = "block.\(n).", dst = "block.\(n)."
            let lmu = src + "attn.lmu."
            guard let a = checkpoint[prefix + lmu + "A"], a.shape == [m, m] else {
                throw ConvertError("'\(lmu)A' must be [\(m), \(m)] for \(modelName) with embed_dims \(c) (memory size \(m))")
            }
            try output.floats(dst + "lmu.A", try a.floats(), shape: [m, m])
            try output.floats(dst + "lmu.B", try checkpoint.require(prefix + lmu + "B", shape: [m, 1]).floats(), shape: [m, 1])
            let spiking = ms || eb
            var uFold: (scale: [Double], shift: [Double])? = nil
            var hFold: (scale: [Double], shift: [Double])? = nil
            if spiking {
                uFold = try bn(lmu + "bn_u", 1)
                hFold = try bn(lmu + "bn_h", c)
            }
            try linear(lmu + "W_u", inFeatures: c, outFeatures: 1, kernel: false, bn: uFold, into: dst + "u", shape: [c])
            if spiking { try storeBN(lmu + "bn_m", m, as: dst + "m_bn") }
            try linear(lmu + "W_h", inFeatures: m + c, outFeatures: c, kernel: false,
                       bn: hFold, into: dst + "h")
            try linear(src + "attn.proj_conv", inFeatures: c, outFeatures: c, kernel: true,
                       bn: try bn(src + "attn.proj_bn", c), into: dst + "proj")
            if ms {
                try storeBN(src + "attn.prev_bn", c, as: dst + "prev_bn")
                try storeBN(src + "mlp.fc1_bn", c, as: dst + "fc1_bn")
                try storeBN(src + "mlp.fc2_bn", hid, as: dst + "fc2_bn")
                try linear(src + "mlp.fc1_conv", inFeatures: c, outFeatures: hid, kernel: true, bn: nil, into: dst + "fc1")
                try linear(src + "mlp.fc2_conv", inFeatures: hid, outFeatures: c, kernel: true, bn: nil, into: dst + "fc2")
            } else {
                try linear(src + "mlp.fc1_conv", inFeatures: c, outFeatures: hid, kernel: true,
                           bn: try bn(src + "mlp.fc1_bn", hid), into: dst + "fc1")
                try linear(src + "mlp.fc2_conv", inFeatures: hid, outFeatures: c, kernel: true,
                           bn: try bn(src + "mlp.fc2_bn", c), into: dst + "fc2")
            }
        }

        // Head.
        try linear("head", inFeatures: c, outFeatures: k, kernel: false, bn: nil, into: "head")
        if ms { try storeBN("head_bn", c, as: "head_bn") }
    }

    // JSON numbers 0 and 1 arrive as NSNumbers that also cast to Bool on Linux; a boolean is told
    // apart by its Objective-C type code ("c"), so `depths: 1` reads as the integer it is.
    static func number(_ config: ConstructorConfig, _ key: String, default d: Double? = nil) throws -> Double {
        guard config.has(key), let v = config.values[key] else {
            if let d { return d }
            throw ConvertError("\(config.source): the field '\(key)' (a number) is missing")
        }
        if let n = v as? NSNumber, String(cString: n.objCType) != "c" { return n.doubleValue }
        throw ConvertError("\(config.source): '\(key)' must be a single number, got \(v)")
    }

    static func integer(_ config: ConstructorConfig, _ key: String, default d: Int? = nil) throws -> Int {
        let v = try number(config, key, default: d.map(Double.init))
        guard v == v.rounded(), abs(v) < 1e15 else {
            throw ConvertError("\(config.source): '\(key)' must be an integer, got \(v)")
        }
        return Int(v)
    }
}
