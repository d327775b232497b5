#include "swk_cpu.h"

int swk_cpu_features(void) {
    static int features = -1;
    if (features < 0) {
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
        f |= SWK_CPU_NEON;
#endif
        features = f; // benign race: every thread computes the same value
    }
    return features;
}

int swk_isa_detected(void) {
    int f = swk_cpu_features();
    const int avx2 = SWK_CPU_AVX2_FMA | SWK_CPU_F16C;
    if ((f & avx2) != avx2) return SWK_ISA_PORTABLE;
    return (f & SWK_CPU_AVX512F) ? SWK_ISA_AVX512 : SWK_ISA_AVX2;
}

static _Thread_local int cap = SWK_ISA_AVX512;

int swk_isa(void) {
    int l = swk_isa_detected();
    return l < cap ? l : cap;
}

int swk_isa_set_cap(int level) {
    cap = level < SWK_ISA_PORTABLE ? SWK_ISA_PORTABLE : level;
    return swk_isa();
}
