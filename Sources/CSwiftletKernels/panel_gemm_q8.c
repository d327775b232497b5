// Products with int8 weights in the quad-panel layout and activations quantized per row
// (swk_panel_lowp.h). Integer sums are exact on every path; the float epilogue is the same sequence of
// float32 operations everywhere.
//
// AVX-512 VNNI keeps a 12 × 32 tile of int32 sums in registers (24 accumulators, two weight vectors,
// one broadcast quad of uint8 activations): `vpdpbusd` does four multiply-adds per lane, twice the
// pairs of `vdpbf16ps` and four times an FMA's.
#include <math.h>
#include <string.h>

#include "panel_lowp_internal.h"

size_t swk_panel_q8_bytes(ptrdiff_t n, ptrdiff_t k) { return (size_t)((n + 15) / 16) * 16 * 4 * (size_t)((k + 3) / 4); }

void swk_panel_q8_pack(const float *w, ptrdiff_t n, ptrdiff_t k, int8_t *panels, float *scales) {
    const ptrdiff_t steps = (k + 3) / 4;
    memset(panels, 0, swk_panel_q8_bytes(n, k));
    for (ptrdiff_t r = 0; r < n; r++) {
        float maxabs = 0;
        for (ptrdiff_t p = 0; p < k; p++) maxabs = fabsf(w[r * k + p]) > maxabs ? fabsf(w[r * k + p]) : maxabs;
        const float scale = maxabs / 127.0f;
        scales[r] = scale;
        if (scale == 0) continue;
        const ptrdiff_t j = r / 16, c = r % 16;
        for (ptrdiff_t p = 0; p < k; p++) {
            float q = nearbyintf(w[r * k + p] / scale);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            panels[((j * steps + p / 4) * 16 + c) * 4 + p % 4] = (int8_t)q;
        }
    }
}

int swk_panel_q8_sums(const int8_t *panels, ptrdiff_t n, ptrdiff_t k, int32_t *sums) {
    const ptrdiff_t steps = (k + 3) / 4;
    int bad = 0;
    for (ptrdiff_t r = 0; r < n; r++) {
        const ptrdiff_t j = r / 16, c = r % 16;
        int32_t s = 0;
        for (ptrdiff_t g = 0; g < steps; g++)
            for (int e = 0; e < 4; e++) {
                const int8_t q = panels[((j * steps + g) * 16 + c) * 4 + e];
                bad |= q == INT8_MIN;
                s += q;
            }
        sums[r] = s;
    }
    return bad ? -1 : 0;
}

// ---- quantizing the activations ------------------------------------------------------------------

/// One row: the scale and `127 / max|a|` (0 for a zero row), NaN for a row with a NaN or infinity.
static void row_scale(float maxabs, float poison, float *scale, float *inv) {
    const float m = maxabs + poison; // poison is 0, or NaN when the row held a NaN or an infinity
    *scale = m / 127.0f;
    *inv = m > 0 ? 127.0f / m : 0.0f;
}

static uint8_t quantize_one(float x, float inv) {
    float q = nearbyintf(x * inv);
    q = q >= -127.0f ? q : -127.0f; // NaN (a poisoned row) becomes -127; its scale is NaN
    q = q <= 127.0f ? q : 127.0f;
    return (uint8_t)(int)(q + 128);
}

static void quantize_portable(const float *a, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, uint8_t *out, float *scales) {
    const ptrdiff_t kp = (k + 3) / 4 * 4;
    for (ptrdiff_t i = 0; i < m; i++) {
        const float *row = a + i * lda;
        float maxabs = 0, poison = 0;
        for (ptrdiff_t p = 0; p < k; p++) {
            const float v = fabsf(row[p]);
            maxabs = v > maxabs ? v : maxabs;
            poison += row[p] * 0.0f;
        }
        float inv;
        row_scale(maxabs, poison, &scales[i], &inv);
        for (ptrdiff_t p = 0; p < k; p++) out[i * kp + p] = quantize_one(row[p], inv);
        for (ptrdiff_t p = k; p < kp; p++) out[i * kp + p] = 128;
    }
}

#ifdef SWK_X86
/// The same bytes and scales as quantize_portable, in two passes over each row. The largest |a| is the
/// largest of the magnitudes' bit patterns as integers (the same order for non-negative floats), where
/// an infinity or a NaN is above every finite value: the row is then poisoned. The clamped products
/// are converted with rounding to nearest even (no separate rounding step).
SWK_AVX512 static void quantize512(const float *a, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, uint8_t *out,
                                   float *scales) {
    const ptrdiff_t kp = (k + 3) / 4 * 4;
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF), offset = _mm512_set1_epi32(128);
    const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    for (ptrdiff_t i = 0; i < m; i++) {
        const float *row = a + i * lda;
        __m512i m0 = _mm512_setzero_si512(), m1 = _mm512_setzero_si512();
        ptrdiff_t p = 0;
        for (; p + 32 <= k; p += 32) {
            m0 = _mm512_max_epi32(m0, _mm512_and_si512(_mm512_loadu_si512(row + p), magnitude));
            m1 = _mm512_max_epi32(m1, _mm512_and_si512(_mm512_loadu_si512(row + p + 16), magnitude));
        }
        for (; p < k; p += 16) {
            const ptrdiff_t left = k - p;
            const __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            m0 = _mm512_max_epi32(m0, _mm512_and_si512(_mm512_maskz_loadu_epi32(mask, row + p), magnitude));
        }
        const int32_t bits = _mm512_reduce_max_epi32(_mm512_max_epi32(m0, m1));
        float maxabs;
        memcpy(&maxabs, &bits, 4);
        float inv;
        row_scale(bits < 0x7F800000 ? maxabs : 0.0f, bits < 0x7F800000 ? 0.0f : NAN, &scales[i], &inv);
        const __m512 vinv = _mm512_set1_ps(inv);
        uint8_t *dst = out + i * kp;
        for (p = 0; p < k; p += 16) {
            const ptrdiff_t left = k - p;
            const __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, row + p), vinv);
            x = _mm512_min_ps(_mm512_max_ps(x, lo), hi); // a NaN becomes -127 (max returns its second operand)
            const __m512i q =
                _mm512_add_epi32(_mm512_cvt_roundps_epi32(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), offset);
            if (left >= 16)
                _mm_storeu_si128((__m128i *)(void *)(dst + p), _mm512_cvtepi32_epi8(q)); // faster than a masked store
            else
                _mm512_mask_cvtepi32_storeu_epi8(dst + p, mask, q);
        }
        for (p = k; p < kp; p++) dst[p] = 128;
    }
}
#endif

#ifdef SWK_NEON
static void quantize_neon(const float *a, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, uint8_t *out, float *scales) {
    const ptrdiff_t kp = (k + 3) / 4 * 4;
    for (ptrdiff_t i = 0; i < m; i++) {
        const float *row = a + i * lda;
        float32x4_t mx = vdupq_n_f32(0.0f), poison = vdupq_n_f32(0.0f);
        ptrdiff_t p = 0;
        for (; p + 4 <= k; p += 4) {
            const float32x4_t x = vld1q_f32(row + p);
            mx = vmaxq_f32(mx, vabsq_f32(x)); // NaN propagates here; the poison makes the scale NaN anyway
            poison = vaddq_f32(poison, vmulq_f32(x, vdupq_n_f32(0.0f)));
        }
        float maxabs = vmaxvq_f32(mx), pois = vaddvq_f32(poison);
        for (; p < k; p++) {
            const float v = fabsf(row[p]);
            maxabs = v > maxabs ? v : maxabs;
            pois += row[p] * 0.0f;
        }
        float inv;
        row_scale(maxabs, pois, &scales[i], &inv);
        uint8_t *dst = out + i * kp;
        const float32x4_t vinv = vdupq_n_f32(inv);
        for (p = 0; p + 4 <= k; p += 4) {
            float32x4_t q = vrndnq_f32(vmulq_f32(vld1q_f32(row + p), vinv));
            q = vminnmq_f32(vmaxnmq_f32(q, vdupq_n_f32(-127.0f)), vdupq_n_f32(127.0f)); // NaN becomes -127
            const uint32x4_t u = vreinterpretq_u32_s32(vaddq_s32(vcvtq_s32_f32(q), vdupq_n_s32(128)));
            const uint16x4_t h = vmovn_u32(u);
            const uint8x8_t b = vmovn_u16(vcombine_u16(h, h));
            vst1_lane_u32((uint32_t *)(void *)(dst + p), vreinterpret_u32_u8(b), 0);
        }
        for (; p < k; p++) dst[p] = quantize_one(row[p], inv);
        for (p = k; p < kp; p++) dst[p] = 128;
    }
}
#endif

void swk_q8_quantize_rows(const float *a, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, uint8_t *out, float *scales) {
    if (m <= 0 || k <= 0) return;
#ifdef SWK_X86
    if (swk_isa() >= SWK_ISA_AVX512) return quantize512(a, lda, m, k, out, scales);
#elif defined(SWK_NEON)
    if (swk_isa() >= SWK_ISA_NEON) {
        quantize_neon(a, lda, m, k, out, scales);
        return;
    }
#endif
    quantize_portable(a, lda, m, k, out, scales);
}

// ---- portable ------------------------------------------------------------------------------------

static void gemm_portable(const uint8_t *a, ptrdiff_t m, ptrdiff_t k, const int8_t *panels, const int32_t *wsums,
                          ptrdiff_t col0, ptrdiff_t col1, const swk_lowp_epilogue *e, float *c, ptrdiff_t ldc) {
    const ptrdiff_t steps = (k + 3) / 4, kp = 4 * steps;
    (void)wsums;
    for (ptrdiff_t col = col0; col < col1; col += 16) {
        const int8_t *b = panels + (col / 16) * steps * 64;
        const ptrdiff_t cols = col1 - col < 16 ? col1 - col : 16;
        for (ptrdiff_t i = 0; i < m; i++) {
            int32_t s[16] = {0};
            const uint8_t *row = a + i * kp;
            for (ptrdiff_t p = 0; p < kp; p++) {
                const int32_t x = (int32_t)row[p] - 128;
                for (int j = 0; j < 16; j++) s[j] += x * b[(p / 4) * 64 + 4 * j + (p & 3)];
            }
            for (ptrdiff_t j = 0; j < cols; j++)
                c[i * ldc + col + j] = swk_lowp_finish((float)s[j], i, col + j, e, c + i * ldc + col + j);
        }
    }
}

#ifdef SWK_X86

// ---- AVX-512 VNNI --------------------------------------------------------------------------------

#define SWK_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

#define Q_ROWS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define Q_ROWS4(X)  X(0) X(1) X(2) X(3)

/// What the epilogue of one 32-column block needs, loaded once per block: the column scales and bias,
/// the masks of the valid columns, and −128 · Σ q per column (the uint8 offset of the activations,
/// taken off by starting the int32 sums there: wrapping int32 arithmetic, exact because the true sum
/// fits).
typedef struct {
    __m512i start[2];
    __m512 cs[2], b[2];
    __mmask16 mask[2];
    const float *row_scale;
    int scaled, biased, acc, gelu;
} q_block;

/// `swk_lowp_store512` of one row's 16 sums `s` (int32, offset already removed): the same float32
/// operations in the same order.
#define Q_STORE(S, H, R, DST)                                                                                          \
    {                                                                                                                  \
        __m512 v = _mm512_cvtepi32_ps(S);                                                                              \
        if (scaled) v = _mm512_mul_ps(v, _mm512_mul_ps(_mm512_set1_ps(row_scale[R]), cs##H));                          \
        if (biased) v = _mm512_add_ps(v, bias##H);                                                                     \
        if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask##H, DST));                                            \
        if (gelu) v = swk_gelu512(v);                                                                                  \
        _mm512_mask_storeu_ps(DST, mask##H, v);                                                                        \
    }
#define Q_EPI_LOCALS(NP)                                                                                               \
    const int scaled = p->scaled, biased = p->biased, acc = p->acc, gelu = p->gelu;                                    \
    const float *row_scale = p->row_scale;                                                                             \
    const __m512 cs0 = p->cs[0], bias0 = p->b[0], cs1 = p->cs[NP - 1], bias1 = p->b[NP - 1];                           \
    const __mmask16 mask0 = p->mask[0], mask1 = p->mask[NP - 1];                                                       \
    (void)cs1, (void)bias1, (void)mask1;

#define Q_A_ROW(i) const uint32_t *a##i = a + (i < mr ? i : mr - 1) * lda;
#define Q_Z2(i)    __m512i s##i##a = start0, s##i##b = start1;
#define Q_F2(i)                                                                                                        \
    {                                                                                                                  \
        const __m512i x = _mm512_set1_epi32((int)a##i[g]);                                                             \
        s##i##a = _mm512_dpbusd_epi32(s##i##a, x, w0);                                                                 \
        s##i##b = _mm512_dpbusd_epi32(s##i##b, x, w1);                                                                 \
    }
#define Q_O2(i)                                                                                                        \
    if (i < mr) {                                                                                                      \
        float *dst = c + (i0 + i) * ldc;                                                                               \
        Q_STORE(s##i##a, 0, i0 + i, dst)                                                                               \
        Q_STORE(s##i##b, 1, i0 + i, dst + 16)                                                                          \
    }
#define Q_Z1(i) __m512i s##i##a = start0;
#define Q_F1(i) s##i##a = _mm512_dpbusd_epi32(s##i##a, _mm512_set1_epi32((int)a##i[g]), w0);
#define Q_O1(i)                                                                                                        \
    if (i < mr) Q_STORE(s##i##a, 0, i0 + i, c + (i0 + i) * ldc)

// A tile of `mr` rows (row i0 + r of the call's A at `a + r · lda`) × 32 or 16 columns, sums kept in
// registers and stored through the epilogue (`c` points at the block's first column).
#define Q_TILE2(NAME, ROWS)                                                                                            \
    SWK_VNNI_TARGET __attribute__((noinline)) static void NAME(                                                        \
        int mr, ptrdiff_t steps, const uint32_t *a, ptrdiff_t lda, const int8_t *b0, const int8_t *b1,                 \
        const q_block *p, ptrdiff_t i0, float *c, ptrdiff_t ldc) {                                                     \
        const __m512i start0 = p->start[0], start1 = p->start[1];                                                      \
        ROWS(Q_A_ROW)                                                                                                  \
        ROWS(Q_Z2)                                                                                                     \
        for (ptrdiff_t g = 0; g < steps; g++) {                                                                        \
            const __m512i w0 = _mm512_loadu_si512(b0 + 64 * g), w1 = _mm512_loadu_si512(b1 + 64 * g);                  \
            ROWS(Q_F2)                                                                                                 \
        }                                                                                                              \
        Q_EPI_LOCALS(2)                                                                                                \
        ROWS(Q_O2)                                                                                                     \
    }
#define Q_TILE1(NAME, ROWS)                                                                                            \
    SWK_VNNI_TARGET __attribute__((noinline)) static void NAME(int mr, ptrdiff_t steps, const uint32_t *a,             \
                                                               ptrdiff_t lda, const int8_t *b0, const q_block *p,      \
                                                               ptrdiff_t i0, float *c, ptrdiff_t ldc) {                \
        const __m512i start0 = p->start[0];                                                                            \
        ROWS(Q_A_ROW)                                                                                                  \
        ROWS(Q_Z1)                                                                                                     \
        for (ptrdiff_t g = 0; g < steps; g++) {                                                                        \
            const __m512i w0 = _mm512_loadu_si512(b0 + 64 * g);                                                        \
            ROWS(Q_F1)                                                                                                 \
        }                                                                                                              \
        Q_EPI_LOCALS(1)                                                                                                \
        ROWS(Q_O1)                                                                                                     \
    }

Q_TILE2(q_tile12x2, Q_ROWS12)
Q_TILE2(q_tile4x2, Q_ROWS4)
Q_TILE1(q_tile12x1, Q_ROWS12)
Q_TILE1(q_tile4x1, Q_ROWS4)

SWK_VNNI_TARGET static void gemm_vnni(const uint8_t *a, ptrdiff_t m, ptrdiff_t k, const int8_t *panels,
                                      const int32_t *wsums, ptrdiff_t col0, ptrdiff_t col1, const swk_lowp_epilogue *e,
                                      float *c, ptrdiff_t ldc) {
    const ptrdiff_t steps = (k + 3) / 4;
    q_block p;
    p.row_scale = e->row_scale;
    p.scaled = e->row_scale != NULL, p.biased = e->bias != NULL, p.acc = e->accumulate, p.gelu = e->gelu;
    const ptrdiff_t tiles = (m + 11) / 12;
    for (ptrdiff_t col = col0; col < col1; col += 32) {
        const ptrdiff_t cols = col1 - col < 32 ? col1 - col : 32;
        const int np = cols > 16 ? 2 : 1;
        const int8_t *b0 = panels + (col / 16) * steps * 64, *b1 = b0 + steps * 64;
        // The next block's panels, fetched a slice before each row tile of this block: a weight matrix
        // is read once per call, mostly from L3 or memory, and each block's short streams would
        // otherwise start cold (measured: ~7% of a ViT's q8 products).
        const char *next = (const char *)(b0 + 2 * steps * 64);
        const ptrdiff_t next_cols = col1 - col - 32 < 32 ? col1 - col - 32 : 32;
        const ptrdiff_t next_bytes = next_cols <= 0 ? 0 : (next_cols > 16 ? 2 : 1) * steps * 64;
        const ptrdiff_t slice = (next_bytes / 64 + tiles - 1) / tiles * 64;
        ptrdiff_t fetched = 0;
        for (int h = 0; h < 2; h++) {
            const ptrdiff_t valid = h < np ? cols - 16 * h : 0;
            const __mmask16 mask = valid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1);
            p.mask[h] = mask;
            p.start[h] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                          _mm512_slli_epi32(_mm512_maskz_loadu_epi32(mask, wsums + col + 16 * h), 7));
            p.cs[h] = p.scaled ? _mm512_maskz_loadu_ps(mask, e->col_scale + col + 16 * h) : _mm512_setzero_ps();
            p.b[h] = p.biased ? _mm512_maskz_loadu_ps(mask, e->bias + col + 16 * h) : _mm512_setzero_ps();
        }
        for (ptrdiff_t i = 0; i < m;) {
            const ptrdiff_t rem = m - i;
            const int mr = rem > 8 ? (rem < 12 ? (int)rem : 12) : (rem < 4 ? (int)rem : 4);
            const uint32_t *ai = (const uint32_t *)(a + i * 4 * steps);
            for (const ptrdiff_t end = fetched + slice; fetched < end && fetched < next_bytes; fetched += 64)
                _mm_prefetch(next + fetched, _MM_HINT_T0);
            if (rem > 8) {
                if (np == 2)
                    q_tile12x2(mr, steps, ai, steps, b0, b1, &p, i, c + col, ldc);
                else
                    q_tile12x1(mr, steps, ai, steps, b0, &p, i, c + col, ldc);
            } else {
                if (np == 2)
                    q_tile4x2(mr, steps, ai, steps, b0, b1, &p, i, c + col, ldc);
                else
                    q_tile4x1(mr, steps, ai, steps, b0, &p, i, c + col, ldc);
            }
            i += mr;
        }
    }
}

// ---- AVX2 (x86 without AVX-512 VNNI): 4 rows × 16 columns ---------------------------------------

/// One step of one row against 8 columns: `vpmaddubsw` multiplies |q_w| (unsigned: 128 for a −128) by
/// q_a with q_w's sign (`vpsignb`; |q_a| ≤ 127, so the negation never overflows), every pair sum at
/// most 2 · 128 · 127 < 2^15, never saturated; `vpmaddwd` by ones adds the pairs into the int32 sums
/// (exact, as on every path, for any int8 weight).
#define QA_F(i)                                                                                                        \
    {                                                                                                                  \
        const __m256i x = _mm256_xor_si256(_mm256_set1_epi32((int)a##i[g]), flip);                                     \
        s##i##a =                                                                                                      \
            _mm256_add_epi32(s##i##a, _mm256_madd_epi16(_mm256_maddubs_epi16(aw0, _mm256_sign_epi8(x, w0)), one));     \
        s##i##b =                                                                                                      \
            _mm256_add_epi32(s##i##b, _mm256_madd_epi16(_mm256_maddubs_epi16(aw1, _mm256_sign_epi8(x, w1)), one));     \
    }
#define QA_A_ROW(i) const uint32_t *a##i = a + (i < mr ? i : mr - 1) * lda;
#define QA_Z(i)     __m256i s##i##a = _mm256_setzero_si256(), s##i##b = _mm256_setzero_si256();
#define QA_O(i)     out[2 * i] = s##i##a, out[2 * i + 1] = s##i##b;

SWK_AVX2 __attribute__((noinline)) static void q_tile_avx2(int mr, ptrdiff_t steps, const uint32_t *a, ptrdiff_t lda,
                                                           const int8_t *b, __m256i *out) {
    Q_ROWS4(QA_A_ROW)
    Q_ROWS4(QA_Z)
    const __m256i flip = _mm256_set1_epi8((char)0x80), one = _mm256_set1_epi16(1);
    for (ptrdiff_t g = 0; g < steps; g++) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)(b + 64 * g));
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(const void *)(b + 64 * g + 32));
        const __m256i aw0 = _mm256_abs_epi8(w0), aw1 = _mm256_abs_epi8(w1);
        Q_ROWS4(QA_F)
    }
    Q_ROWS4(QA_O)
}

SWK_AVX2 static void gemm_avx2(const uint8_t *a, ptrdiff_t m, ptrdiff_t k, const int8_t *panels, ptrdiff_t col0,
                               ptrdiff_t col1, const swk_lowp_epilogue *e, float *c, ptrdiff_t ldc) {
    const ptrdiff_t steps = (k + 3) / 4;
    __m256i s[8];
    for (ptrdiff_t col = col0; col < col1; col += 16) {
        const ptrdiff_t cols = col1 - col < 16 ? col1 - col : 16;
        const int8_t *b = panels + (col / 16) * steps * 64;
        for (ptrdiff_t i = 0; i < m; i += 4) {
            const int mr = m - i < 4 ? (int)(m - i) : 4;
            q_tile_avx2(mr, steps, (const uint32_t *)(const void *)(a + i * 4 * steps), steps, b, s);
            for (int r = 0; r < mr; r++)
                for (int h = 0; h < 2 && cols > 8 * h; h++)
                    swk_lowp_store256(_mm256_cvtepi32_ps(s[2 * r + h]), i + r, col + 8 * h, cols - 8 * h, e,
                                      c + (i + r) * ldc + col + 8 * h);
        }
    }
}

#endif // SWK_X86

#ifdef SWK_NEON

// ---- NEON: 4 rows × 16 columns -------------------------------------------------------------------

/// The signed activations of a step (four uint8, offset removed by flipping the top bit), as a 32-bit
/// lane replicated four times.
SWK_INLINE int8x16_t quad(const uint32_t *row, ptrdiff_t g) {
    return veorq_s8(vreinterpretq_s8_u32(vdupq_n_u32(row[g])), vdupq_n_s8((int8_t)0x80));
}

SWK_DOTPROD static void tile_dot(int mr, ptrdiff_t steps, const uint32_t *a, ptrdiff_t lda, const int8_t *b,
                                 int32x4_t *out) {
    int32x4_t s[16];
    for (int i = 0; i < 16; i++) s[i] = vdupq_n_s32(0);
    const uint32_t *rows[4];
    for (int i = 0; i < 4; i++) rows[i] = a + (i < mr ? i : mr - 1) * lda;
    for (ptrdiff_t g = 0; g < steps; g++) {
        const int8x16_t w0 = vld1q_s8(b + 64 * g), w1 = vld1q_s8(b + 64 * g + 16), w2 = vld1q_s8(b + 64 * g + 32),
                        w3 = vld1q_s8(b + 64 * g + 48);
        for (int i = 0; i < 4; i++) {
            const int8x16_t x = quad(rows[i], g);
            s[4 * i] = vdotq_s32(s[4 * i], w0, x);
            s[4 * i + 1] = vdotq_s32(s[4 * i + 1], w1, x);
            s[4 * i + 2] = vdotq_s32(s[4 * i + 2], w2, x);
            s[4 * i + 3] = vdotq_s32(s[4 * i + 3], w3, x);
        }
    }
    for (int i = 0; i < 16; i++) out[i] = s[i];
}

/// Four columns × four k of one step, widening: products as int16 (|q·x| ≤ 127², pair sums ≤ 32258),
/// pairs added, then pairs of pairs into int32.
SWK_INLINE int32x4_t dot4(int32x4_t acc, int8x16_t w, int8x16_t x) {
    const int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(x)), hi = vmull_high_s8(w, x);
    return vpadalq_s16(acc, vpaddq_s16(lo, hi));
}

static void tile_widen(int mr, ptrdiff_t steps, const uint32_t *a, ptrdiff_t lda, const int8_t *b, int32x4_t *out) {
    int32x4_t s[16];
    for (int i = 0; i < 16; i++) s[i] = vdupq_n_s32(0);
    const uint32_t *rows[4];
    for (int i = 0; i < 4; i++) rows[i] = a + (i < mr ? i : mr - 1) * lda;
    for (ptrdiff_t g = 0; g < steps; g++) {
        const int8x16_t w0 = vld1q_s8(b + 64 * g), w1 = vld1q_s8(b + 64 * g + 16), w2 = vld1q_s8(b + 64 * g + 32),
                        w3 = vld1q_s8(b + 64 * g + 48);
        for (int i = 0; i < 4; i++) {
            const int8x16_t x = quad(rows[i], g);
            s[4 * i] = dot4(s[4 * i], w0, x);
            s[4 * i + 1] = dot4(s[4 * i + 1], w1, x);
            s[4 * i + 2] = dot4(s[4 * i + 2], w2, x);
            s[4 * i + 3] = dot4(s[4 * i + 3], w3, x);
        }
    }
    for (int i = 0; i < 16; i++) out[i] = s[i];
}

static void gemm_neon(int dot, const uint8_t *a, ptrdiff_t m, ptrdiff_t k, const int8_t *panels, ptrdiff_t col0,
                      ptrdiff_t col1, const swk_lowp_epilogue *e, float *c, ptrdiff_t ldc) {
    const ptrdiff_t steps = (k + 3) / 4;
    int32x4_t s[16];
    for (ptrdiff_t col = col0; col < col1; col += 16) {
        const ptrdiff_t cols = col1 - col < 16 ? col1 - col : 16;
        const int8_t *b = panels + (col / 16) * steps * 64;
        for (ptrdiff_t i = 0; i < m; i += 4) {
            const int mr = m - i < 4 ? (int)(m - i) : 4;
            const uint32_t *ai = (const uint32_t *)(a + i * 4 * steps);
            if (dot)
                tile_dot(mr, steps, ai, steps, b, s);
            else
                tile_widen(mr, steps, ai, steps, b, s);
            for (int r = 0; r < mr; r++)
                for (int h = 0; h < 4 && cols > 4 * h; h++)
                    swk_lowp_store_neon(vcvtq_f32_s32(s[4 * r + h]), i + r, col + 4 * h, cols - 4 * h, e,
                                        c + (i + r) * ldc + col + 4 * h);
        }
    }
}

#endif // SWK_NEON

void swk_panel_q8_tiles(const uint8_t *a, ptrdiff_t m, ptrdiff_t k, const int8_t *panels, const int32_t *wsums,
                        ptrdiff_t col0, ptrdiff_t col1, const swk_lowp_epilogue *e, float *c, ptrdiff_t ldc) {
    if (m <= 0 || col1 <= col0) return;
    const int level = swk_isa();
#ifdef SWK_X86
    if (level >= SWK_ISA_AVX512 && (swk_cpu_features() & SWK_CPU_AVX512_VNNI))
        return gemm_vnni(a, m, k, panels, wsums, col0, col1, e, c, ldc);
    if (level >= SWK_ISA_AVX2) return gemm_avx2(a, m, k, panels, col0, col1, e, c, ldc);
#elif defined(SWK_NEON)
    if (level >= SWK_ISA_NEON) {
        gemm_neon(level >= SWK_ISA_NEON_DOTPROD, a, m, k, panels, col0, col1, e, c, ldc);
        return;
    }
#endif
    (void)level;
    gemm_portable(a, m, k, panels, wsums, col0, col1, e, c, ldc);
}

void swk_panel_linear_q8(const uint8_t *a, ptrdiff_t m, ptrdiff_t k, const float *ascale, const int8_t *panels,
                         const float *wscale, const int32_t *wsums, ptrdiff_t n, ptrdiff_t col0, ptrdiff_t col1,
                         const float *bias, int flags, float *c, ptrdiff_t ldc) {
    if (col1 > n) col1 = n;
    const swk_lowp_epilogue e = {ascale, wscale, bias, (flags & SWK_PANEL_ACCUMULATE) != 0,
                                 (flags & SWK_PANEL_GELU) != 0};
    swk_panel_q8_tiles(a, m, k, panels, wsums, col0, col1, &e, c, ldc);
}
