/* hash.c - the table of algorithms (SHA-256 through OpenSSL EVP, BLAKE3,
 * hone's own, XXH3 through libxxhash) and the generic streaming hasher,
 * names, one-shot digests and hex that read it. */
#include "hash/hash_internal.h"

#ifdef HONE_HAVE_XXH_DISPATCH
/* Replaces XXH3_64bits, XXH3_64bits_update, XXH3_128bits and
 * XXH3_128bits_update by the run-time dispatched versions. */
#include <xxh_x86dispatch.h>
#endif

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
/* Each algorithm's streaming calls                                    */
/* ------------------------------------------------------------------ */

static int sha_create(hone_hash *h) {
    h->u.sha.ctx = EVP_MD_CTX_new();
    return h->u.sha.ctx ? HONE_OK : HONE_ENOMEM;
}
static void sha_destroy(hone_hash *h) { EVP_MD_CTX_free(h->u.sha.ctx); }
static int sha_reset(hone_hash *h) {
    return EVP_DigestInit_ex2(h->u.sha.ctx, hone__hash_sha256_md(), NULL) == 1 ? HONE_OK
                                                                               : HONE_EFAIL;
}
static int sha_update(hone_hash *h, const void *data, size_t len) {
    return EVP_DigestUpdate(h->u.sha.ctx, data, len) == 1 ? HONE_OK : HONE_EFAIL;
}
static int sha_final(hone_hash *h, uint8_t *out, size_t out_len) {
    (void)out_len;
    unsigned n = 0;
    if (EVP_DigestFinal_ex(h->u.sha.ctx, out, &n) != 1 || n != 32) return HONE_EFAIL;
    return HONE_OK;
}
static int sha_oneshot(const void *data, size_t len, uint8_t *out, size_t out_len) {
    (void)out_len;
    unsigned n = 0;
    if (EVP_Digest(data, len, out, &n, hone__hash_sha256_md(), NULL) != 1 || n != 32)
        return HONE_EFAIL;
    return HONE_OK;
}

static int b3_reset(hone_hash *h) {
    hone__b3_reset(&h->u.b3);
    return HONE_OK;
}
static int b3_update(hone_hash *h, const void *data, size_t len) {
    hone__b3_update(&h->u.b3, data, len);
    return HONE_OK;
}
static int b3_final(hone_hash *h, uint8_t *out, size_t out_len) {
    hone__b3_finalize_seek(&h->u.b3, 0, out, out_len);
    return HONE_OK;
}
static int b3_oneshot(const void *data, size_t len, uint8_t *out, size_t out_len) {
    hone__b3 s;
    hone__b3_init(&s);
    hone__b3_update(&s, data, len);
    hone__b3_finalize_seek(&s, 0, out, out_len);
    return HONE_OK;
}

static int x64_reset(hone_hash *h) {
    return XXH3_64bits_reset(&h->u.xxh) == XXH_OK ? HONE_OK : HONE_EFAIL;
}
static int x64_update(hone_hash *h, const void *data, size_t len) {
    return XXH3_64bits_update(&h->u.xxh, data, len) == XXH_OK ? HONE_OK : HONE_EFAIL;
}
static int x64_final(hone_hash *h, uint8_t *out, size_t out_len) {
    (void)out_len;
    XXH64_canonical_t c;
    XXH64_canonicalFromHash(&c, XXH3_64bits_digest(&h->u.xxh));
    memcpy(out, c.digest, 8);
    return HONE_OK;
}
static int x64_oneshot(const void *data, size_t len, uint8_t *out, size_t out_len) {
    (void)out_len;
    XXH64_canonical_t c;
    XXH64_canonicalFromHash(&c, XXH3_64bits(data, len));
    memcpy(out, c.digest, 8);
    return HONE_OK;
}

static int x128_reset(hone_hash *h) {
    return XXH3_128bits_reset(&h->u.xxh) == XXH_OK ? HONE_OK : HONE_EFAIL;
}
static int x128_update(hone_hash *h, const void *data, size_t len) {
    return XXH3_128bits_update(&h->u.xxh, data, len) == XXH_OK ? HONE_OK : HONE_EFAIL;
}
static int x128_final(hone_hash *h, uint8_t *out, size_t out_len) {
    (void)out_len;
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&h->u.xxh));
    memcpy(out, c.digest, 16);
    return HONE_OK;
}
static int x128_oneshot(const void *data, size_t len, uint8_t *out, size_t out_len) {
    (void)out_len;
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
    memcpy(out, c.digest, 16);
    return HONE_OK;
}

/* ------------------------------------------------------------------ */
/* The table                                                           */
/* ------------------------------------------------------------------ */

static const char *const sha256_aliases[] = {"sha-256", NULL};
static const char *const blake3_aliases[] = {"b3", NULL};
static const char *const xxh3_aliases[] = {"xxh3-64", "xxh3_64", NULL};
static const char *const xxh128_aliases[] = {"xxh3-128", "xxh3_128", NULL};

/* One row per algorithm; adding an algorithm is adding a row (and its
 * enum value). The escaping columns follow what each reference tool does
 * (coreutils 9.1, b3sum 1.2.0, xxhsum 0.8.1; docs/design/hash.md). */
static const hone__hash_algo table[] = {
    {{HONE_HASH_SHA256, "sha256", "SHA-256", "SHA256", "sha256sum", 32, 0, 1, 0, "-", "\\\n\r",
      "\n", "\\\n\r"},
     sha256_aliases, sha_create, sha_destroy, sha_reset, sha_update, sha_final, sha_oneshot},
    {{HONE_HASH_BLAKE3, "blake3", "BLAKE3", "BLAKE3", "b3sum", 32, 1, 1, 0, "-", "\\\n", "\\\n",
      "\\\n"},
     blake3_aliases, NULL, NULL, b3_reset, b3_update, b3_final, b3_oneshot},
    {{HONE_HASH_XXH3_64, "xxh3", "XXH3-64", "XXH3", "xxhsum -H3", 8, 0, 0, 1, "stdin", "", "\n",
      "\\\n"},
     xxh3_aliases, NULL, NULL, x64_reset, x64_update, x64_final, x64_oneshot},
    {{HONE_HASH_XXH3_128, "xxh128", "XXH3-128", "XXH128", "xxhsum -H2", 16, 0, 0, 0, "stdin", "",
      "\n", "\\\n"},
     xxh128_aliases, NULL, NULL, x128_reset, x128_update, x128_final, x128_oneshot},
};
#define N_ALGOS (sizeof table / sizeof table[0])

const hone__hash_algo *hone__hash_algo_of(hone_hash_algo algo) {
    for (size_t i = 0; i < N_ALGOS; i++)
        if (table[i].info.algo == algo) return &table[i];
    return NULL;
}

const hone_hash_info *hone_hash_info_of(hone_hash_algo algo) {
    const hone__hash_algo *a = hone__hash_algo_of(algo);
    return a ? &a->info : NULL;
}

const hone_hash_info *hone_hash_info_at(size_t i) { return i < N_ALGOS ? &table[i].info : NULL; }

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

const char *hone_hash_name(hone_hash_algo algo) {
    const hone__hash_algo *a = hone__hash_algo_of(algo);
    return a ? a->info.name : NULL;
}

int hone_hash_from_name(const char *name, hone_hash_algo *out, hone_error *err) {
    if (!name || !out) return hone_error_set(err, HONE_EINVAL, "algorithm name: NULL argument");
    for (size_t i = 0; i < N_ALGOS; i++) {
        if (!strcasecmp(name, table[i].info.name)) {
            *out = table[i].info.algo;
            return HONE_OK;
        }
        for (const char *const *al = table[i].aliases; al && *al; al++) {
            if (!strcasecmp(name, *al)) {
                *out = table[i].info.algo;
                return HONE_OK;
            }
        }
    }
    const char *canon[N_ALGOS];
    char expected[128];
    size_t used = 0;
    expected[0] = '\0';
    for (size_t i = 0; i < N_ALGOS; i++) {
        canon[i] = table[i].info.name;
        int w = snprintf(expected + used, sizeof expected - used, "%s%s", i ? ", " : "",
                         canon[i]);
        if (w > 0 && (size_t)w < sizeof expected - used) used += (size_t)w;
    }
    const char *near = hone_nearest_name(name, canon, N_ALGOS);
    if (near)
        return hone_error_set(err, HONE_EINVAL, "'%s': expected one of %s; did you mean '%s'?",
                              name, expected, near);
    return hone_error_set(err, HONE_EINVAL, "'%s': expected one of %s", name, expected);
}

size_t hone_hash_digest_len(hone_hash_algo algo) {
    const hone__hash_algo *a = hone__hash_algo_of(algo);
    return a ? a->info.digest_len : 0;
}

/* ------------------------------------------------------------------ */
/* The hasher                                                          */
/* ------------------------------------------------------------------ */

static int hasher_alloc(hone_hash **out, hone_hash_algo algo, const hone_hash_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    const hone__hash_algo *row = hone__hash_algo_of(algo);
    if (!row) return HONE_EINVAL;
    const hone_allocator *a = opts ? opts->alloc : NULL;
    /* XXH3's state must be 64-byte aligned (its SIMD code uses aligned
     * loads), more than malloc promises, so align by hand. */
    size_t size = sizeof(hone_hash) + 63;
    void *raw = hone_malloc(a, size);
    if (!raw) return HONE_ENOMEM;
    hone_hash *h = (hone_hash *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    memset(h, 0, sizeof *h);
    h->a = row;
    h->raw = raw;
    h->alloc = a;
    h->algo = algo;
    if (row->create && row->create(h) != HONE_OK) {
        hone_free(a, raw);
        return HONE_ENOMEM;
    }
    *out = h;
    return HONE_OK;
}

/* BLAKE3's init functions clear threads and pool; put back the options. */
static void b3_keep_opts(hone_hash *h, const hone_hash_opts *opts) {
    h->u.b3.threads = opts ? opts->threads : 0;
    h->u.b3.pool = opts ? opts->pool : NULL;
}

int hone_hash_new(hone_hash **out, hone_hash_algo algo, const hone_hash_opts *opts) {
    int rc = hasher_alloc(out, algo, opts);
    if (rc) return rc;
    hone_hash *h = *out;
    if (algo == HONE_HASH_BLAKE3) {
        hone__b3_init(&h->u.b3);
        b3_keep_opts(h, opts);
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
    b3_keep_opts(*out, opts);
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
    b3_keep_opts(*out, opts);
    return HONE_OK;
}

void hone_hash_free(hone_hash *h) {
    if (!h) return;
    if (h->a->destroy) h->a->destroy(h);
    hone_free(h->alloc, h->iobuf);
    hone_free(h->alloc, h->raw);
}

hone_hash_algo hone_hash_algorithm(const hone_hash *h) { return h ? h->algo : (hone_hash_algo)0; }

int hone_hash_reset(hone_hash *h) {
    if (!h) return HONE_EINVAL;
    h->finalized = 0;
    return h->a->reset(h);
}

int hone_hash_update(hone_hash *h, const void *data, size_t len) {
    if (!h || (!data && len)) return HONE_EINVAL;
    if (h->finalized) return HONE_ESTATE;
    if (!len) return HONE_OK;
    return h->a->update(h, data, len);
}

int hone_hash_final(hone_hash *h, uint8_t *out, size_t out_len) {
    if (!h || !out) return HONE_EINVAL;
    /* An extendable-output hash reads its output without ending the message. */
    if (h->a->info.xof) return h->a->final(h, out, out_len);
    if (out_len < h->a->info.digest_len) return HONE_ERANGE;
    if (h->finalized) return HONE_ESTATE;
    int rc = h->a->final(h, out, out_len);
    if (!rc) h->finalized = 1;
    return rc;
}

int hone_hash_xof(hone_hash *h, uint64_t offset, uint8_t *out, size_t out_len) {
    if (!h || (!out && out_len)) return HONE_EINVAL;
    if (!h->a->info.xof) return HONE_ENOTSUP;
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
    const hone__hash_algo *a = hone__hash_algo_of(algo);
    if (!a) return HONE_EINVAL;
    if (!a->info.xof && out_len < a->info.digest_len) return HONE_ERANGE;
    static const uint8_t empty[1];
    return a->oneshot(data ? data : empty, len, out, out_len);
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
