/* Shared pieces of the .swl fuzzers: XXH64, a lenient .swl parser and serializer, and the
 * structure-aware mutator (see swl_mutator.c). Formats/swl.md is the byte-by-byte specification. */
#ifndef SWL_FUZZ_H
#define SWL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* XXH64 as specified by the xxHash project (the checksum of the .swl format uses seed 0). */
uint64_t swlfz_xxh64(const void *data, size_t len, uint64_t seed);

/* FNV-1a 64, the checksum that ends a saved lmuformer stream state. */
uint64_t swlfz_fnv1a64(const void *data, size_t len);

/* One tensor-index entry. `data` points at `stored_size` stored bytes (in the parsed buffer or in
 * memory owned by the file's arena). */
typedef struct {
    const uint8_t *name;
    uint32_t name_len;
    uint8_t dtype, codec, filters, n_dims;
    uint64_t dims[8];
    uint64_t stored_size, raw_size, checksum;
    const uint8_t *data;
} swlfz_tensor;

/* One metadata entry. */
typedef struct {
    const uint8_t *key;
    uint32_t key_len;
    uint8_t type;
    const uint8_t *value;
    uint32_t value_size;
} swlfz_meta;

typedef struct swlfz_arena swlfz_arena;

typedef struct {
    uint16_t major, minor;
    uint64_t flags;
    size_t n_tensors, n_meta, cap_tensors, cap_meta;
    swlfz_tensor *tensors;
    swlfz_meta *meta;
    swlfz_arena *arena; /* owns every byte the mutations made */
} swlfz_file;

/* Parses `size` bytes that must be a structurally sound .swl file (every section, entry and tensor
 * inside the buffer; checksums are not checked). Returns 0 on success; pointers alias `data`. */
int swlfz_parse(const uint8_t *data, size_t size, swlfz_file *out);
void swlfz_free(swlfz_file *f);

/* Bytes the writer layout needs for `f`, and the layout itself (header at 0, index, metadata, data at
 * multiples of 64, checksums as stored in the entries). Returns the size written, 0 if cap is short. */
size_t swlfz_serialized_size(const swlfz_file *f);
size_t swlfz_serialize(const swlfz_file *f, uint8_t *out, size_t cap);

/* Bytes per element of a .swl data type code (Formats/swl.md §6); 1 for q8_row and unknown codes. */
static inline int swlfz_dtype_width(uint8_t dtype) {
    switch (dtype) {
    case 1:
    case 5: return 4;
    case 2:
    case 3: return 2;
    case 6: return 8;
    default: return 1;
    }
}

/* Recomputes header_checksum when the header, index and metadata lie inside the buffer. Returns 1 if
 * it wrote the checksum. */
int swlfz_fix_header_checksum(uint8_t *data, size_t size);

/* The mutator behind LLVMFuzzerCustomMutator: mutates in place, returns the new size (<= max_size).
 * `byte_mutate` is libFuzzer's LLVMFuzzerMutate (or a stand-in for the self-test). */
typedef size_t (*swlfz_byte_mutator)(uint8_t *data, size_t size, size_t max_size);
size_t swlfz_mutate(uint8_t *data, size_t size, size_t max_size, unsigned int seed, swlfz_byte_mutator byte_mutate);

#endif
