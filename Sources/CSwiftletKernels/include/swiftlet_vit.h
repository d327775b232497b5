// Vision-transformer kernels: linear layers on weights stored as column panels, with bias, GELU or
// accumulation fused into the store, and multi-head attention with an additive per-key bias (ToMe's
// proportional attention), its softmax fused between the two products.
//
// Panel layout: a `[n, k]` weight matrix (PyTorch's Linear, `y = x · Wᵀ`) is stored as ceil(n/16)
// panels; panel j holds `W[16j + c, p]` at `panel[j][p][c]` for p < k, c < 16 (rows past n are
// zero). A micro-kernel then reads 16 consecutive output columns per step from one stream, and the
// weights need no repacking per call (a general BLAS repacks them every time).
//
// Each function picks AVX-512, AVX2+FMA or portable code at run time (swiftlet_cpu.h). These are
// raw kernels for the ViT family: the caller validates sizes; nothing here allocates.
#ifndef SWIFTLET_VIT_H
#define SWIFTLET_VIT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Columns per weight panel.
#define SWL_VIT_PANEL 16

/// Implementation levels.
enum {
    SWL_VIT_PORTABLE = 0,
    SWL_VIT_AVX2 = 1,    ///< AVX2 + FMA
    SWL_VIT_AVX512 = 2,  ///< AVX-512F
};

/// The level calls from this thread use: the best the CPU supports, capped by
/// `swl_vit_set_max_level`.
int swl_vit_level(void);

/// Caps the level of calls made from this thread (tests compare the implementations); returns the
/// level now in use on this thread.
int swl_vit_set_max_level(int level);

/// Floats of the panel layout of an `[n, k]` matrix: ceil(n/16) · 16 · k.
size_t swl_vit_panel_floats(ptrdiff_t n, ptrdiff_t k);

/// Writes `w[n, k]` (row-major, row stride k) in the panel layout to `panels`
/// (`swl_vit_panel_floats(n, k)` floats).
void swl_vit_pack(const float *w, ptrdiff_t n, ptrdiff_t k, float *panels);

/// Epilogue switches of `swl_vit_linear`.
enum {
    SWL_VIT_ACCUMULATE = 1,  ///< add the result to C instead of overwriting it
    SWL_VIT_GELU = 2,        ///< exact (erf) GELU of the biased result before it is stored
};

/// `C[i, j] = act(Σ_p A[i, p] · W[j, p] + bias[j])` for i < m and j in [col0, col1), with `W` in the
/// panel layout (`n` columns, `k` inputs), `bias` optional, `act` GELU or nothing (`flags`), or with
/// SWL_VIT_ACCUMULATE `C[i, j] += Σ … + bias[j]`. `col0` must be a multiple of 16 (a panel
/// boundary), col1 ≤ n. A's and C's rows are `lda` and `ldc` floats apart; C must not overlap A.
void swl_vit_linear(const float *a, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, const float *panels, ptrdiff_t n,
                    ptrdiff_t col0, ptrdiff_t col1, const float *bias, int flags, float *c, ptrdiff_t ldc);

/// Floats of scratch `swl_vit_attention` needs for `tokens` keys and heads of `head_dim`.
size_t swl_vit_attention_scratch(ptrdiff_t tokens, ptrdiff_t head_dim);

/// Multi-head self-attention of one sequence, for the query rows [q0, q1):
/// `out[i, h] = softmax_j(scale · q_i,h · k_j,h + key_bias[j]) · V[:, h]` for every head h.
/// Row t of Q, K and V is at `q + t · stride` (likewise k, v), heads side by side (`heads · head_dim`
/// floats); `key_bias` (`[tokens]`) may be NULL; `out` rows are `ldo` floats apart (head h at column
/// h · head_dim) and must not overlap the inputs. `scratch` holds `swl_vit_attention_scratch` floats.
void swl_vit_attention(const float *q, const float *k, const float *v, ptrdiff_t stride, ptrdiff_t tokens,
                       ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t heads, ptrdiff_t head_dim, float scale,
                       const float *key_bias, float *out, ptrdiff_t ldo, float *scratch);

/// LayerNorm of each row of `x[rows, cols]` (row stride `cols`): `y = (x − mean) / √(var + eps) ·
/// weight + bias` with the biased variance, computed in two passes (the centred sum of squares stays
/// accurate when |mean| ≫ std). `y` may be `x`.
void swl_vit_layer_norm(const float *x, ptrdiff_t rows, ptrdiff_t cols, const float *weight, const float *bias,
                        float eps, float *y);

/// Exact GELU `x · ½ · (1 + erf(x/√2))` in place, with the same vectorised erf as the fused epilogue
/// (|error of erf| < 4e-7; the portable level calls libm's erff).
void swl_vit_gelu(float *x, ptrdiff_t count);

#ifdef __cplusplus
}
#endif

#endif
