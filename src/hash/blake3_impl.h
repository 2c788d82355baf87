/* blake3_impl.h - BLAKE3 internals shared by the portable and SIMD paths:
 * constants, the compression-function table, the hasher state and the
 * tree code. Private to src/hash/. */
#ifndef HONE_HASH_BLAKE3_IMPL_H
#define HONE_HASH_BLAKE3_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hone/hash.h"

enum {
    B3_CHUNK_START = 1 << 0,
    B3_CHUNK_END = 1 << 1,
    B3_PARENT = 1 << 2,
    B3_ROOT = 1 << 3,
    B3_KEYED_HASH = 1 << 4,
    B3_DERIVE_KEY_CONTEXT = 1 << 5,
    B3_DERIVE_KEY_MATERIAL = 1 << 6
};

#define B3_BLOCK_LEN 64
#define B3_CHUNK_LEN 1024
#define B3_OUT_LEN 32
#define B3_KEY_LEN 32
/* The most inputs any hash_many takes at once (AVX-512: two 16-lane states). */
#define B3_MAX_SIMD_DEGREE 32
/* A tree of 2^64 bytes has at most 54 levels above its chunks. */
#define B3_MAX_DEPTH 54

extern const uint32_t hone__b3_iv[8];

static inline uint32_t hone__b3_load32(const void *src) {
    const uint8_t *p = src;
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void hone__b3_store32(void *dst, uint32_t w) {
    uint8_t *p = dst;
    p[0] = (uint8_t)w;
    p[1] = (uint8_t)(w >> 8);
    p[2] = (uint8_t)(w >> 16);
    p[3] = (uint8_t)(w >> 24);
}

static inline void hone__b3_load_key(uint32_t key_words[8], const uint8_t key[B3_KEY_LEN]) {
    for (int i = 0; i < 8; i++) key_words[i] = hone__b3_load32(key + 4 * i);
}

static inline void hone__b3_store_cv(uint8_t out[B3_OUT_LEN], const uint32_t cv[8]) {
    for (int i = 0; i < 8; i++) hone__b3_store32(out + 4 * i, cv[i]);
}

/* hash_many: for each of num_inputs inputs, compresses `blocks` 64-byte
 * blocks as one chunk (or, with blocks == 1 and B3_PARENT in flags, one
 * parent node) starting from key, and writes its 32-byte chaining value to
 * out + 32*i. flags_start goes on the first block and flags_end on the
 * last; the counter of input i is counter + i when increment_counter. */
typedef void (*hone__b3_hash_many_fn)(const uint8_t *const *inputs, size_t num_inputs,
                                      size_t blocks, const uint32_t key[8], uint64_t counter,
                                      bool increment_counter, uint8_t flags, uint8_t flags_start,
                                      uint8_t flags_end, uint8_t *out);

/* One implementation: the single-block compression functions (portable C
 * on every path) and the many-input function of its SIMD width. */
typedef struct hone__b3_impl {
    const char *name;
    size_t degree; /* inputs hash_many processes at once */
    hone__b3_hash_many_fn hash_many;
} hone__b3_impl;

void hone__b3_compress_in_place(uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                                uint8_t block_len, uint64_t counter, uint8_t flags);
void hone__b3_compress_xof(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                           uint8_t block_len, uint64_t counter, uint8_t flags,
                           uint8_t out[64]);

void hone__b3_hash_many_portable(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
                                 const uint32_t key[8], uint64_t counter, bool increment_counter,
                                 uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                                 uint8_t *out);
/* The SIMD paths live in files compiled with their target flags; call them
 * only when hone_cpu_has() says the features are usable. */
void hone__b3_hash_many_sse41(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
                              const uint32_t key[8], uint64_t counter, bool increment_counter,
                              uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                              uint8_t *out);
void hone__b3_hash_many_avx2(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
                             const uint32_t key[8], uint64_t counter, bool increment_counter,
                             uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                             uint8_t *out);
void hone__b3_hash_many_avx512(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
                               const uint32_t key[8], uint64_t counter, bool increment_counter,
                               uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                               uint8_t *out);

/* Bytes below which the tree is not split across threads (tests lower it). */
extern size_t hone__b3_mt_min_split;

/* The implementation the current hone_cpu_features() allows. */
const hone__b3_impl *hone__b3_select(void);
/* The implementation by name ("portable", "sse41", "avx2", "avx512"), for
 * tests; NULL if unknown or not usable on this CPU. */
const hone__b3_impl *hone__b3_impl_named(const char *name);

typedef struct hone__b3_chunk {
    uint32_t cv[8];
    uint64_t chunk_counter;
    uint8_t buf[B3_BLOCK_LEN];
    uint8_t buf_len;
    uint8_t blocks_compressed;
    uint8_t flags;
} hone__b3_chunk;

/* The incremental hasher: the current chunk plus a stack of chaining
 * values of completed subtrees, one per level (lazily merged). */
typedef struct hone__b3 {
    uint32_t key[8];
    hone__b3_chunk chunk;
    uint8_t cv_stack_len;
    uint8_t cv_stack[(B3_MAX_DEPTH + 1) * B3_OUT_LEN];
    const hone__b3_impl *impl;
    unsigned threads; /* 0 or 1: no threads */
    struct hone_pool *pool; /* where threaded work runs; NULL: hone_pool_default() */
} hone__b3;

void hone__b3_init(hone__b3 *s);
void hone__b3_init_keyed(hone__b3 *s, const uint8_t key[B3_KEY_LEN]);
void hone__b3_init_derive_key(hone__b3 *s, const char *context);
/* Starts a new message with the same key and flags, re-selecting the
 * implementation from the current CPU features. */
void hone__b3_reset(hone__b3 *s);
void hone__b3_update(hone__b3 *s, const void *input, size_t len);
/* Hashes whole subtrees of at least 2 MiB from [off, off+len) of fd on
 * s->threads threads that pread their own parts, as hone__b3_update() of
 * those bytes would, and sets *done to the bytes taken (from off). The
 * caller feeds the rest (possibly nothing) through hone__b3_update(). Does nothing unless the current chunk is empty.
 * Returns HONE_OK, HONE_ENOMEM, or the status of a failed pread (HONE_EIO
 * if the file shrank); after an error the message is incomplete. */
extern uint64_t hone__b3_fd_min_piece;
int hone__b3_update_fd_mt(hone__b3 *s, int fd, uint64_t off, uint64_t len,
                          const hone_allocator *alloc, uint64_t *done);

/* Writes out_len bytes of output starting at byte `seek`; does not change
 * the state. */
void hone__b3_finalize_seek(const hone__b3 *s, uint64_t seek, uint8_t *out, size_t out_len);

#endif
