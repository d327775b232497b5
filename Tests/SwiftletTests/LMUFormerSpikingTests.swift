import Foundation
import Swiftlet
import SwiftletConvert
import Testing

/// `slmu_rnn_conv1d` has no public fixture (its patch embedding is always 128 → 256 channels). These
/// tests build a checkpoint from a seeded generator and compare with values that an independent
/// NumPy port of the official code (notes/lmuformer/reference.py, float64) computed for the same
/// weights and input. The seed was chosen so that no membrane comes within 4.9e-5 of its threshold.
@Suite struct LMUFormerSpikingTests {
    static let f = 128, c = 256, m = 512, hid = 64, k = 4, frames = 24

    /// SplitMix64, uniform floats in [lo, hi) computed in float32 (as the NumPy generator does).
    struct Generator {
        var state: UInt64
        mutating func uniform(_ n: Int, _ lo: Double, _ hi: Double) -> [Float] {
            (0..<n).map { _ in
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
                let u = Float(z >> 40) / Float(1 << 24)
                return Float(lo) + Float(hi - lo) * u
            }
        }
    }

    /// The checkpoint (official names and shapes) and the input clip [frames, 128].
    static func synthetic() throws -> (Checkpoint, [Float]) {
        var g = Generator(state: 14)
        var tensors: [CheckpointTensor] = []
        func add(_ name: String, _ shape: [Int], _ values: [Float]) throws {
            let bytes = values.flatMap { v -> [UInt8] in
                let b = v.bitPattern
                return [UInt8(b & 0xFF), UInt8(b >> 8 & 0xFF), UInt8(b >> 16 & 0xFF), UInt8(b >> 24)]
            }
            tensors.append(try CheckpointTensor(name: name, dtype: .f32, shape: shape, bytes: bytes))
        }
        func t(_ name: String, _ shape: [Int], _ lo: Double, _ hi: Double) throws {
            try add(name, shape, g.uniform(shape.reduce(1, *), lo, hi))
        }
        func bn(_ p: String, _ n: Int) throws {
            try t(p + ".weight", [n], 0.5, 1.5)
            try t(p + ".bias", [n], 0.4, 1.4)
            try t(p + ".running_mean", [n], -0.2, 0.2)
            try t(p + ".running_var", [n], 0.5, 1.5)
        }
        let pe = "patch_embed."
        for (i, n) in ["proj_conv", "proj_conv1", "proj_conv2", "proj_conv3"].enumerated() {
            try t(pe + n + ".weight", [c, i == 0 ? f : c, 3], -0.15, 0.15)
        }
        for n in ["proj_bn", "proj_bn1", "proj_bn2", "proj_bn3", "rpe_bn"] { try bn(pe + n, c) }
        try t(pe + "rpe_conv.weight", [c, c, 3], -0.15, 0.15)
        let q = "block.0."
        var a = g.uniform(m * m, -0.002, 0.002)
        for i in 0..<m { a[i * m + i] += Float(0.95) }
        try add(q + "attn.lmu.A", [m, m], a)
        try t(q + "attn.lmu.B", [m, 1], -1, 1)
        try t(q + "attn.lmu.W_u.weight", [1, c], -0.1, 0.1)
        try t(q + "attn.lmu.W_u.bias", [1], 0.5, 1.0)
        try t(q + "attn.lmu.W_h.weight", [c, m + c], -0.08, 0.08)
        try t(q + "attn.lmu.W_h.bias", [c], -0.2, 0.2)
        for (n, width) in [("bn_u", 1), ("bn_m", m), ("bn_h", c)] { try bn(q + "attn.lmu." + n, width) }
        try t(q + "attn.proj_conv.weight", [c, c, 1], -0.12, 0.12)
        try t(q + "attn.proj_conv.bias", [c], -0.2, 0.2)
        try bn(q + "attn.proj_bn", c)
        try t(q + "mlp.fc1_conv.weight", [hid, c, 1], -0.2, 0.2)
        try t(q + "mlp.fc1_conv.bias", [hid], -0.2, 0.2)
        try bn(q + "mlp.fc1_bn", hid)
        try t(q + "mlp.fc2_conv.weight", [c, hid, 1], -0.2, 0.2)
        try t(q + "mlp.fc2_conv.bias", [c], -0.2, 0.2)
        try bn(q + "mlp.fc2_bn", c)
        try t("head.weight", [k, c], -0.2, 0.2)
        try t("head.bias", [k], -0.1, 0.1)
        let input = g.uniform(frames * f, -1.5, 1.5)
        return (try Checkpoint(tensors: tensors, format: "safetensors"), input)
    }

    static func config(_ extra: [String: Any] = [:]) -> ConstructorConfig {
        var v: [String: Any] = [
            "model": "slmu_rnn_conv1d", "in_channels": NSNumber(value: f), "embed_dims": NSNumber(value: c),
            "depths": NSNumber(value: 1), "mlp_ratios": NSNumber(value: 0.25), "num_classes": NSNumber(value: k),
        ]
        for (key, value) in extra { v[key] = value }
        return ConstructorConfig(values: v)
    }

    // From reference.py (float64) on the same weights: the 'normal' logits, rows 0, 5, 11 and 23 of
    // the per-step logits, and the spike rate of each LIF layer (patch 0–3, rpe, u, m, h, proj, fc1, fc2).
    static let normal: [Float] = [-4.186382238, 0.680816434, 0.720138436, 4.50579104]
    static let rows: [Int: [Float]] = [
        0: [-1.385900997, 1.755673699, -1.387537576, 1.601558074],
        5: [-4.192685312, 0.737225742, 0.514907135, 4.381092248],
        11: [-4.458971357, 0.415372798, 0.448067669, 4.517699001],
        23: [-4.186382238, 0.680816434, 0.720138436, 4.50579104],
    ]
    static let spikeRates: [Double] = [
        0.2646484375, 0.2654622395833333, 0.26708984375, 0.26416015625, 0.2521158854166667, 0.5,
        0.4037272135416667, 0.2820638020833333, 0.16145833333333334, 0.390625, 0.16243489583333334,
    ]

    @Test func matchesTheReferenceAndStreamsLikeItself() throws {
        let (checkpoint, input) = try Self.synthetic()
        let bytes = try Converter.convertToBytes(
            LMUFormerConverter.self, checkpoint: checkpoint, config: Self.config(),
            options: ConvertOptions())
        let model = try Model(bytes: bytes)
        let (out, report) = try model.makeSession().run([Tensor(shape: [1, Self.frames, Self.f], values: input)])
        let (e0, ok0) = lmuCompare(out[0].values, Self.normal)
        #expect(ok0, "logits max abs error \(e0)")
        var worst = e0
        for (t, want) in Self.rows {
            let got = Array(out[1].values[(t * Self.k)..<((t + 1) * Self.k)])
            let (e, ok) = lmuCompare(got, want)
            worst = max(worst, e)
            #expect(ok, "row \(t): max abs error \(e)")
        }
        print("slmu_rnn_conv1d (synthetic) vs reference: max abs error \(worst)")
        #expect(report.values["spike_rate"] == Self.spikeRates)

        for chunk in [1, 7, 128] {
            let stream = try model.makeStream()
            var rows: [Float] = []
            for start in stride(from: 0, to: Self.frames, by: chunk) {
                rows += try stream.push(Array(input[(start * Self.f)..<(min(start + chunk, Self.frames) * Self.f)]))
                    .flatMap { $0 }
            }
            rows += try stream.flush().flatMap { $0 }
            let (e, ok) = lmuCompare(rows, out[1].values)
            #expect(ok, "chunk \(chunk): max abs error \(e)")
            #expect(try stream.report.values["spike_rate"] == Self.spikeRates)
        }
    }

    @Test func converterRefusesWhatTheOfficialCodeCannotBuild() throws {
        let (checkpoint, _) = try Self.synthetic()
        // Conv1d4EB ignores its arguments: anything but 128 → 256 cannot be the official model.
        let refused: [[String: Any]] = [
            ["in_channels": NSNumber(value: 64)], ["model": "slmu_rnn_ms_conv1d"], ["depths": NSNumber(value: 2)],
            ["unknown_knob": NSNumber(value: 1)],
        ]
        for overrides in refused {
            #expect(throws: ConvertError.self, "\(overrides)") {
                try Converter.convertToBytes(
                    LMUFormerConverter.self, checkpoint: checkpoint, config: Self.config(overrides),
                    options: ConvertOptions())
            }
        }
        // The DataParallel prefix is accepted.
        let prefixed = try Checkpoint(
            tensors: checkpoint.tensors.map {
                try CheckpointTensor(name: "module." + $0.name, dtype: $0.dtype, shape: $0.shape, bytes: $0.bytes)
            }, format: "safetensors")
        let a = try Converter.convertToBytes(
            LMUFormerConverter.self, checkpoint: prefixed, config: Self.config(), options: ConvertOptions())
        let b = try Converter.convertToBytes(
            LMUFormerConverter.self, checkpoint: checkpoint, config: Self.config(), options: ConvertOptions())
        #expect(a == b)
    }
}
