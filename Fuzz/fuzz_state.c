/* libFuzzer harness: swl_stream_load_state on hostile bytes, then the stream is used (push, flush,
 * outputs, report, save) so that a state that loads must also run.
 *
 * Input: byte 0 picks the stream (see `targets`), byte 1 holds flags, the rest is the state:
 *   bit 0  end the state with its correct checksum, so that mutants reach the field checks behind it:
 *          XXH64 seeded with the model's fingerprint for the test model, FNV-1a 64 for lmuformer;
 *   bit 1  cut or zero-pad the state to the size this stream expects;
 *   bit 2  push (flags >> 4) + 1 frames before loading, so the load replaces a non-empty state.
 * Models come from $SWL_FUZZ_MODELS (default build/fuzz/seeds/model): test.swl, lmu-test.swl,
 * slmu-ms-test.swl and audio-demo.swl, made by Fuzz/make-seeds.sh. */
#include "fuzz_common.h"
#include "state_targets.h"
#include "swl_fuzz.h"

#include <string.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static swl_model *models[N_TARGETS];
/* Weights.fingerprint: XXH64 of the general.tensor_hash string (seeds the test model's state checksum). */
static uint64_t fingerprints[N_TARGETS];
static int verbose;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *dir = getenv("SWL_FUZZ_MODELS");
    size_t i, loaded = 0;
    char path[4096];
    (void)argc;
    (void)argv;
    if (!dir) dir = "build/fuzz/seeds/model";
    verbose = getenv("SWL_FUZZ_VERBOSE") != NULL; /* print why each state was refused */
    for (i = 0; i < N_TARGETS; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, targets[i].file);
        if (swl_model_load(path, NULL, &models[i]) == SWL_OK) {
            const char *hash = NULL;
            if (swl_model_metadata(models[i], "general.tensor_hash", &hash) == SWL_OK)
                fingerprints[i] = swlfz_xxh64(hash, strlen(hash), 0);
            loaded++;
        } else {
            fprintf(stderr, "fuzz_state: cannot load %s: %s\n", path, swl_last_error());
        }
    }
    if (!loaded) {
        fprintf(stderr, "fuzz_state: no models; run Fuzz/make-seeds.sh or set SWL_FUZZ_MODELS\n");
        exit(1);
    }
    return 0;
}

static void push_frames(swl_stream *st, int32_t kind, uint64_t width, unsigned n) {
    uint64_t ready = 0, rows_n = 0;
    const float *rows = NULL;
    size_t k;
    if (kind == SWL_STREAM_PCM) {
        int16_t pcm[800];
        for (k = 0; k < 800; k++) pcm[k] = (int16_t)((k * 977u) % 4000u) - 2000;
        for (k = 0; k < n; k++) CHECKED(swl_stream_push_pcm(st, pcm, 800, &ready));
    } else if (width > 0 && width <= 4096) {
        float *frames = malloc((size_t)(n * width) * sizeof(float));
        if (!frames) return;
        for (k = 0; k < n * width; k++) frames[k] = (float)((k * 31u) % 13u) / 13.0f - 0.5f;
        CHECKED(swl_stream_push(st, frames, n, &ready));
        free(frames);
    }
    CHECKED(swl_stream_outputs(st, &rows, &rows_n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned which, flags;
    swl_stream *st = NULL;
    swl_stream_options so;
    swl_run_report r;
    uint64_t width = 0, expected = 0, ready = 0, written = 0;
    uint8_t *state;
    size_t n;

    if (size < 2) return 0;
    which = data[0] % N_TARGETS;
    flags = data[1];
    if (!models[which]) return 0;
    swl_stream_options_init(&so);
    so.input_kind = targets[which].kind;
    if (CHECKED(swl_stream_create(models[which], &so, &st)) != SWL_OK) return 0;
    CHECKED(swl_stream_frame_width(st, &width));
    CHECKED(swl_stream_state_size(st, &expected));

    n = size - 2;
    if ((flags & 2) && expected <= (1u << 24)) n = (size_t)expected;
    state = malloc(n + 1);
    if (!state) goto done;
    memset(state, 0, n + 1);
    memcpy(state, data + 2, n < size - 2 ? n : size - 2);
    if ((flags & 1) && n >= 8) {
        uint64_t sum = which == 0 ? swlfz_xxh64(state, n - 8, fingerprints[which]) : swlfz_fnv1a64(state, n - 8);
        int i;
        for (i = 0; i < 8; i++) state[n - 8 + i] = (uint8_t)(sum >> (8 * i));
    }
    if (flags & 4) push_frames(st, targets[which].kind, width, (flags >> 4) + 1);

    if (CHECKED(swl_stream_load_state(st, state, n)) != SWL_OK) {
        if (verbose) fprintf(stderr, "fuzz_state: target %u refused the state: %s\n", which, swl_last_error());
    } else {
        /* a state that loads must run, report and save again */
        uint8_t *again = malloc(n + 1);
        push_frames(st, targets[which].kind, width, 2);
        CHECKED(swl_stream_flush(st, &ready));
        swl_run_report_init(&r);
        CHECKED(swl_stream_report(st, &r));
        if (again && CHECKED(swl_stream_save_state(st, again, n, &written)) == SWL_OK && written != n)
            fuzz_fail("swl_stream_save_state", SWL_OK, "the state size changed");
        free(again);
    }
    free(state);
done:
    swl_stream_free(st);
    return 0;
}

/* Half of the mutations write a boundary value into one aligned 4- or 8-byte word of the state (counts,
 * sizes, float bit patterns): the fields of every state format are aligned words. A few change the
 * stream or the flags; the rest are libFuzzer's byte mutations. */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    static const uint64_t words[] = {0,
                                     1,
                                     2,
                                     3,
                                     0xff,
                                     0x100,
                                     0xffff,
                                     0x10000,
                                     0x7fffffff,
                                     0x80000000,
                                     0xffffffff,
                                     0x100000000ULL,
                                     1ULL << 53,
                                     (1ULL << 53) + 1,
                                     0x7ffffffffffffffeULL,
                                     0x7fffffffffffffffULL,
                                     0x8000000000000000ULL,
                                     0xffffffffffffffffULL,
                                     0x7fc00000,
                                     0x7f800000,
                                     0xff800000,
                                     0x7f7fffff,
                                     0x7ff8000000000000ULL,
                                     0x7ff0000000000000ULL,
                                     0x7fefffffffffffffULL};
    uint64_t r = seed * 0x9E3779B97F4A7C15ULL;
    r ^= r >> 29;
    if (size > 2 && (r & 3) < 2) {
        size_t n = size - 2, width = (r & 4) ? 8 : 4, at;
        uint64_t v = words[(r >> 8) % (sizeof words / sizeof words[0])];
        int i;
        if (n >= width) {
            at = 2 + ((r >> 16) % (n / width)) * width;
            if ((r >> 40) % 4 == 0) v = 0 - v; /* and the negatives */
            for (i = 0; i < (int)width; i++) data[at + i] = (uint8_t)(v >> (8 * i));
            if ((r >> 44) % 8 < 6) data[1] |= 1; /* usually keep the checksum right */
            return size;
        }
    }
    if (size >= 2 && (r & 3) == 2 && ((r >> 8) & 7) == 0) {
        data[(r >> 12) & 1] = (uint8_t)(r >> 16);
        return size;
    }
    return LLVMFuzzerMutate(data, size, max_size);
}
