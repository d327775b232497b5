// Several rows times a bfloat16 weight matrix [n, k] (row-major, as a .swl bf16 tensor stores it),
// read in place: the multi-row product of a prefill. With AVX-512 BF16 (VDPBF16PS: two bfloat16
// products per float32 lane, twice the multiply-adds of a float32 FMA) the activations are rounded
// to bfloat16 too; the AVX2, NEON and portable paths do the same arithmetic with float32 FMAs on the
// widened values, so every path computes the same sums in the same order. These are the bf16 panel
// micro-kernels of `swk_panel_linear_bf16` (swk_panel_lowp.h) on blocks of 32 weight rows packed per
// call into the scratch.
#ifndef SWK_GEMM_BF16_H
#define SWK_GEMM_BF16_H

#include <stddef.h>

#include "swk_cpu.h"
#include "swk_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Whether `swk_gemm_bf16` runs on bfloat16 dot-product instructions here: the CPU has AVX-512 BF16
/// and `swk_isa()` is AVX-512. Elsewhere it runs (AVX2, NEON, portable) at float32 FMA speed, which a
/// caller with a tuned float32 GEMM may prefer to decoded panels of the weights.
int swk_gemm_bf16_native(void);

/// Bytes of scratch `swk_gemm_bf16` needs for `m` rows of `k` columns with up to `parts` threads
/// (each packs its own block of weight rows).
size_t swk_gemm_bf16_scratch(ptrdiff_t m, ptrdiff_t k, int parts);

/// `y[r, c] = Σ_i x̂[r, i] · W[c, i] + bias[c]` for r in [0, m), c in [0, n): W bf16 [n, k] read in
/// place (any alignment), `x` row stride `ldx`, `y` row stride `ldy`, `bias` optional (NULL).
///
/// Arithmetic (every path): x̂ is x rounded to bfloat16 (nearest even; a relative error of at most
/// 2^-8 per element). Each product of two bfloat16 values is exact in float32; per output the
/// products are added to a float32 accumulator (starting at +0) in the order i = 1, 0, 3, 2, 5, 4, …
/// (the odd element of each pair first, as VDPBF16PS adds them), each addition rounded to nearest
/// even, and the bias (when given) added last: at most k + 1 roundings, |error| ≤ γ(k+1) ·
/// (Σ|x̂·w| + |bias|). VDPBF16PS also treats subnormal inputs as zero and flushes subnormal sums to
/// zero (differences below 2^-126 per product).
///
/// Output columns are split among the threads of `pool` (as many as the scratch has room for).
/// Returns 0; -1 for bad sizes or a scratch smaller than `swk_gemm_bf16_scratch(m, k, 1)`.
int swk_gemm_bf16(const float *x, ptrdiff_t ldx, ptrdiff_t m, const void *weights, ptrdiff_t n, ptrdiff_t k,
                  const float *bias, float *y, ptrdiff_t ldy, void *scratch, size_t scratch_bytes, swk_pool *pool);

#ifdef __cplusplus
}
#endif

#endif
