// Several rows times a bfloat16 weight matrix (swk_gemm_bf16.h). The rows of X are rounded to
// bfloat16 once per call; W is read in place, 32 of its rows at a time, and packed by each thread
// into pairs of columns interleaved across those 32 rows (dword p of row j at pk[p · 32 + j]), so
// that one vector holds the same pair of k of 16 output columns. X's pair of k is broadcast:
// - AVX-512 BF16: VDPBF16PS multiplies the 16 (or 32) columns by it and adds both products to the
//   float32 lanes, 12 rows of X by 32 columns per tile (24 accumulators);
// - AVX2 and NEON: the pair is split into its two float32 values (odd element: the high half; even:
//   the low half shifted up) and added with two FMAs, odd first — the same roundings as VDPBF16PS,
//   4 rows by 16 columns per tile;
// - portable C: the same sums over W's rows directly.
#include "swk_gemm_bf16.h"

#include <stdint.h>
#include <string.h>

#include "simd_internal.h"

enum { NB = 32, MR_MAX = 12 };

static ptrdiff_t round_up(ptrdiff_t x, ptrdiff_t a) { return (x + a - 1) / a * a; }

/// Threads for n output columns of k multiply-adds per row of X: each part should have some 64 Ki
/// multiply-adds per row at least (as gemm_q8).
static inline int parts_for(swk_pool *pool, ptrdiff_t n, ptrdiff_t k) {
    const ptrdiff_t by_work = n * k / (64 * 1024);
    const int parts = swk_pool_threads(pool);
    return by_work < parts ? (by_work < 1 ? 1 : (int)by_work) : parts;
}

/// Bytes of X rounded to bfloat16 (rows padded to a whole tile, k to a whole pair) and of one
/// thread's packed block of weight rows, each rounded to 64.
static size_t x_bytes(ptrdiff_t m, ptrdiff_t k) {
    return (size_t)round_up(round_up(m, MR_MAX) * round_up(k, 2) * 2, 64);
}
static size_t pack_bytes(ptrdiff_t k) { return (size_t)round_up(NB * round_up(k, 2) * 2, 64); }

size_t swk_gemm_bf16_scratch(ptrdiff_t m, ptrdiff_t k, int parts) {
    if (m < 0 || k < 0) return 0;
    if (parts < 1) parts = 1;
    return x_bytes(m, k) + (size_t)parts * pack_bytes(k) + 64;
}

typedef struct {
    const uint32_t *xd; // [mpad, kp] pairs of bfloat16 (low half: the even element)
    ptrdiff_t m, mpad, kp, k;
    const uint8_t *w; // [n, k] bfloat16, any alignment
    ptrdiff_t n;
    const float *bias;
    float *y;
    ptrdiff_t ldy;
    uint8_t *packs; // one pack_bytes(k) block per part
    size_t pack_stride;
    int level;
} gemm_job_t;

/// float32 → bfloat16 bits, nearest even; NaN stays a (quiet) NaN.
SWK_INLINE uint16_t bf16_round(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    if ((b & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((b >> 16) | 0x40u);
    return (uint16_t)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
}

SWK_INLINE float bits_float(uint32_t b) {
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/// Rounds rows [0, m) of X to bfloat16 into `xq` ([mpad, 2·kp]); padding is zero.
static void round_rows(const float *x, ptrdiff_t ldx, ptrdiff_t m, ptrdiff_t k, ptrdiff_t mpad, ptrdiff_t kp,
                       uint16_t *xq) {
    const ptrdiff_t ld = 2 * kp;
    for (ptrdiff_t r = 0; r < mpad; r++) {
        uint16_t *q = xq + r * ld;
        ptrdiff_t c = 0;
        if (r < m) {
            const float *row = x + r * ldx;
            for (; c < k; c++) q[c] = bf16_round(row[c]);
        }
        for (; c < ld; c++) q[c] = 0;
    }
}

/// Packs weight rows [n0, n0 + nv) (nv ≤ NB) as pk[p · NB + j] = dword p of row n0 + j; rows past nv
/// and the odd k's missing element are zero.
static void pack_block(const gemm_job_t *j, ptrdiff_t n0, int nv, uint32_t *pk) {
    const ptrdiff_t K = j->k, kp = j->kp, full = K / 2;
    const uint8_t *rows[NB];
    for (int c = 0; c < NB; c++) rows[c] = c < nv ? j->w + (n0 + c) * K * 2 : NULL;
    for (ptrdiff_t p = 0; p < full; p++) {
        uint32_t *out = pk + p * NB;
        for (int c = 0; c < nv; c++) memcpy(&out[c], rows[c] + 4 * p, 4);
        for (int c = nv; c < NB; c++) out[c] = 0;
    }
    if (full < kp) {
        uint32_t *out = pk + full * NB;
        for (int c = 0; c < NB; c++) {
            uint16_t last = 0;
            if (c < nv) memcpy(&last, rows[c] + 2 * (K - 1), 2);
            out[c] = last;
        }
    }
}

/// Portable: output columns [c0, c1) of every row, over W's rows directly.
static void columns_portable(const gemm_job_t *j, ptrdiff_t c0, ptrdiff_t c1) {
    const ptrdiff_t K = j->k, kp = j->kp;
    for (ptrdiff_t r = 0; r < j->m; r++) {
        const uint32_t *xr = j->xd + r * kp;
        for (ptrdiff_t c = c0; c < c1; c++) {
            const uint8_t *wr = j->w + c * K * 2;
            float acc = 0.0f;
            for (ptrdiff_t p = 0; p < kp; p++) {
                uint32_t wd = 0;
                if (2 * p + 1 < K) {
                    memcpy(&wd, wr + 4 * p, 4);
                } else {
                    uint16_t last;
                    memcpy(&last, wr + 4 * p, 2);
                    wd = last;
                }
                const uint32_t xv = xr[p];
                acc += bits_float(xv & 0xFFFF0000u) * bits_float(wd & 0xFFFF0000u);
                acc += bits_float(xv << 16) * bits_float(wd << 16);
            }
            j->y[r * j->ldy + c] = acc + (j->bias ? j->bias[c] : 0.0f);
        }
    }
}

#ifdef SWK_X86

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma")))

int swk_gemm_bf16_native(void) { return (swk_cpu_features() & SWK_CPU_AVX512_BF16) && swk_isa() >= SWK_ISA_AVX512; }

// The 12 × 32 tile: 24 float32 accumulators named one by one (an array of them may be spilled).
#define BF_ZERO(r) __m512 a##r##0 = _mm512_setzero_ps(), a##r##1 = a##r##0;
#define BF_STEP(r)                                                                                                     \
    xb = _mm512_set1_epi32((int)x[(r)*kp + p]);                                                                        \
    a##r##0 = _mm512_dpbf16_ps(a##r##0, (__m512bh)w0, (__m512bh)xb);                                                   \
    a##r##1 = _mm512_dpbf16_ps(a##r##1, (__m512bh)w1, (__m512bh)xb);
#define BF_STORE(r)                                                                                                    \
    if (m0 + (r) < j->m) {                                                                                             \
        float *yr = j->y + (m0 + (r)) * j->ldy + n0;                                                                   \
        _mm512_mask_storeu_ps(yr, mask0, _mm512_add_ps(a##r##0, b0));                                                  \
        _mm512_mask_storeu_ps(yr + 16, mask1, _mm512_add_ps(a##r##1, b1));                                             \
    }

/// Output columns [n0, n0 + nv) of every row from their packed block, VDPBF16PS.
BF16_TARGET static void block_avx512bf16(const gemm_job_t *j, const uint32_t *pk, ptrdiff_t n0, int nv) {
    const ptrdiff_t kp = j->kp;
    const __mmask16 mask0 = nv >= 16 ? 0xFFFF : (__mmask16)((1u << nv) - 1);
    const __mmask16 mask1 = nv >= 32 ? 0xFFFF : nv <= 16 ? 0 : (__mmask16)((1u << (nv - 16)) - 1);
    const __m512 b0 = j->bias ? _mm512_maskz_loadu_ps(mask0, j->bias + n0) : _mm512_setzero_ps();
    const __m512 b1 = j->bias ? _mm512_maskz_loadu_ps(mask1, j->bias + n0 + 16) : _mm512_setzero_ps();
    // clang-format off
    for (ptrdiff_t m0 = 0; m0 < j->m; m0 += 12) {
        const uint32_t *x = j->xd + m0 * kp;
        BF_ZERO(0) BF_ZERO(1) BF_ZERO(2) BF_ZERO(3) BF_ZERO(4) BF_ZERO(5)
        BF_ZERO(6) BF_ZERO(7) BF_ZERO(8) BF_ZERO(9) BF_ZERO(10) BF_ZERO(11)
        __m512i w0, w1, xb;
        for (ptrdiff_t p = 0; p < kp; p++) {
            w0 = _mm512_load_si512((const void *)(pk + p * NB));
            w1 = _mm512_load_si512((const void *)(pk + p * NB + 16));
            BF_STEP(0) BF_STEP(1) BF_STEP(2) BF_STEP(3) BF_STEP(4) BF_STEP(5)
            BF_STEP(6) BF_STEP(7) BF_STEP(8) BF_STEP(9) BF_STEP(10) BF_STEP(11)
        }
        BF_STORE(0) BF_STORE(1) BF_STORE(2) BF_STORE(3) BF_STORE(4) BF_STORE(5)
        BF_STORE(6) BF_STORE(7) BF_STORE(8) BF_STORE(9) BF_STORE(10) BF_STORE(11)
    }
    // clang-format on
}

/// AVX2: output columns [n0 + h, n0 + h + 16) ∩ [n0, n0 + nv) of every row, two FMAs per pair.
SWK_AVX2 static void half_avx2(const gemm_job_t *j, const uint32_t *pk, ptrdiff_t n0, int h, int nv) {
    const ptrdiff_t kp = j->kp;
    const __m256i hi = _mm256_set1_epi32((int)0xFFFF0000u);
    const int cols = nv - h < 16 ? nv - h : 16;
    float b[16] = {0};
    for (int c = 0; c < cols; c++) b[c] = j->bias ? j->bias[n0 + h + c] : 0.0f;
    for (ptrdiff_t m0 = 0; m0 < j->m; m0 += 4) {
        const uint32_t *x = j->xd + m0 * kp;
        __m256 acc[4][2];
        for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
        for (ptrdiff_t p = 0; p < kp; p++) {
            const __m256i u0 = _mm256_load_si256((const __m256i *)(pk + p * NB + h));
            const __m256i u1 = _mm256_load_si256((const __m256i *)(pk + p * NB + h + 8));
            const __m256 o0 = _mm256_castsi256_ps(_mm256_and_si256(u0, hi));
            const __m256 e0 = _mm256_castsi256_ps(_mm256_slli_epi32(u0, 16));
            const __m256 o1 = _mm256_castsi256_ps(_mm256_and_si256(u1, hi));
            const __m256 e1 = _mm256_castsi256_ps(_mm256_slli_epi32(u1, 16));
            for (int r = 0; r < 4; r++) {
                const uint32_t xv = x[r * kp + p];
                const __m256 xo = _mm256_set1_ps(bits_float(xv & 0xFFFF0000u));
                const __m256 xe = _mm256_set1_ps(bits_float(xv << 16));
                acc[r][0] = _mm256_fmadd_ps(o0, xo, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(o1, xo, acc[r][1]);
                acc[r][0] = _mm256_fmadd_ps(e0, xe, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(e1, xe, acc[r][1]);
            }
        }
        for (int r = 0; r < 4 && m0 + r < j->m; r++) {
            float out[16];
            _mm256_storeu_ps(out, _mm256_add_ps(acc[r][0], _mm256_loadu_ps(b)));
            _mm256_storeu_ps(out + 8, _mm256_add_ps(acc[r][1], _mm256_loadu_ps(b + 8)));
            memcpy(j->y + (m0 + r) * j->ldy + n0 + h, out, (size_t)cols * 4);
        }
    }
}

/// Rounds rows of X to bfloat16 (as `bf16_round`), 16 at a time.
SWK_AVX512 static void round_rows_avx512(const float *x, ptrdiff_t ldx, ptrdiff_t m, ptrdiff_t k, ptrdiff_t mpad,
                                         ptrdiff_t kp, uint16_t *xq) {
    const ptrdiff_t ld = 2 * kp;
    const __m512i bias = _mm512_set1_epi32(0x7FFF), one = _mm512_set1_epi32(1), absmask = _mm512_set1_epi32(0x7FFFFFFF);
    const __m512i inf = _mm512_set1_epi32(0x7F800000), quiet = _mm512_set1_epi32(0x40);
    for (ptrdiff_t r = 0; r < m; r++) {
        const float *row = x + r * ldx;
        uint16_t *q = xq + r * ld;
        ptrdiff_t c = 0;
        for (; c + 16 <= k; c += 16) {
            const __m512i b = _mm512_castps_si512(_mm512_loadu_ps(row + c));
            const __m512i hi = _mm512_srli_epi32(b, 16);
            __m512i v = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, bias), _mm512_and_si512(hi, one)), 16);
            const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(b, absmask), inf);
            v = _mm512_mask_or_epi32(v, nan, hi, quiet);
            _mm256_storeu_si256((__m256i *)(q + c), _mm512_cvtepi32_epi16(v));
        }
        for (; c < k; c++) q[c] = bf16_round(row[c]);
        for (; c < ld; c++) q[c] = 0;
    }
    if (mpad > m) memset(xq + m * ld, 0, (size_t)((mpad - m) * ld) * 2);
}

static void run_block(const gemm_job_t *j, uint32_t *pk, ptrdiff_t n0, int nv) {
    pack_block(j, n0, nv, pk);
    if (j->level == 2) {
        block_avx512bf16(j, pk, n0, nv);
    } else {
        half_avx2(j, pk, n0, 0, nv);
        if (nv > 16) half_avx2(j, pk, n0, 16, nv);
    }
}

#elif defined(SWK_NEON)

int swk_gemm_bf16_native(void) { return 0; }

/// NEON: output columns [n0 + h, n0 + h + 16) ∩ [n0, n0 + nv) of every row, two FMAs per pair.
static void half_neon(const gemm_job_t *j, const uint32_t *pk, ptrdiff_t n0, int h, int nv) {
    const ptrdiff_t kp = j->kp;
    const uint32x4_t hi = vdupq_n_u32(0xFFFF0000u);
    const int cols = nv - h < 16 ? nv - h : 16;
    float b[16] = {0};
    for (int c = 0; c < cols; c++) b[c] = j->bias ? j->bias[n0 + h + c] : 0.0f;
    for (ptrdiff_t m0 = 0; m0 < j->m; m0 += 4) {
        const uint32_t *x = j->xd + m0 * kp;
        float32x4_t acc[4][4];
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) acc[r][c] = vdupq_n_f32(0.0f);
        for (ptrdiff_t p = 0; p < kp; p++) {
            float32x4_t o[4], e[4];
            for (int c = 0; c < 4; c++) {
                const uint32x4_t u = vld1q_u32(pk + p * NB + h + 4 * c);
                o[c] = vreinterpretq_f32_u32(vandq_u32(u, hi));
                e[c] = vreinterpretq_f32_u32(vshlq_n_u32(u, 16));
            }
            for (int r = 0; r < 4; r++) {
                const uint32_t xv = x[r * kp + p];
                const float32x4_t xo = vdupq_n_f32(bits_float(xv & 0xFFFF0000u));
                const float32x4_t xe = vdupq_n_f32(bits_float(xv << 16));
                for (int c = 0; c < 4; c++) acc[r][c] = vfmaq_f32(acc[r][c], o[c], xo);
                for (int c = 0; c < 4; c++) acc[r][c] = vfmaq_f32(acc[r][c], e[c], xe);
            }
        }
        for (int r = 0; r < 4 && m0 + r < j->m; r++) {
            float out[16];
            for (int c = 0; c < 4; c++) vst1q_f32(out + 4 * c, vaddq_f32(acc[r][c], vld1q_f32(b + 4 * c)));
            memcpy(j->y + (m0 + r) * j->ldy + n0 + h, out, (size_t)cols * 4);
        }
    }
}

static void run_block(const gemm_job_t *j, uint32_t *pk, ptrdiff_t n0, int nv) {
    pack_block(j, n0, nv, pk);
    half_neon(j, pk, n0, 0, nv);
    if (nv > 16) half_neon(j, pk, n0, 16, nv);
}

#else

int swk_gemm_bf16_native(void) { return 0; }

static void run_block(const gemm_job_t *j, uint32_t *pk, ptrdiff_t n0, int nv) {
    (void)pk;
    columns_portable(j, n0, n0 + nv);
}

#endif

static void gemm_part(void *context, int index, int count) {
    const gemm_job_t *j = context;
    const ptrdiff_t blocks = (j->n + NB - 1) / NB;
    const ptrdiff_t g0 = blocks * index / count, g1 = blocks * (index + 1) / count;
    if (j->level == SWK_ISA_PORTABLE) {
        const ptrdiff_t c1 = g1 * NB < j->n ? g1 * NB : j->n;
        columns_portable(j, g0 * NB, c1);
        return;
    }
    uint32_t *pk = (uint32_t *)(void *)(j->packs + (size_t)index * j->pack_stride);
    for (ptrdiff_t g = g0; g < g1; g++) {
        const ptrdiff_t n0 = g * NB;
        run_block(j, pk, n0, (int)(j->n - n0 < NB ? j->n - n0 : NB));
    }
}

int swk_gemm_bf16(const float *x, ptrdiff_t ldx, ptrdiff_t m, const void *weights, ptrdiff_t n, ptrdiff_t k,
                  const float *bias, float *y, ptrdiff_t ldy, void *scratch, size_t scratch_bytes, swk_pool *pool) {
    if (m < 0 || n < 0 || k < 0 || ldx < k || ldy < n) return -1;
    if (m == 0 || n == 0) return 0;
    if (!scratch || scratch_bytes < swk_gemm_bf16_scratch(m, k, 1)) return -1;
    const ptrdiff_t kp = (k + 1) / 2, mpad = round_up(m, MR_MAX);
    uint8_t *base = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    uint16_t *xq = (uint16_t *)(void *)base;
    int level = swk_isa();
#ifdef SWK_X86
    // 2: VDPBF16PS; 1: AVX2 FMAs; 0: portable.
    level = swk_gemm_bf16_native() ? 2 : level >= SWK_ISA_AVX2 ? 1 : SWK_ISA_PORTABLE;
    if (level == 2)
        round_rows_avx512(x, ldx, m, k, mpad, kp, xq);
    else
        round_rows(x, ldx, m, k, mpad, kp, xq);
#else
    level = level >= SWK_ISA_NEON ? SWK_ISA_NEON : SWK_ISA_PORTABLE;
    round_rows(x, ldx, m, k, mpad, kp, xq);
#endif
    int parts = parts_for(pool, n, k);
    const size_t room = (scratch_bytes - x_bytes(m, k) - 64) / pack_bytes(k);
    if ((size_t)parts > room) parts = (int)room;
    if (parts < 1) parts = 1;
    gemm_job_t job = {(const uint32_t *)(const void *)xq,
                      m,
                      mpad,
                      kp,
                      k,
                      weights,
                      n,
                      bias,
                      y,
                      ldy,
                      base + x_bytes(m, k),
                      pack_bytes(k),
                      level};
    if (parts == 1)
        gemm_part(&job, 0, 1);
    else
        swk_pool_run(pool, parts, gemm_part, &job);
    return 0;
}
