import CSwiftletKernels

// GELU with a vectorised erf (C, CSwiftletKernels/panel_gemm.c, the same the ViT's GEMM epilogue
// fuses). `Kernels.gelu` calls libm `erff` per element, which dominates a wide FFN; this one
// evaluates erf by the rational fit of panel_internal.h (|error| < 4e-7) on AVX-512 or AVX2 lanes
// when the CPU has them, libm on others.

extension Kernels {
    /// GELU in place, `x · ½ · (1 + erf(x / √2))` with a vectorised erf: within 1e-6 · max(1, |x|)
    /// of the exact form (`gelu`), several times faster. NaN stays NaN.
    public static func geluFast(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        swk_gelu(x, count)
    }
}
