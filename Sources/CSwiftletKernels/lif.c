// LIF neurons along time, for spiking and streamed layers.
//
// The LIF input is computed as a product then a sum (never fused), as the Swift reference and the
// official code do, so every path fires on the same inputs; 1/tau is used as a factor only when it
// is exact (tau a power of two, as the usual tau = 2), otherwise the code divides.

#include <math.h>

#include "simd_internal.h"

#pragma STDC FP_CONTRACT OFF

static int exact_reciprocal(float tau) {
    int e;
    return frexpf(tau, &e) == 0.5f; // tau = 2^(e−1)
}

static long lif_portable(const float *x, long rows, long cols, long ldx, const float *scale, const float *shift,
                         float *membrane, float threshold, float tau, float *y, long ldy) {
    const int exact = exact_reciprocal(tau);
    const float inv = 1.0f / tau;
    long spikes = 0;
    for (long c = 0; c < cols; c++) {
        const float sc = scale ? scale[c] : 1.0f, sh = shift ? shift[c] : 0.0f;
        float v = membrane[c];
        for (long r = 0; r < rows; r++) {
            float in = x[r * ldx + c] * sc;
            in = in + sh;
            float d = in - v;
            float h = exact ? d * inv : d / tau;
            h = v + h;
            int fire = h >= threshold;
            y[r * ldy + c] = fire ? 1.0f : 0.0f;
            v = fire ? 0.0f : h;
            spikes += fire;
        }
        membrane[c] = v;
    }
    return spikes;
}

#ifdef SWK_X86

SWK_AVX512 static long lif_512(const float *x, long rows, long cols, long ldx, const float *scale, const float *shift,
                               float *membrane, float threshold, float tau, float *y, long ldy) {
    const int exact = exact_reciprocal(tau);
    const __m512 th = _mm512_set1_ps(threshold), one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    const __m512 vtau = _mm512_set1_ps(tau), vinv = _mm512_set1_ps(1.0f / tau);
    long spikes = 0;
    for (long c = 0; c < cols; c += 16) {
        __mmask16 in = cols - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (cols - c)) - 1);
        __m512 sc = scale ? _mm512_mask_loadu_ps(one, in, scale + c) : one;
        __m512 sh = shift ? _mm512_maskz_loadu_ps(in, shift + c) : zero;
        __m512 v = _mm512_maskz_loadu_ps(in, membrane + c);
        for (long r = 0; r < rows; r++) {
            __m512 input = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(in, x + r * ldx + c), sc), sh);
            __m512 d = _mm512_sub_ps(input, v);
            __m512 h = _mm512_add_ps(v, exact ? _mm512_mul_ps(d, vinv) : _mm512_div_ps(d, vtau));
            __mmask16 fire = _mm512_mask_cmp_ps_mask(in, h, th, _CMP_GE_OQ);
            _mm512_mask_storeu_ps(y + r * ldy + c, in, _mm512_maskz_mov_ps(fire, one));
            v = _mm512_mask_mov_ps(h, fire, zero);
            spikes += __builtin_popcount((unsigned)fire);
        }
        _mm512_mask_storeu_ps(membrane + c, in, v);
    }
    return spikes;
}

SWK_AVX2 static long lif_256(const float *x, long rows, long cols, long ldx, const float *scale, const float *shift,
                             float *membrane, float threshold, float tau, float *y, long ldy) {
    const int exact = exact_reciprocal(tau);
    const __m256 th = _mm256_set1_ps(threshold), one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    const __m256 vtau = _mm256_set1_ps(tau), vinv = _mm256_set1_ps(1.0f / tau);
    long spikes = 0;
    long c = 0;
    for (; c + 8 <= cols; c += 8) {
        __m256 sc = scale ? _mm256_loadu_ps(scale + c) : one;
        __m256 sh = shift ? _mm256_loadu_ps(shift + c) : zero;
        __m256 v = _mm256_loadu_ps(membrane + c);
        for (long r = 0; r < rows; r++) {
            __m256 input = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + r * ldx + c), sc), sh);
            __m256 d = _mm256_sub_ps(input, v);
            __m256 h = _mm256_add_ps(v, exact ? _mm256_mul_ps(d, vinv) : _mm256_div_ps(d, vtau));
            __m256 fire = _mm256_cmp_ps(h, th, _CMP_GE_OQ);
            _mm256_storeu_ps(y + r * ldy + c, _mm256_and_ps(fire, one));
            v = _mm256_andnot_ps(fire, h);
            spikes += __builtin_popcount((unsigned)_mm256_movemask_ps(fire));
        }
        _mm256_storeu_ps(membrane + c, v);
    }
    if (c < cols)
        spikes += lif_portable(x + c, rows, cols - c, ldx, scale ? scale + c : NULL, shift ? shift + c : NULL,
                               membrane + c, threshold, tau, y + c, ldy);
    return spikes;
}

#endif // SWK_X86

#ifdef SWK_NEON

// Four columns per vector, the same operations in the same order as the portable path (a product
// then a sum, never a fused multiply-add), so both fire on the same inputs bit for bit.
static long lif_neon(const float *x, long rows, long cols, long ldx, const float *scale, const float *shift,
                     float *membrane, float threshold, float tau, float *y, long ldy) {
    const int exact = exact_reciprocal(tau);
    const float32x4_t th = vdupq_n_f32(threshold), one = vdupq_n_f32(1.0f), zero = vdupq_n_f32(0.0f);
    const float32x4_t vtau = vdupq_n_f32(tau), vinv = vdupq_n_f32(1.0f / tau);
    long spikes = 0;
    long c = 0;
    for (; c + 4 <= cols; c += 4) {
        float32x4_t sc = scale ? vld1q_f32(scale + c) : one;
        float32x4_t sh = shift ? vld1q_f32(shift + c) : zero;
        float32x4_t v = vld1q_f32(membrane + c);
        for (long r = 0; r < rows; r++) {
            float32x4_t input = vaddq_f32(vmulq_f32(vld1q_f32(x + r * ldx + c), sc), sh);
            float32x4_t d = vsubq_f32(input, v);
            float32x4_t h = vaddq_f32(v, exact ? vmulq_f32(d, vinv) : vdivq_f32(d, vtau));
            uint32x4_t fire = vcgeq_f32(h, th); // false for NaN, as `h >= threshold`
            vst1q_f32(y + r * ldy + c, vbslq_f32(fire, one, zero));
            v = vbslq_f32(fire, zero, h);
            spikes += (long)vaddvq_u32(vshrq_n_u32(fire, 31));
        }
        vst1q_f32(membrane + c, v);
    }
    if (c < cols)
        spikes += lif_portable(x + c, rows, cols - c, ldx, scale ? scale + c : NULL, shift ? shift + c : NULL,
                               membrane + c, threshold, tau, y + c, ldy);
    return spikes;
}

#endif // SWK_NEON

long swk_lif(const float *x, long rows, long cols, long ldx, const float *scale, const float *shift, float *membrane,
             float threshold, float tau, float *y, long ldy) {
    int use = swk_isa();
    if (rows <= 0 || cols <= 0) return 0;
#ifdef SWK_X86
    if (use == SWK_ISA_AVX512) return lif_512(x, rows, cols, ldx, scale, shift, membrane, threshold, tau, y, ldy);
    if (use == SWK_ISA_AVX2) return lif_256(x, rows, cols, ldx, scale, shift, membrane, threshold, tau, y, ldy);
#elif defined(SWK_NEON)
    if (use >= SWK_ISA_NEON) return lif_neon(x, rows, cols, ldx, scale, shift, membrane, threshold, tau, y, ldy);
#endif
    return lif_portable(x, rows, cols, ldx, scale, shift, membrane, threshold, tau, y, ldy);
}
