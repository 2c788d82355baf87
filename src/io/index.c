/* index.c - the incremental index of manifests: a file-validated cache
 * (src/cache/filecache.c) in one LMDB file, keyed by the absolute real path
 * of each file hashed, whose value is the algorithm and the digest. The
 * store, its checks, the racy-timestamp rule and the lookups are the file
 * cache's; what is the manifest's is here. */
#include <stdint.h>
#include <string.h>

#include "io/internal.h"

/* The magic record's key is "\001" + this name, the key the index has
 * always used, so that an index of an older version is recognised as one
 * and rebuilt rather than taken for a foreign file. */
#define INDEX_NAME "hone.io.index"

int hone__io_index_open(hone_filecache **out, const char *dir, const hone_allocator *a,
                        const hone_io_manifest_opts *o, int *rebuilt, hone_error *err) {
    *out = NULL;
    hone_buf p;
    hone_buf_init(&p, a);
    if (hone_buf_printf(&p, "%s/%s", dir, HONE__IO_INDEX_FILE)) {
        hone_buf_free(&p);
        return hone_error_set(err, HONE_ENOMEM, "out of memory");
    }
    /* As the manifest has always read it: a value past INT64_MAX (which
     * the file cache refuses) counts as unset. */
    uint64_t g = o->granularity_ns < INT64_MAX ? o->granularity_ns : 0;
    hone_filecache_opts fo = {.alloc = a,
                              .path = p.data,
                              .name = INDEX_NAME,
                              .granularity_ns = g,
                              .clock_ns = o->clock_ns,
                              .clock_ctx = o->clock_ctx,
                              .recreate = 1};
    int rc = hone_filecache_new(out, &fo, err);
    hone_buf_free(&p);
    if (!rc && rebuilt && hone__filecache_recreated(*out)) *rebuilt = 1;
    return rc;
}

size_t hone__io_index_value(uint8_t *buf, int algo, const uint8_t *digest, size_t dlen) {
    buf[0] = (uint8_t)algo;
    memcpy(buf + 1, digest, dlen);
    return 1 + dlen;
}

int hone__io_index_digest(const void *v, size_t vlen, int algo, size_t dlen, uint8_t *digest) {
    const uint8_t *b = v;
    if (vlen != 1 + dlen || b[0] != (uint8_t)algo) return 0;
    memcpy(digest, b + 1, dlen);
    return 1;
}
