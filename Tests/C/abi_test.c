/* The C ABI test: includes only swiftlet.h, calls every function of the interface on the built-in test
 * model (made by `swiftlet create-test-model`), and prints "N passed, N failed" (checks: check.h).
 *
 * Usage: abi_test TEST_MODEL.swl
 * Built with: gcc -std=c99 -Wall -Wextra -Werror -pedantic (see the Makefile). */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "swiftlet.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compile-time layout checks (C99 has no static_assert): a negative array size fails the build. */
#define LAYOUT_CHECK(name, cond) typedef char layout_check_##name[(cond) ? 1 : -1]
LAYOUT_CHECK(tensor_first_field, offsetof(swl_tensor, struct_size) == 0);
LAYOUT_CHECK(budget_first_field, offsetof(swl_budget, struct_size) == 0);
LAYOUT_CHECK(report_first_field, offsetof(swl_run_report, struct_size) == 0);
LAYOUT_CHECK(tensor_shape_at_16, offsetof(swl_tensor, shape) == 16);
LAYOUT_CHECK(tensor_size, sizeof(swl_tensor) == 96);
LAYOUT_CHECK(budget_latency_at_8, offsetof(swl_budget, max_latency_ms) == 8);
/* Appended fields: where they land decides whether an older caller's shorter struct stays valid. */
LAYOUT_CHECK(budget_generation_tokens_at_80, offsetof(swl_budget, generation_tokens) == 80);
LAYOUT_CHECK(budget_min_quality_at_88, offsetof(swl_budget, min_quality) == 88);
LAYOUT_CHECK(budget_generation_ms_at_96, offsetof(swl_budget, generation_ms) == 96);
LAYOUT_CHECK(budget_size, sizeof(swl_budget) == 104);
LAYOUT_CHECK(report_predicted_us_at_72, offsetof(swl_run_report, predicted_us) == 72);
LAYOUT_CHECK(report_predicted_quality_at_88, offsetof(swl_run_report, predicted_quality) == 88);
LAYOUT_CHECK(report_size, sizeof(swl_run_report) == 96);
LAYOUT_CHECK(session_options_flags_at_24, offsetof(swl_session_options, flags) == 24);

static unsigned char *read_file(const char *path, long *size) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)*size);
    if (buf && fread(buf, 1, (size_t)*size, f) != (size_t)*size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static int write_file(const char *path, const unsigned char *data, long size) {
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f) return 0;
    ok = fwrite(data, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    return ok;
}

static void make_input(swl_tensor *t, float *data, int64_t rows) {
    swl_tensor_init(t);
    t->dtype = SWL_DTYPE_F32;
    t->n_dims = 2;
    t->shape[0] = rows;
    t->shape[1] = 4;
    t->data = data;
    t->size_bytes = (uint64_t)(rows * 4 * sizeof(float));
}

/* ---- log callback ---- */
static int log_lines = 0;
static void on_log(int32_t level, const char *message, void *user_data) {
    (void)level;
    (void)message;
    (void)user_data;
    log_lines++;
}

/* ---- abort callback: stop at the first poll ---- */
static int32_t abort_now(void *user_data) {
    int *calls = (int *)user_data;
    (*calls)++;
    return 1;
}

/* ---- busy test: thread A holds the session inside its abort callback while B calls in ---- */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int inside;
    int released;
} busy_sync;

static int32_t hold_in_callback(void *user_data) {
    busy_sync *s = (busy_sync *)user_data;
    pthread_mutex_lock(&s->lock);
    s->inside = 1;
    pthread_cond_broadcast(&s->cond);
    while (!s->released) pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void busy_sync_init(busy_sync *s) {
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->inside = 0;
    s->released = 0;
}

/* Runs `body(arg)` in thread `t` and returns once that thread sits in hold_in_callback. */
static void busy_sync_start(busy_sync *s, pthread_t *t, void *(*body)(void *), void *arg) {
    pthread_create(t, NULL, body, arg);
    pthread_mutex_lock(&s->lock);
    while (!s->inside) pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

/* Lets the thread out of the callback, joins it and destroys the sync. */
static void busy_sync_finish(busy_sync *s, pthread_t t) {
    pthread_mutex_lock(&s->lock);
    s->released = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(t, NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
}

typedef struct {
    swl_session *session;
    swl_status status;
} run_args;

static void *run_in_thread(void *p) {
    run_args *a = (run_args *)p;
    float x[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
    swl_tensor in;
    make_input(&in, x, 2);
    a->status = swl_session_run(a->session, &in, 1, NULL, 0, NULL, NULL);
    return NULL;
}

static void test_versions(void) {
    CHECK(swl_abi_version() == SWL_ABI_VERSION, "abi %u", swl_abi_version());
    CHECK(swl_version() != NULL && strlen(swl_version()) > 0, "version string");
    CHECK(strcmp(swl_status_name(SWL_ERR_SHAPE), "SWL_ERR_SHAPE") == 0, "status name");
    CHECK(strcmp(swl_status_name(12345), "SWL_ERR_UNKNOWN") == 0, "unknown status name");
    CHECK(swl_last_error() != NULL, "last error never NULL");
}

static void test_bad_files(const unsigned char *good, long size) {
    swl_model *m = (swl_model *)1;
    unsigned char *copy = malloc((size_t)size);
    const char *lfs = "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n";
    long i;

    CHECK_STATUS(swl_model_load("/nonexistent/model.swl", NULL, &m), SWL_ERR_IO);
    CHECK(m == NULL, "out_model cleared on failure");
    CHECK(strstr(swl_last_error(), "nonexistent") != NULL, "message names the path: %s", swl_last_error());
    CHECK_STATUS(swl_model_load(NULL, NULL, &m), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_model_load("x", NULL, NULL), SWL_ERR_INVALID_ARGUMENT);

    /* truncated */
    CHECK_STATUS(swl_model_load_memory(good, (uint64_t)(size / 2), NULL, &m), SWL_ERR_FORMAT);
    CHECK_STATUS(swl_model_load_memory(good, 3, NULL, &m), SWL_ERR_FORMAT);
    /* random bytes */
    srand(7);
    for (i = 0; i < size; i++) copy[i] = (unsigned char)(rand() & 0xff);
    CHECK_STATUS(swl_model_load_memory(copy, (uint64_t)size, NULL, &m), SWL_ERR_FORMAT);
    /* Git LFS pointer */
    CHECK_STATUS(swl_model_load_memory(lfs, strlen(lfs), NULL, &m), SWL_ERR_FORMAT);
    CHECK(strstr(swl_last_error(), "LFS") != NULL, "LFS message: %s", swl_last_error());
    /* a flipped byte in the last tensor's data: caught by its checksum with eager verification */
    memcpy(copy, good, (size_t)size);
    copy[size - 1] ^= 0x40;
    {
        swl_load_options o;
        swl_status st;
        swl_load_options_init(&o);
        o.flags = SWL_LOAD_VERIFY_EAGER;
        st = swl_model_load_memory(copy, (uint64_t)size, &o, &m);
        CHECK(st == SWL_ERR_CHECKSUM || st == SWL_ERR_FORMAT, "flipped byte gives %s", swl_status_name(st));
        o.flags = 0x80;
        CHECK_STATUS(swl_model_load_memory(good, (uint64_t)size, &o, &m), SWL_ERR_INVALID_ARGUMENT);
        o.struct_size = 0;
        CHECK_STATUS(swl_model_load_memory(good, (uint64_t)size, &o, &m), SWL_ERR_INVALID_ARGUMENT);
    }
    free(copy);
}

static void test_model_queries(swl_model *m) {
    const char *value = NULL, *key = NULL;
    uint32_t i, n;
    swl_tensor_info info;

    CHECK(strcmp(swl_model_family(m), "test") == 0, "family %s", swl_model_family(m));
    CHECK(swl_model_family(NULL) == NULL, "family of NULL");
    CHECK_STATUS(swl_model_metadata(m, "test.width", &value), SWL_OK);
    CHECK(value && strcmp(value, "4") == 0, "test.width = %s", value ? value : "(null)");
    CHECK_STATUS(swl_model_metadata(m, "no.such.key", &value), SWL_ERR_NOT_FOUND);
    n = swl_model_metadata_count(m);
    CHECK(n >= 6, "metadata count %u", n);
    for (i = 0; i < n; i++) {
        CHECK_STATUS(swl_model_metadata_key(m, i, &key), SWL_OK);
        CHECK_STATUS(swl_model_metadata(m, key, &value), SWL_OK);
    }
    CHECK_STATUS(swl_model_metadata_key(m, n, &key), SWL_ERR_NOT_FOUND);

    /* create-test-model names the three classes. */
    CHECK(swl_model_label_count(m) == 3 && swl_model_label_count(NULL) == 0, "label count");
    CHECK_STATUS(swl_model_label(m, 1, &value), SWL_OK);
    CHECK(value && strcmp(value, "middle") == 0, "label 1 = %s", value ? value : "(null)");
    CHECK_STATUS(swl_model_label(m, 3, &value), SWL_ERR_NOT_FOUND);
    CHECK_STATUS(swl_model_label(m, 0, NULL), SWL_ERR_INVALID_ARGUMENT);

    CHECK(swl_model_input_count(m) == 1 && swl_model_output_count(m) == 1, "io counts");
    swl_tensor_info_init(&info);
    CHECK_STATUS(swl_model_input_info(m, 0, &info), SWL_OK);
    CHECK(info.dtype == SWL_DTYPE_F32 && info.n_dims == 2 && info.shape[0] == -1 && info.shape[1] == 4 &&
              strcmp(info.name, "x") == 0,
          "input info");
    CHECK_STATUS(swl_model_output_info(m, 0, &info), SWL_OK);
    CHECK(info.n_dims == 2 && info.shape[1] == 3 && strcmp(info.name, "y") == 0, "output info");
    CHECK_STATUS(swl_model_input_info(m, 1, &info), SWL_ERR_NOT_FOUND);
}

static void test_session(swl_model *m) {
    swl_session *s = NULL;
    swl_session_options so;
    swl_budget b;
    swl_run_report r;
    swl_tensor in, out, owned;
    float x[8] = {0.5f, -0.25f, 1.0f, 0.0f, -1.0f, 0.75f, 0.1f, 0.3f};
    float y2[6], y4[6], small[2], huge[8];
    const double *values = NULL;
    uint64_t count = 0;
    int32_t merge[1] = {4};
    int i, same = 1, differ = 0;

    swl_session_options_init(&so);
    so.n_threads = 1;
    so.flags = SWL_SESSION_CALIBRATE; /* measures at creation for families with a latency model */
    CHECK_STATUS(swl_session_create(m, &so, &s), SWL_OK);
    make_input(&in, x, 2);

    /* budget: 2 loops vs 4 loops give different outputs; the report says what was chosen */
    swl_budget_init(&b);
    swl_run_report_init(&r);
    b.loops = 2;
    swl_tensor_init(&out);
    out.data = y2;
    out.size_bytes = sizeof y2;
    CHECK_STATUS(swl_session_run(s, &in, 1, &out, 1, &b, &r), SWL_OK);
    CHECK(out.n_dims == 2 && out.shape[0] == 2 && out.shape[1] == 3, "caller output shape");
    CHECK(r.loops == 2 && r.completed == 1 && strcmp(r.choice, "loops=2") == 0, "report loops %d choice %s", r.loops,
          r.choice);
    CHECK(r.gflops > 0 && r.microseconds >= 0, "report cost");
    b.loops = 4;
    out.data = y4;
    CHECK_STATUS(swl_session_run(s, &in, 1, &out, 1, &b, &r), SWL_OK);
    for (i = 0; i < 6; i++) differ |= y2[i] != y4[i];
    CHECK(differ, "loops change the output");

    /* session-owned output equals the caller-owned one */
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, &b, NULL), SWL_OK);
    CHECK_STATUS(swl_session_output(s, 0, &owned), SWL_OK);
    CHECK(owned.shape[0] == 2 && owned.shape[1] == 3 && owned.size_bytes == sizeof y4, "owned output");
    for (i = 0; i < 6; i++) same &= ((const float *)owned.data)[i] == y4[i];
    CHECK(same, "session-owned output matches");
    CHECK_STATUS(swl_session_output(s, 1, &owned), SWL_ERR_NOT_FOUND);
    CHECK_STATUS(swl_session_report_values(s, "layers_used", &values, &count), SWL_OK);
    CHECK(count == 1 && values[0] == 4.0, "report series");
    CHECK_STATUS(swl_session_report_values(s, "nope", &values, &count), SWL_ERR_NOT_FOUND);

    /* a latency limit: the report says whether the call met it; without one, deadline_met is -1 */
    swl_budget_init(&b);
    b.max_latency_ms = 10000;
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, &b, &r), SWL_OK);
    CHECK(r.deadline_met == 1, "deadline_met %d under a generous limit", r.deadline_met);
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, NULL, &r), SWL_OK);
    CHECK(r.deadline_met == -1 && r.predicted_us == 0 && r.predicted_quality == 0, "no limit, no plan");
    /* a caller built before the appended report fields: nothing is written past its struct_size */
    swl_run_report_init(&r);
    r.struct_size = (uint32_t)offsetof(swl_run_report, predicted_us);
    r.predicted_us = -7.0;
    r.deadline_met = -7;
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, &b, &r), SWL_OK);
    CHECK(r.predicted_us == -7.0 && r.deadline_met == -7 && r.completed == 1, "short report struct respected");
    swl_run_report_init(&r);
    /* and an older, shorter budget reads as one without the appended fields */
    swl_budget_init(&b);
    b.struct_size = (uint32_t)offsetof(swl_budget, generation_tokens);
    b.loops = 2;
    b.min_quality = 0.5; /* past the caller's struct: never read */
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, &b, &r), SWL_OK);
    /* min_quality needs a quality profile: this model has none, and its family takes no such knob */
    swl_budget_init(&b);
    b.min_quality = 0.9;
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, &b, &r), SWL_ERR_UNSUPPORTED);
    b.min_quality = 1.5;
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, &b, &r), SWL_ERR_BUDGET);
    swl_budget_init(&b);
    b.generation_tokens = -3;
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, &b, &r), SWL_ERR_BUDGET);

    /* a FLOP budget picks the most loops that fit: 2 rows x (2 x (2*16+8) + 24) FLOP = 208e-9 GFLOP */
    swl_budget_init(&b);
    b.max_gflops = 210e-9;
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, &b, &r), SWL_OK);
    CHECK(r.loops == 2, "flop budget chose %d loops", r.loops);
    b.max_gflops = 1e-12;
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, &b, &r), SWL_ERR_BUDGET);
    swl_budget_init(&b);
    b.loops = 99;
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, &b, &r), SWL_ERR_BUDGET);
    b.loops = -1;
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, &b, &r), SWL_ERR_BUDGET);
    swl_budget_init(&b);
    b.n_merge_r = 1;
    b.merge_r = merge;
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, &b, &r), SWL_ERR_UNSUPPORTED);
    b.merge_r = NULL;
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, &b, &r), SWL_ERR_INVALID_ARGUMENT);

    /* caller buffer too small: status, shape written, data untouched */
    swl_tensor_init(&out);
    out.data = small;
    out.size_bytes = sizeof small;
    small[0] = 42.0f;
    CHECK_STATUS(swl_session_run(s, &in, 1, &out, 1, NULL, NULL), SWL_ERR_BUFFER_TOO_SMALL);
    CHECK(out.shape[0] == 2 && out.shape[1] == 3 && small[0] == 42.0f, "too-small buffer untouched");
    /* NULL data that claims a size is an invalid argument, not a small buffer; NULL with size 0
     * asks for the shapes */
    swl_tensor_init(&out);
    out.size_bytes = sizeof y2;
    CHECK_STATUS(swl_session_run(s, &in, 1, &out, 1, NULL, NULL), SWL_ERR_INVALID_ARGUMENT);
    swl_tensor_init(&out);
    CHECK_STATUS(swl_session_run(s, &in, 1, &out, 1, NULL, NULL), SWL_ERR_BUFFER_TOO_SMALL);
    CHECK(out.n_dims == 2 && out.shape[0] == 2 && out.shape[1] == 3, "shape query with a NULL buffer");

    /* wrong shapes, dtype, NaN, NULLs */
    in.shape[1] = 5;
    in.size_bytes = 40;
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, NULL, NULL), SWL_ERR_SHAPE);
    make_input(&in, x, 2);
    in.size_bytes = 8;
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, NULL, NULL), SWL_ERR_SHAPE);
    make_input(&in, x, 2);
    in.dtype = 77;
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, NULL, NULL), SWL_ERR_INVALID_ARGUMENT);
    in.dtype = SWL_DTYPE_I32;
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, NULL, NULL), SWL_ERR_SHAPE);
    make_input(&in, x, 2);
    x[3] = NAN;
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, NULL, NULL), SWL_ERR_NUMERIC);
    x[3] = 0.0f;
    /* finite inputs that overflow inside the model: an error, not NaN outputs with SWL_OK */
    for (i = 0; i < 8; i++) huge[i] = 3e38f;
    make_input(&in, huge, 2);
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, NULL, NULL), SWL_ERR_NUMERIC);
    make_input(&in, x, 2);
    CHECK_STATUS(swl_session_run(s, &in, 2, NULL, 0, NULL, NULL), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_session_run(s, NULL, 1, NULL, 0, NULL, NULL), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_session_run(NULL, &in, 1, NULL, 0, NULL, NULL), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, NULL, NULL), SWL_OK);

    /* the test model is not a language model only in run mode; prefill works (see test_generation) */
    swl_session_free(s);
    swl_session_free(NULL);
}

/* Every call on a session that another thread is running must answer BUSY and leave it alone,
 * the read-side calls included (they return memory the running call is rewriting). */
static void check_session_calls_busy(swl_session *s) {
    swl_tensor out;
    const double *values = NULL;
    const float *logits = NULL;
    uint64_t count = 0, positions = 0, vocab = 0, context = 0;
    int32_t ids[2] = {1, 2};
    swl_run_report r;
    swl_tensor_init(&out);
    swl_run_report_init(&r);
    CHECK_STATUS(swl_session_output(s, 0, &out), SWL_ERR_BUSY);
    CHECK_STATUS(swl_session_report_values(s, "tokens_per_layer", &values, &count), SWL_ERR_BUSY);
    CHECK_STATUS(swl_session_logits(s, &logits, &positions, &vocab), SWL_ERR_BUSY);
    CHECK_STATUS(swl_session_last_logits(s, &logits, &vocab), SWL_ERR_BUSY);
    CHECK_STATUS(swl_session_position(s, &positions, &context), SWL_ERR_BUSY);
    CHECK_STATUS(swl_session_prefill(s, ids, 2, NULL, &r), SWL_ERR_BUSY);
    CHECK_STATUS(swl_session_decode(s, 1, &r), SWL_ERR_BUSY);
}

static void test_abort_and_busy(swl_model *m) {
    swl_session *s = NULL;
    swl_session_options so;
    swl_run_report r;
    swl_tensor in;
    float x[4] = {1, 2, 3, 4};
    int calls = 0;
    busy_sync sync;
    run_args a, b2;
    pthread_t ta;

    swl_session_options_init(&so);
    so.abort_callback = abort_now;
    so.abort_user_data = &calls;
    CHECK_STATUS(swl_session_create(m, &so, &s), SWL_OK);
    make_input(&in, x, 1);
    swl_run_report_init(&r);
    CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, NULL, &r), SWL_ERR_ABORTED);
    CHECK(calls == 1, "abort callback polled once before stopping (%d)", calls);
    swl_session_free(s);

    /* BUSY: A sits in its abort callback (inside a run) while B calls the same session */
    busy_sync_init(&sync);
    swl_session_options_init(&so);
    so.abort_callback = hold_in_callback;
    so.abort_user_data = &sync;
    CHECK_STATUS(swl_session_create(m, &so, &s), SWL_OK);
    a.session = s;
    b2.session = s;
    busy_sync_start(&sync, &ta, run_in_thread, &a);
    run_in_thread(&b2); /* the callback is still holding the session: must be BUSY */
    CHECK(b2.status == SWL_ERR_BUSY, "concurrent call got %s", swl_status_name(b2.status));
    check_session_calls_busy(s);
    busy_sync_finish(&sync, ta);
    CHECK(a.status == SWL_OK, "holder finished with %s", swl_status_name(a.status));
    swl_session_free(s);
}

typedef struct {
    swl_stream *stream;
    swl_status status;
} push_args;

static void *push_in_thread(void *p) {
    push_args *a = (push_args *)p;
    float frames[2 * 4] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
    a->status = swl_stream_push(a->stream, frames, 2, NULL);
    return NULL;
}

/* The same promise for streams: while one thread pushes, every call on that stream is BUSY. */
/* Word detection on a stream: options, events, the label strings, and every bad input. */
static void test_detection(swl_model *m) {
    swl_stream *st = NULL;
    swl_stream_options so;
    swl_detector_options d;
    const swl_detection *found = (const swl_detection *)1;
    uint64_t n = 0, count = 99, words = 0;
    float frames[4 * 50];
    int32_t background[2] = {0, 7};
    int i, labelled = 1, ordered = 1;
    double last = -1;

    for (i = 0; i < 4 * 50; i++) frames[i] = 0.3f;
    swl_detector_options_init(&d);
    CHECK(d.struct_size == sizeof d && d.threshold == 0.5 && d.window_seconds == 0.3 && d.hold_off_seconds == 0.3 &&
              d.frame_seconds == 0 && d.background == NULL && d.n_background == 0,
          "detector defaults");

    /* a stream without a detector has no detections */
    CHECK_STATUS(swl_stream_create(m, NULL, &st), SWL_OK);
    CHECK_STATUS(swl_stream_detections(st, &found, &count), SWL_ERR_STATE);
    CHECK(found == NULL && count == 0, "outputs cleared on failure");
    swl_stream_free(st);
    st = NULL;

    /* bad options: refused at creation, nothing created */
    swl_stream_options_init(&so);
    so.detector = &d;
    d.threshold = 0;
    CHECK_STATUS(swl_stream_create(m, &so, &st), SWL_ERR_INVALID_ARGUMENT);
    CHECK(st == NULL, "no stream on failure");
    d.threshold = 1.5;
    CHECK_STATUS(swl_stream_create(m, &so, &st), SWL_ERR_INVALID_ARGUMENT);
    swl_detector_options_init(&d);
    d.window_seconds = -1;
    CHECK_STATUS(swl_stream_create(m, &so, &st), SWL_ERR_INVALID_ARGUMENT);
    swl_detector_options_init(&d);
    d.hold_off_seconds = 1e300;
    CHECK_STATUS(swl_stream_create(m, &so, &st), SWL_ERR_INVALID_ARGUMENT);
    swl_detector_options_init(&d);
    d.n_background = 2; /* with background NULL */
    CHECK_STATUS(swl_stream_create(m, &so, &st), SWL_ERR_INVALID_ARGUMENT);
    d.background = background; /* class 7 of 3 */
    CHECK_STATUS(swl_stream_create(m, &so, &st), SWL_ERR_INVALID_ARGUMENT);
    CHECK(strstr(swl_last_error(), "7") != NULL, "message names the class: %s", swl_last_error());
    swl_detector_options_init(&d);
    d.struct_size = 0;
    CHECK_STATUS(swl_stream_create(m, &so, &st), SWL_ERR_INVALID_ARGUMENT);

    /* a detecting stream: events in order, labelled with the model's class names */
    swl_detector_options_init(&d);
    d.threshold = 0.34;
    CHECK_STATUS(swl_stream_create(m, &so, &st), SWL_OK);
    for (i = 0; i < 50; i++) {
        CHECK_STATUS(swl_stream_push(st, frames + 4 * i, 1, &n), SWL_OK);
        CHECK_STATUS(swl_stream_detections(st, &found, &count), SWL_OK);
        for (n = 0; n < count; n++, words++) {
            labelled &= found[n].label != NULL && found[n].class_index >= 0 && found[n].class_index < 3 &&
                        found[n].score >= 0.34f && found[n].score <= 1.0f;
            if (labelled) {
                const char *names[3] = {"low", "middle", "high"};
                labelled &= strcmp(found[n].label, names[found[n].class_index]) == 0;
            }
            /* seconds = the window centre (a whole or half frame) x 10 ms; frame = that centre rounded down */
            ordered &= found[n].seconds > last && found[n].seconds >= found[n].frame * 0.01 - 1e-9 &&
                       found[n].seconds < (found[n].frame + 1) * 0.01;
            last = found[n].seconds;
        }
    }
    CHECK_STATUS(swl_stream_flush(st, &n), SWL_OK);
    CHECK_STATUS(swl_stream_detections(st, &found, &count), SWL_OK);
    words += count;
    CHECK(words >= 1 && labelled && ordered, "%llu detections, labelled %d, ordered %d", (unsigned long long)words,
          labelled, ordered);
    CHECK_STATUS(swl_stream_detections(st, NULL, &count), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_stream_detections(st, &found, NULL), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_stream_detections(NULL, &found, &count), SWL_ERR_INVALID_ARGUMENT);
    /* a detecting stream takes no early decision */
    {
        swl_budget b;
        swl_budget_init(&b);
        b.early_margin = 0.5;
        CHECK_STATUS(swl_stream_set_budget(st, &b), SWL_ERR_BUDGET);
    }
    CHECK_STATUS(swl_stream_reset(st), SWL_OK);
    CHECK_STATUS(swl_stream_detections(st, &found, &count), SWL_OK);
    CHECK(count == 0 && found == NULL, "no detections after a reset");
    swl_stream_free(st);

    /* an explicit background list replaces the labels' choice */
    d.background = background;
    d.n_background = 1;
    CHECK_STATUS(swl_stream_create(m, &so, &st), SWL_OK);
    swl_stream_free(st);

    /* an older caller's options (without the detector field) still create a plain stream */
    swl_stream_options_init(&so);
    so.struct_size = (uint32_t)offsetof(swl_stream_options, detector);
    so.detector = &d; /* past struct_size: never read */
    CHECK_STATUS(swl_stream_create(m, &so, &st), SWL_OK);
    CHECK_STATUS(swl_stream_detections(st, &found, &count), SWL_ERR_STATE);
    swl_stream_free(st);
}

static void test_stream_busy(swl_model *m) {
    swl_stream *st = NULL;
    swl_stream_options so;
    swl_run_report r;
    busy_sync sync;
    push_args a;
    pthread_t ta;
    const float *rows = NULL;
    const double *values = NULL;
    uint64_t n = 0;
    float frame[4] = {0, 0, 0, 0};
    unsigned char state[16];

    busy_sync_init(&sync);
    swl_stream_options_init(&so);
    so.abort_callback = hold_in_callback;
    so.abort_user_data = &sync;
    CHECK_STATUS(swl_stream_create(m, &so, &st), SWL_OK);
    a.stream = st;
    busy_sync_start(&sync, &ta, push_in_thread, &a);
    swl_run_report_init(&r);
    CHECK_STATUS(swl_stream_push(st, frame, 1, &n), SWL_ERR_BUSY);
    CHECK_STATUS(swl_stream_flush(st, &n), SWL_ERR_BUSY);
    CHECK_STATUS(swl_stream_outputs(st, &rows, &n), SWL_ERR_BUSY);
    CHECK_STATUS(swl_stream_report(st, &r), SWL_ERR_BUSY);
    CHECK_STATUS(swl_stream_report_values(st, "frames_in", &values, &n), SWL_ERR_BUSY);
    CHECK_STATUS(swl_stream_reset(st), SWL_ERR_BUSY);
    CHECK_STATUS(swl_stream_set_budget(st, NULL), SWL_ERR_BUSY);
    CHECK_STATUS(swl_stream_state_size(st, &n), SWL_ERR_BUSY);
    CHECK_STATUS(swl_stream_save_state(st, state, sizeof state, &n), SWL_ERR_BUSY);
    CHECK_STATUS(swl_stream_load_state(st, state, sizeof state), SWL_ERR_BUSY);
    busy_sync_finish(&sync, ta);
    CHECK(a.status == SWL_OK, "pushing thread finished with %s", swl_status_name(a.status));
    CHECK_STATUS(swl_stream_outputs(st, &rows, &n), SWL_OK);
    CHECK_STATUS(swl_stream_report(st, &r), SWL_OK);
    CHECK(r.threads_used == 1, "a one-thread stream used %d threads", (int)r.threads_used);
    swl_stream_free(st);
}

static void test_generation(swl_model *m) {
    swl_session *s = NULL;
    swl_budget b;
    swl_run_report r;
    swl_sampler sp;
    int32_t prompt[3] = {1, 2, 3};
    const float *logits = NULL;
    uint64_t positions = 0, vocab = 0, pos = 0, ctx = 0, rng1 = 99, rng2 = 99;
    float first_full[6], step_logits[6];
    int32_t tok = -1, tok2 = -1, best = 0;
    int i, same = 1, j;

    CHECK_STATUS(swl_session_create(m, NULL, &s), SWL_OK);
    CHECK_STATUS(swl_session_decode(s, 1, NULL), SWL_ERR_STATE);
    CHECK_STATUS(swl_session_logits(s, &logits, &positions, &vocab), SWL_ERR_STATE);
    swl_budget_init(&b);
    b.loops = 3;
    swl_run_report_init(&r);
    CHECK_STATUS(swl_session_prefill(s, prompt, 3, &b, &r), SWL_OK);
    CHECK(r.loops == 3, "prefill loops %d", r.loops);
    CHECK_STATUS(swl_session_logits(s, &logits, &positions, &vocab), SWL_OK);
    CHECK(positions == 3 && vocab == 6, "prefill logits %llu x %llu", (unsigned long long)positions,
          (unsigned long long)vocab);
    memcpy(first_full, logits + 2 * 6, sizeof first_full);
    CHECK_STATUS(swl_session_position(s, &pos, &ctx), SWL_OK);
    CHECK(pos == 3 && ctx == 16, "position %llu ctx %llu", (unsigned long long)pos, (unsigned long long)ctx);

    /* prefill of [1, 2] then decode 3 equals the last row of prefill [1, 2, 3] */
    CHECK_STATUS(swl_session_prefill(s, prompt, 2, &b, NULL), SWL_OK);
    CHECK_STATUS(swl_session_decode(s, 3, &r), SWL_OK);
    CHECK_STATUS(swl_session_logits(s, &logits, &positions, &vocab), SWL_OK);
    CHECK(positions == 1, "decode gives one row");
    memcpy(step_logits, logits, sizeof step_logits);
    for (i = 0; i < 6; i++) same &= fabsf(step_logits[i] - first_full[i]) < 1e-6f;
    CHECK(same, "cached decode equals full prefill");
    CHECK_STATUS(swl_session_prefill(s, prompt, 3, &b, NULL), SWL_OK);
    CHECK_STATUS(swl_session_last_logits(s, &logits, &vocab), SWL_OK);
    CHECK(vocab == 6 && memcmp(logits, first_full, sizeof first_full) == 0, "last logits equal the last prefill row");
    CHECK_STATUS(swl_session_prefill(s, prompt, 2, &b, NULL), SWL_OK);
    CHECK_STATUS(swl_session_decode(s, 3, NULL), SWL_OK);

    /* sampling: greedy is argmax; seeded sampling is reproducible */
    for (i = 1; i < 6; i++)
        if (step_logits[i] > step_logits[best]) best = i;
    swl_sampler_init(&sp);
    CHECK_STATUS(swl_sample(step_logits, 6, &sp, &rng1, &tok), SWL_OK);
    CHECK(tok == best, "greedy picked %d, argmax %d", tok, best);
    sp.temperature = 1.0f;
    sp.top_k = 3;
    for (j = 0; j < 5; j++) {
        CHECK_STATUS(swl_sample(step_logits, 6, &sp, &rng1, &tok), SWL_OK);
        CHECK_STATUS(swl_sample(step_logits, 6, &sp, &rng2, &tok2), SWL_OK);
        CHECK(tok == tok2 && tok >= 0 && tok < 6, "seeded sample %d vs %d", tok, tok2);
    }
    sp.temperature = -1.0f;
    CHECK_STATUS(swl_sample(step_logits, 6, &sp, &rng1, &tok), SWL_ERR_INVALID_ARGUMENT);
    /* +inf and NaN logits are errors; -inf masks a token, which is never picked; all -inf is an error */
    {
        float overflowed[3], masked[3], none[2];
        overflowed[0] = 0.0f;
        overflowed[1] = INFINITY;
        overflowed[2] = -INFINITY;
        masked[0] = -INFINITY;
        masked[1] = 1.0f;
        masked[2] = -INFINITY;
        none[0] = -INFINITY;
        none[1] = -INFINITY;
        sp.temperature = 1.0f;
        sp.top_k = 0;
        CHECK_STATUS(swl_sample(overflowed, 3, &sp, &rng1, &tok), SWL_ERR_NUMERIC);
        CHECK_STATUS(swl_sample(none, 2, &sp, &rng1, &tok), SWL_ERR_NUMERIC);
        overflowed[1] = NAN;
        CHECK_STATUS(swl_sample(overflowed, 3, &sp, &rng1, &tok), SWL_ERR_NUMERIC);
        for (j = 0; j < 20; j++) {
            tok = -1;
            CHECK_STATUS(swl_sample(masked, 3, &sp, &rng1, &tok), SWL_OK);
            CHECK(tok == 1, "sampled masked token %d", tok);
        }
        sp.temperature = 0.0f;
        CHECK_STATUS(swl_sample(none, 2, &sp, &rng1, &tok), SWL_ERR_NUMERIC);
    }

    /* bad ids and the context limit */
    CHECK_STATUS(swl_session_decode(s, 6, NULL), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_session_decode(s, -1, NULL), SWL_ERR_INVALID_ARGUMENT);
    for (i = 3; i < 16; i++) CHECK_STATUS(swl_session_decode(s, 0, NULL), SWL_OK);
    CHECK_STATUS(swl_session_decode(s, 0, NULL), SWL_ERR_CONTEXT_FULL);
    swl_session_free(s);
}

static void test_stream(swl_model *m) {
    swl_stream *st = NULL, *st2 = NULL;
    swl_stream_options so;
    swl_budget b;
    swl_run_report r;
    float frames[10 * 4];
    float whole[10 * 3], chunked[10 * 3];
    const float *rows = NULL;
    const double *values = NULL;
    uint64_t n = 0, width = 0, rows_n = 0, size = 0, written = 0, got = 0, count = 0;
    unsigned char *state;
    int16_t pcm[4] = {0, 1, 2, 3};
    int i, same = 1;

    for (i = 0; i < 40; i++) frames[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
    swl_run_report_init(&r);
    swl_stream_options_init(&so);
    CHECK(so.n_threads == 1, "stream default threads");
    so.input_kind = SWL_STREAM_PCM;
    CHECK_STATUS(swl_stream_create(m, &so, &st), SWL_ERR_UNSUPPORTED);
    so.input_kind = 9;
    CHECK_STATUS(swl_stream_create(m, &so, &st), SWL_ERR_INVALID_ARGUMENT);
    swl_stream_options_init(&so);
    CHECK_STATUS(swl_stream_create(m, &so, &st), SWL_OK);
    CHECK_STATUS(swl_stream_frame_width(st, &width), SWL_OK);
    CHECK(width == 4, "frame width");
    CHECK_STATUS(swl_stream_output_width(st, &width), SWL_OK);
    CHECK(width == 3, "output width");

    /* all ten frames in one push: nine rows now (one frame of look-ahead), the tenth at flush */
    CHECK_STATUS(swl_stream_push(st, frames, 10, &n), SWL_OK);
    CHECK(n == 9, "rows after push %llu", (unsigned long long)n);
    CHECK_STATUS(swl_stream_outputs(st, &rows, &rows_n), SWL_OK);
    memcpy(whole, rows, 9 * 3 * sizeof(float));
    CHECK_STATUS(swl_stream_flush(st, &n), SWL_OK);
    CHECK(n == 1, "rows at flush %llu", (unsigned long long)n);
    CHECK_STATUS(swl_stream_outputs(st, &rows, &rows_n), SWL_OK);
    memcpy(whole + 27, rows, 3 * sizeof(float));
    CHECK_STATUS(swl_stream_report(st, &r), SWL_OK);
    CHECK(r.frames_used == 10 && r.decided == 0, "stream report frames %lld", (long long)r.frames_used);
    CHECK_STATUS(swl_stream_report_values(st, "rows_emitted", &values, &count), SWL_OK);
    CHECK(count == 1 && values[0] == 10.0, "stream series");

    /* reset, then one frame at a time with a save/restore into a second stream halfway */
    CHECK_STATUS(swl_stream_reset(st), SWL_OK);
    got = 0;
    for (i = 0; i < 5; i++) {
        CHECK_STATUS(swl_stream_push(st, frames + 4 * i, 1, &n), SWL_OK);
        CHECK_STATUS(swl_stream_outputs(st, &rows, &rows_n), SWL_OK);
        memcpy(chunked + 3 * got, rows, (size_t)(3 * n) * sizeof(float));
        got += n;
    }
    CHECK_STATUS(swl_stream_state_size(st, &size), SWL_OK);
    CHECK(size > 0 && size < 1024, "state size %llu", (unsigned long long)size);
    state = malloc((size_t)size);
    CHECK_STATUS(swl_stream_save_state(st, state, size - 1, &written), SWL_ERR_BUFFER_TOO_SMALL);
    CHECK(written == size, "needed size reported");
    CHECK_STATUS(swl_stream_save_state(st, state, size, &written), SWL_OK);
    CHECK_STATUS(swl_stream_create(m, NULL, &st2), SWL_OK);
    CHECK_STATUS(swl_stream_load_state(st2, state, size - 1), SWL_ERR_INVALID_ARGUMENT);
    state[0] ^= 0xff;
    CHECK_STATUS(swl_stream_load_state(st2, state, size), SWL_ERR_INVALID_ARGUMENT);
    state[0] ^= 0xff;
    CHECK_STATUS(swl_stream_load_state(st2, state, size), SWL_OK);
    free(state);
    for (i = 5; i < 10; i++) {
        CHECK_STATUS(swl_stream_push(st2, frames + 4 * i, 1, &n), SWL_OK);
        CHECK_STATUS(swl_stream_outputs(st2, &rows, &rows_n), SWL_OK);
        memcpy(chunked + 3 * got, rows, (size_t)(3 * n) * sizeof(float));
        got += n;
    }
    CHECK_STATUS(swl_stream_flush(st2, &n), SWL_OK);
    CHECK_STATUS(swl_stream_outputs(st2, &rows, &rows_n), SWL_OK);
    memcpy(chunked + 3 * got, rows, (size_t)(3 * n) * sizeof(float));
    got += n;
    CHECK(got == 10, "rows across save/restore %llu", (unsigned long long)got);
    for (i = 0; i < 30; i++) same &= whole[i] == chunked[i];
    CHECK(same, "frame-by-frame with save/restore equals one push");

    /* early decision after half of the expected frames */
    swl_budget_init(&b);
    b.early_fraction = 0.5;
    b.expected_frames = 10;
    CHECK_STATUS(swl_stream_set_budget(st, &b), SWL_OK);
    CHECK_STATUS(swl_stream_reset(st), SWL_OK);
    CHECK_STATUS(swl_stream_push(st, frames, 10, &n), SWL_OK);
    CHECK_STATUS(swl_stream_report(st, &r), SWL_OK);
    CHECK(r.decided == 1 && r.frames_used == 5 && r.completed == 0, "decided after %lld frames",
          (long long)r.frames_used);
    b.early_fraction = 2.0;
    CHECK_STATUS(swl_stream_set_budget(st, &b), SWL_ERR_BUDGET);
    CHECK_STATUS(swl_stream_set_budget(st, NULL), SWL_OK);

    /* bad input */
    frames[2] = NAN;
    CHECK_STATUS(swl_stream_push(st, frames, 1, &n), SWL_ERR_NUMERIC);
    CHECK_STATUS(swl_stream_push(st, NULL, 1, &n), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_stream_push_pcm(st, pcm, 4, &n), SWL_ERR_UNSUPPORTED);
    CHECK_STATUS(swl_stream_push(NULL, frames, 1, &n), SWL_ERR_INVALID_ARGUMENT);
    /* A NULL handle is named with the public function called, never an internal helper's name. */
    CHECK(strcmp(swl_last_error(), "swl_stream_push: 'stream' must not be NULL") == 0, "NULL stream message: %s",
          swl_last_error());
    CHECK_STATUS(swl_stream_state_size(NULL, &n), SWL_ERR_INVALID_ARGUMENT);
    CHECK(strcmp(swl_last_error(), "swl_stream_state_size: 'stream' must not be NULL") == 0, "NULL stream message: %s",
          swl_last_error());
    CHECK_STATUS(swl_model_metadata_key(NULL, 0, NULL), SWL_ERR_INVALID_ARGUMENT);
    CHECK(strncmp(swl_last_error(), "swl_model_metadata_key: ", 24) == 0, "NULL model message: %s", swl_last_error());
    swl_stream_free(st);
    swl_stream_free(st2);
    swl_stream_free(NULL);
}

/* Image input on a model that takes none (the test family): refused before any pixel is read. The
 * image path itself runs on the vit fixture in fixture_test.c. */
static void test_images_refused(swl_model *m) {
    swl_session *s = NULL;
    swl_tensor out;
    float buf[16];
    uint8_t rgb[12] = {0};
    CHECK_STATUS(swl_session_create(m, NULL, &s), SWL_OK);
    CHECK_STATUS(swl_session_run_image(s, rgb, 2, 2, 0, NULL, NULL), SWL_ERR_UNSUPPORTED);
    CHECK(strstr(swl_last_error(), "does not take images") != NULL, "message says why: %s", swl_last_error());
    CHECK_STATUS(swl_session_run_image(NULL, rgb, 2, 2, 0, NULL, NULL), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_session_run_image(s, NULL, 2, 2, 0, NULL, NULL), SWL_ERR_INVALID_ARGUMENT);
    swl_tensor_init(&out);
    out.data = buf;
    out.size_bytes = sizeof buf;
    CHECK_STATUS(swl_model_preprocess_image(m, rgb, 2, 2, 6, &out), SWL_ERR_UNSUPPORTED);
    CHECK(out.n_dims == 0, "nothing written on refusal (n_dims %d)", (int)out.n_dims);
    CHECK_STATUS(swl_model_preprocess_image(NULL, rgb, 2, 2, 6, &out), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_model_preprocess_image(m, rgb, 2, 2, 6, NULL), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_model_preprocess_image(m, NULL, 2, 2, 6, &out), SWL_ERR_INVALID_ARGUMENT);
    out.struct_size = 0;
    CHECK_STATUS(swl_model_preprocess_image(m, rgb, 2, 2, 6, &out), SWL_ERR_INVALID_ARGUMENT);
    /* the session still works after the refusals */
    {
        float x[4] = {1, 2, 3, 4};
        swl_tensor in;
        make_input(&in, x, 1);
        CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, NULL, NULL), SWL_OK);
    }
    swl_session_free(s);
}

int main(int argc, char **argv) {
    long size = 0;
    unsigned char *bytes;
    swl_model *m = NULL, *m2 = NULL, *m3 = NULL;
    swl_load_options o;
    char tmp_path[] = "/tmp/swl_abi_test_XXXXXX";

    if (argc != 2) {
        fprintf(stderr, "usage: %s TEST_MODEL.swl\n", argv[0]);
        return 2;
    }
    bytes = read_file(argv[1], &size);
    if (!bytes) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }

    swl_set_log_callback(on_log, SWL_LOG_DEBUG, NULL);
    test_versions();
    test_bad_files(bytes, size);

    CHECK_STATUS(swl_model_load(argv[1], NULL, &m), SWL_OK);
    CHECK(log_lines > 0, "the log callback received the load messages (%d lines)", log_lines);
    swl_load_options_init(&o);
    o.flags = SWL_LOAD_VERIFY_EAGER | SWL_LOAD_COPY_BUFFER;
    CHECK_STATUS(swl_model_load_memory(bytes, (uint64_t)size, &o, &m2), SWL_OK);
    o.flags = 0; /* no copy: the buffer outlives m3 */
    CHECK_STATUS(swl_model_load_memory(bytes, (uint64_t)size, &o, &m3), SWL_OK);
    if (m && m2 && m3) {
        test_model_queries(m);
        test_model_queries(m2);
        test_session(m3);
        test_abort_and_busy(m);
        test_generation(m2);
        test_stream(m);
        test_detection(m);
        test_stream_busy(m);
        test_images_refused(m2);
    }
    /* a model freed before its session: the session keeps it alive */
    {
        swl_session *s = NULL;
        float x[4] = {1, 2, 3, 4};
        swl_tensor in;
        CHECK_STATUS(swl_session_create(m, NULL, &s), SWL_OK);
        swl_model_free(m);
        make_input(&in, x, 1);
        CHECK_STATUS(swl_session_run(s, &in, 1, NULL, 0, NULL, NULL), SWL_OK);
        swl_session_free(s);
    }
    swl_model_free(m2);
    swl_model_free(m3);
    swl_model_free(NULL);
    swl_set_log_callback(NULL, 0, NULL);

    /* a model written to disk with one byte changed and loaded through the path API */
    {
        int fd = mkstemp(tmp_path);
        if (fd >= 0) {
            bytes[size / 2] ^= 0x01;
            write_file(tmp_path, bytes, size);
            swl_load_options_init(&o);
            o.flags = SWL_LOAD_VERIFY_EAGER;
            CHECK(swl_model_load(tmp_path, &o, &m) != SWL_OK || m != NULL, "damaged file: status or intact data");
            swl_model_free(m);
            remove(tmp_path);
        }
    }
    free(bytes);

    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
