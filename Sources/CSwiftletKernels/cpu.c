#include "swk_cpu.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#endif

int swk_cpu_features(void) {
    // Probed once; threads that race on the first call compute the same value, and the relaxed atomic
    // load and store make that race well defined (ThreadSanitizer reported the plain int).
    static int features = -1;
    int known = __atomic_load_n(&features, __ATOMIC_RELAXED);
    if (known < 0) {
        int f = 0;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) f |= SWK_CPU_AVX2_FMA;
        if (__builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c")) f |= SWK_CPU_F16C;
        if (__builtin_cpu_supports("avx512f")) f |= SWK_CPU_AVX512F;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
            f |= SWK_CPU_AVX512_VNNI;
        if (__builtin_cpu_supports("avx512bf16")) f |= SWK_CPU_AVX512_BF16;
#elif defined(__aarch64__)
#if defined(__linux__)
        // The kernel reports what user space may run (qemu-user reports its -cpu model's features).
        unsigned long hw = getauxval(AT_HWCAP);
        if (hw & HWCAP_ASIMD) f |= SWK_CPU_NEON;
        if ((hw & HWCAP_ASIMD) && (hw & HWCAP_ASIMDDP)) f |= SWK_CPU_NEON_DOTPROD;
#else
        // No portable run-time probe elsewhere: Advanced SIMD is part of every AArch64 ABI; the dot
        // product only where the compiler's baseline has it (e.g. Apple's arm64).
        f |= SWK_CPU_NEON;
#if defined(__ARM_FEATURE_DOTPROD)
        f |= SWK_CPU_NEON_DOTPROD;
#endif
#endif
#endif
        __atomic_store_n(&features, f, __ATOMIC_RELAXED);
        known = f;
    }
    return known;
}

int swk_isa_detected(void) {
    int f = swk_cpu_features();
#if defined(__aarch64__)
    if (!(f & SWK_CPU_NEON)) return SWK_ISA_PORTABLE;
    return (f & SWK_CPU_NEON_DOTPROD) ? SWK_ISA_NEON_DOTPROD : SWK_ISA_NEON;
#else
    const int avx2 = SWK_CPU_AVX2_FMA | SWK_CPU_F16C;
    if ((f & avx2) != avx2) return SWK_ISA_PORTABLE;
    return (f & SWK_CPU_AVX512F) ? SWK_ISA_AVX512 : SWK_ISA_AVX2;
#endif
}

/// 0 for PORTABLE (and unknown levels), 1 for x86-64's levels, 2 for AArch64's.
static int family(int level) {
    if (level == SWK_ISA_AVX2 || level == SWK_ISA_AVX512) return 1;
    if (level == SWK_ISA_NEON || level == SWK_ISA_NEON_DOTPROD) return 2;
    return 0;
}

static _Thread_local int cap = -1; // none

int swk_isa(void) {
    int l = swk_isa_detected();
    // Within a family the levels are numbered in order; a cap from the other family caps nothing.
    if (cap < 0 || (cap != SWK_ISA_PORTABLE && family(cap) != family(l))) return l;
    return l < cap ? l : cap;
}

int swk_isa_set_cap(int level) {
    cap = level < SWK_ISA_PORTABLE ? SWK_ISA_PORTABLE : level;
    return swk_isa();
}
