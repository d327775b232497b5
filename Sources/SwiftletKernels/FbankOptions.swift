/// Window applied to each frame before the FFT (Kaldi's `window_type`).
public enum FbankWindow: String, Sendable, Equatable, CaseIterable {
    /// Symmetric Hann, `0.5 − 0.5·cos(2πn/(N−1))` (Kaldi "hanning").
    case hanning
    /// `0.54 − 0.46·cos(2πn/(N−1))`.
    case hamming
    /// Kaldi's default: Hann raised to the power 0.85.
    case povey
    case rectangular
    /// `0.42 − 0.5·cos(2πn/(N−1)) + 0.08·cos(4πn/(N−1))`.
    case blackman
}

/// Settings of the Kaldi-compatible log-mel filterbank (`torchaudio.compliance.kaldi.fbank`).
/// The defaults are the Speech Commands front end of LMUFormer: 16 kHz, 25 ms Hann frames every
/// 10 ms, preemphasis 0.97, DC removal, 512-point power spectrum, 128 HTK mel bins from 20 Hz to
/// Nyquist, natural log with a float-epsilon floor, no dither, `snip_edges`.
public struct FbankOptions: Sendable, Equatable {
    public var sampleRate: Double = 16000
    public var frameLengthMs: Double = 25
    public var frameShiftMs: Double = 10
    public var numMelBins: Int = 128
    public var preemphasis: Double = 0.97
    /// Subtract each frame's mean before preemphasis.
    public var removeDCOffset = true
    public var window: FbankWindow = .hanning
    /// Zero-pad frames to the next power of two before the FFT (Kaldi's default); otherwise the frame
    /// length itself must be a power of two.
    public var roundToPowerOfTwo = true
    /// Lowest mel-filter edge in Hz.
    public var lowFrequency: Double = 20
    /// Highest mel-filter edge in Hz; zero or negative means Nyquist plus this value.
    public var highFrequency: Double = 0
    /// Power spectrum (true) or magnitude (false).
    public var usePower = true
    /// Natural log of the mel energies, floored at float epsilon (true), or the energies themselves.
    public var useLog = true

    public init() {}

    /// LMUFormer's Speech Commands front end (the defaults).
    public static let speechCommands = FbankOptions()

    /// Samples per frame (0 when the settings give no representable count; `validate` refuses that).
    public var frameLength: Int { Self.samples(sampleRate * frameLengthMs * 0.001) }
    /// Samples between frame starts (0 when not representable, as `frameLength`).
    public var frameShift: Int { Self.samples(sampleRate * frameShiftMs * 0.001) }

    /// `Int(x)` traps on NaN, ±inf and values beyond Int, which settings read from a file can give.
    private static func samples(_ x: Double) -> Int {
        x.isFinite && x >= 0 && x < 0x1p40 ? Int(x) : 0
    }
    /// FFT length.
    public var fftSize: Int {
        guard roundToPowerOfTwo else { return frameLength }
        var n = 1
        while n < frameLength { n *= 2 }
        return n
    }

    /// Frames a whole clip of `sampleCount` samples gives (Kaldi `snip_edges`: only whole frames).
    public func frameCount(sampleCount: Int) -> Int {
        let length = frameLength
        let shift = frameShift
        guard length > 0, shift > 0, sampleCount >= length else { return 0 }
        return 1 + (sampleCount - length) / shift
    }

    /// Checks that the settings describe a filterbank this implementation computes.
    public func validate() throws(KernelError) {
        guard sampleRate.isFinite, sampleRate >= 1000, sampleRate <= 1_000_000 else {
            throw .invalidShape("fbank: sample rate must be between 1 kHz and 1 MHz, got \(sampleRate)")
        }
        guard frameLengthMs.isFinite, frameShiftMs.isFinite else {
            throw .invalidShape(
                "fbank: frame length and shift must be finite, got \(frameLengthMs) ms and \(frameShiftMs) ms")
        }
        guard frameLength >= 4, frameLength <= 1 << 20 else {
            throw .invalidShape("fbank: a frame must hold 4 to 2^20 samples, got \(frameLength) (\(frameLengthMs) ms)")
        }
        guard frameShift >= 1, frameShift <= 1 << 20 else {
            throw .invalidShape(
                "fbank: the frame shift must be 1 to 2^20 samples, got \(frameShift) (\(frameShiftMs) ms)")
        }
        guard roundToPowerOfTwo || frameLength & (frameLength - 1) == 0 else {
            throw .invalidShape(
                "fbank: without rounding to a power of two the frame length must be one, got \(frameLength)")
        }
        guard numMelBins >= 1, numMelBins <= 4096 else {
            throw .invalidShape("fbank: the number of mel bins must be 1 to 4096, got \(numMelBins)")
        }
        guard preemphasis.isFinite, preemphasis >= 0, preemphasis <= 1 else {
            throw .invalidShape("fbank: preemphasis must be in [0, 1], got \(preemphasis)")
        }
        let nyquist = sampleRate / 2
        let high = highFrequency <= 0 ? nyquist + highFrequency : highFrequency
        guard lowFrequency.isFinite, highFrequency.isFinite, lowFrequency >= 0, high > lowFrequency, high <= nyquist
        else {
            throw .invalidShape(
                "fbank: need 0 ≤ low frequency < high frequency ≤ Nyquist (\(nyquist) Hz), got \(lowFrequency) and \(high)"
            )
        }
    }
}
