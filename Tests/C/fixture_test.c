/* Runs a converted golden fixture through the C API and compares with the reference output
 * (tolerance 1e-4 absolute + 1e-4 relative, the fixtures' stated bound). Includes only swiftlet.h.
 *
 *   fixture_test run    MODEL.swl INPUT.npy EXPECTED.npy OUTPUT_INDEX [budget...]
 *   fixture_test decode MODEL.swl IDS.npy   EXPECTED.npy [budget...]   (token by token via the cache)
 *   fixture_test stream MODEL.swl INPUT.npy EXPECTED.npy CHUNK         (per-frame rows, then flush)
 *   fixture_test image  MODEL.swl PIXELS.npy EXPECTED_INPUT.npy EXPECTED_LOGITS.npy PLAIN_MODEL.swl
 *       PIXELS: uint8 [H, W, 3] as Pillow decoded the image; EXPECTED_INPUT: timm's transform [1, 3, h, w]
 *       (checked to one 8-bit level per pixel); EXPECTED_LOGITS: the reference model on it; MODEL converted
 *       with --preprocess, PLAIN_MODEL without (refused)
 *
 * budget words: loops=N  traj=a,b,c  r=a,b,c
 * Prints "N passed, N failed". */
#include "swiftlet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed = 0, failed = 0;

typedef struct {
    int dtype; /* SWL_DTYPE_F32 or SWL_DTYPE_I32 */
    int n_dims;
    int64_t shape[8];
    int64_t count;
    void *data;
} array;

/* Minimal .npy reader: version 1-3, little-endian <f4 / <i4 / <i8 (converted to int32) / |u1, C order. */
static int read_npy(const char *path, array *a) {
    FILE *f = fopen(path, "rb");
    unsigned char magic[8];
    unsigned int hlen;
    char *header, *p;
    int64_t i;
    int ok = 0, elem = 4, is_i8 = 0;
    memset(a, 0, sizeof *a);
    if (!f) return 0;
    if (fread(magic, 1, 8, f) != 8 || magic[0] != 0x93 || memcmp(magic + 1, "NUMPY", 5) != 0) goto done;
    if (magic[6] == 1) {
        unsigned char b[2];
        if (fread(b, 1, 2, f) != 2) goto done;
        hlen = b[0] | (unsigned)b[1] << 8;
    } else {
        unsigned char b[4];
        if (fread(b, 1, 4, f) != 4) goto done;
        hlen = b[0] | (unsigned)b[1] << 8 | (unsigned)b[2] << 16 | (unsigned)b[3] << 24;
    }
    header = calloc(hlen + 1, 1);
    if (!header || fread(header, 1, hlen, f) != hlen) {
        free(header);
        goto done;
    }
    if (strstr(header, "'<f4'"))
        a->dtype = SWL_DTYPE_F32;
    else if (strstr(header, "'<i4'"))
        a->dtype = SWL_DTYPE_I32;
    else if (strstr(header, "'|u1'")) {
        a->dtype = SWL_DTYPE_U8;
        elem = 1;
    } else if (strstr(header, "'<i8'")) {
        a->dtype = SWL_DTYPE_I32;
        is_i8 = 1;
        elem = 8;
    }
    if (!a->dtype || strstr(header, "True")) {
        free(header);
        goto done;
    }
    p = strchr(strstr(header, "shape"), '(') + 1;
    a->count = 1;
    while (*p && *p != ')') {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        a->shape[a->n_dims++] = v;
        a->count *= v;
        p = end;
    }
    free(header);
    a->data = malloc((size_t)(a->count * elem) + 1);
    if (fread(a->data, (size_t)elem, (size_t)a->count, f) != (size_t)a->count) goto done;
    if (is_i8) {
        int64_t *src = (int64_t *)a->data;
        int32_t *dst = (int32_t *)a->data;
        for (i = 0; i < a->count; i++) dst[i] = (int32_t)src[i];
    }
    ok = 1;
done:
    fclose(f);
    return ok;
}

static int parse_floats(const char *s, float *out, int max) {
    int n = 0;
    while (*s && n < max) {
        char *end;
        out[n++] = strtof(s, &end);
        s = *end == ',' ? end + 1 : end;
        if (end == s && *end != ',') break;
    }
    return n;
}

static void parse_budget(int argc, char **argv, swl_budget *b, float *traj, int32_t *r) {
    int i;
    swl_budget_init(b);
    for (i = 0; i < argc; i++) {
        if (strncmp(argv[i], "loops=", 6) == 0)
            b->loops = atoi(argv[i] + 6);
        else if (strncmp(argv[i], "traj=", 5) == 0) {
            b->n_trajectory = parse_floats(argv[i] + 5, traj, 64);
            b->trajectory = traj;
        } else if (strncmp(argv[i], "r=", 2) == 0) {
            float tmp[64];
            int k, n = parse_floats(argv[i] + 2, tmp, 64);
            for (k = 0; k < n; k++) r[k] = (int32_t)tmp[k];
            b->n_merge_r = n;
            b->merge_r = r;
        }
    }
}

/* Compares n floats; counts one check. */
static void compare(const char *what, const float *got, const float *want, int64_t n) {
    int64_t i, bad = -1;
    double max_abs = 0;
    for (i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (d > max_abs || d != d) max_abs = d;
        if (!(d <= 1e-4 + 1e-4 * fabs((double)want[i])) && bad < 0) bad = i;
    }
    if (bad < 0) {
        passed++;
        printf("ok   %s: %lld values, max abs error %.3g\n", what, (long long)n, max_abs);
    } else {
        failed++;
        printf("FAIL %s: value %lld is %g, expected %g (max abs error %.3g)\n", what, (long long)bad, got[bad],
               want[bad], max_abs);
    }
}

/* Counts one check: `got` is `want`. */
static void expect_status(swl_status got, swl_status want, const char *what) {
    if (got == want) {
        passed++;
        printf("ok   %s: %s\n", what, swl_status_name(got));
    } else {
        failed++;
        printf("FAIL %s: %s, expected %s (%s)\n", what, swl_status_name(got), swl_status_name(want), swl_last_error());
    }
}

static int status_ok(swl_status s, const char *what) {
    if (s == SWL_OK) return 1;
    failed++;
    printf("FAIL %s: %s: %s\n", what, swl_status_name(s), swl_last_error());
    return 0;
}

static void make_tensor(swl_tensor *t, const array *a) {
    int d;
    swl_tensor_init(t);
    t->dtype = a->dtype;
    t->n_dims = a->n_dims;
    for (d = 0; d < a->n_dims; d++) t->shape[d] = a->shape[d];
    t->data = a->data;
    t->size_bytes = (uint64_t)a->count * 4;
}

/* The image path: preprocessing against timm's tensor, logits against the reference, and the refusals. */
static void test_image(swl_model *model, const array *pixels, const array *want_input, const char *logits_path,
                       const char *plain_path) {
    const uint8_t *rgb = (const uint8_t *)pixels->data;
    uint32_t h = (uint32_t)pixels->shape[0], w = (uint32_t)pixels->shape[1];
    /* timm's std, to count differences in 8-bit levels: |Δ| · std · 255 */
    const double std[3] = {0.229, 0.224, 0.225};
    array want_logits;
    swl_tensor t;
    swl_session *s = NULL;
    swl_model *plain = NULL;
    float *got = NULL;
    uint8_t *padded;
    int64_t i, n = want_input->count, plane = n / 3;
    uint32_t y;
    double worst = 0;

    if (!read_npy(logits_path, &want_logits)) {
        failed++;
        printf("FAIL cannot read %s\n", logits_path);
        return;
    }
    /* the shape first (no buffer), then the values */
    swl_tensor_init(&t);
    expect_status(swl_model_preprocess_image(model, rgb, w, h, 0, &t), SWL_ERR_BUFFER_TOO_SMALL, "shape query");
    if (t.n_dims != 4 || t.dtype != SWL_DTYPE_F32 || t.shape[0] * t.shape[1] * t.shape[2] * t.shape[3] != n) {
        failed++;
        printf("FAIL preprocess shape: %d dims\n", (int)t.n_dims);
        goto done;
    }
    got = malloc((size_t)n * sizeof(float));
    t.data = got;
    t.size_bytes = (uint64_t)n * sizeof(float) - 1;
    expect_status(swl_model_preprocess_image(model, rgb, w, h, 0, &t), SWL_ERR_BUFFER_TOO_SMALL, "buffer 1 byte short");
    t.size_bytes = (uint64_t)n * sizeof(float);
    if (!status_ok(swl_model_preprocess_image(model, rgb, w, h, 0, &t), "preprocess")) goto done;
    for (i = 0; i < n; i++) {
        double levels = fabs((double)got[i] - (double)((const float *)want_input->data)[i]) * std[i / plane] * 255;
        if (levels > worst || levels != levels) worst = levels;
    }
    if (worst <= 1.001) {
        passed++;
        printf("ok   preprocess %ux%u image: %lld values, max difference %.3g 8-bit levels\n", w, h, (long long)n,
               worst);
    } else {
        failed++;
        printf("FAIL preprocess %ux%u image: max difference %.3g 8-bit levels\n", w, h, worst);
    }

    /* the session path, packed rows and rows 5 bytes apart beyond the pixels: the same logits */
    padded = malloc((size_t)h * (3 * w + 5));
    for (y = 0; y < h; y++) memcpy(padded + y * (3 * w + 5), rgb + y * 3 * w, 3 * w);
    if (status_ok(swl_session_create(model, NULL, &s), "session")) {
        swl_tensor out;
        float first[64];
        if (status_ok(swl_session_run_image(s, rgb, w, h, 0, NULL, NULL), "run image") &&
            status_ok(swl_session_output(s, 0, &out), "output") && out.size_bytes == (uint64_t)want_logits.count * 4 &&
            want_logits.count <= 64) {
            compare("run image: logits", (const float *)out.data, (const float *)want_logits.data, want_logits.count);
            memcpy(first, out.data, (size_t)out.size_bytes);
            if (status_ok(swl_session_run_image(s, padded, w, h, 3 * w + 5, NULL, NULL), "run strided image") &&
                status_ok(swl_session_output(s, 0, &out), "output")) {
                int same = memcmp(first, out.data, (size_t)out.size_bytes) == 0;
                passed += same;
                failed += !same;
                printf("%s row stride %u: the same logits\n", same ? "ok  " : "FAIL", 3 * w + 5);
            }
        } else {
            failed++;
            printf("FAIL run image: no logits of %lld values\n", (long long)want_logits.count);
        }
        /* bad images: refused, and the session keeps working */
        expect_status(swl_session_run_image(s, rgb, 0, h, 0, NULL, NULL), SWL_ERR_SHAPE, "width 0");
        expect_status(swl_session_run_image(s, rgb, w, 70000, 0, NULL, NULL), SWL_ERR_SHAPE, "height 70000");
        expect_status(swl_session_run_image(s, rgb, 4000000000u, 1, 0, NULL, NULL), SWL_ERR_SHAPE, "width 4e9");
        expect_status(swl_session_run_image(s, rgb, w, h, 3 * w - 1, NULL, NULL), SWL_ERR_INVALID_ARGUMENT,
                      "row stride one byte short");
        expect_status(swl_session_run_image(s, rgb, w, h, UINT64_MAX, NULL, NULL), SWL_ERR_INVALID_ARGUMENT,
                      "row stride 2^64-1");
        expect_status(swl_session_run_image(s, rgb, w, 65535, UINT64_MAX / 65536, NULL, NULL), SWL_ERR_SHAPE,
                      "stride x height overflows");
        expect_status(swl_session_run_image(s, NULL, w, h, 0, NULL, NULL), SWL_ERR_INVALID_ARGUMENT, "NULL pixels");
        expect_status(swl_session_run_image(s, rgb, w, h, 0, NULL, NULL), SWL_OK, "a good image after them");
    }
    swl_session_free(s);
    free(padded);
    s = NULL;

    /* a vit converted without --preprocess: refused, saying how to fix it */
    if (status_ok(swl_model_load(plain_path, NULL, &plain), "load plain model") &&
        status_ok(swl_session_create(plain, NULL, &s), "session")) {
        expect_status(swl_session_run_image(s, rgb, w, h, 0, NULL, NULL), SWL_ERR_UNSUPPORTED,
                      "model without preprocessing");
        if (strstr(swl_last_error(), "--preprocess") == NULL) {
            failed++;
            printf("FAIL the message does not say to convert with --preprocess: %s\n", swl_last_error());
        }
        expect_status(swl_model_preprocess_image(plain, rgb, w, h, 0, &t), SWL_ERR_UNSUPPORTED,
                      "preprocess without preprocessing");
    }
    swl_session_free(s);
    swl_model_free(plain);
done:
    free(got);
    free(want_logits.data);
}

int main(int argc, char **argv) {
    swl_model *model = NULL;
    array in, want;
    swl_budget budget;
    float traj[64];
    int32_t r[64];
    if (argc < 5) {
        fprintf(stderr, "usage: see the comment at the top of fixture_test.c\n");
        return 2;
    }
    if (!read_npy(argv[3], &in) || !read_npy(argv[4], &want)) {
        fprintf(stderr, "cannot read %s or %s\n", argv[3], argv[4]);
        return 2;
    }
    if (!status_ok(swl_model_load(argv[2], NULL, &model), "load")) goto end;

    if (strcmp(argv[1], "run") == 0) {
        swl_session *s = NULL;
        swl_tensor t, out;
        swl_run_report rep;
        char what[256];
        int index = argc > 5 ? atoi(argv[5]) : 0;
        parse_budget(argc - 6, argv + 6, &budget, traj, r);
        make_tensor(&t, &in);
        swl_run_report_init(&rep);
        if (status_ok(swl_session_create(model, NULL, &s), "session") &&
            status_ok(swl_session_run(s, &t, 1, NULL, 0, &budget, &rep), "run") &&
            status_ok(swl_session_output(s, (uint32_t)index, &out), "output")) {
            int64_t n = 1;
            int d;
            for (d = 0; d < out.n_dims; d++) n *= out.shape[d];
            snprintf(what, sizeof what, "run %s output %d (%s)", argv[2], index, rep.choice);
            if (n != want.count) {
                failed++;
                printf("FAIL %s: %lld values, expected %lld\n", what, (long long)n, (long long)want.count);
            } else {
                compare(what, (const float *)out.data, (const float *)want.data, n);
            }
        }
        swl_session_free(s);
    } else if (strcmp(argv[1], "decode") == 0) {
        /* ids [B, T], expected [B, T, V]: each sequence token by token through the cache */
        swl_session *s = NULL;
        int64_t b, t, B = in.shape[0], T = in.shape[1], V = want.shape[2];
        const int32_t *ids = (const int32_t *)in.data;
        parse_budget(argc - 5, argv + 5, &budget, traj, r);
        if (status_ok(swl_session_create(model, NULL, &s), "session")) {
            float *got = malloc((size_t)(B * T * V) * sizeof(float));
            for (b = 0; b < B; b++) {
                for (t = 0; t < T; t++) {
                    const float *logits;
                    uint64_t positions, vocab;
                    swl_status st = t == 0 ? swl_session_prefill(s, ids + b * T, 1, &budget, NULL)
                                           : swl_session_decode(s, ids[b * T + t], NULL);
                    if (!status_ok(st, "prefill/decode") ||
                        !status_ok(swl_session_logits(s, &logits, &positions, &vocab), "logits"))
                        break;
                    memcpy(got + (b * T + t) * V, logits + (positions - 1) * vocab, (size_t)V * sizeof(float));
                }
            }
            compare("decode token by token", got, (const float *)want.data, B * T * V);
            free(got);
        }
        swl_session_free(s);
    } else if (strcmp(argv[1], "stream") == 0) {
        /* input [B, T, C], expected [B, T, K]: each clip streamed CHUNK frames at a time */
        swl_stream *st = NULL;
        int64_t chunk = atoll(argv[5]), b, B = in.shape[0], T = in.shape[1], C = in.shape[2], K = want.shape[2];
        if (status_ok(swl_stream_create(model, NULL, &st), "stream")) {
            float *got = malloc((size_t)(B * T * K) * sizeof(float));
            char what[128];
            for (b = 0; b < B; b++) {
                int64_t t = 0, rows = 0;
                swl_stream_reset(st);
                while (t <= T) {
                    uint64_t n = 0, nr = 0;
                    const float *out;
                    int64_t m = t + chunk <= T ? chunk : T - t;
                    swl_status s2 = t < T
                                        ? swl_stream_push(st, (const float *)in.data + (b * T + t) * C, (uint64_t)m, &n)
                                        : swl_stream_flush(st, &n);
                    if (!status_ok(s2, "push/flush") || !status_ok(swl_stream_outputs(st, &out, &nr), "outputs")) break;
                    if (rows + (int64_t)nr > T) {
                        failed++;
                        printf("FAIL too many rows\n");
                        break;
                    }
                    memcpy(got + (b * T + rows) * K, out, (size_t)(nr * (uint64_t)K) * sizeof(float));
                    rows += (int64_t)nr;
                    t = t < T ? t + m : T + 1;
                }
                if (rows != T) {
                    failed++;
                    printf("FAIL clip %lld: %lld rows, expected %lld\n", (long long)b, (long long)rows, (long long)T);
                }
            }
            snprintf(what, sizeof what, "stream in chunks of %lld", (long long)chunk);
            compare(what, got, (const float *)want.data, B * T * K);
            free(got);
        }
        swl_stream_free(st);
    } else if (strcmp(argv[1], "image") == 0 && argc == 7 && in.dtype == SWL_DTYPE_U8 && in.n_dims == 3) {
        test_image(model, &in, &want, argv[5], argv[6]);
    } else {
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
end:
    swl_model_free(model);
    free(in.data);
    free(want.data);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
