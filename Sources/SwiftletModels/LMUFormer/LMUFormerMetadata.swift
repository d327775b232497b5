import SwiftletFormat
import SwiftletKernels

/// Every numeric `lmuformer.*` key (LMUFormerSchema.Key), read and range-checked in one place before any arithmetic uses
/// it: a crafted file (NaN, ±inf, 1e300, ±2^63 in a key, with a valid header checksum) is refused with
/// the key and the allowed range instead of reaching a Double → Int conversion or a product that traps.
/// The ranges are what this runtime can run; the audio settings are then checked together by
/// `FbankOptions.validate` and `FbankNormalization.validate`.
struct LMUFormerMetadata {
    let features: Int // in_channels, F
    let dim: Int // embed_dims, C
    let depth: Int
    let hidden: Int
    let memory: Int // memory_size, M
    let classes: Int
    let impulseLength: Int // theta
    /// The audio front end and normalisation of PCM streams (nil with `lmuformer.audio.enabled = false`).
    let audio: (options: FbankOptions, normalization: FbankNormalization)?

    init(_ w: Weights) throws(ModelError) {
        typealias K = LMUFormerSchema.Key
        features = try w.int(K.inChannels, in: 1...65536)
        dim = try w.int(K.width, in: 1...65536)
        depth = try w.int(K.depth, in: 1...256)
        hidden = try w.int(K.mlpWidth, in: 1...262_144)
        memory = try w.int(K.memorySize, in: 1...65536)
        classes = try w.int(K.classes, in: 1...65536)
        impulseLength = try w.int(K.theta, in: 1...4096, default: 128)
        // The official LIF neurons use tau = 2 (a decay of one half), which the kernels hard-code.
        _ = try w.double(K.lifTau, in: 2...2, default: 2)

        // The audio front end: present unless the converter wrote `lmuformer.audio.enabled = false`.
        guard try w.bool(K.audioEnabled, default: true) else {
            audio = nil
            return
        }
        var o = FbankOptions()
        o.sampleRate = try w.double(K.sampleRate, in: 1000...1_000_000, default: 16000)
        o.numMelBins = try w.int(K.melBins, in: 1...4096, default: features)
        o.frameLengthMs = try w.double(K.frameLengthMs, in: 0.001...60_000, default: 25)
        o.frameShiftMs = try w.double(K.frameShiftMs, in: 0.001...60_000, default: 10)
        o.preemphasis = try w.double(K.preemphasis, in: 0...1, default: 0.97)
        o.lowFrequency = try w.double(K.lowFrequency, in: 0...500_000, default: 20)
        o.highFrequency = try w.double(K.highFrequency, in: -500_000...500_000, default: 0)
        let window = w.file.metadata[K.window] == nil ? "hanning" : try w.string(K.window)
        guard let kind = FbankWindow(rawValue: window) else {
            throw ModelError(.unsupported, "unknown fbank window '\(window)' in \(K.window)")
        }
        o.window = kind
        let standard = FbankNormalization.speechCommands
        let norm = FbankNormalization(
            mean: Float(try w.double(K.audioMean, in: -1e6...1e6, default: Double(standard.mean))),
            std: Float(try w.double(K.audioStd, in: 1e-6...1e6, default: Double(standard.std))),
            targetFrames: try w.int(K.targetFrames, in: 0...(1 << 24), default: standard.targetFrames))
        guard o.numMelBins == features else {
            throw ModelError(.format, "\(K.melBins) (\(o.numMelBins)) must equal \(K.inChannels) (\(features))")
        }
        do {
            try o.validate()
            try norm.validate()
        } catch {
            throw ModelError(.format, "the model's audio front end settings are invalid: \(error)")
        }
        audio = (o, norm)
    }
}
