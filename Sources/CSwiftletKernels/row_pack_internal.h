// Shared by gemm_bf16.c and gemm_q8_i8.c: row-major weight rows into the 16-column dword panels of
// the panel micro-kernels (swk_panel_lowp.h), per call.
#ifndef SWK_ROW_PACK_INTERNAL_H
#define SWK_ROW_PACK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/// Copies `rows` ≤ 16 rows of `bytes` bytes (row r at `src + r · stride`, any alignment) into a panel
/// of ceil(bytes / 4) steps: bytes 4q … 4q + 3 of row r at dword `panel[16q + r]` (little-endian), zero
/// past `bytes` and for rows r ≥ `rows`. With `sums` (int8 rows), also `sums[r] = Σ` of row r's bytes
/// as int8 (0 for r ≥ rows), 16 of them.
void swk_pack_row_panel(const void *src, ptrdiff_t stride, int rows, ptrdiff_t bytes, uint32_t *panel, int32_t *sums);

#endif
