// Products for a few rows (a streamed frame or a small chunk) that read every weight once; products
// whose input is mostly zero (spikes, ReLU outputs: only the weight rows of non-zero inputs are
// read); LIF neurons along time (lif.c); a vectorised GELU (lif.c). Callers split work by columns over
// the session's pool (swk_pool.h). Each kernel runs at `swk_isa()` (swk_cpu.h).
//
// Weights are input-major, `w[k, n]` (row i holds the n outputs' weights of input i, row stride
// `ldw` elements), so that an input selects one contiguous row. `wtype` (swk_cpu.h): SWK_F32, SWK_F16
// (IEEE binary16), SWK_BF16, or SWK_Q8ROW (int8 with one float32 scale per weight row in `scales`:
// w[i, j] = q[i, j] · scales[i], any alignment; `scales` is ignored for the other types). The sums are float32.
//
// These are raw kernels: the Swift layer above (SwiftletKernels/SpikeKernels.swift) validates sizes
// and pointers before calling, so nothing here checks its arguments.
#ifndef SWK_ROW_LINEAR_H
#define SWK_ROW_LINEAR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// `y[r, 0:n] (+)= bias + Σ_i x[r, i] · w[i, 0:n]` for r < rows (x row stride `ldx`, y row stride
/// `ldy`; `bias` may be NULL; with `accumulate` the sums are added to y, else y is overwritten).
/// Reads every weight row once for all rows: meant for 1–8 rows, when the weights are not
/// cache-resident.
void swk_row_linear(const float *x, long rows, long ldx, long k, const void *w, int wtype, const void *scales, long ldw,
                    long n, const float *bias, float *y, long ldy, int accumulate);

/// Like swk_row_linear, but only the weight rows of non-zero inputs are read: for each row r,
/// `y[r, :] (+)= bias + Σ_{i : x[r, i] ≠ 0} x[r, i] · w[i, :]`; with `binary` the non-zero inputs
/// must all be 1 and are not multiplied. Returns the number of non-zero inputs over all rows.
long swk_sparse_linear(const float *x, long rows, long ldx, long k, int binary, const void *w, int wtype,
                       const void *scales, long ldw, long n, const float *bias, float *y, long ldy, int accumulate);

/// Number of non-zero entries of `x[rows, cols]` (row stride `ldx`). NaN counts as non-zero.
long swk_count_nonzero(const float *x, long rows, long cols, long ldx);

/// Leaky integrate-and-fire neurons, one per column, stepped along the rows (time): with the input
/// `i = x · scale + shift` (scale/shift may be NULL: 1 and 0), `h = v + (i − v) / tau`, spike
/// `s = h ≥ threshold`, then `v = s ? 0 : h`. `membrane[cols]` carries v in and out. Writes the
/// spikes (0 or 1) to y (may equal x). Returns the number of spikes.
long swk_lif(const float *x, long rows, long cols, long ldx, const float *scale, const float *shift, float *membrane,
             float threshold, float tau, float *y, long ldy);

#ifdef __cplusplus
}
#endif

#endif
