// The memory layer's hash: sign-bit codes (first element = most significant bit) and the weights
// Σ|z| / Π(1 + exp(−2|z|)) of every L-value chunk of a row.
//
// The AVX2 paths compute eight exponentials per instruction sequence, the NEON path four; the
// portable one calls expf.
// Both follow `z >= 0` for the bits (the torch path of the official code), so a NaN sets no bit.

#include <math.h>
#include <string.h>

#include "simd_internal.h"
#include "swk_memory.h"

// One chunk, plain C (the portable path, and the chunks left over by the vector paths).
static void hash_chunk(const float *c, int L, int32_t *code, float *weight) {
    int32_t bits = 0;
    float sum = 0, product = 1;
    for (int i = 0; i < L; i++) {
        float v = c[i];
        bits = (bits << 1) | (v >= 0.0f);
        float a = fabsf(v);
        sum += a;
        product *= 1.0f + expf(-2.0f * a);
    }
    *code = bits;
    *weight = sum / product;
}

static void hash_portable(const float *z, long rows, long ldz, int tables, int L, int32_t *codes, float *weights) {
    for (long n = 0; n < rows; n++)
        for (int k = 0; k < tables; k++)
            hash_chunk(z + n * ldz + (long)k * L, L, codes + n * tables + k, weights + n * tables + k);
}

#ifdef SWK_X86

// Per 128-bit half, [x0·x1, x2·x3, y0·y1, y2·y3]: the multiplicative twin of _mm256_hadd_ps.
SWK_AVX2 static inline __m256 hmul(__m256 x, __m256 y) {
    return _mm256_mul_ps(_mm256_shuffle_ps(x, y, 0x88), _mm256_shuffle_ps(x, y, 0xDD));
}

// Lane k of the result = the sum (product) of the 8 lanes of v[k].
SWK_AVX2 static inline __m256 reduce8_sum(const __m256 *v) {
    __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
    __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

SWK_AVX2 static inline __m256 reduce8_product(const __m256 *v) {
    __m256 u0 = hmul(hmul(v[0], v[1]), hmul(v[2], v[3]));
    __m256 u1 = hmul(hmul(v[4], v[5]), hmul(v[6], v[7]));
    return _mm256_mul_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// movemask gives bit i for element i; codes want element 0 as the most significant of 8 bits.
static const uint8_t reverse8[256] = {
#define R2(n) n, n + 128, n + 64, n + 192
#define R4(n) R2(n), R2(n + 32), R2(n + 16), R2(n + 48)
#define R6(n) R4(n), R4(n + 8), R4(n + 4), R4(n + 12)
    R6(0), R6(2), R6(1), R6(3)
#undef R2
#undef R4
#undef R6
};

// L = 8 (the released configurations): one chunk is one vector; eight chunks are reduced at once.
SWK_AVX2 static void hash8_avx2(const float *z, long rows, long ldz, int tables, int32_t *codes, float *weights) {
    const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 minusTwo = _mm256_set1_ps(-2.0f), one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (long n = 0; n < rows; n++) {
        const float *row = z + n * ldz;
        int32_t *outCodes = codes + n * tables;
        float *outWeights = weights + n * tables;
        int k = 0;
        for (; k + 8 <= tables; k += 8) {
            __m256 a[8], f[8];
            for (int i = 0; i < 8; i++) {
                __m256 v = _mm256_loadu_ps(row + (long)(k + i) * 8);
                outCodes[k + i] = reverse8[_mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_GE_OQ))];
                a[i] = _mm256_and_ps(v, absMask);
                f[i] = _mm256_add_ps(one, swk_exp_nonpositive_256(_mm256_mul_ps(a[i], minusTwo)));
            }
            _mm256_storeu_ps(outWeights + k, _mm256_div_ps(reduce8_sum(a), reduce8_product(f)));
        }
        for (; k < tables; k++) hash_chunk(row + (long)k * 8, 8, outCodes + k, outWeights + k);
    }
}

// Any other L: lane j follows chunk k + j, element i of the eight chunks is gathered with stride L.
SWK_AVX2 static void hash_avx2(const float *z, long rows, long ldz, int tables, int L, int32_t *codes, float *weights) {
    if (L == 8) {
        hash8_avx2(z, rows, ldz, tables, codes, weights);
        return;
    }
    const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 minusTwo = _mm256_set1_ps(-2.0f), one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    const __m256i index = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(L));
    for (long n = 0; n < rows; n++) {
        const float *row = z + n * ldz;
        int k = 0;
        for (; k + 8 <= tables; k += 8) {
            const float *chunks = row + (long)k * L;
            __m256i bits = _mm256_setzero_si256();
            __m256 sum = zero, product = one;
            for (int i = 0; i < L; i++) {
                __m256 v = _mm256_i32gather_ps(chunks + i, index, 4);
                __m256i ge = _mm256_castps_si256(_mm256_cmp_ps(v, zero, _CMP_GE_OQ));
                bits = _mm256_sub_epi32(_mm256_slli_epi32(bits, 1), ge); // ge is 0 or −1
                __m256 a = _mm256_and_ps(v, absMask);
                sum = _mm256_add_ps(sum, a);
                product =
                    _mm256_mul_ps(product, _mm256_add_ps(one, swk_exp_nonpositive_256(_mm256_mul_ps(a, minusTwo))));
            }
            _mm256_storeu_si256((__m256i *)(codes + n * tables + k), bits);
            _mm256_storeu_ps(weights + n * tables + k, _mm256_div_ps(sum, product));
        }
        for (; k < tables; k++) hash_chunk(row + (long)k * L, L, codes + n * tables + k, weights + n * tables + k);
    }
}

#endif // SWK_X86

#ifdef SWK_NEON

// Lane j follows chunk k + j through its L elements in order (the portable order; only the
// exponential differs), four chunks at a time.
static void hash_neon(const float *z, long rows, long ldz, int tables, int L, int32_t *codes, float *weights) {
    const float32x4_t minusTwo = vdupq_n_f32(-2.0f), one = vdupq_n_f32(1.0f), zero = vdupq_n_f32(0.0f);
    for (long n = 0; n < rows; n++) {
        const float *row = z + n * ldz;
        int k = 0;
        for (; k + 4 <= tables; k += 4) {
            const float *c0 = row + (long)k * L, *c1 = c0 + L, *c2 = c1 + L, *c3 = c2 + L;
            int32x4_t bits = vdupq_n_s32(0);
            float32x4_t sum = zero, product = one;
            for (int i = 0; i < L; i++) {
                float32x4_t v = vdupq_n_f32(c0[i]);
                v = vsetq_lane_f32(c1[i], v, 1);
                v = vsetq_lane_f32(c2[i], v, 2);
                v = vsetq_lane_f32(c3[i], v, 3);
                // The comparison is −1 (all ones) where v ≥ 0 and 0 otherwise, NaN included.
                int32x4_t ge = vreinterpretq_s32_u32(vcgeq_f32(v, zero));
                bits = vsubq_s32(vshlq_n_s32(bits, 1), ge);
                float32x4_t a = vabsq_f32(v);
                sum = vaddq_f32(sum, a);
                product = vmulq_f32(product, vaddq_f32(one, swk_exp_nonpositive_neon(vmulq_f32(a, minusTwo))));
            }
            vst1q_s32(codes + n * tables + k, bits);
            vst1q_f32(weights + n * tables + k, vdivq_f32(sum, product));
        }
        for (; k < tables; k++) hash_chunk(row + (long)k * L, L, codes + n * tables + k, weights + n * tables + k);
    }
}

#endif // SWK_NEON

void swk_memory_hash(const float *z, long rows, long ldz, int tables, int code_length, int32_t *codes, float *weights) {
#ifdef SWK_X86
    if (swk_isa() >= SWK_ISA_AVX2) {
        hash_avx2(z, rows, ldz, tables, code_length, codes, weights);
        return;
    }
#elif defined(SWK_NEON)
    if (swk_isa() >= SWK_ISA_NEON) {
        hash_neon(z, rows, ldz, tables, code_length, codes, weights);
        return;
    }
#endif
    hash_portable(z, rows, ldz, tables, code_length, codes, weights);
}
