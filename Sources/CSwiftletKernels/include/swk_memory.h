// MemoryFormer's memory layer (a hashed table lookup that replaces a fully-connected layer): the
// hash of the input into per-table codes and weights, and the weighted gather-sum of table rows.
// The gather runs AVX-512, AVX2, NEON or portable C and the hash AVX2, NEON or portable C, at
// `swk_isa()` (swk_cpu.h).
//
// These are raw kernels: the Swift layer above (SwiftletKernels/MemoryLayer.swift) validates shapes,
// strides and codes before calling, so nothing here checks its arguments.
#ifndef SWK_MEMORY_H
#define SWK_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "swk_cpu.h"
#include "swk_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/// The tables of one memory layer: `tables · 2^code_length` rows of `out` values. Table k's row c
/// is global row r = k · 2^code_length + c, whose values start at `values + r · row_stride` (bytes);
/// for q8 its scale is the float at `scales + r · scale_stride` (bytes); for q4 (SWK_Q4BLOCK: nibbles,
/// element 2i low and 2i+1 high in byte i of the row) its ceil(out / 32) block scales are the
/// consecutive floats from `scales + r · scale_stride`.
typedef struct {
    int storage; ///< SWK_F32, SWK_F16, SWK_Q8ROW or SWK_Q4BLOCK (swk_cpu.h)
    int tables;
    int code_length;
    long out;
    const void *values;
    ptrdiff_t row_stride;
    const void *scales; ///< q8 and q4 only
    ptrdiff_t scale_stride;
} swk_memory_tables;

/// Hashes each row of `z[rows, tables · code_length]` (row stride `ldz` floats) into
/// `codes[rows, tables]` and `weights[rows, tables]`: chunk k is z[k·L ..< (k+1)·L]; bit L−1−i of its
/// code is set when z[k·L+i] ≥ 0 (a NaN sets no bit); its weight is Σ|z| / Π(1 + exp(−2|z|)).
void swk_memory_hash(const float *z, long rows, long ldz, int tables, int code_length, int32_t *codes, float *weights);

/// y[n, :] = Σ_k weights[n, k] · row(k, codes[n, k]) + bias for n < rows (`bias` may be NULL; y has
/// row stride `ldy`). Codes must lie in 0 ..< 2^code_length. Splits the rows (or, for a single row,
/// the columns) over the threads of `pool` when the work is large enough; a NULL pool runs on the
/// calling thread only.
void swk_memory_gather(const swk_memory_tables *tables, const int32_t *codes, const float *weights, long rows,
                       const float *bias, float *y, long ldy, swk_pool *pool);

#ifdef __cplusplus
}
#endif

#endif
