// Shared by the kernel files: per-function target attributes (the library stays baseline x86-64 and
// picks a path at run time, swk_cpu.h), and the scalar decoding of compact elements.
#ifndef SWK_SIMD_INTERNAL_H
#define SWK_SIMD_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "swk_cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SWK_X86 1
#define SWK_AVX2 __attribute__((target("avx2,fma,f16c")))
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

#endif
