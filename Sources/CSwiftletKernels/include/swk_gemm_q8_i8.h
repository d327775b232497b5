// Several rows times an int8 (q8_row) weight matrix with int8 activations: int8 × int8 products, four
// per 32-bit lane per instruction (AVX-512 VNNI VPDPBUSD, AArch64 SDOT) — twice the work per
// instruction of the int16 path of `swk_gemm_q8` (swk_compact.h), at the cost of a coarser rounding
// of the activations.
#ifndef SWK_GEMM_Q8_I8_H
#define SWK_GEMM_Q8_I8_H

#include <stddef.h>

#include "swk_cpu.h"
#include "swk_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Whether `swk_gemm_q8_i8` runs on int8 dot-product instructions here: AVX-512 VNNI at the AVX-512
/// level, or NEON with the dot product. Elsewhere it runs (AVX2 VPMADDUBSW, NEON without the dot
/// product, portable C) with the same results, more slowly than a float32 GEMM on decoded weights.
int swk_gemm_q8_i8_native(void);

/// Bytes of scratch `swk_gemm_q8_i8` needs for `m` rows of `k` columns with up to `parts` threads.
size_t swk_gemm_q8_i8_scratch(ptrdiff_t m, ptrdiff_t k, int parts);

/// `y[r, c] = (float)(Σ_i q[r, i] · W[c, i]) · (sx[r] · scales[c]) + bias[c]` for r in [0, m), c in [0, n):
/// W a SWK_Q8ROW matrix [n, k] read in place (int8 values, then n float32 scales; any alignment),
/// `x` row stride `ldx`, `y` row stride `ldy`, `bias` optional (NULL).
///
/// Each row of x is rounded to int8 with its own scale: sx = max|x| / 127, q = round(x · (127 / max|x|))
/// to nearest even, in [−127, 127] (an error of at most half a step, max|x| / 254, per element, plus
/// float32 rounding). The sums are exact in int32 (k ≤ 65536, any int8 weight) on every path; then, in
/// float32 with one rounding each, the product of the two scales, the sum times it, and the bias
/// added (no addition without a bias), so every path gives the same bits. These are the int8 panel
/// micro-kernels of `swk_panel_linear_q8` (swk_panel_lowp.h) on blocks of 32 weight rows packed per
/// call into the scratch. Output columns are split
/// among the threads of `pool` (as many as the scratch has room for). Returns 0; -1 for bad sizes,
/// k > 65536, or a scratch smaller than `swk_gemm_q8_i8_scratch(m, k, 1)`.
int swk_gemm_q8_i8(const float *x, ptrdiff_t ldx, ptrdiff_t m, const void *weights, const void *scales, ptrdiff_t n,
                   ptrdiff_t k, const float *bias, float *y, ptrdiff_t ldy, void *scratch, size_t scratch_bytes,
                   swk_pool *pool);

#ifdef __cplusplus
}
#endif

#endif
