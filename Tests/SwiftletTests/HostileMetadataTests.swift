import Swiftlet
import SwiftletFormat
import SwiftletModels
import Testing

/// The same model file with some metadata values replaced, written by the writer so that the header
/// checksum and every tensor checksum are valid: only the loader's own checks stand between the values
/// and the arithmetic.
func withMetadata(_ bytes: [UInt8], _ changes: [String: MetadataValue]) throws -> [UInt8] {
    let file = try bytes.withUnsafeBytes { try SWLFile(bytes: $0, copy: true) }
    var writer = SWLWriter()
    for key in file.metadataKeys where key != "general.tensor_hash" {
        writer.setMetadata(key, changes[key] ?? file.metadata[key]!)
    }
    for (key, value) in changes { writer.setMetadata(key, value) }
    for t in file.tensors {
        try writer.addTensor(name: t.name, dtype: t.dtype!, shape: t.shape, bytes: Array(try file.rawBytes(t.name)))
    }
    return try writer.serialize()
}

/// Loading must refuse `value` under `key` with a format error that names the key — not trap.
func expectRefused(
    _ bytes: [UInt8], _ key: String, _ value: MetadataValue,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let crafted = try withMetadata(bytes, [key: value])
    do {
        _ = try Model(bytes: crafted)
        Issue.record("\(key) = \(value) was accepted", sourceLocation: sourceLocation)
    } catch {
        guard case .format(let message) = error else {
            Issue.record("\(key) = \(value): \(error) is not a format error", sourceLocation: sourceLocation)
            return
        }
        #expect(
            message.contains("metadata '\(key)' must be"), "\(key) = \(value): \(message)",
            sourceLocation: sourceLocation)
    }
}

/// Values a crafted file puts in numeric keys: each must be refused by a range check, before it
/// reaches a conversion to Int (NaN, ±inf, 1e300) or a product that wraps (±2^63).
let hostileFloats: [Double] = [.nan, .infinity, -.infinity, 1e300, -1e300]
let hostileInts: [Int64] = [.max, .min, 1 << 62, -1]

@Suite struct HostileMetadataTests {
    static let lmuFloatKeys = [
        "lmuformer.lif_tau", "lmuformer.audio.sample_rate", "lmuformer.audio.frame_length_ms",
        "lmuformer.audio.frame_shift_ms", "lmuformer.audio.preemphasis", "lmuformer.audio.low_freq",
        "lmuformer.audio.high_freq", "lmuformer.audio.mean", "lmuformer.audio.std",
    ]
    static let lmuIntKeys = [
        "lmuformer.in_channels", "lmuformer.embed_dims", "lmuformer.depths", "lmuformer.hidden_dims",
        "lmuformer.memory_size", "lmuformer.num_classes", "lmuformer.theta", "lmuformer.audio.num_mel_bins",
        "lmuformer.audio.target_frames",
    ]

    /// Issue 11 F1: a NaN frame length reached `Int(sampleRate · ms)` and killed the host.
    @Test func lmuformerNumbersOutOfRangeAreRefused() throws {
        let bytes = try LMUFixture.convert("lmu-test")
        _ = try Model(bytes: try withMetadata(bytes, [:])) // the rewrite itself is harmless
        for key in Self.lmuFloatKeys {
            for v in hostileFloats { try expectRefused(bytes, key, .float(v)) }
        }
        for key in Self.lmuIntKeys {
            for v in hostileInts { try expectRefused(bytes, key, .int(v)) }
        }
        // The message says which range is allowed.
        let crafted = try withMetadata(bytes, ["lmuformer.audio.frame_length_ms": .float(.nan)])
        #expect(
            throws: SwiftletError.format(
                "metadata 'lmuformer.audio.frame_length_ms' must be a finite number in 0.001...60000.0, got nan")
        ) {
            try Model(bytes: crafted)
        }
    }

    /// Issue 11 F2: ±2^63 tables wrapped inside `tables × bits == hidden` and trapped.
    @Test func memoryformerNumbersOutOfRangeAreRefused() throws {
        let bytes = try MemoryFormerFixture.convert()
        _ = try Model(bytes: try withMetadata(bytes, [:]))
        for key in [
            "hidden_size", "num_attention_heads", "num_layers", "vocab_size", "attention_tables",
            "attention_code_length", "mlp_tables", "mlp_code_length", "extra_bits", "rotary_dims",
            "context_length",
        ] {
            for v in hostileInts { try expectRefused(bytes, "memoryformer." + key, .int(v)) }
        }
        for key in ["rms_norm_epsilon", "mlp_layernorm_epsilon", "rotary_emb_base"] {
            for v in hostileFloats { try expectRefused(bytes, "memoryformer." + key, .float(v)) }
        }
        // Consistent-looking but wrapping: 2^62 tables of 4 bits "are" 0 wide in 64 bits.
        let wrapped = try withMetadata(
            bytes,
            [
                "memoryformer.attention_tables": .int(1 << 62),
                "memoryformer.attention_code_length": .int(4),
            ])
        #expect(throws: SwiftletError.self) { try Model(bytes: wrapped) }
    }

    @Test func loopformerNumbersOutOfRangeAreRefused() throws {
        let bytes = try LoopFormerFixture.convert("checkpoint.safetensors")
        _ = try Model(bytes: try withMetadata(bytes, [:]))
        for key in [
            "block_size", "vocab_size", "n_layer", "n_head", "n_embd", "intermediate_dim",
            "max_model_loops", "frequency_embedding_size",
        ] {
            for v in hostileInts { try expectRefused(bytes, "loopformer." + key, .int(v)) }
        }
        for key in ["rmsnorm_eps", "max_period"] {
            for v in hostileFloats { try expectRefused(bytes, "loopformer." + key, .float(v)) }
        }
    }

    @Test func vitNumbersOutOfRangeAreRefused() throws {
        let bytes = try ViTFixture.convert("checkpoint.safetensors")
        _ = try Model(bytes: try withMetadata(bytes, [:]))
        for key in ["patch_size", "in_chans", "embed_dim", "depth", "num_heads", "mlp_hidden", "num_classes"] {
            for v in hostileInts { try expectRefused(bytes, "vit." + key, .int(v)) }
        }
        for v in hostileInts { try expectRefused(bytes, "vit.image_size", .ints([v, 32])) }
        // A 1e300 epsilon became +inf as a Float and passed `eps > 0`.
        for v in hostileFloats { try expectRefused(bytes, "vit.layer_norm_eps", .float(v)) }
    }

    @Test func testModelNumbersOutOfRangeAreRefused() throws {
        let bytes = try TestModel.fileBytes()
        for key in ["layers", "width", "classes", "vocab", "context"] {
            for v in hostileInts { try expectRefused(bytes, "test." + key, .int(v)) }
        }
    }
}
