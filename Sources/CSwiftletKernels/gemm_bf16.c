// Several rows times a bfloat16 weight matrix (swk_gemm_bf16.h), on the micro-kernels of the ViT's
// pair panels (panel_gemm_bf16.c). The rows of X are rounded to bfloat16 once per call
// (`swk_bf16_round_rows`); W is read in place, 32 of its rows at a time, and each thread copies its
// block into two 16-column pair panels (swk_panel_lowp.h: step q of a panel holds the pair of k
// 2q, 2q + 1 of its 16 rows, 64 bytes) in its own scratch, then runs `swk_panel_bf16_tiles` on the
// block: VDPBF16PS 12 × 32 tiles with AVX-512 BF16, widened weights and FMA elsewhere.
#include "swk_gemm_bf16.h"

#include <stdint.h>
#include <string.h>

#include "panel_lowp_internal.h"
#include "row_pack_internal.h"
#include "work_split_internal.h"

enum { NB = 32 };

static ptrdiff_t round_up(ptrdiff_t x, ptrdiff_t a) { return (x + a - 1) / a * a; }

/// Bytes of X rounded to bfloat16 (k padded to a whole pair) and of one thread's two panels, each
/// rounded to 64.
static size_t x_bytes(ptrdiff_t m, ptrdiff_t k) { return (size_t)round_up(m * round_up(k, 2) * 2, 64); }
static size_t pack_bytes(ptrdiff_t k) { return swk_panel_bf16_elements(NB, k) * 2; }

size_t swk_gemm_bf16_scratch(ptrdiff_t m, ptrdiff_t k, int parts) {
    if (m < 0 || k < 0) return 0;
    if (parts < 1) parts = 1;
    return x_bytes(m, k) + (size_t)parts * pack_bytes(k) + 64;
}

#ifdef SWK_X86
int swk_gemm_bf16_native(void) { return (swk_cpu_features() & SWK_CPU_AVX512_BF16) && swk_isa() >= SWK_ISA_AVX512; }
#else
int swk_gemm_bf16_native(void) { return 0; }
#endif

typedef struct {
    const uint16_t *xq; // [m, 2 · steps] bfloat16
    ptrdiff_t m, k, steps;
    const uint8_t *w; // [n, k] bfloat16, any alignment
    ptrdiff_t n;
    const float *bias;
    float *y;
    ptrdiff_t ldy;
    uint8_t *packs; // one pack_bytes(k) block per part
    size_t pack_stride;
} gemm_job_t;

static void gemm_part(void *context, int index, int count) {
    const gemm_job_t *j = context;
    const ptrdiff_t blocks = (j->n + NB - 1) / NB;
    const ptrdiff_t g0 = blocks * index / count, g1 = blocks * (index + 1) / count;
    uint32_t *pk = (uint32_t *)(void *)(j->packs + (size_t)index * j->pack_stride);
    for (ptrdiff_t g = g0; g < g1; g++) {
        const ptrdiff_t n0 = g * NB;
        const int nv = (int)(j->n - n0 < NB ? j->n - n0 : NB);
        // Up to two pair panels (the tiles read the second only for more than 16 columns): dword q of
        // a weight row is its pair of k 2q, 2q + 1.
        for (int h = 0; 16 * h < nv; h++)
            swk_pack_row_panel(j->w + (n0 + 16 * h) * j->k * 2, j->k * 2, nv - 16 * h < 16 ? nv - 16 * h : 16, j->k * 2,
                               pk + h * j->steps * 16, NULL);
        const swk_lowp_epilogue e = {NULL, NULL, j->bias ? j->bias + n0 : NULL, 0, 0};
        swk_panel_bf16_tiles(j->xq, j->m, j->k, (const uint16_t *)(const void *)pk, 0, nv, &e, j->y + n0, j->ldy);
    }
}

int swk_gemm_bf16(const float *x, ptrdiff_t ldx, ptrdiff_t m, const void *weights, ptrdiff_t n, ptrdiff_t k,
                  const float *bias, float *y, ptrdiff_t ldy, void *scratch, size_t scratch_bytes, swk_pool *pool) {
    if (m < 0 || n < 0 || k < 0 || ldx < k || ldy < n) return -1;
    if (m == 0 || n == 0) return 0;
    if (!scratch || scratch_bytes < swk_gemm_bf16_scratch(m, k, 1)) return -1;
    uint8_t *base = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    uint16_t *xq = (uint16_t *)(void *)base;
    swk_bf16_round_rows(x, ldx, m, k, xq);
    int parts = swk_useful_parts(swk_pool_threads(pool), n * k);
    const size_t room = k > 0 ? (scratch_bytes - x_bytes(m, k) - 64) / pack_bytes(k) : 1;
    if ((size_t)parts > room) parts = (int)room;
    if (parts < 1) parts = 1;
    gemm_job_t job = {xq, m, k, (k + 1) / 2, weights, n, bias, y, ldy, base + x_bytes(m, k), pack_bytes(k)};
    if (parts == 1)
        gemm_part(&job, 0, 1);
    else
        swk_pool_run(pool, parts, gemm_part, &job);
    return 0;
}
