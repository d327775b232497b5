// LIF neurons along time, and a fast GELU (A&S erf), for spiking and streamed layers.
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

// GELU of one value (portable path): the same erf approximation as the vector paths.
static const float erf_p = 0.3275911f, erf_a1 = 0.254829592f, erf_a2 = -0.284496736f, erf_a3 = 1.421413741f,
                   erf_a4 = -1.453152027f, erf_a5 = 1.061405429f;

static float gelu_one(float x) {
    float a = fabsf(x) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + erf_p * a);
    float poly = ((((erf_a5 * t + erf_a4) * t + erf_a3) * t + erf_a2) * t + erf_a1) * t;
    float q = poly * expf(-(a * a)); // erfc(|x|/√2)
    return 0.5f * x * (x >= 0 ? 2.0f - q : q);
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

SWK_AVX512 static void gelu_512(float *x, long count) {
    const __m512 half_sqrt2 = _mm512_set1_ps(0.70710678118654752f), one = _mm512_set1_ps(1.0f);
    const __m512 two = _mm512_set1_ps(2.0f), halfv = _mm512_set1_ps(0.5f);
    const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    for (long i = 0; i < count; i += 16) {
        __mmask16 in = count - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (count - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(in, x + i);
        __m512 a = _mm512_mul_ps(
            _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), _mm512_castps_si512(sign))), half_sqrt2);
        __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(erf_p), a, one));
        __m512 poly = _mm512_set1_ps(erf_a5);
        poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(erf_a4));
        poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(erf_a3));
        poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(erf_a2));
        poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(erf_a1));
        __m512 q = _mm512_mul_ps(_mm512_mul_ps(poly, t),
                                 swk_exp_nonpositive_512(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(a, a))));
        __mmask16 positive = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GE_OQ);
        __m512 onePlusErf = _mm512_mask_sub_ps(q, positive, two, q);
        _mm512_mask_storeu_ps(x + i, in, _mm512_mul_ps(_mm512_mul_ps(halfv, v), onePlusErf));
    }
}

SWK_AVX2 static void gelu_256(float *x, long count) {
    const __m256 half_sqrt2 = _mm256_set1_ps(0.70710678118654752f), one = _mm256_set1_ps(1.0f);
    const __m256 two = _mm256_set1_ps(2.0f), halfv = _mm256_set1_ps(0.5f);
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    long i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 a = _mm256_mul_ps(_mm256_and_ps(v, abs_mask), half_sqrt2);
        __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(erf_p), a, one));
        __m256 poly = _mm256_set1_ps(erf_a5);
        poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(erf_a4));
        poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(erf_a3));
        poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(erf_a2));
        poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(erf_a1));
        __m256 q = _mm256_mul_ps(_mm256_mul_ps(poly, t),
                                 swk_exp_nonpositive_256(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(a, a))));
        __m256 positive = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ);
        __m256 onePlusErf = _mm256_blendv_ps(q, _mm256_sub_ps(two, q), positive);
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(halfv, v), onePlusErf));
    }
    for (; i < count; i++) x[i] = gelu_one(x[i]);
}

#endif // SWK_X86

long swk_lif(const float *x, long rows, long cols, long ldx, const float *scale, const float *shift, float *membrane,
             float threshold, float tau, float *y, long ldy) {
    int use = swk_isa();
    if (rows <= 0 || cols <= 0) return 0;
#ifdef SWK_X86
    if (use == SWK_ISA_AVX512) return lif_512(x, rows, cols, ldx, scale, shift, membrane, threshold, tau, y, ldy);
    if (use == SWK_ISA_AVX2) return lif_256(x, rows, cols, ldx, scale, shift, membrane, threshold, tau, y, ldy);
#endif
    return lif_portable(x, rows, cols, ldx, scale, shift, membrane, threshold, tau, y, ldy);
}

void swk_gelu_fast(float *x, long count) {
    int use = swk_isa();
#ifdef SWK_X86
    if (use == SWK_ISA_AVX512) {
        gelu_512(x, count);
        return;
    }
    if (use == SWK_ISA_AVX2) {
        gelu_256(x, count);
        return;
    }
#endif
    for (long i = 0; i < count; i++) x[i] = gelu_one(x[i]);
}
