/* Self-test of the fuzzers' .swl tools (run by `make fuzz-smoke`): XXH64 test vectors; for each file
 * given, parse + serialize reproduces the writer's bytes exactly, the recomputed header checksum and
 * every raw tensor's checksum equal the stored ones; then a few thousand mutations run under the
 * sanitizers and every parseable mutant keeps a correct header checksum.
 *
 * Usage: swl_selftest FILE.swl... */
#include "swl_fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define EXPECT(cond, ...)                                                                                              \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            failures++;                                                                                                \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                       \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, "\n");                                                                                     \
        }                                                                                                              \
    } while (0)

static size_t flip_one_byte(uint8_t *data, size_t size, size_t max_size) {
    (void)max_size;
    if (size) data[(size * 7 + 3) % size] ^= 0x20;
    return size;
}

static uint8_t *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *size = (size_t)n;
    }
    fclose(f);
    return buf;
}

static uint64_t stored_checksum(const uint8_t *d) {
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--) v = (v << 8) | d[88 + i];
    return v;
}

int main(int argc, char **argv) {
    int a;
    EXPECT(swlfz_xxh64("", 0, 0) == 0xEF46DB3751D8E999ULL, "xxh64 of nothing");
    EXPECT(swlfz_xxh64("a", 1, 0) == 0xD24EC4F1A98C6E5BULL, "xxh64 of 'a'");
    EXPECT(swlfz_xxh64("abc", 3, 0) == 0x44BC2CF5AD770999ULL, "xxh64 of 'abc'");
    for (a = 1; a < argc; a++) {
        size_t size = 0, i, max_size, n = 0;
        uint8_t *orig = read_all(argv[a], &size), *buf, *out;
        swlfz_file f;
        unsigned seed;
        int parsed = 0;
        if (!orig) {
            EXPECT(0, "cannot read %s", argv[a]);
            continue;
        }
        EXPECT(swlfz_parse(orig, size, &f) == 0, "%s does not parse", argv[a]);
        out = malloc(size + 64);
        if (f.tensors) {
            n = swlfz_serialize(&f, out, size + 64);
            swlfz_fix_header_checksum(out, n);
            EXPECT(n == size && memcmp(out, orig, size) == 0, "%s: parse + serialize changes the bytes", argv[a]);
            for (i = 0; i < f.n_tensors; i++) {
                if (f.tensors[i].codec == 0)
                    EXPECT(swlfz_xxh64(f.tensors[i].data, (size_t)f.tensors[i].raw_size, 0) == f.tensors[i].checksum,
                           "%s: tensor %zu checksum", argv[a], i);
            }
            swlfz_free(&f);
        }
        memcpy(out, orig, size);
        EXPECT(swlfz_fix_header_checksum(out, size) && stored_checksum(out) == stored_checksum(orig),
               "%s: recomputed header checksum differs", argv[a]);
        free(out);

        max_size = size * 2 + 4096;
        buf = malloc(max_size);
        for (seed = 1; seed <= 2000; seed++) {
            /* every tenth mutant starts from the file again; the others mutate the last mutant */
            if (seed % 10 == 1) {
                memcpy(buf, orig, size);
                n = size;
            }
            n = swlfz_mutate(buf, n, max_size, seed, flip_one_byte);
            if (swlfz_parse(buf, n, &f) == 0) {
                parsed++;
                swlfz_free(&f);
            }
        }
        EXPECT(parsed > 500, "%s: only %d of 2000 mutants parse", argv[a], parsed);
        printf("%s: %d of 2000 chained mutants parse\n", argv[a], parsed);
        free(buf);
        free(orig);
    }
    printf("swl_selftest: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
