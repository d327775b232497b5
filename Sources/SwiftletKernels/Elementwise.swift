/// Where the channel index sits in a 2-D activation buffer.
public enum ChannelLayout: Sendable {
    /// `[channels, length]`: each channel is a contiguous row (convolution layout).
    case channelsFirst
    /// `[length, channels]`: each time step / token is a contiguous row (linear-layer layout).
    case channelsLast
}

// Elementwise arithmetic.
extension Kernels {
    /// `y[i] = a[i] + b[i]`. `y` may be `a` or `b`.
    public static func add(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int
    ) {
        zipVector(a, b, y, count) { $0 + $1 }
    }

    /// `y[i] = a[i] · b[i]`. `y` may be `a` or `b`.
    public static func multiply(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int
    ) {
        zipVector(a, b, y, count) { $0 * $1 }
    }

    /// `y[i] += alpha · x[i]` (a gated residual, for example).
    public static func addScaled(
        _ x: UnsafePointer<Float>, alpha: Float, into y: UnsafeMutablePointer<Float>, count: Int
    ) {
        zipVector(x, y, y, count) { a, b in a * alpha + b }
    }

    /// `x[i] *= factor`.
    public static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        mapVector(x, x, count) { $0 * factor }
    }

    /// Per-channel affine map in place, `x = x · scale[c] + shift[c]` (a folded BatchNorm, for example).
    ///
    /// `x` is `[channels, length]` or `[length, channels]` according to `layout`; `shift` may be nil.
    public static func scaleShift(
        _ x: UnsafeMutablePointer<Float>, layout: ChannelLayout, channels: Int, length: Int,
        scale: UnsafePointer<Float>, shift: UnsafePointer<Float>?
    ) {
        guard channels > 0, length > 0 else { return }
        switch layout {
        case .channelsFirst:
            for c in 0..<channels {
                let s = scale[c]
                let t = shift?[c] ?? 0
                let row = x + c * length
                mapVector(row, row, length) { $0 * s + t }
            }
        case .channelsLast:
            for r in 0..<length {
                let row = x + r * channels
                if let shift {
                    zipVector(row, scale, row, channels) { $0 * $1 }
                    zipVector(row, shift, row, channels) { $0 + $1 }
                } else {
                    zipVector(row, scale, row, channels) { $0 * $1 }
                }
            }
        }
    }

}
