// The one CPU probe of the kernels, their one instruction-set vocabulary, and the element types of
// weights read in place. Every kernel picks its code path from `swk_isa()`: the best level this CPU
// runs, capped per thread by `swk_isa_set_cap` (tests and benchmarks compare the paths that way).
// Each vector path sits beside a portable C fallback in the same file: AVX2 and AVX-512 on x86-64,
// NEON (with and without the dot product) on AArch64.
#ifndef SWK_CPU_H
#define SWK_CPU_H

#ifdef __cplusplus
extern "C" {
#endif

/// CPU features (bit set: available), probed once per process.
enum {
    SWK_CPU_AVX2_FMA = 1,
    SWK_CPU_F16C = 2,
    SWK_CPU_AVX512F = 4,
    SWK_CPU_AVX512_VNNI = 8, ///< with AVX-512 BW and VL
    SWK_CPU_AVX512_BF16 = 16,
    SWK_CPU_NEON = 32,         ///< AArch64 Advanced SIMD (Linux: HWCAP_ASIMD)
    SWK_CPU_NEON_DOTPROD = 64, ///< AArch64 SDOT/UDOT, Armv8.2's dot product (Linux: HWCAP_ASIMDDP)
};

int swk_cpu_features(void);

/// Instruction-set levels, in two families: x86-64 (AVX2 < AVX-512) and AArch64 (NEON < NEON with the
/// dot product). A level includes the lower levels of its family and PORTABLE.
enum {
    SWK_ISA_PORTABLE = 0,
    SWK_ISA_AVX2 = 1,         ///< AVX2 + FMA + F16C
    SWK_ISA_AVX512 = 2,       ///< AVX-512F on top of AVX2
    SWK_ISA_NEON = 3,         ///< AArch64 Advanced SIMD, with its float16 conversions
    SWK_ISA_NEON_DOTPROD = 4, ///< NEON plus SDOT (int8 dot products summed into int32)
};

/// The best level this CPU runs.
int swk_isa_detected(void);

/// The level kernels called from this thread use: `swk_isa_detected()` capped by this thread's cap.
int swk_isa(void);

/// Caps the level of this thread's later kernel calls (other threads are not affected; helpers of a
/// pool run at their own level, so tests that cap call kernels without a pool); returns `swk_isa()`.
/// PORTABLE caps every CPU; a level of the other family caps nothing (AVX-512 on an AArch64 CPU
/// leaves it at its best NEON level), so a cap at `swk_isa_detected()` undoes any cap.
int swk_isa_set_cap(int level);

/// Element types of matrices and tables read in place.
enum {
    SWK_F32 = 0,
    SWK_F16 = 1,   ///< IEEE binary16
    SWK_BF16 = 2,  ///< bfloat16 (the high half of a float32)
    SWK_Q8ROW = 3, ///< int8, one float32 scale per row: value = q · scale
    /// Signed 4-bit values, two per byte (element 2i in the low nibble of byte i, 2i+1 in the high
    /// one), each row starting on a byte (ceil(cols / 2) bytes), one float32 scale per block of
    /// SWK_Q4_BLOCK elements of a row: value[r, c] = q · scale[r · ceil(cols / 32) + c / 32]
    /// (the .swl `q4_block` layout, Formats/swl.md §6).
    SWK_Q4BLOCK = 4,
};

/// Elements per scale of SWK_Q4BLOCK.
enum { SWK_Q4_BLOCK = 32 };

#ifdef __cplusplus
}
#endif

#endif
