// MemoryFormer's memory layer (a hashed table lookup that replaces a fully-connected layer): the
// hash of the input into per-table codes and weights, and the weighted gather-sum of table rows.
// The gather picks AVX-512, AVX2/FMA/F16C or portable C at run time (swiftlet_cpu.h); the hash
// AVX2/FMA or portable C.
//
// These are raw kernels: the Swift layer above (SwiftletKernels/MemoryLayer.swift) validates shapes,
// strides and codes before calling, so nothing here checks its arguments.
#ifndef SWIFTLET_MEMORY_H
#define SWIFTLET_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "swk_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/// How table rows are stored.
enum {
    SWL_MEMORY_F32 = 0,  ///< float32 values
    SWL_MEMORY_F16 = 1,  ///< IEEE binary16 values
    SWL_MEMORY_Q8 = 2,   ///< int8 values, one float32 scale per row: value = q · scale
};

/// Instruction sets a caller may ask for explicitly (tests compare them); `_AUTO` = the best available.
enum {
    SWL_MEMORY_ISA_AUTO = -1,
    SWL_MEMORY_ISA_PORTABLE = 0,
    SWL_MEMORY_ISA_AVX2 = 1,    ///< AVX2 + FMA (+ F16C for f16 rows)
    SWL_MEMORY_ISA_AVX512 = 2,  ///< AVX-512F (+ F16C for f16 rows)
};

/// The tables of one memory layer: `tables · 2^code_length` rows of `out` values. Table k's row c
/// is global row r = k · 2^code_length + c, whose values start at `values + r · row_stride` (bytes);
/// for q8 its scale is the float at `scales + r · scale_stride` (bytes).
typedef struct {
    int storage;          ///< SWL_MEMORY_F32 / _F16 / _Q8
    int tables;
    int code_length;
    long out;
    const void *values;
    ptrdiff_t row_stride;
    const void *scales;   ///< q8 only
    ptrdiff_t scale_stride;
} swl_memory_tables;

/// Hashes each row of `z[rows, tables · code_length]` (row stride `ldz` floats) into
/// `codes[rows, tables]` and `weights[rows, tables]`: chunk k is z[k·L ..< (k+1)·L]; bit L−1−i of its
/// code is set when z[k·L+i] ≥ 0 (a NaN sets no bit); its weight is Σ|z| / Π(1 + exp(−2|z|)).
void swiftlet_memory_hash(const float *z, long rows, long ldz, int tables, int code_length,
                          int32_t *codes, float *weights);

/// Same, on a given instruction set. Returns 0, or −1 (writing nothing) when this CPU lacks it.
int swiftlet_memory_hash_isa(int isa, const float *z, long rows, long ldz, int tables, int code_length,
                             int32_t *codes, float *weights);

/// y[n, :] = Σ_k weights[n, k] · row(k, codes[n, k]) + bias for n < rows (`bias` may be NULL; y has
/// row stride `ldy`). Codes must lie in 0 ..< 2^code_length. Splits the rows (or, for a single row,
/// the columns) over the threads of `pool` when the work is large enough; a NULL pool runs on the
/// calling thread only.
void swiftlet_memory_gather(const swl_memory_tables *tables, const int32_t *codes, const float *weights,
                            long rows, const float *bias, float *y, long ldy, swk_pool *pool);

/// Same, on a given instruction set. Returns 0, or −1 (writing nothing) when this CPU lacks it.
int swiftlet_memory_gather_isa(int isa, const swl_memory_tables *tables, const int32_t *codes,
                               const float *weights, long rows, const float *bias, float *y, long ldy,
                               swk_pool *pool);

/// The instruction set `_AUTO` resolves to for `storage` on this CPU (for reports and tests).
int swiftlet_memory_best_isa(int storage);

#ifdef __cplusplus
}
#endif

#endif
