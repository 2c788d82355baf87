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

struct hone_hash {
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

const EVP_MD *hone__hash_sha256_md(void);

/* File size from which AUTO hashes with several BLAKE3 threads (file.c). */
extern uint64_t hone__hash_auto_mt_min;

#endif
