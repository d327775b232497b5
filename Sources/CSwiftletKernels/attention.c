// Multi-head attention with an additive per-key bias, head by head and a block of query rows at a
// time: S = scale · Q Kᵀ + bias (the bias rides in the GEMM epilogue), e^(S − rowmax) in place, then
// O = e^(…) V with each row divided by its sum in the second GEMM's epilogue. K and V of the head are
// first laid out as panels (swk_panel.h) so both products use the weight-panel micro-kernels; the
// block of scores stays in L1/L2.
#include <math.h>

#include <string.h>

#include "panel_lowp_internal.h"

/// Query rows per block: the score block (rows × tokens) stays in L2, and the V panels are reused
/// by that many rows.
#define QUERY_BLOCK 24

size_t swk_attention_scratch(ptrdiff_t tokens, ptrdiff_t head_dim) {
    size_t tpad = (size_t)(tokens + 15) / 16 * 16, hpad = (size_t)(head_dim + 15) / 16 * 16;
    return tpad * (size_t)head_dim + hpad * (size_t)tokens + QUERY_BLOCK * tpad + QUERY_BLOCK;
}

// e^(x − max) in place over `n` floats; returns 1 / Σ.
static float softmax_portable(float *x, ptrdiff_t n) {
    float m = -INFINITY;
    for (ptrdiff_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
    float sum = 0;
    for (ptrdiff_t j = 0; j < n; j++) {
        x[j] = expf(x[j] - m);
        sum += x[j];
    }
    return 1.0f / sum;
}

#ifdef SWK_X86
/// max_j x[j], broadcast.
SWK_AVX512 static __m512 rowmax512(const float *x, ptrdiff_t n) {
    __m512 m0 = _mm512_set1_ps(-INFINITY);
    ptrdiff_t j = 0;
    for (; j + 16 <= n; j += 16) m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + j));
    const __mmask16 tail = (__mmask16)((1u << (n - j)) - 1);
    if (j < n) m0 = _mm512_mask_max_ps(m0, tail, m0, _mm512_maskz_loadu_ps(tail, x + j));
    return _mm512_set1_ps(_mm512_reduce_max_ps(m0));
}

SWK_AVX512 static float softmax512(float *x, ptrdiff_t n) {
    const __m512 m = rowmax512(x, n);
    const __mmask16 tail = (__mmask16)((1u << (n & 15)) - 1);
    ptrdiff_t j;
    __m512 s0 = _mm512_setzero_ps();
    for (j = 0; j + 16 <= n; j += 16) {
        __m512 e = swk_exp512(_mm512_sub_ps(_mm512_loadu_ps(x + j), m));
        _mm512_storeu_ps(x + j, e);
        s0 = _mm512_add_ps(s0, e);
    }
    if (j < n) {
        __m512 e = swk_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + j), m));
        _mm512_mask_storeu_ps(x + j, tail, e);
        s0 = _mm512_mask_add_ps(s0, tail, s0, e);
    }
    return 1.0f / _mm512_reduce_add_ps(s0);
}

/// softmax512 whose exp pass writes e^(x − max) rounded to bf16 into `out` (x keeps the scores);
/// returns 1 / Σ of the unrounded values, summed as softmax512 sums them.
SWK_AVX512 static float softmax512_bf16(const float *x, ptrdiff_t n, uint16_t *out) {
    const __m512 m = rowmax512(x, n);
    const __mmask16 tail = (__mmask16)((1u << (n & 15)) - 1);
    ptrdiff_t j;
    __m512 s0 = _mm512_setzero_ps();
    for (j = 0; j + 16 <= n; j += 16) {
        __m512 e = swk_exp512(_mm512_sub_ps(_mm512_loadu_ps(x + j), m));
        _mm256_storeu_si256((__m256i *)(void *)(out + j), _mm512_cvtepi32_epi16(swk_bf16_bits512(e)));
        s0 = _mm512_add_ps(s0, e);
    }
    if (j < n) {
        __m512 e = swk_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + j), m));
        _mm512_mask_cvtepi32_storeu_epi16(out + j, tail, swk_bf16_bits512(e));
        s0 = _mm512_mask_add_ps(s0, tail, s0, e);
    }
    return 1.0f / _mm512_reduce_add_ps(s0);
}

SWK_AVX2 static float softmax256(float *x, ptrdiff_t n) {
    __m256 m0 = _mm256_set1_ps(-INFINITY);
    ptrdiff_t j = 0;
    for (; j + 8 <= n; j += 8) m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + j));
    float mv[8];
    _mm256_storeu_ps(mv, m0);
    float m = -INFINITY;
    for (int l = 0; l < 8; l++) m = mv[l] > m ? mv[l] : m;
    for (ptrdiff_t t = j; t < n; t++) m = x[t] > m ? x[t] : m;
    __m256 mm = _mm256_set1_ps(m), s0 = _mm256_setzero_ps();
    for (j = 0; j + 8 <= n; j += 8) {
        __m256 e = swk_exp256(_mm256_sub_ps(_mm256_loadu_ps(x + j), mm));
        _mm256_storeu_ps(x + j, e);
        s0 = _mm256_add_ps(s0, e);
    }
    float sv[8];
    _mm256_storeu_ps(sv, s0);
    float sum = ((sv[0] + sv[1]) + (sv[2] + sv[3])) + ((sv[4] + sv[5]) + (sv[6] + sv[7]));
    for (; j < n; j++) {
        x[j] = expf(x[j] - m);
        sum += x[j];
    }
    return 1.0f / sum;
}
#endif

#ifdef SWK_NEON
static float softmax_neon(float *x, ptrdiff_t n) {
    float32x4_t m0 = vdupq_n_f32(-INFINITY);
    ptrdiff_t j = 0;
    for (; j + 4 <= n; j += 4) m0 = vmaxq_f32(m0, vld1q_f32(x + j));
    float m = vmaxvq_f32(m0);
    for (ptrdiff_t t = j; t < n; t++) m = x[t] > m ? x[t] : m;
    const float32x4_t mm = vdupq_n_f32(m);
    float32x4_t s0 = vdupq_n_f32(0.0f);
    for (j = 0; j + 4 <= n; j += 4) {
        float32x4_t e = swk_exp_neon(vsubq_f32(vld1q_f32(x + j), mm));
        vst1q_f32(x + j, e);
        s0 = vaddq_f32(s0, e);
    }
    float sum = vaddvq_f32(s0);
    for (; j < n; j++) {
        x[j] = expf(x[j] - m);
        sum += x[j];
    }
    return 1.0f / sum;
}
#endif

static float softmax_row(int level, float *x, ptrdiff_t n) {
#ifdef SWK_X86
    if (level >= SWK_ISA_AVX512) return softmax512(x, n);
    if (level >= SWK_ISA_AVX2) return softmax256(x, n);
#elif defined(SWK_NEON)
    if (level >= SWK_ISA_NEON) return softmax_neon(x, n);
#else
    (void)level;
#endif
    return softmax_portable(x, n);
}

void swk_attention(const float *q, const float *k, const float *v, ptrdiff_t stride, ptrdiff_t tokens, ptrdiff_t q0,
                   ptrdiff_t q1, ptrdiff_t heads, ptrdiff_t head_dim, float scale, const float *key_bias, float *out,
                   ptrdiff_t ldo, float *scratch) {
    if (tokens <= 0 || q1 <= q0 || heads <= 0 || head_dim <= 0) return;
    const int level = swk_isa();
    const ptrdiff_t tpad = (tokens + 15) / 16 * 16, hpad = (head_dim + 15) / 16 * 16;
    float *kp = scratch, *vp = kp + tpad * head_dim, *s = vp + hpad * tokens, *inv = s + QUERY_BLOCK * tpad;
    for (ptrdiff_t h = 0; h < heads; h++) {
        const ptrdiff_t off = h * head_dim;
        // K as panels of 16 keys (the "weights" of S = Q Kᵀ); keys past the end are zero.
        for (ptrdiff_t t = 0; t < tpad; t++) {
            float *dst = kp + (t / 16) * head_dim * 16 + t % 16;
            const float *row = k + t * stride + off;
            if (t < tokens) {
                for (ptrdiff_t p = 0; p < head_dim; p++) dst[p * 16] = row[p];
            } else {
                for (ptrdiff_t p = 0; p < head_dim; p++) dst[p * 16] = 0;
            }
        }
        // V as panels of 16 head dimensions (the "weights" of O = P V, k = tokens).
        for (ptrdiff_t j = 0; j < hpad / 16; j++) {
            float *panel = vp + j * tokens * 16;
            for (ptrdiff_t t = 0; t < tokens; t++) {
                const float *row = v + t * stride + off + j * 16;
                for (ptrdiff_t c = 0; c < 16; c++) panel[t * 16 + c] = j * 16 + c < head_dim ? row[c] : 0;
            }
        }
        for (ptrdiff_t i0 = q0; i0 < q1; i0 += QUERY_BLOCK) {
            ptrdiff_t rows = q1 - i0 < QUERY_BLOCK ? q1 - i0 : QUERY_BLOCK;
            swk_epilogue scores = {scale, NULL, key_bias, 0, 0};
            swk_panel_tiles(level, q + i0 * stride + off, stride, rows, head_dim, kp, 0, tokens, &scores, s, tpad);
            for (ptrdiff_t i = 0; i < rows; i++) inv[i] = softmax_row(level, s + i * tpad, tokens);
            swk_epilogue mix = {1.0f, inv, NULL, 0, 0};
            swk_panel_tiles(level, s, tpad, rows, tokens, vp, 0, head_dim, &mix, out + i0 * ldo + off, ldo);
        }
    }
}

// ---- bfloat16 ------------------------------------------------------------------------------------

/// Query rows per block of the bf16 attention (four of the kernel's 12-row tiles).
#define QUERY_BLOCK_BF16 48

/// 64-byte aligned offsets (in bytes) of the parts of the bf16 attention's scratch.
typedef struct {
    size_t kpan, vpan, rows, qb, s, pb, scales, inv, ones, total;
} bf16_layout;

static size_t align64(size_t bytes) { return (bytes + 63) / 64 * 64; }

static bf16_layout bf16_scratch_layout(ptrdiff_t tokens, ptrdiff_t head_dim) {
    const size_t tpad = (size_t)(tokens + 15) / 16 * 16, hp2 = (size_t)(head_dim + 1) / 2 * 2,
                 tp2 = (size_t)(tokens + 1) / 2 * 2, hpad = (size_t)(head_dim + 15) / 16 * 16;
    bf16_layout l;
    size_t at = 0;
    l.kpan = at, at += align64(swk_panel_bf16_elements(tokens, head_dim) * 2);
    l.vpan = at, at += align64(swk_panel_bf16_elements(head_dim, tokens) * 2);
    l.rows = at, at += align64(tpad * hp2 * 2); // whole panels of keys (pack_keys512)
    l.qb = at, at += align64(QUERY_BLOCK_BF16 * hp2 * 2);
    l.s = at, at += align64(QUERY_BLOCK_BF16 * tpad * 4);
    l.pb = at, at += align64(QUERY_BLOCK_BF16 * tp2 * 2);
    l.scales = at, at += align64(QUERY_BLOCK_BF16 * 4);
    l.inv = at, at += align64(QUERY_BLOCK_BF16 * 4);
    l.ones = at, at += align64((tpad > hpad ? tpad : hpad) * 4);
    l.total = at;
    return l;
}

size_t swk_attention_bf16_scratch(ptrdiff_t tokens, ptrdiff_t head_dim) {
    return (bf16_scratch_layout(tokens, head_dim).total + 63) / 4; // floats, with room to align the start
}

#ifdef SWK_X86
/// K's pair panels from its rounded rows (`rows`, `hsteps` pairs a key; the caller zeroed the key
/// rows past `tokens` up to a multiple of 16): per 16 keys, 16 × 16 blocks of pairs transposed in
/// registers, what the scalar loop of swk_attention_bf16 writes.
SWK_AVX512 static void pack_keys512(const uint32_t *rows, ptrdiff_t tpad, ptrdiff_t hsteps, uint32_t *dst) {
    for (ptrdiff_t t0 = 0; t0 < tpad; t0 += 16) {
        uint32_t *panel = dst + (t0 / 16) * hsteps * 16;
        for (ptrdiff_t g0 = 0; g0 < hsteps; g0 += 16) {
            const ptrdiff_t left = hsteps - g0;
            const __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            __m512i r[16], a[16];
            for (int i = 0; i < 16; i++) r[i] = _mm512_maskz_loadu_epi32(mask, rows + (t0 + i) * hsteps + g0);
            // Within each 128-bit lane: 4 × 4 transposes of keys 4m … 4m + 3.
            for (int i = 0; i < 16; i += 2) {
                a[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
                a[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
            }
            for (int m = 0; m < 16; m += 4) {
                r[m] = _mm512_unpacklo_epi64(a[m], a[m + 2]);     // pair 4L of keys m … m + 3, lane L
                r[m + 1] = _mm512_unpackhi_epi64(a[m], a[m + 2]); // pair 4L + 1
                r[m + 2] = _mm512_unpacklo_epi64(a[m + 1], a[m + 3]);
                r[m + 3] = _mm512_unpackhi_epi64(a[m + 1], a[m + 3]);
            }
            // Then the 128-bit lanes: pair 4L + e of every key is lane L of r[4m + e] for m = 0 … 3.
            for (int e = 0; e < 4; e++) {
                const __m512i x0 = _mm512_shuffle_i32x4(r[e], r[4 + e], 0x88); // r0.L0 r0.L2 r4.L0 r4.L2
                const __m512i x1 = _mm512_shuffle_i32x4(r[e], r[4 + e], 0xDD); // r0.L1 r0.L3 r4.L1 r4.L3
                const __m512i y0 = _mm512_shuffle_i32x4(r[8 + e], r[12 + e], 0x88);
                const __m512i y1 = _mm512_shuffle_i32x4(r[8 + e], r[12 + e], 0xDD);
                const __m512i out[4] = {
                    _mm512_shuffle_i32x4(x0, y0, 0x88), // lane 0 of each: pair e
                    _mm512_shuffle_i32x4(x1, y1, 0x88), // pair 4 + e
                    _mm512_shuffle_i32x4(x0, y0, 0xDD), // pair 8 + e
                    _mm512_shuffle_i32x4(x1, y1, 0xDD), // pair 12 + e
                };
                for (int L = 0; L < 4; L++) {
                    const ptrdiff_t g = g0 + 4 * L + e;
                    if (g < hsteps) _mm512_storeu_si512(panel + g * 16, out[L]);
                }
            }
        }
    }
}

/// V's pair panels straight from the float rows (rounded as swk_bf16_round_rows rounds them): step g
/// of panel j holds tokens 2g and 2g + 1 (zero past the end), 16 head dimensions (zero past
/// head_dim).
SWK_AVX512 static void pack_values512(const float *v, ptrdiff_t stride, ptrdiff_t tokens, ptrdiff_t head_dim,
                                      uint16_t *vpan) {
    const ptrdiff_t tsteps = (tokens + 1) / 2, hpad = (head_dim + 15) / 16 * 16;
    for (ptrdiff_t j = 0; j < hpad / 16; j++) {
        uint32_t *panel = (uint32_t *)(void *)(vpan + j * tsteps * 32);
        const ptrdiff_t c1 = head_dim - 16 * j < 16 ? head_dim - 16 * j : 16;
        const __mmask16 mask = c1 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << c1) - 1);
        for (ptrdiff_t g = 0; g < tsteps; g++) {
            const float *r0 = v + 2 * g * stride + 16 * j;
            const __m512i e0 = swk_bf16_bits512(_mm512_maskz_loadu_ps(mask, r0));
            const __m512i e1 = 2 * g + 1 < tokens ? swk_bf16_bits512(_mm512_maskz_loadu_ps(mask, r0 + stride))
                                                  : _mm512_setzero_si512();
            // A lane past head_dim holds bf16(0) = 0 on both halves.
            _mm512_storeu_si512(panel + g * 16, _mm512_or_si512(e0, _mm512_slli_epi32(e1, 16)));
        }
    }
}
#endif

void swk_attention_bf16(const float *q, const float *k, const float *v, ptrdiff_t stride, ptrdiff_t tokens,
                        ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t heads, ptrdiff_t head_dim, float scale,
                        const float *key_bias, float *out, ptrdiff_t ldo, float *scratch) {
    if (tokens <= 0 || q1 <= q0 || heads <= 0 || head_dim <= 0) return;
    const int level = swk_isa();
    const bf16_layout l = bf16_scratch_layout(tokens, head_dim);
    unsigned char *base = (unsigned char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    uint16_t *kpan = (uint16_t *)(void *)(base + l.kpan), *vpan = (uint16_t *)(void *)(base + l.vpan);
    uint16_t *rows16 = (uint16_t *)(void *)(base + l.rows), *qb = (uint16_t *)(void *)(base + l.qb);
    uint16_t *pb = (uint16_t *)(void *)(base + l.pb);
    float *s = (float *)(void *)(base + l.s), *scales = (float *)(void *)(base + l.scales);
    float *inv = (float *)(void *)(base + l.inv), *ones = (float *)(void *)(base + l.ones);
    const ptrdiff_t tpad = (tokens + 15) / 16 * 16, hpad = (head_dim + 15) / 16 * 16;
    const ptrdiff_t hsteps = (head_dim + 1) / 2, tsteps = (tokens + 1) / 2, hp2 = 2 * hsteps, tp2 = 2 * tsteps;
    for (ptrdiff_t j = 0; j < (tpad > hpad ? tpad : hpad); j++) ones[j] = 1.0f;
    for (ptrdiff_t i = 0; i < QUERY_BLOCK_BF16; i++) scales[i] = scale;
    for (ptrdiff_t h = 0; h < heads; h++) {
        const ptrdiff_t off = h * head_dim;
        // K as pair panels of 16 keys (the "weights" of S = Q Kᵀ, k = head_dim): a key's rounded row
        // is ceil(head_dim/2) pairs, pair g going to step g of its panel; keys past the end are zero.
        swk_bf16_round_rows(k + off, stride, tokens, head_dim, rows16);
#ifdef SWK_X86
        if (level >= SWK_ISA_AVX512) {
            memset(rows16 + tokens * hp2, 0, (size_t)(tpad - tokens) * (size_t)hp2 * 2);
            pack_keys512((const uint32_t *)(const void *)rows16, tpad, hsteps, (uint32_t *)(void *)kpan);
        } else
#endif
        {
            uint32_t *dst = (uint32_t *)(void *)kpan;
            for (ptrdiff_t t = 0; t < tpad; t++) {
                uint32_t *col = dst + (t / 16) * hsteps * 16 + t % 16;
                if (t < tokens) {
                    const uint16_t *row = rows16 + t * hp2;
                    for (ptrdiff_t g = 0; g < hsteps; g++) {
                        uint32_t pair;
                        memcpy(&pair, row + 2 * g, 4);
                        col[g * 16] = pair;
                    }
                } else {
                    for (ptrdiff_t g = 0; g < hsteps; g++) col[g * 16] = 0;
                }
            }
        }
        // V as pair panels of 16 head dimensions (the "weights" of O = P V, k = tokens): step g of
        // panel j interleaves tokens 2g and 2g + 1 (zero past the end) column by column.
#ifdef SWK_X86
        if (level >= SWK_ISA_AVX512)
            pack_values512(v + off, stride, tokens, head_dim, vpan);
        else
#endif
        {
            swk_bf16_round_rows(v + off, stride, tokens, head_dim, rows16);
            if (tp2 > tokens) memset(rows16 + tokens * hp2, 0, (size_t)hp2 * 2);
            for (ptrdiff_t j = 0; j < hpad / 16; j++) {
                uint16_t *panel = vpan + j * tsteps * 32;
                const ptrdiff_t c1 = head_dim - 16 * j < 16 ? head_dim - 16 * j : 16;
                for (ptrdiff_t g = 0; g < tsteps; g++) {
                    const uint16_t *r0 = rows16 + 2 * g * hp2 + 16 * j, *r1 = r0 + hp2;
                    uint32_t *dst = (uint32_t *)(void *)(panel + g * 32);
                    if (c1 == 16) {
                        for (ptrdiff_t c = 0; c < 16; c++)
                            dst[c] = (uint32_t)r0[c] | (uint32_t)r1[c] << 16; // vectorises
                    } else {
                        for (ptrdiff_t c = 0; c < 16; c++)
                            dst[c] = c < c1 ? (uint32_t)r0[c] | (uint32_t)r1[c] << 16 : 0;
                    }
                }
            }
        }
        for (ptrdiff_t i0 = q0; i0 < q1; i0 += QUERY_BLOCK_BF16) {
            const ptrdiff_t rows = q1 - i0 < QUERY_BLOCK_BF16 ? q1 - i0 : QUERY_BLOCK_BF16;
            swk_bf16_round_rows(q + i0 * stride + off, stride, rows, head_dim, qb);
            // S = scale · (Q Kᵀ) + key_bias, as (scale · 1) times the sums.
            const swk_lowp_epilogue scores = {scales, ones, key_bias, 0, 0};
            swk_panel_bf16_tiles(qb, rows, head_dim, kpan, 0, tokens, &scores, s, tpad);
            // e^(S − max) rounded to bf16 (each row while it is in L1), then O = (e V) · (1/Σe · 1).
            for (ptrdiff_t i = 0; i < rows; i++) {
#ifdef SWK_X86
                if (level >= SWK_ISA_AVX512) {
                    inv[i] = softmax512_bf16(s + i * tpad, tokens, pb + i * tp2);
                    if (tp2 > tokens) pb[i * tp2 + tokens] = 0;
                    continue;
                }
#endif
                inv[i] = softmax_row(level, s + i * tpad, tokens);
                swk_bf16_round_rows(s + i * tpad, tpad, 1, tokens, pb + i * tp2);
            }
            const swk_lowp_epilogue mix = {inv, ones, NULL, 0, 0};
            swk_panel_bf16_tiles(pb, rows, tokens, vpan, 0, head_dim, &mix, out + i0 * ldo + off, ldo);
        }
    }
}
