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

/// Most inputs `swk_row_linear_i8` takes.
#define SWK_ROW_LINEAR_I8_MAX_K 8192

/// Whether `swk_row_linear_i8` runs on int8 dot-product instructions here (AVX-512 VNNI at the AVX-512
/// level; NEON with the dot product). Elsewhere it runs in portable C with the same results, more
/// slowly than `swk_row_linear`.
int swk_row_linear_i8_native(void);

/// `swk_row_linear` for SWK_Q8ROW weights with int8 × int8 products: each row of x, its inputs times
/// the weight rows' scales (`v[i] = x[r, i] · scales[i]`), is rounded to int8 with one scale per row as
/// `swk_q8_quantize_rows` (swk_panel_lowp.h) does it: `sx = max|v| / 127`, `q = round(v · (127 / max|v|))`
/// nearest even (float32), an error of at most about `sx / 2` per input; then `y[r, j] (+)= bias[j] + (float)(Σ_i q[i] · w[i, j])
/// · sx`, the sum exact in int32 and the float32 operations (`t = s · sx; t += bias; t += y`) the same
/// on every path, so every path gives the same bits. A row depends only on its own inputs: the result
/// is the same however the rows or columns are split between calls. Returns 0; -1 when k is outside
/// [1, SWK_ROW_LINEAR_I8_MAX_K].
int swk_row_linear_i8(const float *x, long rows, long ldx, long k, const void *w, const void *scales, long ldw, long n,
                      const float *bias, float *y, long ldy, int accumulate);

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
