// Shared by the kernel files: per-function target attributes (the library stays baseline x86-64 or
// Armv8.0-A and picks a path at run time, swk_cpu.h), and the scalar decoding of compact elements.
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

#if defined(__aarch64__) && !defined(__AARCH64EB__)
// Advanced SIMD (and its float16 conversions) is baseline AArch64; only the dot product needs a target.
#include <arm_neon.h>
#define SWK_NEON    1
#define SWK_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
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

// ---- SWK_Q4BLOCK (swk_cpu.h): signed nibbles, element 2i low and 2i+1 high in byte i of a row ----

/// Element `c` of a q4 row starting at `row` (scale not applied): a two's-complement nibble, −8 … 7.
SWK_INLINE float swk_q4_value(const uint8_t *row, long c) {
    unsigned b = row[c >> 1];
    unsigned nib = (c & 1) ? b >> 4 : b & 15u;
    return (float)((int)(nib ^ 8u) - 8);
}

/// Bytes of one q4 row of `cols` elements, and its number of scales.
SWK_INLINE long swk_q4_row_bytes(long cols) { return (cols + 1) / 2; }
SWK_INLINE long swk_q4_blocks(long cols) { return (cols + SWK_Q4_BLOCK - 1) / SWK_Q4_BLOCK; }

/// Float `i` of an array at any alignment.
SWK_INLINE float swk_loadu_float(const void *p, long i) {
    float f;
    memcpy(&f, (const uint8_t *)p + 4 * i, 4);
    return f;
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

/// The 32 elements of a full q4 block at `p` (16 bytes, any alignment) as int8 lanes in element
/// order: `lo` elements 0–15, `hi` 16–31.
SWK_AVX2 SWK_INLINE void swk_q4_unpack32_sse(const void *p, __m128i *lo, __m128i *hi) {
    const __m128i b = _mm_loadu_si128((const __m128i *)p), m = _mm_set1_epi8(0x0F), e = _mm_set1_epi8(8);
    const __m128i l = _mm_and_si128(b, m), h = _mm_and_si128(_mm_srli_epi16(b, 4), m);
    // (v ^ 8) − 8 sign-extends a nibble held in the low bits of a byte.
    *lo = _mm_sub_epi8(_mm_xor_si128(_mm_unpacklo_epi8(l, h), e), e);
    *hi = _mm_sub_epi8(_mm_xor_si128(_mm_unpackhi_epi8(l, h), e), e);
}

/// A full q4 block as four vectors of eight floats (exact).
SWK_AVX2 SWK_INLINE void swk_q4_decode32_avx2(const void *p, __m256 v[4]) {
    __m128i lo, hi;
    swk_q4_unpack32_sse(p, &lo, &hi);
    v[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
    v[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(lo, lo)));
    v[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
    v[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(hi, hi)));
}

/// A full q4 block as two vectors of sixteen floats in element order (exact): the 16 bytes
/// zero-extended to lanes, interleaved with themselves shifted right by 4 (low nibble, then high
/// nibble of each byte), and each nibble looked up in a 16-entry table of −8 … 7 (VPERMPS reads the
/// low 4 bits of each index).
SWK_AVX512 SWK_INLINE void swk_q4_decode32_avx512(const void *p, __m512 v[2]) {
    const __m512 lut = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1);
    const __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)), h = _mm512_srli_epi32(b, 4);
    const __m512i first = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23),
                  second = _mm512_add_epi32(first, _mm512_set1_epi32(8));
    v[0] = _mm512_permutexvar_ps(_mm512_permutex2var_epi32(b, first, h), lut);
    v[1] = _mm512_permutexvar_ps(_mm512_permutex2var_epi32(b, second, h), lut);
}

#endif // SWK_X86

#ifdef SWK_NEON

// Loads at any alignment, for weights read in place: byte loads reinterpreted (little-endian AArch64).
SWK_INLINE float32x4_t swk_loadu_f32_neon(const void *p) { return vreinterpretq_f32_u8(vld1q_u8((const uint8_t *)p)); }
SWK_INLINE uint16x8_t swk_loadu_u16x8_neon(const void *p) { return vreinterpretq_u16_u8(vld1q_u8((const uint8_t *)p)); }

/// Four IEEE binary16 values at `p` (any alignment) as float32 (exact, like swk_half_to_float).
SWK_INLINE float32x4_t swk_half4_neon(const void *p) {
    return vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8((const uint8_t *)p)));
}

/// Eight binary16, bfloat16, int8 or float32 values at `p` (any alignment) as two float32 vectors.
SWK_INLINE float32x4x2_t swk_load8_neon(const void *p, int format) {
    float32x4x2_t v;
    switch (format) {
    case SWK_F16: {
        uint16x8_t h = swk_loadu_u16x8_neon(p);
        v.val[0] = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h)));
        v.val[1] = vcvt_high_f32_f16(vreinterpretq_f16_u16(h));
        break;
    }
    case SWK_BF16: {
        uint16x8_t h = swk_loadu_u16x8_neon(p);
        v.val[0] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
        v.val[1] = vreinterpretq_f32_u32(vshll_high_n_u16(h, 16));
        break;
    }
    case SWK_Q8ROW: {
        int16x8_t q = vmovl_s8(vreinterpret_s8_u8(vld1_u8((const uint8_t *)p)));
        v.val[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(q)));
        v.val[1] = vcvtq_f32_s32(vmovl_high_s16(q));
        break;
    }
    default:
        v.val[0] = swk_loadu_f32_neon(p);
        v.val[1] = swk_loadu_f32_neon((const uint8_t *)p + 16);
        break;
    }
    return v;
}

/// A full q4 block at `p` (16 bytes, any alignment) as eight vectors of four floats (exact), in
/// element order.
SWK_INLINE void swk_q4_decode32_neon(const void *p, float32x4_t v[8]) {
    const int8x16_t b = vreinterpretq_s8_u8(vld1q_u8((const uint8_t *)p));
    // Arithmetic shifts sign-extend each nibble: low = (b << 4) >> 4, high = b >> 4.
    const int8x16_t l = vshrq_n_s8(vshlq_n_s8(b, 4), 4), h = vshrq_n_s8(b, 4);
    const int8x16_t q0 = vzip1q_s8(l, h), q1 = vzip2q_s8(l, h);
    const int16x8_t a0 = vmovl_s8(vget_low_s8(q0)), a1 = vmovl_high_s8(q0), a2 = vmovl_s8(vget_low_s8(q1)),
                    a3 = vmovl_high_s8(q1);
    v[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(a0)));
    v[1] = vcvtq_f32_s32(vmovl_high_s16(a0));
    v[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(a1)));
    v[3] = vcvtq_f32_s32(vmovl_high_s16(a1));
    v[4] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(a2)));
    v[5] = vcvtq_f32_s32(vmovl_high_s16(a2));
    v[6] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(a3)));
    v[7] = vcvtq_f32_s32(vmovl_high_s16(a3));
}

// exp(x) for x ≤ 0 (or NaN): the algorithm and coefficients of swk_exp_nonpositive_256 above, four lanes.
SWK_INLINE float32x4_t swk_exp_nonpositive_neon(float32x4_t x) {
    x = vmaxq_f32(vdupq_n_f32(-87.0f), x); // FMAX returns NaN if either operand is NaN
    float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f)); // x − n·ln2_hi
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.0f / 5040);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 720), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(r, p, vmulq_f32(r, r));
    p = vaddq_f32(p, vdupq_n_f32(1.0f));
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

#endif // SWK_NEON

#endif
