// Vision-transformer kernels: linear layers on weights stored as column panels, with bias, GELU or
// accumulation fused into the store, and multi-head attention with an additive per-key bias (ToMe's
// proportional attention), its softmax fused between the two products.
//
// Panel layout: a `[n, k]` weight matrix (PyTorch's Linear, `y = x · Wᵀ`) is stored as ceil(n/16)
// panels; panel j holds `W[16j + c, p]` at `panel[j][p][c]` for p < k, c < 16 (rows past n are
// zero). A micro-kernel then reads 16 consecutive output columns per step from one stream, and the
// weights need no repacking per call (a general BLAS repacks them every time).
//
// Each function runs AVX-512, AVX2, NEON or portable code at `swk_isa()` (swk_cpu.h). These are
// raw kernels for the ViT family: the caller validates sizes; nothing here allocates.
#ifndef SWK_PANEL_H
#define SWK_PANEL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Columns per weight panel.
#define SWK_PANEL 16

/// Floats of the panel layout of an `[n, k]` matrix: ceil(n/16) · 16 · k.
size_t swk_panel_floats(ptrdiff_t n, ptrdiff_t k);

/// Writes `w[n, k]` (row-major, row stride k) in the panel layout to `panels`
/// (`swk_panel_floats(n, k)` floats).
void swk_panel_pack(const float *w, ptrdiff_t n, ptrdiff_t k, float *panels);

/// Epilogue switches of `swk_panel_linear`.
enum {
    SWK_PANEL_ACCUMULATE = 1, ///< add the result to C instead of overwriting it
    SWK_PANEL_GELU = 2,       ///< exact (erf) GELU of the biased result before it is stored
};

/// `C[i, j] = act(Σ_p A[i, p] · W[j, p] + bias[j])` for i < m and j in [col0, col1), with `W` in the
/// panel layout (`n` columns, `k` inputs), `bias` optional, `act` GELU or nothing (`flags`), or with
/// SWK_PANEL_ACCUMULATE `C[i, j] += Σ … + bias[j]`. `col0` must be a multiple of 16 (a panel
/// boundary), col1 ≤ n. A's and C's rows are `lda` and `ldc` floats apart; C must not overlap A.
void swk_panel_linear(const float *a, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, const float *panels, ptrdiff_t n,
                      ptrdiff_t col0, ptrdiff_t col1, const float *bias, int flags, float *c, ptrdiff_t ldc);

/// Floats of scratch `swk_attention` needs for `tokens` keys and heads of `head_dim`.
size_t swk_attention_scratch(ptrdiff_t tokens, ptrdiff_t head_dim);

/// Multi-head self-attention of one sequence, for the query rows [q0, q1):
/// `out[i, h] = softmax_j(scale · q_i,h · k_j,h + key_bias[j]) · V[:, h]` for every head h.
/// Row t of Q, K and V is at `q + t · stride` (likewise k, v), heads side by side (`heads · head_dim`
/// floats); `key_bias` (`[tokens]`) may be NULL; `out` rows are `ldo` floats apart (head h at column
/// h · head_dim) and must not overlap the inputs. `scratch` holds `swk_attention_scratch` floats.
void swk_attention(const float *q, const float *k, const float *v, ptrdiff_t stride, ptrdiff_t tokens, ptrdiff_t q0,
                   ptrdiff_t q1, ptrdiff_t heads, ptrdiff_t head_dim, float scale, const float *key_bias, float *out,
                   ptrdiff_t ldo, float *scratch);

/// LayerNorm of each row of `x[rows, cols]` (row stride `cols`): `y = (x − mean) / √(var + eps) ·
/// weight + bias` with the biased variance, computed in two passes (the centred sum of squares stays
/// accurate when |mean| ≫ std). `y` may be `x`.
void swk_layer_norm(const float *x, ptrdiff_t rows, ptrdiff_t cols, const float *weight, const float *bias, float eps,
                    float *y);

/// Exact GELU `x · ½ · (1 + erf(x/√2))` in place, with the same vectorised erf as the fused epilogue
/// (|error of erf| < 4e-7; the portable level calls libm's erff).
void swk_gelu(float *x, ptrdiff_t count);

#ifdef __cplusplus
}
#endif

#endif
