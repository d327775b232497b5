// Model-free C kernels that need instruction sets the Swift code is not compiled for (AVX2, F16C,
// AVX-512). Each public function picks its implementation at run time from the CPU's features, so
// the library still runs on baseline x86-64. One header per kernel group sits beside this one.
#ifndef SWIFTLET_CPU_H
#define SWIFTLET_CPU_H

#ifdef __cplusplus
extern "C" {
#endif

/// CPU features the kernels dispatch on (bit set: available).
enum {
    SWL_CPU_AVX2_FMA = 1,
    SWL_CPU_F16C = 2,
    SWL_CPU_AVX512F = 4,
};

/// Detected once per process.
int swiftlet_cpu_features(void);

#ifdef __cplusplus
}
#endif

#endif
