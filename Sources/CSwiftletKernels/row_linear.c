// Linear layers for few rows (streamed frames): dense products that read each weight once, and products whose
// input is mostly zero (spikes, ReLU outputs), which add up only the weight rows of the non-zero
// inputs. Weights are input-major w[k, n]: float32, binary16, bfloat16, or int8 with one float32 scale
// per weight row (q8_row: w[i, j] = q[i, j] · scales[i]). A q8 row's scale is folded into its input
// (x[i] · scales[i]) before the products, so the inner loops only widen the int8 values.
//
// The vector paths keep a tile of output columns of every row of a group in registers and stream
// each weight row through it once, so the weights (the bulk of the memory traffic for a streamed
// frame) are read exactly once per call whatever the number of rows.

#include "simd_internal.h"

// Columns [from, n) of rows [0, rows) in plain C: the portable path, and the columns left over
// by the vector paths.
// Weight element i, unscaled for q8 (its row scale is applied to the input).
SWK_INLINE float raw_weight(const void *w, long i, int wtype) {
    switch (wtype) {
    case SWK_F16: return swk_half_to_float(((const uint16_t *)w)[i]);
    case SWK_BF16: return swk_bf16_to_float(((const uint16_t *)w)[i]);
    case SWK_Q8ROW: return (float)((const int8_t *)w)[i];
    default: return ((const float *)w)[i];
    }
}

// Scale i of a q8 matrix (any alignment).
SWK_INLINE float row_scale(const void *scales, long i) {
    float s;
    memcpy(&s, (const uint8_t *)scales + 4 * i, 4);
    return s;
}

// q8 weights whose row scales are already folded into the input (a scaled copy of x made per call):
// the tiles then broadcast x as for float weights.
#define Q8_SCALED_INPUT 16

// Inputs scaled on the stack per call: up to this many floats (rows of a group × k), 32 KiB.
#define SCALED_INPUT_FLOATS 8192

// The input of weight row i: x · scales[i] for q8 rows.
SWK_INLINE float scaled_input(float x, const void *scales, long i, int wtype) {
    return wtype == SWK_Q8ROW ? x * row_scale(scales, i) : x;
}

// out[r, i] = x[r, i] · scales[i] for r < rows, i < k (out row stride k).
static void scale_inputs(const float *x, long rows, long ldx, long k, const void *scales, float *out) {
    for (long i = 0; i < k; i++) {
        const float s = row_scale(scales, i);
        for (long r = 0; r < rows; r++) out[r * k + i] = x[r * ldx + i] * s;
    }
}

static void linear_columns(const float *x, long rows, long ldx, long k, const void *w, int wtype, const void *scales,
                           long ldw, long from, long n, const float *bias, float *y, long ldy, int accumulate) {
    for (long r = 0; r < rows; r++) {
        float *yr = y + r * ldy;
        for (long j = from; j < n; j++) {
            float a = accumulate ? yr[j] : 0.0f;
            if (bias) a += bias[j];
            yr[j] = a;
        }
        const float *xr = x + r * ldx;
        for (long i = 0; i < k; i++) {
            float v = scaled_input(xr[i], scales, i, wtype);
            if (wtype == SWK_F32) {
                const float *wi = (const float *)w + i * ldw;
                for (long j = from; j < n; j++) yr[j] += v * wi[j];
            } else {
                for (long j = from; j < n; j++) yr[j] += v * raw_weight(w, i * ldw + j, wtype);
            }
        }
    }
}

// Sums over a list of selected weight rows, columns [from, n), plain C (q8: `val` holds the folded
// scales, see fold_scales).
static void sum_columns(const void *w, int wtype, long ldw, long from, long n, const int32_t *idx, const float *val,
                        long m, const float *bias, float *y, int accumulate) {
    for (long j = from; j < n; j++) {
        float a = accumulate ? y[j] : 0.0f;
        if (bias) a += bias[j];
        y[j] = a;
    }
    for (long e = 0; e < m; e++) {
        long row = (long)idx[e] * ldw;
        if (val) {
            float v = val[e];
            for (long j = from; j < n; j++) y[j] += v * raw_weight(w, row + j, wtype);
        } else {
            for (long j = from; j < n; j++) y[j] += raw_weight(w, row + j, wtype);
        }
    }
}

// Inputs are compacted in pieces of this many (stack buffers, no scratch from the caller).
#define PIECE 1024

// Indices (offset by `base`) and values of the non-zero entries of x[0, len); NaN counts as
// non-zero, as in `x != 0`.
static long compact_portable(const float *x, long len, long base, int32_t *idx, float *val) {
    long m = 0;
    for (long i = 0; i < len; i++) {
        float v = x[i];
        idx[m] = (int32_t)(base + i);
        val[m] = v;
        m += v != 0.0f; // branch-free: the slot is overwritten unless the entry is kept
    }
    return m;
}

// q8 rows: the selected inputs' values become x · scale (binary inputs: the scale), so the sums
// below run as a non-binary product over the unscaled int8 rows. Returns the new `binary`.
static int fold_scales(int binary, int wtype, const void *scales, const int32_t *idx, float *val, long m) {
    if (wtype != SWK_Q8ROW) return binary;
    for (long e = 0; e < m; e++) val[e] = binary ? row_scale(scales, idx[e]) : val[e] * row_scale(scales, idx[e]);
    return 0;
}

static long sparse_portable(const float *x, long rows, long ldx, long k, int binary, const void *w, int wtype,
                            const void *scales, long ldw, long n, const float *bias, float *y, long ldy,
                            int accumulate) {
    int32_t idx[PIECE];
    float val[PIECE];
    long active = 0;
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        float *yr = y + r * ldy;
        long p0 = 0;
        int first = 1;
        do {
            long len = k - p0 < PIECE ? k - p0 : PIECE;
            long m = compact_portable(xr + p0, len, p0, idx, val);
            active += m;
            if (m > 0 || first) {
                int bin = fold_scales(binary, wtype, scales, idx, val, m);
                sum_columns(w, wtype, ldw, 0, n, idx, bin ? NULL : val, m, first ? bias : NULL, yr,
                            first ? accumulate : 1);
            }
            first = 0;
            p0 += len;
        } while (p0 < k);
    }
    return active;
}

long swk_count_nonzero(const float *x, long rows, long cols, long ldx);

#ifdef SWK_X86

// ---------------------------------------------------------------------------------------------
// AVX-512

// Sixteen weights from element `off` as float32 (q8: the int8 values, unscaled).
SWK_AVX512 SWK_INLINE __m512 w512(const void *w, long off, int fmt) {
    switch (fmt) {
    case SWK_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)w + off)));
    case SWK_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)w + off))), 16));
    case SWK_Q8ROW:
    case Q8_SCALED_INPUT:
        return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)((const int8_t *)w + off))));
    default: return _mm512_loadu_ps((const float *)w + off);
    }
}

// Rows [0, R) of a group, columns [c0, c0 + 16·tv) with tv ≤ T vectors (tv == T when `full`).
SWK_AVX512 SWK_INLINE void dense_tile_512(const int R, const int T, const int full, const int fmt, const float *x,
                                          long ldx, long k, const void *w, const void *scales, long ldw, long c0,
                                          long tv, const float *bias, float *y, long ldy, int accumulate) {
    __m512 acc[8][16];
    for (int r = 0; r < R; r++) {
        for (int t = 0; t < T; t++) {
            __m512 a = _mm512_setzero_ps();
            if (full || t < tv) {
                if (accumulate) a = _mm512_loadu_ps(y + r * ldy + c0 + 16 * t);
                if (bias) a = _mm512_add_ps(a, _mm512_loadu_ps(bias + c0 + 16 * t));
            }
            acc[r][t] = a;
        }
    }
    for (long i = 0; i < k; i++) {
        __m512 xb[8];
        const float si = fmt == SWK_Q8ROW ? row_scale(scales, i) : 1.0f;
        for (int r = 0; r < R; r++) xb[r] = _mm512_set1_ps(x[r * ldx + i] * si);
        const long row = i * ldw + c0;
        for (int t = 0; t < T; t++) {
            if (full || t < tv) {
                __m512 wv = w512(w, row + 16 * t, fmt);
                for (int r = 0; r < R; r++) acc[r][t] = _mm512_fmadd_ps(wv, xb[r], acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            if (full || t < tv) _mm512_storeu_ps(y + r * ldy + c0 + 16 * t, acc[r][t]);
}

SWK_AVX512 SWK_INLINE void dense_group_512(const int R, const int T, const int fmt, const float *x, long ldx, long k,
                                           const void *w, const void *scales, long ldw, long n16, const float *bias,
                                           float *y, long ldy, int accumulate) {
    long c0 = 0;
    for (; c0 + 16 * T <= n16; c0 += 16 * T)
        dense_tile_512(R, T, 1, fmt, x, ldx, k, w, scales, ldw, c0, T, bias, y, ldy, accumulate);
    if (c0 < n16)
        dense_tile_512(R, T, 0, fmt, x, ldx, k, w, scales, ldw, c0, (n16 - c0) / 16, bias, y, ldy, accumulate);
}

// One row, more than 512 outputs: the tiles above would read each weight row in short strided pieces.
// Instead stream the weight rows in order, four at a time, through y (which stays in L1).
SWK_AVX512 SWK_INLINE void dense_row_axpy_512(const int fmt, const float *x, long k, const void *w, const void *scales,
                                              long ldw, long n16, const float *bias, float *y, int accumulate) {
    for (long j = 0; j < n16; j += 16) {
        __m512 a = accumulate ? _mm512_loadu_ps(y + j) : _mm512_setzero_ps();
        if (bias) a = _mm512_add_ps(a, _mm512_loadu_ps(bias + j));
        _mm512_storeu_ps(y + j, a);
    }
    long i = 0;
    for (; i + 4 <= k; i += 4) {
        const __m512 x0 = _mm512_set1_ps(scaled_input(x[i], scales, i, fmt));
        const __m512 x1 = _mm512_set1_ps(scaled_input(x[i + 1], scales, i + 1, fmt));
        const __m512 x2 = _mm512_set1_ps(scaled_input(x[i + 2], scales, i + 2, fmt));
        const __m512 x3 = _mm512_set1_ps(scaled_input(x[i + 3], scales, i + 3, fmt));
        const long r0 = i * ldw;
        for (long j = 0; j < n16; j += 16) {
            __m512 p = _mm512_mul_ps(w512(w, r0 + j, fmt), x0);
            __m512 q = _mm512_mul_ps(w512(w, r0 + ldw + j, fmt), x1);
            p = _mm512_fmadd_ps(w512(w, r0 + 2 * ldw + j, fmt), x2, p);
            q = _mm512_fmadd_ps(w512(w, r0 + 3 * ldw + j, fmt), x3, q);
            _mm512_storeu_ps(y + j, _mm512_add_ps(_mm512_loadu_ps(y + j), _mm512_add_ps(p, q)));
        }
    }
    for (; i < k; i++) {
        const __m512 x0 = _mm512_set1_ps(scaled_input(x[i], scales, i, fmt));
        for (long j = 0; j < n16; j += 16)
            _mm512_storeu_ps(y + j, _mm512_fmadd_ps(w512(w, i * ldw + j, fmt), x0, _mm512_loadu_ps(y + j)));
    }
}

// Group sizes: R rows share each weight load; R·T accumulators stay within the 32 registers.
#define DENSE_GROUPS_512(F16, XR, LDX)                                                                                 \
    switch (g) {                                                                                                       \
    case 1: dense_group_512(1, 16, F16, XR, LDX, k, w, scales, ldw, n16, bias, yr, ldy, accumulate); break;            \
    case 2: dense_group_512(2, 8, F16, XR, LDX, k, w, scales, ldw, n16, bias, yr, ldy, accumulate); break;             \
    case 3: dense_group_512(3, 5, F16, XR, LDX, k, w, scales, ldw, n16, bias, yr, ldy, accumulate); break;             \
    case 4: dense_group_512(4, 4, F16, XR, LDX, k, w, scales, ldw, n16, bias, yr, ldy, accumulate); break;             \
    case 5: dense_group_512(5, 3, F16, XR, LDX, k, w, scales, ldw, n16, bias, yr, ldy, accumulate); break;             \
    case 6: dense_group_512(6, 2, F16, XR, LDX, k, w, scales, ldw, n16, bias, yr, ldy, accumulate); break;             \
    case 7: dense_group_512(7, 2, F16, XR, LDX, k, w, scales, ldw, n16, bias, yr, ldy, accumulate); break;             \
    default: dense_group_512(8, 2, F16, XR, LDX, k, w, scales, ldw, n16, bias, yr, ldy, accumulate); break;            \
    }

SWK_AVX512 static void linear_512(const float *x, long rows, long ldx, long k, const void *w, int wtype,
                                  const void *scales, long ldw, long n, const float *bias, float *y, long ldy,
                                  int accumulate) {
    long n16 = n & ~15L;
    for (long r0 = 0; r0 < rows; r0 += 8) {
        long g = rows - r0 < 8 ? rows - r0 : 8;
        const float *xr = x + r0 * ldx;
        float *yr = y + r0 * ldy;
        if (g == 1 && n16 > 512) {
            dense_row_axpy_512(wtype, xr, k, w, scales, ldw, n16, bias, yr, accumulate);
        } else if (n16 > 0) {
            switch (wtype) {
            case SWK_F16: DENSE_GROUPS_512(SWK_F16, xr, ldx) break;
            case SWK_BF16: DENSE_GROUPS_512(SWK_BF16, xr, ldx) break;
            case SWK_Q8ROW:
                if (g * k <= SCALED_INPUT_FLOATS) {
                    // The scales folded into a copy of the group's inputs once, not per tile.
                    float scaled[SCALED_INPUT_FLOATS];
                    scale_inputs(xr, g, ldx, k, scales, scaled);
                    DENSE_GROUPS_512(Q8_SCALED_INPUT, scaled, k)
                } else {
                    DENSE_GROUPS_512(SWK_Q8ROW, xr, ldx)
                }
                break;
            default: DENSE_GROUPS_512(SWK_F32, xr, ldx) break;
            }
        }
        if (n16 < n) linear_columns(xr, g, ldx, k, w, wtype, scales, ldw, n16, n, bias, yr, ldy, accumulate);
    }
}

SWK_AVX512 static long compact_512(const float *x, long len, long base, int32_t *idx, float *val, int values) {
    const __m512 zero = _mm512_setzero_ps();
    __m512i iota = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                    _mm512_set1_epi32((int)base));
    const __m512i step = _mm512_set1_epi32(16);
    long m = 0;
    for (long i = 0; i < len; i += 16) {
        __mmask16 in = len - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (len - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(in, x + i);
        __mmask16 nz = _mm512_mask_cmp_ps_mask(in, v, zero, _CMP_NEQ_UQ);
        if (nz) {
            // Compress into a register and store all 16 lanes (the buffers have 16 spare slots):
            // a compressing store to memory is slow on some CPUs.
            _mm512_storeu_si512((void *)(idx + m), _mm512_maskz_compress_epi32(nz, iota));
            if (values) _mm512_storeu_ps(val + m, _mm512_maskz_compress_ps(nz, v));
            m += __builtin_popcount((unsigned)nz);
        }
        iota = _mm512_add_epi32(iota, step);
    }
    return m;
}

// y[c0, c0 + 16·tv) (+)= bias + Σ_e val[e] · w[idx[e], ...] (val NULL: all 1), in registers.
SWK_AVX512 SWK_INLINE void sum_tile_512(const int full, const int fmt, const int binary, const void *w, long ldw,
                                        long c0, long tv, const int32_t *idx, const float *val, long m,
                                        const float *bias, float *y, int accumulate) {
    enum { T = 16 };
    __m512 acc[T];
    for (int t = 0; t < T; t++) {
        __m512 a = _mm512_setzero_ps();
        if (full || t < tv) {
            if (accumulate) a = _mm512_loadu_ps(y + c0 + 16 * t);
            if (bias) a = _mm512_add_ps(a, _mm512_loadu_ps(bias + c0 + 16 * t));
        }
        acc[t] = a;
    }
    long e = 0;
    if (binary) {
        for (; e + 2 <= m; e += 2) {
            const long r0 = (long)idx[e] * ldw + c0, r1 = (long)idx[e + 1] * ldw + c0;
            for (int t = 0; t < T; t++)
                if (full || t < tv)
                    acc[t] = _mm512_add_ps(acc[t], _mm512_add_ps(w512(w, r0 + 16 * t, fmt), w512(w, r1 + 16 * t, fmt)));
        }
        for (; e < m; e++) {
            const long r0 = (long)idx[e] * ldw + c0;
            for (int t = 0; t < T; t++)
                if (full || t < tv) acc[t] = _mm512_add_ps(acc[t], w512(w, r0 + 16 * t, fmt));
        }
    } else {
        for (; e < m; e++) {
            const long r0 = (long)idx[e] * ldw + c0;
            const __m512 v = _mm512_set1_ps(val[e]);
            for (int t = 0; t < T; t++)
                if (full || t < tv) acc[t] = _mm512_fmadd_ps(w512(w, r0 + 16 * t, fmt), v, acc[t]);
        }
    }
    for (int t = 0; t < T; t++)
        if (full || t < tv) _mm512_storeu_ps(y + c0 + 16 * t, acc[t]);
}

// The same over whole weight rows, y kept in L1 (more than 512 columns: the tiles would read each
// selected row in short strided pieces).
SWK_AVX512 SWK_INLINE void sum_rows_axpy_512(const int fmt, const int binary, const void *w, long ldw, long n16,
                                             const int32_t *idx, const float *val, long m, const float *bias, float *y,
                                             int accumulate) {
    for (long j = 0; j < n16; j += 16) {
        __m512 a = accumulate ? _mm512_loadu_ps(y + j) : _mm512_setzero_ps();
        if (bias) a = _mm512_add_ps(a, _mm512_loadu_ps(bias + j));
        _mm512_storeu_ps(y + j, a);
    }
    long e = 0;
    for (; e + 2 <= m; e += 2) {
        const long r0 = (long)idx[e] * ldw, r1 = (long)idx[e + 1] * ldw;
        if (binary) {
            for (long j = 0; j < n16; j += 16)
                _mm512_storeu_ps(y + j, _mm512_add_ps(_mm512_loadu_ps(y + j),
                                                      _mm512_add_ps(w512(w, r0 + j, fmt), w512(w, r1 + j, fmt))));
        } else {
            const __m512 v0 = _mm512_set1_ps(val[e]), v1 = _mm512_set1_ps(val[e + 1]);
            for (long j = 0; j < n16; j += 16)
                _mm512_storeu_ps(y + j,
                                 _mm512_fmadd_ps(w512(w, r1 + j, fmt), v1,
                                                 _mm512_fmadd_ps(w512(w, r0 + j, fmt), v0, _mm512_loadu_ps(y + j))));
        }
    }
    for (; e < m; e++) {
        const long r0 = (long)idx[e] * ldw;
        const __m512 v0 = _mm512_set1_ps(binary ? 1.0f : val[e]);
        for (long j = 0; j < n16; j += 16)
            _mm512_storeu_ps(y + j, binary ? _mm512_add_ps(_mm512_loadu_ps(y + j), w512(w, r0 + j, fmt))
                                           : _mm512_fmadd_ps(w512(w, r0 + j, fmt), v0, _mm512_loadu_ps(y + j)));
    }
}

SWK_AVX512 SWK_INLINE void sum_rows_512(const int fmt, const int binary, const void *w, long ldw, long n16,
                                        const int32_t *idx, const float *val, long m, const float *bias, float *y,
                                        int accumulate) {
    if (n16 > 512) {
        sum_rows_axpy_512(fmt, binary, w, ldw, n16, idx, val, m, bias, y, accumulate);
        return;
    }
    long c0 = 0;
    for (; c0 + 256 <= n16; c0 += 256) sum_tile_512(1, fmt, binary, w, ldw, c0, 16, idx, val, m, bias, y, accumulate);
    if (c0 < n16) sum_tile_512(0, fmt, binary, w, ldw, c0, (n16 - c0) / 16, idx, val, m, bias, y, accumulate);
}

// Binary or weighted sums at the weight format FMT (a compile-time constant in each case).
#define SUM_ROWS_512(FMT)                                                                                              \
    if (bin)                                                                                                           \
        sum_rows_512(FMT, 1, w, ldw, n16, idx, NULL, m, b, yr, acc);                                                   \
    else                                                                                                               \
        sum_rows_512(FMT, 0, w, ldw, n16, idx, v, m, b, yr, acc);

SWK_AVX512 static long sparse_512(const float *x, long rows, long ldx, long k, int binary, const void *w, int wtype,
                                  const void *scales, long ldw, long n, const float *bias, float *y, long ldy,
                                  int accumulate) {
    int32_t idx[PIECE + 16];
    float val[PIECE + 16];
    const long n16 = n & ~15L;
    long active = 0;
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        float *yr = y + r * ldy;
        long p0 = 0;
        int first = 1;
        do {
            long len = k - p0 < PIECE ? k - p0 : PIECE;
            long m = compact_512(xr + p0, len, p0, idx, val, !binary);
            active += m;
            if (m > 0 || first) {
                const float *b = first ? bias : NULL;
                int acc = first ? accumulate : 1;
                int bin = fold_scales(binary, wtype, scales, idx, val, m);
                if (n16 > 0) {
                    const float *v = bin ? NULL : val;
                    switch (wtype) {
                    case SWK_F16: SUM_ROWS_512(SWK_F16) break;
                    case SWK_BF16: SUM_ROWS_512(SWK_BF16) break;
                    case SWK_Q8ROW: sum_rows_512(SWK_Q8ROW, 0, w, ldw, n16, idx, val, m, b, yr, acc); break;
                    default: SUM_ROWS_512(SWK_F32) break;
                    }
                }
                if (n16 < n) sum_columns(w, wtype, ldw, n16, n, idx, bin ? NULL : val, m, b, yr, acc);
            }
            first = 0;
            p0 += len;
        } while (p0 < k);
    }
    return active;
}

SWK_AVX512 static long count_nonzero_512(const float *x, long rows, long cols, long ldx) {
    long count = 0;
    const __m512 zero = _mm512_setzero_ps();
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        for (long i = 0; i < cols; i += 16) {
            __mmask16 in = cols - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (cols - i)) - 1);
            __mmask16 nz = _mm512_mask_cmp_ps_mask(in, _mm512_maskz_loadu_ps(in, xr + i), zero, _CMP_NEQ_UQ);
            count += __builtin_popcount((unsigned)nz);
        }
    }
    return count;
}

// ---------------------------------------------------------------------------------------------
// AVX2 (+ FMA, F16C): the same structure with 8-wide vectors and 16 registers.

SWK_AVX2 SWK_INLINE __m256 w256(const void *w, long off, int fmt) {
    switch (fmt) {
    case SWK_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + off)));
    case SWK_BF16:
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + off))), 16));
    case SWK_Q8ROW:
    case Q8_SCALED_INPUT:
        return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)((const int8_t *)w + off))));
    default: return _mm256_loadu_ps((const float *)w + off);
    }
}

SWK_AVX2 SWK_INLINE void dense_tile_256(const int R, const int T, const int full, const int fmt, const float *x,
                                        long ldx, long k, const void *w, const void *scales, long ldw, long c0, long tv,
                                        const float *bias, float *y, long ldy, int accumulate) {
    __m256 acc[4][12];
    for (int r = 0; r < R; r++) {
        for (int t = 0; t < T; t++) {
            __m256 a = _mm256_setzero_ps();
            if (full || t < tv) {
                if (accumulate) a = _mm256_loadu_ps(y + r * ldy + c0 + 8 * t);
                if (bias) a = _mm256_add_ps(a, _mm256_loadu_ps(bias + c0 + 8 * t));
            }
            acc[r][t] = a;
        }
    }
    for (long i = 0; i < k; i++) {
        __m256 xb[4];
        const float si = fmt == SWK_Q8ROW ? row_scale(scales, i) : 1.0f;
        for (int r = 0; r < R; r++) xb[r] = _mm256_set1_ps(x[r * ldx + i] * si);
        const long row = i * ldw + c0;
        for (int t = 0; t < T; t++) {
            if (full || t < tv) {
                __m256 wv = w256(w, row + 8 * t, fmt);
                for (int r = 0; r < R; r++) acc[r][t] = _mm256_fmadd_ps(wv, xb[r], acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            if (full || t < tv) _mm256_storeu_ps(y + r * ldy + c0 + 8 * t, acc[r][t]);
}

SWK_AVX2 SWK_INLINE void dense_group_256(const int R, const int T, const int fmt, const float *x, long ldx, long k,
                                         const void *w, const void *scales, long ldw, long n8, const float *bias,
                                         float *y, long ldy, int accumulate) {
    long c0 = 0;
    for (; c0 + 8 * T <= n8; c0 += 8 * T)
        dense_tile_256(R, T, 1, fmt, x, ldx, k, w, scales, ldw, c0, T, bias, y, ldy, accumulate);
    if (c0 < n8) dense_tile_256(R, T, 0, fmt, x, ldx, k, w, scales, ldw, c0, (n8 - c0) / 8, bias, y, ldy, accumulate);
}

#define DENSE_GROUPS_256(F16, XR, LDX)                                                                                 \
    switch (g) {                                                                                                       \
    case 1: dense_group_256(1, 12, F16, XR, LDX, k, w, scales, ldw, n8, bias, yr, ldy, accumulate); break;             \
    case 2: dense_group_256(2, 6, F16, XR, LDX, k, w, scales, ldw, n8, bias, yr, ldy, accumulate); break;              \
    case 3: dense_group_256(3, 4, F16, XR, LDX, k, w, scales, ldw, n8, bias, yr, ldy, accumulate); break;              \
    default: dense_group_256(4, 3, F16, XR, LDX, k, w, scales, ldw, n8, bias, yr, ldy, accumulate); break;             \
    }

SWK_AVX2 static void linear_256(const float *x, long rows, long ldx, long k, const void *w, int wtype,
                                const void *scales, long ldw, long n, const float *bias, float *y, long ldy,
                                int accumulate) {
    long n8 = n & ~7L;
    for (long r0 = 0; r0 < rows; r0 += 4) {
        long g = rows - r0 < 4 ? rows - r0 : 4;
        const float *xr = x + r0 * ldx;
        float *yr = y + r0 * ldy;
        if (n8 > 0) {
            switch (wtype) {
            case SWK_F16: DENSE_GROUPS_256(SWK_F16, xr, ldx) break;
            case SWK_BF16: DENSE_GROUPS_256(SWK_BF16, xr, ldx) break;
            case SWK_Q8ROW:
                if (g * k <= SCALED_INPUT_FLOATS) {
                    // The scales folded into a copy of the group's inputs once, not per tile.
                    float scaled[SCALED_INPUT_FLOATS];
                    scale_inputs(xr, g, ldx, k, scales, scaled);
                    DENSE_GROUPS_256(Q8_SCALED_INPUT, scaled, k)
                } else {
                    DENSE_GROUPS_256(SWK_Q8ROW, xr, ldx)
                }
                break;
            default: DENSE_GROUPS_256(SWK_F32, xr, ldx) break;
            }
        }
        if (n8 < n) linear_columns(xr, g, ldx, k, w, wtype, scales, ldw, n8, n, bias, yr, ldy, accumulate);
    }
}

SWK_AVX2 SWK_INLINE void sum_tile_256(const int full, const int fmt, const int binary, const void *w, long ldw, long c0,
                                      long tv, const int32_t *idx, const float *val, long m, const float *bias,
                                      float *y, int accumulate) {
    enum { T = 12 };
    __m256 acc[T];
    for (int t = 0; t < T; t++) {
        __m256 a = _mm256_setzero_ps();
        if (full || t < tv) {
            if (accumulate) a = _mm256_loadu_ps(y + c0 + 8 * t);
            if (bias) a = _mm256_add_ps(a, _mm256_loadu_ps(bias + c0 + 8 * t));
        }
        acc[t] = a;
    }
    for (long e = 0; e < m; e++) {
        const long r0 = (long)idx[e] * ldw + c0;
        if (binary) {
            for (int t = 0; t < T; t++)
                if (full || t < tv) acc[t] = _mm256_add_ps(acc[t], w256(w, r0 + 8 * t, fmt));
        } else {
            const __m256 v = _mm256_broadcast_ss(val + e);
            for (int t = 0; t < T; t++)
                if (full || t < tv) acc[t] = _mm256_fmadd_ps(w256(w, r0 + 8 * t, fmt), v, acc[t]);
        }
    }
    for (int t = 0; t < T; t++)
        if (full || t < tv) _mm256_storeu_ps(y + c0 + 8 * t, acc[t]);
}

SWK_AVX2 SWK_INLINE void sum_rows_256(const int fmt, const int binary, const void *w, long ldw, long n8,
                                      const int32_t *idx, const float *val, long m, const float *bias, float *y,
                                      int accumulate) {
    long c0 = 0;
    for (; c0 + 96 <= n8; c0 += 96) sum_tile_256(1, fmt, binary, w, ldw, c0, 12, idx, val, m, bias, y, accumulate);
    if (c0 < n8) sum_tile_256(0, fmt, binary, w, ldw, c0, (n8 - c0) / 8, idx, val, m, bias, y, accumulate);
}

// Binary or weighted sums at the weight format FMT (a compile-time constant in each case).
#define SUM_ROWS_256(FMT)                                                                                              \
    if (bin)                                                                                                           \
        sum_rows_256(FMT, 1, w, ldw, n8, idx, NULL, m, b, yr, acc);                                                    \
    else                                                                                                               \
        sum_rows_256(FMT, 0, w, ldw, n8, idx, v, m, b, yr, acc);

SWK_AVX2 static long sparse_256(const float *x, long rows, long ldx, long k, int binary, const void *w, int wtype,
                                const void *scales, long ldw, long n, const float *bias, float *y, long ldy,
                                int accumulate) {
    int32_t idx[PIECE];
    float val[PIECE];
    const long n8 = n & ~7L;
    long active = 0;
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        float *yr = y + r * ldy;
        long p0 = 0;
        int first = 1;
        do {
            long len = k - p0 < PIECE ? k - p0 : PIECE;
            long m = compact_portable(xr + p0, len, p0, idx, val);
            active += m;
            if (m > 0 || first) {
                const float *b = first ? bias : NULL;
                int acc = first ? accumulate : 1;
                int bin = fold_scales(binary, wtype, scales, idx, val, m);
                if (n8 > 0) {
                    const float *v = bin ? NULL : val;
                    switch (wtype) {
                    case SWK_F16: SUM_ROWS_256(SWK_F16) break;
                    case SWK_BF16: SUM_ROWS_256(SWK_BF16) break;
                    case SWK_Q8ROW: sum_rows_256(SWK_Q8ROW, 0, w, ldw, n8, idx, val, m, b, yr, acc); break;
                    default: SUM_ROWS_256(SWK_F32) break;
                    }
                }
                if (n8 < n) sum_columns(w, wtype, ldw, n8, n, idx, bin ? NULL : val, m, b, yr, acc);
            }
            first = 0;
            p0 += len;
        } while (p0 < k);
    }
    return active;
}

#endif // SWK_X86

#ifdef SWK_NEON

// ---------------------------------------------------------------------------------------------
// NEON: the structure of the AVX2 path with 4-wide vectors and 32 registers.

SWK_INLINE float32x4_t w_neon(const void *w, long off, int fmt) {
    switch (fmt) {
    case SWK_F16: return swk_half4_neon((const uint16_t *)w + off);
    case SWK_BF16:
        return vreinterpretq_f32_u32(
            vshll_n_u16(vreinterpret_u16_u8(vld1_u8((const uint8_t *)((const uint16_t *)w + off))), 16));
    case SWK_Q8ROW:
    case Q8_SCALED_INPUT: {
        uint32_t b;
        memcpy(&b, (const int8_t *)w + off, 4);
        int16x8_t q = vmovl_s8(vreinterpret_s8_u32(vdup_n_u32(b)));
        return vcvtq_f32_s32(vmovl_s16(vget_low_s16(q)));
    }
    default: return vld1q_f32((const float *)w + off);
    }
}

// Rows [0, R) of a group, columns [c0, c0 + 4·tv) with tv ≤ T vectors (tv == T when `full`).
SWK_INLINE void dense_tile_neon(const int R, const int T, const int full, const int fmt, const float *x, long ldx,
                                long k, const void *w, const void *scales, long ldw, long c0, long tv,
                                const float *bias, float *y, long ldy, int accumulate) {
    float32x4_t acc[4][16];
    for (int r = 0; r < R; r++) {
        for (int t = 0; t < T; t++) {
            float32x4_t a = vdupq_n_f32(0.0f);
            if (full || t < tv) {
                if (accumulate) a = vld1q_f32(y + r * ldy + c0 + 4 * t);
                if (bias) a = vaddq_f32(a, vld1q_f32(bias + c0 + 4 * t));
            }
            acc[r][t] = a;
        }
    }
    for (long i = 0; i < k; i++) {
        float xb[4];
        const float si = fmt == SWK_Q8ROW ? row_scale(scales, i) : 1.0f;
        for (int r = 0; r < R; r++) xb[r] = x[r * ldx + i] * si;
        const long row = i * ldw + c0;
        for (int t = 0; t < T; t++) {
            if (full || t < tv) {
                float32x4_t wv = w_neon(w, row + 4 * t, fmt);
                for (int r = 0; r < R; r++) acc[r][t] = vfmaq_n_f32(acc[r][t], wv, xb[r]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            if (full || t < tv) vst1q_f32(y + r * ldy + c0 + 4 * t, acc[r][t]);
}

SWK_INLINE void dense_group_neon(const int R, const int T, const int fmt, const float *x, long ldx, long k,
                                 const void *w, const void *scales, long ldw, long n4, const float *bias, float *y,
                                 long ldy, int accumulate) {
    long c0 = 0;
    for (; c0 + 4 * T <= n4; c0 += 4 * T)
        dense_tile_neon(R, T, 1, fmt, x, ldx, k, w, scales, ldw, c0, T, bias, y, ldy, accumulate);
    if (c0 < n4) dense_tile_neon(R, T, 0, fmt, x, ldx, k, w, scales, ldw, c0, (n4 - c0) / 4, bias, y, ldy, accumulate);
}

// Group sizes: R rows share each weight load; R·T accumulators, R broadcasts and a weight vector
// stay within the 32 registers.
#define DENSE_GROUPS_NEON(F16, XR, LDX)                                                                                \
    switch (g) {                                                                                                       \
    case 1: dense_group_neon(1, 16, F16, XR, LDX, k, w, scales, ldw, n4, bias, yr, ldy, accumulate); break;            \
    case 2: dense_group_neon(2, 10, F16, XR, LDX, k, w, scales, ldw, n4, bias, yr, ldy, accumulate); break;            \
    case 3: dense_group_neon(3, 7, F16, XR, LDX, k, w, scales, ldw, n4, bias, yr, ldy, accumulate); break;             \
    default: dense_group_neon(4, 5, F16, XR, LDX, k, w, scales, ldw, n4, bias, yr, ldy, accumulate); break;            \
    }

static void linear_neon(const float *x, long rows, long ldx, long k, const void *w, int wtype, const void *scales,
                        long ldw, long n, const float *bias, float *y, long ldy, int accumulate) {
    long n4 = n & ~3L;
    for (long r0 = 0; r0 < rows; r0 += 4) {
        long g = rows - r0 < 4 ? rows - r0 : 4;
        const float *xr = x + r0 * ldx;
        float *yr = y + r0 * ldy;
        if (n4 > 0) {
            switch (wtype) {
            case SWK_F16: DENSE_GROUPS_NEON(SWK_F16, xr, ldx) break;
            case SWK_BF16: DENSE_GROUPS_NEON(SWK_BF16, xr, ldx) break;
            case SWK_Q8ROW:
                if (g * k <= SCALED_INPUT_FLOATS) {
                    // The scales folded into a copy of the group's inputs once, not per tile.
                    float scaled[SCALED_INPUT_FLOATS];
                    scale_inputs(xr, g, ldx, k, scales, scaled);
                    DENSE_GROUPS_NEON(Q8_SCALED_INPUT, scaled, k)
                } else {
                    DENSE_GROUPS_NEON(SWK_Q8ROW, xr, ldx)
                }
                break;
            default: DENSE_GROUPS_NEON(SWK_F32, xr, ldx) break;
            }
        }
        if (n4 < n) linear_columns(xr, g, ldx, k, w, wtype, scales, ldw, n4, n, bias, yr, ldy, accumulate);
    }
}

// y[c0, c0 + 4·tv) (+)= bias + Σ_e val[e] · w[idx[e], ...] (val NULL: all 1), in registers.
SWK_INLINE void sum_tile_neon(const int full, const int fmt, const int binary, const void *w, long ldw, long c0,
                              long tv, const int32_t *idx, const float *val, long m, const float *bias, float *y,
                              int accumulate) {
    enum { T = 16 };
    float32x4_t acc[T];
    for (int t = 0; t < T; t++) {
        float32x4_t a = vdupq_n_f32(0.0f);
        if (full || t < tv) {
            if (accumulate) a = vld1q_f32(y + c0 + 4 * t);
            if (bias) a = vaddq_f32(a, vld1q_f32(bias + c0 + 4 * t));
        }
        acc[t] = a;
    }
    for (long e = 0; e < m; e++) {
        const long r0 = (long)idx[e] * ldw + c0;
        if (binary) {
            for (int t = 0; t < T; t++)
                if (full || t < tv) acc[t] = vaddq_f32(acc[t], w_neon(w, r0 + 4 * t, fmt));
        } else {
            const float v = val[e];
            for (int t = 0; t < T; t++)
                if (full || t < tv) acc[t] = vfmaq_n_f32(acc[t], w_neon(w, r0 + 4 * t, fmt), v);
        }
    }
    for (int t = 0; t < T; t++)
        if (full || t < tv) vst1q_f32(y + c0 + 4 * t, acc[t]);
}

SWK_INLINE void sum_rows_neon(const int fmt, const int binary, const void *w, long ldw, long n4, const int32_t *idx,
                              const float *val, long m, const float *bias, float *y, int accumulate) {
    long c0 = 0;
    for (; c0 + 64 <= n4; c0 += 64) sum_tile_neon(1, fmt, binary, w, ldw, c0, 16, idx, val, m, bias, y, accumulate);
    if (c0 < n4) sum_tile_neon(0, fmt, binary, w, ldw, c0, (n4 - c0) / 4, idx, val, m, bias, y, accumulate);
}

// Binary or weighted sums at the weight format FMT (a compile-time constant in each case).
#define SUM_ROWS_NEON(FMT)                                                                                             \
    if (bin)                                                                                                           \
        sum_rows_neon(FMT, 1, w, ldw, n4, idx, NULL, m, b, yr, acc);                                                   \
    else                                                                                                               \
        sum_rows_neon(FMT, 0, w, ldw, n4, idx, v, m, b, yr, acc);

static long sparse_neon(const float *x, long rows, long ldx, long k, int binary, const void *w, int wtype,
                        const void *scales, long ldw, long n, const float *bias, float *y, long ldy, int accumulate) {
    int32_t idx[PIECE];
    float val[PIECE];
    const long n4 = n & ~3L;
    long active = 0;
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        float *yr = y + r * ldy;
        long p0 = 0;
        int first = 1;
        do {
            long len = k - p0 < PIECE ? k - p0 : PIECE;
            long m = compact_portable(xr + p0, len, p0, idx, val);
            active += m;
            if (m > 0 || first) {
                const float *b = first ? bias : NULL;
                int acc = first ? accumulate : 1;
                int bin = fold_scales(binary, wtype, scales, idx, val, m);
                if (n4 > 0) {
                    const float *v = bin ? NULL : val;
                    switch (wtype) {
                    case SWK_F16: SUM_ROWS_NEON(SWK_F16) break;
                    case SWK_BF16: SUM_ROWS_NEON(SWK_BF16) break;
                    case SWK_Q8ROW: sum_rows_neon(SWK_Q8ROW, 0, w, ldw, n4, idx, val, m, b, yr, acc); break;
                    default: SUM_ROWS_NEON(SWK_F32) break;
                    }
                }
                if (n4 < n) sum_columns(w, wtype, ldw, n4, n, idx, bin ? NULL : val, m, b, yr, acc);
            }
            first = 0;
            p0 += len;
        } while (p0 < k);
    }
    return active;
}

static long count_nonzero_neon(const float *x, long rows, long cols, long ldx) {
    long count = 0;
    const float32x4_t zero = vdupq_n_f32(0.0f);
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        uint32x4_t n = vdupq_n_u32(0);
        long i = 0;
        // x == 0 is false for NaN, so NaN counts as non-zero; −0 == 0.
        for (; i + 4 <= cols; i += 4) n = vsubq_u32(n, vmvnq_u32(vceqq_f32(vld1q_f32(xr + i), zero)));
        count += (long)vaddvq_u32(n);
        for (; i < cols; i++) count += xr[i] != 0.0f;
    }
    return count;
}

#endif // SWK_NEON

// ---------------------------------------------------------------------------------------------
// Entry points

void swk_row_linear(const float *x, long rows, long ldx, long k, const void *w, int wtype, const void *scales, long ldw,
                    long n, const float *bias, float *y, long ldy, int accumulate) {
    int use = swk_isa();
    if (rows <= 0 || n <= 0) return;
#ifdef SWK_X86
    if (use == SWK_ISA_AVX512) {
        linear_512(x, rows, ldx, k, w, wtype, scales, ldw, n, bias, y, ldy, accumulate);
        return;
    }
    if (use == SWK_ISA_AVX2) {
        linear_256(x, rows, ldx, k, w, wtype, scales, ldw, n, bias, y, ldy, accumulate);
        return;
    }
#elif defined(SWK_NEON)
    if (use >= SWK_ISA_NEON) {
        linear_neon(x, rows, ldx, k, w, wtype, scales, ldw, n, bias, y, ldy, accumulate);
        return;
    }
#endif
    linear_columns(x, rows, ldx, k, w, wtype, scales, ldw, 0, n, bias, y, ldy, accumulate);
}

long swk_sparse_linear(const float *x, long rows, long ldx, long k, int binary, const void *w, int wtype,
                       const void *scales, long ldw, long n, const float *bias, float *y, long ldy, int accumulate) {
    int use = swk_isa();
    if (rows <= 0 || n <= 0) return rows > 0 ? swk_count_nonzero(x, rows, k, ldx) : 0;
#ifdef SWK_X86
    if (use == SWK_ISA_AVX512)
        return sparse_512(x, rows, ldx, k, binary, w, wtype, scales, ldw, n, bias, y, ldy, accumulate);
    if (use == SWK_ISA_AVX2)
        return sparse_256(x, rows, ldx, k, binary, w, wtype, scales, ldw, n, bias, y, ldy, accumulate);
#elif defined(SWK_NEON)
    if (use >= SWK_ISA_NEON)
        return sparse_neon(x, rows, ldx, k, binary, w, wtype, scales, ldw, n, bias, y, ldy, accumulate);
#endif
    return sparse_portable(x, rows, ldx, k, binary, w, wtype, scales, ldw, n, bias, y, ldy, accumulate);
}

long swk_count_nonzero(const float *x, long rows, long cols, long ldx) {
    if (rows <= 0 || cols <= 0) return 0;
#ifdef SWK_X86
    if (swk_isa() == SWK_ISA_AVX512) return count_nonzero_512(x, rows, cols, ldx);
#elif defined(SWK_NEON)
    if (swk_isa() >= SWK_ISA_NEON) return count_nonzero_neon(x, rows, cols, ldx);
#endif
    long count = 0;
    for (long r = 0; r < rows; r++)
        for (long i = 0; i < cols; i++) count += x[r * ldx + i] != 0.0f;
    return count;
}

// ---- int8 × int8 products for q8 weights (swk_row_linear_i8) -----------------------------------------
//
// Each row's inputs, with the weight rows' scales folded in (x[i] · scales[i]), are rounded to int8 by
// `swk_q8_quantize_rows` (the helper of the int8 panel GEMM: symmetric, one scale max / 127 per row,
// stored as q + 128). The weights stay input-major and are read in place: four consecutive weight rows
// (k) of a column tile are interleaved in registers so that each 32-bit lane holds the 4 k of one
// output column, the layout of a 4-way int8 dot product.
// - AVX-512 VNNI: VPDPBUSD multiplies unsigned by signed bytes; the weights are made unsigned (w ^ 0x80
//   = w + 128) and the activations signed (u ^ 0x80 = q), so the sums hold Σ w·q + 128 · Σ q, whose
//   correction is one integer per row. unpack{lo,hi}_epi{8,16} interleave within 128-bit lanes; the
//   column order is restored at the store by a 4 × 4 transpose of lanes.
// - NEON with the dot product (probed at run time): ZIP1/ZIP2 interleave, SDOT on the signed values.
// - portable C (and NEON without the dot product): the same int32 sums directly.
// Every sum is exact in int32 (k ≤ SWK_ROW_LINEAR_I8_MAX_K); the float32 operations after it are the
// same on every path: t = (float)s; t = t · sx; t = t + bias; t = t + y (accumulate).

#include "swk_panel_lowp.h"
#include "swk_row_linear.h"

// How many weight rows ahead the one-row VNNI tiles prefetch.
#define I8_PREFETCH_ROWS 16

// Rows per group: 6 rows × 4 vectors of 16 columns (VNNI) or 6 × 4 of 4 columns (NEON) of int32 sums.
#define I8_ROWS 6

// Quantized group: I8_ROWS rows of at most SCALED_INPUT_FLOATS (+ 3 padding) bytes.
#define I8_BYTES (SCALED_INPUT_FLOATS + 4 * I8_ROWS)

typedef struct {
    const uint8_t *q;    // [g, kp] q + 128
    long kp;             // row stride of q (k rounded up to 4)
    const float *sx;     // [g] row scales
    const int32_t *qsum; // [g] Σ q of each row
    const int8_t *w;     // weights, input-major
    long ldw, k;
    const float *bias;
    float *y;
    long ldy;
    int accumulate;
} i8_rows_t;

// y = (((float)s · sx) + bias) + y, one rounding per operation.
SWK_INLINE float i8_out(int32_t s, float sx, const float *bias, long j, const float *yj, int accumulate) {
    float t = (float)s;
    t = t * sx;
    if (bias) t = t + bias[j];
    if (accumulate) t = t + *yj;
    return t;
}

static void i8_rows_portable(const i8_rows_t *a, long g, long from, long n) {
    for (long r = 0; r < g; r++) {
        const uint8_t *q = a->q + r * a->kp;
        float *yr = a->y + r * a->ldy;
        for (long j = from; j < n; j++) {
            int32_t s = 0;
            for (long i = 0; i < a->k; i++) s += (int32_t)(int8_t)q[i] * (int32_t)a->w[i * a->ldw + j];
            yr[j] = i8_out(s, a->sx[r], a->bias, j, yr + j, a->accumulate);
        }
    }
}

#ifdef SWK_X86

#define SWK_VNNI512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

// Four weight rows from p (row stride ldw; `have` < 4 of them when past k: zeros), 64 columns (`full`, or
// the columns of mask m), made unsigned and interleaved: v[c] lane L holds the 4 k of columns 16L + 4c …
// 16L + 4c + 3.
SWK_VNNI512 SWK_INLINE void i8_quad_512(const int full, const int8_t *p, long ldw, int have, __mmask64 m,
                                        __m512i v[4]) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i rw[4];
#pragma GCC unroll 4
    for (int e = 0; e < 4; e++) {
        __m512i t = _mm512_setzero_si512();
        if (e < have)
            t = full ? _mm512_loadu_si512((const void *)(p + e * ldw)) : _mm512_maskz_loadu_epi8(m, p + e * ldw);
        rw[e] = _mm512_xor_si512(t, flip);
    }
    const __m512i t0 = _mm512_unpacklo_epi8(rw[0], rw[1]), t1 = _mm512_unpackhi_epi8(rw[0], rw[1]);
    const __m512i t2 = _mm512_unpacklo_epi8(rw[2], rw[3]), t3 = _mm512_unpackhi_epi8(rw[2], rw[3]);
    v[0] = _mm512_unpacklo_epi16(t0, t2);
    v[1] = _mm512_unpackhi_epi16(t0, t2);
    v[2] = _mm512_unpacklo_epi16(t1, t3);
    v[3] = _mm512_unpackhi_epi16(t1, t3);
}

// The four quads of k from i on: acc[r][4t + c] += v_t[c] · x[r, i … i + 3].
#define I8_STEP_512(FULL, HAVE)                                                                                        \
    do {                                                                                                               \
        __m512i xb[I8_ROWS];                                                                                           \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                                          \
            int32_t d;                                                                                                 \
            memcpy(&d, a->q + r * a->kp + i, 4);                                                                       \
            xb[r] = _mm512_set1_epi32(d);                                                                              \
        }                                                                                                              \
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) {                                                          \
            __m512i v[4];                                                                                              \
            i8_quad_512(FULL, w + i * ldw + 64 * t, ldw, HAVE, m[t], v);                                               \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                                      \
                _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) acc[r][4 * t + c] =                                \
                    _mm512_dpbusd_epi32(acc[r][4 * t + c], v[c], xb[r]);                                               \
            }                                                                                                          \
        }                                                                                                              \
    } while (0)

// Rows [0, R) of a group, columns [c0, c0 + nc) with nc ≤ 64·T (nc == 64·T when `full`).
SWK_VNNI512 SWK_INLINE void i8_tile_512(const int R, const int T, const int full, const i8_rows_t *a, long c0,
                                        long nc) {
    __m512i acc[I8_ROWS][16];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 16
        for (int v = 0; v < 4 * T; v++) acc[r][v] = _mm512_setzero_si512();
    __mmask64 m[4] = {0, 0, 0, 0};
    for (int t = 0; t < T; t++) {
        const long left = nc - 64 * t;
        m[t] = left >= 64 ? ~(__mmask64)0 : left <= 0 ? 0 : (((__mmask64)1 << left) - 1);
    }
    const long k = a->k, ldw = a->ldw;
    const int8_t *w = a->w + c0;
    long i = 0;
    for (; i + 4 <= k; i += 4) {
        // One row (a streamed frame) is bound by reading the weights from L3: ask for the lines of the
        // quad I8_PREFETCH_ROWS rows ahead (16 measured best of 8–32 on Zen 5; the hardware prefetcher alone
        // leaves 0.5–1 µs of a 1.6 MB frame). Past the matrix's end a prefetch does nothing harmful.
        if (R == 1)
#pragma GCC unroll 4
            for (int t = 0; t < T; t++)
#pragma GCC unroll 4
                for (int e = 0; e < 4; e++)
                    _mm_prefetch((const char *)(w + (i + I8_PREFETCH_ROWS + e) * ldw + 64 * t), _MM_HINT_T0);
        I8_STEP_512(full, 4);
    }
    if (i < k) I8_STEP_512(full, (int)(k - i));
    for (int r = 0; r < R; r++) {
        const __m512i corr = _mm512_set1_epi32(128 * a->qsum[r]);
        const __m512 sx = _mm512_set1_ps(a->sx[r]);
        float *yr = a->y + r * a->ldy + c0;
        for (int t = 0; t < T; t++) {
            // acc[4t + c] lane L holds columns 16L + 4c … 16L + 4c + 3: transpose the 4 × 4 lanes.
            const __m512i *v = &acc[r][4 * t];
            const __m512i lo01 = _mm512_shuffle_i32x4(v[0], v[1], _MM_SHUFFLE(1, 0, 1, 0));
            const __m512i lo23 = _mm512_shuffle_i32x4(v[2], v[3], _MM_SHUFFLE(1, 0, 1, 0));
            const __m512i hi01 = _mm512_shuffle_i32x4(v[0], v[1], _MM_SHUFFLE(3, 2, 3, 2));
            const __m512i hi23 = _mm512_shuffle_i32x4(v[2], v[3], _MM_SHUFFLE(3, 2, 3, 2));
            const __m512i o[4] = {_mm512_shuffle_i32x4(lo01, lo23, _MM_SHUFFLE(2, 0, 2, 0)),
                                  _mm512_shuffle_i32x4(lo01, lo23, _MM_SHUFFLE(3, 1, 3, 1)),
                                  _mm512_shuffle_i32x4(hi01, hi23, _MM_SHUFFLE(2, 0, 2, 0)),
                                  _mm512_shuffle_i32x4(hi01, hi23, _MM_SHUFFLE(3, 1, 3, 1))};
            for (int l = 0; l < 4; l++) {
                const long col = 64 * t + 16 * l;
                const long left = nc - col;
                if (left <= 0) break;
                const __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
                __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(o[l], corr));
                f = _mm512_mul_ps(f, sx);
                if (a->bias) f = _mm512_add_ps(f, _mm512_maskz_loadu_ps(mask, a->bias + c0 + col));
                if (a->accumulate) f = _mm512_add_ps(f, _mm512_maskz_loadu_ps(mask, yr + col));
                _mm512_mask_storeu_ps(yr + col, mask, f);
            }
        }
    }
}

// Rows [0, R) (R ≤ 6) of a group, 64 columns from c0 (`nc` < 64 of them when not `full`): 24 named
// accumulators (an array of them is not kept in registers by every compiler).
#define I8_ACC_ZERO(r)                                                                                                 \
    __m512i s##r##0 = _mm512_setzero_si512(), s##r##1 = s##r##0, s##r##2 = s##r##0, s##r##3 = s##r##0;
#define I8_ACC_STEP(r)                                                                                                 \
    if (R > r) {                                                                                                       \
        const __m512i xb = _mm512_set1_epi32(*(const int32_t *)(const void *)(a->q + r * a->kp + i));                  \
        s##r##0 = _mm512_dpbusd_epi32(s##r##0, v[0], xb);                                                              \
        s##r##1 = _mm512_dpbusd_epi32(s##r##1, v[1], xb);                                                              \
        s##r##2 = _mm512_dpbusd_epi32(s##r##2, v[2], xb);                                                              \
        s##r##3 = _mm512_dpbusd_epi32(s##r##3, v[3], xb);                                                              \
    }
#define I8_ACC_STORE(r)                                                                                                \
    if (R > r) {                                                                                                       \
        const __m512i acc4[4] = {s##r##0, s##r##1, s##r##2, s##r##3};                                                  \
        i8_store_512(a, r, c0, nc, acc4);                                                                              \
    }

// Row r's 64 columns from c0 (nc valid) from the four interleaved accumulators: a 4 × 4 transpose of
// lanes, the correction, then t = s · sx, + bias, + y.
SWK_VNNI512 SWK_INLINE void i8_store_512(const i8_rows_t *a, int r, long c0, long nc, const __m512i v[4]) {
    const __m512i corr = _mm512_set1_epi32(128 * a->qsum[r]);
    const __m512 sx = _mm512_set1_ps(a->sx[r]);
    float *yr = a->y + r * a->ldy + c0;
    const __m512i lo01 = _mm512_shuffle_i32x4(v[0], v[1], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i lo23 = _mm512_shuffle_i32x4(v[2], v[3], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i hi01 = _mm512_shuffle_i32x4(v[0], v[1], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512i hi23 = _mm512_shuffle_i32x4(v[2], v[3], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512i o[4] = {_mm512_shuffle_i32x4(lo01, lo23, _MM_SHUFFLE(2, 0, 2, 0)),
                          _mm512_shuffle_i32x4(lo01, lo23, _MM_SHUFFLE(3, 1, 3, 1)),
                          _mm512_shuffle_i32x4(hi01, hi23, _MM_SHUFFLE(2, 0, 2, 0)),
                          _mm512_shuffle_i32x4(hi01, hi23, _MM_SHUFFLE(3, 1, 3, 1))};
    for (int l = 0; l < 4; l++) {
        const long col = 16 * l;
        const long left = nc - col;
        if (left <= 0) break;
        const __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(o[l], corr));
        f = _mm512_mul_ps(f, sx);
        if (a->bias) f = _mm512_add_ps(f, _mm512_maskz_loadu_ps(mask, a->bias + c0 + col));
        if (a->accumulate) f = _mm512_add_ps(f, _mm512_maskz_loadu_ps(mask, yr + col));
        _mm512_mask_storeu_ps(yr + col, mask, f);
    }
}

SWK_VNNI512 SWK_INLINE void i8_tile6_512(const int R, const int full, const i8_rows_t *a, long c0, long nc) {
    I8_ACC_ZERO(0);
    I8_ACC_ZERO(1);
    I8_ACC_ZERO(2);
    I8_ACC_ZERO(3);
    I8_ACC_ZERO(4);
    I8_ACC_ZERO(5);
    const __mmask64 m = nc >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << nc) - 1);
    const long k = a->k, ldw = a->ldw;
    const int8_t *w = a->w + c0;
    long i = 0;
    for (; i + 4 <= k; i += 4) {
        __m512i v[4];
        i8_quad_512(full, w + i * ldw, ldw, 4, m, v);
        I8_ACC_STEP(0);
        I8_ACC_STEP(1);
        I8_ACC_STEP(2);
        I8_ACC_STEP(3);
        I8_ACC_STEP(4);
        I8_ACC_STEP(5);
    }
    if (i < k) {
        __m512i v[4];
        i8_quad_512(full, w + i * ldw, ldw, (int)(k - i), m, v);
        I8_ACC_STEP(0);
        I8_ACC_STEP(1);
        I8_ACC_STEP(2);
        I8_ACC_STEP(3);
        I8_ACC_STEP(4);
        I8_ACC_STEP(5);
    }
    I8_ACC_STORE(0);
    I8_ACC_STORE(1);
    I8_ACC_STORE(2);
    I8_ACC_STORE(3);
    I8_ACC_STORE(4);
    I8_ACC_STORE(5);
}

SWK_VNNI512 SWK_INLINE void i8_group6_512(const int R, const i8_rows_t *a, long n) {
    long c0 = 0;
    for (; c0 + 64 <= n; c0 += 64) i8_tile6_512(R, 1, a, c0, 64);
    if (c0 < n) i8_tile6_512(R, 0, a, c0, n - c0);
}

// One row: 256-column tiles, then the columns left in a tile only as wide as they need (a 35-column head
// would otherwise run four 64-column vectors of masked-off work).
SWK_VNNI512 SWK_INLINE void i8_group1_512(const i8_rows_t *a, long n) {
    long c0 = 0;
    for (; c0 + 256 <= n; c0 += 256) i8_tile_512(1, 4, 1, a, c0, 256);
    const long left = n - c0;
    if (left > 192)
        i8_tile_512(1, 4, 0, a, c0, left);
    else if (left > 128)
        i8_tile_512(1, 3, left == 192, a, c0, left);
    else if (left > 64)
        i8_tile_512(1, 2, left == 128, a, c0, left);
    else if (left > 0)
        i8_tile_512(1, 1, left == 64, a, c0, left);
}

SWK_VNNI512 static void i8_rows_512(const i8_rows_t *a, long g, long n) {
    switch (g) {
    case 1: i8_group1_512(a, n); break;
    case 2: i8_group6_512(2, a, n); break;
    case 3: i8_group6_512(3, a, n); break;
    case 4: i8_group6_512(4, a, n); break;
    case 5: i8_group6_512(5, a, n); break;
    default: i8_group6_512(6, a, n); break;
    }
}

// Row r of a group in one pass over x (the native path's `scaled`, `swk_q8_quantize_rows`, Σ q and the
// flip to two's complement, fused; the same float32 operations in the same order, so the same bits):
// v = x · s; scale = (max|v| + poison) / 127; q = clamp(round(v · 127 / m), −127, 127) as int8, zero
// padding up to kp; returns Σ q.
SWK_VNNI512 static int32_t i8_prepare_512(const float *xr, long k, const void *scales, int8_t *q, float *sx) {
    const float *s = (const float *)scales; // loadu: any alignment
    __m512 mx = _mm512_setzero_ps(), poison = _mm512_setzero_ps();
    long i = 0;
    for (; i + 16 <= k; i += 16) {
        const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(xr + i), _mm512_loadu_ps(s + i));
        mx = _mm512_max_ps(_mm512_abs_ps(v), mx); // a NaN lane keeps mx (caught by poison)
        poison = _mm512_add_ps(poison, _mm512_mul_ps(v, _mm512_setzero_ps()));
    }
    if (i < k) {
        const __mmask16 mask = (__mmask16)((1u << (k - i)) - 1);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, xr + i), _mm512_maskz_loadu_ps(mask, s + i));
        mx = _mm512_max_ps(_mm512_abs_ps(v), mx);
        poison = _mm512_add_ps(poison, _mm512_mul_ps(v, _mm512_setzero_ps()));
    }
    const float m = _mm512_reduce_max_ps(mx) + _mm512_reduce_add_ps(poison);
    *sx = m / 127.0f;
    const float inv = m > 0 ? 127.0f / m : 0.0f;
    const __m512 vinv = _mm512_set1_ps(inv), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    __m512i sum = _mm512_setzero_si512();
    for (i = 0; i < k; i += 16) {
        const long left = k - i;
        const __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, xr + i), _mm512_maskz_loadu_ps(mask, s + i));
        __m512 t = _mm512_roundscale_ps(_mm512_mul_ps(v, vinv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        t = _mm512_min_ps(_mm512_max_ps(t, lo), hi); // a NaN becomes -127 (max returns its second operand)
        const __m512i qi = _mm512_maskz_cvtps_epi32(mask, t);
        sum = _mm512_add_epi32(sum, qi);
        if (left >= 16)
            _mm_storeu_si128((__m128i *)(void *)(q + i), _mm512_cvtepi32_epi8(qi));
        else
            _mm512_mask_cvtepi32_storeu_epi8(q + i, mask, qi);
    }
    for (i = k; i < (k + 3) / 4 * 4; i++) q[i] = 0;
    return _mm512_reduce_add_epi32(sum);
}

// The native path of swk_row_linear_i8. The first weight lines (the first tile's 32 rows, ≤ 8 KiB) are
// requested before the inputs are rounded: for a streamed frame each call starts on weights that are in
// L3 at best (measured on Zen 5 over a frame's eleven products: ~0.7 µs of 17 saved against 8 rows; 32
// to 128 rows are alike).
SWK_VNNI512 static void i8_linear_512(const float *x, long rows, long ldx, long k, const void *w, const void *scales,
                                      long ldw, long n, const float *bias, float *y, long ldy, int accumulate) {
    const long cols = n < 256 ? n : 256;
    for (long e = 0; e < 32 && e < k; e++)
        for (long c = 0; c < cols; c += 64) _mm_prefetch((const char *)w + e * ldw + c, _MM_HINT_T0);
    const long kp = (k + 3) / 4 * 4;
    long per = SCALED_INPUT_FLOATS / k;
    if (per > I8_ROWS) per = I8_ROWS;
    for (long r0 = 0; r0 < rows; r0 += per) {
        const long g = rows - r0 < per ? rows - r0 : per;
        int8_t q[I8_BYTES];
        float sx[I8_ROWS];
        int32_t qsum[I8_ROWS];
        for (long r = 0; r < g; r++) qsum[r] = i8_prepare_512(x + (r0 + r) * ldx, k, scales, q + r * kp, sx + r);
        const i8_rows_t a = {(const uint8_t *)q, kp,  sx,        qsum, (const int8_t *)w, ldw, k, bias,
                             y + r0 * ldy,       ldy, accumulate};
        i8_rows_512(&a, g, n);
    }
}

#endif

#ifdef SWK_NEON

// Rows [0, R) of a group, columns [c0, c0 + 16) (`cols` < 16 of them valid when not `full`).
SWK_DOTPROD SWK_INLINE void i8_tile_dotprod(const int R, const int full, const i8_rows_t *a, long c0, long cols) {
    int32x4_t acc[I8_ROWS][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < 4; c++) acc[r][c] = vdupq_n_s32(0);
    const long k = a->k, ldw = a->ldw;
    const int8_t *w = a->w + c0;
    for (long i = 0; i < k; i += 4) {
        int8x16_t rw[4];
        for (int e = 0; e < 4; e++) {
            if (i + e < k) {
                if (full) {
                    rw[e] = vld1q_s8(w + (i + e) * ldw);
                } else {
                    int8_t tmp[16] = {0};
                    memcpy(tmp, w + (i + e) * ldw, (size_t)cols);
                    rw[e] = vld1q_s8(tmp);
                }
            } else {
                rw[e] = vdupq_n_s8(0);
            }
        }
        const int16x8_t t0 = vreinterpretq_s16_s8(vzip1q_s8(rw[0], rw[1]));
        const int16x8_t t1 = vreinterpretq_s16_s8(vzip2q_s8(rw[0], rw[1]));
        const int16x8_t t2 = vreinterpretq_s16_s8(vzip1q_s8(rw[2], rw[3]));
        const int16x8_t t3 = vreinterpretq_s16_s8(vzip2q_s8(rw[2], rw[3]));
        const int8x16_t v[4] = {vreinterpretq_s8_s16(vzip1q_s16(t0, t2)), vreinterpretq_s8_s16(vzip2q_s16(t0, t2)),
                                vreinterpretq_s8_s16(vzip1q_s16(t1, t3)), vreinterpretq_s8_s16(vzip2q_s16(t1, t3))};
        for (int r = 0; r < R; r++) {
            uint32_t d;
            memcpy(&d, a->q + r * a->kp + i, 4);
            const int8x16_t xb = vreinterpretq_s8_u32(vdupq_n_u32(d));
            for (int c = 0; c < 4; c++) acc[r][c] = vdotq_s32(acc[r][c], v[c], xb);
        }
    }
    for (int r = 0; r < R; r++) {
        int32_t s[16];
        for (int c = 0; c < 4; c++) vst1q_s32(s + 4 * c, acc[r][c]);
        float *yr = a->y + r * a->ldy;
        const long valid = full ? 16 : cols;
        for (long j = 0; j < valid; j++)
            yr[c0 + j] = i8_out(s[j], a->sx[r], a->bias, c0 + j, yr + c0 + j, a->accumulate);
    }
}

SWK_DOTPROD SWK_INLINE void i8_group_dotprod(const int R, const i8_rows_t *a, long n) {
    long c0 = 0;
    for (; c0 + 16 <= n; c0 += 16) i8_tile_dotprod(R, 1, a, c0, 16);
    if (c0 < n) i8_tile_dotprod(R, 0, a, c0, n - c0);
}

SWK_DOTPROD static void i8_rows_dotprod(const i8_rows_t *a, long g, long n) {
    switch (g) {
    case 1: i8_group_dotprod(1, a, n); break;
    case 2: i8_group_dotprod(2, a, n); break;
    case 3: i8_group_dotprod(3, a, n); break;
    case 4: i8_group_dotprod(4, a, n); break;
    case 5: i8_group_dotprod(5, a, n); break;
    default: i8_group_dotprod(6, a, n); break;
    }
}

#endif

int swk_row_linear_i8_native(void) {
#ifdef SWK_X86
    return (swk_cpu_features() & SWK_CPU_AVX512_VNNI) && swk_isa() >= SWK_ISA_AVX512;
#elif defined(SWK_NEON)
    return swk_isa() >= SWK_ISA_NEON_DOTPROD;
#else
    return 0;
#endif
}

int swk_row_linear_i8(const float *x, long rows, long ldx, long k, const void *w, const void *scales, long ldw, long n,
                      const float *bias, float *y, long ldy, int accumulate) {
    if (rows <= 0 || n <= 0) return 0;
    if (k <= 0 || k > SWK_ROW_LINEAR_I8_MAX_K) return -1;
    const int native = swk_row_linear_i8_native();
#ifdef SWK_X86
    if (native) {
        i8_linear_512(x, rows, ldx, k, w, scales, ldw, n, bias, y, ldy, accumulate);
        return 0;
    }
#endif
    const long kp = (k + 3) / 4 * 4;
    long per = SCALED_INPUT_FLOATS / k;
    if (per > I8_ROWS) per = I8_ROWS;
    for (long r0 = 0; r0 < rows; r0 += per) {
        const long g = rows - r0 < per ? rows - r0 : per;
        float scaled[SCALED_INPUT_FLOATS];
        uint8_t q[I8_BYTES];
        float sx[I8_ROWS];
        int32_t qsum[I8_ROWS];
        for (long r = 0; r < g; r++) {
            const float *xr = x + (r0 + r) * ldx;
            float *out = scaled + r * k;
            for (long i = 0; i < k; i++) out[i] = xr[i] * row_scale(scales, i);
        }
        swk_q8_quantize_rows(scaled, k, g, k, q, sx);
        for (long r = 0; r < g; r++) {
            // Σ q = Σ (q + 128) − 128 · kp (the padding holds 128).
            int32_t s = 0;
            for (long i = 0; i < kp; i++) s += q[r * kp + i];
            qsum[r] = s - 128 * (int32_t)kp;
        }
        // From here on the bytes hold q itself (two's complement): (q + 128) ^ 0x80 = q.
        for (long e = 0; e < g * kp; e++) q[e] ^= 0x80;
        const i8_rows_t a = {q, kp, sx, qsum, (const int8_t *)w, ldw, k, bias, y + r0 * ldy, ldy, accumulate};
#if defined(SWK_NEON)
        if (native) {
            i8_rows_dotprod(&a, g, n);
            continue;
        }
#endif
        (void)native;
        i8_rows_portable(&a, g, 0, n);
    }
    return 0;
}
