/* The C text test: swl_tokenize, swl_detokenize and the streamed detokenizer against the goldens the
 * Hugging Face `tokenizers` package made (scripts/tokenizer-goldens-tsv.py writes them as lines of
 * hex text, ids, hex decoded text), plus the errors. Includes only swiftlet.h (and the tests' check.h).
 *
 * Usage: text_test LM_WITH_TOKENIZER.swl MODEL_WITHOUT_TOKENIZER.swl GOLDENS.tsv
 * Built with: gcc -std=c99 -Wall -Wextra -Werror -pedantic (see the Makefile). */
#include "check.h"
#include "swiftlet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hex digits to bytes; returns the byte count. */
static size_t unhex(const char *hex, size_t n, char *out) {
    size_t i;
    for (i = 0; i + 1 < n; i += 2) {
        unsigned v;
        sscanf(hex + i, "%2x", &v);
        out[i / 2] = (char)v;
    }
    return n / 2;
}

static void check_golden(const swl_model *lm, const char *text, size_t text_len, const int32_t *want, uint64_t n_want,
                         const char *decoded, size_t decoded_len, int line) {
    int32_t ids[4096];
    uint64_t n = 0, len = 0, joined_len = 0, piece_len = 0;
    char out[16384], joined[16384];
    const char *piece = NULL;
    swl_detokenizer *d = NULL;
    uint64_t i;

    CHECK_STATUS(swl_tokenize(lm, text, text_len, ids, 4096, &n), SWL_OK);
    CHECK(n == n_want && memcmp(ids, want, (size_t)n * sizeof(int32_t)) == 0, "line %d: ids differ", line);
    CHECK_STATUS(swl_detokenize(lm, want, n_want, 0, out, sizeof out, &len), SWL_OK);
    CHECK(len == decoded_len && memcmp(out, decoded, (size_t)len) == 0 && out[len] == '\0', "line %d: text differs",
          line);
    /* Streamed, one id at a time: the pieces join to the same text. */
    CHECK_STATUS(swl_detokenizer_create((swl_model *)lm, 0, &d), SWL_OK);
    for (i = 0; i < n_want; i++) {
        CHECK_STATUS(swl_detokenizer_push(d, want[i], &piece, &piece_len), SWL_OK);
        memcpy(joined + joined_len, piece, (size_t)piece_len);
        joined_len += piece_len;
    }
    CHECK_STATUS(swl_detokenizer_flush(d, &piece, &piece_len), SWL_OK);
    memcpy(joined + joined_len, piece, (size_t)piece_len);
    joined_len += piece_len;
    CHECK(joined_len == len && memcmp(joined, out, (size_t)len) == 0, "line %d: streamed text differs", line);
    swl_detokenizer_free(d);
}

static int read_goldens(const swl_model *lm, const char *path) {
    static char line[65536];
    FILE *f = fopen(path, "r");
    int count = 0;
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        char text[16384], decoded[16384];
        int32_t ids[4096];
        uint64_t n_ids = 0;
        char *tab1 = strchr(line, '\t'), *tab2, *p;
        size_t text_len, decoded_len;
        if (!tab1 || !(tab2 = strchr(tab1 + 1, '\t'))) continue;
        text_len = unhex(line, (size_t)(tab1 - line), text);
        for (p = tab1 + 1; p < tab2 && n_ids < 4096;) {
            ids[n_ids++] = (int32_t)strtol(p, &p, 10);
            if (*p == ',') p++;
        }
        decoded_len = unhex(tab2 + 1, strcspn(tab2 + 1, "\n"), decoded);
        check_golden(lm, text, text_len, ids, n_ids, decoded, decoded_len, count + 1);
        count++;
    }
    fclose(f);
    return count;
}

static void check_errors(const swl_model *lm, const swl_model *plain) {
    int32_t ids[8];
    int32_t bad_id = 100, too_big = 1000;
    uint64_t n = 99, len = 99;
    char out[8];
    const char *piece = NULL;
    swl_detokenizer *d = NULL;

    CHECK(swl_model_has_tokenizer(lm) == 1 && swl_model_has_tokenizer(plain) == 0, "has_tokenizer");
    CHECK(swl_model_has_tokenizer(NULL) == 0, "has_tokenizer(NULL)");
    CHECK(swl_model_token_is_special(lm, 0) == 1 && swl_model_token_is_special(lm, 65) == 0, "is_special");
    CHECK(swl_model_token_is_special(lm, -1) == 0 && swl_model_token_is_special(NULL, 0) == 0, "is_special bounds");
    /* The count alone, then a buffer too small: nothing written, the count given. */
    CHECK_STATUS(swl_tokenize(lm, "hello world", 11, NULL, 0, &n), SWL_ERR_BUFFER_TOO_SMALL);
    CHECK(n > 2 && n <= 11, "count %llu", (unsigned long long)n);
    ids[0] = -7;
    CHECK_STATUS(swl_tokenize(lm, "hello world", 11, ids, 1, &n), SWL_ERR_BUFFER_TOO_SMALL);
    CHECK(ids[0] == -7, "no id written");
    CHECK_STATUS(swl_tokenize(lm, "", 0, NULL, 0, &n), SWL_OK);
    CHECK(n == 0, "empty text has no ids");
    CHECK_STATUS(swl_tokenize(lm, "\xc3\x28", 2, ids, 8, &n), SWL_ERR_INVALID_ARGUMENT); /* not UTF-8 */
    CHECK_STATUS(swl_tokenize(lm, NULL, 3, ids, 8, &n), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_tokenize(lm, "abc", 3, ids, 8, NULL), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_tokenize(plain, "abc", 3, ids, 8, &n), SWL_ERR_UNSUPPORTED);
    CHECK_STATUS(swl_tokenize(NULL, "abc", 3, ids, 8, &n), SWL_ERR_INVALID_ARGUMENT);

    CHECK_STATUS(swl_tokenize(lm, "abcdefgh", 8, ids, 8, &n), SWL_OK);
    CHECK_STATUS(swl_detokenize(lm, ids, n, 0, out, 8, &len), SWL_ERR_BUFFER_TOO_SMALL); /* no room for NUL */
    CHECK(len == 8, "needed length %llu", (unsigned long long)len);
    CHECK_STATUS(swl_detokenize(lm, &bad_id, 1, 0, out, 8, &len), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_detokenize(lm, &too_big, 1, 0, out, 8, &len), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_detokenize(lm, ids, 1, 0x80, out, 8, &len), SWL_ERR_INVALID_ARGUMENT); /* unknown flag */
    CHECK_STATUS(swl_detokenize(plain, ids, 1, 0, out, 8, &len), SWL_ERR_UNSUPPORTED);
    ids[0] = 0; /* <|endoftext|>, skipped on request */
    CHECK_STATUS(swl_detokenize(lm, ids, 1, SWL_DETOKENIZE_SKIP_SPECIAL, out, 8, &len), SWL_OK);
    CHECK(len == 0 && out[0] == '\0', "special skipped");

    CHECK_STATUS(swl_detokenizer_create((swl_model *)plain, 0, &d), SWL_ERR_UNSUPPORTED);
    CHECK(d == NULL, "no handle on failure");
    CHECK_STATUS(swl_detokenizer_create((swl_model *)lm, 0, &d), SWL_OK);
    CHECK_STATUS(swl_detokenizer_push(d, bad_id, &piece, NULL), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_detokenizer_push(d, 65, NULL, NULL), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_detokenizer_push(NULL, 65, &piece, NULL), SWL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(swl_detokenizer_push(d, 65, &piece, NULL), SWL_OK);
    CHECK(piece && strcmp(piece, "a") == 0, "piece '%s'", piece ? piece : "(null)");
    swl_detokenizer_free(d);
    swl_detokenizer_free(NULL);
}

int main(int argc, char **argv) {
    swl_model *lm = NULL, *plain = NULL;
    int cases;
    if (argc != 4) {
        fprintf(stderr, "usage: %s LM_WITH_TOKENIZER.swl MODEL_WITHOUT_TOKENIZER.swl GOLDENS.tsv\n", argv[0]);
        return 2;
    }
    if (swl_model_load(argv[1], NULL, &lm) != SWL_OK || swl_model_load(argv[2], NULL, &plain) != SWL_OK) {
        fprintf(stderr, "cannot load the models: %s\n", swl_last_error());
        return 2;
    }
    cases = read_goldens(lm, argv[3]);
    CHECK(cases >= 500, "%d golden cases read from %s", cases, argv[3]);
    check_errors(lm, plain);
    swl_model_free(lm);
    swl_model_free(plain);
    printf("text_test: %d golden strings; %d passed, %d failed\n", cases, passed, failed);
    return failed == 0 ? 0 : 1;
}
