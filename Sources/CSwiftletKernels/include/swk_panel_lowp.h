// Vision-transformer linear layers on compact weights read in place: bfloat16 and int8 versions of
// `swk_panel_linear` (swk_panel.h), with the same 16-column panels, the same epilogue flags (bias,
// exact GELU, accumulate) and the same column split (col0 on a panel boundary).
//
// bfloat16 ("bf16 pair panels"): an `[n, k]` weight matrix (`y = x · Wᵀ`) is stored as ceil(n/16)
// panels of ceil(k/2) steps; step q of panel j holds, for the 16 columns c, the pair
// `W[16j + c, 2q], W[16j + c, 2q + 1]` as two consecutive bf16 (`panel[j][q][c][e]`, e < 2; zero past
// n and past k), 64 bytes per step: what AVX-512 BF16's `vdpbf16ps` multiplies by one broadcast pair
// of activations. The activations are rounded to bf16 once per call (`swk_bf16_round_rows`, round to
// nearest even), so every path computes the same thing: exact products of bf16 values (a bf16 × bf16
// product fits a float32) summed in float32 in the same order (per pair, the odd element's product
// first, as `vdpbf16ps` adds them), the same bits on every path but for subnormals. Paths:
//   AVX-512 BF16  `vdpbf16ps`, 12 rows × 32 columns; subnormal bf16 inputs count as zero and the
//                 float32 sums flush to zero below 2^-126 (the instruction's DAZ/FTZ);
//   AVX2 (and AVX-512 without BF16) the weights widened to float32 by a 16-bit shift (even k) or a
//                 mask (odd k), then FMA, 4 rows × 16 columns;
//   NEON          the same widening, 4 rows × 16 columns; portable: scalar float32 sums.
// Against the exact product of the float32 inputs the only extra error is the two bf16 roundings
// (8 significant bits: each factor within 2^-8 relative), i.e. |Σ a·w − Σ bf16(a)·bf16(w)| ≤
// (2^-7 + 2^-16) Σ|a·w|.
//
// int8 ("q8 quad panels"): an `[n, k]` matrix is quantized per output column (symmetric:
// `scale[j] = max_p |W[j, p]| / 127`, `q = round(W / scale)`, nearest even) and stored as ceil(n/16)
// panels of ceil(k/4) steps; step g of panel j holds `q[16j + c, 4g + e]` at `panel[j][g][c][e]`
// (e < 4; zero past n and k), 64 bytes per step, what AVX-512 VNNI's `vpdpbusd` multiplies by one
// broadcast quad of activations. Each activation row is quantized on its own
// (`swk_q8_quantize_rows`: symmetric int8 `q = round(a · 127 / max|a|)`, stored offset by 128 as
// uint8, so that `vpdpbusd` (uint8 × int8) applies; the kernel subtracts 128 · Σ_p q_w per column,
// `swk_panel_q8_sums`). The products are summed exactly in int32 (|Σ| ≤ 127 · 127 · k < 2^31 for
// k ≤ 133000), identically on every path:
//   AVX-512 VNNI  `vpdpbusd`, 12 rows × 32 columns;
//   AVX2          `vpmaddubsw` of |q_w| by q_a carrying q_w's sign (`vpsignb`: pair sums below 2^15,
//                 never saturated), `vpmaddwd` by ones into int32, 4 rows × 16 columns;
//   NEON dotprod  SDOT on the signed activations (the offset removed by flipping the top bit);
//   NEON          SMULL/SADALP widening products; portable: scalar int32 sums.
// Every path then computes, in float32, `y = float(Σ) · (ascale[i] · wscale[j]) + bias[j]` (and
// `+ C[i, j]`, GELU) in that order, so the outputs agree bit for bit across paths except where GELU
// (vector erf against libm's) applies. x86-64 CPUs without AVX-512 VNNI run the AVX2 path.
// The per-call conversions of the activations give the same bytes on every path: bf16 rounding with
// AVX2 (also on AVX-512), NEON or portable C; int8 quantizing with AVX-512, NEON or portable C.
//
// Raw kernels for the ViT family: the caller validates sizes; nothing here allocates.
#ifndef SWK_PANEL_LOWP_H
#define SWK_PANEL_LOWP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- bfloat16 ------------------------------------------------------------------------------------

/// bf16 elements of the pair-panel layout of an `[n, k]` matrix: ceil(n/16) · 16 · 2 · ceil(k/2).
size_t swk_panel_bf16_elements(ptrdiff_t n, ptrdiff_t k);

/// Writes `w[n, k]` (row-major) rounded to bf16 (nearest even; NaN stays NaN) in the pair-panel
/// layout (`swk_panel_bf16_elements(n, k)` elements).
void swk_panel_bf16_pack(const float *w, ptrdiff_t n, ptrdiff_t k, uint16_t *panels);

/// Rounds rows of `a[m, k]` (row stride `lda` floats) to bf16, nearest even (NaN stays NaN, no
/// flushing), into `out` with a row stride of `2 · ceil(k/2)` elements (an odd k gets a zero last).
void swk_bf16_round_rows(const float *a, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, uint16_t *out);

/// `C[i, j] = act(Σ_p A[i, p] · W[j, p] + bias[j])` (or with SWK_PANEL_ACCUMULATE `C[i, j] += …`)
/// for i < m and j in [col0, col1), with A the bf16 rows of `swk_bf16_round_rows` (row stride
/// `2 · ceil(k/2)`) and W in the bf16 pair-panel layout. `col0` must be a multiple of 16, col1 ≤ n;
/// `flags` as `swk_panel_linear`; C rows `ldc` floats apart.
void swk_panel_linear_bf16(const uint16_t *a, ptrdiff_t m, ptrdiff_t k, const uint16_t *panels, ptrdiff_t n,
                           ptrdiff_t col0, ptrdiff_t col1, const float *bias, int flags, float *c, ptrdiff_t ldc);

// ---- int8 ----------------------------------------------------------------------------------------

/// Bytes of the quad-panel layout of an `[n, k]` matrix: ceil(n/16) · 16 · 4 · ceil(k/4).
size_t swk_panel_q8_bytes(ptrdiff_t n, ptrdiff_t k);

/// Quantizes `w[n, k]` per row of W (per output column of the product; scale `max|w| / 127`, zero
/// for a zero row) into the quad-panel layout and `scales[n]`.
void swk_panel_q8_pack(const float *w, ptrdiff_t n, ptrdiff_t k, int8_t *panels, float *scales);

/// `sums[j] = Σ_p q[j, p]` for j < n, from the quad panels (the correction of the uint8 offset).
/// Returns 0, or -1 when a weight is −128: outside the −127 … 127 the writers store (the kernels would
/// still sum it exactly); a loader refuses such a matrix (swl.md §6.1).
int swk_panel_q8_sums(const int8_t *panels, ptrdiff_t n, ptrdiff_t k, int32_t *sums);

/// Quantizes rows of `a[m, k]` (row stride `lda`): per row `scale = max|a| / 127` (0 for a zero row;
/// NaN when the row holds a NaN or an infinity, which makes its outputs NaN), `q = round(a · (127 /
/// max|a|))` nearest even, stored as `q + 128` (uint8) with a row stride of `4 · ceil(k/4)` bytes (the
/// padding holds 128, i.e. zero).
void swk_q8_quantize_rows(const float *a, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, uint8_t *out, float *scales);

/// `C[i, j] = act(float(Σ_p (A[i, p] − 128) · Q[j, p]) · (ascale[i] · wscale[j]) + bias[j])` (or with
/// SWK_PANEL_ACCUMULATE `C[i, j] += …`) for i < m, j in [col0, col1): A the uint8 rows of
/// `swk_q8_quantize_rows` (row stride `4 · ceil(k/4)`), Q in the quad-panel layout, `wsums` from
/// `swk_panel_q8_sums`. `col0` a multiple of 16, col1 ≤ n; `flags` as `swk_panel_linear`.
void swk_panel_linear_q8(const uint8_t *a, ptrdiff_t m, ptrdiff_t k, const float *ascale, const int8_t *panels,
                         const float *wscale, const int32_t *wsums, ptrdiff_t n, ptrdiff_t col0, ptrdiff_t col1,
                         const float *bias, int flags, float *c, ptrdiff_t ldc);

// ---- attention in bfloat16 ----------------------------------------------------------------------

/// Floats of scratch `swk_attention_bf16` needs for `tokens` keys and heads of `head_dim`.
size_t swk_attention_bf16_scratch(ptrdiff_t tokens, ptrdiff_t head_dim);

/// `swk_attention` (swk_panel.h, same arguments and layout) with both products in bf16: Q, K and V
/// rounded to bf16 (nearest even), S = scale · Σ bf16(q)·bf16(k) + key_bias summed in float32 (the
/// pair-panel kernel of `swk_panel_linear_bf16`), the softmax's e^(S − max) and its sum in float32,
/// then O = Σ bf16(e^(S − max)) · bf16(v) summed in float32 and divided by the float32 sum. Against
/// exact attention the extra error is each score off by (2^-7 + 2^-16) · scale · Σ|q·k| from the
/// roundings of q and k (the weights move by e^(±2 · that)), and each term of O by the two roundings
/// of e and v (within 2^-8 relative each). `scratch` holds `swk_attention_bf16_scratch` floats.
void swk_attention_bf16(const float *q, const float *k, const float *v, ptrdiff_t stride, ptrdiff_t tokens,
                        ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t heads, ptrdiff_t head_dim, float scale,
                        const float *key_bias, float *out, ptrdiff_t ldo, float *scratch);

#ifdef __cplusplus
}
#endif

#endif
