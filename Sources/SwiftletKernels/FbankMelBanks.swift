import Glibc

/// Kaldi's triangular mel filters on the FFT bins, stored sparsely (each filter covers a few
/// consecutive bins). Built in float32 exactly as `torchaudio.compliance.kaldi.get_mel_banks` builds
/// them (vtln warp 1), so that the same bins fall inside each filter — a filter with no bin at all
/// (it happens at low frequencies) gives the log floor, as there.
public struct FbankMelBanks: Sendable {
    public let binCount: Int
    /// First FFT bin of each filter and the number of bins it covers.
    public let start: [Int32]
    public let length: [Int32]
    /// Weights of all filters back to back.
    public let weights: [Float]
    /// Offset of each filter's first weight in `weights`.
    public let offset: [Int32]

    /// HTK mel scale, `1127 · ln(1 + f / 700)`.
    public static func mel(_ hz: Double) -> Double { 1127 * log(1 + hz / 700) }

    public init(options: FbankOptions) throws(KernelError) {
        try options.validate()
        let bins = options.numMelBins
        let fftBins = options.fftSize / 2
        let nyquist = options.sampleRate / 2
        let high = options.highFrequency <= 0 ? nyquist + options.highFrequency : options.highFrequency
        let binWidth = Float(options.sampleRate / Double(options.fftSize))
        let melLow = Self.mel(options.lowFrequency)
        let delta = Float((Self.mel(high) - melLow) / Double(bins + 1))
        let low = Float(melLow)
        // torchaudio evaluates the FFT-bin mels and the filter edges as float32 tensors.
        let fftMel: [Float] = (0..<fftBins).map { k in
            let f = binWidth * Float(k)
            return 1127 * logf(1 + f / 700)
        }
        var start: [Int32] = []
        var length: [Int32] = []
        var offset: [Int32] = []
        var weights: [Float] = []
        for b in 0..<bins {
            let left = low + Float(b) * delta
            let center = low + Float(b + 1) * delta
            let right = low + Float(b + 2) * delta
            var first = -1
            var row: [Float] = []
            for k in 0..<fftBins {
                let up = (fftMel[k] - left) / (center - left)
                let down = (right - fftMel[k]) / (right - center)
                let w = max(0, min(up, down))
                if w > 0 {
                    if first < 0 { first = k }
                    // Weights inside a triangle are contiguous; pad a (never seen) gap with zeros.
                    while first + row.count < k { row.append(0) }
                    row.append(w)
                }
            }
            start.append(Int32(max(first, 0)))
            length.append(Int32(row.count))
            offset.append(Int32(weights.count))
            weights += row
        }
        binCount = bins
        self.start = start
        self.length = length
        self.offset = offset
        self.weights = weights
    }

    /// `out[b] = Σ_k weight[b, k] · spectrum[k]` for every filter, accumulated in double.
    public func apply(_ spectrum: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        start.withUnsafeBufferPointer { start in
            length.withUnsafeBufferPointer { length in
                offset.withUnsafeBufferPointer { offset in
                    weights.withUnsafeBufferPointer { w in
                        for b in 0..<binCount {
                            let s = Int(start[b])
                            let o = Int(offset[b])
                            var acc = 0.0
                            for j in 0..<Int(length[b]) { acc += Double(w[o + j]) * spectrum[s + j] }
                            out[b] = acc
                        }
                    }
                }
            }
        }
    }
}
