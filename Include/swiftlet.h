/*
 * swiftlet.h — the stable C interface of Swiftlet, an embeddable CPU inference runtime for efficient
 * transformers (LoopFormer, MemoryFormer, LMUFormer, token-merging ViTs) that run under a budget.
 *
 * This header is the source of truth: the library implements it with Swift `@c @implementation`, so
 * the compiler checks every definition against the declarations below.
 *
 * Conventions that hold for every function:
 * - Every fallible function returns a swl_status. SWL_OK is 0; anything else is an error, and
 *   swl_last_error() then returns a one-line message for the calling thread.
 * - Handles (swl_model, swl_session, swl_stream) are opaque. Each has a _free function that accepts
 *   NULL and does nothing then.
 * - Option and report structs start with `uint32_t struct_size`; set it with the matching _init
 *   function (which also fills defaults) or to sizeof(the struct). The library reads and writes only
 *   the first struct_size bytes, so a program built against an older header keeps working.
 * - No struct is passed by value. Pointers documented as "may be NULL" accept NULL; all others must
 *   not be NULL (passing NULL returns SWL_ERR_INVALID_ARGUMENT; it never crashes).
 * - Strings returned by the library are UTF-8, NUL-terminated and owned by the object named in each
 *   function's comment; never free them.
 * - Threading: a swl_model is immutable after loading and may be used from any number of threads at
 *   once (creating sessions and streams, queries). A swl_session or swl_stream belongs to one thread at
 *   a time: a call made while another call on the same session or stream is still running returns
 *   SWL_ERR_BUSY and changes nothing. Different sessions and streams run concurrently.
 * - Nothing in this interface aborts the process on bad input: corrupt files, wrong shapes, NaN
 *   inputs, unknown families and budgets out of range are reported as statuses.
 */
#ifndef SWIFTLET_H
#define SWIFTLET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Versions                                                                                       */
/* ---------------------------------------------------------------------------------------------- */

/* The ABI version this header describes. It changes only when an existing declaration changes in an
 * incompatible way; adding functions or appending struct fields does not change it. */
#define SWL_ABI_VERSION 1

/* Library version, e.g. "0.1.0". Static storage. */
const char *swl_version(void);

/* The ABI version the loaded library implements. Compare it with SWL_ABI_VERSION at start-up. */
uint32_t swl_abi_version(void);

/* ---------------------------------------------------------------------------------------------- */
/* Status codes and errors                                                                        */
/* ---------------------------------------------------------------------------------------------- */

typedef int32_t swl_status;

/* These numbers are part of the ABI and are never renumbered; new codes are only added. */
#define SWL_OK                   0
#define SWL_ERR_INVALID_ARGUMENT 1  /* NULL where not allowed, bad struct_size, bad option value   */
#define SWL_ERR_IO               2  /* the file could not be opened, read, mapped or written         */
#define SWL_ERR_FORMAT           3  /* the file is not a valid .swl file (truncated, corrupt, ...)   */
#define SWL_ERR_VERSION          4  /* the file needs a newer Swiftlet                               */
#define SWL_ERR_CHECKSUM         5  /* a checksum did not match: the file is damaged                 */
#define SWL_ERR_UNSUPPORTED      6  /* unknown family, dtype, codec or an option the model lacks     */
#define SWL_ERR_SHAPE            7  /* an input has the wrong dtype, rank or dimensions              */
#define SWL_ERR_BUSY             8  /* the session or stream is in use by another call               */
#define SWL_ERR_ABORTED          9  /* the abort callback asked to stop                              */
#define SWL_ERR_BUDGET           10 /* the budget is out of range or cannot be met                   */
#define SWL_ERR_OUT_OF_MEMORY    11 /* an allocation failed                                          */
#define SWL_ERR_NOT_FOUND        12 /* no such metadata key, input, output or report value           */
#define SWL_ERR_BUFFER_TOO_SMALL 13 /* a caller-owned buffer is too small; the needed size is given  */
#define SWL_ERR_STATE            14 /* the call is not valid now (e.g. decode before prefill)         */
#define SWL_ERR_NUMERIC          15 /* an input holds NaN or infinity                                */
#define SWL_ERR_CONTEXT_FULL     16 /* a language model's context length would be exceeded           */
#define SWL_ERR_INTERNAL         99 /* a bug in Swiftlet; please report it with the message          */

/* A short constant name for a status, e.g. "SWL_ERR_SHAPE". Static storage; never NULL. */
const char *swl_status_name(swl_status status);

/* The message of the last failed call made on this thread, or "" if none failed yet. Owned by the
 * library, valid until the next failing call on the same thread. Thread-local: never NULL. */
const char *swl_last_error(void);

/* ---------------------------------------------------------------------------------------------- */
/* Logging and abort                                                                              */
/* ---------------------------------------------------------------------------------------------- */

#define SWL_LOG_ERROR 0
#define SWL_LOG_WARN  1
#define SWL_LOG_INFO  2
#define SWL_LOG_DEBUG 3

/* Receives log lines. `message` is valid only during the call. May be called from any thread that
 * calls into the library, so it must be thread-safe. */
typedef void (*swl_log_callback)(int32_t level, const char *message, void *user_data);

/* Installs a process-wide log callback (NULL removes it) that receives lines at `max_level` and below.
 * Without one, the library logs nothing. Safe to call from any thread. */
void swl_set_log_callback(swl_log_callback callback, int32_t max_level, void *user_data);

/* Polled between layers (and between loop steps and frames). Return non-zero to stop the call, which
 * then returns SWL_ERR_ABORTED; the run report says how far it got. Called on the calling thread. */
typedef int32_t (*swl_abort_callback)(void *user_data);

/* ---------------------------------------------------------------------------------------------- */
/* Tensors                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

#define SWL_MAX_DIMS 8

/* Element types of tensors crossing the interface. */
#define SWL_DTYPE_F32 1
#define SWL_DTYPE_I32 2
#define SWL_DTYPE_I64 3
#define SWL_DTYPE_I16 4
#define SWL_DTYPE_U8  5

/* A dense, C-ordered (row-major) tensor in memory the caller or the library owns, as each function
 * says. `size_bytes` is the size of the data (input) or the capacity of the buffer (caller-owned
 * output). */
typedef struct swl_tensor {
    uint32_t struct_size;
    int32_t dtype;               /* SWL_DTYPE_* */
    int32_t n_dims;              /* 0 .. SWL_MAX_DIMS */
    int32_t reserved;            /* set to 0 */
    int64_t shape[SWL_MAX_DIMS]; /* the first n_dims entries are used */
    void *data;
    uint64_t size_bytes;
} swl_tensor;

/* Sets struct_size and zeroes the rest. */
void swl_tensor_init(swl_tensor *tensor);

/* Describes a model input or output. A shape entry of -1 means "any size" (e.g. batch, length). */
typedef struct swl_tensor_info {
    uint32_t struct_size;
    int32_t dtype;
    int32_t n_dims;
    int32_t reserved;
    int64_t shape[SWL_MAX_DIMS];
    const char *name; /* owned by the model */
} swl_tensor_info;

void swl_tensor_info_init(swl_tensor_info *info);

/* ---------------------------------------------------------------------------------------------- */
/* Models                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

typedef struct swl_model swl_model;

/* Verify every tensor checksum while loading (slower start; otherwise each tensor is verified the
 * first time it is used — for MemoryFormer's hash tables, read sparsely, that is the model's first
 * session call, which hashes them in full: about 0.6 s for 1.7 GB of tables, see Formats/swl.md §10). */
#define SWL_LOAD_VERIFY_EAGER 1u
/* swl_model_load_memory only: copy the buffer, so the caller may free it after the call. Without
 * this flag the buffer must outlive the model. */
#define SWL_LOAD_COPY_BUFFER 2u

typedef struct swl_load_options {
    uint32_t struct_size;
    uint32_t flags; /* SWL_LOAD_* bits */
} swl_load_options;

void swl_load_options_init(swl_load_options *options);

/* Loads a .swl file. The file is memory-mapped: raw tensors are used in place, compressed ones are
 * decompressed when first used. `options` may be NULL (defaults). On success *out_model owns the
 * model; free it with swl_model_free. On failure *out_model is set to NULL. */
swl_status swl_model_load(const char *path, const swl_load_options *options, swl_model **out_model);

/* Loads a model from `size` bytes at `data` (see SWL_LOAD_COPY_BUFFER for who keeps the bytes). */
swl_status swl_model_load_memory(const void *data, uint64_t size, const swl_load_options *options,
                                 swl_model **out_model);

/* Frees a model. Sessions and streams made from it keep it alive until they are freed, so the order of
 * the _free calls does not matter. NULL is a no-op. */
void swl_model_free(swl_model *model);

/* The model family: "vit", "lmuformer", "loopformer", "memoryformer" or "test". Owned by the model;
 * NULL only if `model` is NULL. */
const char *swl_model_family(const swl_model *model);

/* Metadata as text (numbers in decimal, arrays as "[a, b]"). Keys are namespaced, e.g.
 * "general.name", "vit.depth". *out_value is owned by the model. */
swl_status swl_model_metadata(const swl_model *model, const char *key, const char **out_value);
uint32_t swl_model_metadata_count(const swl_model *model);
/* The index-th key in sorted order; owned by the model. */
swl_status swl_model_metadata_key(const swl_model *model, uint32_t index, const char **out_key);

/* Class names (general.labels), one per output class, for classifiers converted with --labels:
 * the count (0 if the model has none, or `model` is NULL) and the index-th name, owned by the model.
 * An index past the end returns SWL_ERR_NOT_FOUND. */
uint32_t swl_model_label_count(const swl_model *model);
swl_status swl_model_label(const swl_model *model, uint32_t index, const char **out_label);

uint32_t swl_model_input_count(const swl_model *model);
uint32_t swl_model_output_count(const swl_model *model);
swl_status swl_model_input_info(const swl_model *model, uint32_t index, swl_tensor_info *out_info);
swl_status swl_model_output_info(const swl_model *model, uint32_t index, swl_tensor_info *out_info);

/* ---------------------------------------------------------------------------------------------- */
/* Budgets and run reports                                                                        */
/* ---------------------------------------------------------------------------------------------- */

/* What a call may spend, and the per-family knobs. A zero field means "not set". Explicit knobs win
 * over limits; with neither, the model runs at full quality. A budget that no setting of the model
 * can meet returns SWL_ERR_BUDGET rather than silently exceeding it. */
typedef struct swl_budget {
    uint32_t struct_size;
    uint32_t reserved;
    double max_latency_ms; /* per call; per token for language models; 0 = none */
    double max_gflops;     /* GFLOP per call (per token for language models); 0 = none */
    /* LoopFormer */
    int32_t loops;           /* number of loop steps; 0 = chosen by the limits, else full */
    int32_t n_trajectory;    /* > 0: explicit step sizes that sum to 1 (overrides loops) */
    const float *trajectory; /* n_trajectory entries; read during the call only */
    /* Token merging (ToMe's r): 1 entry = constant r; {r, -1} = decreasing from 2r to 0; longer =
     * per-layer list padded with zeros. n_merge_r = 0: chosen by the limits, else no merging. */
    int32_t n_merge_r;
    int32_t reserved2;
    const int32_t *merge_r; /* read during the call only */
    /* Streams (early decision): stop once this fraction (0, 1] of expected_frames has arrived, or once
     * the running top-1 minus top-2 score exceeds early_margin. 0 = off. */
    double early_fraction;
    double early_margin;
    int64_t expected_frames;
    /* Language models, at prefill: the tokens the generation will add after the prompt. A per-token
     * latency limit then plans for a decode step at the context length the generation reaches, not at
     * the prompt's. 0 = not given (the prompt's length is used). */
    int64_t generation_tokens;
    /* Models that carry a quality profile (`swiftlet profile`; "quality.*" metadata): the least quality
     * to keep, as a fraction (0, 1] of the full-quality setting's score; the cheapest profiled setting
     * that keeps it (and fits the limits) is chosen. With a profile, limits alone choose the
     * best-scoring profiled setting that fits. 0 = not set. */
    double min_quality;
    /* LoopFormer, at prefill: a deadline for the whole generation — this prefill and the
     * generation_tokens decode steps after it — in milliseconds; the trajectory is chosen so that both
     * are predicted to fit (at the planned percentile). Needs generation_tokens. 0 = none. */
    double generation_ms;
} swl_budget;

void swl_budget_init(swl_budget *budget);

/* What a call chose and what it cost. Filled by run, prefill, decode and the stream report. */
typedef struct swl_run_report {
    uint32_t struct_size;
    int32_t completed;   /* 1 if the call ran to the end, 0 if aborted or decided early */
    double microseconds; /* wall-clock time of the call */
    double gflops;       /* work done, GFLOP (a multiply-add counts 2) */
    int32_t loops;       /* LoopFormer: loop steps run */
    int32_t layers;      /* blocks evaluated (all loop steps counted) */
    int64_t tokens_kept; /* ViT: tokens left after the last block, per image */
    int64_t frames_used; /* streams: frames consumed; early decision: frames before deciding */
    int32_t decided;     /* streams: 1 once an early decision was made */
    int32_t reserved;
    /* What the budget chose, e.g. "r=8" or "loops=4 (0.25,0.25,0.25,0.25)", and what the call changed
     * on the way ("r=8, then r=[8,8,8,8,8,16,...] from block 6 to meet the deadline"); owned by the
     * session/stream, valid until its next call. */
    const char *choice;
    /* Threads that did work in the call, the caller's included; never more than the session's or
     * stream's n_threads; 0 from a library older than this field. */
    int32_t threads_used;
    int32_t reserved2;
    /* predicted_us: with a latency limit, the time the budget planned for (its p95 prediction of the
     * chosen setting; after a language model's prefill, of one decode step of the sequence); 0 when
     * nothing was predicted (no limit, or a family whose cost has no knob). deadline_met: whether the
     * call ended within its limit (1) or not (0); -1 when the call had no limit of its own (no latency
     * limit; a prefill under a per-token limit; streams). */
    double predicted_us;
    int32_t deadline_met;
    int32_t reserved3;
    /* With a quality profile: the chosen setting's measured quality as a fraction of full quality
     * (1 = full); 0 when the model carries no profile or the setting was not profiled. */
    double predicted_quality;
} swl_run_report;

void swl_run_report_init(swl_run_report *report);

/* ---------------------------------------------------------------------------------------------- */
/* Sessions: whole-input inference and language-model generation                                  */
/* ---------------------------------------------------------------------------------------------- */

typedef struct swl_session swl_session;

/* swl_session_options.flags: measure, when the session is created, what each setting of the budget's
 * knobs costs on this machine with this thread count, so that the first call with a latency limit
 * already chooses from measured costs (about four full-quality runs for a ViT). Without it, the first
 * call with a latency limit measures them and takes that much longer. */
#define SWL_SESSION_CALIBRATE 1u

typedef struct swl_session_options {
    uint32_t struct_size;
    /* Compute threads; 0 = all cores. The session owns a pool of exactly this many threads (the
     * caller's included); results are the same bits whatever the count. */
    int32_t n_threads;
    swl_abort_callback abort_callback; /* may be NULL */
    void *abort_user_data;
    uint32_t flags; /* SWL_SESSION_* bits */
    uint32_t reserved;
} swl_session_options;

void swl_session_options_init(swl_session_options *options);

/* Creates a session: the per-caller state of a model (scratch memory, caches, outputs). `options` may
 * be NULL. The session keeps the model alive. */
swl_status swl_session_create(swl_model *model, const swl_session_options *options, swl_session **out_session);
void swl_session_free(swl_session *session);

/* Runs the model on `n_inputs` inputs in the model's input order. `budget` and `report` may be NULL.
 * Outputs: if `outputs` is NULL (n_outputs 0) the session keeps them — read them with
 * swl_session_output. Otherwise the caller passes n_outputs tensors whose `data`/`size_bytes` are
 * caller-owned buffers; the library writes dtype, n_dims and shape, and fills the data, or returns
 * SWL_ERR_BUFFER_TOO_SMALL (shape still written) without touching the data; data = NULL with
 * size_bytes = 0 thus asks for the shapes, while data = NULL with a non-zero size_bytes returns
 * SWL_ERR_INVALID_ARGUMENT before running. Inputs are read only during the call. */
swl_status swl_session_run(swl_session *session, const swl_tensor *inputs, uint32_t n_inputs, swl_tensor *outputs,
                           uint32_t n_outputs, const swl_budget *budget, swl_run_report *report);

/* Describes output `index` of the last successful run; out->data points into session-owned memory
 * valid until the next call on the session or its free. */
swl_status swl_session_output(swl_session *session, uint32_t index, swl_tensor *out);

/* A per-layer or per-step series from the last call, e.g. "tokens_per_layer", "spike_rate",
 * "trajectory", "resident_table_bytes". *out_values is session-owned, valid until the next call. */
swl_status swl_session_report_values(swl_session *session, const char *name, const double **out_values,
                                     uint64_t *out_count);

/* Language models (LoopFormer, MemoryFormer, test). Prefill starts a new sequence: it clears the KV
 * cache, fixes the budget's choice (e.g. the loop trajectory) for the whole sequence and computes
 * logits for every prompt position. Decode appends one token using the cache. A different trajectory
 * needs a new prefill: the cache belongs to the trajectory that filled it. */
swl_status swl_session_prefill(swl_session *session, const int32_t *token_ids, uint64_t n_tokens,
                               const swl_budget *budget, swl_run_report *report);
swl_status swl_session_decode(swl_session *session, int32_t token_id, swl_run_report *report);

/* Logits of the last prefill (every prompt position) or decode (one position): n_positions rows of
 * vocab_size floats, session-owned, valid until the next call. The rows of earlier prompt positions
 * may be computed only when this is called; a generation loop that needs only the last row should
 * call swl_session_last_logits instead. Like every session call, this one and the two below return
 * SWL_ERR_BUSY while another thread's call on the session is running. */
swl_status swl_session_logits(swl_session *session, const float **out_logits, uint64_t *out_n_positions,
                              uint64_t *out_vocab_size);

/* The logits of the last position only (vocab_size floats), session-owned, valid until the next call. */
swl_status swl_session_last_logits(swl_session *session, const float **out_logits, uint64_t *out_vocab_size);

/* Tokens in the cache and the model's context limit. */
swl_status swl_session_position(swl_session *session, uint64_t *out_position, uint64_t *out_context_length);

typedef struct swl_sampler {
    uint32_t struct_size;
    float temperature; /* 0 = greedy (argmax, lowest index on ties) */
    int32_t top_k;     /* 0 = whole vocabulary */
    uint32_t reserved;
} swl_sampler;

void swl_sampler_init(swl_sampler *sampler);

/* Picks a token from `vocab_size` logits. `rng_state` is the caller's generator state: seed it once
 * with any value and pass the same variable on every call for a reproducible sequence. A logit of
 * -INFINITY masks its token (never picked); NaN, +INFINITY or every logit -INFINITY return
 * SWL_ERR_NUMERIC. Pure function: thread-safe. */
swl_status swl_sample(const float *logits, uint64_t vocab_size, const swl_sampler *sampler, uint64_t *rng_state,
                      int32_t *out_token);

/* ---------------------------------------------------------------------------------------------- */
/* Text: the tokenizer a language model carries (swiftlet convert --tokenizer tokenizer.json)      */
/* ---------------------------------------------------------------------------------------------- */

/* 1 if the model carries a tokenizer, else 0 (also for NULL). The calls below return
 * SWL_ERR_UNSUPPORTED for a model without one. They only read the model: thread-safe. */
int32_t swl_model_has_tokenizer(const swl_model *model);

/* The token ids of `text_len` bytes of UTF-8 `text` (no NUL needed), as Hugging Face tokenizers'
 * encode(text, add_special_tokens=False) gives them: special tokens written in the text become their
 * ids. *out_n_ids receives the count. If it exceeds `capacity`, returns SWL_ERR_BUFFER_TOO_SMALL and
 * writes no id (ids = NULL with capacity 0 asks for the count). Text that is not UTF-8 returns
 * SWL_ERR_INVALID_ARGUMENT. */
swl_status swl_tokenize(const swl_model *model, const char *text, uint64_t text_len, int32_t *ids, uint64_t capacity,
                        uint64_t *out_n_ids);

/* 1 if `id` is one of the tokenizer's special tokens (end of text, padding), else 0 (also for no
 * tokenizer or an id outside it): a generation loop stops at one. */
int32_t swl_model_token_is_special(const swl_model *model, int32_t id);

/* swl_detokenize and swl_detokenizer_create flags. */
#define SWL_DETOKENIZE_SKIP_SPECIAL 1u /* leave out special tokens (end of text, padding) */

/* The text of n_ids ids, as tokenizers' decode gives it: bytes that do not form UTF-8 become U+FFFD,
 * so the text is always valid UTF-8. Writes *out_len bytes and a terminating NUL into `text`, which
 * must hold *out_len + 1 bytes; otherwise returns SWL_ERR_BUFFER_TOO_SMALL with *out_len set and
 * nothing written. An id outside the vocabulary returns SWL_ERR_INVALID_ARGUMENT. */
swl_status swl_detokenize(const swl_model *model, const int32_t *ids, uint64_t n_ids, uint32_t flags, char *text,
                          uint64_t capacity, uint64_t *out_len);

/* Text for ids that arrive one at a time (generation): each push gives only whole UTF-8 characters,
 * holding back the bytes of a character a token leaves unfinished until a later token completes it.
 * The pieces joined are exactly swl_detokenize of all the ids. One thread at a time per detokenizer
 * (SWL_ERR_BUSY otherwise); it keeps the model alive. */
typedef struct swl_detokenizer swl_detokenizer;

swl_status swl_detokenizer_create(swl_model *model, uint32_t flags, swl_detokenizer **out_detokenizer);
void swl_detokenizer_free(swl_detokenizer *detokenizer);

/* The text `id` completes: *out_text is NUL-terminated (it may hold NUL bytes of its own; *out_len, which
 * may be NULL, gives the length), owned by the detokenizer and valid until its next call. Often ""
 * while a character is unfinished. */
swl_status swl_detokenizer_push(swl_detokenizer *detokenizer, int32_t id, const char **out_text, uint64_t *out_len);

/* Ends the text: the bytes still held (an unfinished character) come out as U+FFFD, and the
 * detokenizer is as new. */
swl_status swl_detokenizer_flush(swl_detokenizer *detokenizer, const char **out_text, uint64_t *out_len);

/* ---------------------------------------------------------------------------------------------- */
/* Images: image classifiers (vit) converted with preprocessing                                    */
/* ---------------------------------------------------------------------------------------------- */

/* An image crosses the interface as decoded 8-bit RGB pixels in caller memory: `height` rows of
 * `width` pixels of three bytes (R, G, B), row y starting at rgb + y * row_stride (row_stride 0 means
 * 3 * width: rows packed). The library decodes no image files (the swiftlet tool uses libpng and
 * libjpeg-turbo); convert grey, grey+alpha, RGBA or palette images to RGB first. timm's loader
 * (Pillow's convert("RGB")) drops alpha without compositing, and ignores EXIF orientation.
 * Sizes: 1 <= width, height <= 65535, else SWL_ERR_SHAPE; row_stride (when not 0) >= 3 * width, else
 * SWL_ERR_INVALID_ARGUMENT. The pixels are read only during the call.
 *
 * How an image becomes the model's input [1, 3, H, W] is in the model file (image.* metadata, written
 * by `swiftlet convert --preprocess` from timm's pretrained_cfg; Formats/swl.md): timm's evaluation
 * transform — resize with Pillow's filter (in the default "center" mode the shorter side becomes
 * floor(H / crop_pct)), centre crop to H x W, scale to [0, 1], subtract the mean and divide by the
 * standard deviation per channel — reproduced to the pixel. A model without it (another family, or a
 * vit converted without --preprocess) returns SWL_ERR_UNSUPPORTED before reading any pixel. */

/* Runs the model on one image: the preprocessing above, then the model as swl_session_run runs it,
 * the session keeping the outputs (read them with swl_session_output; output 0 is the logits
 * [1, classes], named by swl_model_label). `budget` and `report` may be NULL; the report's time and a
 * latency limit cover the preprocessing too. Ownership and threading as swl_session_run. */
swl_status swl_session_run_image(swl_session *session, const uint8_t *rgb, uint32_t width, uint32_t height,
                                 uint64_t row_stride, const swl_budget *budget, swl_run_report *report);

/* Writes the input the model makes of an image, float32 [1, 3, H, W], into the caller's tensor as
 * swl_session_run writes outputs: the library sets dtype, n_dims and shape, and fills out->data when
 * out->size_bytes is large enough, else returns SWL_ERR_BUFFER_TOO_SMALL without touching the data
 * (data = NULL with size_bytes = 0 asks for the shape). For batching images into one swl_session_run,
 * or checking the preprocessing. Reads only the model: safe from any number of threads. */
swl_status swl_model_preprocess_image(const swl_model *model, const uint8_t *rgb, uint32_t width, uint32_t height,
                                      uint64_t row_stride, swl_tensor *out);

/* ---------------------------------------------------------------------------------------------- */
/* Streams: frame-by-frame inference (LMUFormer, test)                                            */
/* ---------------------------------------------------------------------------------------------- */

typedef struct swl_stream swl_stream;

/* What a stream is fed. */
#define SWL_STREAM_FRAMES 0 /* feature frames of swl_stream_frame_width floats */
#define SWL_STREAM_PCM    1 /* 16 kHz mono PCM samples; the model's audio front end makes frames */

/* Word detection (keyword spotting) on a stream, for classifiers that score frames (LMUFormer, test).
 *
 * Per frame, the posteriors — the softmax of the model's logits for that frame alone (for LMUFormer,
 * the head of the frame, not of the running mean the output rows hold) — are averaged over the last
 * window_seconds (fewer at the start). A word class whose smoothed posterior reaches the threshold
 * opens a candidate, which follows that class's peak and is reported once the class falls below the
 * threshold or one window after the peak, whichever comes first: one event per word, at most one
 * window after its peak. After an event, no word starts for hold_off_seconds, and the same class
 * must fall below the threshold before it fires again.
 *
 * Background classes are never reported. By default they are the classes whose label
 * (general.labels) is "silence", "unknown", "background", "background_noise" or "noise", compared
 * without case and without leading or trailing '_', '-' or spaces (so the Speech Commands names
 * "_silence_", "_unknown_", "_background_noise_" are background); a model without labels has none.
 *
 * Set the defaults with swl_detector_options_init; every field is then taken as given. */
typedef struct swl_detector_options {
    uint32_t struct_size;
    uint32_t n_background;   /* entries of `background` */
    double threshold;        /* smoothed posterior a word must reach, in (0, 1]; default 0.5 */
    double window_seconds;   /* posteriors averaged over this long, > 0; default 0.3 */
    double hold_off_seconds; /* after an event, no word starts for this long, >= 0; default 0.3 */
    double frame_seconds;    /* seconds per frame; 0 (default) = the model's audio frame shift, or
                                0.01 for a model without an audio front end */
    /* NULL (default): background classes by label, as above. Otherwise exactly these n_background
     * class indices (n_background 0: every class is a word); read during swl_stream_create only. */
    const int32_t *background;
} swl_detector_options;

void swl_detector_options_init(swl_detector_options *options);

typedef struct swl_stream_options {
    uint32_t struct_size;
    int32_t input_kind; /* SWL_STREAM_FRAMES or SWL_STREAM_PCM */
    int32_t n_threads;  /* 0 = 1 thread (per-frame work is too small to split) */
    int32_t reserved;
    swl_abort_callback abort_callback; /* may be NULL */
    void *abort_user_data;
    /* Word detection (see swl_detector_options); NULL (default) = none. A detecting stream listens
     * until flushed: a PCM stream does not end its clip at the model's clip length
     * (lmuformer.audio.target_frames), and early-decision budgets are refused (SWL_ERR_BUDGET). Read
     * during swl_stream_create only. */
    const swl_detector_options *detector;
} swl_stream_options;

void swl_stream_options_init(swl_stream_options *options);

/* Creates a stream. Its state is independent of every other stream of the same model. */
swl_status swl_stream_create(swl_model *model, const swl_stream_options *options, swl_stream **out_stream);
void swl_stream_free(swl_stream *stream);

/* Floats per input frame and per output row. */
swl_status swl_stream_frame_width(swl_stream *stream, uint64_t *out_width);
swl_status swl_stream_output_width(swl_stream *stream, uint64_t *out_width);

/* Pushes n_frames frames (row-major, n_frames x frame width). *out_n_ready (may be NULL) receives the
 * number of output rows this push produced; read them with swl_stream_outputs. */
swl_status swl_stream_push(swl_stream *stream, const float *frames, uint64_t n_frames, uint64_t *out_n_ready);

/* Pushes PCM samples (streams created with SWL_STREAM_PCM). */
swl_status swl_stream_push_pcm(swl_stream *stream, const int16_t *samples, uint64_t n_samples, uint64_t *out_n_ready);

/* Ends the input: emits the rows still held back for look-ahead, as a whole-input run would. */
swl_status swl_stream_flush(swl_stream *stream, uint64_t *out_n_ready);

/* The rows produced by the last push or flush: *out_n_rows rows of output-width floats, stream-owned,
 * valid until the next call on the stream. */
swl_status swl_stream_outputs(swl_stream *stream, const float **out_rows, uint64_t *out_n_rows);

/* A word found by a detecting stream. This struct is output only and never changes (a later
 * version would add a new type), so arrays of it have the stride sizeof(swl_detection). */
typedef struct swl_detection {
    int32_t class_index; /* the model's output column */
    float score;         /* the smoothed posterior at the peak, >= the threshold */
    /* Where the word is: the centre of the smoothing window at the peak, as a frame index counted
     * from the stream's creation or last reset, and in seconds of input (frame * frame_seconds; for a
     * PCM stream, seconds into the audio). */
    int64_t frame;
    double seconds;
    /* The class name (general.labels), or "class N" if the model has none; owned by the stream,
     * valid until it is freed. */
    const char *label;
} swl_detection;

/* The words completed by the last push or flush, in order (a flush also reports a word still
 * open at the end of the input): *out_count events at *out_detections (NULL when there are none),
 * stream-owned, valid until the next call on the stream. A stream made without a detector returns
 * SWL_ERR_STATE. */
swl_status swl_stream_detections(swl_stream *stream, const swl_detection **out_detections, uint64_t *out_count);

/* Forgets everything pushed: the stream is as new (budget kept; a detector starts over). */
swl_status swl_stream_reset(swl_stream *stream);

/* Sets the early-decision budget (NULL clears it). */
swl_status swl_stream_set_budget(swl_stream *stream, const swl_budget *budget);

/* Report of the stream so far: frames used, decision, work, time. */
swl_status swl_stream_report(swl_stream *stream, swl_run_report *report);
swl_status swl_stream_report_values(swl_stream *stream, const char *name, const double **out_values,
                                    uint64_t *out_count);

/* The stream state as bytes, to resume later on a stream of the same model (a detector is not part
 * of it: loading restarts detection, as a reset does). Loading refuses
 * (SWL_ERR_INVALID_ARGUMENT) a state that is damaged, comes from another model (other weights
 * included) or input kind, or whose fields no stream of the model could reach. The checksum detects
 * damage, not deliberate edits: a state is not authenticated. */
swl_status swl_stream_state_size(swl_stream *stream, uint64_t *out_size);
swl_status swl_stream_save_state(swl_stream *stream, void *buffer, uint64_t capacity, uint64_t *out_written);
swl_status swl_stream_load_state(swl_stream *stream, const void *buffer, uint64_t size);

#ifdef __cplusplus
}
#endif

#endif /* SWIFTLET_H */
