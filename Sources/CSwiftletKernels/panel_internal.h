// Shared by the swk_*.c files: target attributes, the GEMM epilogue, and the vector helpers (erf for
// GELU, exp for the softmax) of each instruction-set level.
#ifndef SWK_PANEL_INTERNAL_H
#define SWK_PANEL_INTERNAL_H

#include <stddef.h>

#include "simd_internal.h"
#include "swk_panel.h"

/// What happens to a tile of sums `s` before it is stored:
/// `C[i, j] = act(s · alpha · row_scale[i] + bias[j])`, or `C[i, j] += s · alpha · … + bias[j]`.
typedef struct {
    float alpha;
    const float *row_scale; // per output row (indexed like C's rows), or NULL
    const float *bias;      // per output column (absolute column index), or NULL
    int accumulate;
    int gelu;
} swk_epilogue;

/// `C[0..m, col0..col1)` from `A[m, k]` (row stride lda) and B in the panel layout (panel j at
/// `panels + j·k·16`), finished by `epi`. `col0` is a multiple of 16. Implemented per level.
void swk_panel_tiles(int level, const float *a, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, const float *panels,
                     ptrdiff_t col0, ptrdiff_t col1, const swk_epilogue *epi, float *c, ptrdiff_t ldc);

// erf(z) ≈ z·P(z²)/Q(z²) on |z| ≤ 3.925 (beyond, erf rounds to ±1 in float32): a weighted
// least-squares fit made for Swiftlet's ViT; |error| < 4e-7 over the whole line in float32.
#define SWK_ERF_CLAMP 3.925f
#define SWK_ERF_P0    1.128378987312317f
#define SWK_ERF_P1    0.19514267146587372f
#define SWK_ERF_P2    0.05336739867925644f
#define SWK_ERF_P3    0.003968413453549147f
#define SWK_ERF_P4    0.00028939914773218334f
#define SWK_ERF_P5    2.0120105546084233e-06f
#define SWK_ERF_Q1    0.5062717199325562f
#define SWK_ERF_Q2    0.11606118083000183f
#define SWK_ERF_Q3    0.015372633002698421f
#define SWK_ERF_Q4    0.0012117866426706314f
#define SWK_ERF_Q5    3.7935828004265204e-05f

// e^x by Cody–Waite reduction x = n·ln2 + f and a degree-7 Taylor-like polynomial (Cephes' expf
// coefficients); only used for x ≤ 0 here (softmax), where results below e^-87 flush to 0.
#define SWK_EXP_LOW -87.0f
#define SWK_LOG2E   1.44269504088896341f
#define SWK_LN2_HI  0.693359375f
#define SWK_LN2_LO  -2.12194440e-4f
#define SWK_EXP_C0  1.9875691500e-4f
#define SWK_EXP_C1  1.3981999507e-3f
#define SWK_EXP_C2  8.3334519073e-3f
#define SWK_EXP_C3  4.1665795894e-2f
#define SWK_EXP_C4  1.6666665459e-1f
#define SWK_EXP_C5  5.0000001201e-1f

#ifdef SWK_X86

// Max/min put the variable second: with a NaN operand the instructions return their second
// operand, so NaN propagates.
SWK_AVX512 SWK_INLINE __m512 swk_gelu512(__m512 x) {
    const __m512 c = _mm512_set1_ps(SWK_ERF_CLAMP), one = _mm512_set1_ps(1.0f);
    __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
    z = _mm512_min_ps(c, _mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), c), z));
    __m512 t = _mm512_mul_ps(z, z);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(SWK_ERF_P5), t, _mm512_set1_ps(SWK_ERF_P4));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(SWK_ERF_P3));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(SWK_ERF_P2));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(SWK_ERF_P1));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(SWK_ERF_P0));
    __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(SWK_ERF_Q5), t, _mm512_set1_ps(SWK_ERF_Q4));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(SWK_ERF_Q3));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(SWK_ERF_Q2));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(SWK_ERF_Q1));
    q = _mm512_fmadd_ps(q, t, one);
    __m512 e = _mm512_div_ps(_mm512_mul_ps(z, p), q);
    e = _mm512_min_ps(one, _mm512_max_ps(_mm512_set1_ps(-1.0f), e));
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), _mm512_add_ps(one, e));
}

SWK_AVX2 SWK_INLINE __m256 swk_gelu256(__m256 x) {
    const __m256 c = _mm256_set1_ps(SWK_ERF_CLAMP), one = _mm256_set1_ps(1.0f);
    __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
    z = _mm256_min_ps(c, _mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), c), z));
    __m256 t = _mm256_mul_ps(z, z);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(SWK_ERF_P5), t, _mm256_set1_ps(SWK_ERF_P4));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(SWK_ERF_P3));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(SWK_ERF_P2));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(SWK_ERF_P1));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(SWK_ERF_P0));
    __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(SWK_ERF_Q5), t, _mm256_set1_ps(SWK_ERF_Q4));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(SWK_ERF_Q3));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(SWK_ERF_Q2));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(SWK_ERF_Q1));
    q = _mm256_fmadd_ps(q, t, one);
    __m256 e = _mm256_div_ps(_mm256_mul_ps(z, p), q);
    e = _mm256_min_ps(one, _mm256_max_ps(_mm256_set1_ps(-1.0f), e));
    return _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)), _mm256_add_ps(one, e));
}

SWK_AVX512 SWK_INLINE __m512 swk_exp512(__m512 x) {
    const __m512 low = _mm512_set1_ps(SWK_EXP_LOW);
    __m512 xc = _mm512_max_ps(low, x);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(SWK_LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_fnmadd_ps(n, _mm512_set1_ps(SWK_LN2_HI), xc);
    f = _mm512_fnmadd_ps(n, _mm512_set1_ps(SWK_LN2_LO), f);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(SWK_EXP_C0), f, _mm512_set1_ps(SWK_EXP_C1));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SWK_EXP_C2));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SWK_EXP_C3));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SWK_EXP_C4));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SWK_EXP_C5));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(f, f), _mm512_add_ps(f, _mm512_set1_ps(1.0f)));
    __m512 r = _mm512_scalef_ps(p, n);
    return _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(x, low, _CMP_LT_OQ), _mm512_setzero_ps());
}

SWK_AVX2 SWK_INLINE __m256 swk_exp256(__m256 x) {
    const __m256 low = _mm256_set1_ps(SWK_EXP_LOW);
    __m256 xc = _mm256_max_ps(low, x);
    __m256 n =
        _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(SWK_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 f = _mm256_fnmadd_ps(n, _mm256_set1_ps(SWK_LN2_HI), xc);
    f = _mm256_fnmadd_ps(n, _mm256_set1_ps(SWK_LN2_LO), f);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(SWK_EXP_C0), f, _mm256_set1_ps(SWK_EXP_C1));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(SWK_EXP_C2));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(SWK_EXP_C3));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(SWK_EXP_C4));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(SWK_EXP_C5));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(f, f), _mm256_add_ps(f, _mm256_set1_ps(1.0f)));
    // 2^n: n is an integer in [-126, 0] here (x ≤ 0 after the softmax shift, clamped at -87).
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 r = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
    return _mm256_blendv_ps(r, _mm256_setzero_ps(), _mm256_cmp_ps(x, low, _CMP_LT_OQ));
}

#endif // SWK_X86

#ifdef SWK_NEON

// The vector GELU and exp above, four lanes. FMAX/FMIN return NaN when either operand is NaN, so
// NaN propagates whatever the operand order.
SWK_INLINE float32x4_t swk_gelu_neon(float32x4_t x) {
    const float32x4_t c = vdupq_n_f32(SWK_ERF_CLAMP), one = vdupq_n_f32(1.0f);
    float32x4_t z = vmulq_f32(x, vdupq_n_f32(0.70710678118654752f));
    z = vminq_f32(c, vmaxq_f32(vnegq_f32(c), z));
    float32x4_t t = vmulq_f32(z, z);
    float32x4_t p = vfmaq_f32(vdupq_n_f32(SWK_ERF_P4), vdupq_n_f32(SWK_ERF_P5), t);
    p = vfmaq_f32(vdupq_n_f32(SWK_ERF_P3), p, t);
    p = vfmaq_f32(vdupq_n_f32(SWK_ERF_P2), p, t);
    p = vfmaq_f32(vdupq_n_f32(SWK_ERF_P1), p, t);
    p = vfmaq_f32(vdupq_n_f32(SWK_ERF_P0), p, t);
    float32x4_t q = vfmaq_f32(vdupq_n_f32(SWK_ERF_Q4), vdupq_n_f32(SWK_ERF_Q5), t);
    q = vfmaq_f32(vdupq_n_f32(SWK_ERF_Q3), q, t);
    q = vfmaq_f32(vdupq_n_f32(SWK_ERF_Q2), q, t);
    q = vfmaq_f32(vdupq_n_f32(SWK_ERF_Q1), q, t);
    q = vfmaq_f32(one, q, t);
    float32x4_t e = vdivq_f32(vmulq_f32(z, p), q);
    e = vminq_f32(one, vmaxq_f32(vdupq_n_f32(-1.0f), e));
    return vmulq_f32(vmulq_f32(x, vdupq_n_f32(0.5f)), vaddq_f32(one, e));
}

// e^x, x ≤ 0 (the softmax's shifted scores): below SWK_EXP_LOW the result is 0.
SWK_INLINE float32x4_t swk_exp_neon(float32x4_t x) {
    const float32x4_t low = vdupq_n_f32(SWK_EXP_LOW);
    float32x4_t xc = vmaxq_f32(low, x);
    float32x4_t n = vrndnq_f32(vmulq_f32(xc, vdupq_n_f32(SWK_LOG2E)));
    float32x4_t f = vfmsq_f32(xc, n, vdupq_n_f32(SWK_LN2_HI));
    f = vfmsq_f32(f, n, vdupq_n_f32(SWK_LN2_LO));
    float32x4_t p = vfmaq_f32(vdupq_n_f32(SWK_EXP_C1), vdupq_n_f32(SWK_EXP_C0), f);
    p = vfmaq_f32(vdupq_n_f32(SWK_EXP_C2), p, f);
    p = vfmaq_f32(vdupq_n_f32(SWK_EXP_C3), p, f);
    p = vfmaq_f32(vdupq_n_f32(SWK_EXP_C4), p, f);
    p = vfmaq_f32(vdupq_n_f32(SWK_EXP_C5), p, f);
    p = vfmaq_f32(vaddq_f32(f, vdupq_n_f32(1.0f)), p, vmulq_f32(f, f));
    // 2^n: n is an integer in [-126, 0] here (x ≤ 0, clamped at -87).
    int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    float32x4_t r = vmulq_f32(p, vreinterpretq_f32_s32(bits));
    return vbslq_f32(vcltq_f32(x, low), vdupq_n_f32(0.0f), r);
}

#endif // SWK_NEON

#endif
