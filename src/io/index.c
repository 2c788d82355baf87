/* index.c - the incremental index of manifests: an LMDB file mapping the
 * absolute path of each file hashed to its identity (device, inode, size,
 * mtime, ctime), algorithm, digest and the stamp of the run that stored
 * it, with a magic record so that foreign or corrupt files are rebuilt. */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/lmdb_check.h"
#include "io/internal.h"

/* The magic record: its key sorts before every path (which start with
 * '/'), its value names the format, its version and byte order. Bump the
 * version when the entry layout changes; old indexes are then rebuilt. */
static const char MAGIC_KEY[] = "\001hone.io.index";
#define MAGIC_VALUE "hone-io-index v2 " /* followed by the byte-order probe */
#define ENTRY_VERSION 2

struct hone__io_index {
    const hone_allocator *a;
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    char *path;
    int fresh; /* an empty database: the magic record is still to write */
};

/* An entry's fixed part, stored as bytes in native order (the magic
 * record's probe rejects an index written with another byte order). The
 * digest follows, then a checksum (entry_sum) of everything before it, so a
 * damaged entry is detected rather than trusted. */
typedef struct entry_head {
    uint8_t version, algo, dlen, pad[5];
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns, stamp_ns;
} entry_head;

/* The word loop both hashes below share: 8 bytes at a time, the tail
 * zero-padded. */
static uint64_t mix_words(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0x9e3779b97f4a7c15u ^ n, w;
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    if (n) {
        w = 0;
        memcpy(&w, s, n);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
    }
    return h;
}

/* The entry checksum: a multiply-xorshift over 8-byte words (the entry
 * is a multiple of 8 bytes long except perhaps its digest's tail), about
 * eight times faster than byte-wise FNV-1a, which mattered because every
 * warm lookup checks it. It detects damage, not tampering. */
static uint64_t entry_sum(const void *p, size_t n) {
    uint64_t h = mix_words(p, n);
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    return h ^ (h >> 29);
}

static int magic_value(char *buf, size_t n) {
    uint32_t probe = 0x01020304u;
    size_t ml = sizeof MAGIC_VALUE - 1;
    if (n < ml + sizeof probe) return 0;
    memcpy(buf, MAGIC_VALUE, ml);
    memcpy(buf + ml, &probe, sizeof probe);
    return (int)(ml + sizeof probe);
}

/* Opens the environment and checks the magic record; writes it into an
 * empty database. Returns HONE_ECORRUPT for anything not hone's. */
static int try_open(hone__io_index *ix) {
    if (hone__lmdb_precheck(ix->path)) return HONE_ECORRUPT;
    int rc = mdb_env_create(&ix->env);
    if (rc) return hone__lmdb_status(rc);
    /* 1 GiB of address space; the file grows only as entries are added. */
    mdb_env_set_mapsize(ix->env, (size_t)1 << 30);
    /* MDB_NOMETASYNC: one sync per commit instead of two. LMDB keeps the
     * database intact (a crash can only undo the last commit, which for a
     * cache means re-hashing), and the saved sync is a few milliseconds
     * of a 20,000-file cold build. */
    rc = mdb_env_open(ix->env, ix->path, MDB_NOSUBDIR | MDB_NOTLS | MDB_NOMETASYNC, 0644);
    if (rc) goto fail;
    MDB_txn *txn;
    rc = mdb_txn_begin(ix->env, NULL, 0, &txn);
    if (rc) goto fail;
    int vrc = hone__lmdb_validate(ix->env, ix->a);
    if (vrc) {
        mdb_txn_abort(txn);
        mdb_env_close(ix->env);
        ix->env = NULL;
        return vrc;
    }
    rc = mdb_dbi_open(txn, NULL, 0, &ix->dbi);
    if (rc) {
        mdb_txn_abort(txn);
        goto fail;
    }
    char want[64];
    int wl = magic_value(want, sizeof want);
    MDB_val k = {sizeof MAGIC_KEY - 1, (void *)MAGIC_KEY}, v;
    rc = mdb_get(txn, ix->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        MDB_stat st;
        mdb_stat(txn, ix->dbi, &st);
        if (st.ms_entries != 0) {
            mdb_txn_abort(txn);
            rc = MDB_INVALID; /* entries without hone's record: foreign */
            goto fail;
        }
        /* The magic record is written with the first write pass rather
         * than in a commit (and a sync) of its own; an index left empty
         * without it is still recognised as empty, not as foreign. The
         * dbi handle stays usable once this transaction ends. */
        ix->fresh = 1;
        rc = mdb_txn_commit(txn);
        if (rc) goto fail;
        return HONE_OK;
    }
    if (rc) {
        mdb_txn_abort(txn);
        goto fail;
    }
    int ok = v.mv_size == (size_t)wl && !memcmp(v.mv_data, want, (size_t)wl);
    mdb_txn_abort(txn);
    if (!ok) {
        rc = MDB_VERSION_MISMATCH;
        goto fail;
    }
    return HONE_OK;
fail:
    mdb_env_close(ix->env);
    ix->env = NULL;
    return hone__lmdb_status(rc);
}

int hone__io_index_open(hone__io_index **out, const char *dir, const hone_allocator *a,
                        int *rebuilt, hone_error *err) {
    *out = NULL;
    hone__io_index *ix = hone_calloc(a, 1, sizeof *ix);
    hone_buf p;
    hone_buf_init(&p, a);
    if (!ix || hone_buf_printf(&p, "%s/%s", dir, HONE__IO_INDEX_FILE)) {
        hone_free(a, ix);
        hone_buf_free(&p);
        return hone_error_set(err, HONE_ENOMEM, "out of memory");
    }
    ix->a = a;
    ix->path = p.data;
    char *d = hone_strdup(a, dir);
    if (!d) {
        hone__io_index_close(ix);
        return hone_error_set(err, HONE_ENOMEM, "out of memory");
    }
    int mk = hone__mkdir_p(d);
    int mkerr = errno;
    hone_free(a, d);
    if (mk) {
        int st = hone_status_from_errno(mkerr);
        hone_error_set(err, st, "%s: cannot create the index directory: %s", dir, strerror(mkerr));
        hone__io_index_close(ix);
        return st;
    }
    int rc = try_open(ix);
    if (rc == HONE_ECORRUPT) {
        /* Moved aside rather than deleted, for a post-mortem; a previous
         * one is replaced. Whatever stands in the way (a directory, a
         * FIFO) goes too, and so does the lock file, which LMDB remakes. */
        hone_buf aside;
        hone_buf_init(&aside, a);
        if (hone_buf_printf(&aside, "%s.corrupt", ix->path)) {
            hone_buf_free(&aside);
            hone__io_index_close(ix);
            return hone_error_set(err, HONE_ENOMEM, "out of memory");
        }
        hone_log(HONE_LOG_WARN, "io",
                 "%s: not a valid hone index (corrupt, foreign or another version); moved to %s "
                 "and rebuilding it",
                 ix->path, aside.data);
        if (rebuilt) *rebuilt = 1;
        if (rename(ix->path, aside.data) != 0) {
            unlink(aside.data);
            rmdir(aside.data);
            if (rename(ix->path, aside.data) != 0) unlink(ix->path);
        }
        hone_buf_free(&aside);
        char lock[4096];
        snprintf(lock, sizeof lock, "%s-lock", ix->path);
        if (unlink(lock) != 0) rmdir(lock);
        rc = try_open(ix);
    }
    if (rc) {
        hone_error_set(err, rc, "%s: cannot open the index: %s", ix->path, hone_strerror(rc));
        hone__io_index_close(ix);
        return rc;
    }
    *out = ix;
    return HONE_OK;
}

void hone__io_index_close(hone__io_index *ix) {
    if (!ix) return;
    if (ix->txn) mdb_txn_abort(ix->txn);
    if (ix->env) mdb_env_close(ix->env);
    hone_free(ix->a, ix->path);
    hone_free(ix->a, ix);
}

size_t hone__io_index_max_key(const hone__io_index *ix) {
    return (size_t)mdb_env_get_maxkeysize(ix->env);
}

/* A file of the directory a reader has loaded: its name and its value,
 * both pointing into LMDB's map (valid while the read transaction lives). */
typedef struct dent {
    const char *name;
    size_t nlen;
    MDB_val v;
    uint64_t h;
} dent;

struct hone__io_reader {
    hone__io_index *ix;
    MDB_txn *txn;
    MDB_cursor *cur;
    int loaded;          /* dir holds the prefix whose entries are in ents */
    hone_buf dir;        /* "<root>/<dir>/" */
    dent *ents;
    size_t n, cap;
    uint32_t *tab;       /* open addressing: index + 1 into ents, 0 empty */
    size_t tcap;         /* slots allocated */
    size_t mask;         /* slots in use - 1: a power of two, at least 2n */
};

int hone__io_index_reader(hone__io_index *ix, hone__io_reader **out) {
    *out = NULL;
    hone__io_reader *r = hone_calloc(ix->a, 1, sizeof *r);
    if (!r) return HONE_ENOMEM;
    r->ix = ix;
    hone_buf_init(&r->dir, ix->a);
    int rc = hone__lmdb_status(mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &r->txn));
    if (!rc && (rc = hone__lmdb_status(mdb_cursor_open(r->txn, ix->dbi, &r->cur)))) mdb_txn_abort(r->txn);
    if (rc) {
        hone_free(ix->a, r);
        return rc;
    }
    *out = r;
    return HONE_OK;
}

void hone__io_index_reader_end(hone__io_reader *r) {
    if (!r) return;
    mdb_cursor_close(r->cur);
    mdb_txn_abort(r->txn);
    hone_buf_free(&r->dir);
    hone_free(r->ix->a, r->ents);
    hone_free(r->ix->a, r->tab);
    hone_free(r->ix->a, r);
}

static uint64_t name_hash(const char *s, size_t n) {
    uint64_t h = mix_words(s, n);
    return h ^ (h >> 29);
}

/* Reads the entries of one directory (keys "<prefix><name>" with no '/'
 * in name) with a cursor, in key order, skipping each subdirectory's
 * range with one seek, and indexes them by name. One sequential scan per
 * directory replaces a B-tree descent (and its key compares along long
 * shared prefixes) per file. */
static int load_dir(hone__io_reader *r, const char *prefix, size_t plen) {
    hone__io_index *ix = r->ix;
    r->loaded = 0;
    r->n = 0;
    hone_buf_clear(&r->dir);
    if (hone_buf_append(&r->dir, prefix, plen)) return HONE_ENOMEM;
    size_t maxk = hone__io_index_max_key(ix);
    char seek[1024];
    MDB_val k = {plen, (void *)prefix}, v;
    int rc = plen <= maxk ? mdb_cursor_get(r->cur, &k, &v, MDB_SET_RANGE) : MDB_NOTFOUND;
    while (rc == 0) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0) break;
        const char *rest = (const char *)k.mv_data + plen;
        size_t rl = k.mv_size - plen;
        const char *sl = memchr(rest, '/', rl);
        if (sl) {
            /* "<prefix>sub/..." : go on at "<prefix>sub0", '0' being the
             * byte after '/', past everything under sub. */
            size_t sk = (size_t)(sl - (const char *)k.mv_data);
            if (sk + 1 > sizeof seek) {
                rc = mdb_cursor_get(r->cur, &k, &v, MDB_NEXT);
                continue;
            }
            memcpy(seek, k.mv_data, sk);
            seek[sk] = '/' + 1;
            k = (MDB_val){sk + 1, seek};
            rc = mdb_cursor_get(r->cur, &k, &v, MDB_SET_RANGE);
            continue;
        }
        if (r->n == r->cap) {
            size_t nc = r->cap ? r->cap * 2 : 256;
            dent *ne = hone_realloc(ix->a, r->ents, nc * sizeof *ne);
            if (!ne) return HONE_ENOMEM;
            r->ents = ne;
            r->cap = nc;
        }
        r->ents[r->n++] = (dent){rest, rl, v, name_hash(rest, rl)};
        rc = mdb_cursor_get(r->cur, &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return hone__lmdb_status(rc);
    size_t tc = 16;
    while (tc < 2 * r->n) tc *= 2;
    if (tc > r->tcap) {
        uint32_t *nt = hone_malloc(ix->a, tc * sizeof *nt);
        if (!nt) return HONE_ENOMEM;
        hone_free(ix->a, r->tab);
        r->tab = nt;
        r->tcap = tc;
    }
    /* The table in use is the first tc slots of what is allocated: a
     * bigger directory earlier may have left a bigger allocation. */
    r->mask = tc - 1;
    memset(r->tab, 0, tc * sizeof *r->tab);
    for (size_t i = 0; i < r->n; i++) {
        size_t j = (size_t)r->ents[i].h & r->mask;
        while (r->tab[j]) j = (j + 1) & r->mask;
        r->tab[j] = (uint32_t)(i + 1);
    }
    r->loaded = 1;
    return HONE_OK;
}

/* Checks and decodes a stored entry; see hone__io_index_get. */
static int decode(const MDB_val *v, int algo, size_t dlen, hone__io_fstat *st, uint8_t *digest,
                  int64_t *stamp_ns) {
    entry_head h;
    if (v->mv_size < sizeof h + 8) return HONE__IO_BAD_ENTRY;
    memcpy(&h, v->mv_data, sizeof h);
    if (h.version != ENTRY_VERSION || v->mv_size != sizeof h + h.dlen + 8) return HONE__IO_BAD_ENTRY;
    uint64_t sum;
    memcpy(&sum, (const char *)v->mv_data + sizeof h + h.dlen, 8);
    if (sum != entry_sum(v->mv_data, sizeof h + h.dlen)) return HONE__IO_BAD_ENTRY;
    if (h.algo != algo || h.dlen != dlen) return 0;
    *st = (hone__io_fstat){h.dev, h.ino, h.size, h.mtime_ns, h.ctime_ns};
    memcpy(digest, (const char *)v->mv_data + sizeof h, dlen);
    *stamp_ns = h.stamp_ns;
    return 1;
}

int hone__io_index_get(hone__io_reader *r, const char *key, size_t klen, size_t dirlen, int algo,
                       size_t dlen, hone__io_fstat *st, uint8_t *digest, int64_t *stamp_ns) {
    hone__io_index *ix = r->ix;
    if (klen == 0 || klen > hone__io_index_max_key(ix) || dirlen > klen) return 0;
    if (!r->loaded || r->dir.len != dirlen || memcmp(r->dir.data, key, dirlen) != 0) {
        int rc = load_dir(r, key, dirlen);
        if (rc == HONE_ENOMEM) return rc;
        if (rc) {
            /* The scan failed (rare): one plain lookup instead. */
            MDB_val k = {klen, (void *)key}, v;
            if (mdb_get(r->txn, ix->dbi, &k, &v) != 0) return 0;
            return decode(&v, algo, dlen, st, digest, stamp_ns);
        }
    }
    const char *name = key + dirlen;
    size_t nlen = klen - dirlen;
    uint64_t h = name_hash(name, nlen);
    for (size_t j = (size_t)h & r->mask; r->tab[j]; j = (j + 1) & r->mask) {
        const dent *d = &r->ents[r->tab[j] - 1];
        if (d->h == h && d->nlen == nlen && !memcmp(d->name, name, nlen))
            return decode(&d->v, algo, dlen, st, digest, stamp_ns);
    }
    return 0;
}

int hone__io_index_begin_write(hone__io_index *ix) {
    if (ix->txn) return HONE_ESTATE;
    int rc = hone__lmdb_status(mdb_txn_begin(ix->env, NULL, 0, &ix->txn));
    if (!rc && ix->fresh) {
        char want[64];
        int wl = magic_value(want, sizeof want);
        MDB_val k = {sizeof MAGIC_KEY - 1, (void *)MAGIC_KEY}, mv = {(size_t)wl, want};
        rc = hone__lmdb_status(mdb_put(ix->txn, ix->dbi, &k, &mv, 0));
        if (rc) hone__io_index_abort(ix);
    }
    return rc;
}

int hone__io_index_put(hone__io_index *ix, const char *key, size_t klen, int algo,
                       const hone__io_fstat *st, const uint8_t *digest, size_t dlen,
                       int64_t stamp_ns, int append) {
    if (!ix->txn) return HONE_ESTATE;
    if (klen == 0 || klen > hone__io_index_max_key(ix) || dlen > 255) return HONE_OK;
    unsigned char buf[sizeof(entry_head) + 256 + 8];
    entry_head h;
    memset(&h, 0, sizeof h);
    h.version = ENTRY_VERSION;
    h.algo = (uint8_t)algo;
    h.dlen = (uint8_t)dlen;
    h.dev = st->dev, h.ino = st->ino, h.size = st->size;
    h.mtime_ns = st->mtime_ns, h.ctime_ns = st->ctime_ns, h.stamp_ns = stamp_ns;
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, digest, dlen);
    uint64_t sum = entry_sum(buf, sizeof h + dlen);
    memcpy(buf + sizeof h + dlen, &sum, 8);
    MDB_val k = {klen, (void *)key}, v = {sizeof h + dlen + 8, buf};
    return hone__lmdb_status(mdb_put(ix->txn, ix->dbi, &k, &v, append ? MDB_APPEND : 0));
}

int hone__io_index_commit(hone__io_index *ix) {
    if (!ix->txn) return HONE_ESTATE;
    int rc = mdb_txn_commit(ix->txn);
    ix->txn = NULL;
    if (rc == 0) ix->fresh = 0;
    return hone__lmdb_status(rc);
}

void hone__io_index_abort(hone__io_index *ix) {
    if (ix->txn) mdb_txn_abort(ix->txn);
    ix->txn = NULL;
}

int hone__io_index_reset(hone__io_index *ix) {
    if (!ix->txn) return HONE_ESTATE;
    int rc = mdb_drop(ix->txn, ix->dbi, 0);
    if (rc) return hone__lmdb_status(rc);
    char want[64];
    int wl = magic_value(want, sizeof want);
    MDB_val k = {sizeof MAGIC_KEY - 1, (void *)MAGIC_KEY}, mv = {(size_t)wl, want};
    return hone__lmdb_status(mdb_put(ix->txn, ix->dbi, &k, &mv, 0));
}

int hone__io_index_prune(hone__io_index *ix, const char *prefix, size_t plen,
                         int (*keep)(void *ctx, const char *rest, size_t len), void *ctx,
                         uint64_t *pruned) {
    if (!ix->txn) return HONE_ESTATE;
    MDB_cursor *c;
    int rc = mdb_cursor_open(ix->txn, ix->dbi, &c);
    if (rc) return hone__lmdb_status(rc);
    MDB_val k = {plen, (void *)prefix}, v;
    /* Keys sort bytewise, so the entries under prefix are one range. */
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= plen && !memcmp(k.mv_data, prefix, plen)) {
        if (!keep(ctx, (const char *)k.mv_data + plen, k.mv_size - plen)) {
            if ((rc = mdb_cursor_del(c, 0))) break;
            if (pruned) (*pruned)++;
        }
        /* After a delete, MDB_NEXT returns the entry that followed it. */
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND || rc == 0 ? HONE_OK : hone__lmdb_status(rc);
}

uint64_t hone__io_index_entries(hone__io_index *ix) {
    MDB_stat st;
    MDB_txn *txn = ix->txn;
    /* Outside a write pass a short read transaction gives the count, so a
     * warm run can see that it has nothing to write without taking the
     * writer's lock. */
    if (!txn && mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn) != 0) return UINT64_MAX;
    int rc = mdb_stat(txn, ix->dbi, &st);
    if (txn != ix->txn) mdb_txn_abort(txn);
    if (rc != 0) return UINT64_MAX;
    return st.ms_entries ? (uint64_t)st.ms_entries - 1 : 0; /* less the magic record */
}
