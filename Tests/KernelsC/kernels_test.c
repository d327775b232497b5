// Every C kernel (Sources/CSwiftletKernels) at every instruction-set level this CPU runs — portable,
// AVX2 and AVX-512 on x86-64; portable, NEON and NEON with the dot product on AArch64 — against
// references computed here in float64 (or exact expectations where the arithmetic is exact), on random
// inputs of awkward sizes: one row, remainders of every vector width and tile, odd k, strides wider
// than the rows. `make test-arm64` runs it natively and, cross-compiled, under qemu-aarch64.
//
//   kernels_test [--expect portable|avx2|avx512|neon|neon-dotprod]   (fails unless that level is detected)
//
// Tolerances are worst-case rounding bounds, not measured slack. With u = 2^-24 (float32 unit
// roundoff) and γ(n) = n·u / (1 − n·u): a float32 sum of n products, in any order of additions, with
// or without fused multiply-adds, lies within γ(n)·Σ|products| of the exact sum (Higham, "Accuracy
// and Stability of Numerical Algorithms", 2nd ed., §3.1); every further rounding (a scale, a bias)
// adds one to n, and every rounding in the subnormal range may add 2^-150 absolutely, so each bound
// also carries (n + 2)·2^-149. Transcendental pieces use their documented accuracy: the kernels'
// vector erf |error| < 4e-7 (swk_panel.h), their vector exp within 2 ulp (≤ 4u relative), libm's
// erff/expf within 1 ulp. Each check prints the worst error as a fraction of its bound.
#include "swk_compact.h"
#include "swk_cpu.h"
#include "swk_gemm_bf16.h"
#include "swk_gemm_q8_i8.h"
#include "swk_memory.h"
#include "swk_panel.h"
#include "swk_panel_lowp.h"
#include "swk_pool.h"
#include "swk_row_linear.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// The LIF reference repeats the kernels' arithmetic operation by operation; no contraction into FMA.
#pragma STDC FP_CONTRACT OFF

#define U 0x1p-24

static double gam(double n) { return n * U / (1 - n * U); }
static double tiny(double n) { return (n + 2) * 0x1p-149; }

// ---- bookkeeping ---------------------------------------------------------------------------------

static long failures;
static long checks;
static double worst; // worst error / bound of the current kernel

static void fail(const char *fmt, ...) {
    failures++;
    if (failures > 30) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static const char *isa_name(int level) {
    switch (level) {
    case SWK_ISA_PORTABLE: return "portable";
    case SWK_ISA_AVX2: return "avx2";
    case SWK_ISA_AVX512: return "avx512";
    case SWK_ISA_NEON: return "neon";
    case SWK_ISA_NEON_DOTPROD: return "neon-dotprod";
    default: return "?";
    }
}

static int levels[4], nlevels;
static int level; // the level the current check runs at

static void set_level(int l) {
    int got = swk_isa_set_cap(l);
    if (got != l) fail("swk_isa_set_cap(%s) gave %s", isa_name(l), isa_name(got));
    level = l;
}

/// Records |got − want| against `bound`; NaN must meet NaN, infinities must be equal.
static void close_to(double got, double want, double bound, const char *what, long index) {
    checks++;
    if (isnan(want) || isnan(got)) {
        if (!(isnan(want) && isnan(got)))
            fail("%s at %s [%ld]: got %.9g, want %.9g", what, isa_name(level), index, got, want);
        return;
    }
    if (isinf(want) || isinf(got)) {
        if (got != want) fail("%s at %s [%ld]: got %.9g, want %.9g", what, isa_name(level), index, got, want);
        return;
    }
    double err = fabs(got - want), r = bound > 0 ? err / bound : (err > 0 ? INFINITY : 0);
    if (r > worst) worst = r;
    if (!(err <= bound))
        fail("%s at %s [%ld]: got %.9g, want %.12g, error %.3g > bound %.3g", what, isa_name(level), index, got, want,
             err, bound);
}

static void same_bits(float got, float want, const char *what, long index) {
    checks++;
    if (isnan(got) && isnan(want)) return;
    if (memcmp(&got, &want, sizeof got) != 0)
        fail("%s at %s [%ld]: got %.9g (%a), want %.9g (%a)", what, isa_name(level), index, got, got, want, want);
}

static void report(const char *name, long before, clock_t start) {
    char paths[64] = "";
    for (int i = 0; i < nlevels; i++) {
        strcat(paths, isa_name(levels[i]));
        if (i + 1 < nlevels) strcat(paths, ",");
    }
    printf("  %-16s %7ld checks at %-26s worst error %.3f of its bound  %5.2f s\n", name, checks - before, paths, worst,
           (double)(clock() - start) / CLOCKS_PER_SEC);
    worst = 0;
}

// ---- random inputs -------------------------------------------------------------------------------

static uint64_t rng_state = 0x5eed5eed12345678ull;

static uint64_t next64(void) { // splitmix64
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int below(int n) { return (int)(next64() % (uint64_t)n); }

/// Uniform in [lo, hi), a multiple of 2^-24 of the width.
static float uniform(float lo, float hi) { return lo + (hi - lo) * (float)((double)(next64() >> 40) * 0x1p-24); }

static void *alloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static float *floats(size_t n, float lo, float hi) {
    float *p = alloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = uniform(lo, hi);
    return p;
}

static float *filled(size_t n, float v) {
    float *p = alloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = v;
    return p;
}

// ---- independent element decoding (exact, by ldexp rather than the kernels' bit manipulation) ------

static double half_value(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 31 ? (m ? NAN : INFINITY) : e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

static double bf16_value(uint16_t h) {
    int e = (h >> 7) & 255, m = h & 127;
    double v = e == 255 ? (m ? NAN : INFINITY) : e == 0 ? ldexp(m, -133) : ldexp(128 + m, e - 134);
    return (h & 0x8000) ? -v : v;
}

/// A random finite binary16 of magnitude 2^-6 … 2^2, or (one in eight) subnormal or zero.
static uint16_t random_half(void) {
    int e = below(8) == 0 ? 0 : 9 + below(8);
    return (uint16_t)((below(2) << 15) | (e << 10) | below(1024));
}

static uint16_t random_bf16(void) {
    int e = below(8) == 0 ? 0 : 121 + below(8);
    return (uint16_t)((below(2) << 15) | (e << 7) | below(128));
}

static size_t element_size(int format) { return format == SWK_F32 ? 4 : format == SWK_Q8ROW ? 1 : 2; }

/// A matrix of `count` random elements in `format`, starting one byte into its buffer (weights are
/// read in place at any alignment); `values` gets each element's exact value.
static uint8_t *random_matrix(int format, size_t count, double *values, uint8_t **buffer) {
    size_t es = element_size(format);
    *buffer = alloc(count * es + 16);
    uint8_t *w = *buffer + 1;
    for (size_t i = 0; i < count; i++) {
        switch (format) {
        case SWK_F16: {
            uint16_t h = random_half();
            memcpy(w + 2 * i, &h, 2);
            values[i] = half_value(h);
            break;
        }
        case SWK_BF16: {
            uint16_t h = random_bf16();
            memcpy(w + 2 * i, &h, 2);
            values[i] = bf16_value(h);
            break;
        }
        case SWK_Q8ROW: {
            int8_t q = (int8_t)(below(256) - 128);
            w[i] = (uint8_t)q;
            values[i] = q;
            break;
        }
        default: {
            float f = uniform(-1, 1);
            memcpy(w + 4 * i, &f, 4);
            values[i] = f;
        }
        }
    }
    return w;
}

static const char *format_name(int format) {
    switch (format) {
    case SWK_F16: return "f16";
    case SWK_BF16: return "bf16";
    case SWK_Q8ROW: return "q8";
    default: return "f32";
    }
}

// ---- compact GEMV and row decoding -----------------------------------------------------------------

static void test_compact(swk_pool *pool) {
    static const int shapes[][2] = {{1, 1},   {1, 9},   {3, 7},    {4, 16},   {5, 33},
                                    {13, 70}, {9, 257}, {64, 300}, {40, 4100}};
    const int formats[] = {SWK_F32, SWK_F16, SWK_BF16, SWK_Q8ROW};
    long before = checks;
    clock_t start = clock();
    for (int f = 0; f < 4; f++) {
        const int format = formats[f];
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int rows = shapes[s][0], cols = shapes[s][1];
            double *wv = alloc((size_t)rows * cols * sizeof(double));
            uint8_t *buffer, *sbuffer = alloc((size_t)rows * 4 + 8);
            const uint8_t *w = random_matrix(format, (size_t)rows * cols, wv, &buffer);
            uint8_t *scales = sbuffer + 3; // any alignment
            float *sv = alloc((size_t)rows * sizeof(float));
            for (int r = 0; r < rows; r++) {
                sv[r] = format == SWK_Q8ROW ? uniform(0.001f, 0.02f) : 1.0f;
                memcpy(scales + 4 * r, &sv[r], 4);
            }
            float *x = floats((size_t)cols, -1, 1), *bias = s % 2 ? floats((size_t)rows, -1, 1) : NULL;
            float *y = alloc((size_t)(rows + 1) * sizeof(float));
            float *out = alloc(((size_t)rows * cols + 1) * sizeof(float));
            for (int li = 0; li < nlevels; li++) {
                set_level(levels[li]);
                for (int threads = 0; threads < 2; threads++) {
                    swk_pool *p = threads ? pool : NULL;
                    y[rows] = -7.0f;
                    if (swk_compact_gemv(format, w, scales, rows, cols, x, bias, y, p) != 0)
                        fail("swk_compact_gemv %s %dx%d refused", format_name(format), rows, cols);
                    for (int r = 0; r < rows; r++) {
                        double ref = 0, mag = 0;
                        for (int c = 0; c < cols; c++) {
                            ref += wv[(size_t)r * cols + c] * x[c];
                            mag += fabs(wv[(size_t)r * cols + c] * x[c]);
                        }
                        ref = ref * sv[r] + (bias ? bias[r] : 0);
                        mag = mag * sv[r] + (bias ? fabs(bias[r]) : 0);
                        close_to(y[r], ref, gam(cols + 2) * mag + tiny(cols), "compact_gemv", r);
                    }
                    if (y[rows] != -7.0f) fail("swk_compact_gemv wrote past y");
                    // Rows [row0, row0 + count) decode exactly: one float32 product per element.
                    const int row0 = rows > 2 ? 1 : 0, count = rows > 2 ? rows - 2 : rows;
                    out[(size_t)count * cols] = -7.0f;
                    if (swk_compact_decode_rows(format, w, scales, cols, row0, count, out, p) != 0)
                        fail("swk_compact_decode_rows refused");
                    for (int r = 0; r < count; r++)
                        for (int c = 0; c < cols; c++)
                            same_bits(out[(size_t)r * cols + c],
                                      (float)wv[(size_t)(row0 + r) * cols + c] * sv[row0 + r], "compact_decode_rows",
                                      (long)r * cols + c);
                    if (out[(size_t)count * cols] != -7.0f) fail("swk_compact_decode_rows wrote past the rows");
                }
            }
            free(wv), free(buffer), free(sbuffer), free(sv), free(x), free(bias), free(y), free(out);
        }
    }
    // Every binary16 and bfloat16 bit pattern (subnormals, infinities, NaN) widens exactly.
    uint16_t *all = alloc(65536 * 2 + 2);
    float *out = alloc(65536 * sizeof(float));
    for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    for (int li = 0; li < nlevels; li++) {
        set_level(levels[li]);
        for (int bf = 0; bf < 2; bf++) {
            swk_compact_decode_rows(bf ? SWK_BF16 : SWK_F16, all, NULL, 257, 0, 255, out, NULL);
            for (int i = 0; i < 257 * 255; i++)
                same_bits(out[i], (float)(bf ? bf16_value(all[i]) : half_value(all[i])),
                          bf ? "decode every bf16" : "decode every f16", i);
            swk_compact_decode_rows(bf ? SWK_BF16 : SWK_F16, all + 257 * 255, NULL, 1, 0, 65536 - 257 * 255, out, NULL);
            for (int i = 0; i < 65536 - 257 * 255; i++)
                same_bits(out[i], (float)(bf ? bf16_value(all[257 * 255 + i]) : half_value(all[257 * 255 + i])),
                          bf ? "decode every bf16" : "decode every f16", 257 * 255 + i);
        }
    }
    free(all), free(out);
    if (swk_compact_gemv(7, NULL, NULL, 1, 1, NULL, NULL, NULL, NULL) != -1) fail("unknown format accepted");
    report("compact_gemv", before, start);
}

// ---- q4 blocks (SWK_Q4BLOCK): signed nibbles, a float32 scale per block of 32 ----------------------

/// Element c of a q4 row from its bytes, decoded here independently of the kernels' helpers: the low
/// nibble holds even columns, the high nibble odd ones, two's complement.
static int q4_ref(const uint8_t *row, long c) {
    int nib = (c % 2 == 0) ? (row[c / 2] & 15) : (row[c / 2] >> 4);
    return nib >= 8 ? nib - 16 : nib;
}

static void test_compact_q4(swk_pool *pool) {
    static const int shapes[][2] = {{1, 1},   {1, 9},   {3, 7},    {4, 32},    {5, 33},   {13, 70},
                                    {9, 257}, {6, 512}, {64, 300}, {40, 4100}, {8, 1023}, {3, 8230}};
    long before = checks;
    clock_t start = clock();
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int rows = shapes[s][0], cols = shapes[s][1];
        const long rb = (cols + 1) / 2, nb = (cols + 31) / 32;
        uint8_t *wbuf = alloc((size_t)(rows * rb) + 16), *sbuf = alloc((size_t)(rows * nb) * 4 + 16);
        uint8_t *w = wbuf + 1, *scales = sbuf + 3; // any alignment
        // Every byte value, then random bytes; an odd row's last high nibble is left as padding 0.
        for (long i = 0; i < rows * rb; i++) w[i] = (uint8_t)(i < 256 ? i : below(256));
        if (cols % 2)
            for (int r = 0; r < rows; r++) w[r * rb + rb - 1] &= 15;
        float *sv = alloc((size_t)(rows * nb) * sizeof(float));
        for (long i = 0; i < rows * nb; i++) {
            sv[i] = uniform(0.001f, 0.02f);
            memcpy(scales + 4 * i, &sv[i], 4);
        }
        float *x = floats((size_t)cols, -1, 1), *bias = s % 2 ? floats((size_t)rows, -1, 1) : NULL;
        float *y = alloc((size_t)(rows + 1) * sizeof(float));
        float *out = alloc(((size_t)rows * cols + 1) * sizeof(float));
        for (int li = 0; li < nlevels; li++) {
            set_level(levels[li]);
            for (int threads = 0; threads < 2; threads++) {
                swk_pool *p = threads ? pool : NULL;
                y[rows] = -7.0f;
                if (swk_compact_gemv(SWK_Q4BLOCK, w, scales, rows, cols, x, bias, y, p) != 0)
                    fail("swk_compact_gemv q4 %dx%d refused", rows, cols);
                for (int r = 0; r < rows; r++) {
                    double ref = bias ? bias[r] : 0, mag = fabs(ref);
                    for (int c = 0; c < cols; c++) {
                        double term = (double)q4_ref(w + r * rb, c) * sv[r * nb + c / 32] * x[c];
                        ref += term, mag += fabs(term);
                    }
                    // At most cols − 1 additions of products, one scale product per block sum, the bias.
                    close_to(y[r], ref, gam(cols + 3) * mag + tiny(cols), "compact_gemv q4", r);
                }
                if (y[rows] != -7.0f) fail("swk_compact_gemv q4 wrote past y");
                // Decoding is one float32 product q · scale per element.
                const int row0 = rows > 2 ? 1 : 0, count = rows > 2 ? rows - 2 : rows;
                out[(size_t)count * cols] = -7.0f;
                if (swk_compact_decode_rows(SWK_Q4BLOCK, w, scales, cols, row0, count, out, p) != 0)
                    fail("swk_compact_decode_rows q4 refused");
                for (int r = 0; r < count; r++)
                    for (int c = 0; c < cols; c++)
                        same_bits(out[(size_t)r * cols + c],
                                  (float)q4_ref(w + (row0 + r) * rb, c) * sv[(row0 + r) * nb + c / 32],
                                  "compact_decode_rows q4", (long)r * cols + c);
                if (out[(size_t)count * cols] != -7.0f) fail("swk_compact_decode_rows q4 wrote past the rows");
            }
        }
        free(wbuf), free(sbuf), free(sv), free(x), free(bias), free(y), free(out);
    }
    report("compact_gemv_q4", before, start);
}

// ---- int8 GEMM (activations rounded to int16) -------------------------------------------------------

/// The header's rounding of a row of x: q = round(x · 32767/max|x|) in float32, scale max|x| / 32767.
static float quantize_row(const float *x, int k, int16_t *q) {
    float amax = 0;
    for (int i = 0; i < k; i++) amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    const float inv = amax > 0 ? 32767.0f / amax : 0.0f;
    for (int i = 0; i < k; i++) {
        float p = x[i] * inv;
        float v = nearbyintf(p);
        q[i] = (int16_t)(v > 32767 ? 32767 : v < -32767 ? -32767 : v);
    }
    return amax / 32767.0f;
}

static int q8_expected(void) {
    if (level == SWK_ISA_NEON || level == SWK_ISA_NEON_DOTPROD) return 1;
    return level == SWK_ISA_AVX512 && (swk_cpu_features() & SWK_CPU_AVX512_VNNI);
}

/// y = x · Wᵀ with W int8; `exact_x`: x holds integers with max|x| = 32767, so q = x and every product
/// sum is exact: y must be the float32 rounding of the exact integer sum, bit for bit.
static void q8_case(int m, int n, int k, int exact_x, int with_bias, swk_pool *pool, float *previous, int compare) {
    const int ldx = k + 3, ldy = n + 2;
    float *x = alloc((size_t)m * ldx * sizeof(float));
    int8_t *w = alloc((size_t)n * k + 1);
    uint8_t *sbuf = alloc((size_t)n * 4 + 4), *scales = sbuf + 1;
    float *sw = alloc((size_t)n * sizeof(float)), *bias = with_bias ? floats((size_t)n, -1, 1) : NULL;
    for (int r = 0; r < m; r++)
        for (int i = 0; i < ldx; i++) x[(size_t)r * ldx + i] = exact_x ? (float)(below(65535) - 32767) : uniform(-3, 3);
    if (exact_x)
        for (int r = 0; r < m; r++) x[(size_t)r * ldx + below(k)] = below(2) ? 32767.0f : -32767.0f;
    for (size_t i = 0; i < (size_t)n * k; i++) w[i] = (int8_t)(below(256) - 128);
    for (int c = 0; c < n; c++) {
        sw[c] = exact_x ? 1.0f : uniform(0.001f, 0.02f);
        memcpy(scales + 4 * c, &sw[c], 4);
    }
    size_t bytes = swk_gemm_q8_scratch(m, k);
    void *scratch = alloc(bytes);
    float *y = filled((size_t)m * ldy, -7.0f);
    int status = swk_gemm_q8(x, ldx, m, w, scales, n, k, bias, y, ldy, scratch, bytes, pool);
    if (status != 0) fail("swk_gemm_q8 %dx%dx%d at %s returned %d", m, n, k, isa_name(level), status);
    int16_t *q = alloc((size_t)k * sizeof(int16_t));
    for (int r = 0; r < m; r++) {
        const float sx = quantize_row(x + (size_t)r * ldx, k, q);
        for (int c = 0; c < n; c++) {
            const int8_t *wc = w + (size_t)c * k;
            int64_t s = 0;
            double dot = 0, qerr = 0;
            for (int i = 0; i < k; i++) {
                s += (int64_t)q[i] * wc[i];
                dot += (double)x[(size_t)r * ldx + i] * wc[i];
                qerr += fabs((double)wc[i]);
            }
            const float got = y[(size_t)r * ldy + c];
            const double b = bias ? bias[c] : 0;
            if (exact_x) {
                same_bits(got, (float)s, "gemm_q8 exact sum", (long)r * n + c);
            } else {
                // (float)Σ, · sx, · sw, + b: four roundings of the exact integer sum.
                const double ref = (double)s * sx * sw[c] + b;
                close_to(got, ref, gam(4) * (fabs((double)s * sx * sw[c]) + fabs(b)) + tiny(4), "gemm_q8", c);
                // Against x itself: each q·sx is within 0.51·sx of x (half a step, and the float32
                // roundings of 32767/max|x| and of x·that, each under 2^-24 · 32767 steps).
                close_to(got, dot * sw[c] + b,
                         0.51 * sx * qerr * sw[c] + gam(4) * (fabs(dot * sw[c]) + fabs(b)) + tiny(4),
                         "gemm_q8 vs float64", c);
            }
            if (compare && previous) same_bits(got, previous[(size_t)r * n + c], "gemm_q8 across levels", c);
            if (previous) previous[(size_t)r * n + c] = got;
        }
        if (y[(size_t)r * ldy + n] != -7.0f || y[(size_t)r * ldy + n + 1] != -7.0f)
            fail("swk_gemm_q8 wrote past a row of y");
    }
    free(x), free(w), free(sbuf), free(sw), free(bias), free(scratch), free(y), free(q);
}

static void test_gemm_q8(swk_pool *pool) {
    static const int shapes[][3] = {{1, 1, 1},   {1, 5, 7},     {2, 4, 16},   {3, 9, 33},   {4, 13, 100},
                                    {7, 6, 257}, {6, 17, 1025}, {5, 3, 2050}, {3, 40, 4096}};
    long before = checks;
    clock_t start = clock();
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    // Results of the previous level that runs the int8 path, per shape: the paths must agree bit for bit.
    float *previous[2][9];
    for (int e = 0; e < 2; e++)
        for (int s = 0; s < nshapes; s++) previous[e][s] = alloc((size_t)shapes[s][0] * shapes[s][1] * sizeof(float));
    int runs = 0;
    uint64_t seed = rng_state;
    for (int li = 0; li < nlevels; li++) {
        set_level(levels[li]);
        if (swk_gemm_q8_supported() != q8_expected())
            fail("swk_gemm_q8_supported() = %d at %s", swk_gemm_q8_supported(), isa_name(level));
        if (!q8_expected()) {
            float y = 0, x = 1;
            int8_t w = 1;
            float s = 1;
            char scratch[256];
            if (swk_gemm_q8(&x, 1, 1, &w, &s, 1, 1, NULL, &y, 1, scratch, sizeof scratch, NULL) != -2)
                fail("swk_gemm_q8 ran at %s", isa_name(level));
            continue;
        }
        rng_state = seed; // the same inputs at every level
        for (int s = 0; s < nshapes; s++)
            for (int exact = 0; exact < 2; exact++)
                q8_case(shapes[s][0], shapes[s][1], shapes[s][2], exact, !exact && s % 2,
                        s == nshapes - 1 ? pool : NULL, previous[exact][s], runs > 0);
        // Sums beyond 2^31: every product at its largest, k = 8192 (the most swk_gemm_q8 takes). Every
        // path sums in int64 (AVX-512 VNNI keeps int32 lanes, each within range, and adds them in int64).
        if (q8_expected()) {
            const int k = 8192;
            float *x = filled(k, 32767.0f), y[2];
            int8_t *w = alloc(2 * (size_t)k);
            float sw[2] = {1.0f, 1.0f};
            for (int i = 0; i < k; i++) w[i] = 127, w[k + i] = -128;
            size_t bytes = swk_gemm_q8_scratch(1, k);
            void *scratch = alloc(bytes);
            swk_gemm_q8(x, k, 1, w, sw, 2, k, NULL, y, 2, scratch, bytes, NULL);
            same_bits(y[0], (float)(32767.0 * 127 * k), "gemm_q8 sum beyond int32", 0);
            same_bits(y[1], (float)(32767.0 * -128 * k), "gemm_q8 sum beyond int32", 1);
            free(x), free(w), free(scratch);
        }
        // Refusals: too many columns, too little scratch.
        char small[64];
        float one = 1;
        int8_t w1 = 1;
        if (swk_gemm_q8(&one, 9000, 1, &w1, &one, 1, 9000, NULL, &one, 1, small, 64, NULL) != -2)
            fail("k > 8192 accepted");
        if (swk_gemm_q8(&one, 1, 1, &w1, &one, 1, 1, NULL, &one, 1, small, 8, NULL) != -1)
            fail("small scratch accepted");
        runs++;
    }
    for (int e = 0; e < 2; e++)
        for (int s = 0; s < nshapes; s++) free(previous[e][s]);
    report("gemm_q8", before, start);
}

// ---- int8 × int8 GEMM -------------------------------------------------------------------------------

/// The header's rounding of a row of x to int8: q = round(x · (127/max|x|)) in float32, scale max|x|/127.
static float quantize_row_i8(const float *x, int k, int8_t *q) {
    float amax = 0;
    for (int i = 0; i < k; i++) amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    for (int i = 0; i < k; i++) {
        float p = x[i] * inv;
        float v = nearbyintf(p);
        q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    return amax / 127.0f;
}

/// y = x · Wᵀ with x rounded to int8 and W int8: every path must give the float32 operations of the
/// header on the exact integer sum, bit for bit; against x itself each q·sx is within 0.51·sx of x.
static void i8_case(int m, int n, int k, int with_bias, swk_pool *pool) {
    const int ldx = k + 3, ldy = n + 2;
    float *x = floats((size_t)m * ldx, -3, 3);
    int8_t *wbuf = alloc((size_t)n * k + 1), *w = wbuf + 1;
    uint8_t *sbuf = alloc((size_t)n * 4 + 4), *scales = sbuf + 3;
    float *sw = alloc((size_t)n * sizeof(float)), *bias = with_bias ? floats((size_t)n, -1, 1) : NULL;
    for (size_t i = 0; i < (size_t)n * k; i++) w[i] = (int8_t)(below(256) - 128);
    for (int c = 0; c < n; c++) {
        sw[c] = uniform(0.001f, 0.02f);
        memcpy(scales + 4 * c, &sw[c], 4);
    }
    const int threads = pool ? swk_pool_threads(pool) : 1;
    size_t bytes = swk_gemm_q8_i8_scratch(m, k, threads);
    void *scratch = alloc(bytes);
    float *y = filled((size_t)m * ldy, -7.0f);
    int status = swk_gemm_q8_i8(x, ldx, m, w, scales, n, k, bias, y, ldy, scratch, bytes, pool);
    if (status != 0) fail("swk_gemm_q8_i8 %dx%dx%d at %s returned %d", m, n, k, isa_name(level), status);
    int8_t *q = alloc((size_t)k);
    for (int r = 0; r < m; r++) {
        const float sx = quantize_row_i8(x + (size_t)r * ldx, k, q);
        for (int c = 0; c < n; c++) {
            const int8_t *wc = w + (size_t)c * k;
            int64_t sum = 0;
            double dot = 0, wabs = 0;
            for (int i = 0; i < k; i++) {
                sum += (int64_t)q[i] * wc[i];
                dot += (double)x[(size_t)r * ldx + i] * wc[i];
                wabs += fabs((double)wc[i]);
            }
            const float f = sx * sw[c]; // the header's order: the two scales first, then the sum, then the bias
            float t = (float)sum * f;
            if (bias) t = t + bias[c];
            const float got = y[(size_t)r * ldy + c];
            same_bits(got, t, "gemm_q8_i8 exact sum", (long)r * n + c);
            const double b = bias ? bias[c] : 0;
            close_to(got, dot * sw[c] + b,
                     0.51 * sx * wabs * sw[c] + gam(4) * (fabs(dot * sw[c]) + 0.51 * sx * wabs * sw[c] + fabs(b)) +
                         tiny(4),
                     "gemm_q8_i8 vs float64", c);
        }
        if (y[(size_t)r * ldy + n] != -7.0f || y[(size_t)r * ldy + n + 1] != -7.0f)
            fail("swk_gemm_q8_i8 wrote past a row of y");
    }
    free(x), free(wbuf), free(sbuf), free(sw), free(bias), free(scratch), free(y), free(q);
}

static void test_gemm_q8_i8(swk_pool *pool) {
    static const int shapes[][3] = {{1, 1, 1},     {1, 5, 7},      {2, 31, 16},  {3, 33, 33},   {13, 13, 100},
                                    {12, 64, 257}, {25, 17, 1027}, {5, 3, 2050}, {30, 70, 1024}};
    long before = checks;
    clock_t start = clock();
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    for (int li = 0; li < nlevels; li++) {
        set_level(levels[li]);
        const int native =
            (level == SWK_ISA_AVX512 && (swk_cpu_features() & SWK_CPU_AVX512_VNNI)) || level == SWK_ISA_NEON_DOTPROD;
        checks++;
        if (swk_gemm_q8_i8_native() != native)
            fail("swk_gemm_q8_i8_native() = %d at %s", swk_gemm_q8_i8_native(), isa_name(level));
        for (int s = 0; s < nshapes; s++)
            i8_case(shapes[s][0], shapes[s][1], shapes[s][2], s % 2, s == nshapes - 1 ? pool : NULL);
        // The largest sums: k = 65536 (the most it takes), every |q| = 127 against w = 127 and w = −128 (on
        // VNNI u = 255: 255 · 127 · 65536 and 255 · −128 · 65536 are within int32).
        {
            const int k = 65536;
            float *x = filled(k, 1.0f), y[2];
            int8_t *w = alloc(2 * (size_t)k);
            float sw[2] = {1.0f, 1.0f};
            for (int i = 0; i < k; i++) w[i] = 127, w[k + i] = -128;
            size_t bytes = swk_gemm_q8_i8_scratch(1, k, 1);
            void *scratch = alloc(bytes);
            swk_gemm_q8_i8(x, k, 1, w, sw, 2, k, NULL, y, 2, scratch, bytes, NULL);
            const float sx = 1.0f / 127.0f;
            float want0 = (float)(127 * 127 * k) * sx, want1 = (float)(127 * -128 * k) * sx;
            same_bits(y[0], want0, "gemm_q8_i8 largest sum", 0);
            same_bits(y[1], want1, "gemm_q8_i8 largest sum", 1);
            free(x), free(w), free(scratch);
        }
        char small[64];
        float one = 1;
        int8_t w1 = 1;
        checks += 2;
        if (swk_gemm_q8_i8(&one, 70000, 1, &w1, &one, 1, 70000, NULL, &one, 1, small, 64, NULL) != -1)
            fail("k > 65536 accepted");
        if (swk_gemm_q8_i8(&one, 1, 1, &w1, &one, 1, 1, NULL, &one, 1, small, 8, NULL) != -1)
            fail("small scratch accepted");
    }
    report("gemm_q8_i8", before, start);
}

// ---- bfloat16 GEMM ----------------------------------------------------------------------------------

/// x rounded to bfloat16 (8 significant bits, nearest even) by frexp/nearbyint, not by bit tricks.
static double bf16_round_ref(float x) {
    if (x == 0 || !isfinite(x)) return x;
    int e;
    double m = frexp((double)x, &e); // |m| in [0.5, 1)
    return ldexp(nearbyint(ldexp(m, 8)), e - 8);
}

/// y = x̂ · Wᵀ + b with W bfloat16 (normal values 2^-6 … 2^2, no subnormals: VDPBF16PS reads those as
/// zero). Against Σ x̂·w in float64 (exact products; the float64 sum is within k·2^-53 of the exact
/// one): γ(k+1)·(Σ|x̂·w| + |b|). Against x itself each x̂ is within 2^-8 |x| (bfloat16's unit roundoff).
static void bf16_case(int m, int n, int k, int with_bias, swk_pool *pool, float *previous, int compare) {
    const int ldx = k + 3, ldy = n + 2;
    float *x = alloc((size_t)m * ldx * sizeof(float));
    for (size_t i = 0; i < (size_t)m * ldx; i++) x[i] = uniform(-3, 3);
    uint8_t *wbuf = alloc((size_t)n * k * 2 + 1), *w = wbuf + 1; // any alignment
    double *wv = alloc((size_t)n * k * sizeof(double));
    for (size_t i = 0; i < (size_t)n * k; i++) {
        uint16_t h = (uint16_t)((below(2) << 15) | ((121 + below(8)) << 7) | below(128));
        memcpy(w + 2 * i, &h, 2);
        wv[i] = bf16_value(h);
    }
    float *bias = with_bias ? floats((size_t)n, -1, 1) : NULL;
    const int threads = pool ? swk_pool_threads(pool) : 1;
    size_t bytes = swk_gemm_bf16_scratch(m, k, threads);
    void *scratch = alloc(bytes);
    float *y = filled((size_t)m * ldy, -7.0f);
    int status = swk_gemm_bf16(x, ldx, m, w, n, k, bias, y, ldy, scratch, bytes, pool);
    if (status != 0) fail("swk_gemm_bf16 %dx%dx%d at %s returned %d", m, n, k, isa_name(level), status);
    double *xr = alloc((size_t)k * sizeof(double));
    for (int r = 0; r < m; r++) {
        for (int i = 0; i < k; i++) xr[i] = bf16_round_ref(x[(size_t)r * ldx + i]);
        for (int c = 0; c < n; c++) {
            const double *wc = wv + (size_t)c * k;
            double dot = 0, mag = 0, exact = 0, emag = 0;
            for (int i = 0; i < k; i++) {
                dot += xr[i] * wc[i];
                mag += fabs(xr[i] * wc[i]);
                exact += (double)x[(size_t)r * ldx + i] * wc[i];
                emag += fabs((double)x[(size_t)r * ldx + i] * wc[i]);
            }
            const double b = bias ? bias[c] : 0;
            const float got = y[(size_t)r * ldy + c];
            const double bound = gam(k + 1) * (mag + fabs(b)) + k * 0x1p-53 * mag + tiny(k + 1);
            close_to(got, dot + b, bound, "gemm_bf16", (long)r * n + c);
            close_to(got, exact + b, 0x1p-8 * emag + 1.01 * bound, "gemm_bf16 vs float64 x", (long)r * n + c);
            if (compare && previous) same_bits(got, previous[(size_t)r * n + c], "gemm_bf16 across levels", c);
            if (previous) previous[(size_t)r * n + c] = got;
        }
        if (y[(size_t)r * ldy + n] != -7.0f || y[(size_t)r * ldy + n + 1] != -7.0f)
            fail("swk_gemm_bf16 wrote past a row of y");
    }
    free(x), free(wbuf), free(wv), free(bias), free(scratch), free(y), free(xr);
}

static void test_gemm_bf16(swk_pool *pool) {
    static const int shapes[][3] = {{1, 1, 1},     {1, 5, 7},      {2, 31, 16},  {3, 33, 33},   {13, 13, 100},
                                    {12, 64, 257}, {25, 17, 1025}, {5, 3, 2050}, {30, 70, 1024}};
    long before = checks;
    clock_t start = clock();
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    float *previous[9];
    for (int s = 0; s < nshapes; s++) previous[s] = alloc((size_t)shapes[s][0] * shapes[s][1] * sizeof(float));
    uint64_t seed = rng_state;
    for (int li = 0; li < nlevels; li++) {
        set_level(levels[li]);
        const int native = level == SWK_ISA_AVX512 && (swk_cpu_features() & SWK_CPU_AVX512_BF16);
        checks++;
        if (swk_gemm_bf16_native() != native)
            fail("swk_gemm_bf16_native() = %d at %s", swk_gemm_bf16_native(), isa_name(level));
        rng_state = seed; // the same inputs at every level
        // Every path adds the same exact products in the same order: the results agree bit for bit.
        for (int s = 0; s < nshapes; s++)
            bf16_case(shapes[s][0], shapes[s][1], shapes[s][2], s % 2, s == nshapes - 1 ? pool : NULL, previous[s],
                      li > 0);
        // Refusals: bad sizes, too little scratch.
        char small[64];
        float one = 1;
        uint16_t w1 = 0x3F80;
        checks += 2;
        if (swk_gemm_bf16(&one, 0, 1, &w1, 1, 1, NULL, &one, 1, small, sizeof small, NULL) != -1)
            fail("ldx < k accepted");
        if (swk_gemm_bf16(&one, 1, 1, &w1, 1, 1, NULL, &one, 1, small, sizeof small, NULL) != -1)
            fail("small scratch accepted");
    }
    for (int s = 0; s < nshapes; s++) free(previous[s]);
    report("gemm_bf16", before, start);
}

// ---- panel GEMM with the fused epilogue, GELU, attention, LayerNorm -------------------------------

static double gelu_d(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }

/// Bound of the kernels' GELU at a computed input `x` whose own error is at most `dx`: the input error
/// through the slope (|GELU'| ≤ 1.13), erf's 4e-7, the roundings of z = x·(1/√2) (erf' ≤ 1.13), of
/// 1 + erf and of the final product.
static double gelu_bound(double x, double dx) {
    return 1.13 * dx + 0.5 * fabs(x) * (4e-7 + 2.3 * U * fabs(x) * 0.7072 + 2 * U) + 2 * U * fabs(gelu_d(x)) + tiny(4);
}

static void test_panel(void) {
    static const int ms[] = {1, 2, 3, 5, 6, 7, 13, 25}, ks[] = {1, 3, 16, 37}, ns[] = {1, 5, 16, 17, 33, 48, 70};
    long before = checks;
    clock_t start = clock();
    for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                const int m = ms[mi], k = ks[ki], n = ns[ni], lda = k + 3, ldc = n + 5;
                float *a = floats((size_t)m * lda, -1, 1), *w = floats((size_t)n * k, -1, 1);
                float *bias = floats((size_t)n, -1, 1);
                float *panels = alloc(swk_panel_floats(n, k) * sizeof(float));
                swk_panel_pack(w, n, k, panels);
                float *c0 = floats((size_t)m * ldc, -2, 2), *c = alloc((size_t)m * ldc * sizeof(float));
                const int variant = (int)(mi + ki + ni);
                const int flags = variant % 4; // accumulate and GELU, every combination over the shapes
                const float *b = variant % 3 ? bias : NULL;
                // All columns, or from the second panel to a column inside a later one.
                const int col0 = n > 16 && variant % 2 ? 16 : 0, col1 = n > 16 && variant % 2 ? n - 3 : n;
                for (int li = 0; li < nlevels; li++) {
                    set_level(levels[li]);
                    memcpy(c, c0, (size_t)m * ldc * sizeof(float));
                    swk_panel_linear(a, lda, m, k, panels, n, col0, col1, b, flags, c, ldc);
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < ldc; j++) {
                            const size_t at = (size_t)i * ldc + j;
                            if (j < col0 || j >= col1) {
                                if (memcmp(&c[at], &c0[at], 4))
                                    fail("swk_panel_linear wrote column %d of [%d, %d)", j, col0, col1);
                                continue;
                            }
                            double s = 0, mag = 0;
                            for (int p = 0; p < k; p++) {
                                s += (double)a[(size_t)i * lda + p] * w[(size_t)j * k + p];
                                mag += fabs((double)a[(size_t)i * lda + p] * w[(size_t)j * k + p]);
                            }
                            if (b) s += b[j], mag += fabs(b[j]);
                            if (flags & SWK_PANEL_ACCUMULATE) s += c0[at], mag += fabs(c0[at]);
                            const double bound = gam(k + 3) * mag + tiny(k);
                            if (flags & SWK_PANEL_GELU)
                                close_to(c[at], gelu_d(s), gelu_bound(s, bound), "panel_linear+gelu", (long)at);
                            else
                                close_to(c[at], s, bound, "panel_linear", (long)at);
                        }
                }
                free(a), free(w), free(bias), free(panels), free(c0), free(c);
            }
    report("panel_linear", before, start);

    before = checks;
    start = clock();
    const float specials[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 3.9f, -3.9f,    5,        -5,
                              10,   -10,   1e4f,   -1e4f,   NAN,  INFINITY, -INFINITY};
    for (int count = 1; count <= 101; count += count < 10 ? 1 : 30) {
        float *x0 = floats((size_t)count, -6, 6), *x = alloc((size_t)(count + 1) * sizeof(float));
        for (int i = 0; i < count; i++)
            if (below(4) == 0) x0[i] = specials[below((int)(sizeof specials / sizeof specials[0]))];
        for (int li = 0; li < nlevels; li++) {
            set_level(levels[li]);
            memcpy(x, x0, (size_t)count * sizeof(float));
            x[count] = -7.0f;
            swk_gelu(x, count);
            for (int i = 0; i < count; i++) close_to(x[i], gelu_d(x0[i]), gelu_bound(x0[i], 0), "gelu", i);
            if (x[count] != -7.0f) fail("swk_gelu wrote past the end");
        }
        free(x0), free(x);
    }
    report("gelu", before, start);
}

// ---- bf16 and int8 panel GEMMs (swk_panel_lowp.h) ------------------------------------------------

/// `x` rounded to bfloat16 (8 significant bits, nearest even), by frexp/ldexp in float64.
static double bf16_round_d(float x) {
    if (x == 0 || isinf(x) || isnan(x)) return x;
    int e;
    double m = frexp((double)x, &e); // |m| in [0.5, 1)
    return ldexp(nearbyint(m * 256) / 256, e);
}

static void test_panel_bf16(void) {
    static const int ms[] = {1, 3, 4, 5, 12, 13, 25}, ks[] = {1, 2, 3, 16, 37, 64}, ns[] = {1, 5, 16, 17, 33, 48, 70};
    long before = checks;
    clock_t start = clock();
    // Rounding the activations: every path gives the nearest-even bf16 of each element (checked by
    // frexp), a NaN stays NaN, and an odd k gets a zero pad.
    for (int k = 1; k <= 40; k += 3) {
        const int m = 3, lda = k + 2, kp = (k + 1) / 2 * 2;
        float *a = floats((size_t)m * lda, -3, 3);
        a[0] = 1.0f + 0x1p-8f;                // a tie: stays 1 (even)
        if (k > 1) a[1] = 1.0f + 3 * 0x1p-8f; // a tie: rounds up to 1 + 2^-6
        if (k > 2) a[2] = NAN;
        uint16_t *out = alloc((size_t)m * kp * 2);
        for (int li = 0; li < nlevels; li++) {
            set_level(levels[li]);
            memset(out, 0xAB, (size_t)m * kp * 2);
            swk_bf16_round_rows(a, lda, m, k, out);
            for (int i = 0; i < m; i++)
                for (int p = 0; p < kp; p++) {
                    const double want = p < k ? bf16_round_d(a[i * lda + p]) : 0.0;
                    close_to(bf16_value(out[i * kp + p]), want, 0, "bf16_round_rows", i * kp + p);
                }
        }
        free(a), free(out);
    }
    for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                const int m = ms[mi], k = ks[ki], n = ns[ni], lda = k + 3, ldc = n + 5, kp = (k + 1) / 2 * 2;
                float *a = floats((size_t)m * lda, -1, 1), *w = floats((size_t)n * k, -1, 1);
                float *bias = floats((size_t)n, -1, 1);
                uint16_t *panels = alloc(swk_panel_bf16_elements(n, k) * 2), *ab = alloc((size_t)m * kp * 2);
                swk_panel_bf16_pack(w, n, k, panels);
                float *c0 = floats((size_t)m * ldc, -2, 2), *c = alloc((size_t)m * ldc * sizeof(float));
                const int variant = (int)(mi + ki + ni);
                const int flags = variant % 4;
                const float *b = variant % 3 ? bias : NULL;
                const int col0 = n > 16 && variant % 2 ? 16 : 0, col1 = n > 16 && variant % 2 ? n - 3 : n;
                for (int li = 0; li < nlevels; li++) {
                    set_level(levels[li]);
                    swk_bf16_round_rows(a, lda, m, k, ab);
                    memcpy(c, c0, (size_t)m * ldc * sizeof(float));
                    swk_panel_linear_bf16(ab, m, k, panels, n, col0, col1, b, flags, c, ldc);
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < ldc; j++) {
                            const size_t at = (size_t)i * ldc + j;
                            if (j < col0 || j >= col1) {
                                if (memcmp(&c[at], &c0[at], 4))
                                    fail("swk_panel_linear_bf16 wrote column %d of [%d, %d)", j, col0, col1);
                                continue;
                            }
                            // s: the exact sum of the bf16 products; t: of the float32 inputs' products.
                            double s = 0, t = 0, mag = 0, mag_t = 0;
                            for (int p = 0; p < k; p++) {
                                const float x = a[(size_t)i * lda + p], y = w[(size_t)j * k + p];
                                s += bf16_round_d(x) * bf16_round_d(y);
                                t += (double)x * y;
                                mag += fabs(bf16_round_d(x) * bf16_round_d(y));
                                mag_t += fabs((double)x * y);
                            }
                            double extra = 0;
                            if (b) s += b[j], t += b[j], extra += fabs(b[j]);
                            if (flags & SWK_PANEL_ACCUMULATE) s += c0[at], t += c0[at], extra += fabs(c0[at]);
                            // Float32 sums of k exact products, the bias and C: any order, with FMA.
                            const double bound = gam(k + 3) * (mag + extra) + tiny(k);
                            // Against the float32 inputs: two bf16 roundings per product, each within
                            // 2^-8 relative (8 significant bits), so (1 + 2^-8)² − 1 per product.
                            const double bound_t = bound + (0x1p-7 + 0x1p-16) * mag_t;
                            if (flags & SWK_PANEL_GELU) {
                                close_to(c[at], gelu_d(s), gelu_bound(s, bound), "panel_linear_bf16+gelu", (long)at);
                            } else {
                                close_to(c[at], s, bound, "panel_linear_bf16", (long)at);
                                close_to(c[at], t, bound_t, "panel_linear_bf16 vs f32", (long)at);
                            }
                        }
                }
                free(a), free(w), free(bias), free(panels), free(ab), free(c0), free(c);
            }
    report("panel_bf16", before, start);
}

static void test_panel_q8(void) {
    static const int ms[] = {1, 3, 4, 5, 12, 13, 25}, ks[] = {1, 3, 4, 7, 16, 37, 64},
                     ns[] = {1, 5, 16, 17, 33, 48, 70};
    long before = checks;
    clock_t start = clock();
    for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                const int m = ms[mi], k = ks[ki], n = ns[ni], lda = k + 3, ldc = n + 5, kp = (k + 3) / 4 * 4;
                const int steps = kp / 4;
                float *a = floats((size_t)m * lda, -4, 4), *w = floats((size_t)n * k, -1, 1);
                float *bias = floats((size_t)n, -1, 1);
                if (m > 2) // a zero row, and a row of one value
                    for (int p = 0; p < k; p++) a[lda + p] = 0, a[2 * lda + p] = -2.5f;
                if (n > 2)
                    for (int p = 0; p < k; p++) w[2 * k + p] = 0; // a zero column of the product
                int8_t *panels = alloc(swk_panel_q8_bytes(n, k));
                float *wscale = alloc((size_t)n * 4), *ascale = alloc((size_t)m * 4), *ascale0 = alloc((size_t)m * 4);
                int32_t *sums = alloc((size_t)n * 4);
                uint8_t *aq = alloc((size_t)m * kp), *aq0 = alloc((size_t)m * kp);
                swk_panel_q8_pack(w, n, k, panels, wscale);
                checks++;
                if (swk_panel_q8_sums(panels, n, k, sums) != 0) fail("panel_q8_sums refused packed weights");
                if (n > 0 && k > 0) { // a -128 (no writer stores it) is reported, and the sums still written
                    const int8_t keep = panels[0];
                    panels[0] = INT8_MIN;
                    checks++;
                    if (swk_panel_q8_sums(panels, n, k, sums) != -1) fail("panel_q8_sums accepted -128");
                    panels[0] = keep;
                    swk_panel_q8_sums(panels, n, k, sums);
                }
                // The weights: per column scale max|w|/127, q = nearest-even of w/scale, within half a
                // step of w; the padding is zero; the sums are the sums.
                for (int j = 0; j < n; j++) {
                    float mx = 0;
                    for (int p = 0; p < k; p++) mx = fmaxf(mx, fabsf(w[(size_t)j * k + p]));
                    same_bits(wscale[j], mx / 127.0f, "panel_q8_pack scale", j);
                    long s = 0;
                    for (int p = 0; p < kp; p++) {
                        const int q = panels[(((size_t)(j / 16) * steps + p / 4) * 16 + j % 16) * 4 + p % 4];
                        s += q;
                        checks++;
                        if (p >= k ? q != 0
                                   : (q < -127 || q > 127 ||
                                      fabs(q * (double)wscale[j] - w[(size_t)j * k + p]) > 0.5001 * wscale[j]))
                            fail("panel_q8_pack [%d, %d] = %d for %g (scale %g)", j, p, q,
                                 p < k ? w[(size_t)j * k + p] : 0, wscale[j]);
                    }
                    checks++;
                    if (s != sums[j]) fail("panel_q8_sums[%d] = %d, want %ld", j, sums[j], s);
                }
                float *c0 = floats((size_t)m * ldc, -2, 2), *c = alloc((size_t)m * ldc * sizeof(float));
                const int variant = (int)(mi + ki + ni);
                const int flags = variant % 4;
                const float *b = variant % 3 ? bias : NULL;
                const int col0 = n > 16 && variant % 2 ? 16 : 0, col1 = n > 16 && variant % 2 ? n - 3 : n;
                for (int li = 0; li < nlevels; li++) {
                    set_level(levels[li]);
                    // Activations: the documented formula, the same bytes and scales on every path.
                    memset(aq, 0, (size_t)m * kp);
                    swk_q8_quantize_rows(a, lda, m, k, aq, ascale);
                    for (int i = 0; i < m; i++) {
                        float mx = 0;
                        for (int p = 0; p < k; p++) mx = fmaxf(mx, fabsf(a[(size_t)i * lda + p]));
                        same_bits(ascale[i], mx / 127.0f, "q8_quantize_rows scale", i);
                        const float inv = mx > 0 ? 127.0f / mx : 0.0f;
                        for (int p = 0; p < kp; p++) {
                            const int want = p < k ? (int)nearbyintf(a[(size_t)i * lda + p] * inv) + 128 : 128;
                            checks++;
                            if (aq[(size_t)i * kp + p] != want)
                                fail("q8_quantize_rows at %s [%d, %d] = %d, want %d", isa_name(level), i, p,
                                     aq[(size_t)i * kp + p], want);
                        }
                    }
                    memcpy(c, c0, (size_t)m * ldc * sizeof(float));
                    swk_panel_linear_q8(aq, m, k, ascale, panels, wscale, sums, n, col0, col1, b, flags, c, ldc);
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < ldc; j++) {
                            const size_t at = (size_t)i * ldc + j;
                            if (j < col0 || j >= col1) {
                                if (memcmp(&c[at], &c0[at], 4))
                                    fail("swk_panel_linear_q8 wrote column %d of [%d, %d)", j, col0, col1);
                                continue;
                            }
                            // The exact integer sum, then the documented float32 steps, operation by
                            // operation: the same bits.
                            long isum = 0;
                            for (int p = 0; p < k; p++)
                                isum += ((long)aq[(size_t)i * kp + p] - 128) *
                                        panels[(((size_t)(j / 16) * steps + p / 4) * 16 + j % 16) * 4 + p % 4];
                            const float f = ascale[i] * wscale[j];
                            float r = (float)isum;
                            r = r * f;
                            if (b) r = r + b[j];
                            if (flags & SWK_PANEL_ACCUMULATE) r = r + c0[at];
                            if (flags & SWK_PANEL_GELU)
                                close_to(c[at], gelu_d(r), gelu_bound(r, 0), "panel_linear_q8+gelu", (long)at);
                            else
                                same_bits(c[at], r, "panel_linear_q8", (long)at);
                        }
                    if (li == 0) memcpy(aq0, aq, (size_t)m * kp), memcpy(ascale0, ascale, (size_t)m * 4);
                }
                free(a), free(w), free(bias), free(panels), free(wscale), free(ascale), free(ascale0), free(sums);
                free(aq), free(aq0), free(c0), free(c);
            }
    // Large k: the int32 sums stay exact at the extremes (every product ±127 · 127).
    {
        const int m = 13, k = 1536, n = 40, kp = k;
        float *a = alloc((size_t)m * k * 4), *w = alloc((size_t)n * k * 4);
        for (int i = 0; i < m * k; i++) a[i] = (i / k) % 2 ? -1.0f : 1.0f;
        for (int i = 0; i < n * k; i++) w[i] = (i / k) % 3 ? -1.0f : 1.0f;
        int8_t *panels = alloc(swk_panel_q8_bytes(n, k));
        float *wscale = alloc((size_t)n * 4), *ascale = alloc((size_t)m * 4), *c = alloc((size_t)m * n * 4);
        float *ones = filled((size_t)(m > n ? m : n), 1.0f);
        int32_t *sums = alloc((size_t)n * 4);
        uint8_t *aq = alloc((size_t)m * kp);
        swk_panel_q8_pack(w, n, k, panels, wscale);
        swk_panel_q8_sums(panels, n, k, sums);
        for (int li = 0; li < nlevels; li++) {
            set_level(levels[li]);
            swk_q8_quantize_rows(a, k, m, k, aq, ascale);
            swk_panel_linear_q8(aq, m, k, ones, panels, ones, sums, n, 0, n, NULL, 0, c, n);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    same_bits(c[i * n + j], (float)((i % 2 ? -1 : 1) * (j % 3 ? -1 : 1) * 127 * 127 * k),
                              "panel_linear_q8 extreme", i * n + j);
        }
        free(a), free(w), free(panels), free(wscale), free(ascale), free(c), free(ones), free(sums), free(aq);
    }
    report("panel_q8", before, start);
}

static void test_attention(void) {
    static const int token_counts[] = {1, 3, 17, 40}, head_counts[] = {1, 3}, dims[] = {1, 5, 16, 24};
    long before = checks;
    clock_t start = clock();
    for (size_t ti = 0; ti < 4; ti++)
        for (size_t hi = 0; hi < 2; hi++)
            for (size_t di = 0; di < 4; di++) {
                const int T = token_counts[ti], H = head_counts[hi], D = dims[di];
                const int stride = H * D + 2, ldo = H * D + 1, variant = (int)(ti + hi + di);
                const int q0 = T >= 3 && variant % 2 ? 1 : 0, q1 = T >= 3 && variant % 2 ? T - 1 : T;
                const float scale = 1.0f / sqrtf((float)D);
                float *q = floats((size_t)T * stride, -2, 2), *k = floats((size_t)T * stride, -2, 2);
                float *v = floats((size_t)T * stride, -1, 1);
                float *kb = variant % 3 ? floats((size_t)T, -1, 1) : NULL;
                float *out = alloc((size_t)T * ldo * sizeof(float));
                float *scratch = alloc(swk_attention_scratch(T, D) * sizeof(float));
                double *sc = alloc((size_t)T * sizeof(double)), *rho = alloc((size_t)T * sizeof(double));
                for (int li = 0; li < nlevels; li++) {
                    set_level(levels[li]);
                    for (size_t i = 0; i < (size_t)T * ldo; i++) out[i] = -7.0f;
                    swk_attention(q, k, v, stride, T, q0, q1, H, D, scale, kb, out, ldo, scratch);
                    for (int i = 0; i < T; i++)
                        for (int h = 0; h < H; h++) {
                            // Scores with their rounding bounds; exp(s_j − max) and the shift.
                            double mx = -INFINITY;
                            for (int j = 0; j < T; j++) {
                                double s = 0, mag = 0;
                                for (int d = 0; d < D; d++) {
                                    double p =
                                        (double)q[(size_t)i * stride + h * D + d] * k[(size_t)j * stride + h * D + d];
                                    s += p;
                                    mag += fabs(p);
                                }
                                sc[j] = s * scale + (kb ? kb[j] : 0);
                                rho[j] = gam(D + 3) * (mag * scale + (kb ? fabs(kb[j]) : 0));
                                mx = sc[j] > mx ? sc[j] : mx;
                            }
                            double rmax = 0;
                            for (int j = 0; j < T; j++) {
                                // Relative error of the computed e^(s_j − max): its score's error twice
                                // (the maximum is itself a computed score), the subtraction, exp.
                                double r = 2 * rho[j] + U * (fabs(sc[j] - mx) + 2 * rho[j]) + 4 * U;
                                rmax = r > rmax ? r : rmax;
                            }
                            for (int d = 0; d < D; d++) {
                                double num = 0, den = 0, absnum = 0;
                                for (int j = 0; j < T; j++) {
                                    double e = exp(sc[j] - mx), vv = v[(size_t)j * stride + h * D + d];
                                    num += e * vv, den += e, absnum += e * fabs(vv);
                                }
                                const float got = out[(size_t)i * ldo + h * D + d];
                                if (i < q0 || i >= q1) {
                                    if (got != -7.0f)
                                        fail("swk_attention wrote query row %d outside [%d, %d)", i, q0, q1);
                                    continue;
                                }
                                // Weights off by a factor within e^±rmax each, so normalised weights within
                                // e^±2rmax: the mix moves by at most (e^2rmax − 1) of Σ p|v| / Σ p; then
                                // the two float32 sums (T terms each), the reciprocal and the scaling;
                                // a vector exp flushes e^x below e^-87 (< 1.7e-38, |v| ≤ 1) to zero.
                                const double a = absnum / den;
                                close_to(got, num / den,
                                         a * (expm1(2 * rmax) + gam(2 * T + 6)) + T * 1.7e-38 + tiny(2 * T),
                                         "attention", (long)i * ldo + h * D + d);
                            }
                        }
                    for (int i = 0; i < T; i++)
                        if (out[(size_t)i * ldo + H * D] != -7.0f) fail("swk_attention wrote past a row");
                }
                free(q), free(k), free(v), free(kb), free(out), free(scratch), free(sc), free(rho);
            }
    report("attention", before, start);
}

static void test_attention_bf16(void) {
    static const int token_counts[] = {1, 3, 17, 40, 61}, head_counts[] = {1, 3}, dims[] = {1, 5, 16, 24, 64};
    long before = checks;
    clock_t start = clock();
    for (size_t ti = 0; ti < 5; ti++)
        for (size_t hi = 0; hi < 2; hi++)
            for (size_t di = 0; di < 5; di++) {
                const int T = token_counts[ti], H = head_counts[hi], D = dims[di];
                const int stride = H * D + 2, ldo = H * D + 1, variant = (int)(ti + hi + di);
                const int q0 = T >= 3 && variant % 2 ? 1 : 0, q1 = T >= 3 && variant % 2 ? T - 1 : T;
                const float scale = 1.0f / sqrtf((float)D);
                float *q = floats((size_t)T * stride, -2, 2), *k = floats((size_t)T * stride, -2, 2);
                float *v = floats((size_t)T * stride, -1, 1);
                float *kb = variant % 3 ? floats((size_t)T, -1, 1) : NULL;
                float *out = alloc((size_t)T * ldo * sizeof(float));
                float *scratch = alloc(swk_attention_bf16_scratch(T, D) * sizeof(float));
                double *sc = alloc((size_t)T * sizeof(double)), *rho = alloc((size_t)T * sizeof(double));
                double *sc_t = alloc((size_t)T * sizeof(double)), *rho_t = alloc((size_t)T * sizeof(double));
                for (int li = 0; li < nlevels; li++) {
                    set_level(levels[li]);
                    for (size_t i = 0; i < (size_t)T * ldo; i++) out[i] = -7.0f;
                    swk_attention_bf16(q, k, v, stride, T, q0, q1, H, D, scale, kb, out, ldo, scratch);
                    for (int i = 0; i < T; i++)
                        for (int h = 0; h < H; h++) {
                            // sc: exact scores of the bf16 inputs, rho: the float32 sums' bound on them;
                            // sc_t: exact scores of the float32 inputs, rho_t: that bound plus the two
                            // bf16 roundings of every product (2^-7 + 2^-16 relative).
                            double mx = -INFINITY, mx_t = -INFINITY;
                            for (int j = 0; j < T; j++) {
                                double s = 0, mag = 0, t = 0, mag_t = 0;
                                for (int d = 0; d < D; d++) {
                                    const float x = q[(size_t)i * stride + h * D + d],
                                                y = k[(size_t)j * stride + h * D + d];
                                    const double p = bf16_round_d(x) * bf16_round_d(y);
                                    s += p, mag += fabs(p);
                                    t += (double)x * y, mag_t += fabs((double)x * y);
                                }
                                const double b = kb ? kb[j] : 0;
                                sc[j] = s * scale + b;
                                sc_t[j] = t * scale + b;
                                rho[j] = gam(D + 3) * (mag * scale + fabs(b)) + tiny(D);
                                rho_t[j] = rho[j] + (0x1p-7 + 0x1p-16) * mag_t * scale;
                                mx = sc[j] > mx ? sc[j] : mx;
                                mx_t = sc_t[j] > mx_t ? sc_t[j] : mx_t;
                            }
                            double rmax = 0, rmax_t = 0;
                            for (int j = 0; j < T; j++) {
                                // As test_attention: the score's error twice, the subtraction, exp.
                                double r = 2 * rho[j] + U * (fabs(sc[j] - mx) + 2 * rho[j]) + 4 * U;
                                double r_t = 2 * rho_t[j] + U * (fabs(sc_t[j] - mx_t) + 2 * rho_t[j]) + 4 * U;
                                rmax = r > rmax ? r : rmax;
                                rmax_t = r_t > rmax_t ? r_t : rmax_t;
                            }
                            for (int d = 0; d < D; d++) {
                                double num = 0, den = 0, absnum = 0, num_t = 0, den_t = 0, absnum_t = 0;
                                for (int j = 0; j < T; j++) {
                                    const float vf = v[(size_t)j * stride + h * D + d];
                                    const double e = exp(sc[j] - mx), vv = bf16_round_d(vf);
                                    num += e * vv, den += e, absnum += e * fabs(vv);
                                    const double e_t = exp(sc_t[j] - mx_t);
                                    num_t += e_t * vf, den_t += e_t, absnum_t += e_t * fabs(vf);
                                }
                                const float got = out[(size_t)i * ldo + h * D + d];
                                if (i < q0 || i >= q1) {
                                    if (got != -7.0f)
                                        fail("swk_attention_bf16 wrote query row %d outside [%d, %d)", i, q0, q1);
                                    continue;
                                }
                                // Normalised weights within e^±2rmax, then e^(s − max) rounded to bf16
                                // (2^-8 relative) in the numerator only, the float32 sums, reciprocal and
                                // scaling; flushed subnormals (vector exp, the BF16 instruction) ≤ 2^-126
                                // per term. Against the float32 inputs, v's rounding (2^-8) as well.
                                const double a = absnum / den, a_t = absnum_t / den_t;
                                const double flush = T * 1.7e-38 + tiny(2 * T);
                                close_to(got, num / den,
                                         a * (exp(2 * rmax) * (1 + 0x1p-8) * (1 + gam(2 * T + 6)) - 1) + flush,
                                         "attention_bf16", (long)i * ldo + h * D + d);
                                close_to(
                                    got, num_t / den_t,
                                    a_t * (exp(2 * rmax_t) * (1 + 0x1p-8) * (1 + 0x1p-8) * (1 + gam(2 * T + 6)) - 1) +
                                        flush,
                                    "attention_bf16 vs f32", (long)i * ldo + h * D + d);
                            }
                        }
                    for (int i = 0; i < T; i++)
                        if (out[(size_t)i * ldo + H * D] != -7.0f) fail("swk_attention_bf16 wrote past a row");
                }
                free(q), free(k), free(v), free(kb), free(out), free(scratch), free(sc), free(rho), free(sc_t),
                    free(rho_t);
            }
    report("attention_bf16", before, start);
}

static void test_layer_norm(void) {
    static const int col_counts[] = {1, 2, 3, 4, 7, 8, 15, 16, 17, 33, 100, 384};
    long before = checks;
    clock_t start = clock();
    for (size_t ci = 0; ci < sizeof col_counts / sizeof col_counts[0]; ci++) {
        const int n = col_counts[ci], rows = 3;
        float *x = alloc((size_t)rows * n * sizeof(float)), *y = alloc(((size_t)rows * n + 1) * sizeof(float));
        // |mean| ≫ std in row 0 (the two-pass variance must stay accurate), centred rows after it.
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < n; j++)
                x[(size_t)r * n + j] = (r == 0 ? 10.0f : 0.0f) + uniform(-1, 1) * (r == 2 ? 100 : 1);
        float *w = floats((size_t)n, -2, 2), *b = floats((size_t)n, -1, 1);
        const float eps = 1e-5f;
        for (int li = 0; li < nlevels; li++) {
            set_level(levels[li]);
            const int in_place = (int)ci % 2; // y = x, or x kept and y written
            memcpy(y, x, (size_t)rows * n * sizeof(float));
            y[(size_t)rows * n] = -7.0f;
            swk_layer_norm(in_place ? y : x, rows, n, w, b, eps, y);
            for (int r = 0; r < rows; r++) {
                const float *xr = x + (size_t)r * n;
                double mean = 0, sabs = 0, ss = 0;
                for (int j = 0; j < n; j++) mean += xr[j], sabs += fabs(xr[j]);
                mean /= n;
                for (int j = 0; j < n; j++) ss += (xr[j] - mean) * (xr[j] - mean);
                const double var = ss / n, inv = 1 / sqrt(var + eps);
                // Computed mean within dm; the centred sum of squares within γ(n+3) plus n·dm² (its
                // first-order term in dm vanishes), then /n, +eps, √, 1/: the scale within phi.
                const double dm = gam(n + 1) * sabs / n;
                const double psi = (gam(n + 5) * var + dm * dm + U * eps) / (var + eps);
                const double phi = 0.5 * psi / (1 - psi) + 3 * U;
                for (int j = 0; j < n; j++) {
                    const double d = (xr[j] - mean) * inv, ref = d * w[j] + b[j];
                    const double bound = fabs(w[j]) * (inv * dm * (1 + phi) + fabs(d) * (phi + 3 * U)) +
                                         3 * U * (fabs(d * w[j]) + fabs(b[j])) + tiny(4);
                    close_to(y[(size_t)r * n + j], ref, bound, in_place ? "layer_norm in place" : "layer_norm", j);
                }
            }
            if (y[(size_t)rows * n] != -7.0f) fail("swk_layer_norm wrote past the rows");
        }
        free(x), free(y), free(w), free(b);
    }
    report("layer_norm", before, start);
}

// ---- memory layer: hash and gather ------------------------------------------------------------------

static void test_memory_hash(void) {
    static const int table_counts[] = {1, 3, 4, 5, 8, 9}, lengths[] = {1, 3, 5, 8, 10, 17, 24};
    long before = checks;
    clock_t start = clock();
    for (size_t ti = 0; ti < 6; ti++)
        for (size_t li2 = 0; li2 < 7; li2++) {
            const int T = table_counts[ti], L = lengths[li2], rows = 3, ldz = T * L + 3;
            float *z = floats((size_t)rows * ldz, -2, 2);
            // Exact zeros (bit set, no weight), negative zero (bit set: −0 ≥ 0), large magnitudes
            // (exp underflows), and a NaN (no bit, NaN weight).
            for (int i = 0; i < rows * ldz; i += 7) z[i] = 0.0f;
            for (int i = 3; i < rows * ldz; i += 11) z[i] = -0.0f;
            for (int i = 5; i < rows * ldz; i += 13) z[i] = i % 2 ? 60.0f : -60.0f;
            if ((ti + li2) % 4 == 0) z[ldz + 1] = NAN;
            int32_t *codes = alloc((size_t)rows * T * sizeof(int32_t));
            float *wts = alloc((size_t)rows * T * sizeof(float));
            for (int lv = 0; lv < nlevels; lv++) {
                set_level(levels[lv]);
                swk_memory_hash(z, rows, ldz, T, L, codes, wts);
                for (int n = 0; n < rows; n++)
                    for (int k = 0; k < T; k++) {
                        const float *c = z + (size_t)n * ldz + (size_t)k * L;
                        int32_t bits = 0;
                        double sum = 0, prod = 1;
                        for (int i = 0; i < L; i++) {
                            bits = (bits << 1) | (c[i] >= 0);
                            sum += fabs(c[i]);
                            prod *= 1 + exp(-2 * fabs((double)c[i]));
                        }
                        checks++;
                        if (codes[n * T + k] != bits)
                            fail("memory_hash code at %s [%d,%d]: got %d, want %d", isa_name(level), n, k,
                                 codes[n * T + k], bits);
                        // Σ|z| (L roundings), L factors 1 + e (exp ≤ 4u, the sum u), L − 1 products, /.
                        const double ref = sum / prod;
                        close_to(wts[n * T + k], ref, gam(6 * L + 2) * fabs(ref) + tiny(L), "memory_hash weight",
                                 n * T + k);
                    }
            }
            free(z), free(codes), free(wts);
        }
    report("memory_hash", before, start);
}

static void gather_case(int storage, int T, int L, long out, int rows, int with_bias, swk_pool *pool) {
    const long rowsTotal = (long)T << L, esz = (long)element_size(storage);
    const int q4 = storage == SWK_Q4BLOCK;
    // Rows are a few bytes wider than their values; q8 scales sit every 8 bytes, a q4 row's block
    // scales (nb floats) every 4·nb + 4 bytes.
    const long nb = q4 ? (out + 31) / 32 : 1, scale_stride = q4 ? 4 * nb + 4 : 8;
    const ptrdiff_t row_stride = q4 ? (out + 1) / 2 + 3
                                    : out * esz + (storage == SWK_F32   ? 8
                                                   : storage == SWK_F16 ? 2
                                                                        : 3);
    uint8_t *values = alloc((size_t)(rowsTotal * row_stride));
    double *vv = alloc((size_t)(rowsTotal * out) * sizeof(double));
    uint8_t *scales = alloc((size_t)(rowsTotal * scale_stride));
    float *sv = alloc((size_t)(rowsTotal * nb) * sizeof(float));
    for (long r = 0; r < rowsTotal; r++) {
        if (q4) {
            for (long i = 0; i < (out + 1) / 2; i++) values[r * row_stride + i] = (uint8_t)below(256);
            for (long j = 0; j < out; j++) vv[r * out + j] = q4_ref(values + r * row_stride, j);
            for (long b = 0; b < nb; b++) {
                sv[r * nb + b] = uniform(0.001f, 0.02f);
                memcpy(scales + r * scale_stride + 4 * b, &sv[r * nb + b], 4);
            }
            continue;
        }
        for (long j = 0; j < out; j++) {
            uint8_t *p = values + r * row_stride + j * esz;
            if (storage == SWK_F16) {
                uint16_t h = random_half();
                memcpy(p, &h, 2);
                vv[r * out + j] = half_value(h);
            } else if (storage == SWK_Q8ROW) {
                int8_t q = (int8_t)(below(256) - 128);
                *p = (uint8_t)q;
                vv[r * out + j] = q;
            } else {
                float f = uniform(-1, 1);
                memcpy(p, &f, 4);
                vv[r * out + j] = f;
            }
        }
        sv[r] = storage == SWK_Q8ROW ? uniform(0.001f, 0.02f) : 1.0f;
        memcpy(scales + 8 * r, &sv[r], 4);
    }
    swk_memory_tables t = {storage, T, L, out, values, row_stride, scales, scale_stride};
    int32_t *codes = alloc((size_t)rows * T * sizeof(int32_t));
    for (int i = 0; i < rows * T; i++) codes[i] = below(1 << L);
    float *weights = floats((size_t)rows * T, -2, 2), *bias = with_bias ? floats((size_t)out, -1, 1) : NULL;
    const long ldy = out + 2;
    float *y = filled((size_t)(rows * ldy), NAN);
    swk_memory_gather(&t, codes, weights, rows, bias, y, ldy, pool);
    for (int n = 0; n < rows; n++) {
        for (long j = 0; j < out; j++) {
            double ref = bias ? bias[j] : 0, mag = fabs(ref);
            for (int k = 0; k < T; k++) {
                const long r = ((long)k << L) + codes[n * T + k];
                const float scale = q4 ? sv[r * nb + j / 32] : sv[r];
                const double term = (double)(float)(weights[n * T + k] * scale) * vv[r * out + j];
                ref += term, mag += fabs(term);
            }
            // The q8 / q4 weight·scale product (one rounding, in the reference too), then T terms and the bias.
            close_to(y[n * ldy + j], ref, gam(T + 2) * mag + tiny(T), "memory_gather", n * ldy + j);
        }
        if (!isnan(y[n * ldy + out]) || !isnan(y[n * ldy + out + 1])) fail("swk_memory_gather wrote past a row");
    }
    free(values), free(vv), free(scales), free(sv), free(codes), free(weights), free(bias), free(y);
}

static void test_memory_gather(swk_pool *pool) {
    static const int table_counts[] = {1, 7, 8, 9, 17}, outs[] = {1, 3, 8, 17, 64, 100}, row_counts[] = {1, 3, 6};
    const int storages[] = {SWK_F32, SWK_F16, SWK_Q8ROW, SWK_Q4BLOCK};
    long before = checks;
    clock_t start = clock();
    for (int lv = 0; lv < nlevels; lv++) {
        set_level(levels[lv]);
        uint64_t seed = rng_state;
        for (int s = 0; s < 4; s++)
            for (int ti = 0; ti < 5; ti++)
                for (int oi = 0; oi < 6; oi++) {
                    const int variant = s + ti + oi;
                    gather_case(storages[s], table_counts[ti], 1 + variant % 3, outs[oi], row_counts[variant % 3],
                                variant % 2, NULL);
                }
        // With a pool: a batch split by tokens, and one token split by columns.
        for (int s = 0; s < 4; s++) {
            gather_case(storages[s], 17, 2, 1024, 6, 1, pool);
            gather_case(storages[s], 24, 1, 4100, 1, 0, pool);
        }
        gather_case(SWK_Q4BLOCK, 16, 3, 512, 1, 1, NULL);  // the MemoryFormer tiny row width, one token
        gather_case(SWK_Q4BLOCK, 16, 2, 4099, 1, 0, pool); // split by columns, a partial last block
        rng_state = seed + 1;
    }
    report("memory_gather", before, start);
}

// ---- few-row, sparse and LIF kernels ------------------------------------------------------------------

/// One call of swk_row_linear or (sparse) swk_sparse_linear, checked against float64.
static void linear_case(int sparse, int binary, int wtype, int rows, int k, int n, int with_bias, int accumulate) {
    const long ldx = k + 1, ldw = n + 3, ldy = n + 2;
    float *x = alloc((size_t)(rows * ldx + 1) * sizeof(float));
    for (long i = 0; i < rows * ldx + 1; i++) {
        float v = uniform(-1, 1);
        if (sparse) v = below(10) < 7 ? (below(2) ? 0.0f : -0.0f) : binary ? 1.0f : v;
        x[i] = v;
    }
    double *wv = alloc((size_t)(k * ldw + 1) * sizeof(double));
    // Weights at any alignment (one byte into the buffer), as read in place; q8 rows get a scale each,
    // stored unaligned after the values as in a .swl q8_row tensor.
    uint8_t *buffer;
    const void *w = random_matrix(wtype, (size_t)(k * ldw), wv, &buffer);
    if (wtype == SWK_F32 || wtype == SWK_F16) {
        // The float32 and binary16 paths take aligned weights (as the model files give them).
        void *aligned = alloc((size_t)(k * ldw + 1) * element_size(wtype));
        memcpy(aligned, w, (size_t)(k * ldw) * element_size(wtype));
        free(buffer);
        buffer = aligned;
        w = aligned;
    }
    uint8_t *scale_bytes = alloc((size_t)k * 4 + 8);
    const void *scales = scale_bytes + 3;
    for (long i = 0; i < k; i++) {
        float sc = wtype == SWK_Q8ROW ? uniform(0.001f, 0.02f) : 1.0f;
        memcpy(scale_bytes + 3 + 4 * i, &sc, 4);
        for (long j = 0; j < ldw; j++) wv[i * ldw + j] *= sc;
    }
    float *bias = with_bias ? floats((size_t)n, -1, 1) : NULL;
    float *y0 = floats((size_t)(rows * ldy), -1, 1), *y = alloc((size_t)(rows * ldy) * sizeof(float));
    memcpy(y, y0, (size_t)(rows * ldy) * sizeof(float));
    long nonzero = 0;
    if (sparse) {
        long got = swk_sparse_linear(x, rows, ldx, k, binary, w, wtype, scales, ldw, n, bias, y, ldy, accumulate);
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < k; i++) nonzero += x[r * ldx + i] != 0.0f;
        checks++;
        if (got != nonzero)
            fail("swk_sparse_linear at %s counted %ld non-zero inputs, want %ld", isa_name(level), got, nonzero);
    } else {
        swk_row_linear(x, rows, ldx, k, w, wtype, scales, ldw, n, bias, y, ldy, accumulate);
    }
    for (int r = 0; r < rows; r++) {
        for (int j = 0; j < n; j++) {
            double ref = (bias ? bias[j] : 0) + (accumulate ? y0[r * ldy + j] : 0);
            double mag = fabs(ref);
            for (int i = 0; i < k; i++) {
                const double term = x[r * ldx + i] * wv[(long)i * ldw + j];
                ref += term, mag += fabs(term);
            }
            // q8: x · scale is rounded once more before the product (one more rounding per term).
            close_to(y[r * ldy + j], ref, gam(k + 3) * mag + tiny(k), sparse ? "sparse_linear" : "row_linear",
                     r * ldy + j);
        }
        for (long j = n; j < ldy; j++)
            if (memcmp(&y[r * ldy + j], &y0[r * ldy + j], 4)) fail("linear kernel wrote past a row");
    }
    free(x), free(wv), free(buffer), free(scale_bytes), free(bias), free(y0), free(y);
}

static void test_row_linear(void) {
    static const int wtypes[] = {SWK_F32, SWK_F16, SWK_BF16, SWK_Q8ROW};
    static const int row_counts[] = {1, 2, 3, 4, 5, 8, 9}, ks[] = {0, 1, 7, 33},
                     ns[] = {1, 3, 4, 5, 15, 17, 40, 65, 530};
    long before = checks;
    clock_t start = clock();
    for (int lv = 0; lv < nlevels; lv++) {
        set_level(levels[lv]);
        for (int ri = 0; ri < 7; ri++)
            for (int ki = 0; ki < 4; ki++)
                for (int ni = 0; ni < 9; ni++) {
                    const int variant = ri + ki + ni;
                    linear_case(0, 0, wtypes[variant % 4], row_counts[ri], ks[ki], ns[ni], variant % 3 != 0,
                                (variant / 2) % 2);
                }
        // q8 with more inputs than the per-call scaled copy holds (rows of a group × k > 8192): the
        // scales applied inside the tiles instead.
        linear_case(0, 0, SWK_Q8ROW, 9, 2100, 40, 1, 1);
    }
    report("row_linear", before, start);

    before = checks;
    start = clock();
    static const int sparse_ks[] = {1, 50, 1500};
    for (int lv = 0; lv < nlevels; lv++) {
        set_level(levels[lv]);
        for (int ri = 0; ri < 4; ri++)
            for (int ki = 0; ki < 3; ki++)
                for (int ni = 0; ni < 9; ni++) {
                    const int variant = ri + ki + ni;
                    linear_case(1, variant % 2, wtypes[(variant / 2) % 4], row_counts[ri], sparse_ks[ki], ns[ni],
                                variant % 3 != 0, ni % 2);
                }
        // No outputs: only the count.
        float x[3] = {1, 0, NAN};
        checks++;
        if (swk_sparse_linear(x, 1, 3, 3, 0, NULL, SWK_F32, NULL, 1, 0, NULL, NULL, 1, 0) != 2)
            fail("sparse count with n = 0");
    }
    report("sparse_linear", before, start);

    before = checks;
    start = clock();
    const float specials[] = {0.0f, -0.0f, NAN, INFINITY, 1e-45f, -1.0f};
    for (int lv = 0; lv < nlevels; lv++) {
        set_level(levels[lv]);
        static const int cols_list[] = {0, 1, 3, 4, 5, 16, 17, 100};
        for (int ci = 0; ci < 8; ci++)
            for (int rows = 1; rows <= 3; rows += 2) {
                const int cols = cols_list[ci];
                const long ldx = cols + 3;
                float *x = alloc((size_t)(rows * ldx) * sizeof(float));
                long want = 0;
                for (long i = 0; i < rows * ldx; i++) {
                    x[i] = below(3) ? specials[below(6)] : 0.0f;
                    if (i % ldx >= cols)
                        x[i] = 1.0f; // between rows: must not be counted
                    else
                        want += x[i] != 0.0f;
                }
                checks++;
                long got = swk_count_nonzero(x, rows, cols, ldx);
                if (got != want) fail("count_nonzero at %s: %ld, want %ld", isa_name(level), got, want);
                free(x);
            }
    }
    report("count_nonzero", before, start);
}

static void test_lif(void) {
    static const int cols_list[] = {1, 3, 4, 5, 8, 17, 33}, row_counts[] = {1, 2, 7};
    static const float taus[] = {2.0f, 3.0f, 0.75f};
    long before = checks;
    clock_t start = clock();
    for (int ci = 0; ci < 7; ci++)
        for (int ri = 0; ri < 3; ri++)
            for (int ti = 0; ti < 3; ti++) {
                const int cols = cols_list[ci], rows = row_counts[ri], variant = ci + ri + ti;
                const long ldx = cols + 1, ldy = variant % 4 == 0 ? ldx : cols + 2;
                const int in_place = variant % 4 == 0;
                const float tau = taus[ti], threshold = variant % 2 ? 0.5f : 1.0f;
                float *x = floats((size_t)(rows * ldx), -1, 2);
                if (variant % 5 == 0) x[0] = NAN;
                float *scale = variant % 3 ? floats((size_t)cols, 0.5f, 2) : NULL;
                float *shift = variant % 3 == 1 ? floats((size_t)cols, -0.5f, 0.5f) : NULL;
                float *m0 = floats((size_t)cols, -0.5f, 1);
                // The header's definition, operation by operation in float32.
                float *want_y = alloc((size_t)(rows * cols) * sizeof(float)),
                      *want_m = alloc((size_t)cols * sizeof(float));
                long want_spikes = 0;
                for (int c = 0; c < cols; c++) {
                    float v = m0[c];
                    for (int r = 0; r < rows; r++) {
                        float in = x[r * ldx + c] * (scale ? scale[c] : 1.0f);
                        in = in + (shift ? shift[c] : 0.0f);
                        float d = in - v;
                        float h = d / tau;
                        h = v + h;
                        int fire = h >= threshold;
                        want_y[r * cols + c] = fire ? 1.0f : 0.0f;
                        v = fire ? 0.0f : h;
                        want_spikes += fire;
                    }
                    want_m[c] = v;
                }
                float *y = alloc((size_t)(rows * (ldy > ldx ? ldy : ldx)) * sizeof(float));
                float *m = alloc((size_t)cols * sizeof(float));
                for (int lv = 0; lv < nlevels; lv++) {
                    set_level(levels[lv]);
                    memcpy(m, m0, (size_t)cols * sizeof(float));
                    float *dst = y;
                    const float *src = x;
                    if (in_place) {
                        memcpy(y, x, (size_t)(rows * ldx) * sizeof(float));
                        src = y;
                    }
                    long spikes = swk_lif(src, rows, cols, ldx, scale, shift, m, threshold, tau, dst, ldy);
                    checks++;
                    if (spikes != want_spikes)
                        fail("lif at %s: %ld spikes, want %ld", isa_name(level), spikes, want_spikes);
                    for (int r = 0; r < rows; r++)
                        for (int c = 0; c < cols; c++)
                            same_bits(dst[r * ldy + c], want_y[r * cols + c], "lif spikes", r * cols + c);
                    for (int c = 0; c < cols; c++) same_bits(m[c], want_m[c], "lif membrane", c);
                }
                free(x), free(scale), free(shift), free(m0), free(want_y), free(want_m), free(y), free(m);
            }
    report("lif", before, start);
}

// ---- the level vocabulary -------------------------------------------------------------------------

static void test_levels(int detected) {
    long before = checks;
    clock_t start = clock();
    const int arm = detected == SWK_ISA_NEON || detected == SWK_ISA_NEON_DOTPROD;
    const int all[] = {SWK_ISA_PORTABLE, SWK_ISA_AVX2, SWK_ISA_AVX512, SWK_ISA_NEON, SWK_ISA_NEON_DOTPROD};
    for (int i = 0; i < 5; i++) {
        const int cap = all[i], same_family = cap == SWK_ISA_PORTABLE || arm == (cap >= SWK_ISA_NEON);
        // A cap of this CPU's family lowers the level to it (never above what the CPU runs); one of the
        // other family caps nothing.
        int want = !same_family ? detected : cap < detected ? cap : detected;
        if (detected == SWK_ISA_PORTABLE) want = SWK_ISA_PORTABLE;
        checks++;
        int got = swk_isa_set_cap(cap);
        if (got != want || swk_isa() != want)
            fail("cap %s on a %s CPU gives %s, want %s", isa_name(cap), isa_name(detected), isa_name(got),
                 isa_name(want));
    }
    swk_isa_set_cap(detected);
    checks++;
    if (swk_isa() != detected) fail("a cap at the detected level must undo the cap");
    report("isa caps", before, start);
}

/// One call of swk_row_linear_i8 (q8 weights, int8 activations): the header's arithmetic bit for bit
/// (the scaled inputs v = x · scale rounded per row by `quantize_row_i8`, the exact integer sum, then
/// t = s · sx, + bias, + y), and against float64 the error of rounding v: at most half a step (sx / 2,
/// 0.51 with the float32 roundings of v, sx and 127 / max) per input times Σ|q_w| over the column, plus
/// the three float32 roundings of the epilogue.
static void i8_linear_case(int rows, int k, int n, int with_bias, int accumulate) {
    const long ldx = k + 1, ldw = n + 3, ldy = n + 2;
    float *x = floats((size_t)(rows * ldx + 1), -2, 2);
    if (rows > 2) x[2 * ldx + k / 2] = 0.0f; // rows of zeros and a NaN below
    if (rows > 3)
        for (int i = 0; i < k; i++) x[3 * ldx + i] = 0.0f;
    if (rows > 4) x[4 * ldx + k - 1] = NAN;
    uint8_t *wbuf = alloc((size_t)(k * ldw) + 1);
    int8_t *w = (int8_t *)(wbuf + 1); // any alignment, as read in place
    for (long i = 0; i < k * ldw; i++) w[i] = (int8_t)(below(256) - 128);
    uint8_t *scale_bytes = alloc((size_t)k * 4 + 8);
    float *sc = alloc((size_t)k * sizeof(float));
    for (long i = 0; i < k; i++) {
        sc[i] = uniform(0.001f, 0.02f);
        memcpy(scale_bytes + 3 + 4 * i, &sc[i], 4);
    }
    float *bias = with_bias ? floats((size_t)n, -1, 1) : NULL;
    float *y0 = floats((size_t)(rows * ldy), -1, 1), *y = alloc((size_t)(rows * ldy) * sizeof(float));
    memcpy(y, y0, (size_t)(rows * ldy) * sizeof(float));
    checks++;
    if (swk_row_linear_i8(x, rows, ldx, k, w, scale_bytes + 3, ldw, n, bias, y, ldy, accumulate) != 0)
        fail("swk_row_linear_i8 %dx%dx%d at %s refused", rows, k, n, isa_name(level));
    float *v = alloc((size_t)k * sizeof(float));
    int8_t *q = alloc((size_t)k);
    for (int r = 0; r < rows; r++) {
        int poisoned = 0;
        for (int i = 0; i < k; i++) {
            v[i] = x[r * ldx + i] * sc[i];
            poisoned |= isnan(v[i]);
        }
        const float sx = quantize_row_i8(v, k, q);
        for (int j = 0; j < n; j++) {
            int64_t sum = 0;
            double dot = 0, wabs = 0;
            for (int i = 0; i < k; i++) {
                const int8_t wi = w[(long)i * ldw + j];
                sum += (int64_t)q[i] * wi;
                dot += (double)x[r * ldx + i] * sc[i] * wi;
                wabs += fabs((double)wi);
            }
            const float got = y[r * ldy + j];
            if (poisoned) {
                checks++;
                if (!isnan(got)) fail("row_linear_i8 at %s: a row with a NaN gave %g", isa_name(level), got);
                continue;
            }
            float t = (float)sum;
            t = t * sx;
            if (bias) t = t + bias[j];
            if (accumulate) t = t + y0[r * ldy + j];
            same_bits(got, t, "row_linear_i8 exact sum", r * ldy + j);
            const double b = (bias ? bias[j] : 0) + (accumulate ? y0[r * ldy + j] : 0);
            const double qerr = 0.51 * sx * wabs;
            close_to(got, dot + b, qerr + gam(3) * (fabs(dot) + qerr + fabs(b)) + tiny(3), "row_linear_i8 vs float64",
                     r * ldy + j);
        }
        for (long j = n; j < ldy; j++)
            if (memcmp(&y[r * ldy + j], &y0[r * ldy + j], 4)) fail("row_linear_i8 wrote past a row");
    }
    // A row depends only on its inputs: row by row, and the columns split at a multiple of 16, give the
    // same bits as the whole call.
    float *z = alloc((size_t)(rows * ldy) * sizeof(float));
    memcpy(z, y0, (size_t)(rows * ldy) * sizeof(float));
    const long split = n > 16 ? (n / 2 + 15) / 16 * 16 : n;
    for (int r = 0; r < rows; r++) {
        swk_row_linear_i8(x + r * ldx, 1, ldx, k, w, scale_bytes + 3, ldw, split, bias, z + r * ldy, ldy, accumulate);
        if (split < n)
            swk_row_linear_i8(x + r * ldx, 1, ldx, k, w + split, scale_bytes + 3, ldw, n - split,
                              bias ? bias + split : NULL, z + r * ldy + split, ldy, accumulate);
    }
    for (long e = 0; e < rows * ldy; e++) same_bits(z[e], y[e], "row_linear_i8 split", e);
    free(x), free(wbuf), free(scale_bytes), free(sc), free(bias), free(y0), free(y), free(v), free(q), free(z);
}

static void test_row_linear_i8(void) {
    static const int row_counts[] = {1, 2, 3, 5, 6, 7, 13}, ks[] = {1, 3, 4, 5, 33, 130, 1024},
                     ns[] = {1, 15, 16, 17, 63, 64, 65, 100, 128, 130, 192, 256, 300};
    long before = checks;
    clock_t start = clock();
    for (int lv = 0; lv < nlevels; lv++) {
        set_level(levels[lv]);
        const int native =
            (level == SWK_ISA_AVX512 && (swk_cpu_features() & SWK_CPU_AVX512_VNNI)) || level == SWK_ISA_NEON_DOTPROD;
        checks++;
        if (swk_row_linear_i8_native() != native)
            fail("swk_row_linear_i8_native() = %d at %s", swk_row_linear_i8_native(), isa_name(level));
        for (int ri = 0; ri < 7; ri++)
            for (int ki = 0; ki < 7; ki++)
                for (int ni = 0; ni < (int)(sizeof ns / sizeof ns[0]); ni++) {
                    const int variant = ri + ki + ni;
                    if (ks[ki] * ns[ni] * row_counts[ri] > 600000) continue;
                    i8_linear_case(row_counts[ri], ks[ki], ns[ni], variant % 3 != 0, (variant / 2) % 2);
                }
        i8_linear_case(2, 3000, 70, 1, 1); // fewer rows per group than I8_ROWS (rows × k > 8192)
        // The largest sums: k = SWK_ROW_LINEAR_I8_MAX_K, every q = 127 against w = 127 and w = −128 (on VNNI
        // (w + 128) · q summed: 255 · 127 · 8192 is within int32).
        {
            const int k = SWK_ROW_LINEAR_I8_MAX_K;
            float *x = filled(k, 1.0f), y[2];
            int8_t *w = alloc(2 * (size_t)k);
            float *sc = filled(k, 1.0f);
            for (int i = 0; i < k; i++) w[2 * i] = 127, w[2 * i + 1] = -128;
            swk_row_linear_i8(x, 1, k, k, w, sc, 2, 2, NULL, y, 2, 0);
            const float sx = 1.0f / 127.0f;
            float want0 = (float)(127 * 127 * k) * sx, want1 = (float)(127 * -128 * k) * sx;
            same_bits(y[0], want0, "row_linear_i8 largest sum", 0);
            same_bits(y[1], want1, "row_linear_i8 largest sum", 1);
            free(x), free(w), free(sc);
        }
        float one = 1;
        int8_t w1 = 1;
        checks++;
        if (swk_row_linear_i8(&one, 1, 1, SWK_ROW_LINEAR_I8_MAX_K + 1, &w1, &one, 1, 1, NULL, &one, 1, 0) != -1)
            fail("swk_row_linear_i8 accepted k > SWK_ROW_LINEAR_I8_MAX_K");
    }
    report("row_linear_i8", before, start);
}

int main(int argc, char **argv) {
    const char *expect = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--expect") && i + 1 < argc) {
            expect = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--expect portable|avx2|avx512|neon|neon-dotprod]\n", argv[0]);
            return 2;
        }
    }
    const int detected = swk_isa_detected();
    printf("kernels_test: this CPU runs %s (features 0x%x)\n", isa_name(detected), swk_cpu_features());
    if (expect && strcmp(expect, isa_name(detected)) != 0) {
        fprintf(stderr, "FAIL expected the %s level to be detected, found %s\n", expect, isa_name(detected));
        return 1;
    }
    levels[nlevels++] = SWK_ISA_PORTABLE;
    if (detected == SWK_ISA_AVX2 || detected == SWK_ISA_AVX512) levels[nlevels++] = SWK_ISA_AVX2;
    if (detected == SWK_ISA_AVX512) levels[nlevels++] = SWK_ISA_AVX512;
    if (detected == SWK_ISA_NEON || detected == SWK_ISA_NEON_DOTPROD) levels[nlevels++] = SWK_ISA_NEON;
    if (detected == SWK_ISA_NEON_DOTPROD) levels[nlevels++] = SWK_ISA_NEON_DOTPROD;

    clock_t start = clock();
    swk_pool *pool = swk_pool_create(3); // parts run at the caller's level (the kernels pass it on)
    test_levels(detected);
    test_compact(pool);
    test_compact_q4(pool);
    test_gemm_q8(pool);
    test_gemm_bf16(pool);
    test_gemm_q8_i8(pool);
    test_panel();
    test_panel_bf16();
    test_panel_q8();
    test_attention();
    test_attention_bf16();
    test_layer_norm();
    test_memory_hash();
    test_memory_gather(pool);
    test_row_linear();
    test_row_linear_i8();
    test_lif();
    swk_pool_free(pool);
    swk_isa_set_cap(detected);
    printf("kernels_test: %ld checks, %ld failed, %.1f s CPU\n", checks, failures,
           (double)(clock() - start) / CLOCKS_PER_SEC);
    return failures ? 1 : 0;
}
