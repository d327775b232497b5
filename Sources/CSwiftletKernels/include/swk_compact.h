// Matrix-vector products and row dequantization on weight matrices kept in a compact storage format
// (float16, bfloat16, int8 with one float32 scale per row, or int4 with one float32 scale per block of
// 32 elements of a row), read in place, e.g. from a mapped
// model file. Memory-bound decoding reads each weight once per token, so fewer bytes per weight is
// what makes it faster; the arithmetic is float32 throughout.
#ifndef SWK_COMPACT_H
#define SWK_COMPACT_H

#include <stddef.h>

#include "swk_cpu.h"
#include "swk_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Storage formats (`format`): SWK_F32, SWK_F16, SWK_BF16, SWK_Q8ROW, SWK_Q4BLOCK (swk_cpu.h).
/// SWK_Q4BLOCK rows are ceil(cols / 2) bytes each and `scales` holds rows · ceil(cols / 32) floats,
/// row-major; its products sum each block in float32 and scale that sum.

/// `y[r] = dot(W[r, :], x) + bias[r]` for r in [0, rows): `weights` in `format`, `scales` the
/// per-row scales of SWK_Q8ROW or the per-block scales of SWK_Q4BLOCK (ignored otherwise), `bias` optional (NULL). `y` must not
/// overlap `x`. The rows are split among the threads of `pool` (NULL: the calling thread).
/// Returns 0, or -1 for an unknown format or negative sizes (nothing is written).
int swk_compact_gemv(int format, const void *weights, const void *scales, ptrdiff_t rows, ptrdiff_t cols,
                     const float *x, const float *bias, float *y, swk_pool *pool);

/// Decodes rows [row0, row0 + count) of the matrix to float32 `out` (`count * cols` floats, row
/// stride `cols`), split among the threads of `pool`. Returns 0, or -1 as `swk_compact_gemv`.
int swk_compact_decode_rows(int format, const void *weights, const void *scales, ptrdiff_t cols, ptrdiff_t row0,
                            ptrdiff_t count, float *out, swk_pool *pool);

/// Whether `swk_gemm_q8` runs here: AVX-512 VNNI and `swk_isa()` is AVX-512, or `swk_isa()` is NEON or
/// NEON_DOTPROD (AArch64: int16 × int8 products with SMLAL, or SDOT on split bytes; exact int64 sums).
int swk_gemm_q8_supported(void);

/// Bytes of scratch `swk_gemm_q8` needs for `m` rows of `k` columns.
size_t swk_gemm_q8_scratch(ptrdiff_t m, ptrdiff_t k);

/// `y[r, c] = dot(x[r, :], W[c, :]) * scales[c] + bias[c]` for r in [0, m), c in [0, n), with W a
/// SWK_Q8ROW matrix [n, k] read in place, `x` row stride `ldx`, `y` row stride `ldy`, `bias`
/// optional. Each row of x is first rounded to int16 with its own scale (max|x| / 32767: an error of
/// at most 2^-16 of the row's largest magnitude per element); the products are exact integer sums (int32 lanes, totals in int64).
/// Output columns are split among the threads of `pool`. Returns 0; -2 when `swk_gemm_q8_supported()`
/// is 0 or k > 8192, so that the caller takes another path; -1 for bad sizes or a scratch smaller
/// than `swk_gemm_q8_scratch(m, k)`.
int swk_gemm_q8(const float *x, ptrdiff_t ldx, ptrdiff_t m, const void *weights, const void *scales, ptrdiff_t n,
                ptrdiff_t k, const float *bias, float *y, ptrdiff_t ldy, void *scratch, size_t scratch_bytes,
                swk_pool *pool);

#ifdef __cplusplus
}
#endif

#endif
