// Several rows times an int8 (q8_row) weight matrix with int8 activations (swk_gemm_q8_i8.h), on the
// micro-kernels of the ViT's int8 quad panels (panel_gemm_q8.c). X is rounded to int8 per row
// once per call (`swk_q8_quantize_rows`: q + 128 as uint8). W is read in place, 32 rows at a time:
// each thread copies its block into two 16-column quad panels (swk_panel_lowp.h: step g of a panel
// holds k 4g … 4g + 3 of its 16 rows, 64 bytes), with the block's column sums (the uint8 offset's
// correction, for VNNI) and its 32 scales, in its own scratch, then runs `swk_panel_q8_tiles` on the
// block: VPDPBUSD 12 × 32 tiles with AVX-512 VNNI, VPMADDUBSW with AVX2, SDOT or SMULL on NEON,
// int32 sums in C elsewhere — exact on every path, then the same float32 epilogue.
#include "swk_gemm_q8_i8.h"

#include <stdint.h>
#include <string.h>

#include "panel_lowp_internal.h"
#include "row_pack_internal.h"
#include "work_split_internal.h"

enum { I8_NB = 32, I8_MAX_K = 65536 };

static ptrdiff_t round_up(ptrdiff_t x, ptrdiff_t a) { return (x + a - 1) / a * a; }

static size_t i8_x_bytes(ptrdiff_t m, ptrdiff_t k) {
    return (size_t)(round_up(m * round_up(k, 4), 64) + round_up(m * 4, 64));
}
/// One thread's block: the two quad panels, then 32 int32 column sums and 32 float32 scales.
static size_t i8_pack_bytes(ptrdiff_t k) { return (size_t)round_up((ptrdiff_t)swk_panel_q8_bytes(I8_NB, k) + 256, 64); }

size_t swk_gemm_q8_i8_scratch(ptrdiff_t m, ptrdiff_t k, int parts) {
    if (m < 0 || k < 0) return 0;
    if (parts < 1) parts = 1;
    return i8_x_bytes(m, k) + (size_t)parts * i8_pack_bytes(k) + 64;
}

#if defined(SWK_X86)
int swk_gemm_q8_i8_native(void) { return (swk_cpu_features() & SWK_CPU_AVX512_VNNI) && swk_isa() >= SWK_ISA_AVX512; }
#elif defined(SWK_NEON)
int swk_gemm_q8_i8_native(void) { return swk_isa() >= SWK_ISA_NEON_DOTPROD; }
#else
int swk_gemm_q8_i8_native(void) { return 0; }
#endif

typedef struct {
    const uint8_t *xq; // [m, 4 · steps] q + 128
    const float *sx;   // [m] row scales
    ptrdiff_t m, k, steps;
    const int8_t *w;       // [n, k]
    const uint8_t *scales; // [n] float32, any alignment
    ptrdiff_t n;
    const float *bias;
    float *y;
    ptrdiff_t ldy;
    uint8_t *packs; // one i8_pack_bytes(k) block per part
    size_t pack_stride;
} i8_job_t;

static void i8_part(void *context, int index, int count) {
    const i8_job_t *j = context;
    const ptrdiff_t blocks = (j->n + I8_NB - 1) / I8_NB;
    const ptrdiff_t g0 = blocks * index / count, g1 = blocks * (index + 1) / count;
    uint8_t *block = j->packs + (size_t)index * j->pack_stride;
    const size_t panel_bytes = swk_panel_q8_bytes(I8_NB, j->k);
    uint32_t *pk = (uint32_t *)(void *)block;
    int32_t *sums = (int32_t *)(void *)(block + panel_bytes);
    float *scales = (float *)(void *)(block + panel_bytes + 128);
    for (ptrdiff_t g = g0; g < g1; g++) {
        const ptrdiff_t n0 = g * I8_NB;
        const int nv = (int)(j->n - n0 < I8_NB ? j->n - n0 : I8_NB);
        for (int c = 0; c < I8_NB; c++) scales[c] = 0, sums[c] = 0;
        for (int h = 0; 16 * h < nv; h++) { // up to two quad panels and their column sums
            const int rows = nv - 16 * h < 16 ? nv - 16 * h : 16;
            swk_pack_row_panel(j->w + (n0 + 16 * h) * j->k, j->k, rows, j->k, pk + h * j->steps * 16, sums + 16 * h);
        }
        memcpy(scales, j->scales + 4 * n0, (size_t)nv * 4);
        const swk_lowp_epilogue e = {j->sx, scales, j->bias ? j->bias + n0 : NULL, 0, 0};
        swk_panel_q8_tiles(j->xq, j->m, j->k, (const int8_t *)(const void *)pk, sums, 0, nv, &e, j->y + n0, j->ldy);
    }
}

int swk_gemm_q8_i8(const float *x, ptrdiff_t ldx, ptrdiff_t m, const void *weights, const void *scales, ptrdiff_t n,
                   ptrdiff_t k, const float *bias, float *y, ptrdiff_t ldy, void *scratch, size_t scratch_bytes,
                   swk_pool *pool) {
    if (m < 0 || n < 0 || k < 0 || ldx < k || ldy < n || k > I8_MAX_K) return -1;
    if (m == 0 || n == 0) return 0;
    if (!scratch || scratch_bytes < swk_gemm_q8_i8_scratch(m, k, 1)) return -1;
    const ptrdiff_t steps = (k + 3) / 4;
    uint8_t *base = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    uint8_t *xq = base;
    float *sx = (float *)(void *)(base + round_up(m * 4 * steps, 64));
    if (k > 0)
        swk_q8_quantize_rows(x, ldx, m, k, xq, sx);
    else
        for (ptrdiff_t r = 0; r < m; r++) sx[r] = 0;
    int parts = swk_useful_parts(swk_pool_threads(pool), n * k);
    const size_t room = (scratch_bytes - i8_x_bytes(m, k) - 64) / i8_pack_bytes(k);
    if ((size_t)parts > room) parts = (int)room;
    if (parts < 1) parts = 1;
    i8_job_t job = {xq, sx, m, k, steps, weights, scales, n, bias, y, ldy, base + i8_x_bytes(m, k), i8_pack_bytes(k)};
    if (parts == 1)
        i8_part(&job, 0, 1);
    else
        swk_pool_run(pool, parts, i8_part, &job);
    return 0;
}
