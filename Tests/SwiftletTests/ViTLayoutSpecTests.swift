import Foundation
import SwiftletConvert
import SwiftletFormat
import Testing

/// Formats/swl.md §6.1 read literally: every byte of every panel matrix of the `vit-tiny-test`
/// fixture converted as f32, bf16 and q8 sits where the spec's formulas put it, computed from the
/// checkpoint's weights with the spec's rules (not with the converter's packer), zero padding included.
@Suite struct ViTLayoutSpecTests {
    /// The panel matrices of the fixture (D 48, 4 blocks, MLP 192, 10 classes, 3 × 4 × 4 patches):
    /// file name, checkpoint name, n, k.
    static let matrices: [(String, Int, Int)] = {
        var m = [("patch_embed.proj.weight", 48, 48)]
        for i in 0..<4 {
            m += [
                ("blocks.\(i).attn.qkv.weight", 144, 48), ("blocks.\(i).attn.proj.weight", 48, 48),
                ("blocks.\(i).mlp.fc1.weight", 192, 48), ("blocks.\(i).mlp.fc2.weight", 48, 192),
            ]
        }
        return m + [("head.weight", 10, 48)]
    }()

    static func le32(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }

    @Test(arguments: [DType.f32, .bf16, .q8Row])
    func everyByteIsWhereTheSpecSays(_ dtype: DType) throws {
        let bytes = try ViTFixture.convert("checkpoint.safetensors", options: ConvertOptions(weightDType: dtype))
        let file = try bytes.withUnsafeBytes { try SWLFile(bytes: $0, copy: true) }
        let layout = ["f32": "panels16", "bf16": "panels16_bf16_pairs", "q8_row": "panels16_q8_quads"][dtype.name]!
        #expect(file.metadata["vit.weight_layout"] == .string(layout))
        let ckpt = try CheckpointReader.read(path: ViTFixture.path("checkpoint.safetensors"))
        var mismatches = 0
        for (name, n, k) in Self.matrices {
            let w = try ckpt.require(name).floats()
            #expect(w.count == n * k)
            let entry = try #require(file.entry(name))
            let raw = try file.rawBytes(name)
            let J = (n + 15) / 16
            func W(_ r: Int, _ q: Int) -> Float { r < n && q < k ? w[r * k + q] : 0 }
            switch dtype {
            case .f32 where name == "head.weight":
                #expect(entry.dtype == .f32 && entry.shape == [n, k])
                for r in 0..<n {
                    for q in 0..<k where Self.le32(raw, 4 * (r * k + q)) != W(r, q).bitPattern { mismatches += 1 }
                }
            case .f32:
                #expect(entry.dtype == .f32 && entry.shape == [J, k, 16] && raw.count == 4 * 16 * J * k)
                for j in 0..<J {
                    for q in 0..<k {
                        for c in 0..<16 where Self.le32(raw, 4 * ((j * k + q) * 16 + c)) != W(16 * j + c, q).bitPattern
                        {
                            mismatches += 1
                        }
                    }
                }
            case .bf16:
                let Q = (k + 1) / 2
                #expect(entry.dtype == .bf16 && entry.shape == [J, Q, 16, 2] && raw.count == 2 * 16 * 2 * J * Q)
                for j in 0..<J {
                    for g in 0..<Q {
                        for c in 0..<16 {
                            for e in 0..<2 {
                                let at = 2 * (((j * Q + g) * 16 + c) * 2 + e)
                                let stored = UInt16(raw[at]) | UInt16(raw[at + 1]) << 8
                                // Round to nearest even on the upper 16 bits (finite weights).
                                let x = W(16 * j + c, 2 * g + e).bitPattern
                                let rounded = UInt16((x + 0x7FFF + ((x >> 16) & 1)) >> 16)
                                if stored != rounded { mismatches += 1 }
                            }
                        }
                    }
                }
            default:
                let G = (k + 3) / 4
                #expect(entry.dtype == .u8 && entry.shape == [J, G, 16, 4] && raw.count == 16 * 4 * J * G)
                let scales = try file.floats(name + "_scale")
                #expect(file.entry(name + "_scale")?.shape == [n])
                for r in 0..<n {
                    let scale = (0..<k).map { abs(W(r, $0)) }.max()! / 127
                    #expect(scales[r] == scale, "\(name) scale[\(r)]")
                }
                for j in 0..<J {
                    for g in 0..<G {
                        for c in 0..<16 {
                            for e in 0..<4 {
                                let r = 16 * j + c
                                let q = 4 * g + e
                                var v: Float = 0
                                if r < n && q < k && scales[r] > 0 {
                                    v = max(-127, min(127, (W(r, q) / scales[r]).rounded(.toNearestOrEven)))
                                }
                                if Int8(bitPattern: raw[((j * G + g) * 16 + c) * 4 + e]) != Int8(v) { mismatches += 1 }
                            }
                        }
                    }
                }
            }
        }
        #expect(mismatches == 0)
    }
}
