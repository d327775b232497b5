// Shared by panel_gemm_bf16.c and panel_gemm_q8.c (their tile drivers also serve attention.c,
// gemm_bf16.c and gemm_q8_i8.c): the epilogue that stores a tile of float32 sums,
// per instruction-set level. `C[i, j] = act(s · (row_scale[i] · col_scale[j]) + bias[j])` (the scale
// product only when both are given), or `C[i, j] += …`, in exactly that order of float32 operations
// on every level.
#ifndef SWK_PANEL_LOWP_INTERNAL_H
#define SWK_PANEL_LOWP_INTERNAL_H

#include <math.h>
#include <stddef.h>

#include "panel_internal.h"
#include "swk_panel_lowp.h"

typedef struct {
    const float *row_scale; // per row of this call's A (index i), or NULL (with col_scale)
    const float *col_scale; // per output column (absolute index), or NULL
    const float *bias;      // per output column (absolute index), or NULL
    int accumulate;
    int gelu;
} swk_lowp_epilogue;

SWK_INLINE float swk_lowp_finish(float s, ptrdiff_t i, ptrdiff_t j, const swk_lowp_epilogue *e, const float *dst) {
    float r = s;
    if (e->row_scale) {
        float f = e->row_scale[i] * e->col_scale[j];
        r = r * f;
    }
    if (e->bias) r = r + e->bias[j];
    if (e->accumulate) r = r + *dst;
    if (e->gelu) r = r * 0.5f * (1.0f + erff(r * 0.70710678118654752f));
    return r;
}

/// The bf16 pair-panel product of `swk_panel_linear_bf16` with any epilogue (row scales included):
/// `C[i, j]` for i < m, j in [col0, col1) (col0 a multiple of 16), per instruction-set level. Every
/// level adds the odd element's product of each pair before the even one's (as `vdpbf16ps`).
void swk_panel_bf16_tiles(const uint16_t *a, ptrdiff_t m, ptrdiff_t k, const uint16_t *panels, ptrdiff_t col0,
                          ptrdiff_t col1, const swk_lowp_epilogue *e, float *c, ptrdiff_t ldc);

/// The int8 quad-panel product of `swk_panel_linear_q8` with any epilogue: `C[i, j]` for i < m, j in
/// [col0, col1) (col0 a multiple of 16), A the uint8 rows of `swk_q8_quantize_rows`, `wsums` the
/// panels' column sums (`swk_panel_q8_sums`, absolute column index), per instruction-set level. Exact
/// int32 sums for any int8 weight, −128 included.
void swk_panel_q8_tiles(const uint8_t *a, ptrdiff_t m, ptrdiff_t k, const int8_t *panels, const int32_t *wsums,
                        ptrdiff_t col0, ptrdiff_t col1, const swk_lowp_epilogue *e, float *c, ptrdiff_t ldc);

#ifdef SWK_X86
/// Sixteen floats to bf16 bits (nearest even; a NaN becomes a quiet NaN) in the low halves of
/// sixteen int32 lanes: the scalar rule of swk_bf16_round_rows, vectorised.
SWK_AVX512 SWK_INLINE __m512i swk_bf16_bits512(__m512 x) {
    const __m512i b = _mm512_castps_si512(x);
    const __mmask16 nan =
        _mm512_cmpgt_epi32_mask(_mm512_and_si512(b, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
    __m512i r = _mm512_add_epi32(b, _mm512_set1_epi32(0x7FFF));
    r = _mm512_add_epi32(r, _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1)));
    r = _mm512_srli_epi32(r, 16);
    return _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40));
}

/// Stores 16 sums `s` of row i at columns col… (`valid` ≤ 16 of them).
SWK_AVX512 SWK_INLINE void swk_lowp_store512(__m512 s, ptrdiff_t i, ptrdiff_t col, ptrdiff_t valid,
                                             const swk_lowp_epilogue *e, float *dst) {
    __mmask16 mask = valid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1);
    __m512 r = s;
    if (e->row_scale)
        r = _mm512_mul_ps(
            r, _mm512_mul_ps(_mm512_set1_ps(e->row_scale[i]), _mm512_maskz_loadu_ps(mask, e->col_scale + col)));
    if (e->bias) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask, e->bias + col));
    if (e->accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask, dst));
    if (e->gelu) r = swk_gelu512(r);
    _mm512_mask_storeu_ps(dst, mask, r);
}

/// Stores a tile of sums, `s[2r + h]` for row i + r (r < mr) at columns col + 16h… (h < np, `cols`
/// valid from col): `swk_lowp_store512` row by row, with the masks, column scales, bias and flags
/// loaded once per tile instead of once per vector (the same float32 operations in the same order).
SWK_AVX512 SWK_INLINE void swk_lowp_store_tile512(const __m512 *s, int mr, int np, ptrdiff_t i, ptrdiff_t col,
                                                  ptrdiff_t cols, const swk_lowp_epilogue *e, float *c, ptrdiff_t ldc) {
    const int scaled = e->row_scale != NULL, biased = e->bias != NULL, acc = e->accumulate, gelu = e->gelu;
    __mmask16 mask[2] = {0, 0};
    __m512 cs[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()}, b[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int h = 0; h < np; h++) {
        const ptrdiff_t valid = cols - 16 * h;
        mask[h] = valid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1);
        if (scaled) cs[h] = _mm512_maskz_loadu_ps(mask[h], e->col_scale + col + 16 * h);
        if (biased) b[h] = _mm512_maskz_loadu_ps(mask[h], e->bias + col + 16 * h);
    }
    for (int r = 0; r < mr; r++) {
        float *row = c + (i + r) * ldc + col;
        const __m512 rs = scaled ? _mm512_set1_ps(e->row_scale[i + r]) : _mm512_setzero_ps();
        for (int h = 0; h < np; h++) {
            __m512 v = s[2 * r + h];
            if (scaled) v = _mm512_mul_ps(v, _mm512_mul_ps(rs, cs[h]));
            if (biased) v = _mm512_add_ps(v, b[h]);
            if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask[h], row + 16 * h));
            if (gelu) v = swk_gelu512(v);
            _mm512_mask_storeu_ps(row + 16 * h, mask[h], v);
        }
    }
}

/// Stores 8 sums of row i at columns col… (`valid` ≤ 8).
SWK_AVX2 SWK_INLINE void swk_lowp_store256(__m256 s, ptrdiff_t i, ptrdiff_t col, ptrdiff_t valid,
                                           const swk_lowp_epilogue *e, float *dst) {
    if (valid >= 8) {
        __m256 r = s;
        if (e->row_scale)
            r = _mm256_mul_ps(r, _mm256_mul_ps(_mm256_set1_ps(e->row_scale[i]), _mm256_loadu_ps(e->col_scale + col)));
        if (e->bias) r = _mm256_add_ps(r, _mm256_loadu_ps(e->bias + col));
        if (e->accumulate) r = _mm256_add_ps(r, _mm256_loadu_ps(dst));
        if (e->gelu) r = swk_gelu256(r);
        _mm256_storeu_ps(dst, r);
        return;
    }
    float cs[8] = {0}, b[8] = {0}, d[8] = {0}, out[8];
    for (ptrdiff_t j = 0; j < valid; j++) {
        if (e->row_scale) cs[j] = e->col_scale[col + j];
        if (e->bias) b[j] = e->bias[col + j];
        if (e->accumulate) d[j] = dst[j];
    }
    __m256 r = s;
    if (e->row_scale) r = _mm256_mul_ps(r, _mm256_mul_ps(_mm256_set1_ps(e->row_scale[i]), _mm256_loadu_ps(cs)));
    if (e->bias) r = _mm256_add_ps(r, _mm256_loadu_ps(b));
    if (e->accumulate) r = _mm256_add_ps(r, _mm256_loadu_ps(d));
    if (e->gelu) r = swk_gelu256(r);
    _mm256_storeu_ps(out, r);
    memcpy(dst, out, (size_t)valid * sizeof(float));
}
#endif

#ifdef SWK_NEON
/// Stores 4 sums of row i at columns col… (`valid` ≤ 4).
SWK_INLINE void swk_lowp_store_neon(float32x4_t s, ptrdiff_t i, ptrdiff_t col, ptrdiff_t valid,
                                    const swk_lowp_epilogue *e, float *dst) {
    float cs[4] = {0}, b[4] = {0}, d[4] = {0}, out[4];
    const ptrdiff_t n = valid < 4 ? valid : 4;
    for (ptrdiff_t j = 0; j < n; j++) {
        if (e->row_scale) cs[j] = e->col_scale[col + j];
        if (e->bias) b[j] = e->bias[col + j];
        if (e->accumulate) d[j] = dst[j];
    }
    float32x4_t r = s;
    if (e->row_scale) r = vmulq_f32(r, vmulq_f32(vdupq_n_f32(e->row_scale[i]), vld1q_f32(cs)));
    if (e->bias) r = vaddq_f32(r, vld1q_f32(b));
    if (e->accumulate) r = vaddq_f32(r, vld1q_f32(d));
    if (e->gelu) r = swk_gelu_neon(r);
    vst1q_f32(out, r);
    memcpy(dst, out, (size_t)n * sizeof(float));
}
#endif

#endif
