// Copies row-major weight rows into one 16-column panel of dwords (row_pack_internal.h): the per-call
// packing of swk_gemm_bf16 and swk_gemm_q8_i8, which read a model's row-major weights in place and run
// the panel micro-kernels. With AVX-512 BW a 16 × 16 dword transpose per 64 bytes of the rows (16
// loads, 64 shuffles, 16 stores) instead of 256 four-byte copies, and the int8 row sums by VPSADBW.
#include "row_pack_internal.h"

#include <string.h>

#include "simd_internal.h"

static void pack_scalar(const uint8_t *src, ptrdiff_t stride, int rows, ptrdiff_t bytes, uint32_t *panel,
                        int32_t *sums) {
    const ptrdiff_t steps = (bytes + 3) / 4, full = bytes / 4;
    for (int r = 0; r < 16; r++) {
        uint32_t *out = panel + r;
        if (r >= rows) {
            for (ptrdiff_t q = 0; q < steps; q++) out[q * 16] = 0;
            if (sums) sums[r] = 0;
            continue;
        }
        const uint8_t *row = src + r * stride;
        for (ptrdiff_t q = 0; q < full; q++) memcpy(&out[q * 16], row + 4 * q, 4);
        if (full < steps) {
            uint8_t last[4] = {0, 0, 0, 0};
            memcpy(last, row + 4 * full, (size_t)(bytes - 4 * full));
            memcpy(&out[full * 16], last, 4);
        }
        if (sums) {
            int32_t s = 0;
            for (ptrdiff_t p = 0; p < bytes; p++) s += (int8_t)row[p];
            sums[r] = s;
        }
    }
}

#ifdef SWK_X86

#define PACK_TARGET __attribute__((target("avx512f,avx512bw,avx2,fma,f16c")))

/// out[i] = dword i of every row r[0 … 15] (out[i] lane j = r[j] lane i).
PACK_TARGET SWK_INLINE void transpose16(const __m512i *r, __m512i *out) {
    __m512i t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);     // per 128-bit lane: r_i[0] r_i+1[0] r_i[1] r_i+1[1]
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]); // r_i[2] r_i+1[2] r_i[3] r_i+1[3]
    }
    for (int g = 0; g < 16; g += 4) { // rows g … g + 3: u[g + e] lane l holds their dword 4l + e
        u[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
        u[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
        u[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
        u[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
    }
    for (int e = 0; e < 4; e++) {
        const __m512i v = _mm512_shuffle_i32x4(u[e], u[4 + e], 0x88), w = _mm512_shuffle_i32x4(u[e], u[4 + e], 0xDD);
        const __m512i x = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0x88);
        const __m512i y = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0xDD);
        out[e] = _mm512_shuffle_i32x4(v, x, 0x88);
        out[8 + e] = _mm512_shuffle_i32x4(v, x, 0xDD);
        out[4 + e] = _mm512_shuffle_i32x4(w, y, 0x88);
        out[12 + e] = _mm512_shuffle_i32x4(w, y, 0xDD);
    }
}

PACK_TARGET static void pack512(const uint8_t *src, ptrdiff_t stride, int rows, ptrdiff_t bytes, uint32_t *panel,
                                int32_t *sums) {
    const ptrdiff_t steps = (bytes + 3) / 4;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i acc[16];
    for (int r = 0; r < 16; r++) acc[r] = _mm512_setzero_si512();
    ptrdiff_t chunks = 0;
    for (ptrdiff_t t = 0; t < bytes; t += 64, chunks++) {
        const ptrdiff_t left = bytes - t;
        const __mmask64 mask = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
        __m512i r[16], out[16];
        // The rows usually come from memory (a model's weights, read once per call): 16 streams are
        // more than the hardware prefetcher follows well; 256 bytes ahead measured best (128–1024 tried).
        for (int i = 0; i < rows; i++) _mm_prefetch((const char *)src + i * stride + t + 256, _MM_HINT_T0);
        for (int i = 0; i < 16; i++) {
            r[i] = i < rows ? _mm512_maskz_loadu_epi8(mask, src + i * stride + t) : _mm512_setzero_si512();
            // Σ (byte ^ 0x80) = Σ (int8 + 128): zeros past the row count 128 each, taken off below.
            if (sums)
                acc[i] =
                    _mm512_add_epi64(acc[i], _mm512_sad_epu8(_mm512_xor_si512(r[i], flip), _mm512_setzero_si512()));
        }
        transpose16(r, out);
        const ptrdiff_t q0 = t / 4, n = steps - q0 < 16 ? steps - q0 : 16;
        for (ptrdiff_t i = 0; i < n; i++) _mm512_storeu_si512((void *)(panel + (q0 + i) * 16), out[i]);
    }
    if (sums)
        for (int i = 0; i < 16; i++)
            sums[i] = i < rows ? (int32_t)(_mm512_reduce_add_epi64(acc[i]) - 128 * 64 * (long long)chunks) : 0;
}

#endif

void swk_pack_row_panel(const void *src, ptrdiff_t stride, int rows, ptrdiff_t bytes, uint32_t *panel, int32_t *sums) {
#ifdef SWK_X86
    const unsigned bw = SWK_CPU_AVX512_VNNI | SWK_CPU_AVX512_BF16; // either comes with AVX-512 BW here
    if (swk_isa() >= SWK_ISA_AVX512 && (swk_cpu_features() & bw)) return pack512(src, stride, rows, bytes, panel, sums);
#endif
    pack_scalar(src, stride, rows, bytes, panel, sums);
}
