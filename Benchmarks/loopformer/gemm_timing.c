// Tiny timing of swk_gemm_bf16 and swk_gemm_q8_i8 on one thread, the LoopFormer prefill's shapes:
// thread CPU time per call, the best of 15 (each of them the mean over 20 ms of calls).
//
//   clang -O2 -std=c11 -ISources/CSwiftletKernels/include -ISources/CSwiftletKernels \
//       Benchmarks/loopformer/gemm_timing.c Sources/CSwiftletKernels/*.c -o /tmp/gemm_timing -lm -pthread
//   /tmp/gemm_timing [shape index] [0: bf16, 1: q8]
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "swk_gemm_bf16.h"
#include "swk_gemm_q8_i8.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    static const int shapes[][3] = {{32, 1024, 1024},  {128, 1024, 1024}, {32, 4096, 1024},  {128, 4096, 1024},
                                    {128, 1024, 4096}, {128, 3072, 1024}, {128, 5120, 1024}, {128, 1024, 5120}};
    const int only = argc > 1 ? atoi(argv[1]) : -1, which = argc > 2 ? atoi(argv[2]) : -1;
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
        if (only >= 0 && s != only) continue;
        const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *x = malloc(sizeof(float) * (size_t)m * k), *y = malloc(sizeof(float) * (size_t)m * n);
        float *bias = malloc(sizeof(float) * (size_t)n);
        uint16_t *wb = malloc(2 * (size_t)n * k);
        int8_t *wq = malloc((size_t)n * k + 4 * (size_t)n);
        for (size_t i = 0; i < (size_t)m * k; i++) x[i] = (float)((int)(i * 7919 % 2001) - 1000) / 1000.0f;
        for (int i = 0; i < n; i++) bias[i] = 0.01f * (float)i;
        for (size_t i = 0; i < (size_t)n * k; i++) {
            wb[i] = (uint16_t)(0x3c00 + i * 31 % 256);
            wq[i] = (int8_t)((int)(i * 37 % 255) - 127);
        }
        float *sc = (float *)(void *)(wq + (size_t)n * k); // aligned here: n · k is a multiple of 4
        for (int i = 0; i < n; i++) sc[i] = 0.01f;
        const size_t bb = swk_gemm_bf16_scratch(m, k, 1), bq = swk_gemm_q8_i8_scratch(m, k, 1);
        void *scratch = malloc(bb > bq ? bb : bq);
        for (int t = 0; t < 2; t++) {
            if (which >= 0 && t != which) continue;
            double best = 1e30;
            for (int rep = 0; rep < 15; rep++) {
                const double t0 = now();
                int calls = 0;
                do {
                    if (t == 0)
                        swk_gemm_bf16(x, k, m, wb, n, k, bias, y, n, scratch, bb, NULL);
                    else
                        swk_gemm_q8_i8(x, k, m, wq, sc, n, k, bias, y, n, scratch, bq, NULL);
                    calls++;
                } while (now() - t0 < 0.02);
                const double per = (now() - t0) / calls;
                best = per < best ? per : best;
            }
            printf("%s m=%d n=%d k=%d: %.1f us  %.1f GMAC/s\n", t ? "q8_i8" : "bf16 ", m, n, k, best * 1e6,
                   (double)m * n * k / best * 1e-9);
        }
        free(x), free(y), free(bias), free(wb), free(wq), free(scratch);
    }
    return 0;
}
