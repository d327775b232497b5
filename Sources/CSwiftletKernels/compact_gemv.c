// Matrix-vector products and dequantization on compact weight matrices (see swk_compact.h).
// Implementations of each kernel — portable C, AVX2+FMA+F16C and AVX-512F (per-function target
// attributes: the rest of the library stays baseline x86-64), NEON on AArch64 — chosen at run time
// from the CPU's features.
#include "swk_compact.h"
#include "simd_internal.h"
#include "work_split_internal.h"

#include <stdint.h>
#include <string.h>

// ---- scalar element decoding (portable) --------------------------------------------------------

static inline uint16_t load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline float load_f32(const uint8_t *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}

/// Element (r, c) of a matrix as float32, the q8 scale not applied.
__attribute__((always_inline)) static inline float element(int format, const uint8_t *w, ptrdiff_t index) {
    switch (format) {
    case SWK_F16: return swk_half_to_float(load_u16(w + 2 * index));
    case SWK_BF16: return swk_bf16_to_float(load_u16(w + 2 * index));
    case SWK_Q8ROW: return (float)(int8_t)w[index];
    default: return load_f32(w + 4 * index);
    }
}

__attribute__((always_inline)) static inline float row_scale(int format, const uint8_t *scales, ptrdiff_t r) {
    return format == SWK_Q8ROW ? load_f32(scales + 4 * r) : 1.0f;
}

// ---- portable kernels ----------------------------------------------------------------------------

static void gemv_portable(int format, const uint8_t *w, const uint8_t *scales, ptrdiff_t r0, ptrdiff_t r1,
                          ptrdiff_t cols, const float *x, const float *bias, float *y) {
    for (ptrdiff_t r = r0; r < r1; r++) {
        // Four partial sums: the same association as the vector kernels' lanes would not be exact
        // anyway; this keeps the dependency chain short.
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        ptrdiff_t base = r * cols, c = 0;
        for (; c + 4 <= cols; c += 4) {
            s0 += element(format, w, base + c) * x[c];
            s1 += element(format, w, base + c + 1) * x[c + 1];
            s2 += element(format, w, base + c + 2) * x[c + 2];
            s3 += element(format, w, base + c + 3) * x[c + 3];
        }
        for (; c < cols; c++) s0 += element(format, w, base + c) * x[c];
        float v = ((s0 + s1) + (s2 + s3)) * row_scale(format, scales, r);
        y[r] = bias ? v + bias[r] : v;
    }
}

static void dequantize_portable(int format, const uint8_t *w, const uint8_t *scales, ptrdiff_t cols, ptrdiff_t r0,
                                ptrdiff_t r1, float *out) {
    for (ptrdiff_t r = r0; r < r1; r++) {
        float s = row_scale(format, scales, r);
        float *o = out + (r - r0) * cols;
        for (ptrdiff_t c = 0; c < cols; c++) o[c] = element(format, w, r * cols + c) * s;
    }
}

// ---- SWK_Q4BLOCK: signed nibbles with a float32 scale per block of 32 ------------------------------
//
// Rows start on a byte (swk_q4_row_bytes(cols) bytes each) and have swk_q4_blocks(cols) scales. A
// product sums each block of 32 in float32, multiplies that sum by the block's scale and adds it to
// the row's total; decoding is one float32 product q · scale per element (exact in the reference
// sense: the same rounding as (float)q * scale).

/// The part of block `b` of a row from column `c0` to `c1` (scalar: tails and the portable path).
static inline float q4_block_dot_scalar(const uint8_t *row, ptrdiff_t c0, ptrdiff_t c1, const float *x) {
    float p = 0;
    for (ptrdiff_t c = c0; c < c1; c++) p += swk_q4_value(row, c) * x[c];
    return p;
}

static void gemv_q4_portable(const uint8_t *w, const uint8_t *scales, ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t cols,
                             const float *x, const float *bias, float *y) {
    const ptrdiff_t rb = swk_q4_row_bytes(cols), nb = swk_q4_blocks(cols);
    for (ptrdiff_t r = r0; r < r1; r++) {
        const uint8_t *row = w + r * rb;
        float acc = 0;
        for (ptrdiff_t b = 0; b < nb; b++) {
            ptrdiff_t c0 = b * SWK_Q4_BLOCK, c1 = c0 + SWK_Q4_BLOCK < cols ? c0 + SWK_Q4_BLOCK : cols;
            acc += q4_block_dot_scalar(row, c0, c1, x) * swk_loadu_float(scales, r * nb + b);
        }
        y[r] = bias ? acc + bias[r] : acc;
    }
}

static void dequantize_q4_portable(const uint8_t *w, const uint8_t *scales, ptrdiff_t cols, ptrdiff_t r0, ptrdiff_t r1,
                                   float *out) {
    const ptrdiff_t rb = swk_q4_row_bytes(cols), nb = swk_q4_blocks(cols);
    for (ptrdiff_t r = r0; r < r1; r++) {
        float *o = out + (r - r0) * cols;
        for (ptrdiff_t c = 0; c < cols; c++)
            o[c] = swk_q4_value(w + r * rb, c) * swk_loadu_float(scales, r * nb + c / SWK_Q4_BLOCK);
    }
}

/// The partial last block of each of `n` rows (scalar), added to `s` with its scale.
static inline void q4_tail(const uint8_t *w, const uint8_t *scales, ptrdiff_t r, int n, ptrdiff_t cols, const float *x,
                           float *s) {
    const ptrdiff_t rb = swk_q4_row_bytes(cols), nb = swk_q4_blocks(cols), full = cols / SWK_Q4_BLOCK;
    if (full == nb) return;
    for (int j = 0; j < n; j++)
        s[j] += q4_block_dot_scalar(w + (r + j) * rb, full * SWK_Q4_BLOCK, cols, x) *
                swk_loadu_float(scales, (r + j) * nb + full);
}

#ifdef SWK_X86

// ---- AVX2 + FMA + F16C ---------------------------------------------------------------------------

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

AVX2_TARGET __attribute__((always_inline)) static inline __m256 load8_avx2(int format, const uint8_t *w, ptrdiff_t i) {
    switch (format) {
    case SWK_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * i)));
    case SWK_BF16:
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + 2 * i))), 16));
    case SWK_Q8ROW: return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(w + i))));
    default: return _mm256_loadu_ps((const float *)(w + 4 * i));
    }
}

AVX2_TARGET static inline float hsum_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#ifndef PREFETCH_GROUPS
#define PREFETCH_GROUPS 2
#endif

// Four rows at a time share each load of x; two accumulators per row keep eight FMA chains in flight.
#define GEMV_BODY(LOAD, VEC, ZERO, FMA, ADD, HSUM, WIDTH)                                                              \
    ptrdiff_t r = r0;                                                                                                  \
    for (; r + 4 <= r1; r += 4) {                                                                                      \
        ptrdiff_t b0 = r * cols, b1 = b0 + cols, b2 = b1 + cols, b3 = b2 + cols;                                       \
        VEC a0 = ZERO, a1 = ZERO, a2 = ZERO, a3 = ZERO, c0 = ZERO, c1 = ZERO, c2 = ZERO, c3 = ZERO;                    \
        ptrdiff_t k = 0;                                                                                               \
        /* Rows are short streams (1–4 KiB): prefetch the group PREFETCH_GROUPS ahead in step. */                    \
        const uint8_t *ahead = w + (b0 + PREFETCH_GROUPS * 4 * cols) * ES;                                             \
        for (; k + 2 * WIDTH <= cols; k += 2 * WIDTH) {                                                                \
            for (int line = 0; line < 8 * WIDTH * ES; line += 64)                                                      \
                _mm_prefetch((const char *)ahead + 4 * k * ES + line, _MM_HINT_T0);                                    \
            VEC x0 = LOAD(SWK_F32, (const uint8_t *)x, k);                                                             \
            VEC x1 = LOAD(SWK_F32, (const uint8_t *)x, k + WIDTH);                                                     \
            a0 = FMA(LOAD(format, w, b0 + k), x0, a0);                                                                 \
            a1 = FMA(LOAD(format, w, b1 + k), x0, a1);                                                                 \
            a2 = FMA(LOAD(format, w, b2 + k), x0, a2);                                                                 \
            a3 = FMA(LOAD(format, w, b3 + k), x0, a3);                                                                 \
            c0 = FMA(LOAD(format, w, b0 + k + WIDTH), x1, c0);                                                         \
            c1 = FMA(LOAD(format, w, b1 + k + WIDTH), x1, c1);                                                         \
            c2 = FMA(LOAD(format, w, b2 + k + WIDTH), x1, c2);                                                         \
            c3 = FMA(LOAD(format, w, b3 + k + WIDTH), x1, c3);                                                         \
        }                                                                                                              \
        for (; k + WIDTH <= cols; k += WIDTH) {                                                                        \
            VEC x0 = LOAD(SWK_F32, (const uint8_t *)x, k);                                                             \
            a0 = FMA(LOAD(format, w, b0 + k), x0, a0);                                                                 \
            a1 = FMA(LOAD(format, w, b1 + k), x0, a1);                                                                 \
            a2 = FMA(LOAD(format, w, b2 + k), x0, a2);                                                                 \
            a3 = FMA(LOAD(format, w, b3 + k), x0, a3);                                                                 \
        }                                                                                                              \
        float s[4] = {HSUM(ADD(a0, c0)), HSUM(ADD(a1, c1)), HSUM(ADD(a2, c2)), HSUM(ADD(a3, c3))};                     \
        for (; k < cols; k++) {                                                                                        \
            s[0] += element(format, w, b0 + k) * x[k];                                                                 \
            s[1] += element(format, w, b1 + k) * x[k];                                                                 \
            s[2] += element(format, w, b2 + k) * x[k];                                                                 \
            s[3] += element(format, w, b3 + k) * x[k];                                                                 \
        }                                                                                                              \
        for (int j = 0; j < 4; j++) {                                                                                  \
            float v = s[j] * row_scale(format, scales, r + j);                                                         \
            y[r + j] = bias ? v + bias[r + j] : v;                                                                     \
        }                                                                                                              \
    }                                                                                                                  \
    for (; r < r1; r++) {                                                                                              \
        ptrdiff_t b0 = r * cols;                                                                                       \
        VEC a0 = ZERO;                                                                                                 \
        ptrdiff_t k = 0;                                                                                               \
        for (; k + WIDTH <= cols; k += WIDTH)                                                                          \
            a0 = FMA(LOAD(format, w, b0 + k), LOAD(SWK_F32, (const uint8_t *)x, k), a0);                               \
        float s0 = HSUM(a0);                                                                                           \
        for (; k < cols; k++) s0 += element(format, w, b0 + k) * x[k];                                                 \
        float v = s0 * row_scale(format, scales, r);                                                                   \
        y[r] = bias ? v + bias[r] : v;                                                                                 \
    }

#define ADD_AVX2(a, b)    _mm256_add_ps(a, b)
#define FMA_AVX2(a, b, c) _mm256_fmadd_ps(a, b, c)

// One function per format, so that the element decoding is resolved at compile time.
#define DEFINE_GEMV(NAME, TARGET, FORMAT, LOAD, VEC, ZERO, FMA, ADD, HSUM, WIDTH)                                      \
    TARGET static void NAME(const uint8_t *w, const uint8_t *scales, ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t cols,       \
                            const float *x, const float *bias, float *y) {                                             \
        const int format = FORMAT;                                                                                     \
        const ptrdiff_t ES = format == SWK_F32 ? 4 : format == SWK_Q8ROW ? 1 : 2;                                      \
        GEMV_BODY(LOAD, VEC, ZERO, FMA, ADD, HSUM, WIDTH)                                                              \
    }

#define DEFINE_GEMV_AVX2(NAME, FORMAT)                                                                                 \
    DEFINE_GEMV(NAME, AVX2_TARGET, FORMAT, load8_avx2, __m256, _mm256_setzero_ps(), FMA_AVX2, ADD_AVX2, hsum_avx2, 8)
DEFINE_GEMV_AVX2(gemv_avx2_f32, SWK_F32)
DEFINE_GEMV_AVX2(gemv_avx2_f16, SWK_F16)
DEFINE_GEMV_AVX2(gemv_avx2_bf16, SWK_BF16)
DEFINE_GEMV_AVX2(gemv_avx2_q8, SWK_Q8ROW)

static void gemv_avx2(int format, const uint8_t *w, const uint8_t *scales, ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t cols,
                      const float *x, const float *bias, float *y) {
    switch (format) {
    case SWK_F16: gemv_avx2_f16(w, scales, r0, r1, cols, x, bias, y); break;
    case SWK_BF16: gemv_avx2_bf16(w, scales, r0, r1, cols, x, bias, y); break;
    case SWK_Q8ROW: gemv_avx2_q8(w, scales, r0, r1, cols, x, bias, y); break;
    default: gemv_avx2_f32(w, scales, r0, r1, cols, x, bias, y); break;
    }
}

AVX2_TARGET static void dequantize_avx2(int format, const uint8_t *w, const uint8_t *scales, ptrdiff_t cols,
                                        ptrdiff_t r0, ptrdiff_t r1, float *out) {
    for (ptrdiff_t r = r0; r < r1; r++) {
        float s = row_scale(format, scales, r);
        __m256 sv = _mm256_set1_ps(s);
        float *o = out + (r - r0) * cols;
        ptrdiff_t c = 0;
        for (; c + 8 <= cols; c += 8) _mm256_storeu_ps(o + c, _mm256_mul_ps(load8_avx2(format, w, r * cols + c), sv));
        for (; c < cols; c++) o[c] = element(format, w, r * cols + c) * s;
    }
}

// q4: `n` (1 or 4) rows at a time share each load of x; one block-sum chain and one total per row.
AVX2_TARGET __attribute__((always_inline)) static inline void gemv_q4_rows_avx2(const uint8_t *w, const uint8_t *scales,
                                                                                ptrdiff_t r, const int n,
                                                                                ptrdiff_t cols, const float *x,
                                                                                float *s) {
    const ptrdiff_t rb = swk_q4_row_bytes(cols), nb = swk_q4_blocks(cols), full = cols / SWK_Q4_BLOCK;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (ptrdiff_t b = 0; b < full; b++) {
        const float *xb = x + b * SWK_Q4_BLOCK;
        const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8), x2 = _mm256_loadu_ps(xb + 16),
                     x3 = _mm256_loadu_ps(xb + 24);
        for (int j = 0; j < n; j++) {
            const uint8_t *p = w + (r + j) * rb + b * (SWK_Q4_BLOCK / 2);
            if ((b & 3) == 0) _mm_prefetch((const char *)p + PREFETCH_GROUPS * 4 * rb, _MM_HINT_T0);
            __m256 v[4];
            swk_q4_decode32_avx2(p, v);
            __m256 t = _mm256_mul_ps(v[0], x0);
            t = _mm256_fmadd_ps(v[1], x1, t);
            t = _mm256_fmadd_ps(v[2], x2, t);
            t = _mm256_fmadd_ps(v[3], x3, t);
            acc[j] = _mm256_fmadd_ps(t, _mm256_set1_ps(swk_loadu_float(scales, (r + j) * nb + b)), acc[j]);
        }
    }
    for (int j = 0; j < n; j++) s[j] = hsum_avx2(acc[j]);
    q4_tail(w, scales, r, n, cols, x, s);
}

AVX2_TARGET static void gemv_q4_avx2(const uint8_t *w, const uint8_t *scales, ptrdiff_t r0, ptrdiff_t r1,
                                     ptrdiff_t cols, const float *x, const float *bias, float *y) {
    ptrdiff_t r = r0;
    float s[4];
    for (; r + 4 <= r1; r += 4) {
        gemv_q4_rows_avx2(w, scales, r, 4, cols, x, s);
        for (int j = 0; j < 4; j++) y[r + j] = bias ? s[j] + bias[r + j] : s[j];
    }
    for (; r < r1; r++) {
        gemv_q4_rows_avx2(w, scales, r, 1, cols, x, s);
        y[r] = bias ? s[0] + bias[r] : s[0];
    }
}

AVX2_TARGET static void dequantize_q4_avx2(const uint8_t *w, const uint8_t *scales, ptrdiff_t cols, ptrdiff_t r0,
                                           ptrdiff_t r1, float *out) {
    const ptrdiff_t rb = swk_q4_row_bytes(cols), nb = swk_q4_blocks(cols), full = cols / SWK_Q4_BLOCK;
    for (ptrdiff_t r = r0; r < r1; r++) {
        float *o = out + (r - r0) * cols;
        for (ptrdiff_t b = 0; b < full; b++) {
            __m256 v[4];
            swk_q4_decode32_avx2(w + r * rb + b * (SWK_Q4_BLOCK / 2), v);
            const __m256 sv = _mm256_set1_ps(swk_loadu_float(scales, r * nb + b));
            for (int i = 0; i < 4; i++) _mm256_storeu_ps(o + b * SWK_Q4_BLOCK + 8 * i, _mm256_mul_ps(v[i], sv));
        }
        for (ptrdiff_t c = full * SWK_Q4_BLOCK; c < cols; c++)
            o[c] = swk_q4_value(w + r * rb, c) * swk_loadu_float(scales, r * nb + full);
    }
}

// ---- AVX-512F ------------------------------------------------------------------------------------

#define AVX512_TARGET __attribute__((target("avx512f,avx2,fma,f16c")))

AVX512_TARGET __attribute__((always_inline)) static inline __m512 load16_avx512(int format, const uint8_t *w,
                                                                                ptrdiff_t i) {
    switch (format) {
    case SWK_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + 2 * i)));
    case SWK_BF16:
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w + 2 * i))), 16));
    case SWK_Q8ROW: return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(w + i))));
    default: return _mm512_loadu_ps((const float *)(w + 4 * i));
    }
}

AVX512_TARGET static inline float hsum_avx512(__m512 v) {
    __m256 h =
        _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define ADD_AVX512(a, b)    _mm512_add_ps(a, b)
#define FMA_AVX512(a, b, c) _mm512_fmadd_ps(a, b, c)

#define DEFINE_GEMV_AVX512(NAME, FORMAT)                                                                               \
    DEFINE_GEMV(NAME, AVX512_TARGET, FORMAT, load16_avx512, __m512, _mm512_setzero_ps(), FMA_AVX512, ADD_AVX512,       \
                hsum_avx512, 16)
DEFINE_GEMV_AVX512(gemv_avx512_f32, SWK_F32)
DEFINE_GEMV_AVX512(gemv_avx512_f16, SWK_F16)
DEFINE_GEMV_AVX512(gemv_avx512_bf16, SWK_BF16)
DEFINE_GEMV_AVX512(gemv_avx512_q8, SWK_Q8ROW)

static void gemv_avx512(int format, const uint8_t *w, const uint8_t *scales, ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t cols,
                        const float *x, const float *bias, float *y) {
    switch (format) {
    case SWK_F16: gemv_avx512_f16(w, scales, r0, r1, cols, x, bias, y); break;
    case SWK_BF16: gemv_avx512_bf16(w, scales, r0, r1, cols, x, bias, y); break;
    case SWK_Q8ROW: gemv_avx512_q8(w, scales, r0, r1, cols, x, bias, y); break;
    default: gemv_avx512_f32(w, scales, r0, r1, cols, x, bias, y); break;
    }
}

AVX512_TARGET static void dequantize_avx512(int format, const uint8_t *w, const uint8_t *scales, ptrdiff_t cols,
                                            ptrdiff_t r0, ptrdiff_t r1, float *out) {
    for (ptrdiff_t r = r0; r < r1; r++) {
        float s = row_scale(format, scales, r);
        __m512 sv = _mm512_set1_ps(s);
        float *o = out + (r - r0) * cols;
        ptrdiff_t c = 0;
        for (; c + 16 <= cols; c += 16)
            _mm512_storeu_ps(o + c, _mm512_mul_ps(load16_avx512(format, w, r * cols + c), sv));
        for (; c < cols; c++) o[c] = element(format, w, r * cols + c) * s;
    }
}

// q4 with AVX-512: x is first split per block into its even and odd columns (`xd`: 16 + 16 floats a
// block), so that a block's low nibbles (even columns) and high nibbles (odd columns) multiply x as
// they lie: each nibble, zero-extended to a lane, is turned into its float value −8 … 7 by a 16-entry
// table lookup (VPERMPS reads the low 4 bits of each index), with no unpacking, sign extension or
// integer conversion.
AVX512_TARGET __attribute__((always_inline)) static inline void
gemv_q4_rows_avx512(const uint8_t *w, const uint8_t *scales, ptrdiff_t r, const int n, ptrdiff_t cols, const float *x,
                    const float *xd, float *s) {
    const ptrdiff_t rb = swk_q4_row_bytes(cols), nb = swk_q4_blocks(cols), full = cols / SWK_Q4_BLOCK;
    const __m512 lut = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1);
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (ptrdiff_t b = 0; b < full; b++) {
        const __m512 xe = _mm512_loadu_ps(xd + b * SWK_Q4_BLOCK), xo = _mm512_loadu_ps(xd + b * SWK_Q4_BLOCK + 16);
        for (int j = 0; j < n; j++) {
            const uint8_t *p = w + (r + j) * rb + b * (SWK_Q4_BLOCK / 2);
            if ((b & 3) == 0) _mm_prefetch((const char *)p + PREFETCH_GROUPS * 4 * rb, _MM_HINT_T0);
            const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
            const __m512 lo = _mm512_permutexvar_ps(v, lut), hi = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), lut);
            const __m512 t = _mm512_fmadd_ps(hi, xo, _mm512_mul_ps(lo, xe));
            acc[j] = _mm512_fmadd_ps(t, _mm512_set1_ps(swk_loadu_float(scales, (r + j) * nb + b)), acc[j]);
        }
    }
    for (int j = 0; j < n; j++) s[j] = hsum_avx512(acc[j]);
    q4_tail(w, scales, r, n, cols, x, s);
}

/// Columns of x per call the AVX-512 q4 product splits on the stack; wider rows take the AVX2 code.
enum { Q4_SPLIT_MAX = 8192 };

AVX512_TARGET static void gemv_q4_avx512(const uint8_t *w, const uint8_t *scales, ptrdiff_t r0, ptrdiff_t r1,
                                         ptrdiff_t cols, const float *x, const float *bias, float *y) {
    if (cols > Q4_SPLIT_MAX) {
        gemv_q4_avx2(w, scales, r0, r1, cols, x, bias, y);
        return;
    }
    float xd[Q4_SPLIT_MAX];
    const ptrdiff_t full = cols / SWK_Q4_BLOCK;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30),
                  odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (ptrdiff_t b = 0; b < full; b++) {
        const __m512 a = _mm512_loadu_ps(x + b * SWK_Q4_BLOCK), c = _mm512_loadu_ps(x + b * SWK_Q4_BLOCK + 16);
        _mm512_storeu_ps(xd + b * SWK_Q4_BLOCK, _mm512_permutex2var_ps(a, even, c));
        _mm512_storeu_ps(xd + b * SWK_Q4_BLOCK + 16, _mm512_permutex2var_ps(a, odd, c));
    }
    ptrdiff_t r = r0;
    float s[4];
    for (; r + 4 <= r1; r += 4) {
        gemv_q4_rows_avx512(w, scales, r, 4, cols, x, xd, s);
        for (int j = 0; j < 4; j++) y[r + j] = bias ? s[j] + bias[r + j] : s[j];
    }
    for (; r < r1; r++) {
        gemv_q4_rows_avx512(w, scales, r, 1, cols, x, xd, s);
        y[r] = bias ? s[0] + bias[r] : s[0];
    }
}

AVX512_TARGET static void dequantize_q4_avx512(const uint8_t *w, const uint8_t *scales, ptrdiff_t cols, ptrdiff_t r0,
                                               ptrdiff_t r1, float *out) {
    const ptrdiff_t rb = swk_q4_row_bytes(cols), nb = swk_q4_blocks(cols), full = cols / SWK_Q4_BLOCK;
    for (ptrdiff_t r = r0; r < r1; r++) {
        float *o = out + (r - r0) * cols;
        for (ptrdiff_t b = 0; b < full; b++) {
            __m512 v[2];
            swk_q4_decode32_avx512(w + r * rb + b * (SWK_Q4_BLOCK / 2), v);
            const __m512 sv = _mm512_set1_ps(swk_loadu_float(scales, r * nb + b));
            _mm512_storeu_ps(o + b * SWK_Q4_BLOCK, _mm512_mul_ps(v[0], sv));
            _mm512_storeu_ps(o + b * SWK_Q4_BLOCK + 16, _mm512_mul_ps(v[1], sv));
        }
        for (ptrdiff_t c = full * SWK_Q4_BLOCK; c < cols; c++)
            o[c] = swk_q4_value(w + r * rb, c) * swk_loadu_float(scales, r * nb + full);
    }
}

#endif // SWK_X86

#ifdef SWK_NEON

// ---- NEON ----------------------------------------------------------------------------------------

// Four rows at a time share each load of x; eight columns (two vectors) per step give each row two
// accumulators, eight FMA chains in flight. Elements are loaded at any alignment.
SWK_INLINE void gemv_neon_format(const int format, const uint8_t *w, const uint8_t *scales, ptrdiff_t r0, ptrdiff_t r1,
                                 ptrdiff_t cols, const float *x, const float *bias, float *y) {
    const ptrdiff_t ES = format == SWK_F32 ? 4 : format == SWK_Q8ROW ? 1 : 2;
    ptrdiff_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const uint8_t *p0 = w + r * cols * ES, *p1 = p0 + cols * ES, *p2 = p1 + cols * ES, *p3 = p2 + cols * ES;
        float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;
        ptrdiff_t k = 0;
        for (; k + 8 <= cols; k += 8) {
            const float32x4_t x0 = vld1q_f32(x + k), x1 = vld1q_f32(x + k + 4);
            float32x4x2_t v = swk_load8_neon(p0 + k * ES, format);
            a0 = vfmaq_f32(a0, v.val[0], x0);
            c0 = vfmaq_f32(c0, v.val[1], x1);
            v = swk_load8_neon(p1 + k * ES, format);
            a1 = vfmaq_f32(a1, v.val[0], x0);
            c1 = vfmaq_f32(c1, v.val[1], x1);
            v = swk_load8_neon(p2 + k * ES, format);
            a2 = vfmaq_f32(a2, v.val[0], x0);
            c2 = vfmaq_f32(c2, v.val[1], x1);
            v = swk_load8_neon(p3 + k * ES, format);
            a3 = vfmaq_f32(a3, v.val[0], x0);
            c3 = vfmaq_f32(c3, v.val[1], x1);
        }
        float s[4] = {vaddvq_f32(vaddq_f32(a0, c0)), vaddvq_f32(vaddq_f32(a1, c1)), vaddvq_f32(vaddq_f32(a2, c2)),
                      vaddvq_f32(vaddq_f32(a3, c3))};
        const ptrdiff_t b0 = r * cols;
        for (; k < cols; k++) {
            s[0] += element(format, w, b0 + k) * x[k];
            s[1] += element(format, w, b0 + cols + k) * x[k];
            s[2] += element(format, w, b0 + 2 * cols + k) * x[k];
            s[3] += element(format, w, b0 + 3 * cols + k) * x[k];
        }
        for (int j = 0; j < 4; j++) {
            float v = s[j] * row_scale(format, scales, r + j);
            y[r + j] = bias ? v + bias[r + j] : v;
        }
    }
    for (; r < r1; r++) {
        const uint8_t *p0 = w + r * cols * ES;
        float32x4_t a0 = vdupq_n_f32(0.0f), c0 = a0;
        ptrdiff_t k = 0;
        for (; k + 8 <= cols; k += 8) {
            float32x4x2_t v = swk_load8_neon(p0 + k * ES, format);
            a0 = vfmaq_f32(a0, v.val[0], vld1q_f32(x + k));
            c0 = vfmaq_f32(c0, v.val[1], vld1q_f32(x + k + 4));
        }
        float s0 = vaddvq_f32(vaddq_f32(a0, c0));
        for (; k < cols; k++) s0 += element(format, w, r * cols + k) * x[k];
        float v = s0 * row_scale(format, scales, r);
        y[r] = bias ? v + bias[r] : v;
    }
}

// One function per format, so that the element decoding is resolved at compile time.
static void gemv_neon(int format, const uint8_t *w, const uint8_t *scales, ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t cols,
                      const float *x, const float *bias, float *y) {
    switch (format) {
    case SWK_F16: gemv_neon_format(SWK_F16, w, scales, r0, r1, cols, x, bias, y); break;
    case SWK_BF16: gemv_neon_format(SWK_BF16, w, scales, r0, r1, cols, x, bias, y); break;
    case SWK_Q8ROW: gemv_neon_format(SWK_Q8ROW, w, scales, r0, r1, cols, x, bias, y); break;
    default: gemv_neon_format(SWK_F32, w, scales, r0, r1, cols, x, bias, y); break;
    }
}

static void dequantize_neon(int format, const uint8_t *w, const uint8_t *scales, ptrdiff_t cols, ptrdiff_t r0,
                            ptrdiff_t r1, float *out) {
    const ptrdiff_t ES = format == SWK_F32 ? 4 : format == SWK_Q8ROW ? 1 : 2;
    for (ptrdiff_t r = r0; r < r1; r++) {
        const float s = row_scale(format, scales, r);
        float *o = out + (r - r0) * cols;
        ptrdiff_t c = 0;
        for (; c + 8 <= cols; c += 8) {
            float32x4x2_t v = swk_load8_neon(w + (r * cols + c) * ES, format);
            vst1q_f32(o + c, vmulq_n_f32(v.val[0], s));
            vst1q_f32(o + c + 4, vmulq_n_f32(v.val[1], s));
        }
        for (; c < cols; c++) o[c] = element(format, w, r * cols + c) * s;
    }
}

// q4: `n` (1 or 4) rows at a time share each load of x; one block-sum chain and one total per row.
SWK_INLINE void gemv_q4_rows_neon(const uint8_t *w, const uint8_t *scales, ptrdiff_t r, const int n, ptrdiff_t cols,
                                  const float *x, float *s) {
    const ptrdiff_t rb = swk_q4_row_bytes(cols), nb = swk_q4_blocks(cols), full = cols / SWK_Q4_BLOCK;
    float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    for (ptrdiff_t b = 0; b < full; b++) {
        const float *xb = x + b * SWK_Q4_BLOCK;
        float32x4_t xv[8];
        for (int i = 0; i < 8; i++) xv[i] = vld1q_f32(xb + 4 * i);
        for (int j = 0; j < n; j++) {
            float32x4_t v[8];
            swk_q4_decode32_neon(w + (r + j) * rb + b * (SWK_Q4_BLOCK / 2), v);
            float32x4_t t0 = vmulq_f32(v[0], xv[0]), t1 = vmulq_f32(v[1], xv[1]);
            t0 = vfmaq_f32(t0, v[2], xv[2]);
            t1 = vfmaq_f32(t1, v[3], xv[3]);
            t0 = vfmaq_f32(t0, v[4], xv[4]);
            t1 = vfmaq_f32(t1, v[5], xv[5]);
            t0 = vfmaq_f32(t0, v[6], xv[6]);
            t1 = vfmaq_f32(t1, v[7], xv[7]);
            acc[j] = vfmaq_n_f32(acc[j], vaddq_f32(t0, t1), swk_loadu_float(scales, (r + j) * nb + b));
        }
    }
    for (int j = 0; j < n; j++) s[j] = vaddvq_f32(acc[j]);
    q4_tail(w, scales, r, n, cols, x, s);
}

static void gemv_q4_neon(const uint8_t *w, const uint8_t *scales, ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t cols,
                         const float *x, const float *bias, float *y) {
    ptrdiff_t r = r0;
    float s[4];
    for (; r + 4 <= r1; r += 4) {
        gemv_q4_rows_neon(w, scales, r, 4, cols, x, s);
        for (int j = 0; j < 4; j++) y[r + j] = bias ? s[j] + bias[r + j] : s[j];
    }
    for (; r < r1; r++) {
        gemv_q4_rows_neon(w, scales, r, 1, cols, x, s);
        y[r] = bias ? s[0] + bias[r] : s[0];
    }
}

static void dequantize_q4_neon(const uint8_t *w, const uint8_t *scales, ptrdiff_t cols, ptrdiff_t r0, ptrdiff_t r1,
                               float *out) {
    const ptrdiff_t rb = swk_q4_row_bytes(cols), nb = swk_q4_blocks(cols), full = cols / SWK_Q4_BLOCK;
    for (ptrdiff_t r = r0; r < r1; r++) {
        float *o = out + (r - r0) * cols;
        for (ptrdiff_t b = 0; b < full; b++) {
            float32x4_t v[8];
            swk_q4_decode32_neon(w + r * rb + b * (SWK_Q4_BLOCK / 2), v);
            const float sc = swk_loadu_float(scales, r * nb + b);
            for (int i = 0; i < 8; i++) vst1q_f32(o + b * SWK_Q4_BLOCK + 4 * i, vmulq_n_f32(v[i], sc));
        }
        for (ptrdiff_t c = full * SWK_Q4_BLOCK; c < cols; c++)
            o[c] = swk_q4_value(w + r * rb, c) * swk_loadu_float(scales, r * nb + full);
    }
}

#endif // SWK_NEON

// ---- dispatch --------------------------------------------------------------------------------------

static int valid_format(int format) {
    return format == SWK_F32 || format == SWK_F16 || format == SWK_BF16 || format == SWK_Q8ROW || format == SWK_Q4BLOCK;
}

/// Threads worth using for `elements` weights: below ~64 Ki weights the hand-off costs more than it saves.
static int useful_threads(int threads, ptrdiff_t rows, ptrdiff_t elements) {
    threads = swk_useful_parts(threads, elements);
    if (rows / 4 < threads) threads = rows / 4 < 1 ? 1 : (int)(rows / 4);
    return threads;
}

/// The row range of part `index` of `count`, in whole groups of four rows.
static void part_rows(ptrdiff_t rows, int index, int count, ptrdiff_t *r0, ptrdiff_t *r1) {
    ptrdiff_t groups = (rows + 3) / 4;
    ptrdiff_t a = groups * index / count * 4, b = groups * (index + 1) / count * 4;
    *r0 = a < rows ? a : rows;
    *r1 = b < rows ? b : rows;
}

typedef struct {
    int format, level;
    const uint8_t *w, *scales;
    ptrdiff_t rows, cols, row0;
    const float *x, *bias;
    float *y;
} job_t;

static void gemv_part(void *context, int index, int count) {
    const job_t *j = context;
    ptrdiff_t r0, r1;
    part_rows(j->rows, index, count, &r0, &r1);
    if (r0 >= r1) return;
    if (j->format == SWK_Q4BLOCK) {
#ifdef SWK_X86
        if (j->level == SWK_ISA_AVX512) {
            gemv_q4_avx512(j->w, j->scales, r0, r1, j->cols, j->x, j->bias, j->y);
            return;
        }
        if (j->level == SWK_ISA_AVX2) {
            gemv_q4_avx2(j->w, j->scales, r0, r1, j->cols, j->x, j->bias, j->y);
            return;
        }
#elif defined(SWK_NEON)
        if (j->level >= SWK_ISA_NEON) {
            gemv_q4_neon(j->w, j->scales, r0, r1, j->cols, j->x, j->bias, j->y);
            return;
        }
#endif
        gemv_q4_portable(j->w, j->scales, r0, r1, j->cols, j->x, j->bias, j->y);
        return;
    }
#ifdef SWK_X86
    if (j->level == SWK_ISA_AVX512) {
        gemv_avx512(j->format, j->w, j->scales, r0, r1, j->cols, j->x, j->bias, j->y);
        return;
    }
    if (j->level == SWK_ISA_AVX2) {
        gemv_avx2(j->format, j->w, j->scales, r0, r1, j->cols, j->x, j->bias, j->y);
        return;
    }
#elif defined(SWK_NEON)
    if (j->level >= SWK_ISA_NEON) {
        gemv_neon(j->format, j->w, j->scales, r0, r1, j->cols, j->x, j->bias, j->y);
        return;
    }
#endif
    gemv_portable(j->format, j->w, j->scales, r0, r1, j->cols, j->x, j->bias, j->y);
}

int swk_compact_gemv(int format, const void *weights, const void *scales, ptrdiff_t rows, ptrdiff_t cols,
                     const float *x, const float *bias, float *y, swk_pool *pool) {
    if (!valid_format(format) || rows < 0 || cols < 0) return -1;
    if (rows == 0) return 0;
    job_t job = {format, swk_isa(), weights, scales, rows, cols, 0, x, bias, y};
    int n = useful_threads(swk_pool_threads(pool), rows, rows * cols);
    if (n == 1)
        gemv_part(&job, 0, 1);
    else
        swk_pool_run(pool, n, gemv_part, &job);
    return 0;
}

static void dequantize_part(void *context, int index, int count) {
    const job_t *j = context;
    ptrdiff_t r0, r1;
    part_rows(j->rows, index, count, &r0, &r1);
    if (r0 >= r1) return;
    // Rows are absolute in the matrix (for the scales), relative in the output.
    const ptrdiff_t a = j->row0 + r0, b = j->row0 + r1;
    float *out = j->y + r0 * j->cols;
    if (j->format == SWK_F32) {
        memcpy(out, j->w + 4 * a * j->cols, (size_t)((b - a) * j->cols) * 4);
        return;
    }
    if (j->format == SWK_Q4BLOCK) {
#ifdef SWK_X86
        if (j->level == SWK_ISA_AVX512) {
            dequantize_q4_avx512(j->w, j->scales, j->cols, a, b, out);
            return;
        }
        if (j->level == SWK_ISA_AVX2) {
            dequantize_q4_avx2(j->w, j->scales, j->cols, a, b, out);
            return;
        }
#elif defined(SWK_NEON)
        if (j->level >= SWK_ISA_NEON) {
            dequantize_q4_neon(j->w, j->scales, j->cols, a, b, out);
            return;
        }
#endif
        dequantize_q4_portable(j->w, j->scales, j->cols, a, b, out);
        return;
    }
#ifdef SWK_X86
    if (j->level == SWK_ISA_AVX512) {
        dequantize_avx512(j->format, j->w, j->scales, j->cols, a, b, out);
        return;
    }
    if (j->level == SWK_ISA_AVX2) {
        dequantize_avx2(j->format, j->w, j->scales, j->cols, a, b, out);
        return;
    }
#elif defined(SWK_NEON)
    if (j->level >= SWK_ISA_NEON) {
        dequantize_neon(j->format, j->w, j->scales, j->cols, a, b, out);
        return;
    }
#endif
    dequantize_portable(j->format, j->w, j->scales, j->cols, a, b, out);
}

int swk_compact_decode_rows(int format, const void *weights, const void *scales, ptrdiff_t cols, ptrdiff_t row0,
                            ptrdiff_t count, float *out, swk_pool *pool) {
    if (!valid_format(format) || cols < 0 || row0 < 0 || count < 0) return -1;
    if (count == 0 || cols == 0) return 0;
    job_t job = {format, swk_isa(), weights, scales, count, cols, row0, NULL, NULL, out};
    int n = useful_threads(swk_pool_threads(pool), count, count * cols);
    if (n == 1)
        dequantize_part(&job, 0, 1);
    else
        swk_pool_run(pool, n, dequantize_part, &job);
    return 0;
}
