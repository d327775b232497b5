/// The feature normalisation of the LMUFormer / AST data loaders: pad with zero rows or cut to
/// `targetFrames` frames, then `(x − mean) / (2 · std)`. Padding comes first, so a pad row becomes
/// `padValue = −mean / (2 · std)` (0.6150423 for Speech Commands), not 0.
public struct FbankNormalization: Sendable, Equatable {
    public var mean: Float
    public var std: Float
    /// Frames per clip after padding or cutting; 0 keeps every frame and pads nothing.
    public var targetFrames: Int

    public init(mean: Float, std: Float, targetFrames: Int) {
        self.mean = mean
        self.std = std
        self.targetFrames = targetFrames
    }

    /// Speech Commands v2 statistics of the official LMUFormer release, 128 frames.
    public static let speechCommands = FbankNormalization(mean: -6.845978, std: 5.5654526, targetFrames: 128)

    /// The divisor, `2 · std`.
    public var scale: Float { 2 * std }

    /// A padded frame's value after normalisation.
    public var padValue: Float { (0 - mean) / scale }

    /// Checks that the statistics can be used.
    public func validate() throws(KernelError) {
        guard mean.isFinite, std.isFinite, std > 0, targetFrames >= 0, targetFrames <= 1 << 24 else {
            throw .invalidShape(
                "fbank normalisation: need a finite mean, std > 0 and 0 ≤ target frames ≤ 2^24, got mean \(mean), std \(std), target \(targetFrames)"
            )
        }
    }

    /// `x = (x − mean) / (2 · std)` in place.
    public func normalize(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        let m = mean
        let s = scale
        for i in 0..<count { x[i] = (x[i] - m) / s }
    }

    /// The model input of a clip: `features` (`frames × bins`) padded or cut to `targetFrames` rows
    /// and normalised. Returns `targetFrames × bins` values (`frames × bins` when `targetFrames` is 0).
    public func modelInput(features: [Float], frames: Int, bins: Int) throws(KernelError) -> [Float] {
        guard frames >= 0, bins > 0, features.count == frames * bins else {
            throw .invalidShape(
                "fbank normalisation: \(features.count) values are not \(frames) frames of \(bins) bins")
        }
        let rows = targetFrames == 0 ? frames : targetFrames
        var out = [Float](repeating: padValue, count: rows * bins)
        let kept = min(rows, frames) * bins
        for i in 0..<kept { out[i] = (features[i] - mean) / scale }
        return out
    }
}
