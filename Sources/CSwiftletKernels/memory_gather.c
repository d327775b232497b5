// The memory layer's gather: y[n] = Σ_k w[n,k] · row(k, code[n,k]) + bias, rows stored as f32, f16,
// int8 with a per-row scale, or int4 with a scale per block of 32 values (SWK_Q4BLOCK: each term is
// (w · scale_block) · q, the coefficient rounded once to float32).
//
// Every row of a token is a cache miss into tables far larger than the caches, so the loops are
// built around memory: tables are taken eight at a time (eight independent row streams, the
// accumulator row loaded and stored once per eight rows), and while a group of eight is summed the
// rows of the group PREFETCH_GROUPS ahead are prefetched line by line. A batch is walked in blocks of
// tokens, group-major inside a block (all tokens' tables 0–7, then 8–15, ...), so that a row that
// several tokens select is read from memory once. With threads, a batch is split by tokens and a
// single large token by columns. AVX-512 beat AVX2 by 10–30% on every storage (Zen 4), so it is
// preferred where present. NEON runs the same loops, eight values (two vectors) per step.

#include <string.h>

#include "simd_internal.h"
#include "swk_memory.h"
#include "swk_pool.h"

enum {
    GROUP = 8,                // rows summed per pass over the accumulator
    PREFETCH_GROUPS = 1,      // how far ahead rows are prefetched, in groups (1 measured best)
    BLOCK_BYTES = 384 * 1024, // accumulators of one block of tokens (in L2)
    MAX_BLOCK_TOKENS = 128,
    LINE = 64, // cache line bytes
    // Below this many multiply-adds a job is not worth waking another thread for.
    PARALLEL_MIN_MACS = 96 * 1024,
    PARTS_PER_THREAD = 4,
    MIN_PART_TOKENS = 8,
};

// What one call gathers; parts of it run on different threads.
typedef struct {
    const swk_memory_tables *t;
    const int32_t *codes;
    const float *weights;
    const float *bias;
    float *y;
    long ldy;
    long rows;
    int isa;
    int parts;
    int split_columns; // parts are column ranges of every row, else token ranges
    long column_step;  // column ranges are multiples of this
} gather_job;

static inline const char *row_address(const swk_memory_tables *t, const int32_t *codes, long n, int k) {
    long r = ((long)k << t->code_length) + codes[n * t->tables + k];
    return (const char *)t->values + r * t->row_stride;
}

static inline float row_scale(const swk_memory_tables *t, const int32_t *codes, long n, int k) {
    long r = ((long)k << t->code_length) + codes[n * t->tables + k];
    float s;
    memcpy(&s, (const char *)t->scales + r * t->scale_stride, sizeof s);
    return s;
}

static inline void start_accumulator(float *acc, const float *bias, long c0, long c1) {
    if (bias)
        memcpy(acc + c0, bias + c0, (size_t)(c1 - c0) * sizeof(float));
    else
        memset(acc + c0, 0, (size_t)(c1 - c0) * sizeof(float));
}

// ---- portable -------------------------------------------------------------------------------------

static inline float load1_portable(const char *row, long j, int storage) {
    switch (storage) {
    case SWK_F16: {
        uint16_t h;
        memcpy(&h, row + 2 * j, 2);
        return swk_half_to_float(h);
    }
    case SWK_Q8ROW: return (float)(int8_t)row[j];
    default: {
        float f;
        memcpy(&f, row + 4 * j, 4);
        return f;
    }
    }
}

/// Where the block scales of the row that token n selects in table k start (SWK_Q4BLOCK).
static inline const char *block_scales(const swk_memory_tables *t, const int32_t *codes, long n, int k) {
    long r = ((long)k << t->code_length) + codes[n * t->tables + k];
    return (const char *)t->scales + r * t->scale_stride;
}

static void gather_portable(const gather_job *g, long n0, long n1, long c0, long c1) {
    const swk_memory_tables *t = g->t;
    for (long n = n0; n < n1; n++) {
        float *acc = g->y + n * g->ldy;
        start_accumulator(acc, g->bias, c0, c1);
        for (int k = 0; k < t->tables; k++) {
            const char *row = row_address(t, g->codes, n, k);
            float w = g->weights[n * t->tables + k];
            if (t->storage == SWK_Q4BLOCK) {
                const char *sc = block_scales(t, g->codes, n, k);
                for (long j = c0; j < c1; j++)
                    acc[j] += (w * swk_loadu_float(sc, j / SWK_Q4_BLOCK)) * swk_q4_value((const uint8_t *)row, j);
                continue;
            }
            if (t->storage == SWK_Q8ROW) w *= row_scale(t, g->codes, n, k);
            for (long j = c0; j < c1; j++) acc[j] += w * load1_portable(row, j, t->storage);
        }
    }
}

// ---- the token loop of the vector paths ------------------------------------------------------------

#if defined(SWK_X86) || defined(SWK_NEON)

#ifdef SWK_X86
#define SWK_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#else
#define SWK_PREFETCH(p) __builtin_prefetch((p), 0, 3)
#endif

static inline long element_bytes(int storage) { return storage == SWK_F32 ? 4 : storage == SWK_F16 ? 2 : 1; }

/// Byte offset of column c in a row (q4: c is even wherever this is used, a multiple of 64).
static inline long column_offset(int storage, long c) {
    return storage == SWK_Q4BLOCK ? c / 2 : c * element_bytes(storage);
}

// q4 (SWK_Q4BLOCK) columns c0 ..< c1 past the full blocks, scalar: acc[j] += Σ_i (w_i · scale) · q.
static inline void q4_tail_columns(const char *const *r, const char *const *sc, const float *w, int count, float *acc,
                                   long c0, long c1) {
    for (long j = c0; j < c1; j++) {
        float s = 0;
        for (int i = 0; i < count; i++)
            s += (w[i] * swk_loadu_float(sc[i], j / SWK_Q4_BLOCK)) * swk_q4_value((const uint8_t *)r[i], j);
        acc[j] += s;
    }
}

// Prefetches every line of the eight rows of (token n, group), and their scales for q8: the first
// step of a call, which nothing before has prefetched.
static inline void prefetch_whole_group(const gather_job *g, long n, int group, long c0, long c1) {
    const swk_memory_tables *t = g->t;
    for (int i = 0; i < GROUP; i++) {
        int k = group * GROUP + i;
        const char *row = row_address(t, g->codes, n, k);
        const long end = t->storage == SWK_Q4BLOCK ? swk_q4_row_bytes(c1) : column_offset(t->storage, c1);
        for (long b = column_offset(t->storage, c0); b < end; b += LINE) SWK_PREFETCH(row + b);
        if (t->storage == SWK_Q4BLOCK) {
            const char *sc = block_scales(t, g->codes, n, k);
            for (long b = 4 * (c0 / SWK_Q4_BLOCK); b < 4 * swk_q4_blocks(c1); b += LINE) SWK_PREFETCH(sc + b);
        }
        if (t->storage == SWK_Q8ROW) {
            long r = ((long)k << t->code_length) + g->codes[n * t->tables + k];
            SWK_PREFETCH((const char *)t->scales + r * t->scale_stride);
        }
    }
}

// The token loop, shared by the AVX2, AVX-512 and NEON kernels (passed in; inlined into each caller).
// `sc` (q4 only) are the rows' block scales from the block of column c0 on.
typedef void (*group_kernel)(const char *const *r, const char *const *sc, const float *w, float *acc, long c0, long c1,
                             const char *const *next, int storage);
typedef void (*row_kernel)(const char *r, const char *sc, float w, float *acc, long c0, long c1, int storage);

// Step s of a block of nb tokens starting at b0, in group-major order: every token's group 0,
// then every token's group 1, ... (with nb = 1, plain token order).
static inline void block_step(long s, long b0, long nb, long *n, int *group) {
    *group = (int)(s / nb);
    *n = b0 + s % nb;
}

__attribute__((always_inline)) static inline void gather_tokens(const gather_job *g, long n0, long n1, long c0, long c1,
                                                                int storage, group_kernel group8, row_kernel row1) {
    const swk_memory_tables *t = g->t;
    const int T = t->tables, groups = T / GROUP;
    const long skip = column_offset(storage, c0), skipScales = 4 * (c0 / SWK_Q4_BLOCK);
    // Group-major blocks: the tokens of a block read the same eight tables one after another, so a
    // row that two tokens select is still cached for the second; their accumulators stay in L2.
    long block = BLOCK_BYTES / (long)(4 * (c1 - c0) + 1);
    block = block < 1 ? 1 : block > MAX_BLOCK_TOKENS ? MAX_BLOCK_TOKENS : block;
    if (groups > 0) prefetch_whole_group(g, n0, 0, c0, c1);
    for (long b0 = n0; b0 < n1; b0 += block) {
        const long nb = b0 + block <= n1 ? block : n1 - b0, steps = nb * groups;
        const long nextB0 = b0 + nb, nextNb = nextB0 + block <= n1 ? block : n1 - nextB0;
        for (long n = b0; n < b0 + nb; n++) start_accumulator(g->y + n * g->ldy, g->bias, c0, c1);
        for (long s = 0; s < steps; s++) {
            long n, tn;
            int group, tg;
            block_step(s, b0, nb, &n, &group);
            const float *wn = g->weights + n * T;
            const char *r[GROUP], *next[GROUP], *sc[GROUP] = {0};
            float w[GROUP];
            for (int i = 0; i < GROUP; i++) {
                int k = group * GROUP + i;
                r[i] = row_address(t, g->codes, n, k) + skip;
                if (storage == SWK_Q4BLOCK) sc[i] = block_scales(t, g->codes, n, k) + skipScales;
                w[i] = wn[k];
                if (storage == SWK_Q8ROW) w[i] *= row_scale(t, g->codes, n, k);
            }
            // The step PREFETCH_GROUPS ahead, in this block or the next.
            long ahead = s + PREFETCH_GROUPS;
            int have = 1;
            if (ahead < steps)
                block_step(ahead, b0, nb, &tn, &tg);
            else if (nextNb > 0 && ahead - steps < nextNb * groups)
                block_step(ahead - steps, nextB0, nextNb, &tn, &tg);
            else
                have = 0;
            const char *const *pf = NULL;
            if (have) {
                for (int i = 0; i < GROUP; i++) next[i] = row_address(t, g->codes, tn, tg * GROUP + i) + skip;
                if (storage == SWK_Q4BLOCK)
                    for (int i = 0; i < GROUP; i++) {
                        const char *s = block_scales(t, g->codes, tn, tg * GROUP + i) + skipScales;
                        for (long b = 0; b < 4 * swk_q4_blocks(c1 - c0); b += LINE) SWK_PREFETCH(s + b);
                    }
                if (storage == SWK_Q8ROW)
                    for (int i = 0; i < GROUP; i++) {
                        int k = tg * GROUP + i;
                        long row = ((long)k << t->code_length) + g->codes[tn * T + k];
                        SWK_PREFETCH((const char *)t->scales + row * t->scale_stride);
                    }
                pf = next;
            }
            // Offsets relative to c0: the row pointers already start there.
            group8(r, sc, w, g->y + n * g->ldy + c0, 0, c1 - c0, pf, storage);
        }
        for (long n = b0; n < b0 + nb; n++) {
            const float *wn = g->weights + n * T;
            for (int k = groups * GROUP; k < T; k++) {
                float w = wn[k];
                if (storage == SWK_Q8ROW) w *= row_scale(t, g->codes, n, k);
                const char *sc = storage == SWK_Q4BLOCK ? block_scales(t, g->codes, n, k) + skipScales : NULL;
                row1(row_address(t, g->codes, n, k) + skip, sc, w, g->y + n * g->ldy + c0, 0, c1 - c0, storage);
            }
        }
    }
}

#endif // SWK_X86 || SWK_NEON

// ---- AVX2 / AVX-512 -------------------------------------------------------------------------------

#ifdef SWK_X86

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c"), always_inline)) static inline

AVX2_TARGET __m256 load8_avx2(const char *row, long j, int storage) {
    switch (storage) {
    case SWK_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * j)));
    case SWK_Q8ROW: return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(row + j))));
    default: return _mm256_loadu_ps((const float *)row + j);
    }
}

AVX2_TARGET float load1_avx2(const char *row, long j, int storage) {
    if (storage == SWK_F16) {
        uint16_t h;
        memcpy(&h, row + 2 * j, 2);
        return _cvtsh_ss(h);
    }
    return load1_portable(row, j, storage);
}

// acc[c0 ..< c1] += Σ_i w[i] · r[i][·] for eight rows; `next` (eight rows or NULL) are prefetched
// one line per line consumed here.
AVX2_TARGET void group8_avx2(const char *const *r, const char *const *sc, const float *w, float *acc, long c0, long c1,
                             const char *const *next, int storage) {
    (void)sc;
    const __m256 w0 = _mm256_set1_ps(w[0]), w1 = _mm256_set1_ps(w[1]), w2 = _mm256_set1_ps(w[2]),
                 w3 = _mm256_set1_ps(w[3]), w4 = _mm256_set1_ps(w[4]), w5 = _mm256_set1_ps(w[5]),
                 w6 = _mm256_set1_ps(w[6]), w7 = _mm256_set1_ps(w[7]);
    const long esz = element_bytes(storage), perLine = LINE / esz;
    long j = c0;
#define SWL_GROUP8_STEP(jj)                                                                                            \
    do {                                                                                                               \
        __m256 a = _mm256_loadu_ps(acc + (jj));                                                                        \
        a = _mm256_fmadd_ps(w0, load8_avx2(r[0], (jj), storage), a);                                                   \
        a = _mm256_fmadd_ps(w1, load8_avx2(r[1], (jj), storage), a);                                                   \
        a = _mm256_fmadd_ps(w2, load8_avx2(r[2], (jj), storage), a);                                                   \
        a = _mm256_fmadd_ps(w3, load8_avx2(r[3], (jj), storage), a);                                                   \
        a = _mm256_fmadd_ps(w4, load8_avx2(r[4], (jj), storage), a);                                                   \
        a = _mm256_fmadd_ps(w5, load8_avx2(r[5], (jj), storage), a);                                                   \
        a = _mm256_fmadd_ps(w6, load8_avx2(r[6], (jj), storage), a);                                                   \
        a = _mm256_fmadd_ps(w7, load8_avx2(r[7], (jj), storage), a);                                                   \
        _mm256_storeu_ps(acc + (jj), a);                                                                               \
    } while (0)
    if (next) {
        for (; j + perLine <= c1; j += perLine) {
            for (int i = 0; i < GROUP; i++) _mm_prefetch(next[i] + j * esz, _MM_HINT_T0);
            for (long jj = j; jj < j + perLine; jj += 8) SWL_GROUP8_STEP(jj);
        }
        if (j < c1)
            for (int i = 0; i < GROUP; i++) _mm_prefetch(next[i] + (c1 - 1) * esz, _MM_HINT_T0);
    }
    for (; j + 8 <= c1; j += 8) SWL_GROUP8_STEP(j);
#undef SWL_GROUP8_STEP
    for (; j < c1; j++) {
        float s = 0;
        for (int i = 0; i < GROUP; i++) s += w[i] * load1_avx2(r[i], j, storage);
        acc[j] += s;
    }
}

AVX2_TARGET void row1_avx2(const char *r, const char *sc, float w, float *acc, long c0, long c1, int storage) {
    (void)sc;
    const __m256 wv = _mm256_set1_ps(w);
    long j = c0;
    for (; j + 8 <= c1; j += 8)
        _mm256_storeu_ps(acc + j, _mm256_fmadd_ps(wv, load8_avx2(r, j, storage), _mm256_loadu_ps(acc + j)));
    for (; j < c1; j++) acc[j] += w * load1_avx2(r, j, storage);
}

// q4: a block of 32 columns per step, each row's coefficient w · scale rounded once; the line of
// `next` rows holding the next 128 columns is prefetched every fourth block.
AVX2_TARGET void group8_q4_avx2(const char *const *r, const char *const *sc, const float *w, float *acc, long c0,
                                long c1, const char *const *next, int storage) {
    (void)storage;
    long j = c0;
    for (; j + SWK_Q4_BLOCK <= c1; j += SWK_Q4_BLOCK) {
        const long b = j / SWK_Q4_BLOCK;
        if (next && (b & 3) == 0)
            for (int i = 0; i < GROUP; i++) _mm_prefetch(next[i] + j / 2, _MM_HINT_T0);
        __m256 a0 = _mm256_loadu_ps(acc + j), a1 = _mm256_loadu_ps(acc + j + 8), a2 = _mm256_loadu_ps(acc + j + 16),
               a3 = _mm256_loadu_ps(acc + j + 24);
        for (int i = 0; i < GROUP; i++) {
            __m256 v[4];
            swk_q4_decode32_avx2(r[i] + j / 2, v);
            const __m256 c = _mm256_set1_ps(w[i] * swk_loadu_float(sc[i], b));
            a0 = _mm256_fmadd_ps(c, v[0], a0);
            a1 = _mm256_fmadd_ps(c, v[1], a1);
            a2 = _mm256_fmadd_ps(c, v[2], a2);
            a3 = _mm256_fmadd_ps(c, v[3], a3);
        }
        _mm256_storeu_ps(acc + j, a0);
        _mm256_storeu_ps(acc + j + 8, a1);
        _mm256_storeu_ps(acc + j + 16, a2);
        _mm256_storeu_ps(acc + j + 24, a3);
    }
    q4_tail_columns(r, sc, w, GROUP, acc, j, c1);
}

AVX2_TARGET void row1_q4_avx2(const char *r, const char *sc, float w, float *acc, long c0, long c1, int storage) {
    (void)storage;
    long j = c0;
    for (; j + SWK_Q4_BLOCK <= c1; j += SWK_Q4_BLOCK) {
        __m256 v[4];
        swk_q4_decode32_avx2(r + j / 2, v);
        const __m256 c = _mm256_set1_ps(w * swk_loadu_float(sc, j / SWK_Q4_BLOCK));
        for (int q = 0; q < 4; q++)
            _mm256_storeu_ps(acc + j + 8 * q, _mm256_fmadd_ps(c, v[q], _mm256_loadu_ps(acc + j + 8 * q)));
    }
    q4_tail_columns(&r, &sc, &w, 1, acc, j, c1);
}

__attribute__((target("avx2,fma,f16c"))) static void gather_avx2(const gather_job *g, long n0, long n1, long c0,
                                                                 long c1) {
    switch (g->t->storage) {
    case SWK_F16: gather_tokens(g, n0, n1, c0, c1, SWK_F16, group8_avx2, row1_avx2); break;
    case SWK_Q8ROW: gather_tokens(g, n0, n1, c0, c1, SWK_Q8ROW, group8_avx2, row1_avx2); break;
    case SWK_Q4BLOCK: gather_tokens(g, n0, n1, c0, c1, SWK_Q4BLOCK, group8_q4_avx2, row1_q4_avx2); break;
    default: gather_tokens(g, n0, n1, c0, c1, SWK_F32, group8_avx2, row1_avx2); break;
    }
}

// AVX-512: sixteen values per vector; the last partial vector of a row goes through the AVX2 code.
#define AVX512_TARGET __attribute__((target("avx512f,avx2,fma,f16c"), always_inline)) static inline

AVX512_TARGET __m512 load16_avx512(const char *row, long j, int storage) {
    switch (storage) {
    case SWK_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 2 * j)));
    case SWK_Q8ROW: return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(row + j))));
    default: return _mm512_loadu_ps((const float *)row + j);
    }
}

AVX512_TARGET void group8_avx512(const char *const *r, const char *const *sc, const float *w, float *acc, long c0,
                                 long c1, const char *const *next, int storage) {
    const __m512 w0 = _mm512_set1_ps(w[0]), w1 = _mm512_set1_ps(w[1]), w2 = _mm512_set1_ps(w[2]),
                 w3 = _mm512_set1_ps(w[3]), w4 = _mm512_set1_ps(w[4]), w5 = _mm512_set1_ps(w[5]),
                 w6 = _mm512_set1_ps(w[6]), w7 = _mm512_set1_ps(w[7]);
    const long esz = element_bytes(storage), perLine = LINE / esz;
    long j = c0;
    // Two chains of four rows each: half the dependent-FMA latency per block.
#define SWL_GROUP16_STEP(jj)                                                                                           \
    do {                                                                                                               \
        __m512 a = _mm512_loadu_ps(acc + (jj));                                                                        \
        __m512 b = _mm512_mul_ps(w4, load16_avx512(r[4], (jj), storage));                                              \
        a = _mm512_fmadd_ps(w0, load16_avx512(r[0], (jj), storage), a);                                                \
        b = _mm512_fmadd_ps(w5, load16_avx512(r[5], (jj), storage), b);                                                \
        a = _mm512_fmadd_ps(w1, load16_avx512(r[1], (jj), storage), a);                                                \
        b = _mm512_fmadd_ps(w6, load16_avx512(r[6], (jj), storage), b);                                                \
        a = _mm512_fmadd_ps(w2, load16_avx512(r[2], (jj), storage), a);                                                \
        b = _mm512_fmadd_ps(w7, load16_avx512(r[7], (jj), storage), b);                                                \
        a = _mm512_fmadd_ps(w3, load16_avx512(r[3], (jj), storage), a);                                                \
        _mm512_storeu_ps(acc + (jj), _mm512_add_ps(a, b));                                                             \
    } while (0)
    if (next) {
        for (; j + perLine <= c1; j += perLine) {
            for (int i = 0; i < GROUP; i++) _mm_prefetch(next[i] + j * esz, _MM_HINT_T0);
            for (long jj = j; jj < j + perLine; jj += 16) SWL_GROUP16_STEP(jj);
        }
        if (j < c1)
            for (int i = 0; i < GROUP; i++) _mm_prefetch(next[i] + (c1 - 1) * esz, _MM_HINT_T0);
    }
    for (; j + 16 <= c1; j += 16) SWL_GROUP16_STEP(j);
#undef SWL_GROUP16_STEP
    if (j < c1) group8_avx2(r, sc, w, acc, j, c1, NULL, storage);
}

AVX512_TARGET void row1_avx512(const char *r, const char *sc, float w, float *acc, long c0, long c1, int storage) {
    const __m512 wv = _mm512_set1_ps(w);
    long j = c0;
    for (; j + 16 <= c1; j += 16)
        _mm512_storeu_ps(acc + j, _mm512_fmadd_ps(wv, load16_avx512(r, j, storage), _mm512_loadu_ps(acc + j)));
    if (j < c1) row1_avx2(r, sc, w, acc, j, c1, storage);
}

AVX512_TARGET void group8_q4_avx512(const char *const *r, const char *const *sc, const float *w, float *acc, long c0,
                                    long c1, const char *const *next, int storage) {
    (void)storage;
    long j = c0;
    for (; j + SWK_Q4_BLOCK <= c1; j += SWK_Q4_BLOCK) {
        const long b = j / SWK_Q4_BLOCK;
        if (next && (b & 3) == 0)
            for (int i = 0; i < GROUP; i++) _mm_prefetch(next[i] + j / 2, _MM_HINT_T0);
        // Two chains of four rows per half block: half the dependent-FMA latency.
        __m512 a0 = _mm512_loadu_ps(acc + j), a1 = _mm512_loadu_ps(acc + j + 16);
        __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
        for (int i = 0; i < GROUP; i += 2) {
            __m512 v[2], u[2];
            swk_q4_decode32_avx512(r[i] + j / 2, v);
            swk_q4_decode32_avx512(r[i + 1] + j / 2, u);
            const __m512 c = _mm512_set1_ps(w[i] * swk_loadu_float(sc[i], b)),
                         d = _mm512_set1_ps(w[i + 1] * swk_loadu_float(sc[i + 1], b));
            a0 = _mm512_fmadd_ps(c, v[0], a0);
            a1 = _mm512_fmadd_ps(c, v[1], a1);
            b0 = _mm512_fmadd_ps(d, u[0], b0);
            b1 = _mm512_fmadd_ps(d, u[1], b1);
        }
        _mm512_storeu_ps(acc + j, _mm512_add_ps(a0, b0));
        _mm512_storeu_ps(acc + j + 16, _mm512_add_ps(a1, b1));
    }
    q4_tail_columns(r, sc, w, GROUP, acc, j, c1);
}

AVX512_TARGET void row1_q4_avx512(const char *r, const char *sc, float w, float *acc, long c0, long c1, int storage) {
    (void)storage;
    long j = c0;
    for (; j + SWK_Q4_BLOCK <= c1; j += SWK_Q4_BLOCK) {
        __m512 v[2];
        swk_q4_decode32_avx512(r + j / 2, v);
        const __m512 c = _mm512_set1_ps(w * swk_loadu_float(sc, j / SWK_Q4_BLOCK));
        _mm512_storeu_ps(acc + j, _mm512_fmadd_ps(c, v[0], _mm512_loadu_ps(acc + j)));
        _mm512_storeu_ps(acc + j + 16, _mm512_fmadd_ps(c, v[1], _mm512_loadu_ps(acc + j + 16)));
    }
    q4_tail_columns(&r, &sc, &w, 1, acc, j, c1);
}

__attribute__((target("avx512f,avx2,fma,f16c"))) static void gather_avx512(const gather_job *g, long n0, long n1,
                                                                           long c0, long c1) {
    switch (g->t->storage) {
    case SWK_F16: gather_tokens(g, n0, n1, c0, c1, SWK_F16, group8_avx512, row1_avx512); break;
    case SWK_Q8ROW: gather_tokens(g, n0, n1, c0, c1, SWK_Q8ROW, group8_avx512, row1_avx512); break;
    case SWK_Q4BLOCK: gather_tokens(g, n0, n1, c0, c1, SWK_Q4BLOCK, group8_q4_avx512, row1_q4_avx512); break;
    default: gather_tokens(g, n0, n1, c0, c1, SWK_F32, group8_avx512, row1_avx512); break;
    }
}

#endif // SWK_X86

// ---- NEON -----------------------------------------------------------------------------------------

#ifdef SWK_NEON

static inline const char *at(const char *row, long j, int storage) { return row + j * element_bytes(storage); }

// acc[c0 ..< c1] += Σ_i w[i] · r[i][·] for eight rows, eight columns (two vectors) per step; `next`
// (eight rows or NULL) are prefetched one line per line consumed here.
SWK_INLINE void group8_neon(const char *const *r, const char *const *sc, const float *w, float *acc, long c0, long c1,
                            const char *const *next, int storage) {
    (void)sc;
    const long esz = element_bytes(storage), perLine = LINE / esz;
    long j = c0;
#define SWL_GROUP8_NEON_STEP(jj)                                                                                       \
    do {                                                                                                               \
        float32x4_t lo = vld1q_f32(acc + (jj)), hi = vld1q_f32(acc + (jj) + 4);                                        \
        for (int i = 0; i < GROUP; i++) {                                                                              \
            float32x4x2_t v = swk_load8_neon(at(r[i], (jj), storage), storage);                                        \
            lo = vfmaq_n_f32(lo, v.val[0], w[i]);                                                                      \
            hi = vfmaq_n_f32(hi, v.val[1], w[i]);                                                                      \
        }                                                                                                              \
        vst1q_f32(acc + (jj), lo);                                                                                     \
        vst1q_f32(acc + (jj) + 4, hi);                                                                                 \
    } while (0)
    if (next) {
        for (; j + perLine <= c1; j += perLine) {
            for (int i = 0; i < GROUP; i++) SWK_PREFETCH(next[i] + j * esz);
            for (long jj = j; jj < j + perLine; jj += 8) SWL_GROUP8_NEON_STEP(jj);
        }
        if (j < c1)
            for (int i = 0; i < GROUP; i++) SWK_PREFETCH(next[i] + (c1 - 1) * esz);
    }
    for (; j + 8 <= c1; j += 8) SWL_GROUP8_NEON_STEP(j);
#undef SWL_GROUP8_NEON_STEP
    for (; j < c1; j++) {
        float s = 0;
        for (int i = 0; i < GROUP; i++) s += w[i] * load1_portable(r[i], j, storage);
        acc[j] += s;
    }
}

SWK_INLINE void row1_neon(const char *r, const char *sc, float w, float *acc, long c0, long c1, int storage) {
    (void)sc;
    long j = c0;
    for (; j + 8 <= c1; j += 8) {
        float32x4x2_t v = swk_load8_neon(at(r, j, storage), storage);
        vst1q_f32(acc + j, vfmaq_n_f32(vld1q_f32(acc + j), v.val[0], w));
        vst1q_f32(acc + j + 4, vfmaq_n_f32(vld1q_f32(acc + j + 4), v.val[1], w));
    }
    for (; j < c1; j++) acc[j] += w * load1_portable(r, j, storage);
}

// q4: a block of 32 columns (eight vectors) per step, each row's coefficient w · scale rounded once.
SWK_INLINE void group8_q4_neon(const char *const *r, const char *const *sc, const float *w, float *acc, long c0,
                               long c1, const char *const *next, int storage) {
    (void)storage;
    long j = c0;
    for (; j + SWK_Q4_BLOCK <= c1; j += SWK_Q4_BLOCK) {
        const long b = j / SWK_Q4_BLOCK;
        if (next && (b & 3) == 0)
            for (int i = 0; i < GROUP; i++) SWK_PREFETCH(next[i] + j / 2);
        float32x4_t a[8];
        for (int q = 0; q < 8; q++) a[q] = vld1q_f32(acc + j + 4 * q);
        for (int i = 0; i < GROUP; i++) {
            float32x4_t v[8];
            swk_q4_decode32_neon(r[i] + j / 2, v);
            const float c = w[i] * swk_loadu_float(sc[i], b);
            for (int q = 0; q < 8; q++) a[q] = vfmaq_n_f32(a[q], v[q], c);
        }
        for (int q = 0; q < 8; q++) vst1q_f32(acc + j + 4 * q, a[q]);
    }
    q4_tail_columns(r, sc, w, GROUP, acc, j, c1);
}

SWK_INLINE void row1_q4_neon(const char *r, const char *sc, float w, float *acc, long c0, long c1, int storage) {
    (void)storage;
    long j = c0;
    for (; j + SWK_Q4_BLOCK <= c1; j += SWK_Q4_BLOCK) {
        float32x4_t v[8];
        swk_q4_decode32_neon(r + j / 2, v);
        const float c = w * swk_loadu_float(sc, j / SWK_Q4_BLOCK);
        for (int q = 0; q < 8; q++) vst1q_f32(acc + j + 4 * q, vfmaq_n_f32(vld1q_f32(acc + j + 4 * q), v[q], c));
    }
    q4_tail_columns(&r, &sc, &w, 1, acc, j, c1);
}

static void gather_neon(const gather_job *g, long n0, long n1, long c0, long c1) {
    switch (g->t->storage) {
    case SWK_F16: gather_tokens(g, n0, n1, c0, c1, SWK_F16, group8_neon, row1_neon); break;
    case SWK_Q8ROW: gather_tokens(g, n0, n1, c0, c1, SWK_Q8ROW, group8_neon, row1_neon); break;
    case SWK_Q4BLOCK: gather_tokens(g, n0, n1, c0, c1, SWK_Q4BLOCK, group8_q4_neon, row1_q4_neon); break;
    default: gather_tokens(g, n0, n1, c0, c1, SWK_F32, group8_neon, row1_neon); break;
    }
}

#endif // SWK_NEON

// ---- dispatch -------------------------------------------------------------------------------------

static void gather_range(const gather_job *g, long n0, long n1, long c0, long c1) {
    switch (g->isa) {
#ifdef SWK_X86
    case SWK_ISA_AVX2: gather_avx2(g, n0, n1, c0, c1); break;
    case SWK_ISA_AVX512: gather_avx512(g, n0, n1, c0, c1); break;
#endif
#ifdef SWK_NEON
    case SWK_ISA_NEON:
    case SWK_ISA_NEON_DOTPROD: gather_neon(g, n0, n1, c0, c1); break;
#endif
    default: gather_portable(g, n0, n1, c0, c1); break;
    }
}

static void gather_part(void *context, int part, int parts) {
    (void)parts;
    const gather_job *g = context;
    if (g->split_columns) {
        long out = g->t->out;
        long step = g->column_step;
        long blocks = (out + step - 1) / step;
        long b0 = blocks * part / g->parts, b1 = blocks * (part + 1) / g->parts;
        long c0 = b0 * step, c1 = b1 * step < out ? b1 * step : out;
        if (c0 < c1) gather_range(g, 0, g->rows, c0, c1);
    } else {
        long n0 = g->rows * part / g->parts, n1 = g->rows * (part + 1) / g->parts;
        if (n0 < n1) gather_range(g, n0, n1, 0, g->t->out);
    }
}

void swk_memory_gather(const swk_memory_tables *t, const int32_t *codes, const float *weights, long rows,
                       const float *bias, float *y, long ldy, swk_pool *pool) {
    int threads = swk_pool_threads(pool);
    if (rows <= 0) return;
    // Resolved here, on the calling thread: the helpers run the same path.
    gather_job g = {t, codes, weights, bias, y, ldy, rows, swk_isa(), 1, 0, t->storage == SWK_Q4BLOCK ? 128 : 64};
    double macs = (double)rows * t->tables * t->out;
    if (threads > 1 && macs >= PARALLEL_MIN_MACS) {
        if (rows >= threads) {
            // Several parts per thread, taken dynamically: on a busy machine a thread that loses
            // its core holds up the call by one small part, not by half of it.
            long parts = (long)threads * PARTS_PER_THREAD;
            if (parts > rows) parts = rows;
            if (parts > rows / MIN_PART_TOKENS)
                parts = rows / MIN_PART_TOKENS > threads ? rows / MIN_PART_TOKENS : threads;
            g.parts = (int)parts;
        } else {
            // A single token (or a few): split the columns on whole cache lines of every storage.
            g.split_columns = 1;
            g.parts = threads;
            if (t->out < 2 * g.column_step) g.parts = 1;
        }
    }
    if (g.parts > 1)
        swk_pool_run(pool, g.parts, gather_part, &g);
    else
        gather_range(&g, 0, rows, 0, t->out);
}
