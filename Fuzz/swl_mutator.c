/* A structure-aware mutator for .swl files (Formats/swl.md).
 *
 * A parseable input is taken apart into its header, tensor index, metadata and tensor bytes; one to
 * three structured mutations are applied (metadata values set to boundary numbers, NaN and infinity;
 * metadata entries dropped, duplicated, retyped or given another entry's value; tensor shapes, dtypes
 * and codecs changed with or without a matching byte count; NaN, infinity and extreme values written
 * into tensor data; tensors dropped, duplicated, renamed, reordered, recompressed); and the file is
 * written back in the writer's layout. Other rounds set one raw header, index or metadata field to a
 * boundary value, or let libFuzzer mutate bytes. Every mutant then gets a correct header checksum (and
 * changed tensors correct tensor checksums), except in a few percent of rounds, so that mutants get
 * past checksum validation into the loaders of every family. */
#include "swl_fuzz.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define HEADER_SIZE 96
static const uint8_t MAGIC[8] = {0x89, 'S', 'W', 'L', '\r', '\n', 0x1a, '\n'};

/* ---- little-endian access ------------------------------------------------------------------- */

static uint64_t rd(const uint8_t *p, int n) {
    uint64_t v = 0;
    int i;
    for (i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void wr(uint8_t *p, uint64_t v, int n) {
    int i;
    for (i = 0; i < n; i++) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static int in_bounds(uint64_t offset, uint64_t length, uint64_t size) {
    return offset <= size && length <= size - offset;
}

static size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

/* ---- random numbers ------------------------------------------------------------------------- */

typedef struct {
    uint64_t s;
} rng_t;

static uint64_t rnext(rng_t *r) { /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rbelow(rng_t *r, uint64_t n) { return n ? rnext(r) % n : 0; }
static int rchance(rng_t *r, unsigned percent) { return rbelow(r, 100) < percent; }

/* ---- arena: every buffer a mutation creates lives until swlfz_free --------------------------- */

struct swlfz_arena {
    void **blocks;
    size_t n, cap;
};

static void *arena_alloc(swlfz_file *f, size_t n) {
    void *p;
    swlfz_arena *a = f->arena;
    if (!a) {
        a = f->arena = calloc(1, sizeof *a);
        if (!a) return NULL;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        void **blocks = realloc(a->blocks, cap * sizeof *blocks);
        if (!blocks) return NULL;
        a->blocks = blocks;
        a->cap = cap;
    }
    p = calloc(1, n ? n : 1);
    if (p) a->blocks[a->n++] = p;
    return p;
}

static uint8_t *arena_copy(swlfz_file *f, const void *src, size_t n) {
    uint8_t *p = arena_alloc(f, n);
    if (p && n) memcpy(p, src, n);
    return p;
}

void swlfz_free(swlfz_file *f) {
    size_t i;
    if (f->arena) {
        for (i = 0; i < f->arena->n; i++) free(f->arena->blocks[i]);
        free(f->arena->blocks);
        free(f->arena);
    }
    free(f->tensors);
    free(f->meta);
    memset(f, 0, sizeof *f);
}

/* ---- parse and serialize -------------------------------------------------------------------- */

int swlfz_parse(const uint8_t *d, size_t size, swlfz_file *f) {
    uint64_t io, is, mo, ms, pos, end;
    uint32_t hs, tc, mc, i;
    memset(f, 0, sizeof *f);
    if (size < HEADER_SIZE || memcmp(d, MAGIC, 8) != 0) return -1;
    hs = (uint32_t)rd(d + 12, 4);
    if (hs < HEADER_SIZE || hs > size) return -1;
    f->major = (uint16_t)rd(d + 8, 2);
    f->minor = (uint16_t)rd(d + 10, 2);
    f->flags = rd(d + 16, 8);
    io = rd(d + 32, 8), is = rd(d + 40, 8), mo = rd(d + 48, 8), ms = rd(d + 56, 8);
    tc = (uint32_t)rd(d + 80, 4), mc = (uint32_t)rd(d + 84, 4);
    if (!in_bounds(io, is, size) || !in_bounds(mo, ms, size)) return -1;
    if (tc > (1u << 16) || mc > (1u << 16) || (uint64_t)tc * 48 > is || (uint64_t)mc * 8 > ms) return -1;
    f->cap_tensors = tc + 8;
    f->cap_meta = mc + 8;
    f->tensors = calloc(f->cap_tensors, sizeof *f->tensors);
    f->meta = calloc(f->cap_meta, sizeof *f->meta);
    if (!f->tensors || !f->meta) goto fail;

    pos = io, end = io + is;
    for (i = 0; i < tc; i++) {
        swlfz_tensor *t = &f->tensors[i];
        uint64_t es, offset;
        int j;
        if (end - pos < 48) goto fail;
        es = rd(d + pos, 4);
        if (es < 48 || es > end - pos) goto fail;
        t->name_len = (uint32_t)rd(d + pos + 4, 2);
        t->dtype = d[pos + 6];
        t->codec = d[pos + 7];
        t->filters = d[pos + 8];
        t->n_dims = d[pos + 9];
        if (t->n_dims > 8 || 48 + 8 * (uint64_t)t->n_dims + t->name_len > es) goto fail;
        offset = rd(d + pos + 16, 8);
        t->stored_size = rd(d + pos + 24, 8);
        t->raw_size = rd(d + pos + 32, 8);
        t->checksum = rd(d + pos + 40, 8);
        for (j = 0; j < t->n_dims; j++) t->dims[j] = rd(d + pos + 48 + 8 * j, 8);
        t->name = d + pos + 48 + 8 * t->n_dims;
        if (!in_bounds(offset, t->stored_size, size)) goto fail;
        t->data = d + offset;
        pos += es;
    }
    f->n_tensors = tc;

    pos = mo, end = mo + ms;
    for (i = 0; i < mc; i++) {
        swlfz_meta *m = &f->meta[i];
        if (end - pos < 8) goto fail;
        m->key_len = (uint32_t)rd(d + pos, 2);
        m->type = d[pos + 2];
        m->value_size = (uint32_t)rd(d + pos + 4, 4);
        if ((uint64_t)m->key_len + m->value_size > end - pos - 8) goto fail;
        m->key = d + pos + 8;
        m->value = m->key + m->key_len;
        pos += 8 + (uint64_t)m->key_len + m->value_size;
    }
    f->n_meta = mc;
    return 0;
fail:
    swlfz_free(f);
    return -1;
}

static size_t index_bytes(const swlfz_file *f) {
    size_t i, n = 0;
    for (i = 0; i < f->n_tensors; i++) n += align_up(48 + 8 * (size_t)f->tensors[i].n_dims + f->tensors[i].name_len, 8);
    return n;
}

static size_t meta_bytes(const swlfz_file *f) {
    size_t i, n = 0;
    for (i = 0; i < f->n_meta; i++) n += 8 + (size_t)f->meta[i].key_len + f->meta[i].value_size;
    return n;
}

size_t swlfz_serialized_size(const swlfz_file *f) {
    size_t i, cur = align_up(HEADER_SIZE + index_bytes(f) + meta_bytes(f), 64);
    for (i = 0; i < f->n_tensors; i++) {
        cur = align_up(cur, 64);
        if (f->tensors[i].stored_size > SIZE_MAX / 2) return SIZE_MAX;
        cur += (size_t)f->tensors[i].stored_size;
        if (cur > SIZE_MAX / 2) return SIZE_MAX;
    }
    return cur;
}

size_t swlfz_serialize(const swlfz_file *f, uint8_t *out, size_t cap) {
    size_t total = swlfz_serialized_size(f), is = index_bytes(f), ms = meta_bytes(f);
    size_t data_offset = align_up(HEADER_SIZE + is + ms, 64), pos, cur, i;
    if (total == SIZE_MAX || total > cap) return 0;
    memset(out, 0, total);
    memcpy(out, MAGIC, 8);
    wr(out + 8, f->major, 2);
    wr(out + 10, f->minor, 2);
    wr(out + 12, HEADER_SIZE, 4);
    wr(out + 16, f->flags, 8);
    wr(out + 24, total, 8);
    wr(out + 32, HEADER_SIZE, 8);
    wr(out + 40, is, 8);
    wr(out + 48, HEADER_SIZE + is, 8);
    wr(out + 56, ms, 8);
    wr(out + 64, data_offset, 8);
    wr(out + 72, total - data_offset, 8);
    wr(out + 80, f->n_tensors, 4);
    wr(out + 84, f->n_meta, 4);

    pos = HEADER_SIZE;
    cur = data_offset;
    for (i = 0; i < f->n_tensors; i++) {
        const swlfz_tensor *t = &f->tensors[i];
        size_t es = align_up(48 + 8 * (size_t)t->n_dims + t->name_len, 8);
        int j;
        cur = align_up(cur, 64);
        wr(out + pos, es, 4);
        wr(out + pos + 4, t->name_len, 2);
        out[pos + 6] = t->dtype;
        out[pos + 7] = t->codec;
        out[pos + 8] = t->filters;
        out[pos + 9] = t->n_dims;
        wr(out + pos + 16, cur, 8);
        wr(out + pos + 24, t->stored_size, 8);
        wr(out + pos + 32, t->raw_size, 8);
        wr(out + pos + 40, t->checksum, 8);
        for (j = 0; j < t->n_dims; j++) wr(out + pos + 48 + 8 * j, t->dims[j], 8);
        if (t->name_len) memcpy(out + pos + 48 + 8 * t->n_dims, t->name, t->name_len);
        if (t->stored_size) memmove(out + cur, t->data, (size_t)t->stored_size);
        cur += (size_t)t->stored_size;
        pos += es;
    }
    for (i = 0; i < f->n_meta; i++) {
        const swlfz_meta *m = &f->meta[i];
        wr(out + pos, m->key_len, 2);
        out[pos + 2] = m->type;
        wr(out + pos + 4, m->value_size, 4);
        if (m->key_len) memcpy(out + pos + 8, m->key, m->key_len);
        if (m->value_size) memcpy(out + pos + 8 + m->key_len, m->value, m->value_size);
        pos += 8 + (size_t)m->key_len + m->value_size;
    }
    return total;
}

int swlfz_fix_header_checksum(uint8_t *d, size_t size) {
    uint64_t io, is, mo, ms;
    uint32_t hs;
    uint8_t *buf;
    if (size < HEADER_SIZE || memcmp(d, MAGIC, 8) != 0) return 0;
    hs = (uint32_t)rd(d + 12, 4);
    io = rd(d + 32, 8), is = rd(d + 40, 8), mo = rd(d + 48, 8), ms = rd(d + 56, 8);
    if (hs < HEADER_SIZE || hs > size || !in_bounds(io, is, size) || !in_bounds(mo, ms, size)) return 0;
    buf = malloc((size_t)(hs + is + ms) + 1);
    if (!buf) return 0;
    memcpy(buf, d, hs);
    memset(buf + 88, 0, 8);
    memcpy(buf + hs, d + io, (size_t)is);
    memcpy(buf + hs + is, d + mo, (size_t)ms);
    wr(d + 88, swlfz_xxh64(buf, (size_t)(hs + is + ms), 0), 8);
    free(buf);
    return 1;
}

/* ---- value tables ----------------------------------------------------------------------------- */

static uint64_t interesting_u64(rng_t *r, uint64_t old) {
    static const uint64_t table[] = {0,
                                     1,
                                     2,
                                     3,
                                     4,
                                     5,
                                     7,
                                     8,
                                     15,
                                     16,
                                     17,
                                     31,
                                     32,
                                     33,
                                     63,
                                     64,
                                     127,
                                     128,
                                     255,
                                     256,
                                     1000,
                                     1023,
                                     1024,
                                     4095,
                                     4096,
                                     65535,
                                     65536,
                                     1000000,
                                     0x7fffffffULL,
                                     0x80000000ULL,
                                     0xffffffffULL,
                                     0x100000000ULL,
                                     0x100000001ULL,
                                     1ULL << 40,
                                     1ULL << 52,
                                     1ULL << 53,
                                     1ULL << 62,
                                     0x7fffffffffffffffULL,
                                     0x8000000000000000ULL,
                                     0xfffffffffffffffeULL,
                                     0xffffffffffffffffULL};
    switch (rbelow(r, 6)) {
    case 0: return old + 1 + rbelow(r, 4);
    case 1: return old - 1 - rbelow(r, 4);
    case 2: return rchance(r, 50) ? old * 2 : old / 2;
    case 3: return 0 - old; /* the negative, as two's complement */
    default: return table[rbelow(r, sizeof table / sizeof table[0])];
    }
}

static double interesting_f64(rng_t *r, double old) {
    static const double table[] = {0.0,
                                   -0.0,
                                   1.0,
                                   -1.0,
                                   0.5,
                                   2.0,
                                   1e-300,
                                   4.9e-324,
                                   1e300,
                                   1.7976931348623157e308,
                                   -1.7976931348623157e308,
                                   9.2233720368547758e18,
                                   1.8446744073709552e19,
                                   -9.2233720368547758e18,
                                   1e10,
                                   65536.5,
                                   3.4028235e38,
                                   3.5e38,
                                   1e-45};
    switch (rbelow(r, 8)) {
    case 0: return NAN;
    case 1: return -NAN;
    case 2: return INFINITY;
    case 3: return -INFINITY;
    case 4: return old * (rchance(r, 50) ? 2.0 : -1.0);
    case 5: return old + 1.0;
    default: return table[rbelow(r, sizeof table / sizeof table[0])];
    }
}

static uint64_t f64_bits(double v) {
    uint64_t b;
    memcpy(&b, &v, 8);
    return b;
}

static double bits_f64(uint64_t b) {
    double v;
    memcpy(&v, &b, 8);
    return v;
}

/* ---- metadata mutations ----------------------------------------------------------------------- */

static void set_value(swlfz_file *f, swlfz_meta *m, const void *bytes, size_t n) {
    uint8_t *p = arena_copy(f, bytes, n);
    if (!p) return;
    m->value = p;
    m->value_size = (uint32_t)n;
}

static void mutate_number_at(rng_t *r, uint8_t *p, int is_float) {
    if (is_float) {
        wr(p, f64_bits(interesting_f64(r, bits_f64(rd(p, 8)))), 8);
    } else {
        wr(p, interesting_u64(r, rd(p, 8)), 8);
    }
}

static void mutate_meta_value(swlfz_file *f, rng_t *r) {
    static const char *strings[] = {"vit",  "lmuformer", "loopformer", "memoryformer", "test",    "",
                                    "VIT",  "vit ",      "lmu",        "slmu",         "slmu_ms", "relu",
                                    "gelu", "none",      "\xff\xfe",   "f16",          "q8"};
    swlfz_meta *m;
    uint8_t buf[512];
    size_t n;
    if (!f->n_meta) return;
    m = &f->meta[rbelow(r, f->n_meta)];
    switch (m->type) {
    case 1:
    case 2:
    case 5:
    case 6: {
        int is_float = m->type == 2 || m->type == 6;
        size_t count = m->value_size / 8;
        uint8_t *copy;
        if ((m->type == 5 || m->type == 6) && rchance(r, 30)) {
            /* change the length of an array: drop the last element, add a copy, or empty it */
            size_t newc = rchance(r, 40) && count ? count - 1 : rchance(r, 50) ? count + 1 : 0;
            copy = arena_alloc(f, newc * 8 + 8);
            if (!copy) return;
            memcpy(copy, m->value, (count < newc ? count : newc) * 8);
            if (newc > count && count) memcpy(copy + count * 8, m->value + (count - 1) * 8, 8);
            m->value = copy;
            m->value_size = (uint32_t)(newc * 8);
            return;
        }
        if (!count) return;
        copy = arena_copy(f, m->value, m->value_size);
        if (!copy) return;
        mutate_number_at(r, copy + 8 * rbelow(r, count), is_float);
        m->value = copy;
        return;
    }
    case 3:
        buf[0] = (uint8_t)(rchance(r, 70) ? rbelow(r, 2) : rbelow(r, 256));
        set_value(f, m, buf, 1);
        return;
    case 4:
        switch (rbelow(r, 5)) {
        case 0: {
            const char *s = strings[rbelow(r, sizeof strings / sizeof strings[0])];
            set_value(f, m, s, strlen(s));
            return;
        }
        case 1: /* another entry's string */ {
            size_t i, tries;
            for (tries = 0; tries < 8; tries++) {
                i = rbelow(r, f->n_meta);
                if (f->meta[i].type == 4) {
                    m->value = f->meta[i].value;
                    m->value_size = f->meta[i].value_size;
                    return;
                }
            }
            return;
        }
        case 2: /* one byte changed */
            if (!m->value_size) return;
            n = m->value_size;
            {
                uint8_t *copy = arena_copy(f, m->value, n);
                if (!copy) return;
                copy[rbelow(r, n)] = (uint8_t)rnext(r);
                m->value = copy;
            }
            return;
        case 3: /* truncated */ m->value_size = (uint32_t)rbelow(r, m->value_size + 1); return;
        default: /* long */
            n = 1 + rbelow(r, sizeof buf);
            memset(buf, 'a' + (int)rbelow(r, 26), n);
            set_value(f, m, buf, n);
            return;
        }
    case 7:
        if (m->value_size >= 4 && rchance(r, 50)) {
            uint8_t *copy = arena_copy(f, m->value, m->value_size);
            if (!copy) return;
            wr(copy, interesting_u64(r, rd(copy, 4)), 4);
            m->value = copy;
            return;
        }
        /* fall through: change a byte */
    default:
        if (!m->value_size) return;
        {
            uint8_t *copy = arena_copy(f, m->value, m->value_size);
            if (!copy) return;
            copy[rbelow(r, m->value_size)] = (uint8_t)rnext(r);
            m->value = copy;
        }
        return;
    }
}

static int grow_meta(swlfz_file *f) {
    if (f->n_meta == f->cap_meta) {
        size_t cap = f->cap_meta * 2 + 8;
        swlfz_meta *p = realloc(f->meta, cap * sizeof *p);
        if (!p) return 0;
        f->meta = p;
        f->cap_meta = cap;
    }
    return 1;
}

static void mutate_meta_structure(swlfz_file *f, rng_t *r) {
    size_t i, j;
    if (!f->n_meta) return;
    i = rbelow(r, f->n_meta);
    switch (rbelow(r, 6)) {
    case 0: /* drop the entry (a required key goes missing) */
        memmove(&f->meta[i], &f->meta[i + 1], (f->n_meta - i - 1) * sizeof *f->meta);
        f->n_meta--;
        return;
    case 1: /* duplicate it (a repeated key) */
        if (!grow_meta(f)) return;
        memmove(&f->meta[i + 1], &f->meta[i], (f->n_meta - i) * sizeof *f->meta);
        f->n_meta++;
        return;
    case 2: /* another type code with the same bytes */ f->meta[i].type = (uint8_t)rbelow(r, 10); return;
    case 3: /* another entry's type and value under this key (a key of the wrong type or size) */
        j = rbelow(r, f->n_meta);
        f->meta[i].type = f->meta[j].type;
        f->meta[i].value = f->meta[j].value;
        f->meta[i].value_size = f->meta[j].value_size;
        return;
    case 4: /* one byte of the key changed (unknown key, unsorted keys, invalid UTF-8) */
        if (f->meta[i].key_len) {
            uint8_t *k = arena_copy(f, f->meta[i].key, f->meta[i].key_len);
            if (!k) return;
            k[rbelow(r, f->meta[i].key_len)] = (uint8_t)(rchance(r, 50) ? rnext(r) : 'a' + rbelow(r, 26));
            f->meta[i].key = k;
        }
        return;
    default: /* two entries swap places */
        j = rbelow(r, f->n_meta);
        {
            swlfz_meta tmp = f->meta[i];
            f->meta[i] = f->meta[j];
            f->meta[j] = tmp;
        }
        return;
    }
}

/* ---- tensor mutations ----------------------------------------------------------------------- */

/* Raw byte size for a known dtype and shape (the format's rule), 0 if unknown or on overflow. */
static int raw_size_of(uint8_t dtype, const uint64_t *dims, int n_dims, uint64_t *out) {
    uint64_t count = 1, width;
    int i;
    for (i = 0; i < n_dims; i++) {
        if (dims[i] && count > UINT64_MAX / dims[i]) return 0;
        count *= dims[i];
    }
    switch (dtype) {
    case 1:
    case 5: width = 4; break;
    case 2:
    case 3: width = 2; break;
    case 6: width = 8; break;
    case 7: width = 1; break;
    case 4: {
        uint64_t cols, rows;
        if (n_dims < 1) return 0;
        cols = dims[n_dims - 1];
        rows = cols ? count / cols : 0;
        if (rows > (UINT64_MAX - count) / 4) return 0;
        *out = count + 4 * rows;
        return 1;
    }
    default: return 0;
    }
    if (count > UINT64_MAX / width) return 0;
    *out = count * width;
    return 1;
}

/* Gives a raw (uncompressed) tensor `raw_size` bytes: the old bytes, then a repeating pattern. */
#define MAX_RESIZED (64u << 20)
static int resize_raw(swlfz_file *f, swlfz_tensor *t, uint64_t raw_size, rng_t *r) {
    uint8_t *p;
    size_t keep, i;
    if (raw_size > MAX_RESIZED) return 0;
    p = arena_alloc(f, (size_t)raw_size);
    if (!p) return 0;
    keep = t->codec == 0 && t->stored_size < raw_size ? (size_t)t->stored_size : t->codec == 0 ? (size_t)raw_size : 0;
    if (keep) memcpy(p, t->data, keep);
    if (rchance(r, 50)) {
        for (i = keep; i < raw_size; i++) p[i] = (uint8_t)(i * 37 + 11);
    }
    t->data = p;
    t->codec = 0;
    t->filters = 0;
    t->raw_size = t->stored_size = raw_size;
    t->checksum = swlfz_xxh64(p, (size_t)raw_size, 0);
    return 1;
}

static void mutate_tensor_shape(swlfz_file *f, rng_t *r) {
    swlfz_tensor *t;
    uint64_t raw;
    int j;
    if (!f->n_tensors) return;
    t = &f->tensors[rbelow(r, f->n_tensors)];
    switch (rbelow(r, 6)) {
    case 0:
    case 1:
        if (t->n_dims) {
            j = (int)rbelow(r, t->n_dims);
            t->dims[j] = rchance(r, 60) ? rbelow(r, 2 * t->dims[j] + 3) : interesting_u64(r, t->dims[j]);
        }
        break;
    case 2: /* one dimension more or less */
        if (t->n_dims < 8 && rchance(r, 50)) {
            j = (int)rbelow(r, t->n_dims + 1);
            memmove(&t->dims[j + 1], &t->dims[j], (size_t)(t->n_dims - j) * 8);
            t->dims[j] = rchance(r, 70) ? 1 : 2;
            t->n_dims++;
        } else if (t->n_dims) {
            j = (int)rbelow(r, t->n_dims);
            memmove(&t->dims[j], &t->dims[j + 1], (size_t)(t->n_dims - j - 1) * 8);
            t->n_dims--;
        }
        break;
    case 3: /* two dimensions swapped: same byte count, transposed shape */
        if (t->n_dims >= 2) {
            int a = (int)rbelow(r, t->n_dims), b = (int)rbelow(r, t->n_dims);
            uint64_t tmp = t->dims[a];
            t->dims[a] = t->dims[b];
            t->dims[b] = tmp;
        }
        return;
    case 4: /* another dtype */ {
        static const uint8_t dtypes[] = {1, 2, 3, 4, 5, 6, 7, 0, 8, 200};
        t->dtype = dtypes[rbelow(r, sizeof dtypes)];
        break;
    }
    default: /* another codec or filter */ {
        static const uint8_t codecs[] = {0, 1, 2, 255};
        static const uint8_t filters[] = {0, 1, 2, 3, 128};
        if (rchance(r, 50))
            t->codec = codecs[rbelow(r, sizeof codecs)];
        else
            t->filters = filters[rbelow(r, sizeof filters)];
        return;
    }
    }
    /* Most of the time keep the byte count consistent, so the file passes format validation and the
     * family loader sees a tensor of the wrong shape or type. */
    if (rchance(r, 75) && raw_size_of(t->dtype, t->dims, t->n_dims, &raw)) resize_raw(f, t, raw, r);
}

static void mutate_tensor_data(swlfz_file *f, rng_t *r) {
    static const uint32_t f32s[] = {0x7fc00000u, 0xffc00000u, 0x7f800000u, 0xff800000u, 0x7f7fffffu, 0xff7fffffu,
                                    0x00000001u, 0x80000000u, 0x4f000000u, 0xcf000000u, 0x7f7f0000u, 0x3f800000u};
    static const uint16_t h16s[] = {0x7e00, 0xfe00, 0x7c00, 0xfc00, 0x7bff, 0xfbff, 0x0001, 0x8000};
    static const uint16_t bf16s[] = {0x7fc0, 0x7f80, 0xff80, 0x7f7f, 0xff7f, 0x0001};
    swlfz_tensor *t = NULL;
    uint8_t *p;
    size_t tries, n, k, count, w;
    for (tries = 0; tries < 8 && f->n_tensors; tries++) {
        swlfz_tensor *c = &f->tensors[rbelow(r, f->n_tensors)];
        if (c->codec == 0 && c->filters == 0 && c->stored_size == c->raw_size && c->raw_size > 0) {
            t = c;
            break;
        }
    }
    if (!t) return;
    n = (size_t)t->raw_size;
    p = arena_copy(f, t->data, n);
    if (!p) return;
    w = (size_t)swlfz_dtype_width(t->dtype);
    count = n / w;
    if (!count) return;
    if (rchance(r, 10)) { /* the whole tensor one value */
        uint32_t v = f32s[rbelow(r, sizeof f32s / sizeof f32s[0])];
        for (k = 0; k + w <= n; k += w) wr(p + k, v, (int)w);
    } else {
        size_t edits = 1 + rbelow(r, 4);
        for (k = 0; k < edits; k++) {
            size_t at = rbelow(r, count) * w;
            if (t->dtype == 4 && rchance(r, 50) && n >= 4) at = n - 4 * (1 + rbelow(r, n / 4)); /* a q8 scale */
            switch (t->dtype) {
            case 1: wr(p + at, f32s[rbelow(r, sizeof f32s / sizeof f32s[0])], 4); break;
            case 2: wr(p + at, h16s[rbelow(r, sizeof h16s / sizeof h16s[0])], 2); break;
            case 3: wr(p + at, bf16s[rbelow(r, sizeof bf16s / sizeof bf16s[0])], 2); break;
            case 4:
                if (at + 4 <= n && rchance(r, 50))
                    wr(p + at, f32s[rbelow(r, sizeof f32s / sizeof f32s[0])], 4);
                else
                    p[at] = rchance(r, 50) ? 0x80 : 0x7f;
                break;
            case 5:
            case 6: wr(p + at, interesting_u64(r, rd(p + at, (int)w)), (int)w); break;
            default: p[at] = (uint8_t)rnext(r); break;
            }
        }
    }
    t->data = p;
    t->checksum = swlfz_xxh64(p, n, 0);
}

static int grow_tensors(swlfz_file *f) {
    if (f->n_tensors == f->cap_tensors) {
        size_t cap = f->cap_tensors * 2 + 8;
        swlfz_tensor *p = realloc(f->tensors, cap * sizeof *p);
        if (!p) return 0;
        f->tensors = p;
        f->cap_tensors = cap;
    }
    return 1;
}

static void mutate_tensor_set(swlfz_file *f, rng_t *r) {
    size_t i, j;
    if (!f->n_tensors) return;
    i = rbelow(r, f->n_tensors);
    switch (rbelow(r, 5)) {
    case 0: /* drop a tensor (a missing weight) */
        memmove(&f->tensors[i], &f->tensors[i + 1], (f->n_tensors - i - 1) * sizeof *f->tensors);
        f->n_tensors--;
        return;
    case 1: /* duplicate a tensor: the same name twice, or a name that sorts right after it */
        if (!grow_tensors(f)) return;
        memmove(&f->tensors[i + 1], &f->tensors[i], (f->n_tensors - i) * sizeof *f->tensors);
        f->n_tensors++;
        if (rchance(r, 60) && f->tensors[i + 1].name_len < 65535) {
            uint8_t *name = arena_alloc(f, f->tensors[i].name_len + 1);
            if (!name) return;
            memcpy(name, f->tensors[i].name, f->tensors[i].name_len);
            name[f->tensors[i].name_len] = '0';
            f->tensors[i + 1].name = name;
            f->tensors[i + 1].name_len++;
        }
        return;
    case 2: /* one byte of a name changed */
        if (f->tensors[i].name_len) {
            uint8_t *name = arena_copy(f, f->tensors[i].name, f->tensors[i].name_len);
            if (!name) return;
            name[rbelow(r, f->tensors[i].name_len)] = (uint8_t)(rchance(r, 50) ? rnext(r) : '0' + rbelow(r, 10));
            f->tensors[i].name = name;
        }
        return;
    case 3: /* two tensors swap their data (and shapes stay): same byte count, other weights */
        j = rbelow(r, f->n_tensors);
        if (f->tensors[i].raw_size == f->tensors[j].raw_size) {
            swlfz_tensor a = f->tensors[i];
            f->tensors[i].data = f->tensors[j].data;
            f->tensors[i].stored_size = f->tensors[j].stored_size;
            f->tensors[i].checksum = f->tensors[j].checksum;
            f->tensors[i].codec = f->tensors[j].codec;
            f->tensors[i].filters = f->tensors[j].filters;
            f->tensors[j].data = a.data;
            f->tensors[j].stored_size = a.stored_size;
            f->tensors[j].checksum = a.checksum;
            f->tensors[j].codec = a.codec;
            f->tensors[j].filters = a.filters;
        }
        return;
    default: /* two entries swap places (unsorted index) */
        j = rbelow(r, f->n_tensors);
        {
            swlfz_tensor tmp = f->tensors[i];
            f->tensors[i] = f->tensors[j];
            f->tensors[j] = tmp;
        }
        return;
    }
}

static void shuffle_bytes(const uint8_t *src, uint8_t *dst, size_t n, size_t w, int inverse) {
    size_t count = n / w, i, j;
    for (i = 0; i < count; i++)
        for (j = 0; j < w; j++) {
            if (inverse)
                dst[i * w + j] = src[j * count + i];
            else
                dst[j * count + i] = src[i * w + j];
        }
    memcpy(dst + count * w, src + count * w, n - count * w);
}

/* Recompresses a raw tensor with zstd (maybe byte-shuffled), decompresses a zstd one, or replaces one
 * by a small frame that expands to a very large tensor (a decompression bomb). */
static void mutate_tensor_codec(swlfz_file *f, rng_t *r) {
    swlfz_tensor *t;
    if (!f->n_tensors) return;
    t = &f->tensors[rbelow(r, f->n_tensors)];
    if (rchance(r, 4)) { /* bomb: the first dimension scaled so the tensor decodes to 64 .. 512 MiB */
        static const uint64_t targets[] = {64u << 20, 256u << 20, 512u << 20};
        uint64_t target = targets[rbelow(r, 3)], raw, row;
        uint8_t *zeros, *frame;
        size_t bound, got;
        if (!t->n_dims || !raw_size_of(t->dtype, t->dims, t->n_dims, &raw) || !t->dims[0] || !raw) return;
        row = raw / t->dims[0];
        if (!row) return;
        t->dims[0] = target / row;
        if (!raw_size_of(t->dtype, t->dims, t->n_dims, &raw) || raw > target) return;
        zeros = calloc(1, (size_t)raw);
        bound = ZSTD_compressBound((size_t)raw);
        frame = zeros ? arena_alloc(f, bound) : NULL;
        got = frame ? ZSTD_compress(frame, bound, zeros, (size_t)raw, 1) : 0;
        if (frame && !ZSTD_isError(got)) {
            t->checksum = swlfz_xxh64(zeros, (size_t)raw, 0);
            t->data = frame;
            t->stored_size = got;
            t->raw_size = raw;
            t->codec = 1;
            t->filters = 0;
        }
        free(zeros);
        return;
    }
    if (t->codec == 0 && t->stored_size == t->raw_size && t->raw_size <= MAX_RESIZED) {
        size_t n = (size_t)t->raw_size, bound = ZSTD_compressBound(n), got;
        int shuffle = rchance(r, 50);
        uint8_t *src = (uint8_t *)t->data, *frame = arena_alloc(f, bound);
        if (!frame) return;
        if (shuffle) {
            src = arena_alloc(f, n);
            if (!src) return;
            shuffle_bytes(t->data, src, n, (size_t)swlfz_dtype_width(t->dtype), 0);
        }
        got = ZSTD_compress(frame, bound, src, n, 1);
        if (ZSTD_isError(got)) return;
        t->data = frame;
        t->stored_size = got;
        t->codec = 1;
        t->filters = shuffle ? 1 : 0;
    } else if (t->codec == 1 && t->raw_size <= MAX_RESIZED) {
        size_t n = (size_t)t->raw_size, got;
        uint8_t *out = arena_alloc(f, n);
        if (!out) return;
        got = ZSTD_decompress(out, n, t->data, (size_t)t->stored_size);
        if (ZSTD_isError(got) || got != n) return;
        if (t->filters & 1) {
            uint8_t *plain = arena_alloc(f, n);
            if (!plain) return;
            shuffle_bytes(out, plain, n, (size_t)swlfz_dtype_width(t->dtype), 1);
            out = plain;
        }
        t->data = out;
        t->stored_size = n;
        t->codec = 0;
        t->filters = 0;
    }
}

/* ---- raw field mutations (after serializing) ------------------------------------------------- */

static void mutate_raw_field(uint8_t *d, size_t size, rng_t *r) {
    static const struct {
        int offset, width;
    } header_fields[] = {{8, 2},  {10, 2}, {12, 4}, {16, 8}, {24, 8}, {32, 8}, {40, 8},
                         {48, 8}, {56, 8}, {64, 8}, {72, 8}, {80, 4}, {84, 4}};
    static const struct {
        int offset, width;
    } entry_fields[] = {{0, 4},  {4, 2},  {6, 1},  {7, 1},  {8, 1},  {9, 1},
                        {10, 1}, {16, 8}, {24, 8}, {32, 8}, {48, 8}, {56, 8}};
    uint64_t io, is, mo, ms;
    size_t at = 0;
    int width = 0, which = (int)rbelow(r, 3);
    if (size < HEADER_SIZE) return;
    io = rd(d + 32, 8), is = rd(d + 40, 8), mo = rd(d + 48, 8), ms = rd(d + 56, 8);
    if (which == 1 && in_bounds(io, is, size) && is >= 48) {
        /* a field of a random index entry (walk the chain of entry sizes) */
        uint64_t pos = io, end = io + is, steps = rbelow(r, rd(d + 80, 4) + 1);
        while (steps-- && end - pos >= 48) {
            uint64_t es = rd(d + pos, 4);
            if (es < 48 || es > end - pos - 48) break;
            pos += es;
        }
        if (end - pos >= 64) {
            int k = (int)rbelow(r, sizeof entry_fields / sizeof entry_fields[0]);
            at = (size_t)pos + entry_fields[k].offset;
            width = entry_fields[k].width;
        }
    } else if (which == 2 && in_bounds(mo, ms, size) && ms >= 8) {
        uint64_t pos = mo, end = mo + ms, steps = rbelow(r, rd(d + 84, 4) + 1);
        while (steps-- && end - pos >= 8) {
            uint64_t n = 8 + rd(d + pos, 2) + rd(d + pos + 4, 4);
            if (n > end - pos - 8) break;
            pos += n;
        }
        if (end - pos >= 8) {
            static const int offs[] = {0, 2, 3, 4}, widths[] = {2, 1, 1, 4};
            int k = (int)rbelow(r, 4);
            at = (size_t)pos + offs[k];
            width = widths[k];
        }
    }
    if (!width) {
        int k = (int)rbelow(r, sizeof header_fields / sizeof header_fields[0]);
        at = (size_t)header_fields[k].offset;
        width = header_fields[k].width;
    }
    if (at + (size_t)width > size) return;
    if (rchance(r, 15) && width == 8) { /* the value of another 8-byte field, e.g. another tensor's offset */
        size_t from = (size_t)rbelow(r, size / 8) * 8;
        if (from + 8 <= size) memcpy(d + at, d + from, 8);
    } else {
        wr(d + at, interesting_u64(r, rd(d + at, width)), width);
    }
}

/* ---- the mutator ------------------------------------------------------------------------------ */

static uint8_t *scratch;
static size_t scratch_cap;

size_t swlfz_mutate(uint8_t *data, size_t size, size_t max_size, unsigned int seed, swlfz_byte_mutator byte_mutate) {
    rng_t r;
    swlfz_file f;
    int parsed, choice;
    r.s = seed * 0x9E3779B97F4A7C15ULL + 1;
    parsed = swlfz_parse(data, size, &f) == 0;
    choice = (int)rbelow(&r, 100);
    if (parsed && choice < 82) {
        /* mostly one mutation: most of them already make the loaders refuse the file, and the ones
         * that keep it loadable (tensor data, codecs, gentle metadata values) should stay that way */
        int rounds = rchance(&r, 65) ? 1 : rchance(&r, 70) ? 2 : 3, i;
        size_t out;
        for (i = 0; i < rounds; i++) {
            switch (rbelow(&r, 10)) {
            case 0:
            case 1:
            case 2: mutate_meta_value(&f, &r); break;
            case 3: mutate_meta_structure(&f, &r); break;
            case 4: mutate_tensor_shape(&f, &r); break;
            case 5:
            case 6:
            case 7: mutate_tensor_data(&f, &r); break;
            case 8: mutate_tensor_set(&f, &r); break;
            default: mutate_tensor_codec(&f, &r); break;
            }
        }
        if (scratch_cap < max_size) {
            free(scratch);
            scratch = malloc(max_size);
            scratch_cap = scratch ? max_size : 0;
        }
        out = scratch ? swlfz_serialize(&f, scratch, scratch_cap < max_size ? scratch_cap : max_size) : 0;
        swlfz_free(&f);
        if (out) {
            memcpy(data, scratch, out);
            size = out;
            if (rchance(&r, 8)) mutate_raw_field(data, size, &r);
        } else {
            mutate_raw_field(data, size, &r); /* the mutant did not fit: mutate a field instead */
        }
    } else {
        if (parsed) swlfz_free(&f);
        if (choice < 93 && size >= HEADER_SIZE)
            mutate_raw_field(data, size, &r);
        else if (byte_mutate)
            size = byte_mutate(data, size, max_size);
    }
    if (!rchance(&r, 3)) swlfz_fix_header_checksum(data, size);
    return size;
}
