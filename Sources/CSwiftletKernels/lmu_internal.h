// Shared by the lmu_*.c files: target attributes and weight loads.
#ifndef SWIFTLET_LMU_INTERNAL_H
#define SWIFTLET_LMU_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "swiftlet_cpu.h"
#include "swiftlet_lmu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SWL_LMU_X86 1
#define SWL_LMU_AVX2 __attribute__((target("avx2,fma,f16c")))
#define SWL_LMU_AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))
#endif

#define SWL_LMU_INLINE static inline __attribute__((always_inline))

/// Resolves `isa` (possibly _AUTO) for weights of type `wtype`; −1 when the CPU lacks it.
int swiftlet_lmu_resolve_isa(int isa, int wtype);

/// IEEE binary16 → float32 (portable; handles subnormals, infinities and NaN).
SWL_LMU_INLINE float swl_lmu_half_to_float(uint16_t h) {
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

/// Weight element `i` of a float32 or binary16 array.
SWL_LMU_INLINE float swl_lmu_weight(const void *w, long i, int wtype) {
    return wtype == SWL_LMU_F16 ? swl_lmu_half_to_float(((const uint16_t *)w)[i]) : ((const float *)w)[i];
}

#endif
