// Several rows times an int8 (q8_row) weight matrix with AVX-512 VNNI: the activations are rounded
// to int16 with one scale per row, and VPDPWSSD accumulates pairs of int16 products into int32 lanes
// — twice the multiply-adds per instruction of float32 FMA. The weights are read in place, as
// stored (no packing): each product is a dot product along the rows of X and W, 6 rows of X by 4
// rows of W per tile.
#include "swk_compact.h"
#include "swk_cpu.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GEMM_X86 1
#endif

enum { MR = 6, NR = 4, KSTEP = 32, MAX_K = 8192 };

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

VNNI_TARGET static inline int32_t hsum_epi32(__m512i v) { return _mm512_reduce_add_epi32(v); }

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
        yr[0] = (float)hsum_epi32(a##r##0) * s * sw[0] + b[0];                                                         \
        yr[1] = (float)hsum_epi32(a##r##1) * s * sw[1] + b[1];                                                         \
        yr[2] = (float)hsum_epi32(a##r##2) * s * sw[2] + b[2];                                                         \
        yr[3] = (float)hsum_epi32(a##r##3) * s * sw[3] + b[3];                                                         \
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
            j->y[(m0 + r) * j->ldy + n] = (float)hsum_epi32(acc[r]) * j->sx[m0 + r] * sw + b;
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
    // Each part should have some 64 Ki multiply-adds per row of X at least.
    ptrdiff_t by_work = n * k / (64 * 1024);
    int parts = swk_pool_threads(pool);
    if (by_work < parts) parts = by_work < 1 ? 1 : (int)by_work;
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
