// Shared by the kernel files: per-function target attributes (the library stays baseline x86-64 and
// picks a path at run time, swk_cpu.h), and the scalar decoding of compact elements.
#ifndef SWK_SIMD_INTERNAL_H
#define SWK_SIMD_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "swk_cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SWK_X86    1
#define SWK_AVX2   __attribute__((target("avx2,fma,f16c")))
#define SWK_AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))
#endif

#define SWK_INLINE static inline __attribute__((always_inline))

/// IEEE binary16 → float32 (portable; handles subnormals, infinities and NaN).
SWK_INLINE float swk_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0x1Fu) {
        bits = sign | 0x7F800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {
        // Subnormal half: normalise the mantissa.
        int shift = 0;
        while ((man & 0x400u) == 0) {
            man <<= 1;
            shift++;
        }
        bits = sign | ((uint32_t)(113 - shift) << 23) | ((man & 0x3FFu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/// bfloat16 → float32 (exact).
SWK_INLINE float swk_bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/// Weight element `i` of a float32 or binary16 array.
SWK_INLINE float swk_weight(const void *w, long i, int wtype) {
    return wtype == SWK_F16 ? swk_half_to_float(((const uint16_t *)w)[i]) : ((const float *)w)[i];
}

#ifdef SWK_X86

// exp(x) for x ≤ 0 (or NaN), within ~2 ulp: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-7
// polynomial (Cody–Waite split of ln2 keeps r exact enough), 2^n put into the exponent field.
// Inputs below −87 are clamped (the result, ~1e-38, vanishes next to the 1 it is added to).
SWK_AVX2 SWK_INLINE __m256 swk_exp_nonpositive_256(__m256 x) {
    x = _mm256_max_ps(_mm256_set1_ps(-87.0f), x); // operand order keeps a NaN in x
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    // Taylor coefficients 1/7! … 1/2!: on |r| ≤ 0.347 the truncation is below 1e-8 relative.
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

#endif // SWK_X86

#endif
