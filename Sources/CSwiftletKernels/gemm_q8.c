// Several rows times an int8 (q8_row) weight matrix with AVX-512 VNNI: the activations are rounded
// to int16 with one scale per row, and VPDPWSSD accumulates pairs of int16 products into int32 lanes
// — twice the multiply-adds per instruction of float32 FMA. The weights are read in place, as
// stored (no packing): each product is a dot product along the rows of X and W, 6 rows of X by 4
// rows of W per tile. On AArch64 the same int16 activations meet the int8 weights in NEON
// (SMLAL, int16 × int16 into int32) or, with the dot product, in SDOT (see the NEON section).
#include "swk_compact.h"
#include "swk_cpu.h"

#include <stdint.h>
#include <string.h>

#include "work_split_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GEMM_X86 1
#elif defined(__aarch64__)
#include "simd_internal.h" // SWK_NEON (little-endian AArch64), SWK_DOTPROD
#endif

#ifdef SWK_NEON
enum { MR = 3, NR = 4, KSTEP = 16, MAX_K = 8192 };
#else
enum { MR = 6, NR = 4, KSTEP = 32, MAX_K = 8192 };
#endif

static ptrdiff_t round_up(ptrdiff_t x, ptrdiff_t a) { return (x + a - 1) / a * a; }

size_t swk_gemm_q8_scratch(ptrdiff_t m, ptrdiff_t k) {
    if (m < 0 || k < 0) return 0;
    return (size_t)round_up(m, MR) * (size_t)round_up(k, KSTEP) * 2 + (size_t)round_up(m, MR) * 4 + 64;
}

#ifdef GEMM_X86

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))

int swk_gemm_q8_supported(void) { return (swk_cpu_features() & SWK_CPU_AVX512_VNNI) && swk_isa() >= SWK_ISA_AVX512; }

typedef struct {
    const int16_t *xq; // [mpad, kpad] int16, rows zero-padded
    const float *sx;   // [mpad] row scales
    ptrdiff_t m, mpad, kpad, k;
    const int8_t *w;       // [n, k]
    const uint8_t *scales; // [n] float32, any alignment
    ptrdiff_t n;
    const float *bias;
    float *y;
    ptrdiff_t ldy;
} gemm_job_t;

/// 32 int8 weights from `p` as int16 lanes; `tail` < 32 loads only that many (zeros after).
VNNI_TARGET __attribute__((always_inline)) static inline __m512i load_w(const int8_t *p, int tail) {
    __m256i b = tail == KSTEP ? _mm256_loadu_si256((const __m256i *)p)
                              : _mm256_maskz_loadu_epi8((__mmask32)((1ull << tail) - 1), p);
    return _mm512_cvtepi8_epi16(b);
}

/// The sum of the 16 int32 lanes, in int64: each lane stays within int32 for k ≤ MAX_K (512 products
/// of at most 32767 · 128), but their total may not.
VNNI_TARGET static inline int64_t hsum_lanes(__m512i v) {
    const __m512i lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(v));
    const __m512i hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1));
    return _mm512_reduce_add_epi64(_mm512_add_epi64(lo, hi));
}

/// acc += pairwise int16 products of a and b (VPDPWSSD). Written as assembly because the compiler's
/// generic tuning splits the intrinsic into VPMADDWD + VPADDD, which halves the throughput.
VNNI_TARGET __attribute__((always_inline)) static inline __m512i dpwssd(__m512i acc, __m512i a, __m512i b) {
    __asm__("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}

// The 6 × 4 tile: 24 int32 accumulators, 4 weight vectors and one x vector stay in registers. The
// accumulators are named one by one (an array of them is spilled to the stack by the compiler).
#define ROW_STEP(r)                                                                                                    \
    xv = _mm512_loadu_si512((const void *)(x + (r)*ld + k));                                                           \
    a##r##0 = dpwssd(a##r##0, xv, w0);                                                                                 \
    a##r##1 = dpwssd(a##r##1, xv, w1);                                                                                 \
    a##r##2 = dpwssd(a##r##2, xv, w2);                                                                                 \
    a##r##3 = dpwssd(a##r##3, xv, w3);
#define ZERO_ROW(r) __m512i a##r##0 = _mm512_setzero_si512(), a##r##1 = a##r##0, a##r##2 = a##r##0, a##r##3 = a##r##0;
#define STORE_ROW(r)                                                                                                   \
    if (m0 + (r) < j->m) {                                                                                             \
        float *yr = j->y + (m0 + (r)) * j->ldy + n0;                                                                   \
        const float s = j->sx[m0 + (r)];                                                                               \
        yr[0] = (float)hsum_lanes(a##r##0) * s * sw[0] + b[0];                                                         \
        yr[1] = (float)hsum_lanes(a##r##1) * s * sw[1] + b[1];                                                         \
        yr[2] = (float)hsum_lanes(a##r##2) * s * sw[2] + b[2];                                                         \
        yr[3] = (float)hsum_lanes(a##r##3) * s * sw[3] + b[3];                                                         \
    }

/// Output columns [n0, n0 + 4) for every row of X, one MR-row tile at a time.
VNNI_TARGET static void gemm_tile4(const gemm_job_t *j, ptrdiff_t n0) {
    const ptrdiff_t K = j->k, kfull = K / KSTEP * KSTEP, ld = j->kpad;
    const int tail = (int)(K - kfull);
    const int8_t *w0p = j->w + n0 * K, *w1p = w0p + K, *w2p = w1p + K, *w3p = w2p + K;
    float sw[NR], b[NR];
    for (int c = 0; c < NR; c++) {
        memcpy(&sw[c], j->scales + 4 * (n0 + c), 4);
        b[c] = j->bias ? j->bias[n0 + c] : 0.0f;
    }
    for (ptrdiff_t m0 = 0; m0 < j->m; m0 += MR) {
        const int16_t *x = j->xq + m0 * ld;
        ZERO_ROW(0) ZERO_ROW(1) ZERO_ROW(2) ZERO_ROW(3) ZERO_ROW(4) ZERO_ROW(5) __m512i xv, w0, w1, w2, w3;
        ptrdiff_t k = 0;
        for (; k < kfull; k += KSTEP) {
            w0 = load_w(w0p + k, KSTEP);
            w1 = load_w(w1p + k, KSTEP);
            w2 = load_w(w2p + k, KSTEP);
            w3 = load_w(w3p + k, KSTEP);
            ROW_STEP(0) ROW_STEP(1) ROW_STEP(2) ROW_STEP(3) ROW_STEP(4) ROW_STEP(5)
        }
        if (tail) {
            // X is zero-padded to a whole step; W is loaded under a mask (the matrix may end here).
            w0 = load_w(w0p + k, tail);
            w1 = load_w(w1p + k, tail);
            w2 = load_w(w2p + k, tail);
            w3 = load_w(w3p + k, tail);
            ROW_STEP(0) ROW_STEP(1) ROW_STEP(2) ROW_STEP(3) ROW_STEP(4) ROW_STEP(5)
        }
        STORE_ROW(0) STORE_ROW(1) STORE_ROW(2) STORE_ROW(3) STORE_ROW(4) STORE_ROW(5)
    }
}

/// One output column (the last n mod 4 of them).
VNNI_TARGET static void gemm_column(const gemm_job_t *j, ptrdiff_t n) {
    const ptrdiff_t K = j->k, kfull = K / KSTEP * KSTEP, ld = j->kpad;
    const int tail = (int)(K - kfull);
    const int8_t *wp = j->w + n * K;
    float sw;
    memcpy(&sw, j->scales + 4 * n, 4);
    const float b = j->bias ? j->bias[n] : 0.0f;
    for (ptrdiff_t m0 = 0; m0 < j->m; m0 += MR) {
        const int16_t *x = j->xq + m0 * ld;
        __m512i acc[MR];
        for (int r = 0; r < MR; r++) acc[r] = _mm512_setzero_si512();
        for (ptrdiff_t k = 0; k < K; k += KSTEP) {
            __m512i wv = load_w(wp + k, k < kfull ? KSTEP : tail);
            for (int r = 0; r < MR; r++)
                acc[r] = dpwssd(acc[r], _mm512_loadu_si512((const void *)(x + r * ld + k)), wv);
        }
        for (int r = 0; r < MR && m0 + r < j->m; r++)
            j->y[(m0 + r) * j->ldy + n] = (float)hsum_lanes(acc[r]) * j->sx[m0 + r] * sw + b;
    }
}

static void gemm_part(void *context, int index, int count) {
    const gemm_job_t *j = context;
    // Whole groups of NR output rows per part.
    ptrdiff_t groups = (j->n + NR - 1) / NR;
    ptrdiff_t g0 = groups * index / count, g1 = groups * (index + 1) / count;
    for (ptrdiff_t g = g0; g < g1; g++) {
        ptrdiff_t n0 = g * NR;
        if (n0 + NR <= j->n) {
            gemm_tile4(j, n0);
        } else {
            for (ptrdiff_t n = n0; n < j->n; n++) gemm_column(j, n);
        }
    }
}

/// Rounds each row of X to int16 with scale max|x| / 32767; padding rows and columns become 0.
VNNI_TARGET static void quantize_rows(const float *x, ptrdiff_t ldx, ptrdiff_t m, ptrdiff_t k, ptrdiff_t mpad,
                                      ptrdiff_t kpad, int16_t *xq, float *sx) {
    for (ptrdiff_t r = 0; r < mpad; r++) {
        int16_t *q = xq + r * kpad;
        if (r >= m) {
            memset(q, 0, (size_t)kpad * 2);
            sx[r] = 0;
            continue;
        }
        const float *row = x + r * ldx;
        __m512 mx = _mm512_setzero_ps();
        ptrdiff_t c = 0;
        for (; c + 16 <= k; c += 16) mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(row + c)));
        float amax = _mm512_reduce_max_ps(mx);
        for (; c < k; c++) amax = amax > __builtin_fabsf(row[c]) ? amax : __builtin_fabsf(row[c]);
        float scale = amax / 32767.0f;
        float inv = amax > 0 ? 32767.0f / amax : 0.0f;
        sx[r] = scale;
        __m512 iv = _mm512_set1_ps(inv);
        for (c = 0; c + 16 <= k; c += 16) {
            __m512i i32 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(row + c), iv)); // round to nearest
            _mm256_storeu_si256((__m256i *)(q + c), _mm512_cvtsepi32_epi16(i32));
        }
        for (; c < k; c++) {
            float v = __builtin_nearbyintf(row[c] * inv);
            q[c] = (int16_t)(v > 32767.0f ? 32767 : v < -32767.0f ? -32767 : v);
        }
        for (; c < kpad; c++) q[c] = 0;
    }
}

int swk_gemm_q8(const float *x, ptrdiff_t ldx, ptrdiff_t m, const void *weights, const void *scales, ptrdiff_t n,
                ptrdiff_t k, const float *bias, float *y, ptrdiff_t ldy, void *scratch, size_t scratch_bytes,
                swk_pool *pool) {
    if (m < 0 || n < 0 || k < 0 || ldx < k || ldy < n) return -1;
    if (!swk_gemm_q8_supported() || k > MAX_K) return -2;
    if (m == 0 || n == 0) return 0;
    if (scratch_bytes < swk_gemm_q8_scratch(m, k)) return -1;
    const ptrdiff_t mpad = round_up(m, MR), kpad = round_up(k, KSTEP);
    uintptr_t base = ((uintptr_t)scratch + 63) & ~(uintptr_t)63;
    int16_t *xq = (int16_t *)base;
    float *sx = (float *)(xq + mpad * kpad);
    quantize_rows(x, ldx, m, k, mpad, kpad, xq, sx);
    gemm_job_t job = {xq, sx, m, mpad, kpad, k, weights, scales, n, bias, y, ldy};
    const int parts = swk_useful_parts(swk_pool_threads(pool), n * k);
    if (parts == 1)
        gemm_part(&job, 0, 1);
    else
        swk_pool_run(pool, parts, gemm_part, &job);
    return 0;
}

#elif defined(SWK_NEON)

// ---- NEON ----------------------------------------------------------------------------------------
//
// X is rounded to int16 as on x86 (q = round(x · 32767 / max|x|) per row), and every sum is exact:
// - NEON: W widened to int16, SMLAL/SMLAL2 accumulate int16 × int16 products into int32 lanes, moved
//   into int64 every KBLOCK columns (a lane then holds at most 256 products of |q| ≤ 32767 and
//   |w| ≤ 128, below 2^31).
// - NEON with the dot product: SDOT multiplies int8 by int8 only, so q is split into two bytes,
//   q = 256·h + (l + 128) with h = q >> 8 and l = (q & 255) − 128, both in [−128, 127]:
//   Σ q·w = 256·Σ h·w + Σ l·w + 128·Σ w — two SDOTs per 16 columns and a column sum of W per tile.
//   Each of the three sums stays below 2^31 for k ≤ MAX_K; they are combined in int64.
// Both paths give the same int64 sum, so the same float32 result. Tiles are MR = 3 rows of X by NR = 4
// rows of W (24 accumulators with the dot product).

enum { KBLOCK = 1024 };

int swk_gemm_q8_supported(void) { return swk_isa() >= SWK_ISA_NEON; }

typedef struct {
    const uint8_t *xq; // row r at xq + r · 2·kpad bytes: kpad int16, or kpad high bytes then kpad low bytes
    const float *sx;   // [mpad] row scales
    ptrdiff_t m, kpad, k;
    const int8_t *w;       // [n, k]
    const uint8_t *scales; // [n] float32, any alignment
    ptrdiff_t n;
    const float *bias;
    float *y;
    ptrdiff_t ldy;
    int dotprod;
} gemm_job_t;

/// Stores row r of the tile: y = Σ · sx · sw + b.
static inline void store_q8(const gemm_job_t *j, ptrdiff_t row, ptrdiff_t n0, int nr, const int64_t *sums,
                            const float *sw, const float *b) {
    float *yr = j->y + row * j->ldy + n0;
    const float s = j->sx[row];
    for (int c = 0; c < nr; c++) yr[c] = (float)sums[c] * s * sw[c] + b[c];
}

static inline void column_params(const gemm_job_t *j, ptrdiff_t n0, int nr, float *sw, float *b) {
    for (int c = 0; c < nr; c++) {
        memcpy(&sw[c], j->scales + 4 * (n0 + c), 4);
        b[c] = j->bias ? j->bias[n0 + c] : 0.0f;
    }
}

/// Output columns [n0, n0 + nr) for every row of X (nr = NR, or 1 for the last n mod NR), SMLAL.
SWK_INLINE void tile_neon(const gemm_job_t *j, ptrdiff_t n0, const int nr) {
    const ptrdiff_t K = j->k, kfull = K / 8 * 8, ld = j->kpad;
    const int tail = (int)(K - kfull);
    const int8_t *wp[NR];
    float sw[NR], b[NR];
    for (int c = 0; c < nr; c++) wp[c] = j->w + (n0 + c) * K;
    column_params(j, n0, nr, sw, b);
    for (ptrdiff_t m0 = 0; m0 < j->m; m0 += MR) {
        const int16_t *x = (const int16_t *)(const void *)(j->xq + m0 * 2 * ld);
        int64x2_t total[MR][NR];
        int32x4_t acc[MR][NR];
        for (int r = 0; r < MR; r++)
            for (int c = 0; c < nr; c++) total[r][c] = vdupq_n_s64(0), acc[r][c] = vdupq_n_s32(0);
        for (ptrdiff_t k0 = 0; k0 < K; k0 += KBLOCK) {
            const ptrdiff_t k1 = k0 + KBLOCK < kfull ? k0 + KBLOCK : kfull;
            for (ptrdiff_t k = k0; k < k1; k += 8) {
                int16x8_t wv[NR];
                for (int c = 0; c < nr; c++) wv[c] = vmovl_s8(vld1_s8(wp[c] + k));
                for (int r = 0; r < MR; r++) {
                    const int16x8_t xv = vld1q_s16(x + r * ld + k);
                    for (int c = 0; c < nr; c++) {
                        acc[r][c] = vmlal_s16(acc[r][c], vget_low_s16(xv), vget_low_s16(wv[c]));
                        acc[r][c] = vmlal_high_s16(acc[r][c], xv, wv[c]);
                    }
                }
            }
            if (tail && k1 == kfull && k0 + KBLOCK >= K) {
                // X is zero-padded to kpad; W may end here, so its last columns go through a buffer.
                int16x8_t wv[NR];
                for (int c = 0; c < nr; c++) {
                    int8_t buf[8] = {0};
                    memcpy(buf, wp[c] + kfull, (size_t)tail);
                    wv[c] = vmovl_s8(vld1_s8(buf));
                }
                for (int r = 0; r < MR; r++) {
                    const int16x8_t xv = vld1q_s16(x + r * ld + kfull);
                    for (int c = 0; c < nr; c++) {
                        acc[r][c] = vmlal_s16(acc[r][c], vget_low_s16(xv), vget_low_s16(wv[c]));
                        acc[r][c] = vmlal_high_s16(acc[r][c], xv, wv[c]);
                    }
                }
            }
            for (int r = 0; r < MR; r++)
                for (int c = 0; c < nr; c++) {
                    total[r][c] = vpadalq_s32(total[r][c], acc[r][c]);
                    acc[r][c] = vdupq_n_s32(0);
                }
        }
        for (int r = 0; r < MR && m0 + r < j->m; r++) {
            int64_t sums[NR];
            for (int c = 0; c < nr; c++) sums[c] = vaddvq_s64(total[r][c]);
            store_q8(j, m0 + r, n0, nr, sums, sw, b);
        }
    }
}

/// The same with SDOT on the split bytes of X.
SWK_DOTPROD SWK_INLINE void tile_dotprod(const gemm_job_t *j, ptrdiff_t n0, const int nr) {
    const ptrdiff_t K = j->k, kfull = K / KSTEP * KSTEP, ld = j->kpad;
    const int tail = (int)(K - kfull);
    const int8_t *wp[NR];
    float sw[NR], b[NR];
    int64_t wsum[NR];
    for (int c = 0; c < nr; c++) wp[c] = j->w + (n0 + c) * K;
    column_params(j, n0, nr, sw, b);
    int8x16_t wtail[NR];
    const int8x16_t ones = vdupq_n_s8(1);
    for (int c = 0; c < nr; c++) {
        int8_t buf[KSTEP] = {0};
        memcpy(buf, wp[c] + kfull, (size_t)tail);
        wtail[c] = vld1q_s8(buf);
        int32x4_t t = vdotq_s32(vdupq_n_s32(0), wtail[c], ones);
        for (ptrdiff_t k = 0; k < kfull; k += KSTEP) t = vdotq_s32(t, vld1q_s8(wp[c] + k), ones);
        wsum[c] = vaddvq_s32(t);
    }
    for (ptrdiff_t m0 = 0; m0 < j->m; m0 += MR) {
        const int8_t *x = (const int8_t *)(j->xq + m0 * 2 * ld);
        int32x4_t hi[MR][NR], lo[MR][NR];
        for (int r = 0; r < MR; r++)
            for (int c = 0; c < nr; c++) hi[r][c] = lo[r][c] = vdupq_n_s32(0);
        for (ptrdiff_t k = 0; k < K; k += KSTEP) {
            int8x16_t wv[NR];
            for (int c = 0; c < nr; c++) wv[c] = k < kfull ? vld1q_s8(wp[c] + k) : wtail[c];
            for (int r = 0; r < MR; r++) {
                const int8x16_t xh = vld1q_s8(x + r * 2 * ld + k), xl = vld1q_s8(x + r * 2 * ld + ld + k);
                for (int c = 0; c < nr; c++) {
                    hi[r][c] = vdotq_s32(hi[r][c], xh, wv[c]);
                    lo[r][c] = vdotq_s32(lo[r][c], xl, wv[c]);
                }
            }
        }
        for (int r = 0; r < MR && m0 + r < j->m; r++) {
            int64_t sums[NR];
            for (int c = 0; c < nr; c++)
                sums[c] = 256 * (int64_t)vaddvq_s32(hi[r][c]) + (int64_t)vaddvq_s32(lo[r][c]) + 128 * wsum[c];
            store_q8(j, m0 + r, n0, nr, sums, sw, b);
        }
    }
}

static void columns_neon(const gemm_job_t *j, ptrdiff_t n0) {
    if (n0 + NR <= j->n) {
        tile_neon(j, n0, NR);
    } else {
        for (ptrdiff_t n = n0; n < j->n; n++) tile_neon(j, n, 1);
    }
}

SWK_DOTPROD static void columns_dotprod(const gemm_job_t *j, ptrdiff_t n0) {
    if (n0 + NR <= j->n) {
        tile_dotprod(j, n0, NR);
    } else {
        for (ptrdiff_t n = n0; n < j->n; n++) tile_dotprod(j, n, 1);
    }
}

static void gemm_part(void *context, int index, int count) {
    const gemm_job_t *j = context;
    // Whole groups of NR output rows per part.
    ptrdiff_t groups = (j->n + NR - 1) / NR;
    ptrdiff_t g0 = groups * index / count, g1 = groups * (index + 1) / count;
    for (ptrdiff_t g = g0; g < g1; g++) {
        if (j->dotprod)
            columns_dotprod(j, g * NR);
        else
            columns_neon(j, g * NR);
    }
}

/// q = round(x / scale) with scale = max|x| / 32767 per row: int16 at row r · 2·kpad bytes, or (split)
/// the high bytes q >> 8 there and the low bytes (q & 255) − 128 kpad bytes further. Padding is q = 0.
static void quantize_rows(const float *x, ptrdiff_t ldx, ptrdiff_t m, ptrdiff_t k, ptrdiff_t mpad, ptrdiff_t kpad,
                          int split, uint8_t *xq, float *sx) {
    for (ptrdiff_t r = 0; r < mpad; r++) {
        uint8_t *row_q = xq + r * 2 * kpad;
        int16_t *q16 = (int16_t *)(void *)row_q;
        int8_t *hi = (int8_t *)row_q, *lo = hi + kpad;
        const float *row = r < m ? x + r * ldx : x;
        float amax = 0;
        ptrdiff_t c = 0;
        if (r < m) {
            float32x4_t mx = vdupq_n_f32(0.0f);
            for (; c + 4 <= k; c += 4) mx = vmaxq_f32(mx, vabsq_f32(vld1q_f32(row + c)));
            amax = vmaxvq_f32(mx);
            for (; c < k; c++) amax = amax > __builtin_fabsf(row[c]) ? amax : __builtin_fabsf(row[c]);
        }
        const float inv = amax > 0 ? 32767.0f / amax : 0.0f;
        sx[r] = amax / 32767.0f;
        const ptrdiff_t kk = r < m ? k : 0;
        for (c = 0; c + 8 <= kk; c += 8) {
            int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(row + c), inv)); // round to nearest even
            int32x4_t b = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(row + c + 4), inv));
            int16x8_t q = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
            if (split) {
                vst1_s8(hi + c, vshrn_n_s16(q, 8));
                vst1_s8(lo + c, vreinterpret_s8_u8(veor_u8(vmovn_u16(vreinterpretq_u16_s16(q)), vdup_n_u8(0x80))));
            } else {
                vst1q_s16(q16 + c, q);
            }
        }
        for (; c < kpad; c++) {
            int16_t q = 0;
            if (c < kk) {
                float v = __builtin_nearbyintf(row[c] * inv);
                q = (int16_t)(v > 32767.0f ? 32767 : v < -32767.0f ? -32767 : v);
            }
            if (split) {
                hi[c] = (int8_t)(q >> 8);
                lo[c] = (int8_t)((q & 255) - 128);
            } else {
                q16[c] = q;
            }
        }
    }
}

int swk_gemm_q8(const float *x, ptrdiff_t ldx, ptrdiff_t m, const void *weights, const void *scales, ptrdiff_t n,
                ptrdiff_t k, const float *bias, float *y, ptrdiff_t ldy, void *scratch, size_t scratch_bytes,
                swk_pool *pool) {
    if (m < 0 || n < 0 || k < 0 || ldx < k || ldy < n) return -1;
    const int level = swk_isa();
    if (level < SWK_ISA_NEON || k > MAX_K) return -2;
    if (m == 0 || n == 0) return 0;
    if (scratch_bytes < swk_gemm_q8_scratch(m, k)) return -1;
    const ptrdiff_t mpad = round_up(m, MR), kpad = round_up(k, KSTEP);
    uintptr_t base = ((uintptr_t)scratch + 63) & ~(uintptr_t)63;
    uint8_t *xq = (uint8_t *)base;
    float *sx = (float *)(void *)(xq + mpad * kpad * 2);
    const int dotprod = level >= SWK_ISA_NEON_DOTPROD;
    quantize_rows(x, ldx, m, k, mpad, kpad, dotprod, xq, sx);
    gemm_job_t job = {xq, sx, m, kpad, k, weights, scales, n, bias, y, ldy, dotprod};
    const int parts = swk_useful_parts(swk_pool_threads(pool), n * k);
    if (parts == 1)
        gemm_part(&job, 0, 1);
    else
        swk_pool_run(pool, parts, gemm_part, &job);
    return 0;
}

#else

int swk_gemm_q8_supported(void) { return 0; }

int swk_gemm_q8(const float *x, ptrdiff_t ldx, ptrdiff_t m, const void *weights, const void *scales, ptrdiff_t n,
                ptrdiff_t k, const float *bias, float *y, ptrdiff_t ldy, void *scratch, size_t scratch_bytes,
                swk_pool *pool) {
    (void)x;
    (void)ldx;
    (void)m;
    (void)weights;
    (void)scales;
    (void)n;
    (void)k;
    (void)bias;
    (void)y;
    (void)ldy;
    (void)scratch;
    (void)scratch_bytes;
    (void)pool;
    return -2;
}

#endif
