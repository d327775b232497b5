// Matrix-vector products and row dequantization on weight matrices kept in a compact storage format
// (float16, bfloat16, or int8 with one float32 scale per row), read in place, e.g. from a mapped
// model file. Memory-bound decoding reads each weight once per token, so fewer bytes per weight is
// what makes it faster; the arithmetic is float32 throughout.
#ifndef SWIFTLET_LOWP_H
#define SWIFTLET_LOWP_H

#include <stddef.h>

#include "swk_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Storage formats of a row-major [rows, cols] matrix.
enum {
    /// float32 (little-endian).
    SWL_LOWP_F32 = 0,
    /// IEEE binary16.
    SWL_LOWP_F16 = 1,
    /// bfloat16 (the high half of a float32).
    SWL_LOWP_BF16 = 2,
    /// int8 values; row r is `values[r, :] * scales[r]` with `scales` float32 (any alignment).
    SWL_LOWP_Q8ROW = 3,
};

/// Instruction-set levels of the implementations.
enum {
    SWL_LOWP_PORTABLE = 0,
    SWL_LOWP_AVX2 = 1,
    SWL_LOWP_AVX512 = 2,
};

/// The level the kernels use: the best the CPU supports, capped by `swl_lowp_set_max_level`.
int swl_lowp_level(void);

/// Caps the level of the calling thread's later calls (for tests that compare the implementations;
/// other threads are not affected); returns the level now in use.
int swl_lowp_set_max_level(int level);

/// `y[r] = dot(W[r, :], x) + bias[r]` for r in [0, rows): `weights` in `format`, `scales` the
/// per-row scales of SWL_LOWP_Q8ROW (ignored otherwise), `bias` optional (NULL). `y` must not
/// overlap `x`. The rows are split among the threads of `pool` (NULL: the calling thread).
/// Returns 0, or -1 for an unknown format or negative sizes (nothing is written).
int swl_lowp_gemv(int format, const void *weights, const void *scales, ptrdiff_t rows, ptrdiff_t cols,
                  const float *x, const float *bias, float *y, swk_pool *pool);

/// Decodes rows [row0, row0 + count) of the matrix to float32 `out` (`count * cols` floats, row
/// stride `cols`), split among the threads of `pool`. Returns 0, or -1 as `swl_lowp_gemv`.
int swl_lowp_dequantize_rows(int format, const void *weights, const void *scales, ptrdiff_t cols,
                             ptrdiff_t row0, ptrdiff_t count, float *out, swk_pool *pool);

/// Whether `swl_lowp_gemm_q8` runs on this CPU (AVX-512 with VNNI, and the level cap allows AVX-512).
int swl_lowp_gemm_q8_supported(void);

/// Bytes of scratch `swl_lowp_gemm_q8` needs for `m` rows of `k` columns.
size_t swl_lowp_gemm_q8_scratch(ptrdiff_t m, ptrdiff_t k);

/// `y[r, c] = dot(x[r, :], W[c, :]) * scales[c] + bias[c]` for r in [0, m), c in [0, n), with W a
/// SWL_LOWP_Q8ROW matrix [n, k] read in place, `x` row stride `ldx`, `y` row stride `ldy`, `bias`
/// optional. Each row of x is first rounded to int16 with its own scale (max|x| / 32767: an error of
/// at most 2^-16 of the row's largest magnitude per element); the products are exact int32 sums.
/// Output columns are split among the threads of `pool`. Returns 0; -2 when this CPU (or the level
/// cap) has no AVX-512 VNNI or k > 8192, so that the caller takes another path; -1 for bad sizes
/// or a scratch smaller than `swl_lowp_gemm_q8_scratch(m, k)`.
int swl_lowp_gemm_q8(const float *x, ptrdiff_t ldx, ptrdiff_t m, const void *weights, const void *scales,
                     ptrdiff_t n, ptrdiff_t k, const float *bias, float *y, ptrdiff_t ldy,
                     void *scratch, size_t scratch_bytes, swk_pool *pool);


#ifdef __cplusplus
}
#endif

#endif
