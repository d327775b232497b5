import Foundation
import SwiftletFormat
import Testing

@testable import SwiftletConvert

/// How every family's converter resolves constructor arguments (issue 10): a config value the
/// tensors contradict is refused, naming the key; one they determine may be left out (the file is
/// then byte-identical); one nothing determines takes the official default with a warning naming
/// it; and what a checkpoint records about itself fills in for the config.

/// A fixture's checkpoint, its full constructor arguments, and conversions of both.
struct FamilyFixture {
    let converter: any FamilyConverter.Type
    let checkpoint: Checkpoint
    let arguments: [String: Any]

    init(_ converter: any FamilyConverter.Type, _ folder: String, argumentsUnder key: String) throws {
        self.converter = converter
        checkpoint = try CheckpointReader.read(path: Fixtures.path(folder, "checkpoint.safetensors"))
        arguments = try Fixtures.config(folder)[key] as? [String: Any] ?? [:]
    }

    /// The conversion with the fixture's arguments edited by `edit`.
    func convert(
        _ checkpoint: Checkpoint? = nil, _ edit: (inout [String: Any]) -> Void = { _ in }
    ) throws -> (bytes: [UInt8], warnings: [String]) {
        var values = arguments
        edit(&values)
        return try Converter.conversion(
            converter, checkpoint: checkpoint ?? self.checkpoint,
            config: ConstructorConfig(values: values, source: "test config"), options: ConvertOptions())
    }

    /// The error message of a conversion that must fail ("<converted>" if it did not).
    func refusal(_ checkpoint: Checkpoint? = nil, _ edit: (inout [String: Any]) -> Void) -> String {
        do {
            _ = try convert(checkpoint, edit)
            return "<converted>"
        } catch let error as ConvertError {
            return error.message
        } catch {
            return "unexpected error: \(error)"
        }
    }

    /// The conversion with the fixture's arguments less `keys`.
    func convert(without keys: [String], _ checkpoint: Checkpoint? = nil) throws -> (bytes: [UInt8], warnings: [String])
    {
        try convert(checkpoint) { values in for key in keys { values[key] = nil } }
    }
}

func metadata(_ bytes: [UInt8], _ key: String) throws -> MetadataValue? {
    try bytes.withUnsafeBytes { try SWLFile(bytes: $0, copy: true) }.metadata[key]
}

/// A torch.save zip of `{'model': <state dict of tensors>, ...}`, the rest of the top-level dict
/// written by `extras` as key/value pairs (as DeiT's and LoopFormer's training scripts save).
func torchCheckpoint(_ tensors: [CheckpointTensor], extras: (inout PickleAssembler) -> Void) -> [UInt8] {
    var p = PickleAssembler()
    p.proto(2)
    p.emptyDict()
    p.mark()
    p.string("model")
    p.global("collections", "OrderedDict")
    p.emptyTuple()
    p.reduce()
    p.mark()
    for (i, t) in tensors.enumerated() {
        let strides = t.shape.indices.map { t.shape[($0 + 1)...].reduce(1, *) }
        p.string(t.name)
        p.tensor(
            storageType: t.dtype == .i64 ? "LongStorage" : "FloatStorage", key: "\(i)",
            numel: t.shape.reduce(1, *), size: t.shape, stride: strides)
    }
    p.setItems()
    extras(&p)
    p.setItems()
    p.stop()
    return torchArchive(pickle: p.bytes, storages: tensors.enumerated().map { ("\($0.offset)", $0.element.bytes) })
}

extension PickleAssembler {
    /// A dict of ints, floats, bools and strings.
    mutating func plainDict(_ entries: [(String, Any)]) {
        emptyDict()
        mark()
        for (key, value) in entries {
            string(key)
            switch value {
            case let b as Bool: bool(b)
            case let i as Int: int(i)
            case let d as Double: float(d)
            default: string("\(value)")
            }
        }
        setItems()
    }

    /// An object of an uninterpreted class with `entries` as its attributes (an argparse Namespace,
    /// a dataclass), pickled as protocol 2 does: NEWOBJ, then BUILD with the attribute dict.
    mutating func object(_ module: String, _ name: String, _ entries: [(String, Any)]) {
        global(module, name)
        emptyTuple()
        newObj()
        plainDict(entries)
        build()
    }
}

func read(_ bytes: [UInt8]) throws -> Checkpoint { try CheckpointReader.read(data: Data(bytes)) }

@Suite struct LoopFormerArgumentTests {
    let f = try! FamilyFixture(LoopFormerConverter.self, "loopformer-test", argumentsUnder: "constructor")

    @Test func contradictingKeyIsRefusedByName() throws {
        let message = f.refusal { $0["n_embd"] = 64 }
        #expect(
            message.contains("n_embd = 64") && message.contains("'transformer.wte.weight' has shape [101, 32]")
                && message.contains("n_embd = 32"), "\(message)")
        let layers = f.refusal { $0["n_layer"] = 3 }
        #expect(layers.contains("n_layer = 3") && layers.contains("n_layer = 2"), "\(layers)")
    }

    @Test func inferableKeysMayBeLeftOut() throws {
        let full = try f.convert()
        let inferred = try f.convert(without: [
            "vocab_size", "n_embd", "n_layer", "block_size", "intermediate_dim", "bias",
        ])
        #expect(inferred.bytes == full.bytes)
        #expect(inferred.warnings == full.warnings)
        #expect(full.warnings.count == 1 && full.warnings[0].contains("max_model_loops = 8"), "\(full.warnings)")
    }

    /// The known bad case: without n_head the official default 32 used to convert a 4-head model in
    /// silence. It still converts (nothing in the tensors says 4), but says so.
    @Test func headCountIsDefaultedWithAWarning() throws {
        let (bytes, warnings) = try f.convert(without: ["n_head"])
        #expect(
            warnings.contains { $0.hasPrefix("n_head is given neither") && $0.contains("n_head = 32") }, "\(warnings)")
        #expect(try metadata(bytes, LoopFormerSchema.Key.heads) == .int(32))
        let given = try f.convert()
        #expect(!given.warnings.contains { $0.contains("n_head") })
    }

    /// The official ckpt.pt keeps model_args and the GPTConfig: no config needed for the head count.
    @Test func trainingCheckpointSuppliesItsArguments() throws {
        let args: [(String, Any)] = [
            ("n_layer", 2), ("n_head", 4), ("n_embd", 32), ("block_size", 32), ("bias", false),
            ("vocab_size", 101), ("dropout", 0.1),
        ]
        let ckpt = try read(
            torchCheckpoint(f.checkpoint.tensors) { p in
                p.string("model_args")
                p.plainDict(args)
                p.string("iter_num")
                p.int(5000)
                p.string("config")
                p.object(
                    "models.loopformer", "GPTConfig", args + [("model_type", "loopformer"), ("intermediate_dim", 80)])
            })
        #expect(ckpt.extras["model_args"]?.dictionary?["n_head"] == .int(4))
        #expect(ckpt.extras["config"]?.dictionary?["intermediate_dim"] == .int(80))
        let full = try f.convert()
        let stored = try f.convert(ckpt) { $0 = [:] }
        #expect(stored.bytes == full.bytes)
        #expect(stored.warnings == full.warnings) // max_model_loops only: train.py does not save it
        // The user's config must agree with what the checkpoint records.
        let message = f.refusal(ckpt) { $0 = ["n_head": 8] }
        #expect(
            message.contains("n_head = 8") && message.contains("'model_args'") && message.contains("n_head = 4"),
            "\(message)")
    }

    @Test func huggingFaceFolderSuppliesItsConfig() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(
            atPath: Fixtures.path("loopformer-test", "checkpoint.safetensors"),
            toPath: folder.appendingPathComponent("model.safetensors").path)
        try Data(#"{"architectures": ["LoopFormer"], "n_head": 4, "n_embd": 32, "max_model_loops": 8}"#.utf8)
            .write(to: folder.appendingPathComponent("config.json"))
        let ckpt = try CheckpointReader.read(path: folder.path)
        let (bytes, warnings) = try f.convert(ckpt) { $0 = [:] }
        #expect(bytes == (try f.convert().bytes))
        #expect(warnings.isEmpty, "\(warnings)")
    }
}

@Suite struct ViTArgumentTests {
    let f = try! FamilyFixture(ViTConverter.self, "vit-tiny-test", argumentsUnder: "timm_kwargs")

    @Test func contradictingKeyIsRefusedByName() throws {
        let message = f.refusal { $0["embed_dim"] = 64 }
        #expect(
            message.contains("embed_dim = 64") && message.contains("'patch_embed.proj.weight' has shape [48, 3, 4, 4]")
                && message.contains("embed_dim = 48"), "\(message)")
        let ratio = f.refusal { $0["mlp_ratio"] = 2.0 }
        #expect(ratio.contains("mlp_ratio = 2") && ratio.contains("mlp_ratio = 4"), "\(ratio)")
    }

    /// The known bad case: a missing embed_dim used to fail on the default's shape.
    @Test func inferableKeysMayBeLeftOut() throws {
        let full = try f.convert()
        #expect(full.warnings.isEmpty)
        #expect(try f.convert(without: ["embed_dim"]).bytes == full.bytes)
        let inferred = try f.convert { $0 = ["num_heads": 3] }
        #expect(inferred.bytes == full.bytes && inferred.warnings.isEmpty, "\(inferred.warnings)")
    }

    @Test func headCountIsDefaultedWithAWarning() throws {
        let (bytes, warnings) = try f.convert(without: ["num_heads"])
        #expect(warnings.count == 1 && warnings[0].contains("num_heads = 12"), "\(warnings)")
        #expect(try metadata(bytes, ViTSchema.Key.heads) == .int(12))
    }

    /// A DeiT .pth keeps its argparse namespace: the model name gives the head count.
    @Test func deitArgsSupplyTheArguments() throws {
        let ckpt = try read(
            torchCheckpoint(f.checkpoint.tensors) { p in
                p.string("args")
                p.object(
                    "argparse", "Namespace",
                    [
                        ("model", "deit_tiny_patch4_32"), ("input_size", 32), ("nb_classes", 10),
                        ("drop_path", 0.1),
                    ])
                p.string("epoch")
                p.int(299)
            })
        let (bytes, warnings) = try f.convert(ckpt) { $0 = [:] }
        #expect(bytes == (try f.convert().bytes))
        #expect(warnings.isEmpty, "\(warnings)")
    }
}

@Suite struct MemoryFormerArgumentTests {
    let f = try! FamilyFixture(MemoryFormerConverter.self, "memoryformer-test", argumentsUnder: "config")

    @Test func contradictingKeyIsRefusedByName() throws {
        let message = f.refusal { $0["hidden_size"] = 64 }
        #expect(
            message.contains("hidden_size = 64") && message.contains("'word_embeddings.weight' has shape [97, 32]"),
            "\(message)")
        let tables = f.refusal { $0["code_length"] = 4 }
        #expect(tables.contains("code_length = 4") && tables.contains("code_length = 8"), "\(tables)")
    }

    @Test func inferableKeysMayBeLeftOut() throws {
        let full = try f.convert()
        let inferred = try f.convert(without: [
            "hidden_size", "num_layers", "vocab_size", "ffn_num_table", "code_length",
            "no_weight_tying", "extra_bits",
        ])
        #expect(inferred.bytes == full.bytes)
        #expect(inferred.warnings == full.warnings)
    }

    @Test func rotaryBaseIsDefaultedWithAWarning() throws {
        let full = try f.convert()
        #expect(!full.warnings.contains { $0.contains("rotary_emb_base") })
        let (bytes, warnings) = try f.convert(without: ["rotary_emb_base"])
        #expect(
            warnings.contains {
                $0.hasPrefix("rotary_emb_base is given neither") && $0.contains("rotary_emb_base = 10000")
            }, "\(warnings)")
        #expect(bytes == full.bytes) // the fixture uses the default
    }

    /// GPT-NeoX checkpoints keep `args`: the head count, which the tensors cannot show.
    @Test func neoxArgsSupplyTheHeadCount() throws {
        #expect(f.refusal { $0["num_attention_heads"] = nil }.contains("num_attention_heads"))
        let ckpt = try read(
            torchCheckpoint(f.checkpoint.tensors) { p in
                p.string("args")
                p.plainDict([
                    ("num_layers", 2), ("hidden_size", 32), ("num_attention_heads", 4), ("padded_vocab_size", 97),
                    ("max_position_embeddings", 2048), ("tokenizer_type", "HFTokenizer"),
                ])
            })
        let (bytes, warnings) = try f.convert(without: ["num_attention_heads"], ckpt)
        #expect(bytes == (try f.convert().bytes))
        #expect(!warnings.contains { $0.contains("seq_length") }, "\(warnings)") // max_position_embeddings
    }
}

@Suite struct LMUFormerArgumentTests {
    let plain = try! FamilyFixture(LMUFormerConverter.self, "lmu-test", argumentsUnder: "constructor")
    let spiking = try! FamilyFixture(LMUFormerConverter.self, "slmu-ms-test", argumentsUnder: "constructor")

    @Test func contradictingKeyIsRefusedByName() throws {
        let message = plain.refusal { $0["embed_dims"] = 64 }
        #expect(
            message.contains("embed_dims = 64") && message.contains("[32, 16, 3]")
                && message.contains("embed_dims = 32"), "\(message)")
        let variant = spiking.refusal { $0["model"] = "lmu_rnn_conv1d" }
        #expect(variant.contains("model = 'lmu_rnn_conv1d'") && variant.contains("slmu_rnn_ms_conv1d"), "\(variant)")
    }

    /// The official training saves a bare state dict, and its tensors show every argument.
    @Test func everyConstructorArgumentMayBeLeftOut() throws {
        for f in [plain, spiking] {
            let full = try f.convert()
            let inferred = try f.convert { $0 = [:] }
            #expect(inferred.bytes == full.bytes)
            #expect(inferred.warnings == full.warnings)
        }
    }

    @Test func audioNormalisationIsDefaultedWithAWarning() throws {
        let (_, warnings) = try plain.convert()
        #expect(
            warnings.count == 1
                && ["audio_mean = -6.845978", "audio_std = 5.5654526", "target_frames = 128"].allSatisfy(
                    warnings[0].contains),
            "\(warnings)")
        let given = try plain.convert {
            $0["audio_mean"] = -6.845978
            $0["audio_std"] = 5.5654526
            $0["target_frames"] = 128
        }
        #expect(given.warnings.isEmpty)
        #expect(given.bytes == (try plain.convert().bytes))
    }
}
