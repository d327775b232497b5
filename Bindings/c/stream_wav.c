/* stream_wav — streams 16 kHz mono 16-bit audio through an LMUFormer model with the C API only, as a
 * microphone would: 10 ms of samples per push. By default it prints the running top class as rows
 * arrive; with --detect it prints one line per spoken word, "<seconds> <word> <score>".
 *
 *   stream_wav [--detect] MODEL.swl AUDIO.wav [LABELS.txt]
 *   arecord -q -f S16_LE -r 16000 -c 1 | stream_wav --detect MODEL.swl -
 *
 * AUDIO is a WAV file, or - for raw s16le samples on standard input (pushed as they are read).
 * LABELS.txt (one class name per line) overrides the names the model carries.
 *
 * Build: gcc -std=c99 stream_wav.c $(pkg-config --cflags --libs swiftlet) -o stream_wav */
#include <swiftlet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIECE 160 /* samples per push: 10 ms */

static unsigned read_u32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (unsigned)p[3] << 24; }
static unsigned read_u16(const unsigned char *p) { return p[0] | p[1] << 8; }

/* Opens a 16 kHz mono 16-bit PCM WAV file positioned at its samples; *n_samples gets their count. */
static FILE *open_wav(const char *path, uint64_t *n_samples) {
    FILE *f = fopen(path, "rb");
    unsigned char head[12], chunk[8], fmt[16];
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
            *n_samples = size / 2;
            return f;
        } else {
            fseek(f, (long)(size + (size & 1)), SEEK_CUR);
        }
    }
    if (have_fmt) fprintf(stderr, "%s: no data chunk\n", path);
    fclose(f);
    return NULL;
}

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, swl_last_error());
    return 1;
}

int main(int argc, char **argv) {
    swl_model *model = NULL;
    swl_stream *stream = NULL;
    swl_stream_options options;
    swl_detector_options detector;
    swl_run_report report;
    char labels[64][64];
    int n_labels = 0, detect = 0, done = 0, arg = 1;
    uint64_t left = UINT64_MAX, width = 0, frame = 0, words = 0;
    int16_t samples[PIECE];
    FILE *audio;

    if (argc > 1 && !strcmp(argv[1], "--detect")) detect = 1, arg++;
    if (argc - arg < 2) {
        fprintf(stderr, "usage: %s [--detect] MODEL.swl AUDIO.wav|- [LABELS.txt]\n", argv[0]);
        return 2;
    }
    if (argc - arg > 2) {
        FILE *lf = fopen(argv[arg + 2], "r");
        while (lf && n_labels < 64 && fgets(labels[n_labels], sizeof labels[0], lf)) {
            labels[n_labels][strcspn(labels[n_labels], "\n")] = 0;
            n_labels++;
        }
        if (lf) fclose(lf);
    }
    /* Raw samples from standard input are little-endian, as is the host (x86-64/arm64 Linux). */
    audio = strcmp(argv[arg + 1], "-") ? open_wav(argv[arg + 1], &left) : stdin;
    if (!audio) return 1;

    if (swl_model_load(argv[arg], NULL, &model) != SWL_OK) return fail("load");
    swl_stream_options_init(&options);
    options.input_kind = SWL_STREAM_PCM; /* the model's own audio front end turns samples into frames */
    if (detect) {
        swl_detector_options_init(&detector); /* threshold 0.5, 0.3 s window, 0.3 s hold-off */
        options.detector = &detector;
    }
    if (swl_stream_create(model, &options, &stream) != SWL_OK) return fail("stream");
    swl_stream_output_width(stream, &width);

    while (!done) {
        size_t want = left < PIECE ? (size_t)left : PIECE;
        size_t got = want ? fread(samples, 2, want, audio) : 0;
        uint64_t ready = 0, r, k, n_found = 0;
        const float *rows;
        const swl_detection *found;
        swl_status st;
        left -= got;
        done = got == 0;
        st = done ? swl_stream_flush(stream, &ready) : swl_stream_push_pcm(stream, samples, got, &ready);
        if (st != SWL_OK) return fail(done ? "flush" : "push");
        if (detect) {
            if (swl_stream_detections(stream, &found, &n_found) != SWL_OK) return fail("detections");
            for (r = 0; r < n_found; r++, words++) {
                const char *name = found[r].class_index < n_labels ? labels[found[r].class_index] : found[r].label;
                printf("%.2f %s %.2f\n", found[r].seconds, name, found[r].score);
                fflush(stdout); /* each word as soon as it is found */
            }
            frame += ready;
            continue;
        }
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
    if (detect)
        fprintf(stderr, "%llu word(s) in %llu frames, %.1f µs of compute in all\n", (unsigned long long)words,
                (unsigned long long)frame, report.microseconds);
    else
        printf("%llu rows, %.1f µs of compute in all\n", (unsigned long long)frame, report.microseconds);

    swl_stream_free(stream);
    swl_model_free(model);
    if (audio != stdin) fclose(audio);
    return frame > 0 ? 0 : 1;
}
