#include "swiftlet_cpu.h"

int swiftlet_cpu_features(void) {
    static int features = -1;
    if (features < 0) {
        int f = 0;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) f |= SWL_CPU_AVX2_FMA;
        if (__builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c")) f |= SWL_CPU_F16C;
        if (__builtin_cpu_supports("avx512f")) f |= SWL_CPU_AVX512F;
#endif
        features = f;  // benign race: every thread computes the same value
    }
    return features;
}
