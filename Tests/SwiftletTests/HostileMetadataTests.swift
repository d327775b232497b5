import Testing
import Swiftlet
import SwiftletFormat

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
func expectRefused(_ bytes: [UInt8], _ key: String, _ value: MetadataValue,
                   sourceLocation: SourceLocation = #_sourceLocation) throws {
    let crafted = try withMetadata(bytes, [key: value])
    do {
        _ = try Model(bytes: crafted)
        Issue.record("\(key) = \(value) was accepted", sourceLocation: sourceLocation)
    } catch {
        guard case .format(let message) = error else {
            Issue.record("\(key) = \(value): \(error) is not a format error", sourceLocation: sourceLocation)
            return
        }
        #expect(message.contains("metadata '\(key)' must be"), "\(key) = \(value): \(message)",
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
        _ = try Model(bytes: try withMetadata(bytes, [:]))   // the rewrite itself is harmless
        for key in Self.lmuFloatKeys {
            for v in hostileFloats { try expectRefused(bytes, key, .float(v)) }
        }
        for key in Self.lmuIntKeys {
            for v in hostileInts { try expectRefused(bytes, key, .int(v)) }
        }
        // The message says which range is allowed.
        let crafted = try withMetadata(bytes, ["lmuformer.audio.frame_length_ms": .float(.nan)])
        #expect(throws: SwiftletError.format("metadata 'lmuformer.audio.frame_length_ms' must be a finite number in 0.001...60000.0, got nan")) {
            try Model(bytes: crafted)
        }
    }
}
