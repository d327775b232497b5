/* Writes the seed corpus of fuzz_state: for each stream of fuzz_state.c's table, the state saved after
 * 0, 3 and 150 pushed frames (PCM: 800-sample pushes), as [target index][flags 0][state bytes].
 *
 * Usage: fuzz_state_seeds MODEL_DIR OUT_DIR */
#include "state_targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    static const unsigned pushes[] = {0, 3, 150};
    size_t t, p, k;
    int written = 0;
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL_DIR OUT_DIR\n", argv[0]);
        return 2;
    }
    for (t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        char path[4096];
        swl_model *m = NULL;
        snprintf(path, sizeof path, "%s/%s", argv[1], targets[t].file);
        if (swl_model_load(path, NULL, &m) != SWL_OK) {
            fprintf(stderr, "fuzz_state_seeds: %s: %s\n", path, swl_last_error());
            return 1;
        }
        for (p = 0; p < sizeof pushes / sizeof pushes[0]; p++) {
            swl_stream *st = NULL;
            swl_stream_options so;
            uint64_t width = 0, size = 0, got = 0, ready = 0;
            unsigned char *buf;
            FILE *f;
            swl_stream_options_init(&so);
            so.input_kind = targets[t].kind;
            if (swl_stream_create(m, &so, &st) != SWL_OK || swl_stream_frame_width(st, &width) != SWL_OK) {
                fprintf(stderr, "fuzz_state_seeds: %s: %s\n", path, swl_last_error());
                return 1;
            }
            for (k = 0; k < pushes[p]; k++) {
                if (targets[t].kind == SWL_STREAM_PCM) {
                    int16_t pcm[800];
                    size_t i;
                    for (i = 0; i < 800; i++) pcm[i] = (int16_t)(((k * 800 + i) * 977u) % 4000u) - 2000;
                    swl_stream_push_pcm(st, pcm, 800, &ready);
                } else {
                    float *frame = malloc((size_t)width * sizeof(float));
                    size_t i;
                    for (i = 0; i < width; i++) frame[i] = (float)(((k + 1) * (i + 3)) % 13u) / 13.0f - 0.5f;
                    swl_stream_push(st, frame, 1, &ready);
                    free(frame);
                }
            }
            swl_stream_state_size(st, &size);
            buf = malloc((size_t)size + 2);
            buf[0] = (unsigned char)t;
            buf[1] = 0;
            if (swl_stream_save_state(st, buf + 2, size, &got) != SWL_OK) {
                fprintf(stderr, "fuzz_state_seeds: save: %s\n", swl_last_error());
                return 1;
            }
            snprintf(path, sizeof path, "%s/state-%zu-%s-%u", argv[2], t,
                     targets[t].kind == SWL_STREAM_PCM ? "pcm" : "frames", pushes[p]);
            f = fopen(path, "wb");
            if (!f || fwrite(buf, 1, (size_t)got + 2, f) != (size_t)got + 2) {
                fprintf(stderr, "fuzz_state_seeds: cannot write %s\n", path);
                return 1;
            }
            fclose(f);
            free(buf);
            swl_stream_free(st);
            written++;
        }
        swl_model_free(m);
    }
    printf("fuzz_state_seeds: %d states in %s\n", written, argv[2]);
    return 0;
}
