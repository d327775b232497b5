// Products with bfloat16 weights in the pair-panel layout (swk_panel_lowp.h).
//
// AVX-512 BF16 keeps a 12 × 32 tile of C in registers (24 accumulators, two weight vectors, one
// broadcast pair) like the float32 kernel, with `vdpbf16ps` doing two multiply-adds per lane per
// instruction. Without BF16 the weights are widened (a bf16 is the top half of a float32: the even
// element of a pair is the pair shifted left by 16, the odd one the pair with its low half masked)
// and multiplied by FMA, the odd element of each pair first: the order in which `vdpbf16ps` adds the
// two products, so every path gives the same sums (subnormals aside).
#include <math.h>
#include <string.h>

#include "panel_lowp_internal.h"

size_t swk_panel_bf16_elements(ptrdiff_t n, ptrdiff_t k) {
    return (size_t)((n + 15) / 16) * 16 * 2 * (size_t)((k + 1) / 2);
}

/// float32 → bf16, nearest even; a NaN stays a (quiet) NaN.
static uint16_t bf16_bits(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    if ((b & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((b >> 16) | 0x40u);
    b += 0x7FFFu + ((b >> 16) & 1u);
    return (uint16_t)(b >> 16);
}

void swk_panel_bf16_pack(const float *w, ptrdiff_t n, ptrdiff_t k, uint16_t *panels) {
    const ptrdiff_t steps = (k + 1) / 2;
    for (ptrdiff_t j = 0; j < (n + 15) / 16; j++)
        for (ptrdiff_t q = 0; q < steps; q++)
            for (ptrdiff_t c = 0; c < 16; c++)
                for (ptrdiff_t e = 0; e < 2; e++) {
                    const ptrdiff_t r = 16 * j + c, p = 2 * q + e;
                    panels[((j * steps + q) * 16 + c) * 2 + e] = r < n && p < k ? bf16_bits(w[r * k + p]) : 0;
                }
}

// ---- rounding the activations --------------------------------------------------------------------

#ifdef SWK_X86
/// Eight floats to bf16 bits in the low halves of eight int32 lanes (the scalar rule, vectorised).
SWK_AVX2 SWK_INLINE __m256i bf16_bits256(__m256 x) {
    const __m256i b = _mm256_castps_si256(x);
    const __m256i nan =
        _mm256_cmpgt_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x7FFFFFFF)), _mm256_set1_epi32(0x7F800000));
    __m256i r = _mm256_add_epi32(b, _mm256_set1_epi32(0x7FFF));
    r = _mm256_add_epi32(r, _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1)));
    r = _mm256_srli_epi32(r, 16);
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x40));
    return _mm256_blendv_epi8(r, quiet, nan);
}

SWK_AVX2 static void round_rows256(const float *a, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, uint16_t *out) {
    const ptrdiff_t kp = (k + 1) / 2 * 2;
    for (ptrdiff_t i = 0; i < m; i++) {
        const float *row = a + i * lda;
        uint16_t *dst = out + i * kp;
        ptrdiff_t p = 0;
        for (; p + 16 <= k; p += 16) {
            __m256i lo = bf16_bits256(_mm256_loadu_ps(row + p)), hi = bf16_bits256(_mm256_loadu_ps(row + p + 8));
            __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
            _mm256_storeu_si256((__m256i *)(dst + p), packed);
        }
        for (; p < k; p++) dst[p] = bf16_bits(row[p]);
        if (kp > k) dst[k] = 0;
    }
}
#endif

#ifdef SWK_X86
/// The AVX2 rule on sixteen lanes.
SWK_AVX512 static void round_rows512(const float *a, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, uint16_t *out) {
    const ptrdiff_t kp = (k + 1) / 2 * 2;
    for (ptrdiff_t i = 0; i < m; i++) {
        const float *row = a + i * lda;
        uint16_t *dst = out + i * kp;
        for (ptrdiff_t p = 0; p < k; p += 16) {
            const ptrdiff_t left = k - p;
            const __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            const __m512i r = swk_bf16_bits512(_mm512_maskz_loadu_ps(mask, row + p));
            if (left >= 16)
                _mm256_storeu_si256((__m256i *)(void *)(dst + p), _mm512_cvtepi32_epi16(r));
            else
                _mm512_mask_cvtepi32_storeu_epi16(dst + p, mask, r);
        }
        if (kp > k) dst[k] = 0;
    }
}
#endif

#ifdef SWK_NEON
static void round_rows_neon(const float *a, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, uint16_t *out) {
    const ptrdiff_t kp = (k + 1) / 2 * 2;
    const uint32x4_t inf = vdupq_n_u32(0x7F800000u), abs_mask = vdupq_n_u32(0x7FFFFFFFu);
    for (ptrdiff_t i = 0; i < m; i++) {
        const float *row = a + i * lda;
        uint16_t *dst = out + i * kp;
        ptrdiff_t p = 0;
        for (; p + 4 <= k; p += 4) {
            const uint32x4_t b = vreinterpretq_u32_f32(vld1q_f32(row + p));
            const uint32x4_t nan = vcgtq_u32(vandq_u32(b, abs_mask), inf);
            uint32x4_t r = vaddq_u32(b, vdupq_n_u32(0x7FFFu));
            r = vaddq_u32(r, vandq_u32(vshrq_n_u32(b, 16), vdupq_n_u32(1)));
            r = vshrq_n_u32(r, 16);
            const uint32x4_t quiet = vorrq_u32(vshrq_n_u32(b, 16), vdupq_n_u32(0x40));
            vst1_u16(dst + p, vmovn_u32(vbslq_u32(nan, quiet, r)));
        }
        for (; p < k; p++) dst[p] = bf16_bits(row[p]);
        if (kp > k) dst[k] = 0;
    }
}
#endif

void swk_bf16_round_rows(const float *a, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, uint16_t *out) {
    if (m <= 0 || k <= 0) return;
#ifdef SWK_X86
    if (swk_isa() >= SWK_ISA_AVX512) return round_rows512(a, lda, m, k, out);
    if (swk_isa() >= SWK_ISA_AVX2) return round_rows256(a, lda, m, k, out);
#elif defined(SWK_NEON)
    if (swk_isa() >= SWK_ISA_NEON) {
        round_rows_neon(a, lda, m, k, out);
        return;
    }
#endif
    const ptrdiff_t kp = (k + 1) / 2 * 2;
    for (ptrdiff_t i = 0; i < m; i++) {
        for (ptrdiff_t p = 0; p < k; p++) out[i * kp + p] = bf16_bits(a[i * lda + p]);
        if (kp > k) out[i * kp + k] = 0;
    }
}

// ---- portable ------------------------------------------------------------------------------------

static float bf16_value(uint16_t h) {
    uint32_t b = (uint32_t)h << 16;
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static void gemm_portable(const uint16_t *a, ptrdiff_t m, ptrdiff_t k, const uint16_t *panels, ptrdiff_t col0,
                          ptrdiff_t col1, const swk_lowp_epilogue *e, float *c, ptrdiff_t ldc) {
    const ptrdiff_t steps = (k + 1) / 2, kp = 2 * steps;
    for (ptrdiff_t col = col0; col < col1; col += 16) {
        const uint16_t *b = panels + (col / 16) * steps * 32;
        const ptrdiff_t cols = col1 - col < 16 ? col1 - col : 16;
        for (ptrdiff_t i = 0; i < m; i++) {
            float s[16] = {0};
            const uint16_t *row = a + i * kp;
            for (ptrdiff_t p = 0; p < kp; p++) {
                const ptrdiff_t at = p ^ 1; // the odd element of each pair first, as vdpbf16ps
                const float x = bf16_value(row[at]);
                for (int j = 0; j < 16; j++) {
                    const float prod = x * bf16_value(b[(at / 2) * 32 + 2 * j + (at & 1)]); // exact
                    s[j] = s[j] + prod;
                }
            }
            for (ptrdiff_t j = 0; j < cols; j++)
                c[i * ldc + col + j] = swk_lowp_finish(s[j], i, col + j, e, c + i * ldc + col + j);
        }
    }
}

#ifdef SWK_X86

// ---- AVX-512 BF16 --------------------------------------------------------------------------------

#define SWK_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))

#define BF_ROWS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define BF_ROWS4(X)  X(0) X(1) X(2) X(3)
// Rows past `mr` read row mr − 1 again (valid memory); their sums are never stored.
#define BF_A_ROW(i) const uint32_t *a##i = a + (i < mr ? i : mr - 1) * lda;
#define BF_Z2(i)    __m512 s##i##a = _mm512_setzero_ps(), s##i##b = _mm512_setzero_ps();
#define BF_F2(i)                                                                                                       \
    {                                                                                                                  \
        __m512bh x = (__m512bh)_mm512_set1_epi32((int)a##i[q]);                                                        \
        s##i##a = _mm512_dpbf16_ps(s##i##a, x, w0);                                                                    \
        s##i##b = _mm512_dpbf16_ps(s##i##b, x, w1);                                                                    \
    }
#define BF_O2(i) out[2 * i] = s##i##a, out[2 * i + 1] = s##i##b;
#define BF_Z1(i) __m512 s##i##a = _mm512_setzero_ps();
#define BF_F1(i) s##i##a = _mm512_dpbf16_ps(s##i##a, (__m512bh)_mm512_set1_epi32((int)a##i[q]), w0);
#define BF_O1(i) out[2 * i] = s##i##a;

#define BF_TILE2(NAME, ROWS)                                                                                           \
    SWK_BF16_TARGET __attribute__((noinline)) static void NAME(int mr, ptrdiff_t steps, const uint32_t *a,             \
                                                               ptrdiff_t lda, const uint16_t *b0, const uint16_t *b1,  \
                                                               __m512 *out) {                                          \
        ROWS(BF_A_ROW)                                                                                                 \
        ROWS(BF_Z2)                                                                                                    \
        for (ptrdiff_t q = 0; q < steps; q++) {                                                                        \
            __m512bh w0 = (__m512bh)_mm512_loadu_si512(b0 + 32 * q), w1 = (__m512bh)_mm512_loadu_si512(b1 + 32 * q);   \
            ROWS(BF_F2)                                                                                                \
        }                                                                                                              \
        ROWS(BF_O2)                                                                                                    \
    }
#define BF_TILE1(NAME, ROWS)                                                                                           \
    SWK_BF16_TARGET __attribute__((noinline)) static void NAME(int mr, ptrdiff_t steps, const uint32_t *a,             \
                                                               ptrdiff_t lda, const uint16_t *b0, __m512 *out) {       \
        ROWS(BF_A_ROW)                                                                                                 \
        ROWS(BF_Z1)                                                                                                    \
        for (ptrdiff_t q = 0; q < steps; q++) {                                                                        \
            __m512bh w0 = (__m512bh)_mm512_loadu_si512(b0 + 32 * q);                                                   \
            ROWS(BF_F1)                                                                                                \
        }                                                                                                              \
        ROWS(BF_O1)                                                                                                    \
    }

BF_TILE2(bf_tile12x2, BF_ROWS12)
BF_TILE2(bf_tile4x2, BF_ROWS4)
BF_TILE1(bf_tile12x1, BF_ROWS12)
BF_TILE1(bf_tile4x1, BF_ROWS4)

SWK_BF16_TARGET static void gemm_bf16(const uint16_t *a, ptrdiff_t m, ptrdiff_t k, const uint16_t *panels,
                                      ptrdiff_t col0, ptrdiff_t col1, const swk_lowp_epilogue *e, float *c,
                                      ptrdiff_t ldc) {
    const ptrdiff_t steps = (k + 1) / 2;
    __m512 s[24];
    const ptrdiff_t tiles = (m + 11) / 12;
    for (ptrdiff_t col = col0; col < col1; col += 32) {
        const ptrdiff_t cols = col1 - col < 32 ? col1 - col : 32;
        const int np = cols > 16 ? 2 : 1;
        const uint16_t *b0 = panels + (col / 16) * steps * 32, *b1 = b0 + steps * 32;
        // The next block's panels, a slice before each row tile (as in panel_gemm_q8.c's gemm_vnni).
        const char *next = (const char *)(b0 + 2 * steps * 32);
        const ptrdiff_t next_cols = col1 - col - 32 < 32 ? col1 - col - 32 : 32;
        const ptrdiff_t next_bytes = next_cols <= 0 ? 0 : (next_cols > 16 ? 2 : 1) * steps * 64;
        const ptrdiff_t slice = (next_bytes / 64 + tiles - 1) / tiles * 64;
        ptrdiff_t fetched = 0;
        for (ptrdiff_t i = 0; i < m;) {
            const ptrdiff_t rem = m - i;
            const int mr = rem > 8 ? (rem < 12 ? (int)rem : 12) : (rem < 4 ? (int)rem : 4);
            const uint32_t *ai = (const uint32_t *)(a + i * 2 * steps);
            for (const ptrdiff_t end = fetched + slice; fetched < end && fetched < next_bytes; fetched += 64)
                _mm_prefetch(next + fetched, _MM_HINT_T0);
            if (rem > 8) {
                if (np == 2)
                    bf_tile12x2(mr, steps, ai, steps, b0, b1, s);
                else
                    bf_tile12x1(mr, steps, ai, steps, b0, s);
            } else {
                if (np == 2)
                    bf_tile4x2(mr, steps, ai, steps, b0, b1, s);
                else
                    bf_tile4x1(mr, steps, ai, steps, b0, s);
            }
            swk_lowp_store_tile512(s, mr, np, i, col, cols, e, c, ldc);
            i += mr;
        }
    }
}

// ---- AVX2 (and AVX-512 without BF16): widened weights, FMA ---------------------------------------

// 4 rows × 16 columns: 8 accumulators, 4 widened weight vectors, the mask and two activations.
#define W_A_ROW(i) const uint32_t *a##i = a + (i < mr ? i : mr - 1) * lda;
#define W_Z(i)     __m256 s##i##a = _mm256_setzero_ps(), s##i##b = _mm256_setzero_ps();
#define W_F(i)                                                                                                         \
    {                                                                                                                  \
        const __m256i pair = _mm256_set1_epi32((int)a##i[q]);                                                          \
        const __m256 xe = _mm256_castsi256_ps(_mm256_slli_epi32(pair, 16));                                            \
        const __m256 xo = _mm256_castsi256_ps(_mm256_and_si256(pair, hi));                                             \
        s##i##a = _mm256_fmadd_ps(xo, wo0, s##i##a);                                                                   \
        s##i##b = _mm256_fmadd_ps(xo, wo1, s##i##b);                                                                   \
        s##i##a = _mm256_fmadd_ps(xe, we0, s##i##a);                                                                   \
        s##i##b = _mm256_fmadd_ps(xe, we1, s##i##b);                                                                   \
    }
#define W_O(i) out[2 * i] = s##i##a, out[2 * i + 1] = s##i##b;

SWK_AVX2 __attribute__((noinline)) static void widen_tile4(int mr, ptrdiff_t steps, const uint32_t *a, ptrdiff_t lda,
                                                           const uint16_t *b, __m256 *out) {
    BF_ROWS4(W_A_ROW)
    BF_ROWS4(W_Z)
    const __m256i hi = _mm256_set1_epi32((int)0xFFFF0000u);
    for (ptrdiff_t q = 0; q < steps; q++) {
        const __m256i v0 = _mm256_loadu_si256((const __m256i *)(b + 32 * q));
        const __m256i v1 = _mm256_loadu_si256((const __m256i *)(b + 32 * q + 16));
        const __m256 we0 = _mm256_castsi256_ps(_mm256_slli_epi32(v0, 16));
        const __m256 we1 = _mm256_castsi256_ps(_mm256_slli_epi32(v1, 16));
        const __m256 wo0 = _mm256_castsi256_ps(_mm256_and_si256(v0, hi));
        const __m256 wo1 = _mm256_castsi256_ps(_mm256_and_si256(v1, hi));
        BF_ROWS4(W_F)
    }
    BF_ROWS4(W_O)
}

SWK_AVX2 static void gemm_widen256(const uint16_t *a, ptrdiff_t m, ptrdiff_t k, const uint16_t *panels, ptrdiff_t col0,
                                   ptrdiff_t col1, const swk_lowp_epilogue *e, float *c, ptrdiff_t ldc) {
    const ptrdiff_t steps = (k + 1) / 2;
    __m256 s[8];
    for (ptrdiff_t col = col0; col < col1; col += 16) {
        const ptrdiff_t cols = col1 - col < 16 ? col1 - col : 16;
        const uint16_t *b = panels + (col / 16) * steps * 32;
        for (ptrdiff_t i = 0; i < m; i += 4) {
            const int mr = m - i < 4 ? (int)(m - i) : 4;
            widen_tile4(mr, steps, (const uint32_t *)(a + i * 2 * steps), steps, b, s);
            for (int r = 0; r < mr; r++)
                for (int h = 0; h < 2 && cols > 8 * h; h++)
                    swk_lowp_store256(s[2 * r + h], i + r, col + 8 * h, cols - 8 * h, e,
                                      c + (i + r) * ldc + col + 8 * h);
        }
    }
}

#endif // SWK_X86

#ifdef SWK_NEON

// ---- NEON: widened weights, FMA ------------------------------------------------------------------

// 4 rows × 16 columns: 16 accumulators and the step's 8 widened weight vectors.
#define N_A_ROW(i) const uint32_t *a##i = a + (i < mr ? i : mr - 1) * lda;
#define N_Z(i)     float32x4_t s##i##0 = vdupq_n_f32(0.0f), s##i##1 = s##i##0, s##i##2 = s##i##0, s##i##3 = s##i##0;
#define N_F(i)                                                                                                         \
    {                                                                                                                  \
        const uint32_t pair = a##i[q];                                                                                 \
        const uint32_t be = pair << 16, bo = pair & 0xFFFF0000u;                                                       \
        float xe, xo;                                                                                                  \
        memcpy(&xe, &be, 4);                                                                                           \
        memcpy(&xo, &bo, 4);                                                                                           \
        s##i##0 = vfmaq_n_f32(s##i##0, wo0, xo);                                                                       \
        s##i##1 = vfmaq_n_f32(s##i##1, wo1, xo);                                                                       \
        s##i##2 = vfmaq_n_f32(s##i##2, wo2, xo);                                                                       \
        s##i##3 = vfmaq_n_f32(s##i##3, wo3, xo);                                                                       \
        s##i##0 = vfmaq_n_f32(s##i##0, we0, xe);                                                                       \
        s##i##1 = vfmaq_n_f32(s##i##1, we1, xe);                                                                       \
        s##i##2 = vfmaq_n_f32(s##i##2, we2, xe);                                                                       \
        s##i##3 = vfmaq_n_f32(s##i##3, we3, xe);                                                                       \
    }
#define N_O(i) out[4 * i] = s##i##0, out[4 * i + 1] = s##i##1, out[4 * i + 2] = s##i##2, out[4 * i + 3] = s##i##3;
#define N_WIDEN(j)                                                                                                     \
    const uint32x4_t v##j = vld1q_u32((const uint32_t *)(b + 32 * q + 8 * j));                                         \
    const float32x4_t we##j = vreinterpretq_f32_u32(vshlq_n_u32(v##j, 16));                                            \
    const float32x4_t wo##j = vreinterpretq_f32_u32(vandq_u32(v##j, hi));

static void widen_tile_neon(int mr, ptrdiff_t steps, const uint32_t *a, ptrdiff_t lda, const uint16_t *b,
                            float32x4_t *out) {
    N_A_ROW(0)
    N_A_ROW(1) N_A_ROW(2) N_A_ROW(3) N_Z(0) N_Z(1) N_Z(2) N_Z(3) const uint32x4_t hi = vdupq_n_u32(0xFFFF0000u);
    for (ptrdiff_t q = 0; q < steps; q++) { N_WIDEN(0) N_WIDEN(1) N_WIDEN(2) N_WIDEN(3) N_F(0) N_F(1) N_F(2) N_F(3) }
    N_O(0) N_O(1) N_O(2) N_O(3)
}

static void gemm_neon(const uint16_t *a, ptrdiff_t m, ptrdiff_t k, const uint16_t *panels, ptrdiff_t col0,
                      ptrdiff_t col1, const swk_lowp_epilogue *e, float *c, ptrdiff_t ldc) {
    const ptrdiff_t steps = (k + 1) / 2;
    float32x4_t s[16];
    for (ptrdiff_t col = col0; col < col1; col += 16) {
        const ptrdiff_t cols = col1 - col < 16 ? col1 - col : 16;
        const uint16_t *b = panels + (col / 16) * steps * 32;
        for (ptrdiff_t i = 0; i < m; i += 4) {
            const int mr = m - i < 4 ? (int)(m - i) : 4;
            widen_tile_neon(mr, steps, (const uint32_t *)(a + i * 2 * steps), steps, b, s);
            for (int r = 0; r < mr; r++)
                for (int h = 0; h < 4 && cols > 4 * h; h++)
                    swk_lowp_store_neon(s[4 * r + h], i + r, col + 4 * h, cols - 4 * h, e,
                                        c + (i + r) * ldc + col + 4 * h);
        }
    }
}

#endif // SWK_NEON

void swk_panel_bf16_tiles(const uint16_t *a, ptrdiff_t m, ptrdiff_t k, const uint16_t *panels, ptrdiff_t col0,
                          ptrdiff_t col1, const swk_lowp_epilogue *e, float *c, ptrdiff_t ldc) {
    if (m <= 0 || col1 <= col0) return;
    const int level = swk_isa();
#ifdef SWK_X86
    if (level >= SWK_ISA_AVX512 && (swk_cpu_features() & SWK_CPU_AVX512_BF16))
        return gemm_bf16(a, m, k, panels, col0, col1, e, c, ldc);
    if (level >= SWK_ISA_AVX2) return gemm_widen256(a, m, k, panels, col0, col1, e, c, ldc);
#elif defined(SWK_NEON)
    if (level >= SWK_ISA_NEON) {
        gemm_neon(a, m, k, panels, col0, col1, e, c, ldc);
        return;
    }
#else
    (void)level;
#endif
    gemm_portable(a, m, k, panels, col0, col1, e, c, ldc);
}

void swk_panel_linear_bf16(const uint16_t *a, ptrdiff_t m, ptrdiff_t k, const uint16_t *panels, ptrdiff_t n,
                           ptrdiff_t col0, ptrdiff_t col1, const float *bias, int flags, float *c, ptrdiff_t ldc) {
    if (col1 > n) col1 = n;
    const swk_lowp_epilogue e = {NULL, NULL, bias, (flags & SWK_PANEL_ACCUMULATE) != 0, (flags & SWK_PANEL_GELU) != 0};
    swk_panel_bf16_tiles(a, m, k, panels, col0, col1, &e, c, ldc);
}
