/* stream_wav — streams a 16 kHz mono 16-bit WAV file through an LMUFormer model with the C API only,
 * as a microphone would: 10 ms of samples per push, printing the running top class as rows arrive.
 *
 *   stream_wav MODEL.swl AUDIO.wav [LABELS.txt]
 *
 * Build: gcc -std=c99 stream_wav.c $(pkg-config --cflags --libs swiftlet) -o stream_wav */
#include <swiftlet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned read_u32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (unsigned)p[3] << 24; }
static unsigned read_u16(const unsigned char *p) { return p[0] | p[1] << 8; }

/* Returns the samples of a 16 kHz mono 16-bit PCM WAV file (malloc'ed), or NULL with a message. */
static int16_t *read_wav(const char *path, uint64_t *n_samples) {
    FILE *f = fopen(path, "rb");
    unsigned char head[12], chunk[8], fmt[16];
    int16_t *samples = NULL;
    int have_fmt = 0;
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    if (fread(head, 1, 12, f) != 12 || memcmp(head, "RIFF", 4) || memcmp(head + 8, "WAVE", 4)) {
        fprintf(stderr, "%s is not a RIFF/WAVE file\n", path);
        fclose(f);
        return NULL;
    }
    while (fread(chunk, 1, 8, f) == 8) {
        unsigned size = read_u32(chunk + 4);
        if (!memcmp(chunk, "fmt ", 4) && size >= 16) {
            if (fread(fmt, 1, 16, f) != 16) break;
            if (read_u16(fmt + 2) != 1 || read_u32(fmt + 4) != 16000 || read_u16(fmt + 14) != 16) {
                fprintf(stderr, "%s: need 16 kHz mono 16-bit PCM\n", path);
                break;
            }
            have_fmt = 1;
            fseek(f, (long)(size - 16 + (size & 1)), SEEK_CUR);
        } else if (!memcmp(chunk, "data", 4) && have_fmt) {
            /* little-endian host assumed, as the library itself is x86-64/arm64 Linux */
            samples = malloc(size + 2);
            *n_samples = fread(samples, 2, size / 2, f);
            break;
        } else {
            fseek(f, (long)(size + (size & 1)), SEEK_CUR);
        }
    }
    fclose(f);
    if (!samples && have_fmt) fprintf(stderr, "%s: no data chunk\n", path);
    return samples;
}

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, swl_last_error());
    return 1;
}

int main(int argc, char **argv) {
    swl_model *model = NULL;
    swl_stream *stream = NULL;
    swl_stream_options options;
    swl_run_report report;
    char labels[64][64];
    int n_labels = 0;
    uint64_t n_samples = 0, pos, width = 0, frame = 0;
    int16_t *samples;
    int flushed = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.swl AUDIO.wav [LABELS.txt]\n", argv[0]);
        return 2;
    }
    if (argc > 3) {
        FILE *lf = fopen(argv[3], "r");
        while (lf && n_labels < 64 && fgets(labels[n_labels], sizeof labels[0], lf)) {
            labels[n_labels][strcspn(labels[n_labels], "\n")] = 0;
            n_labels++;
        }
        if (lf) fclose(lf);
    }
    samples = read_wav(argv[2], &n_samples);
    if (!samples) return 1;

    if (swl_model_load(argv[1], NULL, &model) != SWL_OK) return fail("load");
    swl_stream_options_init(&options);
    options.input_kind = SWL_STREAM_PCM; /* the model's own audio front end turns samples into frames */
    if (swl_stream_create(model, &options, &stream) != SWL_OK) return fail("stream");
    swl_stream_output_width(stream, &width);

    for (pos = 0; !flushed; pos += 160) {
        uint64_t n = n_samples - pos < 160 ? n_samples - pos : 160, ready = 0, r, k;
        const float *rows;
        swl_status st =
            pos < n_samples ? swl_stream_push_pcm(stream, samples + pos, n, &ready) : swl_stream_flush(stream, &ready);
        if (st != SWL_OK) return fail("push");
        flushed = pos >= n_samples;
        swl_stream_outputs(stream, &rows, &ready);
        for (r = 0; r < ready; r++, frame++) {
            const float *row = rows + r * width;
            uint64_t best = 0;
            for (k = 1; k < width; k++)
                if (row[k] > row[best]) best = k;
            if (frame % 25 == 0)
                printf("%5.2f s  frame %3llu  top: %s (%.3f)\n", (double)frame * 0.01, (unsigned long long)frame,
                       (int)best < n_labels ? labels[best] : "?", row[best]);
        }
    }
    swl_run_report_init(&report);
    swl_stream_report(stream, &report);
    printf("%llu rows, %.1f µs of compute in all\n", (unsigned long long)frame, report.microseconds);

    swl_stream_free(stream);
    swl_model_free(model);
    free(samples);
    return frame > 0 ? 0 : 1;
}
