import Glibc

/// Math kernels on float32, row-major buffers passed as pointers with explicit sizes.
///
/// Kernels never allocate (scratch comes from an ``Arena``). A non-positive size means "nothing to
/// do". Unless a parameter says otherwise, an output may be the same buffer as an input but must not
/// partially overlap it.
public enum Kernels {}

// Activation functions, in place.
extension Kernels {
    /// `x = max(x, 0)`. NaN stays NaN.
    public static func relu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let zero = F8()
        mapVector(x, x, count) { v in v.replacing(with: zero, where: v .< zero) }
    }

    /// `x = x · sigmoid(x)` (SiLU / swish).
    public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        mapVector(x, x, count) { v in v / (1 + vexp(-v)) }
    }

    /// `x = 1 / (1 + e^(−x))`.
    public static func sigmoid(_ x: UnsafeMutablePointer<Float>, count: Int) {
        mapVector(x, x, count) { v in 1 / (1 + vexp(-v)) }
    }

    /// `x = tanh(x)` (libm `tanhf`, for exactness).
    public static func tanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        for i in 0..<count { x[i] = tanhf(x[i]) }
    }

    /// `x = e^x` (vectorised, under 2 ulp from the correctly rounded result).
    public static func exp(_ x: UnsafeMutablePointer<Float>, count: Int) {
        mapVector(x, x, count) { v in vexp(v) }
    }

    /// Exact GELU, `x · ½ · (1 + erf(x / √2))`, as PyTorch's default `GELU()` computes it (libm `erff`).
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        let invSqrt2: Float = 0.70710678118654752
        for i in 0..<count {
            let v = x[i]
            x[i] = v * 0.5 * (1 + erff(v * invSqrt2))
        }
    }

}
