/* libFuzzer harness: a .swl file from memory (swl_model_load_memory), then everything a program does
 * with a model it just loaded — metadata and tensor queries, a whole-input run with and without a
 * budget, an image through a vit's image.* preprocessing, text through a tokenizer, prefill/decode/logits
 * for language models, a frame stream and two PCM streams (one of them detecting words) with pushes,
 * flush, report and a state save/load round trip. Every family (test, vit, lmuformer, loopformer,
 * memoryformer) is reached through the seeds (Fuzz/make-seeds.sh) and the structure-aware mutator
 * (swl_mutator.c), which keeps mutants' checksums valid.
 *
 * Input: the bytes of a .swl file, as is — a crash file is a model file (`swiftlet inspect` opens it). */
#include "fuzz_common.h"
#include "swl_fuzz.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* Inputs larger than this many elements are not built (a mutated model may ask for anything). */
#define MAX_INPUT_ELEMENTS (1u << 20)
#define MAX_INPUTS         4

static size_t dtype_size(int32_t dtype) {
    switch (dtype) {
    case SWL_DTYPE_F32:
    case SWL_DTYPE_I32: return 4;
    case SWL_DTYPE_I64: return 8;
    case SWL_DTYPE_I16: return 2;
    case SWL_DTYPE_U8: return 1;
    default: return 0;
    }
}

static void query_model(swl_model *m) {
    uint32_t i, n = swl_model_metadata_count(m);
    const char *key = NULL, *value = NULL;
    swl_tensor_info info;
    if (!swl_model_family(m)) fuzz_fail("swl_model_family", SWL_OK, "NULL family for a loaded model");
    for (i = 0; i < n && i < 4096; i++) {
        if (CHECKED(swl_model_metadata_key(m, i, &key)) == SWL_OK) CHECKED(swl_model_metadata(m, key, &value));
    }
    for (i = 0; i < swl_model_input_count(m) && i < 16; i++) {
        swl_tensor_info_init(&info);
        CHECKED(swl_model_input_info(m, i, &info));
    }
    for (i = 0; i < swl_model_output_count(m) && i < 16; i++) {
        swl_tensor_info_init(&info);
        CHECKED(swl_model_output_info(m, i, &info));
    }
}

/* Builds one input per declared input: a free dimension is 2 for the first axis and 3 elsewhere;
 * floats are small values, integers small token ids. Returns the number built (0: skip the run). */
static uint32_t make_inputs(swl_model *m, swl_tensor *in, void **buffers) {
    uint32_t n = swl_model_input_count(m), i;
    if (n == 0 || n > MAX_INPUTS) return 0;
    for (i = 0; i < n; i++) {
        swl_tensor_info info;
        uint64_t count = 1;
        size_t width, k;
        int d;
        swl_tensor_info_init(&info);
        if (swl_model_input_info(m, i, &info) != SWL_OK || info.n_dims < 0 || info.n_dims > SWL_MAX_DIMS) return 0;
        width = dtype_size(info.dtype);
        if (!width) return 0;
        swl_tensor_init(&in[i]);
        in[i].dtype = info.dtype;
        in[i].n_dims = info.n_dims;
        for (d = 0; d < info.n_dims; d++) {
            int64_t dim = info.shape[d] < 0 ? (d == 0 ? 2 : 3) : info.shape[d];
            in[i].shape[d] = dim;
            if (dim > (int64_t)MAX_INPUT_ELEMENTS) return 0;
            count *= (uint64_t)dim;
            if (count > MAX_INPUT_ELEMENTS) return 0;
        }
        buffers[i] = malloc(count * width + 1);
        if (!buffers[i]) return 0;
        for (k = 0; k < count; k++) {
            unsigned char *p = (unsigned char *)buffers[i] + k * width;
            switch (info.dtype) {
            case SWL_DTYPE_F32: {
                float v = (float)((k * 7919u) % 17u) / 17.0f - 0.5f;
                memcpy(p, &v, 4);
                break;
            }
            case SWL_DTYPE_I32: {
                int32_t v = (int32_t)(k % 5u);
                memcpy(p, &v, 4);
                break;
            }
            case SWL_DTYPE_I64: {
                int64_t v = (int64_t)(k % 5u);
                memcpy(p, &v, 8);
                break;
            }
            case SWL_DTYPE_I16: {
                int16_t v = (int16_t)((k * 131u) % 2000u) - 1000;
                memcpy(p, &v, 2);
                break;
            }
            default: *p = (unsigned char)(k % 251u); break;
            }
        }
        in[i].data = buffers[i];
        in[i].size_bytes = count * width;
    }
    return n;
}

static void run_session(swl_model *m, unsigned variant) {
    swl_session *s = NULL;
    swl_session_options so;
    swl_tensor in[MAX_INPUTS], out;
    void *buffers[MAX_INPUTS] = {0};
    swl_budget b;
    swl_run_report r;
    uint32_t n, i;
    int32_t merge_r[2] = {1, -1};
    float trajectory[2] = {0.5f, 0.5f};
    const double *values = NULL;
    uint64_t count = 0, position = 0, context = 0, npos = 0, vocab = 0;
    const float *logits = NULL;
    int32_t prompt[3] = {1, 2, 0};

    swl_session_options_init(&so);
    so.n_threads = 1;
    if (CHECKED(swl_session_create(m, &so, &s)) != SWL_OK) return;

    n = make_inputs(m, in, buffers);
    if (n) {
        swl_run_report_init(&r);
        if (CHECKED(swl_session_run(s, in, n, NULL, 0, NULL, &r)) == SWL_OK) {
            for (i = 0; i < swl_model_output_count(m) && i < 16; i++) {
                swl_tensor_init(&out);
                CHECKED(swl_session_output(s, i, &out));
            }
            CHECKED(swl_session_report_values(s, "tokens_per_layer", &values, &count));
        }
        /* the same input under a budget knob, picked by the input */
        swl_budget_init(&b);
        switch (variant % 5) {
        case 0: b.loops = 2; break;
        case 1:
            b.n_trajectory = 2;
            b.trajectory = trajectory;
            break;
        case 2:
            b.n_merge_r = 2;
            b.merge_r = merge_r;
            break;
        case 3: b.max_gflops = 1e-6; break;
        default: b.max_latency_ms = 1000.0; break;
        }
        swl_run_report_init(&r);
        CHECKED(swl_session_run(s, in, n, NULL, 0, &b, &r));
    }
    for (i = 0; i < MAX_INPUTS; i++) free(buffers[i]);

    /* image input: a vit's image.* preprocessing (others refuse), on a size the input picks */
    {
        uint8_t rgb[40 * 30 * 3];
        uint32_t w = 1 + variant % 40, h = 1 + (variant / 40) % 30;
        size_t k;
        for (k = 0; k < sizeof rgb; k++) rgb[k] = (uint8_t)(k * 29u + variant);
        swl_run_report_init(&r);
        CHECKED(swl_session_run_image(s, rgb, w, h, 0, NULL, &r));
        swl_tensor_init(&out);
        CHECKED(swl_model_preprocess_image(m, rgb, w, h, 3 * w, &out));
    }

    /* language models: prefill, one decode step, logits */
    swl_run_report_init(&r);
    if (CHECKED(swl_session_prefill(s, prompt, 3, NULL, &r)) == SWL_OK) {
        CHECKED(swl_session_last_logits(s, &logits, &vocab));
        CHECKED(swl_session_decode(s, 1, &r));
        CHECKED(swl_session_logits(s, &logits, &npos, &vocab));
        CHECKED(swl_session_position(s, &position, &context));
    }
    swl_session_free(s);
}

static void run_stream(swl_model *m, int32_t kind, int detect) {
    swl_stream *st = NULL;
    swl_stream_options so;
    swl_detector_options d;
    const swl_detection *found = NULL;
    uint64_t n_found = 0;
    swl_run_report r;
    uint64_t width = 0, out_width = 0, ready = 0, rows_n = 0, size = 0, written = 0;
    const float *rows = NULL;
    float *frames;
    unsigned char *state;
    size_t k;

    swl_stream_options_init(&so);
    so.input_kind = kind;
    if (detect) {
        swl_detector_options_init(&d);
        d.window_seconds = 0.02; /* short enough for the few frames pushed here to fire */
        d.threshold = 0.3;
        so.detector = &d;
    }
    if (CHECKED(swl_stream_create(m, &so, &st)) != SWL_OK) return;
    if (CHECKED(swl_stream_frame_width(st, &width)) == SWL_OK &&
        CHECKED(swl_stream_output_width(st, &out_width)) == SWL_OK) {
        if (kind == SWL_STREAM_PCM) {
            int16_t pcm[1600];
            for (k = 0; k < 1600; k++) pcm[k] = (int16_t)((k * 977u) % 4000u) - 2000;
            CHECKED(swl_stream_push_pcm(st, pcm, 1600, &ready));
            if (detect) CHECKED(swl_stream_detections(st, &found, &n_found));
        } else if (width > 0 && width <= (1u << 16)) {
            frames = malloc(3 * width * sizeof(float));
            if (frames) {
                for (k = 0; k < 3 * width; k++) frames[k] = (float)((k * 31u) % 13u) / 13.0f - 0.5f;
                CHECKED(swl_stream_push(st, frames, 3, &ready));
                CHECKED(swl_stream_outputs(st, &rows, &rows_n));
                free(frames);
            }
        }
        if (CHECKED(swl_stream_state_size(st, &size)) == SWL_OK && size > 0 && size <= (64u << 20)) {
            state = malloc((size_t)size);
            if (state) {
                if (CHECKED(swl_stream_save_state(st, state, size, &written)) == SWL_OK)
                    CHECKED(swl_stream_load_state(st, state, written));
                free(state);
            }
        }
        CHECKED(swl_stream_flush(st, &ready));
        CHECKED(swl_stream_outputs(st, &rows, &rows_n));
        if (detect && CHECKED(swl_stream_detections(st, &found, &n_found)) == SWL_OK && n_found > 0)
            (void)strlen(found[n_found - 1].label);
        swl_run_report_init(&r);
        CHECKED(swl_stream_report(st, &r));
        CHECKED(swl_stream_reset(st));
    }
    swl_stream_free(st);
}

/* Text through a tokenizer the (mutated) model carries: tokenize, detokenize, stream the ids back,
 * and a few ids the tokenizer may not have. The text holds what reaches every branch of the split
 * (letters, digits, punctuation, whitespace runs, contractions, multi-byte characters, a special). */
static void run_text(swl_model *m) {
    static const char text[] = "It's 42 \xc3\xa9t\xc3\xa9!  \t\n def f(x):\n    return x<|endoftext|>\xf0\x9f\x99\x82";
    int32_t ids[256], odd[4] = {0, 1, -1, 1 << 30};
    char out[4096];
    uint64_t n = 0, len = 0, i;
    const char *piece = NULL;
    swl_detokenizer *d = NULL;
    if (!swl_model_has_tokenizer(m)) return;
    if (CHECKED(swl_tokenize(m, text, sizeof text - 1, ids, 256, &n)) != SWL_OK) return;
    if (n > 256) fuzz_fail("swl_tokenize", SWL_OK, "more ids than the capacity");
    CHECKED(swl_detokenize(m, ids, n, 0, out, sizeof out, &len));
    CHECKED(swl_detokenize(m, odd, 4, SWL_DETOKENIZE_SKIP_SPECIAL, out, sizeof out, &len));
    if (CHECKED(swl_detokenizer_create(m, 0, &d)) != SWL_OK) return;
    for (i = 0; i < n; i++) CHECKED(swl_detokenizer_push(d, ids[i], &piece, &len));
    CHECKED(swl_detokenizer_flush(d, &piece, &len));
    swl_detokenizer_free(d);
}

static void remember_loadable(const uint8_t *data, size_t size);

/* SWL_FUZZ_STATS=1: at exit, how far the inputs got (to tune the mutator). */
static unsigned long stat_status[SWL_ERR_CONTEXT_FULL + 1], stat_family[6];

static void print_stats(void) {
    static const char *families[] = {"test", "vit", "lmuformer", "loopformer", "memoryformer", "other"};
    int i;
    fprintf(stderr, "fuzz_model stats:");
    for (i = 0; i <= SWL_ERR_CONTEXT_FULL; i++)
        if (stat_status[i]) fprintf(stderr, " %s %lu", swl_status_name(i), stat_status[i]);
    fprintf(stderr, "; loaded:");
    for (i = 0; i < 6; i++) fprintf(stderr, " %s %lu", families[i], stat_family[i]);
    fprintf(stderr, "\n");
}

static void count_load(swl_status st, swl_model *m) {
    static int enabled = -1;
    if (enabled < 0) {
        enabled = getenv("SWL_FUZZ_STATS") != NULL;
        if (enabled) atexit(print_stats);
    }
    if (!enabled) return;
    if (st >= 0 && st <= SWL_ERR_CONTEXT_FULL) stat_status[st]++;
    if (st == SWL_OK) {
        const char *f = swl_model_family(m);
        int i = strcmp(f, "test") == 0           ? 0
                : strcmp(f, "vit") == 0          ? 1
                : strcmp(f, "lmuformer") == 0    ? 2
                : strcmp(f, "loopformer") == 0   ? 3
                : strcmp(f, "memoryformer") == 0 ? 4
                                                 : 5;
        stat_family[i]++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    swl_model *m = NULL;
    swl_load_options o;
    swl_status st;
    swl_load_options_init(&o);
    /* odd sizes: the loader copies the buffer; even sizes: it works in place on the fuzzer's bytes */
    o.flags = (size & 1) ? SWL_LOAD_COPY_BUFFER : 0;
    st = CHECKED(swl_model_load_memory(data, size, &o, &m));
    count_load(st, m);
    if (st != SWL_OK) {
        if (m) fuzz_fail("swl_model_load_memory", SWL_OK, "out_model not NULL after a failure");
        return 0;
    }
    remember_loadable(data, size);
    query_model(m);
    run_text(m);
    run_session(m, size >= 2 ? data[size / 2] : 0);
    run_stream(m, SWL_STREAM_FRAMES, 0);
    run_stream(m, SWL_STREAM_PCM, 0);
    run_stream(m, SWL_STREAM_PCM, 1);
    swl_model_free(m);
    return 0;
}

/* Inputs that loaded, kept to restart from: the corpus fills up with files that reached new error
 * paths, and mutants of those rarely load, so a third of the mutations start from a loadable file. */
#define POOL 32
static struct {
    uint8_t *data;
    size_t size;
} pool[POOL];
static unsigned pool_count;
static uint64_t pool_rng = 0x2545F4914F6CDD1DULL;

static void remember_loadable(const uint8_t *data, size_t size) {
    unsigned slot;
    uint8_t *copy;
    pool_rng = pool_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    slot = pool_count < POOL ? pool_count : (unsigned)((pool_rng >> 33) % POOL);
    if (pool_count >= POOL && (pool_rng >> 20) % 4 != 0) return; /* replace now and then */
    copy = malloc(size ? size : 1);
    if (!copy) return;
    memcpy(copy, data, size);
    if (slot < pool_count)
        free(pool[slot].data);
    else
        pool_count++;
    pool[slot].data = copy;
    pool[slot].size = size;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    if (pool_count && seed % 3 == 0) {
        unsigned i = (seed / 3) % pool_count;
        if (pool[i].size <= max_size) {
            memcpy(data, pool[i].data, pool[i].size);
            size = pool[i].size;
        }
    }
    return swlfz_mutate(data, size, max_size, seed / 3 + seed, LLVMFuzzerMutate);
}
