import Foundation
import Swiftlet
import SwiftletConvert
import SwiftletFormat
import SwiftletModels
import Testing

/// `swiftlet quantize` below the CLI: `SWLWriter.quantized` with the family's rule from
/// `FamilyRegistry.compactWeights`, on the golden fixtures converted as f32.
@Suite struct QuantizeFileTests {
    static func file(_ bytes: [UInt8]) throws -> SWLFile {
        try bytes.withUnsafeBytes { try SWLFile(bytes: $0, copy: true) }
    }

    /// The f32 file quantized to `dtype` by the family's rule.
    static func quantize(_ bytes: [UInt8], _ dtype: DType) throws -> (bytes: [UInt8], summary: QuantizeSummary) {
        let f = try file(bytes)
        let rule = try #require(FamilyRegistry.compactWeights(family: f.family ?? ""))
        let (writer, summary) = try SWLWriter.quantized(f, to: dtype, rule: rule)
        return (try writer.serialize(), summary)
    }

    /// Every tensor of `a` and `b`: same names, dtypes, shapes and raw bytes.
    static func sameTensors(_ a: [UInt8], _ b: [UInt8]) throws -> Bool {
        let x = try file(a)
        let y = try file(b)
        guard x.tensors.map(\.name) == y.tensors.map(\.name) else { return false }
        for t in x.tensors {
            guard let u = y.entry(t.name), u.dtype == t.dtype, u.shape == t.shape else { return false }
            guard Array(try x.rawBytes(t.name)) == Array(try y.rawBytes(t.name)) else { return false }
        }
        return true
    }

    /// Quantizing the f32 file stores exactly what `convert --dtype` stores from the checkpoint (the same
    /// encoders on the same float32 values), so every test of compact conversions holds for it too.
    @Test(arguments: [DType.f16, .bf16, .q8Row])
    func loopFormerMatchesConvertWithDType(_ dtype: DType) throws {
        let f32 = try LoopFormerFixture.convert("checkpoint.safetensors")
        let (bytes, summary) = try Self.quantize(f32, dtype)
        let converted = try LoopFormerCompactTests.convert(dtype)
        #expect(try Self.sameTensors(bytes, converted))
        // wte + 2 blocks × 5 matrices.
        #expect(summary.tensors.count == 11)
        #expect(summary.bytesAfter < summary.bytesBefore)
        #expect(summary.droppedKeys.isEmpty)
    }

    /// A quantized file against the official golden logits of every fixture trajectory, within the
    /// tolerance of `LoopFormerCompactTests.tolerance` (about 3× the deviation of the compact model from
    /// f32 measured on the fixture, relative to the largest |logit|); the f32 model itself matches the
    /// goldens within 1e-4, far below it.
    @Test(arguments: [DType.f16, .bf16, .q8Row])
    func quantizedLoopFormerMatchesTheOfficialLogits(_ dtype: DType) throws {
        let (bytes, _) = try Self.quantize(try LoopFormerFixture.convert("checkpoint.safetensors"), dtype)
        let session = try Model(bytes: bytes).makeSession()
        let ids = try LoopFormerFixture.ids()
        let tolerance = try #require(LoopFormerCompactTests.tolerance[dtype])
        for tag in LoopFormerFixture.tags {
            let gold = try LoopFormerFixture.gold(tag)
            let (got, _) = try loopFormerRun(session, ids, budget: Budget(trajectory: try LoopFormerFixture.steps(tag)))
            let (err, scale) = LoopFormerCompactTests.deviation(got, gold)
            #expect(got.count == gold.count)
            #expect(err <= tolerance * scale, "\(dtype) \(tag): max abs deviation \(err) (logit scale \(scale))")
        }
    }

    /// LMUFormer f16 against the official logits, relative to their largest magnitude: plain
    /// (`lmu-test`) measured 3.6e-4, tolerance 1.5e-3; spiking with membrane shortcut (`slmu-ms-test`)
    /// measured 5.0e-2 — rounded weights move some membrane potentials across the firing threshold,
    /// and a flipped spike changes later steps by whole weights — tolerance 0.15.
    @Test(arguments: [("lmu-test", Float(1.5e-3)), ("slmu-ms-test", 0.15)])
    func lmuFormerHalfMatchesConvertAndTheOfficialOutputs(_ name: String, _ tolerance: Float) throws {
        let fx = try LMUFixture.load(name)
        let (bytes, summary) = try Self.quantize(fx.bytes, .f16)
        #expect(!summary.tensors.isEmpty)
        #expect(try Self.sameTensors(bytes, try LMUFormerCompactWeightsTests.convert(name, dtype: .f16)))
        let x = Tensor(shape: [fx.batch, fx.frames, fx.features], values: fx.input)
        let (out, _) = try Model(bytes: bytes).makeMakeSessionRun(x)
        let (err, scale) = LoopFormerCompactTests.deviation(out, fx.logits)
        #expect(out.count == fx.logits.count)
        #expect(err <= tolerance * scale, "\(name): max abs deviation \(err) (scale \(scale))")
    }

    /// LMUFormer bf16 and q8 (read in place by `LMUFormerModel.matrix`): what `convert --dtype` stores,
    /// so `LMUFormerCompactWeightsTests` holds for them; the model loads and runs.
    @Test(arguments: ["lmu-test", "slmu-ms-test"], [DType.bf16, .q8Row])
    func lmuFormerCompactMatchesConvert(_ name: String, _ dtype: DType) throws {
        let fx = try LMUFixture.load(name)
        let (bytes, summary) = try Self.quantize(fx.bytes, dtype)
        #expect(!summary.tensors.isEmpty)
        #expect(try Self.sameTensors(bytes, try LMUFormerCompactWeightsTests.convert(name, dtype: dtype)))
        let x = Tensor(shape: [fx.batch, fx.frames, fx.features], values: fx.input)
        let (out, _) = try Model(bytes: bytes).makeMakeSessionRun(x)
        #expect(out.count == fx.logits.count && out.allSatisfy(\.isFinite))
    }

    /// MemoryFormer f16 and q8: the tables (`memoryformer.table_dtype` follows), the embedding and the LM
    /// head, as `convert --dtype X --table-dtype X`; bf16: the embedding and head alone (no bf16 table
    /// kernel), as `convert --dtype bf16`; q4: the tables alone, as `convert --table-dtype q4`.
    @Test(arguments: [DType.f16, .bf16, .q8Row, .q4Block])
    func memoryFormerMatchesConvert(_ dtype: DType) throws {
        let (bytes, summary) = try Self.quantize(try MemoryFormerFixture.convert(), dtype)
        let dense = [MemoryFormerSchema.embedding, MemoryFormerSchema.head]
        let tables = summary.tensors.filter { $0.hasSuffix(".tables") }
        if dtype == .q4Block {
            #expect(!tables.isEmpty && tables.count == summary.tensors.count)
        } else {
            #expect(dense.allSatisfy(summary.tensors.contains))
            #expect(dtype == .bf16 ? tables.isEmpty : tables.count == summary.tensors.count - 2)
        }
        let converted = try MemoryFormerFixture.convert(
            tables: dtype == .bf16 ? .f32 : dtype, weights: dtype == .q4Block ? .f32 : dtype)
        #expect(try Self.sameTensors(bytes, converted))
        #expect(
            try Self.file(bytes).metadata[MemoryFormerSchema.Key.tableDType]
                == Self.file(converted).metadata[MemoryFormerSchema.Key.tableDType])
        _ = try Model(bytes: bytes)
    }

    /// ViT bf16 and q8 change the matrices' layout (bf16 pair panels; int8 quad panels plus
    /// `<matrix>_scale`): quantize repacks the f32 file's float32 panels (and f32 heads) with the
    /// converter's packing, so the whole file is byte for byte `convert --dtype` of the checkpoint, raw
    /// or zstd-compressed.
    @Test(arguments: [DType.bf16, .q8Row], [false, true])
    func vitRepacksPanelsAsConvertDoes(_ dtype: DType, _ compress: Bool) throws {
        let f32 = try ViTFixture.convert("checkpoint.safetensors", options: ConvertOptions(compress: compress))
        let (bytes, summary) = try Self.quantize(f32, dtype)
        let converted = try ViTFixture.convert(
            "checkpoint.safetensors", options: ConvertOptions(weightDType: dtype, compress: compress))
        #expect(bytes == converted)
        // Patch embedding, 4 matrices × 4 blocks, head.
        #expect(summary.tensors.count == 18)
        #expect(summary.bytesAfter < summary.bytesBefore)
        _ = try Model(bytes: bytes)
    }

    /// Everything but the re-encoded tensors and a quality profile survives: metadata (tokenizer,
    /// names), the other tensors byte for byte, the codec of each tensor.
    @Test func metadataAndOtherTensorsRoundTrip() throws {
        let original = try Self.file(try LoopFormerFixture.convert("checkpoint.safetensors"))
        var writer = try SWLWriter(copying: original)
        writer.setMetadata("general.name", .string("fixture"))
        writer.setMetadata("tokenizer.example", .strings(["a", "b"]))
        writer.setMetadata(QualitySchema.Key.metric, .string("perplexity"))
        writer.setMetadata(QualitySchema.Key.settings, .strings(["loops=2"]))
        writer.setMetadata(QualitySchema.Key.scores, .floats([1.5]))
        let profiled = try writer.serialize()
        let (bytes, summary) = try Self.quantize(profiled, .bf16)
        let input = try Self.file(profiled)
        let output = try Self.file(bytes)
        #expect(
            summary.droppedKeys == [QualitySchema.Key.metric, QualitySchema.Key.scores, QualitySchema.Key.settings])
        for key in input.metadataKeys where key != "general.tensor_hash" && !key.hasPrefix("quality.") {
            #expect(output.metadata[key] == input.metadata[key], "\(key)")
        }
        #expect(!output.metadataKeys.contains { $0.hasPrefix("quality.") })
        #expect(Set(output.metadataKeys) == Set(input.metadataKeys.filter { !$0.hasPrefix("quality.") }))
        for t in input.tensors where !summary.tensors.contains(t.name) {
            #expect(output.entry(t.name)?.dtype == t.dtype)
            #expect(Array(try output.rawBytes(t.name)) == Array(try input.rawBytes(t.name)))
        }
        // zstd tensors stay zstd.
        let compressed = try LoopFormerFixture.convert(
            try CheckpointReader.read(path: LoopFormerFixture.path("checkpoint.safetensors")),
            options: ConvertOptions(compress: true))
        let (small, _) = try Self.quantize(compressed, .q8Row)
        #expect(try Self.file(small).tensors.allSatisfy { $0.codec == .zstd })
        _ = try Model(bytes: small)
    }

    @Test func refusals() throws {
        func message(_ bytes: [UInt8], _ dtype: DType) throws -> String {
            do {
                _ = try Self.quantize(bytes, dtype)
                return ""
            } catch let e as FormatError {
                return e.message
            }
        }
        let lf = try LoopFormerFixture.convert("checkpoint.safetensors")
        let bf16 = try Self.quantize(lf, .bf16).bytes
        #expect(try message(bf16, .bf16).contains("already bf16"))
        #expect(try message(bf16, .f16).contains("less precise than f16"))
        // Lower precision is allowed: bf16 → q8.
        #expect(try message(bf16, .q8Row) == "")
        #expect(try message(try Self.quantize(lf, .q8Row).bytes, .bf16).contains("less precise than bf16"))
        // int4: MemoryFormer tables only, and below q8 in precision.
        #expect(try message(lf, .q4Block).contains("a loopformer model cannot use q4_block"))
        #expect(try message(try LMUFixture.load("lmu-test").bytes, .q4Block).contains("cannot use q4_block"))
        let mfQ8 = try Self.quantize(try MemoryFormerFixture.convert(), .q8Row).bytes
        #expect(try message(mfQ8, .q4Block) == "")
        #expect(
            try message(try Self.quantize(mfQ8, .q4Block).bytes, .q8Row).contains("less precise than q8_row"))
        let vit = try ViTFixture.convert("checkpoint.safetensors")
        #expect(try message(vit, .f16).contains("a vit model cannot use f16"))
        // A compact ViT file has other layouts: only the f32 panels are repacked.
        let vitBF16 = try Self.quantize(vit, .bf16).bytes
        #expect(try message(vitBF16, .q8Row).contains("this file has 'panels16_bf16_pairs': quantize the f32 file"))
        #expect(try message(try Self.quantize(vit, .q8Row).bytes, .bf16).contains("'panels16_q8_quads'"))
        #expect(FamilyRegistry.compactWeights(family: "test") == nil)
        // q8 of a non-finite weight.
        let name = "transformer.h.blocks.0.mlp.c_fc.weight"
        var values = Array(try Self.file(lf).floats(name))
        values[3] = .infinity
        let writer = try Self.replacing(lf, name, Quantize.f32Bytes(values))
        #expect(try message(try writer.serialize(), .q8Row).contains("non-finite"))
    }

    /// A ViT file whose panel matrix disagrees with the metadata's shape is refused before anything of
    /// the metadata's size is allocated: an empty `[⌈n/16⌉, 0, 16]` qkv (n = 3·D from the metadata), and a
    /// file whose `vit.embed_dim` claims 2^30.
    @Test func vitPanelShapeMustMatchMetadata() throws {
        let vit = try ViTFixture.convert("checkpoint.safetensors")
        let f = try Self.file(vit)
        let qkv = "blocks.0." + ViTSchema.BlockTensor.qkvWeight.rawValue
        func rewrite(metadata: [String: MetadataValue] = [:], empty: String? = nil) throws -> [UInt8] {
            var out = SWLWriter()
            for key in f.metadataKeys where key != "general.tensor_hash" {
                out.setMetadata(key, metadata[key] ?? f.metadata[key]!)
            }
            for t in f.tensors {
                var shape = t.shape
                if t.name == empty { shape[1] = 0 }
                try out.addTensor(
                    name: t.name, dtype: t.dtype!, shape: shape,
                    bytes: t.name == empty ? [] : Array(try f.rawBytes(t.name)))
            }
            return try out.serialize()
        }
        for crafted in [
            try rewrite(empty: qkv), try rewrite(metadata: [ViTSchema.Key.width: .int(1 << 30)]),
        ] {
            #expect(throws: FormatError.self) { _ = try Self.quantize(crafted, .q8Row) }
            do {
                _ = try Self.quantize(crafted, .bf16)
                Issue.record("a ViT file whose matrices disagree with its metadata was quantized")
            } catch {
                #expect("\(error)".contains("as the metadata gives"), "\(error)")
            }
        }
    }

    /// `bytes` with tensor `name`'s raw bytes replaced.
    static func replacing(_ bytes: [UInt8], _ name: String, _ raw: [UInt8]) throws -> SWLWriter {
        let f = try file(bytes)
        var out = SWLWriter()
        for key in f.metadataKeys where key != "general.tensor_hash" { out.setMetadata(key, f.metadata[key]!) }
        for t in f.tensors {
            try out.addTensor(
                name: t.name, dtype: t.dtype!, shape: t.shape,
                bytes: t.name == name ? raw : Array(try f.rawBytes(t.name)))
        }
        return out
    }
}

extension Model {
    /// The first output of one run on `x`.
    fileprivate func makeMakeSessionRun(_ x: Tensor) throws -> ([Float], RunReport) {
        let (outputs, report) = try makeSession().run([x])
        return (outputs[0].values, report)
    }
}
