import CSwiftletKernels
import Foundation
import Swiftlet
import SwiftletFormat
import SwiftletKernels
import Testing

@testable import SwiftletConvert

/// The ViT kernels (CSwiftletKernels/panel_gemm.c, attention.c, layer_norm.c) at every instruction-set level this CPU has, against
/// float64 references, on shapes with ragged edges (rows not a multiple of the tile, columns not a
/// multiple of the panel, column ranges starting mid-matrix).
@Suite struct ViTKernelTests {
    /// Levels to test: portable always, then whatever this CPU adds.
    static var levels: [Int32] {
        KernelISA.available.map(\.rawValue)
    }

    /// Runs `body` with the kernels of this thread capped at `level`.
    static func at<T>(_ level: Int32, _ body: () throws -> T) rethrows -> T {
        try KernelISA.withCap(KernelISA(rawValue: level) ?? .portable, body)
    }

    static func random(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var s = seed
        return (0..<count).map { _ in
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (Float(s >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }

    static func gelu(_ x: Double) -> Double { x * 0.5 * (1 + erf(x / 2.0.squareRoot())) }

    @Test func packingMatchesTheConverter() {
        for (n, k) in [(1, 1), (16, 3), (17, 5), (48, 48), (50, 7)] {
            let w = Self.random(n * k, seed: UInt64(n * 100 + k))
            var packed = [Float](repeating: .nan, count: swk_panel_floats(n, k))
            swk_panel_pack(w, n, k, &packed)
            #expect(packed == ViTSchema.panels(w, n: n, k: k))
            #expect(ViTSchema.panelShape(n: n, k: k).reduce(1, *) == packed.count)
            // Spot check the layout itself: panel j, input p, column c.
            let (j, p, c) = ((n - 1) / 16, k - 1, (n - 1) % 16)
            #expect(packed[(j * k + p) * 16 + c] == w[(n - 1) * k + k - 1])
        }
    }

    @Test(arguments: [(1, 1, 16), (5, 7, 17), (13, 64, 48), (25, 33, 50), (197, 48, 192)])
    func linearMatchesTheDefinition(m: Int, k: Int, n: Int) throws {
        let a = Self.random(m * k, seed: 1)
        let w = Self.random(n * k, seed: 2)
        let bias = Self.random(n, seed: 3)
        let start = Self.random(m * n, seed: 4)
        var panels = [Float](repeating: 0, count: swk_panel_floats(n, k))
        swk_panel_pack(w, n, k, &panels)
        for level in Self.levels {
            for flags in [0, SWK_PANEL_ACCUMULATE, SWK_PANEL_GELU] {
                for withBias in [false, true] {
                    for col0 in Set([0, n > 32 ? 32 : 0, n > 16 ? 16 : 0]) {
                        var c = start
                        Self.at(level) {
                            swk_panel_linear(a, k, m, k, panels, n, col0, n, withBias ? bias : nil, Int32(flags), &c, n)
                        }
                        var worst = 0.0
                        for i in 0..<m {
                            for j in 0..<n {
                                var want = Double(start[i * n + j])
                                if j >= col0 {
                                    var s = withBias ? Double(bias[j]) : 0
                                    for p in 0..<k { s += Double(a[i * k + p]) * Double(w[j * k + p]) }
                                    want =
                                        flags == SWK_PANEL_ACCUMULATE
                                        ? want + s : flags == SWK_PANEL_GELU ? Self.gelu(s) : s
                                }
                                worst = max(worst, abs(Double(c[i * n + j]) - want))
                            }
                        }
                        #expect(
                            worst < 1e-5 * Double(k + 1),
                            "level \(level) flags \(flags) bias \(withBias) col0 \(col0): \(worst)")
                    }
                }
            }
        }
    }

    @Test(arguments: [(1, 1, 8), (5, 3, 16), (17, 2, 24), (40, 3, 16), (197, 1, 64)])
    func attentionMatchesTheDefinition(tokens: Int, heads: Int, headDim: Int) throws {
        let width = heads * headDim
        let stride = 3 * width
        let qkv = Self.random(tokens * stride, seed: 5, scale: 2)
        let keyBias = (0..<tokens).map { Float(log(Double(1 + $0 % 4))) }
        let scale = Float(1 / Double(headDim).squareRoot())
        var scratch = [Float](repeating: 0, count: swk_attention_scratch(tokens, headDim))
        for level in Self.levels {
            for biased in [false, true] {
                // All queries at once, and in two pieces as two threads would.
                for cut in Set([tokens, tokens / 2]) {
                    var out = [Float](repeating: .nan, count: tokens * width)
                    Self.at(level) {
                        qkv.withUnsafeBufferPointer { p in
                            let q = p.baseAddress!
                            for (q0, q1) in [(0, cut), (cut, tokens)] where q1 > q0 {
                                swk_attention(
                                    q, q + width, q + 2 * width, stride, tokens, q0, q1, heads, headDim,
                                    scale, biased ? keyBias : nil, &out, width, &scratch)
                            }
                        }
                    }
                    var worst = 0.0
                    for h in 0..<heads {
                        for i in 0..<tokens {
                            var s = (0..<tokens).map { j -> Double in
                                var dot = 0.0
                                for d in 0..<headDim {
                                    dot +=
                                        Double(qkv[i * stride + h * headDim + d])
                                        * Double(qkv[j * stride + width + h * headDim + d])
                                }
                                return dot * Double(scale) + (biased ? Double(keyBias[j]) : 0)
                            }
                            let m = s.max()!
                            s = s.map { exp($0 - m) }
                            let total = s.reduce(0, +)
                            for d in 0..<headDim {
                                var o = 0.0
                                for j in 0..<tokens {
                                    o += s[j] / total * Double(qkv[j * stride + 2 * width + h * headDim + d])
                                }
                                worst = max(worst, abs(Double(out[i * width + h * headDim + d]) - o))
                            }
                        }
                    }
                    #expect(worst < 1e-5, "level \(level) biased \(biased) cut \(cut): \(worst)")
                }
            }
        }
    }

    @Test func layerNormMatchesTheDefinition() {
        for cols in [1, 7, 16, 48, 50, 384] {
            let rows = 3
            // A large mean next to a small spread: the two-pass variance must not cancel.
            let x = Self.random(rows * cols, seed: 6).map { $0 + 100 }
            let w = Self.random(cols, seed: 7)
            let b = Self.random(cols, seed: 8)
            for level in Self.levels {
                var y = [Float](repeating: .nan, count: rows * cols)
                Self.at(level) { swk_layer_norm(x, rows, cols, w, b, 1e-6, &y) }
                var worst = 0.0
                for r in 0..<rows {
                    let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
                    let mean = row.reduce(0, +) / Double(cols)
                    let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols)
                    for j in 0..<cols {
                        let want = (row[j] - mean) / (variance + 1e-6).squareRoot() * Double(w[j]) + Double(b[j])
                        worst = max(worst, abs(Double(y[r * cols + j]) - want))
                    }
                }
                #expect(worst < 2e-4, "level \(level) cols \(cols): \(worst)")
            }
        }
    }

    /// The vectorised erf is within 1e-6·max(1, |x|) of the exact GELU everywhere, including the
    /// clamp region and the tails; NaN stays NaN.
    @Test func geluIsExactToFloatPrecision() {
        var x = stride(from: -12.0, through: 12.0, by: 0.001).map { Float($0) }
        x += [0, -0.0, 1e-30, -1e-30, Float(3.925 * 2.0.squareRoot()), 1e6, -1e6]
        for level in Self.levels {
            var y = x
            Self.at(level) { swk_gelu(&y, y.count) }
            var worst = 0.0
            for (xi, yi) in zip(x, y) {
                let e = abs(Double(yi) - Self.gelu(Double(xi))) / max(1, abs(Double(xi)))
                worst = max(worst, e)
            }
            #expect(worst < 1e-6, "level \(level): \(worst)")
            var special: [Float] = [.nan, 1, .nan]
            Self.at(level) { swk_gelu(&special, 3) }
            #expect(special[0].isNaN && special[2].isNaN)
        }
    }

    /// The fixture passes at every level (the whole model through the Swift API on this thread: one
    /// thread, so no helper thread runs at another level).
    @Test func fixtureMatchesAtEveryLevel() throws {
        let model = try Model(bytes: try ViTFixture.convert("checkpoint.safetensors"))
        let session = try model.makeSession(options: SessionOptions(threads: 1))
        let logits = try #require(try ViTFixture.expected("logits_r8dec.npy")).floats()
        for level in Self.levels {
            let (outputs, _) = try Self.at(level) {
                try session.run([try ViTFixture.input()], budget: Budget(mergeR: [8, -1]))
            }
            let l = compare(outputs[0].values, logits)
            #expect(l.ok, "level \(level): logits max abs \(l.maxAbs)")
        }
    }

    /// A file converted before the panel layout (weights `[n, k]`, no `vit.weight_layout`) is
    /// refused with a message that says what to do.
    @Test func unpackedFilesAreRefused() throws {
        var w = SWLWriter()
        w.setMetadata("general.family", .string("vit"))
        w.setMetadata("vit.image_size", .ints([32, 32]))
        w.setMetadata("vit.patch_size", .int(16))
        w.setMetadata("vit.embed_dim", .int(16))
        w.setMetadata("vit.depth", .int(1))
        w.setMetadata("vit.num_heads", .int(1))
        w.setMetadata("vit.mlp_hidden", .int(16))
        w.setMetadata("vit.num_classes", .int(2))
        try w.addTensor(
            name: "patch_embed.proj.weight", dtype: .f32, shape: [16, 768],
            bytes: Quantize.f32Bytes([Float](repeating: 0, count: 16 * 768)))
        do {
            _ = try Model(bytes: try w.serialize())
            Issue.record("an unpacked file loaded")
        } catch {
            #expect("\(error)".contains("convert the checkpoint again"), "\(error)")
        }
    }
}
