// Times each one-frame push of an LMUFormer stream through the C ABI: 12,800 pushes (100 clips' worth)
// of seeded pseudo-random frames on one stream, one thread. Prints the median, 10th and 90th percentile
// and the mean of the per-push wall time in µs. On a shared machine the median is what the code costs:
// the mean (what `swiftlet stream` prints) also holds the time the process was preempted, and the one
// push in 128 that computes the LMU memory's free responses for the next block.
//
//   gcc -O2 -IInclude Benchmarks/lmuformer/push_timing.c -o /tmp/push_timing -Lbuild/lib -lswiftlet
//   LD_LIBRARY_PATH=build/lib /tmp/push_timing lmu_rnn_conv1d-q8.swl
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "swiftlet.h"

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: push_timing MODEL.swl\n");
        return 2;
    }
    swl_model *model;
    swl_stream *stream;
    swl_stream_options options;
    uint64_t width, ready;
    if (swl_model_load(argv[1], NULL, &model) != SWL_OK) return 1;
    swl_stream_options_init(&options);
    if (swl_stream_create(model, &options, &stream) != SWL_OK || swl_stream_frame_width(stream, &width) != SWL_OK)
        return 1;
    enum { PUSHES = 12800 };
    static double t[PUSHES];
    float *frame = malloc(sizeof(float) * width);
    if (!frame) return 1;
    unsigned seed = 1;
    for (int i = 0; i < PUSHES; i++) {
        for (uint64_t j = 0; j < width; j++) {
            seed = seed * 1103515245u + 12345u;
            frame[j] = (float)((seed >> 8) & 0xFFFF) / 32768.0f - 1.0f;
        }
        const double t0 = now_us();
        if (swl_stream_push(stream, frame, 1, &ready) != SWL_OK) return 1;
        t[i] = now_us() - t0;
    }
    double sum = 0;
    for (int i = 0; i < PUSHES; i++) sum += t[i];
    qsort(t, PUSHES, sizeof t[0], by_value);
    printf("%s: per push median %.2f us, p10 %.2f, p90 %.2f, mean %.2f\n", argv[1], t[PUSHES / 2], t[PUSHES / 10],
           t[9 * PUSHES / 10], sum / PUSHES);
    free(frame);
    swl_stream_free(stream);
    swl_model_free(model);
    return 0;
}
