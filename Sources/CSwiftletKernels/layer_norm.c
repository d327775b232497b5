// LayerNorm over the last axis (see swk_panel.h).
#include <math.h>

#include "panel_internal.h"

static void row_portable(const float *x, ptrdiff_t n, const float *w, const float *b, float eps, float *y) {
    float sum = 0;
    for (ptrdiff_t j = 0; j < n; j++) sum += x[j];
    float mean = sum / (float)n, ss = 0;
    for (ptrdiff_t j = 0; j < n; j++) ss += (x[j] - mean) * (x[j] - mean);
    float inv = 1.0f / sqrtf(ss / (float)n + eps);
    for (ptrdiff_t j = 0; j < n; j++) y[j] = (x[j] - mean) * inv * w[j] + b[j];
}

#ifdef SWK_X86
SWK_AVX512 static void row512(const float *x, ptrdiff_t n, const float *w, const float *b, float eps, float *y) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    ptrdiff_t j = 0;
    for (; j + 32 <= n; j += 32) {
        s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x + j));
        s1 = _mm512_add_ps(s1, _mm512_loadu_ps(x + j + 16));
    }
    for (; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(m, x + j));
    }
    const float mean = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) / (float)n;
    const __m512 mv = _mm512_set1_ps(mean);
    s0 = _mm512_setzero_ps();
    s1 = _mm512_setzero_ps();
    for (j = 0; j + 32 <= n; j += 32) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x + j), mv), d1 = _mm512_sub_ps(_mm512_loadu_ps(x + j + 16), mv);
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
    }
    for (; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + j), mv);
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    const float var = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) / (float)n;
    const __m512 inv = _mm512_set1_ps(1.0f / sqrtf(var + eps));
    for (j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), mv), inv);
        __m512 r = _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(m, w + j), _mm512_maskz_loadu_ps(m, b + j));
        _mm512_mask_storeu_ps(y + j, m, r);
    }
}

SWK_AVX2 static float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

SWK_AVX2 static void row256(const float *x, ptrdiff_t n, const float *w, const float *b, float eps, float *y) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    ptrdiff_t j = 0;
    for (; j + 16 <= n; j += 16) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + j));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + j + 8));
    }
    float sum = hsum256(_mm256_add_ps(s0, s1));
    for (ptrdiff_t t = j; t < n; t++) sum += x[t];
    const float mean = sum / (float)n;
    const __m256 mv = _mm256_set1_ps(mean);
    s0 = _mm256_setzero_ps();
    s1 = _mm256_setzero_ps();
    for (j = 0; j + 16 <= n; j += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + j), mv), d1 = _mm256_sub_ps(_mm256_loadu_ps(x + j + 8), mv);
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    float ss = hsum256(_mm256_add_ps(s0, s1));
    for (ptrdiff_t t = j; t < n; t++) ss += (x[t] - mean) * (x[t] - mean);
    const float inv = 1.0f / sqrtf(ss / (float)n + eps);
    const __m256 iv = _mm256_set1_ps(inv);
    for (j = 0; j + 8 <= n; j += 8) {
        __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv), iv);
        _mm256_storeu_ps(y + j, _mm256_fmadd_ps(d, _mm256_loadu_ps(w + j), _mm256_loadu_ps(b + j)));
    }
    for (; j < n; j++) y[j] = (x[j] - mean) * inv * w[j] + b[j];
}
#endif

#ifdef SWK_NEON
static void row_neon(const float *x, ptrdiff_t n, const float *w, const float *b, float eps, float *y) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    ptrdiff_t j = 0;
    for (; j + 8 <= n; j += 8) {
        s0 = vaddq_f32(s0, vld1q_f32(x + j));
        s1 = vaddq_f32(s1, vld1q_f32(x + j + 4));
    }
    float sum = vaddvq_f32(vaddq_f32(s0, s1));
    for (ptrdiff_t t = j; t < n; t++) sum += x[t];
    const float mean = sum / (float)n;
    const float32x4_t mv = vdupq_n_f32(mean);
    s0 = s1 = vdupq_n_f32(0.0f);
    for (j = 0; j + 8 <= n; j += 8) {
        float32x4_t d0 = vsubq_f32(vld1q_f32(x + j), mv), d1 = vsubq_f32(vld1q_f32(x + j + 4), mv);
        s0 = vfmaq_f32(s0, d0, d0);
        s1 = vfmaq_f32(s1, d1, d1);
    }
    float ss = vaddvq_f32(vaddq_f32(s0, s1));
    for (ptrdiff_t t = j; t < n; t++) ss += (x[t] - mean) * (x[t] - mean);
    const float inv = 1.0f / sqrtf(ss / (float)n + eps);
    for (j = 0; j + 4 <= n; j += 4) {
        float32x4_t d = vmulq_n_f32(vsubq_f32(vld1q_f32(x + j), mv), inv);
        vst1q_f32(y + j, vfmaq_f32(vld1q_f32(b + j), d, vld1q_f32(w + j)));
    }
    for (; j < n; j++) y[j] = (x[j] - mean) * inv * w[j] + b[j];
}
#endif

void swk_layer_norm(const float *x, ptrdiff_t rows, ptrdiff_t cols, const float *weight, const float *bias, float eps,
                    float *y) {
    if (rows <= 0 || cols <= 0) return;
#ifdef SWK_X86
    if (swk_isa() >= SWK_ISA_AVX512) {
        for (ptrdiff_t r = 0; r < rows; r++) row512(x + r * cols, cols, weight, bias, eps, y + r * cols);
        return;
    }
    if (swk_isa() >= SWK_ISA_AVX2) {
        for (ptrdiff_t r = 0; r < rows; r++) row256(x + r * cols, cols, weight, bias, eps, y + r * cols);
        return;
    }
#elif defined(SWK_NEON)
    if (swk_isa() >= SWK_ISA_NEON) {
        for (ptrdiff_t r = 0; r < rows; r++) row_neon(x + r * cols, cols, weight, bias, eps, y + r * cols);
        return;
    }
#endif
    for (ptrdiff_t r = 0; r < rows; r++) row_portable(x + r * cols, cols, weight, bias, eps, y + r * cols);
}
