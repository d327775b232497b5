import Glibc

/// Where RMSNorm adds its epsilon; implementations disagree and the difference is visible.
public enum RMSNormEpsilon: Sendable {
    /// `x / √(mean(x²) + ε)` — T5, LLaMA, `torch.nn.RMSNorm`.
    case insideSquareRoot
    /// `x / (√mean(x²) + ε)` — GPT-NeoX-style implementations.
    case addedToRMS
}

// Normalisations over the last axis, and BatchNorm folding.
extension Kernels {
    /// LayerNorm of each row of `x[rows, cols]`: `y = (x − mean) / √(var + eps) · weight + bias`,
    /// with the biased variance. `weight` and `bias` (`[cols]`) are optional. `y` may be `x`.
    public static func layerNorm(
        _ x: UnsafePointer<Float>, rows: Int, cols: Int, weight: UnsafePointer<Float>?,
        bias: UnsafePointer<Float>?, eps: Float, into y: UnsafeMutablePointer<Float>
    ) {
        guard rows > 0, cols > 0 else { return }
        let invCols = 1 / Float(cols)
        for r in 0..<rows {
            let src = x + r * cols
            let dst = y + r * cols
            // Two passes: the centred sum of squares stays accurate when |mean| ≫ std.
            let mean = sum(src, cols) * invCols
            let variance = sumOfSquares(src, cols, center: mean) * invCols
            let inv = 1 / sqrtf(variance + eps)
            normalizeRow(src, dst, cols, center: mean, inv: inv, weight: weight, bias: bias)
        }
    }

    /// RMSNorm of each row of `x[rows, cols]`, `y = x / rms · weight`, with `eps` placed as
    /// `epsilon` says (default: inside the square root). `weight` is optional. `y` may be `x`.
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, rows: Int, cols: Int, weight: UnsafePointer<Float>?, eps: Float,
        epsilon: RMSNormEpsilon = .insideSquareRoot, into y: UnsafeMutablePointer<Float>
    ) {
        guard rows > 0, cols > 0 else { return }
        let invCols = 1 / Float(cols)
        for r in 0..<rows {
            let src = x + r * cols
            let dst = y + r * cols
            let meanSquare = sumOfSquares(src, cols) * invCols
            let inv: Float
            switch epsilon {
            case .insideSquareRoot: inv = 1 / sqrtf(meanSquare + eps)
            case .addedToRMS: inv = 1 / (sqrtf(meanSquare) + eps)
            }
            normalizeRow(src, dst, cols, center: 0, inv: inv, weight: weight, bias: nil)
        }
    }

    /// `dst = (src − center) · inv · weight + bias`, the shared tail of both norms.
    @inline(__always)
    private static func normalizeRow(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ cols: Int, center: Float,
        inv: Float, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?
    ) {
        switch (weight, bias) {
        case (let w?, let b?):
            var i = 0
            while i + 8 <= cols {
                store8((load8(src + i) - center) * inv * load8(w + i) + load8(b + i), dst + i)
                i += 8
            }
            while i < cols {
                dst[i] = (src[i] - center) * inv * w[i] + b[i]
                i += 1
            }
        case (let w?, nil):
            zipVector(src, w, dst, cols) { ($0 - center) * inv * $1 }
        case (nil, let b?):
            zipVector(src, b, dst, cols) { ($0 - center) * inv + $1 }
        case (nil, nil):
            mapVector(src, dst, cols) { ($0 - center) * inv }
        }
    }
}
