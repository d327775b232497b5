import Foundation
import Swiftlet
import SwiftletConvert
import SwiftletFormat
import Testing

@testable import SwiftletModels

/// The vit-tiny-test fixture: timm ViT (32×32, patch 4, D 48, depth 4, 3 heads, 10 classes) with the
/// official ToMe patch, one golden output set per budget tag.
enum ViTFixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/vit-tiny-test").path

    static func path(_ name: String) -> String { directory + "/" + name }

    static var config: ConstructorConfig {
        get throws { try ConstructorConfig(path: path("config.json")) }
    }

    /// Budget tag → ToMe r as `Budget.mergeR` spells it (an int becomes [r]).
    static func budgets() throws -> [(tag: String, mergeR: [Int], tokensLeft: Int)] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path("config.json")))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let budgets = json["budgets"] as! [String: [String: Any]]
        return budgets.keys.sorted().map { tag in
            let b = budgets[tag]!
            let r = (b["r"] as? [Int]) ?? [b["r"] as! Int]
            return (tag, r, b["tokens_left"] as! Int)
        }
    }

    static func convert(
        _ checkpoint: String, config: ConstructorConfig? = nil,
        options: ConvertOptions = ConvertOptions()
    ) throws -> [UInt8] {
        let make = {
            let ckpt = try CheckpointReader.read(path: path(checkpoint))
            return try Converter.convertToBytes(
                ViTConverter.self, checkpoint: ckpt, config: config ?? self.config, options: options)
        }
        return config == nil ? try FixtureCache.bytes("vit-tiny-test/\(checkpoint) \(options)", make) : try make()
    }

    static func input() throws -> Tensor {
        let a = try NPYArray(path: path("input.npy"))
        return Tensor(shape: a.shape, values: try a.floats())
    }

    static func expected(_ name: String) throws -> NPYArray? {
        FileManager.default.fileExists(atPath: path(name)) ? try NPYArray(path: path(name)) : nil
    }
}

/// Largest |got − want| and whether every element is within 1e-4 abs + 1e-4 rel.
func compare(_ got: [Float], _ want: [Float]) -> (maxAbs: Double, ok: Bool) {
    guard got.count == want.count else { return (.infinity, false) }
    var worst = 0.0
    var ok = true
    for (g, w) in zip(got, want) {
        let e = abs(Double(g) - Double(w))
        worst = max(worst, e)
        if !(e <= 1e-4 + 1e-4 * abs(Double(w))) { ok = false }
    }
    return (worst, ok)
}

@Suite struct ViTFixtureTests {
    @Test func pthAndSafetensorsConvertToIdenticalBytes() throws {
        let a = try ViTFixture.convert("checkpoint.pth")
        let b = try ViTFixture.convert("checkpoint.safetensors")
        #expect(a.count > 400_000)
        #expect(a == b)
        let model = try Model(bytes: a)
        #expect(model.family == "vit")
        #expect(model.inputs == [TensorInfo(name: "images", dtype: .f32, shape: [-1, 3, 32, 32])])
        #expect(model.outputs.map(\.name) == ["logits", "tokens", "sizes"])
        #expect(model.metadataText("vit.mlp_hidden") == "192")
    }

    @Test(arguments: ["r0", "r4", "r8", "r8dec", "list"])
    func budgetTagMatchesTheReference(tag: String) throws {
        let budget = try #require(try ViTFixture.budgets().first { $0.tag == tag })
        let model = try Model(bytes: try ViTFixture.convert("checkpoint.safetensors"))
        let session = try model.makeSession(options: SessionOptions(threads: 1))
        let (outputs, report) = try session.run([try ViTFixture.input()], budget: Budget(mergeR: budget.mergeR))
        #expect(outputs.count == 3)

        let logits = try #require(try ViTFixture.expected("logits_\(tag).npy"))
        #expect(outputs[0].shape == logits.shape)
        let l = compare(outputs[0].values, try logits.floats())
        #expect(l.ok, Comment(rawValue: "logits max abs error \(l.maxAbs)"))

        let tokens = try #require(try ViTFixture.expected("tokens_\(tag).npy"))
        #expect(outputs[1].shape == tokens.shape)
        #expect(outputs[1].shape == [2, budget.tokensLeft, 48])
        let t = compare(outputs[1].values, try tokens.floats())
        #expect(t.ok, Comment(rawValue: "tokens max abs error \(t.maxAbs)"))

        // Sizes are whole numbers of patches: exact. No file for r0 (ToMe's size stays None ≡ ones).
        #expect(outputs[2].shape == [2, budget.tokensLeft])
        if let sizes = try ViTFixture.expected("sizes_\(tag).npy") {
            #expect(outputs[2].values == (try sizes.floats()))
        } else {
            #expect(outputs[2].values.allSatisfy { $0 == 1 })
        }
        print("vit-tiny-test \(tag): logits max abs \(l.maxAbs), tokens max abs \(t.maxAbs)")

        #expect(report.tokensKept == budget.tokensLeft)
        #expect(report.layers == 4)
        #expect(report.values["tokens_per_layer"]?.count == 4)
        #expect(report.values["tokens_per_layer"]?.last == Double(budget.tokensLeft))
        let expectedChoice =
            switch tag {
            case "r8dec": "r=(8,-1)"
            case "list": "r=[16,8,4]"
            default: "r=\(budget.mergeR[0])"
            }
        #expect(report.choice == expectedChoice)
    }

    @Test func sizesAddUpAndTheClassTokenIsNeverMerged() throws {
        let model = try Model(bytes: try ViTFixture.convert("checkpoint.safetensors"))
        let session = try model.makeSession()
        for r in [[16], [32], [8, -1], [20, 20, 20, 20]] {
            let (outputs, _) = try session.run([try ViTFixture.input()], budget: Budget(mergeR: r))
            let n = outputs[2].shape[1]
            for b in 0..<2 {
                let s = outputs[2].values[(b * n)..<((b + 1) * n)]
                #expect(s.reduce(0, +) == 65)
                #expect(s.first == 1)
            }
        }
    }

    @Test func eachImageMergesIndependently() throws {
        let model = try Model(bytes: try ViTFixture.convert("checkpoint.safetensors"))
        let session = try model.makeSession()
        let input = try ViTFixture.input()
        let (both, _) = try session.run([input], budget: Budget(mergeR: [8]))
        let per = 3 * 32 * 32
        for b in 0..<2 {
            let one = Tensor(shape: [1, 3, 32, 32], values: Array(input.values[(b * per)..<((b + 1) * per)]))
            let (single, _) = try session.run([one], budget: Budget(mergeR: [8]))
            let tokens = single[1].values.count
            let c = compare(single[1].values, Array(both[1].values[(b * tokens)..<((b + 1) * tokens)]))
            #expect(c.maxAbs < 1e-5)
            #expect(single[2].values == Array(both[2].values[(b * 33)..<((b + 1) * 33)]))
        }
    }

    /// Two threads split the GEMMs, attention and norms with a helper thread: same numbers as one.
    @Test func twoThreadsMatchOneThread() throws {
        let model = try Model(bytes: try ViTFixture.convert("checkpoint.safetensors"))
        let one = try model.makeSession(options: SessionOptions(threads: 1))
        let two = try model.makeSession(options: SessionOptions(threads: 2))
        let input = try ViTFixture.input()
        for r in [[0], [8], [8, -1], [16, 8, 4]] {
            for _ in 0..<3 {
                let (a, _) = try one.run([input], budget: Budget(mergeR: r))
                let (b, _) = try two.run([input], budget: Budget(mergeR: r))
                #expect(compare(b[0].values, a[0].values).maxAbs < 1e-5)
                #expect(compare(b[1].values, a[1].values).maxAbs < 1e-5)
                #expect(b[2].values == a[2].values)
            }
        }
    }

    /// The plain float64 port used for the distilled test is itself right: it reproduces the fixture.
    @Test func independentReferenceReproducesTheFixture() throws {
        let reference = try ViTDistilledTests.reference(distilled: false)
        let input = try ViTFixture.input()
        for (tag, r) in [("r8dec", [8, -1]), ("list", [16, 8, 4])] {
            let out = reference.forward(Array(input.values[0..<3072]), r: r)
            let logits = try ViTFixture.expected("logits_\(tag).npy")!.floats()
            #expect(try compare(out.logits.map(Float.init), Array(logits[0..<10])).ok)
            let sizes = try ViTFixture.expected("sizes_\(tag).npy")!.floats()
            #expect(out.sizes.map(Float.init) == Array(sizes[0..<out.sizes.count]))
        }
    }
}

@Suite struct ViTDistilledTests {
    /// The fixture's weights, plus a made-up distillation token, position row and second head.
    static func tensors(distilled: Bool) throws -> [CheckpointTensor] {
        let ckpt = try CheckpointReader.read(path: ViTFixture.path("checkpoint.safetensors"))
        guard distilled else { return ckpt.tensors }
        var state: UInt64 = 0x5649_5444_4953_5431
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
        func tensor(_ name: String, _ shape: [Int], _ values: [Float]) throws -> CheckpointTensor {
            try CheckpointTensor(name: name, dtype: .f32, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
        }
        var out = ckpt.tensors.filter { $0.name != "pos_embed" }
        let pos = try ckpt["pos_embed"]!.floats()
        let distPos = (0..<48).map { _ in next() }
        out.append(try tensor("pos_embed", [1, 66, 48], Array(pos[0..<48]) + distPos + Array(pos[48...])))
        out.append(try tensor("dist_token", [1, 1, 48], (0..<48).map { _ in next() }))
        out.append(try tensor("head_dist.weight", [10, 48], (0..<480).map { _ in 0.2 * next() }))
        out.append(try tensor("head_dist.bias", [10], (0..<10).map { _ in 0.1 * next() }))
        return out
    }

    static func reference(distilled: Bool) throws -> ViTReference {
        var dict: [String: [Float]] = [:]
        for t in try tensors(distilled: distilled) { dict[t.name] = try t.floats() }
        return ViTReference(
            tensors: dict, imageSize: 32, patch: 4, dim: 48, depth: 4, heads: 3, mlpRatio: 4, classes: 10)
    }

    static func modelBytes() throws -> [UInt8] {
        let ckpt = try Checkpoint(tensors: try tensors(distilled: true), format: "safetensors")
        return try Converter.convertToBytes(
            ViTConverter.self, checkpoint: ckpt, config: try ViTFixture.config,
            options: ConvertOptions())
    }

    @Test(arguments: [[32, 0, 0, 0], [8], [8, -1], [16, 8, 4]])
    func distillationTokenIsProtectedAndStaysAtIndexOne(r: [Int]) throws {
        let model = try Model(bytes: try Self.modelBytes())
        #expect(model.metadataText("vit.distilled") == "true")
        let session = try model.makeSession()
        let input = try ViTFixture.input()
        let (outputs, report) = try session.run([input], budget: Budget(mergeR: r))
        let n = outputs[2].shape[1]
        #expect(report.tokensKept == n)
        let reference = try Self.reference(distilled: true)
        for b in 0..<2 {
            let sizes = Array(outputs[2].values[(b * n)..<((b + 1) * n)])
            #expect(sizes[0] == 1 && sizes[1] == 1, "class and distillation tokens keep size 1")
            #expect(sizes.reduce(0, +) == 66)
            let want = reference.forward(Array(input.values[(b * 3072)..<((b + 1) * 3072)]), r: r)
            #expect(want.sizes.map(Float.init) == sizes)
            let tokens = Array(outputs[1].values[(b * n * 48)..<((b + 1) * n * 48)])
            let t = compare(tokens, want.tokens.flatMap { $0.map(Float.init) })
            #expect(t.ok, Comment(rawValue: "tokens max abs error \(t.maxAbs)"))
            let l = compare(Array(outputs[0].values[(b * 10)..<((b + 1) * 10)]), want.logits.map(Float.init))
            #expect(l.ok, Comment(rawValue: "logits max abs error \(l.maxAbs)"))
        }
        if r == [32, 0, 0, 0] { #expect(n == 34) }
    }

    @Test func distilledFlagMustMatchTheCheckpoint() throws {
        let ckpt = try Checkpoint(tensors: try Self.tensors(distilled: true), format: "safetensors")
        var values = try ViTFixture.config.values
        values["distilled"] = false
        #expect(throws: (any Error).self) {
            try Converter.convertToBytes(
                ViTConverter.self, checkpoint: ckpt, config: ConstructorConfig(values: values),
                options: ConvertOptions())
        }
    }
}

@Suite struct ViTVariantTests {
    /// DeiT-III style position embeddings (patches only, class token added after) against the
    /// independent reference.
    @Test func noEmbedClassMatchesTheReference() throws {
        var tensors = try ViTDistilledTests.tensors(distilled: false).filter { $0.name != "pos_embed" }
        let pos = try CheckpointReader.read(path: ViTFixture.path("checkpoint.safetensors"))["pos_embed"]!.floats()
        let patchPositions = Array(pos[48...])
        tensors.append(
            try CheckpointTensor(
                name: "pos_embed", dtype: .f32, shape: [1, 64, 48],
                bytes: patchPositions.withUnsafeBytes { Array($0) }))
        var values = try ViTFixture.config.values
        values["no_embed_class"] = true
        let bytes = try Converter.convertToBytes(
            ViTConverter.self, checkpoint: try Checkpoint(tensors: tensors, format: "safetensors"),
            config: ConstructorConfig(values: values), options: ConvertOptions())
        let model = try Model(bytes: bytes)
        let input = try ViTFixture.input()
        let (outputs, _) = try model.makeSession().run([input], budget: Budget(mergeR: [8, -1]))
        var dict: [String: [Float]] = [:]
        for t in tensors { dict[t.name] = try t.floats() }
        let reference = ViTReference(
            tensors: dict, imageSize: 32, patch: 4, dim: 48, depth: 4, heads: 3, mlpRatio: 4, classes: 10)
        let want = reference.forward(Array(input.values[0..<3072]), r: [8, -1])
        #expect(try compare(Array(outputs[0].values[0..<10]), want.logits.map(Float.init)).ok)
        #expect(Array(outputs[2].values[0..<want.sizes.count]) == want.sizes.map(Float.init))
        // A no_embed_class model's positions differ from the fixture's: the outputs must too.
        let fixture = try ViTFixture.expected("logits_r8dec.npy")!.floats()
        #expect(!compare(Array(outputs[0].values[0..<10]), Array(fixture[0..<10])).ok)
    }

    /// bf16 and q8 files (matrices read in place, activations rounded to bf16 or quantized per row per
    /// product, attention in bf16) against the official outputs of the f32 model, at r = 0 (no merge
    /// decision to flip).
    ///
    /// The tolerance is derived from the documented arithmetic, not from this runtime's outputs: the
    /// independent float64 reference is run once more with the compact model's roundings emulated
    /// exactly as swk_panel_lowp.h specifies them (the weights as the file stores them: bf16 nearest
    /// even, or int8 `round(w / (max|w| / 127))` per output column; each input row of every product
    /// rounded to bf16, or quantized to int8 with its own `max|a| / 127`; q, k, v and the softmax's
    /// unnormalised weights rounded to bf16 in attention). Its distance `e` from the
    /// official logits is what those roundings cost. The runtime computes the same roundings of float32
    /// values instead of float64 ones: an activation within float32 error of a rounding boundary may go
    /// the other way, which is one more rounding of at most the same size as those emulated. So the
    /// runtime's deviation is bounded by twice the emulated one, plus the f32 model's own tolerance
    /// (`compare`: 1e-4 absolute + 1e-4 relative).
    @Test(arguments: [DType.bf16, DType.q8Row])
    func compactWeightsMatchTheOfficialOutputsWithinTheirRounding(dtype: DType) throws {
        let bytes = try ViTFixture.convert("checkpoint.safetensors", options: ConvertOptions(weightDType: dtype))
        let model = try Model(bytes: bytes)
        let want = try ViTFixture.expected("logits_r0.npy")!.floats()
        let input = try ViTFixture.input()
        let (outputs, _) = try model.makeSession(options: SessionOptions(threads: 1)).run(
            [input], budget: Budget(mergeR: [0]))
        #expect(
            model.metadataText("vit.weight_layout") == (dtype == .bf16 ? "panels16_bf16_pairs" : "panels16_q8_quads"))

        let emulated = try Self.emulated(try ViTDistilledTests.tensors(distilled: false), dtype: dtype)
        var emulatedDeviation = 0.0
        var deviation = 0.0
        var allowed = true
        for image in 0..<2 {
            let e = emulated.forward(Array(input.values[image * 3072..<(image + 1) * 3072]), r: [0]).logits
            for j in 0..<10 {
                let official = Double(want[image * 10 + j])
                emulatedDeviation = max(emulatedDeviation, abs(e[j] - official))
                deviation = max(deviation, abs(Double(outputs[0].values[image * 10 + j]) - official))
            }
        }
        for (g, w) in zip(outputs[0].values, want) {
            let bound = 2 * emulatedDeviation + 1e-4 + 1e-4 * abs(Double(w))
            if !(abs(Double(g) - Double(w)) <= bound) { allowed = false }
        }
        print("vit-tiny-test \(dtype.name) r=0: logits max abs deviation \(deviation), emulated \(emulatedDeviation)")
        #expect(allowed, "max logit deviation \(deviation) > 2 × emulated \(emulatedDeviation) + 1e-4 (+ rel)")
        #expect(deviation > 0, "the weights really were stored compactly")
        // The roundings themselves are small next to the logits (|logit| up to a few units here).
        #expect(emulatedDeviation < (dtype == .bf16 ? 0.05 : 0.2))
    }

    /// The float64 reference with a compact file's roundings emulated: the checkpoint's matrices
    /// rounded as stored, every product's input rows rounded as the kernels round them.
    static func emulated(_ tensors: [CheckpointTensor], dtype: DType) throws -> ViTReference {
        var dict: [String: [Float]] = [:]
        let blockMatrices = (0..<4).flatMap { i in
            ["attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"].map { "blocks.\(i).\($0).weight" }
        }
        let matrices = Set(["patch_embed.proj.weight", "head.weight", "head_dist.weight"] + blockMatrices)
        for t in tensors {
            var v = try t.floats()
            if matrices.contains(t.name) {
                let k = v.count / t.shape[0]
                for r in 0..<t.shape[0] {
                    let row = Array(v[r * k..<(r + 1) * k]).map(Double.init)
                    let rounded = dtype == .bf16 ? row.map(Self.bf16) : Self.int8Row(row)
                    for p in 0..<k { v[r * k + p] = Float(rounded[p]) }
                }
            }
            dict[t.name] = v
        }
        var reference = ViTReference(
            tensors: dict, imageSize: 32, patch: 4, dim: 48, depth: 4, heads: 3, mlpRatio: 4, classes: 10)
        reference.rowRounding = dtype == .bf16 ? { $0.map(Self.bf16) } : Self.int8Row
        reference.attentionRounding = Self.bf16 // both compact types run attention in bf16
        return reference
    }

    /// bfloat16 nearest even (8 significant bits), by frexp rather than bit manipulation.
    static func bf16(_ x: Double) -> Double {
        let f = Double(Float(x))
        guard f != 0, f.isFinite else { return f }
        let e = f.exponent // f = m · 2^e, 1 ≤ |m| < 2
        let scaled = f / Double(sign: .plus, exponent: e - 7, significand: 1)
        return scaled.rounded(.toNearestOrEven) * Double(sign: .plus, exponent: e - 7, significand: 1)
    }

    /// Symmetric int8 of a row as swk_panel_lowp.h documents it: scale `max|x| / 127` in float32,
    /// `q = round(x · (127 / max|x|))` nearest even (the activations; the weights divide by the scale,
    /// the same up to a float32 rounding), the value `q · scale`.
    static func int8Row(_ row: [Double]) -> [Double] {
        let x = row.map { Float($0) }
        let m = x.map { abs($0) }.max() ?? 0
        guard m > 0 else { return row.map { _ in 0 } }
        let scale = m / 127
        let inv = 127 / m
        return x.map { Double(max(-127, min(127, ($0 * inv).rounded(.toNearestOrEven)))) * Double(scale) }
    }

    /// The compact paths split the blocks' rows (norms, rounding or quantizing, and the products over
    /// all columns) and attention's heads among the threads, the heads' products by output columns,
    /// each element computed by one thread the same way: two threads give the same bits as one, with a
    /// distillation head (a second compact head) and ToMe merging.
    @Test(arguments: [DType.bf16, DType.q8Row])
    func compactTwoThreadsMatchOneThreadWithADistillationHead(dtype: DType) throws {
        let ckpt = try Checkpoint(tensors: try ViTDistilledTests.tensors(distilled: true), format: "safetensors")
        let bytes = try Converter.convertToBytes(
            ViTConverter.self, checkpoint: ckpt, config: try ViTFixture.config,
            options: ConvertOptions(weightDType: dtype))
        let model = try Model(bytes: bytes)
        let input = try ViTFixture.input()
        for r in [[0], [8, -1]] {
            let (one, _) = try model.makeSession(options: SessionOptions(threads: 1)).run(
                [input], budget: Budget(mergeR: r))
            let (two, _) = try model.makeSession(options: SessionOptions(threads: 2)).run(
                [input], budget: Budget(mergeR: r))
            for i in 0..<3 { #expect(one[i].values == two[i].values) }
            #expect(one[0].values.allSatisfy { $0.isFinite })
        }
        // At r = 0, against the float64 reference of the distilled f32 model, within twice what the
        // emulated roundings cost plus the f32 tolerance (derived as in the test above).
        let (got, _) = try model.makeSession().run([input], budget: Budget(mergeR: [0]))
        let exact = try ViTDistilledTests.reference(distilled: true)
        let emulated = try Self.emulated(try ViTDistilledTests.tensors(distilled: true), dtype: dtype)
        for image in 0..<2 {
            let pixels = Array(input.values[image * 3072..<(image + 1) * 3072])
            let want = exact.forward(pixels, r: [0]).logits
            let e = emulated.forward(pixels, r: [0]).logits
            let cost = zip(e, want).map { abs($0 - $1) }.max()!
            for j in 0..<10 {
                let deviation = abs(Double(got[0].values[image * 10 + j]) - want[j])
                #expect(
                    deviation <= 2 * cost + 1e-4 + 1e-4 * abs(want[j]), "logit \(j): \(deviation), emulated \(cost)")
            }
        }
    }

    /// f16 has no in-place ViT kernel: the converter refuses it and names bf16.
    @Test func f16IsRefusedForViT() throws {
        #expect(throws: (any Error).self) {
            _ = try ViTFixture.convert("checkpoint.safetensors", options: ConvertOptions(weightDType: .f16))
        }
        do {
            _ = try ViTFixture.convert("checkpoint.safetensors", options: ConvertOptions(weightDType: .f16))
        } catch {
            #expect("\(error)".contains("bf16"))
        }
    }

    /// An int8 panel byte of -128 (writers store -127 ... 127; the AVX2 product's sign trick would give
    /// other bits than the VNNI, NEON and portable paths) is refused at load, naming the tensor.
    @Test func q8PanelByteMinus128IsRefused() throws {
        let bytes = try ViTFixture.convert("checkpoint.safetensors", options: ConvertOptions(weightDType: .q8Row))
        let f = try bytes.withUnsafeBytes { try SWLFile(bytes: $0, copy: true) }
        let name = "blocks.1." + ViTSchema.BlockTensor.fc1Weight.rawValue
        var out = SWLWriter()
        for key in f.metadataKeys where key != "general.tensor_hash" { out.setMetadata(key, f.metadata[key]!) }
        for t in f.tensors {
            var raw = Array(try f.rawBytes(t.name))
            if t.name == name { raw[5] = 0x80 }
            try out.addTensor(name: t.name, dtype: t.dtype!, shape: t.shape, bytes: raw)
        }
        let damaged = try out.serialize()
        _ = try Model(bytes: bytes)
        do {
            _ = try Model(bytes: damaged)
            Issue.record("a q8 panel holding -128 was loaded")
        } catch {
            #expect("\(error)".contains(name) && "\(error)".contains("-128"), "\(error)")
        }
    }
}

@Suite struct ViTBudgetTests {
    /// MACs of the fixture model for constant r, written out from the ToMe/fvcore counting rule:
    /// per block 4·N·D² + 2·N²·D + 2·N'·D·M (+ the matching scores when merging); stem and head.
    static func fixtureGFLOPs(r: Int, images: Int = 2) -> Double {
        let d = 48.0
        let m = 192.0
        var macs = 64.0 * 48 * 48 + 48 * 10
        var n = 65
        for _ in 0..<4 {
            let e = min(r, (n - 1) / 2)
            macs += 4 * Double(n) * d * d + 2 * Double(n * n) * d + 2 * Double(n - e) * d * m
            if e > 0 { macs += Double((n + 1) / 2 * (n / 2)) * 16 }
            n -= e
        }
        return 2 * macs * Double(images) * 1e-9
    }

    @Test func gflopLimitPicksTheGentlestConstantR() throws {
        let model = try Model(bytes: try ViTFixture.convert("checkpoint.safetensors"))
        let session = try model.makeSession()
        let input = try ViTFixture.input()
        for target in [0, 3, 5, 11] {
            // A limit just above r's cost and below r−1's: r is the smallest that fits.
            let limit =
                target == 0
                ? Self.fixtureGFLOPs(r: 0) * 1.0001
                : (Self.fixtureGFLOPs(r: target) + Self.fixtureGFLOPs(r: target - 1)) / 2
            let (_, report) = try session.run([input], budget: Budget(maxGFLOPs: limit))
            #expect(report.choice == "r=\(target)")
            #expect(abs(report.gflops - Self.fixtureGFLOPs(r: target)) < 1e-12)
            #expect(report.gflops <= limit)
        }
        // No limit, no knob: the full model.
        let (_, full) = try session.run([input])
        #expect(full.choice == "r=0")
        #expect(full.tokensKept == 65)
        // An explicit schedule wins over a limit it exceeds.
        let (_, explicit) = try session.run([input], budget: Budget(maxGFLOPs: 1e-6, mergeR: [4]))
        #expect(explicit.choice == "r=4")
    }

    @Test func aBudgetBelowTheCheapestScheduleSaysWhatItCosts() throws {
        let model = try Model(bytes: try ViTFixture.convert("checkpoint.safetensors"))
        let session = try model.makeSession()
        let input = try ViTFixture.input()
        do throws(SwiftletError) {
            _ = try session.run([input], budget: Budget(maxGFLOPs: 0.001))
            Issue.record("expected a budget error")
        } catch {
            guard case .budget(let message) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect(message.contains("cheapest"))
            #expect(message.contains("r=32"))
        }
    }

    @Test func latencyLimitPicksAScheduleAndReportsIt() throws {
        let model = try Model(bytes: try ViTFixture.convert("checkpoint.safetensors"))
        let session = try model.makeSession()
        let input = try ViTFixture.input()
        let (_, generous) = try session.run([input], budget: Budget(maxLatencyMs: 10_000))
        // r=0 (the call may add that it went on without the helper threads, on a busy machine).
        #expect(generous.choice.hasPrefix("r=0"))
        #expect(generous.values["merged_per_layer"] == [0, 0, 0, 0])
        // After a few observed runs the model knows this machine; a limit near the r=0 cost picks
        // some r, and the report says which and what it cost.
        var recent: [Double] = []
        for _ in 0..<6 { recent.append(try session.run([input]).report.microseconds) }
        let typical = recent.suffix(3).reduce(0, +) / 3
        let (_, tight) = try session.run([input], budget: Budget(maxLatencyMs: max(typical / 1000 * 0.75, 0.001)))
        #expect(tight.choice.hasPrefix("r="))
        #expect(tight.gflops <= Self.fixtureGFLOPs(r: 0))
        #expect(tight.values["tokens_per_layer"]?.count == 4)
        #expect(throws: SwiftletError.self) {
            try session.run([input], budget: Budget(maxLatencyMs: 1e-9))
        }
    }
}

@Suite struct ViTErrorTests {
    let model: Model
    init() throws { model = try Model(bytes: try ViTFixture.convert("checkpoint.safetensors")) }

    func error(_ inputs: [Tensor], _ budget: Budget = Budget()) -> SwiftletError? {
        do {
            _ = try model.makeSession().run(inputs, budget: budget)
            return nil
        } catch {
            return error
        }
    }

    @Test func badInputsAreRefused() throws {
        let good = try ViTFixture.input()
        guard case .shape? = error([Tensor(zeros: [1, 3, 32, 31])]) else {
            Issue.record("width 31")
            return
        }
        guard case .shape? = error([Tensor(zeros: [1, 1, 32, 32])]) else {
            Issue.record("one channel")
            return
        }
        guard case .shape? = error([Tensor(zeros: [3, 32, 32])]) else {
            Issue.record("no batch axis")
            return
        }
        guard case .shape? = error([Tensor(zeros: [0, 3, 32, 32])]) else {
            Issue.record("empty batch")
            return
        }
        guard case .invalidArgument? = error([good, good]) else {
            Issue.record("two inputs")
            return
        }
        var nan = good
        nan.values[1234] = .nan
        guard case .numeric? = error([nan]) else {
            Issue.record("NaN")
            return
        }
        var inf = good
        inf.values[7] = -.infinity
        guard case .numeric? = error([inf]) else {
            Issue.record("infinity")
            return
        }
    }

    @Test func badBudgetsAreRefused() throws {
        let x = try ViTFixture.input()
        for r in [[-1], [8, -2], [], [1, 2, 3, 4, 5], [-3, -1], [4, -1, 0]] {
            guard case .budget? = error([x], Budget(mergeR: r)) else {
                Issue.record("mergeR \(r)")
                continue
            }
        }
        guard case .unsupported? = error([x], Budget(loops: 2)) else {
            Issue.record("loops")
            return
        }
        guard case .budget? = error([x], Budget(maxGFLOPs: -1)) else {
            Issue.record("negative GFLOPs")
            return
        }
    }

    @Test func abortStopsBetweenBlocks() throws {
        let session = try model.makeSession(options: SessionOptions(shouldAbort: { true }))
        #expect(throws: SwiftletError.self) { try session.run([try ViTFixture.input()]) }
        let input = try ViTFixture.input()
        do throws(SwiftletError) {
            _ = try session.run([input])
        } catch {
            guard case .aborted = error else {
                Issue.record("expected aborted, got \(error)")
                return
            }
        }
    }

    @Test func unsupportedConstructorArgumentsAreRefused() throws {
        let ckpt = try CheckpointReader.read(path: ViTFixture.path("checkpoint.safetensors"))
        let base = try ViTFixture.config.values
        let bad: [(String, Any)] = [
            ("global_pool", "avg"), ("class_token", false), ("init_values", 1e-5),
            ("reg_tokens", 4), ("qk_norm", true), ("no_such_argument", 1),
            ("depth", 5), ("embed_dim", 64), ("img_size", 64),
        ]
        for (key, value) in bad {
            var values = base
            values[key] = value
            #expect(throws: (any Error).self, "\(key)=\(value)") {
                try Converter.convertToBytes(
                    ViTConverter.self, checkpoint: ckpt, config: ConstructorConfig(values: values),
                    options: ConvertOptions())
            }
        }
        // Inference-only arguments are accepted; qkv_bias defaults to true.
        var values = base
        values["drop_path_rate"] = 0.1
        values["qkv_bias"] = true
        let a = try Converter.convertToBytes(
            ViTConverter.self, checkpoint: ckpt, config: ConstructorConfig(values: values), options: ConvertOptions())
        #expect(a == (try ViTFixture.convert("checkpoint.safetensors")))
    }
}

@Suite struct ViTScheduleTests {
    @Test func scheduleSpellings() throws {
        #expect(try MergeSchedule([8], depth: 4).perLayer(depth: 4) == [8, 8, 8, 8])
        #expect(try MergeSchedule([8, -1], depth: 4).perLayer(depth: 4) == [16, 10, 5, 0])
        #expect(try MergeSchedule([16, 8, 4], depth: 4).perLayer(depth: 4) == [16, 8, 4, 0])
        #expect(try MergeSchedule([8, 4], depth: 4).perLayer(depth: 4) == [8, 4, 0, 0])
        // ToMe's parse_r for DeiT depth 12 (values from the official utils.py).
        #expect(
            try MergeSchedule([8, -1], depth: 12).perLayer(depth: 12) == [16, 14, 13, 11, 10, 8, 7, 5, 4, 2, 1, 0])
        #expect(
            try MergeSchedule([13, -1], depth: 12).perLayer(depth: 12) == [26, 23, 21, 18, 16, 14, 11, 9, 7, 4, 2, 0])
        #expect(
            try MergeSchedule([16, -1], depth: 12).perLayer(depth: 12) == [32, 29, 26, 23, 20, 17, 14, 11, 8, 5, 2, 0])
        #expect(try MergeSchedule([8], depth: 4).description == "r=8")
        #expect(try MergeSchedule([8, -1], depth: 4).description == "r=(8,-1)")
        #expect(try MergeSchedule([16, 8, 4], depth: 4).description == "r=[16,8,4]")
        #expect(throws: ModelError.self) { try MergeSchedule([1, 2, 3, 4, 5], depth: 4) }
        #expect(throws: ModelError.self) { try MergeSchedule([-2], depth: 4) }
    }

    static func deit(dim: Int, heads: Int, distilled: Bool = false) -> ViTConfig {
        ViTConfig(
            imageHeight: 224, imageWidth: 224, patch: 16, channels: 3, dim: dim, depth: 12, heads: heads,
            hidden: 4 * dim, classes: 1000, qkvBias: true, distilled: distilled, noEmbedClass: false,
            propAttn: true, eps: 1e-6)
    }

    /// Token counts and G MACs of DeiT-Ti/S against the ToMe paper's table (3.4 / 2.7 / 2.3 G for
    /// DeiT-S at r = 8 / 13 / 16; the matching scores add well under 0.01 G).
    @Test func deitTokenCountsAndWork() throws {
        let s = Self.deit(dim: 384, heads: 6)
        let ti = Self.deit(dim: 192, heads: 3)
        func plan(_ c: ViTConfig, _ r: [Int]) throws -> TokenPlan {
            TokenPlan(try MergeSchedule(r, depth: 12).perLayer(depth: 12), c)
        }
        let cases: [(ViTConfig, [Int], Int, Double)] = [
            (s, [0], 197, 4.599), (s, [8], 101, 3.416), (s, [13], 41, 2.703), (s, [16], 11, 2.291),
            (s, [16, -1], 10, 1.539), (ti, [0], 197, 1.254), (ti, [13], 41, 0.731), (ti, [8, -1], 106, 0.825),
        ]
        for (c, r, left, gmacs) in cases {
            let p = try plan(c, r)
            #expect(p.tokensLeft == left, "r=\(r)")
            #expect(abs(p.macs * 1e-9 - gmacs) < 0.01, "r=\(r): \(p.macs * 1e-9) G MACs")
        }
        // The distilled model protects two tokens: (198 − 2) // 2 caps the first layer at 98.
        let sd = Self.deit(dim: 384, heads: 6, distilled: true)
        #expect(try plan(sd, [200]).merged.first == 98)
        #expect(try plan(s, [200]).merged.first == 98)
        #expect(try plan(s, [0]).merged.allSatisfy { $0 == 0 })
    }

    /// After the first run the runner's arena holds everything: later runs allocate no scratch.
    @Test func steadyStateRunsAllocateNoScratch() throws {
        let bytes = try ViTFixture.convert("checkpoint.safetensors")
        let file = try bytes.withUnsafeBytes { try SWLFile(bytes: $0, copy: true) }
        let model = try ViTModel(file: file)
        let runner = try #require(try model.makeRunner(context: ExecutionContext(threads: 1)) as? ViTRunner)
        let input = try ViTFixture.input()
        func run(_ r: [Int]) throws {
            try input.values.withUnsafeBytes { raw in
                let view = TensorView(dtype: .f32, shape: input.shape, data: raw.baseAddress!)
                _ = try runner.run([view], budget: Budget(mergeR: r))
            }
        }
        try run([0])
        let after = runner.context.arena.chunkAllocations
        try run([8])
        try run([0])
        try run([8, -1])
        #expect(runner.context.arena.chunkAllocations == after)
    }
}
