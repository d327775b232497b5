/* Applies an edit script to a .swl file and writes the result with correct checksums — how a fuzzer
 * finding on a large seed model is kept in the repository as a few lines of text instead of the whole
 * mutated file (the .edit files under Tests/Fuzz, replayed by `make fuzz-regress`).
 *
 * Usage: swl_edit SCRIPT.edit SEED_DIR OUT.swl
 *
 * Script lines (blank lines and lines starting with '#' are ignored):
 *   seed FILE                   the seed model, relative to SEED_DIR (first command)
 *   meta-i64 KEY VALUE          set (or add) an int64 metadata value
 *   meta-f64 KEY VALUE          set (or add) a float64 value; strtod syntax: nan, inf, -inf, 1e300
 *   meta-str KEY VALUE...       set (or add) a string (the rest of the line)
 *   meta-bool KEY 0|1|N         set (or add) a bool byte
 *   meta-type KEY CODE          change the type code, keep the value bytes
 *   meta-del KEY                remove an entry
 *   tensor-dims NAME D0,D1,...  new shape; the data is cut or extended (pattern bytes) to match
 *   tensor-dtype NAME CODE      new dtype code; the data is resized to match when the code is known
 *   tensor-set NAME INDEX BITS  set element INDEX to the hex bit pattern BITS (width of the dtype)
 *   tensor-del NAME             remove a tensor
 *   poke OFFSET WIDTH VALUE     after writing: store VALUE (LE, WIDTH bytes) at OFFSET of the file
 *   keep-checksum               after the pokes, do not recompute the header checksum */
#include "swl_fuzz.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what, const char *arg) __attribute__((noreturn));
static void die(const char *what, const char *arg) {
    fprintf(stderr, "swl_edit: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
    exit(1);
}

static uint8_t *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n = 0;
    if (!f) die("cannot open", path);
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) die("cannot read", path);
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) die("cannot read", path);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void *keep(void *p) {
    if (!p) die("out of memory", NULL);
    return p; /* owned until exit: the tool is short-lived */
}

static swlfz_meta *find_meta(swlfz_file *f, const char *key) {
    size_t i, n = strlen(key);
    for (i = 0; i < f->n_meta; i++)
        if (f->meta[i].key_len == n && memcmp(f->meta[i].key, key, n) == 0) return &f->meta[i];
    return NULL;
}

/* The entry for `key`, inserted at its sorted place when missing. */
static swlfz_meta *meta_for(swlfz_file *f, const char *key) {
    swlfz_meta *m = find_meta(f, key);
    size_t i, n = strlen(key);
    if (m) return m;
    if (f->n_meta == f->cap_meta) {
        f->cap_meta = f->cap_meta * 2 + 8;
        f->meta = keep(realloc(f->meta, f->cap_meta * sizeof *f->meta));
    }
    for (i = 0; i < f->n_meta; i++) {
        size_t k = f->meta[i].key_len < n ? f->meta[i].key_len : n;
        int c = memcmp(f->meta[i].key, key, k);
        if (c > 0 || (c == 0 && f->meta[i].key_len > n)) break;
    }
    memmove(&f->meta[i + 1], &f->meta[i], (f->n_meta - i) * sizeof *f->meta);
    f->n_meta++;
    memset(&f->meta[i], 0, sizeof f->meta[i]);
    f->meta[i].key = keep(strdup(key));
    f->meta[i].key_len = (uint32_t)n;
    return &f->meta[i];
}

static swlfz_tensor *find_tensor(swlfz_file *f, const char *name) {
    size_t i, n = strlen(name);
    for (i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].name_len == n && memcmp(f->tensors[i].name, name, n) == 0) return &f->tensors[i];
    die("no such tensor", name);
    return NULL;
}

static void set_value(swlfz_meta *m, uint8_t type, const void *bytes, size_t n) {
    uint8_t *v = keep(malloc(n + 1));
    memcpy(v, bytes, n);
    m->type = type;
    m->value = v;
    m->value_size = (uint32_t)n;
}

/* The raw size of a known dtype and shape, or 0 with *ok = 0. */
static uint64_t raw_size(const swlfz_tensor *t, int *ok) {
    uint64_t count = 1;
    int i;
    *ok = 1;
    for (i = 0; i < t->n_dims; i++) count *= t->dims[i];
    switch (t->dtype) {
    case 1:
    case 2:
    case 3:
    case 5:
    case 6:
    case 7: return count * (uint64_t)swlfz_dtype_width(t->dtype);
    case 4:
        if (t->n_dims && t->dims[t->n_dims - 1]) return count + 4 * (count / t->dims[t->n_dims - 1]);
        if (t->n_dims) return count;
        /* fall through */
    default: *ok = 0; return 0;
    }
}

static void resize(swlfz_tensor *t) {
    int ok;
    uint64_t n = raw_size(t, &ok), i, have;
    uint8_t *p;
    if (!ok) return;
    if (t->codec != 0) die("tensor-dims/tensor-dtype need an uncompressed tensor", NULL);
    if (n > (256u << 20)) die("tensor too large for an edit", NULL);
    p = keep(calloc(1, (size_t)n + 1));
    have = t->stored_size < n ? t->stored_size : n;
    memcpy(p, t->data, (size_t)have);
    for (i = have; i < n; i++) p[i] = (uint8_t)(i * 37 + 11);
    t->data = p;
    t->raw_size = t->stored_size = n;
}

int main(int argc, char **argv) {
    FILE *script;
    char line[4096], seed_path[4096];
    swlfz_file f;
    uint8_t *seed = NULL, *out;
    size_t seed_size = 0, out_size, cap;
    int have_seed = 0, fix_checksum = 1, lineno = 0;
    struct {
        uint64_t offset, value;
        int width;
    } pokes[64];
    int n_pokes = 0, i;

    if (argc != 4) {
        fprintf(stderr, "usage: %s SCRIPT.edit SEED_DIR OUT.swl\n", argv[0]);
        return 2;
    }
    script = fopen(argv[1], "r");
    if (!script) die("cannot open", argv[1]);
    while (fgets(line, sizeof line, script)) {
        char cmd[64], a[1024], b[2048];
        size_t len = strlen(line);
        int fields;
        lineno++;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len || line[0] == '#') continue;
        a[0] = b[0] = 0;
        fields = sscanf(line, "%63s %1023s %2047[^\n]", cmd, a, b);
        if (fields < 1) continue;
        if (strcmp(cmd, "seed") == 0) {
            snprintf(seed_path, sizeof seed_path, "%s/%s", argv[2], a);
            seed = read_all(seed_path, &seed_size);
            if (swlfz_parse(seed, seed_size, &f) != 0) die("the seed does not parse", seed_path);
            have_seed = 1;
            continue;
        }
        if (!have_seed) die("the script must start with a seed line", argv[1]);
        if (strcmp(cmd, "meta-i64") == 0) {
            int64_t v = strtoll(b, NULL, 0);
            uint8_t bytes[8];
            for (i = 0; i < 8; i++) bytes[i] = (uint8_t)((uint64_t)v >> (8 * i));
            set_value(meta_for(&f, a), 1, bytes, 8);
        } else if (strcmp(cmd, "meta-f64") == 0) {
            double v = strtod(b, NULL);
            uint64_t bits;
            uint8_t bytes[8];
            memcpy(&bits, &v, 8);
            for (i = 0; i < 8; i++) bytes[i] = (uint8_t)(bits >> (8 * i));
            set_value(meta_for(&f, a), 2, bytes, 8);
        } else if (strcmp(cmd, "meta-str") == 0) {
            set_value(meta_for(&f, a), 4, b, strlen(b));
        } else if (strcmp(cmd, "meta-bool") == 0) {
            uint8_t v = (uint8_t)strtoul(b, NULL, 0);
            set_value(meta_for(&f, a), 3, &v, 1);
        } else if (strcmp(cmd, "meta-type") == 0) {
            swlfz_meta *m = find_meta(&f, a);
            if (!m) die("no such key", a);
            m->type = (uint8_t)strtoul(b, NULL, 0);
        } else if (strcmp(cmd, "meta-del") == 0) {
            swlfz_meta *m = find_meta(&f, a);
            if (!m) die("no such key", a);
            memmove(m, m + 1, (size_t)(&f.meta[f.n_meta] - (m + 1)) * sizeof *m);
            f.n_meta--;
        } else if (strcmp(cmd, "tensor-dims") == 0) {
            swlfz_tensor *t = find_tensor(&f, a);
            char *p = b;
            t->n_dims = 0;
            while (*p && t->n_dims < 8) {
                t->dims[t->n_dims++] = strtoull(p, &p, 0);
                if (*p == ',') p++;
            }
            resize(t);
            t->checksum = swlfz_xxh64(t->data, (size_t)t->raw_size, 0);
        } else if (strcmp(cmd, "tensor-dtype") == 0) {
            swlfz_tensor *t = find_tensor(&f, a);
            t->dtype = (uint8_t)strtoul(b, NULL, 0);
            resize(t);
            if (t->codec == 0) t->checksum = swlfz_xxh64(t->data, (size_t)t->raw_size, 0);
        } else if (strcmp(cmd, "tensor-set") == 0) {
            swlfz_tensor *t = find_tensor(&f, a);
            char *p;
            uint64_t index = strtoull(b, &p, 0), bits = strtoull(p, NULL, 16);
            int w = swlfz_dtype_width(t->dtype);
            uint8_t *copy;
            if (t->codec != 0) die("tensor-set needs an uncompressed tensor", a);
            if ((index + 1) * (uint64_t)w > t->raw_size) die("tensor-set: index out of range", a);
            copy = keep(malloc((size_t)t->raw_size + 1));
            memcpy(copy, t->data, (size_t)t->raw_size);
            for (i = 0; i < w; i++) copy[index * (uint64_t)w + (uint64_t)i] = (uint8_t)(bits >> (8 * i));
            t->data = copy;
            t->checksum = swlfz_xxh64(copy, (size_t)t->raw_size, 0);
        } else if (strcmp(cmd, "tensor-del") == 0) {
            swlfz_tensor *t = find_tensor(&f, a);
            memmove(t, t + 1, (size_t)(&f.tensors[f.n_tensors] - (t + 1)) * sizeof *t);
            f.n_tensors--;
        } else if (strcmp(cmd, "poke") == 0) {
            char *p;
            if (n_pokes == 64) die("too many pokes", NULL);
            pokes[n_pokes].offset = strtoull(a, NULL, 0);
            pokes[n_pokes].width = (int)strtol(b, &p, 0);
            pokes[n_pokes].value = strtoull(p, NULL, 0);
            if (pokes[n_pokes].width < 1 || pokes[n_pokes].width > 8) die("poke width must be 1..8", line);
            n_pokes++;
        } else if (strcmp(cmd, "keep-checksum") == 0) {
            fix_checksum = 0;
        } else {
            fprintf(stderr, "swl_edit: %s:%d: unknown command '%s'\n", argv[1], lineno, cmd);
            return 1;
        }
    }
    fclose(script);
    if (!have_seed) die("no seed line", argv[1]);

    cap = swlfz_serialized_size(&f);
    if (cap == SIZE_MAX) die("the result is too large", NULL);
    out = keep(malloc(cap + 1));
    out_size = swlfz_serialize(&f, out, cap);
    swlfz_fix_header_checksum(out, out_size);
    for (i = 0; i < n_pokes; i++) {
        int k;
        if (pokes[i].offset + (uint64_t)pokes[i].width > out_size) die("poke past the end of the file", NULL);
        for (k = 0; k < pokes[i].width; k++) out[pokes[i].offset + (uint64_t)k] = (uint8_t)(pokes[i].value >> (8 * k));
    }
    if (n_pokes && fix_checksum) swlfz_fix_header_checksum(out, out_size);
    {
        FILE *o = fopen(argv[3], "wb");
        if (!o || fwrite(out, 1, out_size, o) != out_size || fclose(o) != 0) die("cannot write", argv[3]);
    }
    return 0;
}
