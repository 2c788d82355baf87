/* key.c - what a job's result is stored under, and how it is stored.
 *
 * A key is the BLAKE3 digest of everything the job's result may depend on
 * that hone can see: the command as run (every argv word), the content of
 * its executable, of every input that names a regular file, of every
 * declared dependency, and the values of the declared environment
 * variables. Each field goes into the hash with a tag and its length, so
 * no two different jobs encode to the same bytes (["ab","c"] and
 * ["a","bc"] differ). File contents enter as their own BLAKE3 digests,
 * taken through a file-validated cache: a file whose identity (inode,
 * size, times) has not changed since it was hashed is not read again,
 * which is what makes a fully cached rerun cost a stat per file instead of
 * a read. What hone cannot see - a file the command opens that is neither
 * an input nor a --dep, the network, the clock - is the user's to declare;
 * hone-run(1) says so.
 *
 * Records are little-endian with a magic and a version, and decoded with
 * every length checked against the buffer: a value that another program
 * put under the key, or a truncated one, is a miss, never a replay of
 * garbage. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hone/hash.h"
#include "run_internal.h"

enum {
    TAG_KIND = 1,
    TAG_FN = 2,
    TAG_DEP = 3,
    TAG_ENV = 4,
    TAG_ENV_UNSET = 5,
    TAG_FIXED = 6,
    TAG_EXE = 7,
    TAG_ARG = 8,
    TAG_INPUT = 9,
    TAG_INPUT_FILE = 10
};

static int put_field(hone_hash *h, int tag, const void *p, size_t n) {
    uint8_t hdr[9];
    hdr[0] = (uint8_t)tag;
    uint64_t v = n;
    for (int i = 0; i < 8; i++) hdr[1 + i] = (uint8_t)(v >> (8 * i));
    int rc = hone_hash_update(h, hdr, sizeof hdr);
    if (rc == HONE_OK && n) rc = hone_hash_update(h, p, n);
    return rc;
}

static int digest_loader(void *ctx, const char *path, int fd, const hone_file_id *id,
                         hone_buf *out) {
    (void)path;
    (void)id;
    const hone_allocator *a = ctx;
    hone_hash_opts ho = {.alloc = a};
    hone_hash *h = NULL;
    int rc = hone_hash_new(&h, HONE_HASH_BLAKE3, &ho);
    if (rc != HONE_OK) return rc;
    uint8_t d[HONE__RUN_KEY_LEN];
    rc = hone_hash_update_fd(h, fd, NULL, NULL);
    if (rc == HONE_OK) rc = hone_hash_final(h, d, sizeof d);
    hone_hash_free(h);
    if (rc == HONE_OK) rc = hone_buf_append(out, d, sizeof d);
    return rc;
}

int hone__run_file_digest(hone__run_keyer *k, const char *path, uint8_t out[HONE__RUN_KEY_LEN]) {
    hone_buf b;
    hone_buf_init(&b, k->a);
    int rc = hone_filecache_get(k->files, path, NULL, digest_loader, (void *)k->a, &b, NULL);
    if (rc == HONE_OK && b.len != HONE__RUN_KEY_LEN) rc = HONE_ECORRUPT;
    if (rc == HONE_OK) memcpy(out, b.data, HONE__RUN_KEY_LEN);
    hone_buf_free(&b);
    return rc;
}

int hone__run_keyer_init(hone__run_keyer *k, const hone_run_opts *o, hone_error *err) {
    memset(k, 0, sizeof *k);
    k->a = o->alloc ? o->alloc : hone_allocator_default();
    if (o->files) {
        k->files = o->files;
    } else {
        hone_filecache_opts fo = {.alloc = o->alloc};
        int rc = hone_filecache_new(&k->files, &fo, err);
        if (rc != HONE_OK) return rc;
        k->own_files = 1;
    }
    hone_hash_opts ho = {.alloc = o->alloc};
    hone_hash *h = NULL;
    int rc = hone_hash_new(&h, HONE_HASH_BLAKE3, &ho);
    if (rc != HONE_OK) goto fail;
    static const char kind_cmd[] = "hone.run.v1 command", kind_fn[] = "hone.run.v1 function";
    if (o->tmpl)
        rc = put_field(h, TAG_KIND, kind_cmd, sizeof kind_cmd - 1);
    else
        rc = put_field(h, TAG_KIND, kind_fn, sizeof kind_fn - 1);
    if (rc == HONE_OK && !o->tmpl && o->fn_id) rc = put_field(h, TAG_FN, o->fn_id, strlen(o->fn_id));
    for (size_t i = 0; rc == HONE_OK && i < o->ndeps; i++) {
        uint8_t d[HONE__RUN_KEY_LEN];
        rc = hone__run_file_digest(k, o->deps[i], d);
        if (rc != HONE_OK) {
            hone_error_set(err, rc, "dependency %s: %s", o->deps[i],
                           rc == HONE_EINVAL ? "not a regular file" : hone_strerror(rc));
            break;
        }
        rc = put_field(h, TAG_DEP, o->deps[i], strlen(o->deps[i]));
        if (rc == HONE_OK) rc = put_field(h, TAG_DEP, d, sizeof d);
    }
    for (size_t i = 0; rc == HONE_OK && i < o->nenv; i++) {
        const char *v = getenv(o->env_names[i]);
        rc = put_field(h, TAG_ENV, o->env_names[i], strlen(o->env_names[i]));
        if (rc == HONE_OK)
            rc = v ? put_field(h, TAG_ENV, v, strlen(v)) : put_field(h, TAG_ENV_UNSET, NULL, 0);
    }
    if (rc == HONE_OK) rc = hone_hash_final(h, k->fixed, sizeof k->fixed);
    hone_hash_free(h);
    if (rc == HONE_OK) return HONE_OK;
fail:
    if (rc == HONE_ENOMEM) hone_error_set(err, rc, "out of memory");
    hone__run_keyer_fini(k);
    return rc;
}

void hone__run_keyer_fini(hone__run_keyer *k) {
    if (k->own_files) hone_filecache_free(k->files);
    k->files = NULL;
    k->own_files = 0;
}

/* Nonzero when path names a regular file (following links). */
static int is_regular(const char *path) {
    struct stat sb;
    return path[0] && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

int hone__run_key(hone__run_keyer *k, char *const *argv, int argc, const char *exe,
                  const char *const *inputs, size_t ninputs, uint8_t key[HONE__RUN_KEY_LEN]) {
    hone_hash_opts ho = {.alloc = k->a};
    hone_hash *h = NULL;
    int rc = hone_hash_new(&h, HONE_HASH_BLAKE3, &ho);
    if (rc != HONE_OK) return rc;
    rc = put_field(h, TAG_FIXED, k->fixed, sizeof k->fixed);
    if (rc == HONE_OK && exe) {
        uint8_t d[HONE__RUN_KEY_LEN];
        rc = hone__run_file_digest(k, exe, d);
        if (rc == HONE_OK) rc = put_field(h, TAG_EXE, d, sizeof d);
    }
    for (int i = 0; rc == HONE_OK && argv && i < argc; i++)
        rc = put_field(h, TAG_ARG, argv[i], strlen(argv[i]));
    for (size_t i = 0; rc == HONE_OK && i < ninputs; i++) {
        rc = put_field(h, TAG_INPUT, inputs[i], strlen(inputs[i]));
        if (rc == HONE_OK && is_regular(inputs[i])) {
            uint8_t d[HONE__RUN_KEY_LEN];
            rc = hone__run_file_digest(k, inputs[i], d);
            /* A file that vanished between the stat and the read is hashed
             * as text: the command will not find it either. */
            if (rc == HONE_ENOTFOUND) {
                rc = HONE_OK;
                continue;
            }
            if (rc == HONE_OK) rc = put_field(h, TAG_INPUT_FILE, d, sizeof d);
        }
    }
    if (rc == HONE_OK) rc = hone_hash_final(h, key, HONE__RUN_KEY_LEN);
    hone_hash_free(h);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

static const uint8_t rec_magic[4] = {'H', 'R', 'U', 'N'};
static const uint8_t hist_magic[4] = {'H', 'R', 'D', 'U'};
enum { REC_VERSION = 1, HIST_VERSION = 1, REC_HDR = 4 + 1 + 1 + 4 + 8 + 8 + 8 + 8 };

static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int hone__run_record_encode(const hone__run_record *r, hone_buf *b) {
    uint8_t hdr[REC_HDR];
    memcpy(hdr, rec_magic, 4);
    hdr[4] = REC_VERSION;
    hdr[5] = (uint8_t)r->end;
    uint32_t st = (uint32_t)r->status;
    for (int i = 0; i < 4; i++) hdr[6 + i] = (uint8_t)(st >> (8 * i));
    put_u64(hdr + 10, r->start_wall_ns);
    put_u64(hdr + 18, r->duration_ns);
    put_u64(hdr + 26, r->out_len);
    put_u64(hdr + 34, r->err_len);
    int rc = hone_buf_reserve(b, sizeof hdr + r->out_len + r->err_len);
    if (rc == HONE_OK) rc = hone_buf_append(b, hdr, sizeof hdr);
    if (rc == HONE_OK && r->out_len) rc = hone_buf_append(b, r->out, r->out_len);
    if (rc == HONE_OK && r->err_len) rc = hone_buf_append(b, r->err, r->err_len);
    return rc;
}

int hone__run_record_decode(const void *p, size_t n, hone__run_record *r) {
    const uint8_t *b = p;
    if (n < REC_HDR || memcmp(b, rec_magic, 4) != 0 || b[4] != REC_VERSION) return HONE_ECORRUPT;
    if (b[5] > HONE_RUN_FAILED) return HONE_ECORRUPT;
    uint32_t st = 0;
    for (int i = 0; i < 4; i++) st |= (uint32_t)b[6 + i] << (8 * i);
    uint64_t ol = get_u64(b + 26), el = get_u64(b + 34);
    if (ol > n - REC_HDR || el != n - REC_HDR - ol) return HONE_ECORRUPT;
    memset(r, 0, sizeof *r);
    r->end = b[5];
    r->status = (int)st;
    r->start_wall_ns = get_u64(b + 10);
    r->duration_ns = get_u64(b + 18);
    r->out = (const char *)b + REC_HDR;
    r->out_len = (size_t)ol;
    r->err = r->out + ol;
    r->err_len = (size_t)el;
    return HONE_OK;
}

int hone__run_history_encode(const uint64_t *ns, size_t n, hone_buf *b) {
    if (n > HONE__RUN_HISTORY_MAX) {
        ns += n - HONE__RUN_HISTORY_MAX;
        n = HONE__RUN_HISTORY_MAX;
    }
    uint8_t hdr[9];
    memcpy(hdr, hist_magic, 4);
    hdr[4] = HIST_VERSION;
    for (int i = 0; i < 4; i++) hdr[5 + i] = (uint8_t)((uint32_t)n >> (8 * i));
    int rc = hone_buf_reserve(b, sizeof hdr + 8 * n);
    if (rc == HONE_OK) rc = hone_buf_append(b, hdr, sizeof hdr);
    for (size_t i = 0; rc == HONE_OK && i < n; i++) {
        uint8_t v[8];
        put_u64(v, ns[i]);
        rc = hone_buf_append(b, v, 8);
    }
    return rc;
}

int hone__run_history_decode(const void *p, size_t len, const hone_allocator *a, uint64_t **ns,
                             size_t *n) {
    const uint8_t *b = p;
    *ns = NULL;
    *n = 0;
    if (len < 9 || memcmp(b, hist_magic, 4) != 0 || b[4] != HIST_VERSION) return HONE_ECORRUPT;
    uint32_t cnt = 0;
    for (int i = 0; i < 4; i++) cnt |= (uint32_t)b[5 + i] << (8 * i);
    if (cnt > HONE__RUN_HISTORY_MAX || len != 9 + 8 * (size_t)cnt) return HONE_ECORRUPT;
    if (cnt == 0) return HONE_OK;
    uint64_t *v = hone_malloc(a, sizeof *v * cnt);
    if (!v) return HONE_ENOMEM;
    for (uint32_t i = 0; i < cnt; i++) v[i] = get_u64(b + 9 + 8 * (size_t)i);
    *ns = v;
    *n = cnt;
    return HONE_OK;
}
