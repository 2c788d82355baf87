/* hash_internal.h - the hasher object shared by the files of src/hash/.
 * Private to src/hash/. */
#ifndef HONE_HASH_INTERNAL_H
#define HONE_HASH_INTERNAL_H

#define XXH_STATIC_LINKING_ONLY /* for XXH3_state_t's definition, to embed it */
#include <openssl/evp.h>
#include <xxhash.h>

#include "hash/blake3_impl.h"
#include "hone/core.h"
#include "hone/hash.h"

struct hone__hash_algo;

struct hone_hash {
    const struct hone__hash_algo *a; /* the algorithm's table row */
    void *raw; /* what hone_malloc returned; the object is aligned inside it */
    const hone_allocator *alloc;
    hone_hash_algo algo;
    int finalized;  /* SHA-256/XXH3 after final: reset before more updates */
    uint8_t *iobuf; /* read() buffer of hone_hash_update_fd, made on first use */
    size_t iobuf_size;
    union {
        struct {
            EVP_MD_CTX *ctx;
        } sha;
        hone__b3 b3;
        XXH3_state_t xxh;
    } u;
};

/* One algorithm's row of the table in hash.c: what the public
 * hone_hash_info says about it, the names hone_hash_from_name() accepts,
 * and its streaming calls. Every switch over algorithms the module used to
 * have is a lookup of this row. */
typedef struct hone__hash_algo {
    hone_hash_info info;
    const char *const *aliases; /* NULL-terminated extra names, any case */
    /* Extra per-object setup and teardown (the OpenSSL context); NULL: none. */
    int (*create)(hone_hash *h);
    void (*destroy)(hone_hash *h);
    int (*reset)(hone_hash *h);
    int (*update)(hone_hash *h, const void *data, size_t len);
    /* Writes the digest; out_len is at least info.digest_len, or any length
     * for an xof algorithm. */
    int (*final)(hone_hash *h, uint8_t *out, size_t out_len);
    int (*oneshot)(const void *data, size_t len, uint8_t *out, size_t out_len);
} hone__hash_algo;

/* The row of `algo`, NULL if it is not an algorithm. */
const hone__hash_algo *hone__hash_algo_of(hone_hash_algo algo);

const EVP_MD *hone__hash_sha256_md(void);

/* Test hook: called by the mmap path of hone_hash_update_fd() after the
 * file is mapped and before it is hashed (NULL: nothing). Tests use it to
 * shrink the file at exactly that point. */
extern void (*hone__hash_map_hook)(int fd, uint64_t off, uint64_t len);

/* File size from which AUTO hashes with several BLAKE3 threads (file.c). */
extern uint64_t hone__hash_auto_mt_min;

#endif
