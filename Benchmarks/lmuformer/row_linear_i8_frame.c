// The int8 products of one streamed LMUFormer q8 frame (official Speech Commands shape: C 256, M 256,
// MLP 1024, 35 classes), one row each, back to back in a loop: what `swk_row_linear_i8` costs per frame
// without the rest of the engine. The eleven matrices (1.6 MB) do not fit the 1 MiB L2, so each frame
// reads them from L3 as a stream does. Prints the median and 10th percentile over 20,000 frames; with
// an argument i, only product i (then it stays in L2).
//
//   clang -std=c11 -O2 -ISources/CSwiftletKernels/include Benchmarks/lmuformer/row_linear_i8_frame.c \
//       Sources/CSwiftletKernels/*.c -o /tmp/i8_frame -lm -pthread && /tmp/i8_frame
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "swk_row_linear.h"

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const int only = argc > 1 ? atoi(argv[1]) : -1;
    // conv0 (3 · 128 inputs), conv1–4 (3 · 256), W_h memory and input parts, proj, fc1, fc2, head.
    static const long k[11] = {384, 768, 768, 768, 768, 256, 256, 256, 256, 1024, 256};
    static const long n[11] = {256, 256, 256, 256, 256, 256, 256, 256, 1024, 256, 35};
    int8_t *w[11];
    float *s[11];
    static float x[4096], y[4096], bias[4096];
    for (int i = 0; i < 4096; i++) {
        x[i] = (float)((i * 37) % 101 - 50) / 50.0f;
        bias[i] = 0.1f;
    }
    long bytes = 0;
    for (int m = 0; m < 11; m++) {
        w[m] = malloc((size_t)(k[m] * n[m]));
        s[m] = malloc(sizeof(float) * (size_t)k[m]);
        if (!w[m] || !s[m]) return 1;
        for (long i = 0; i < k[m] * n[m]; i++) w[m][i] = (int8_t)((i * 131) % 255 - 127);
        for (long i = 0; i < k[m]; i++) s[m][i] = 0.01f;
        if (only < 0 || only == m) bytes += k[m] * n[m];
    }
    enum { FRAMES = 20000 };
    static double t[FRAMES];
    for (int f = 0; f < FRAMES; f++) {
        const double t0 = now_ns();
        for (int m = 0; m < 11; m++)
            if (only < 0 || only == m) swk_row_linear_i8(x, 1, k[m], k[m], w[m], s[m], n[m], n[m], bias, y, n[m], 0);
        t[f] = now_ns() - t0;
    }
    qsort(t, FRAMES, sizeof t[0], by_value);
    printf("%ld weight bytes per frame: median %.2f us, p10 %.2f us\n", bytes, t[FRAMES / 2] / 1e3,
           t[FRAMES / 10] / 1e3);
    return 0;
}
