/* hash.c - the generic streaming hasher over SHA-256 (OpenSSL EVP), BLAKE3
 * (hone's own) and XXH3 (libxxhash), algorithm names, one-shot digests and
 * hex. */
#include "hash/hash_internal.h"

#ifdef HONE_HAVE_XXH_DISPATCH
/* Replaces XXH3_64bits, XXH3_64bits_update, XXH3_128bits and
 * XXH3_128bits_update by the run-time dispatched versions. */
#include <xxh_x86dispatch.h>
#endif

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

static const struct {
    const char *name;
    hone_hash_algo algo;
} names[] = {
    {"sha256", HONE_HASH_SHA256},   {"blake3", HONE_HASH_BLAKE3},
    {"xxh3", HONE_HASH_XXH3_64},    {"xxh128", HONE_HASH_XXH3_128},
    {"sha-256", HONE_HASH_SHA256},  {"b3", HONE_HASH_BLAKE3},
    {"xxh3-64", HONE_HASH_XXH3_64}, {"xxh3_64", HONE_HASH_XXH3_64},
    {"xxh3-128", HONE_HASH_XXH3_128}, {"xxh3_128", HONE_HASH_XXH3_128},
};
#define N_CANONICAL 4

const char *hone_hash_name(hone_hash_algo algo) {
    for (size_t i = 0; i < N_CANONICAL; i++)
        if (names[i].algo == algo) return names[i].name;
    return NULL;
}

int hone_hash_from_name(const char *name, hone_hash_algo *out, hone_error *err) {
    if (!name || !out) return hone_error_set(err, HONE_EINVAL, "algorithm name: NULL argument");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!strcasecmp(name, names[i].name)) {
            *out = names[i].algo;
            return HONE_OK;
        }
    }
    const char *canon[N_CANONICAL];
    for (size_t i = 0; i < N_CANONICAL; i++) canon[i] = names[i].name;
    const char *near = hone_nearest_name(name, canon, N_CANONICAL);
    if (near)
        return hone_error_set(err, HONE_EINVAL,
                              "'%s': expected one of sha256, blake3, xxh3, xxh128; did you "
                              "mean '%s'?",
                              name, near);
    return hone_error_set(err, HONE_EINVAL, "'%s': expected one of sha256, blake3, xxh3, xxh128",
                          name);
}

size_t hone_hash_digest_len(hone_hash_algo algo) {
    switch (algo) {
    case HONE_HASH_SHA256: return 32;
    case HONE_HASH_BLAKE3: return 32;
    case HONE_HASH_XXH3_64: return 8;
    case HONE_HASH_XXH3_128: return 16;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* OpenSSL                                                             */
/* ------------------------------------------------------------------ */

/* Fetching the SHA-256 implementation once: OpenSSL 3 otherwise looks it
 * up in its provider tables on every EVP_DigestInit, which costs more than
 * hashing a small file. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void) { sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); }

const EVP_MD *hone__hash_sha256_md(void) {
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md ? sha256_md : EVP_sha256();
}

/* ------------------------------------------------------------------ */
/* The hasher                                                          */
/* ------------------------------------------------------------------ */

static int hasher_alloc(hone_hash **out, hone_hash_algo algo, const hone_hash_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    if (!hone_hash_digest_len(algo)) return HONE_EINVAL;
    const hone_allocator *a = opts ? opts->alloc : NULL;
    /* XXH3's state must be 64-byte aligned (its SIMD code uses aligned
     * loads), more than malloc promises, so align by hand. */
    size_t size = sizeof(hone_hash) + 63;
    void *raw = hone_malloc(a, size);
    if (!raw) return HONE_ENOMEM;
    hone_hash *h = (hone_hash *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    memset(h, 0, sizeof *h);
    h->raw = raw;
    h->alloc = a;
    h->algo = algo;
    if (algo == HONE_HASH_SHA256) {
        h->u.sha.ctx = EVP_MD_CTX_new();
        if (!h->u.sha.ctx) {
            hone_free(a, raw);
            return HONE_ENOMEM;
        }
    }
    *out = h;
    return HONE_OK;
}

int hone_hash_new(hone_hash **out, hone_hash_algo algo, const hone_hash_opts *opts) {
    int rc = hasher_alloc(out, algo, opts);
    if (rc) return rc;
    hone_hash *h = *out;
    if (algo == HONE_HASH_BLAKE3) {
        hone__b3_init(&h->u.b3);
        h->u.b3.threads = opts ? opts->threads : 0;
        h->u.b3.pool = opts ? opts->pool : NULL;
    }
    rc = hone_hash_reset(h);
    if (rc) {
        hone_hash_free(h);
        *out = NULL;
    }
    return rc;
}

int hone_hash_new_blake3_keyed(hone_hash **out, const uint8_t key[HONE_BLAKE3_KEY_LEN],
                               const hone_hash_opts *opts) {
    if (!key) {
        if (out) *out = NULL;
        return HONE_EINVAL;
    }
    int rc = hasher_alloc(out, HONE_HASH_BLAKE3, opts);
    if (rc) return rc;
    hone__b3_init_keyed(&(*out)->u.b3, key);
    (*out)->u.b3.threads = opts ? opts->threads : 0;
    (*out)->u.b3.pool = opts ? opts->pool : NULL;
    return HONE_OK;
}

int hone_hash_new_blake3_derive_key(hone_hash **out, const char *context,
                                    const hone_hash_opts *opts) {
    if (!context) {
        if (out) *out = NULL;
        return HONE_EINVAL;
    }
    int rc = hasher_alloc(out, HONE_HASH_BLAKE3, opts);
    if (rc) return rc;
    hone__b3_init_derive_key(&(*out)->u.b3, context);
    (*out)->u.b3.threads = opts ? opts->threads : 0;
    (*out)->u.b3.pool = opts ? opts->pool : NULL;
    return HONE_OK;
}

void hone_hash_free(hone_hash *h) {
    if (!h) return;
    if (h->algo == HONE_HASH_SHA256) EVP_MD_CTX_free(h->u.sha.ctx);
    hone_free(h->alloc, h->iobuf);
    hone_free(h->alloc, h->raw);
}

hone_hash_algo hone_hash_algorithm(const hone_hash *h) { return h ? h->algo : (hone_hash_algo)0; }

int hone_hash_reset(hone_hash *h) {
    if (!h) return HONE_EINVAL;
    h->finalized = 0;
    switch (h->algo) {
    case HONE_HASH_SHA256:
        if (EVP_DigestInit_ex2(h->u.sha.ctx, hone__hash_sha256_md(), NULL) != 1) return HONE_EFAIL;
        return HONE_OK;
    case HONE_HASH_BLAKE3: hone__b3_reset(&h->u.b3); return HONE_OK;
    case HONE_HASH_XXH3_64:
        return XXH3_64bits_reset(&h->u.xxh) == XXH_OK ? HONE_OK : HONE_EFAIL;
    case HONE_HASH_XXH3_128:
        return XXH3_128bits_reset(&h->u.xxh) == XXH_OK ? HONE_OK : HONE_EFAIL;
    }
    return HONE_EINVAL;
}

int hone_hash_update(hone_hash *h, const void *data, size_t len) {
    if (!h || (!data && len)) return HONE_EINVAL;
    if (h->finalized) return HONE_ESTATE;
    if (!len) return HONE_OK;
    switch (h->algo) {
    case HONE_HASH_SHA256:
        return EVP_DigestUpdate(h->u.sha.ctx, data, len) == 1 ? HONE_OK : HONE_EFAIL;
    case HONE_HASH_BLAKE3: hone__b3_update(&h->u.b3, data, len); return HONE_OK;
    case HONE_HASH_XXH3_64:
        return XXH3_64bits_update(&h->u.xxh, data, len) == XXH_OK ? HONE_OK : HONE_EFAIL;
    case HONE_HASH_XXH3_128:
        return XXH3_128bits_update(&h->u.xxh, data, len) == XXH_OK ? HONE_OK : HONE_EFAIL;
    }
    return HONE_EINVAL;
}

int hone_hash_final(hone_hash *h, uint8_t *out, size_t out_len) {
    if (!h || !out) return HONE_EINVAL;
    if (h->algo == HONE_HASH_BLAKE3) {
        hone__b3_finalize_seek(&h->u.b3, 0, out, out_len);
        return HONE_OK;
    }
    if (out_len < hone_hash_digest_len(h->algo)) return HONE_ERANGE;
    if (h->finalized) return HONE_ESTATE;
    switch (h->algo) {
    case HONE_HASH_SHA256: {
        unsigned n = 0;
        if (EVP_DigestFinal_ex(h->u.sha.ctx, out, &n) != 1 || n != 32) return HONE_EFAIL;
        break;
    }
    case HONE_HASH_XXH3_64: {
        XXH64_canonical_t c;
        XXH64_canonicalFromHash(&c, XXH3_64bits_digest(&h->u.xxh));
        memcpy(out, c.digest, 8);
        break;
    }
    case HONE_HASH_XXH3_128: {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&h->u.xxh));
        memcpy(out, c.digest, 16);
        break;
    }
    default: return HONE_EINVAL;
    }
    h->finalized = 1;
    return HONE_OK;
}

int hone_hash_xof(hone_hash *h, uint64_t offset, uint8_t *out, size_t out_len) {
    if (!h || (!out && out_len)) return HONE_EINVAL;
    if (h->algo != HONE_HASH_BLAKE3) return HONE_ENOTSUP;
    if (out_len && offset + (out_len - 1) < offset) return HONE_ERANGE;
    hone__b3_finalize_seek(&h->u.b3, offset, out, out_len);
    return HONE_OK;
}

/* ------------------------------------------------------------------ */
/* One-shot                                                            */
/* ------------------------------------------------------------------ */

int hone_hash_oneshot(hone_hash_algo algo, const void *data, size_t len, uint8_t *out,
                      size_t out_len) {
    if (!out || (!data && len)) return HONE_EINVAL;
    size_t dlen = hone_hash_digest_len(algo);
    if (!dlen) return HONE_EINVAL;
    if (algo != HONE_HASH_BLAKE3 && out_len < dlen) return HONE_ERANGE;
    static const uint8_t empty[1];
    if (!data) data = empty;
    switch (algo) {
    case HONE_HASH_SHA256: {
        unsigned n = 0;
        if (EVP_Digest(data, len, out, &n, hone__hash_sha256_md(), NULL) != 1 || n != 32)
            return HONE_EFAIL;
        return HONE_OK;
    }
    case HONE_HASH_BLAKE3: {
        hone__b3 s;
        hone__b3_init(&s);
        hone__b3_update(&s, data, len);
        hone__b3_finalize_seek(&s, 0, out, out_len);
        return HONE_OK;
    }
    case HONE_HASH_XXH3_64: {
        XXH64_canonical_t c;
        XXH64_canonicalFromHash(&c, XXH3_64bits(data, len));
        memcpy(out, c.digest, 8);
        return HONE_OK;
    }
    case HONE_HASH_XXH3_128: {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
        memcpy(out, c.digest, 16);
        return HONE_OK;
    }
    }
    return HONE_EINVAL;
}

int hone_hash_blake3_keyed(const uint8_t key[HONE_BLAKE3_KEY_LEN], const void *data, size_t len,
                           uint8_t *out, size_t out_len) {
    if (!key || !out || (!data && len)) return HONE_EINVAL;
    hone__b3 s;
    hone__b3_init_keyed(&s, key);
    if (len) hone__b3_update(&s, data, len);
    hone__b3_finalize_seek(&s, 0, out, out_len);
    return HONE_OK;
}

int hone_hash_blake3_derive_key(const char *context, const void *material, size_t len,
                                uint8_t *out, size_t out_len) {
    if (!context || !out || (!material && len)) return HONE_EINVAL;
    hone__b3 s;
    hone__b3_init_derive_key(&s, context);
    if (len) hone__b3_update(&s, material, len);
    hone__b3_finalize_seek(&s, 0, out, out_len);
    return HONE_OK;
}

/* ------------------------------------------------------------------ */
/* Hex                                                                 */
/* ------------------------------------------------------------------ */

size_t hone_hash_hex(const uint8_t *digest, size_t len, char *hex) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[2 * len] = '\0';
    return 2 * len;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int hone_hash_unhex(const char *hex, uint8_t *out, size_t len) {
    if (!hex || (!out && len)) return HONE_EINVAL;
    for (size_t i = 0; i < len; i++) {
        int hi = hexval(hex[2 * i]);
        if (hi < 0) return HONE_EPARSE;
        int lo = hexval(hex[2 * i + 1]);
        if (lo < 0) return HONE_EPARSE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return HONE_OK;
}
