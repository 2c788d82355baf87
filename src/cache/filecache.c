/* filecache.c - the file-validated cache: a value per path, trusted while
 * the file's identity (device, inode, size, mtime, ctime) is unchanged and
 * the racy-timestamp rule allows, loaded once per path at a time, kept in a
 * memory table or an LMDB file (also the manifest index's store). */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "cache/filecache_internal.h"
#include "cache/lmdb_check.h"

/* The magic record: key "\001<name>" (sorting before every absolute path),
 * value the format, its version and a byte-order probe. v3 made the value
 * opaque bytes (v2, the manifest index's own format, held an algorithm and
 * a digest): a v2 index is rebuilt. Bump the version when the entry layout
 * changes. */
#define MAGIC_VALUE "hone-filecache v3 "
#define ENTRY_VERSION 3
#define DEFAULT_NAME "hone.filecache"
#define MAX_NAME 200
#define DEFAULT_MAX_ENTRIES 65536
#define DEFAULT_MAP_SIZE ((uint64_t)1 << 30)

/* An entry's fixed part, stored as bytes in native order (the magic
 * record's probe refuses a file written with another byte order). The value
 * follows, then a checksum (entry_sum) of everything before it, so a
 * damaged entry is detected rather than trusted. */
typedef struct entry_head {
    uint8_t version, pad[3];
    uint32_t vlen;
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns, stamp_ns;
} entry_head;

/* A memory entry: key and value follow the struct in one allocation. */
typedef struct mnode {
    struct mnode *chain;       /* hash chain */
    struct mnode *prev, *next; /* recency list, most recent first */
    uint64_t h;
    size_t klen, vlen;
    hone_file_id id;
    int64_t stamp_ns;
    char *key;
    unsigned char *val;
} mnode;

/* A load in progress; others asking for its path wait on fc->cv. */
typedef struct flight {
    struct flight *next;
    const char *key; /* the leader's path: it outlives the flight's listing */
    size_t klen;
    int refs, waiters, done, rc;
    hone_file_id id; /* of what the loader read */
    hone_buf value;  /* a copy for the waiters */
} flight;

struct hone_filecache {
    const hone_allocator *a;
    char *path, *lock_path, *aside_path;
    char *magic_key;
    size_t mklen;
    uint64_t ttl_ns;
    int64_t g; /* configured racy granularity, at least 1 */
    hone_filecache_clock_fn clock;
    void *clock_ctx;
    uint64_t map_size;
    int recreated;

    /* Persisted. */
    MDB_env *env;
    MDB_dbi dbi;
    size_t max_key;
    atomic_int fresh; /* an empty file: the magic record is still to write */
    MDB_txn *wtxn;    /* the batch's write transaction */

    /* Memory table and flights, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t seed;
    mnode **tab;
    size_t tcap, n, max_entries;
    mnode lru; /* sentinel */
    flight *flights;

    atomic_uint_fast64_t hits, misses, stale, racy, expired, joined, load_failures, corrupt,
        store_failures, waiting;
};

void hone_file_id_from_stat(hone_file_id *id, const struct stat *sb) {
    id->dev = (uint64_t)sb->st_dev;
    id->ino = (uint64_t)sb->st_ino;
    id->size = (uint64_t)sb->st_size;
    id->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
    id->ctime_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec;
}

static int64_t default_clock(void *ctx) {
    (void)ctx;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME_COARSE, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* The racy-timestamp rule                                             */
/* ------------------------------------------------------------------ */

/* The coarsest timestamp granularity a file-system stamp t is consistent
 * with. Linux truncates every stamp to its file system's granularity
 * (s_time_gran: a power of ten from 1 ns to 1 s) or, on FAT, to 2 s, so a
 * stamp whose nanoseconds are all zero may come from a 1 s or 2 s file
 * system and is taken as 2 s; otherwise the largest power of ten dividing
 * it. The estimate is never finer than the file system's real granularity,
 * and when a fine-grained stamp happens to end in zeros it only keeps an
 * entry racy a little longer (at most 2 s after the load that stored it),
 * so no statfs() table is needed, and files on different mounts each get
 * their own. */
static int64_t stamp_granularity(int64_t t) {
    int64_t ns = t % 1000000000;
    if (ns < 0) ns += 1000000000;
    if (ns == 0) return 2000000000;
    int64_t g = 1;
    while (ns % (g * 10) == 0) g *= 10;
    return g;
}

/* floor(t / g), correct for times before 1970 too. */
static int64_t granule(int64_t t, int64_t g) {
    int64_t q = t / g;
    return (t % g < 0) ? q - 1 : q;
}

int hone__filecache_verdict(const hone_filecache *fc, const hone__filecache_entry *e,
                            const hone_file_id *id, int64_t now_ns) {
    if (e->id.dev != id->dev || e->id.ino != id->ino || e->id.size != id->size ||
        e->id.mtime_ns != id->mtime_ns || e->id.ctime_ns != id->ctime_ns)
        return HONE_FILECACHE_STALE;
    if (fc->ttl_ns && now_ns > e->stamp_ns && (uint64_t)(now_ns - e->stamp_ns) >= fc->ttl_ns)
        return HONE_FILECACHE_EXPIRED;
    /* The entry was stored by a load that began at stamp and read the file
     * after that; a later write gets an mtime in stamp's granule or after.
     * Only an mtime in an earlier granule rules such a write out. */
    int64_t g = stamp_granularity(id->mtime_ns);
    if (g < fc->g) g = fc->g;
    return granule(id->mtime_ns, g) < granule(e->stamp_ns, g) ? HONE_FILECACHE_HIT
                                                                : HONE_FILECACHE_RACY;
}

int hone__filecache_recreated(const hone_filecache *fc) { return fc->recreated; }

size_t hone__filecache_max_key(const hone_filecache *fc) { return fc->env ? fc->max_key : SIZE_MAX; }

/* ------------------------------------------------------------------ */
/* Entries                                                             */
/* ------------------------------------------------------------------ */

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

/* The entry checksum: a multiply-xorshift over 8-byte words, about eight
 * times faster than byte-wise FNV-1a, which mattered because every warm
 * manifest lookup checks one. It detects damage, not tampering. */
static uint64_t entry_sum(const void *p, size_t n) {
    uint64_t h = mix_words(p, n);
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    return h ^ (h >> 29);
}

/* Checks and decodes a stored entry. Returns 1, or
 * HONE__FILECACHE_BAD_ENTRY. */
static int decode(const MDB_val *v, hone__filecache_entry *e) {
    entry_head h;
    if (v->mv_size < sizeof h + 8) return HONE__FILECACHE_BAD_ENTRY;
    memcpy(&h, v->mv_data, sizeof h);
    if (h.version != ENTRY_VERSION || v->mv_size != sizeof h + (size_t)h.vlen + 8)
        return HONE__FILECACHE_BAD_ENTRY;
    uint64_t sum;
    memcpy(&sum, (const char *)v->mv_data + sizeof h + h.vlen, 8);
    if (sum != entry_sum(v->mv_data, sizeof h + h.vlen)) return HONE__FILECACHE_BAD_ENTRY;
    e->id = (hone_file_id){h.dev, h.ino, h.size, h.mtime_ns, h.ctime_ns};
    e->stamp_ns = h.stamp_ns;
    e->value = (const char *)v->mv_data + sizeof h;
    e->vlen = h.vlen;
    return 1;
}

static int magic_value(char *buf, size_t n) {
    uint32_t probe = 0x01020304u;
    size_t ml = sizeof MAGIC_VALUE - 1;
    if (n < ml + sizeof probe) return 0;
    memcpy(buf, MAGIC_VALUE, ml);
    memcpy(buf + ml, &probe, sizeof probe);
    return (int)(ml + sizeof probe);
}

static int put_magic(hone_filecache *fc, MDB_txn *txn) {
    char want[64];
    int wl = magic_value(want, sizeof want);
    MDB_val k = {fc->mklen, fc->magic_key}, v = {(size_t)wl, want};
    return hone__lmdb_status(mdb_put(txn, fc->dbi, &k, &v, 0));
}

/* Writes one entry in txn; MDB_RESERVE lets it be composed in place. */
static int put_entry(hone_filecache *fc, MDB_txn *txn, const char *key, size_t klen,
                     const hone_file_id *id, int64_t stamp, const void *val, size_t vlen,
                     unsigned flags) {
    if (vlen > UINT32_MAX - sizeof(entry_head) - 8) return HONE_ERANGE;
    entry_head h;
    memset(&h, 0, sizeof h);
    h.version = ENTRY_VERSION;
    h.vlen = (uint32_t)vlen;
    h.dev = id->dev, h.ino = id->ino, h.size = id->size;
    h.mtime_ns = id->mtime_ns, h.ctime_ns = id->ctime_ns, h.stamp_ns = stamp;
    MDB_val k = {klen, (void *)key}, v = {sizeof h + vlen + 8, NULL};
    int rc = mdb_put(txn, fc->dbi, &k, &v, flags | MDB_RESERVE);
    if (rc) return hone__lmdb_status(rc);
    unsigned char *p = v.mv_data;
    memcpy(p, &h, sizeof h);
    if (vlen) memcpy(p + sizeof h, val, vlen);
    uint64_t sum = entry_sum(p, sizeof h + vlen);
    memcpy(p + sizeof h + vlen, &sum, 8);
    return HONE_OK;
}

/* Whether key may be stored: not empty, within LMDB's limit, and not the
 * magic record's own key. */
static int storable(const hone_filecache *fc, const char *key, size_t klen) {
    return klen && klen <= fc->max_key && !(klen == fc->mklen && !memcmp(key, fc->magic_key, klen));
}

/* ------------------------------------------------------------------ */
/* Opening                                                             */
/* ------------------------------------------------------------------ */

/* Opens the environment and checks the magic record. Returns
 * HONE_ECORRUPT for anything not hone's, of another name or version. */
static int try_open(hone_filecache *fc) {
    int prc = hone__lmdb_precheck(fc->path);
    if (prc) return prc;
    int rc = mdb_env_create(&fc->env);
    if (rc) {
        fc->env = NULL;
        return hone__lmdb_status(rc);
    }
    mdb_env_set_mapsize(fc->env, (size_t)fc->map_size);
    /* MDB_NOMETASYNC: one sync per commit instead of two. LMDB keeps the
     * file intact (a crash can only undo the last commit, which for a cache
     * means loading again), and the saved sync is a few milliseconds of a
     * 20,000-file cold manifest build. MDB_NOTLS: readers are not tied to
     * threads, so a reader may end on another thread. */
    rc = mdb_env_open(fc->env, fc->path, MDB_NOSUBDIR | MDB_NOTLS | MDB_NOMETASYNC, 0644);
    if (rc) goto fail;
    MDB_txn *txn;
    rc = mdb_txn_begin(fc->env, NULL, 0, &txn);
    if (rc) goto fail;
    /* Inside the write transaction: LMDB's writer lock keeps the file
     * still while every page is checked. */
    int vrc = hone__lmdb_validate(fc->env, fc->a);
    if (vrc) {
        mdb_txn_abort(txn);
        mdb_env_close(fc->env);
        fc->env = NULL;
        return vrc;
    }
    rc = mdb_dbi_open(txn, NULL, 0, &fc->dbi);
    if (rc) {
        mdb_txn_abort(txn);
        goto fail;
    }
    char want[64];
    int wl = magic_value(want, sizeof want);
    MDB_val k = {fc->mklen, fc->magic_key}, v;
    rc = mdb_get(txn, fc->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        MDB_stat st;
        mdb_stat(txn, fc->dbi, &st);
        if (st.ms_entries != 0) {
            mdb_txn_abort(txn);
            rc = MDB_INVALID; /* entries without this name's record: foreign */
            goto fail;
        }
        /* The magic record is written with the first write rather than in
         * a commit (and a sync) of its own; a file left empty without it is
         * still recognised as empty, not as foreign. The dbi handle stays
         * usable once this transaction ends. */
        atomic_store(&fc->fresh, 1);
        rc = mdb_txn_commit(txn);
        if (rc) goto fail;
        fc->max_key = (size_t)mdb_env_get_maxkeysize(fc->env);
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
    fc->max_key = (size_t)mdb_env_get_maxkeysize(fc->env);
    return HONE_OK;
fail:
    mdb_env_close(fc->env);
    fc->env = NULL;
    return hone__lmdb_status(rc);
}

static char *join(const hone_allocator *a, const char *s, const char *suffix) {
    hone_buf b;
    hone_buf_init(&b, a);
    if (hone_buf_printf(&b, "%s%s", s, suffix)) {
        hone_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static int open_store(hone_filecache *fc, int recreate, hone_error *err) {
    char *dir = hone_strdup(fc->a, fc->path);
    if (!dir) return hone_error_set(err, HONE_ENOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    int mk = 0, mkerr = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        mk = hone_mkdir_p(dir);
        mkerr = errno;
    }
    if (mk) {
        int st = hone_status_from_errno(mkerr);
        hone_error_set(err, st, "%s: cannot create the directory: %s", dir, strerror(mkerr));
        hone_free(fc->a, dir);
        return st;
    }
    hone_free(fc->a, dir);
    int rc = try_open(fc);
    if (rc == HONE_ECORRUPT && !recreate)
        return hone_error_set(err, rc,
                              "%s: not a valid hone file cache named \"%s\" (corrupt, foreign or "
                              "another version)",
                              fc->path, fc->magic_key + 1);
    if (rc == HONE_ECORRUPT) {
        /* Moved aside rather than deleted, for a post-mortem; a previous
         * one is replaced. Whatever stands in the way (a directory, a
         * FIFO) goes too, and so does the lock file, which LMDB remakes. */
        hone_log(HONE_LOG_WARN, "cache",
                 "%s: not a valid hone file cache named \"%s\" (corrupt, foreign or another "
                 "version); moved to %s and rebuilding it",
                 fc->path, fc->magic_key + 1, fc->aside_path);
        fc->recreated = 1;
        if (rename(fc->path, fc->aside_path) != 0) {
            unlink(fc->aside_path);
            rmdir(fc->aside_path);
            if (rename(fc->path, fc->aside_path) != 0) unlink(fc->path);
        }
        if (unlink(fc->lock_path) != 0) rmdir(fc->lock_path);
        rc = try_open(fc);
    }
    if (rc) return hone_error_set(err, rc, "%s: cannot open: %s", fc->path, hone_strerror(rc));
    return HONE_OK;
}

int hone_filecache_new(hone_filecache **out, const hone_filecache_opts *opts, hone_error *err) {
    if (!out) return hone_error_set(err, HONE_EINVAL, "hone_filecache_new: out is NULL");
    *out = NULL;
    static const hone_filecache_opts zero;
    const hone_filecache_opts *o = opts ? opts : &zero;
    const char *name = o->name ? o->name : DEFAULT_NAME;
    size_t nl = strlen(name);
    if (nl == 0 || nl > MAX_NAME)
        return hone_error_set(err, HONE_EINVAL, "file cache name of %zu bytes: expected 1 to %d bytes",
                              nl, MAX_NAME);
    if (o->granularity_ns > INT64_MAX)
        return hone_error_set(err, HONE_EINVAL, "granularity_ns %llu: expected at most %lld",
                              (unsigned long long)o->granularity_ns, (long long)INT64_MAX);
    if (o->path && !*o->path)
        return hone_error_set(err, HONE_EINVAL, "file cache path: expected a file name, got \"\"");
    const hone_allocator *a = o->alloc;
    hone_filecache *fc = hone_calloc(a, 1, sizeof *fc);
    if (!fc) return hone_error_set(err, HONE_ENOMEM, "out of memory");
    fc->a = a;
    fc->ttl_ns = o->ttl_ns;
    fc->g = o->granularity_ns ? (int64_t)o->granularity_ns : 1;
    fc->clock = o->clock_ns ? o->clock_ns : default_clock;
    fc->clock_ctx = o->clock_ctx;
    fc->map_size = o->map_size ? o->map_size : DEFAULT_MAP_SIZE;
    fc->max_entries = o->max_entries ? (size_t)o->max_entries : DEFAULT_MAX_ENTRIES;
    fc->lru.prev = fc->lru.next = &fc->lru;
    pthread_mutex_init(&fc->mu, NULL);
    pthread_cond_init(&fc->cv, NULL);
    /* Paths are chosen by whoever names files; the memory table's hash is
     * seeded per cache so that nobody can aim many paths at one chain. */
    if (getrandom(&fc->seed, sizeof fc->seed, 0) != (ssize_t)sizeof fc->seed)
        fc->seed = (uint64_t)default_clock(NULL) ^ (uint64_t)(uintptr_t)fc;
    fc->mklen = nl + 1;
    fc->magic_key = hone_malloc(a, nl + 2);
    if (!fc->magic_key) goto oom;
    fc->magic_key[0] = '\001';
    memcpy(fc->magic_key + 1, name, nl + 1);
    if (o->path) {
        if (!(fc->path = hone_strdup(a, o->path)) || !(fc->lock_path = join(a, o->path, "-lock")) ||
            !(fc->aside_path = join(a, o->path, ".corrupt")))
            goto oom;
        int rc = open_store(fc, o->recreate, err);
        if (rc) {
            hone_filecache_free(fc);
            return rc;
        }
    }
    *out = fc;
    return HONE_OK;
oom:
    hone_filecache_free(fc);
    return hone_error_set(err, HONE_ENOMEM, "out of memory");
}

void hone_filecache_free(hone_filecache *fc) {
    if (!fc) return;
    if (fc->wtxn) mdb_txn_abort(fc->wtxn);
    if (fc->env) mdb_env_close(fc->env);
    if (fc->tab) {
        for (size_t i = 0; i < fc->tcap; i++)
            for (mnode *nd = fc->tab[i], *nx; nd; nd = nx) {
                nx = nd->chain;
                hone_free(fc->a, nd);
            }
        hone_free(fc->a, fc->tab);
    }
    pthread_mutex_destroy(&fc->mu);
    pthread_cond_destroy(&fc->cv);
    hone_free(fc->a, fc->magic_key);
    hone_free(fc->a, fc->path);
    hone_free(fc->a, fc->lock_path);
    hone_free(fc->a, fc->aside_path);
    hone_free(fc->a, fc);
}

/* ------------------------------------------------------------------ */
/* Memory table (under mu)                                             */
/* ------------------------------------------------------------------ */

static uint64_t key_hash(const hone_filecache *fc, const char *key, size_t klen) {
    return XXH3_64bits_withSeed(key, klen, fc->seed);
}

static mnode **mem_slot(hone_filecache *fc, const char *key, size_t klen, uint64_t h) {
    if (!fc->tab) return NULL;
    mnode **p = &fc->tab[h & (fc->tcap - 1)];
    for (; *p; p = &(*p)->chain)
        if ((*p)->h == h && (*p)->klen == klen && !memcmp((*p)->key, key, klen)) return p;
    return p;
}

static void lru_unlink(mnode *nd) {
    nd->prev->next = nd->next;
    nd->next->prev = nd->prev;
}

static void lru_front(hone_filecache *fc, mnode *nd) {
    nd->next = fc->lru.next;
    nd->prev = &fc->lru;
    fc->lru.next->prev = nd;
    fc->lru.next = nd;
}

static void mem_remove(hone_filecache *fc, mnode **slot) {
    mnode *nd = *slot;
    *slot = nd->chain;
    lru_unlink(nd);
    fc->n--;
    hone_free(fc->a, nd);
}

static int mem_grow(hone_filecache *fc) {
    size_t nc = fc->tcap ? fc->tcap * 2 : 64;
    mnode **nt = hone_calloc(fc->a, nc, sizeof *nt);
    if (!nt) return HONE_ENOMEM;
    for (size_t i = 0; i < fc->tcap; i++)
        for (mnode *nd = fc->tab[i], *nx; nd; nd = nx) {
            nx = nd->chain;
            nd->chain = nt[nd->h & (nc - 1)];
            nt[nd->h & (nc - 1)] = nd;
        }
    hone_free(fc->a, fc->tab);
    fc->tab = nt;
    fc->tcap = nc;
    return HONE_OK;
}

static int mem_store(hone_filecache *fc, const char *key, size_t klen, const hone_file_id *id,
                     int64_t stamp, const void *val, size_t vlen) {
    if (fc->n >= fc->tcap && fc->tcap < ((size_t)1 << 30) && mem_grow(fc)) return HONE_ENOMEM;
    mnode *nd = hone_malloc(fc->a, sizeof *nd + klen + 1 + vlen);
    if (!nd) return HONE_ENOMEM;
    uint64_t h = key_hash(fc, key, klen);
    mnode **slot = mem_slot(fc, key, klen, h);
    if (*slot) mem_remove(fc, slot);
    slot = mem_slot(fc, key, klen, h);
    *nd = (mnode){.h = h, .klen = klen, .vlen = vlen, .id = *id, .stamp_ns = stamp};
    nd->key = (char *)(nd + 1);
    nd->val = (unsigned char *)nd->key + klen + 1;
    memcpy(nd->key, key, klen);
    nd->key[klen] = '\0';
    if (vlen) memcpy(nd->val, val, vlen);
    *slot = nd;
    lru_front(fc, nd);
    fc->n++;
    while (fc->n > fc->max_entries) {
        mnode *old = fc->lru.prev;
        mem_remove(fc, mem_slot(fc, old->key, old->klen, old->h));
    }
    return HONE_OK;
}

/* ------------------------------------------------------------------ */
/* Get                                                                 */
/* ------------------------------------------------------------------ */

static void count(hone_filecache *fc, int how) {
    atomic_uint_fast64_t *c[] = {&fc->hits,    &fc->misses, &fc->stale,
                                 &fc->racy,    &fc->expired, &fc->joined};
    if (how >= 0 && how < (int)(sizeof c / sizeof c[0])) atomic_fetch_add_explicit(c[how], 1, memory_order_relaxed);
}

/* Looks key up in the file. Returns a hone_filecache_result; on a hit the
 * value is copied into out (HONE_ENOMEM if that fails). A damaged entry is
 * counted when `first` is set (a get looks twice on a miss). */
static int disk_lookup(hone_filecache *fc, const char *key, size_t klen, const hone_file_id *id,
                       int64_t now, hone_buf *out, int first) {
    if (!storable(fc, key, klen)) return HONE_FILECACHE_MISS;
    MDB_txn *txn;
    if (mdb_txn_begin(fc->env, NULL, MDB_RDONLY, &txn) != 0) return HONE_FILECACHE_MISS;
    MDB_val k = {klen, (void *)key}, v;
    int how = HONE_FILECACHE_MISS;
    if (mdb_get(txn, fc->dbi, &k, &v) == 0) {
        hone__filecache_entry e;
        if (decode(&v, &e) != 1) {
            if (first) atomic_fetch_add(&fc->corrupt, 1);
            how = HONE_FILECACHE_STALE; /* loaded again, and the store replaces it */
        } else {
            how = hone__filecache_verdict(fc, &e, id, now);
            if (how == HONE_FILECACHE_HIT) {
                hone_buf_clear(out);
                if (hone_buf_append(out, e.value, e.vlen)) how = HONE_ENOMEM;
            }
        }
    }
    mdb_txn_abort(txn);
    return how;
}

static int disk_store(hone_filecache *fc, const char *key, size_t klen, const hone_file_id *id,
                      int64_t stamp, const void *val, size_t vlen) {
    if (!storable(fc, key, klen)) return HONE_OK;
    MDB_txn *txn;
    int rc = hone__lmdb_status(mdb_txn_begin(fc->env, NULL, 0, &txn));
    if (rc) return rc;
    /* The writer's lock is held: fresh cannot change meanwhile. */
    if (atomic_load(&fc->fresh)) rc = put_magic(fc, txn);
    if (!rc) rc = put_entry(fc, txn, key, klen, id, stamp, val, vlen, 0);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = hone__lmdb_status(mdb_txn_commit(txn));
    if (!rc) atomic_store(&fc->fresh, 0);
    return rc;
}

/* Opens path, checks it is a regular file, and runs the loader on it. */
static int load(const char *path, hone_file_id *lid, hone_filecache_loader_fn loader, void *ctx,
                hone_buf *out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return hone_status_from_errno(errno);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return hone_status_from_errno(e);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return HONE_EINVAL;
    }
    hone_file_id_from_stat(lid, &sb);
    hone_buf_clear(out);
    int rc = loader(ctx, path, fd, lid, out);
    close(fd);
    return rc;
}

static flight *find_flight(hone_filecache *fc, const char *key, size_t klen) {
    for (flight *f = fc->flights; f; f = f->next)
        if (f->klen == klen && !memcmp(f->key, key, klen)) return f;
    return NULL;
}

static void flight_release(hone_filecache *fc, flight *f) {
    if (--f->refs) return;
    hone_buf_free(&f->value);
    hone_free(fc->a, f);
}

int hone_filecache_get(hone_filecache *fc, const char *path, const hone_file_id *known,
                       hone_filecache_loader_fn loader, void *ctx, hone_buf *out,
                       hone_filecache_result *how) {
    if (!fc || !path || !*path || !loader || !out) return HONE_EINVAL;
    size_t klen = strlen(path);
    for (;;) {
        /* Taken before the file is stat'ed or read: see the racy rule. */
        int64_t stamp = fc->clock(fc->clock_ctx);
        hone_file_id id;
        if (known) {
            id = *known;
        } else {
            struct stat sb;
            if (stat(path, &sb) != 0) {
                int e = errno;
                atomic_fetch_add(&fc->load_failures, 1);
                return hone_status_from_errno(e);
            }
            hone_file_id_from_stat(&id, &sb);
        }
        int r = HONE_FILECACHE_MISS;
        if (fc->env) {
            r = disk_lookup(fc, path, klen, &id, stamp, out, 1);
            if (r == HONE_ENOMEM) return r;
            if (r == HONE_FILECACHE_HIT) {
                count(fc, r);
                if (how) *how = HONE_FILECACHE_HIT;
                return HONE_OK;
            }
        }
        pthread_mutex_lock(&fc->mu);
        if (!fc->env) {
            mnode **slot = mem_slot(fc, path, klen, key_hash(fc, path, klen));
            if (slot && *slot) {
                mnode *nd = *slot;
                hone__filecache_entry e = {nd->id, nd->stamp_ns, nd->val, nd->vlen};
                r = hone__filecache_verdict(fc, &e, &id, stamp);
                if (r == HONE_FILECACHE_HIT) {
                    lru_unlink(nd);
                    lru_front(fc, nd);
                    hone_buf_clear(out);
                    int rc = hone_buf_append(out, nd->val, nd->vlen);
                    pthread_mutex_unlock(&fc->mu);
                    if (rc) return rc;
                    count(fc, r);
                    if (how) *how = HONE_FILECACHE_HIT;
                    return HONE_OK;
                }
            }
        }
        flight *f = find_flight(fc, path, klen);
        if (f) {
            /* Join the load in progress. */
            f->refs++, f->waiters++;
            atomic_fetch_add(&fc->waiting, 1);
            while (!f->done) pthread_cond_wait(&fc->cv, &fc->mu);
            atomic_fetch_sub(&fc->waiting, 1);
            int rc = f->rc, same = !memcmp(&f->id, &id, sizeof id);
            if (!rc && same) {
                hone_buf_clear(out);
                rc = hone_buf_append(out, f->value.data, f->value.len);
            }
            flight_release(fc, f);
            pthread_mutex_unlock(&fc->mu);
            if (rc) return rc;
            if (!same) continue; /* the file changed since that load began */
            count(fc, HONE_FILECACHE_JOINED);
            if (how) *how = HONE_FILECACHE_JOINED;
            return HONE_OK;
        }
        f = hone_calloc(fc->a, 1, sizeof *f);
        if (!f) {
            pthread_mutex_unlock(&fc->mu);
            return HONE_ENOMEM;
        }
        f->key = path, f->klen = klen, f->refs = 1;
        hone_buf_init(&f->value, fc->a);
        f->next = fc->flights;
        fc->flights = f;
        pthread_mutex_unlock(&fc->mu);

        int rc = HONE_OK;
        hone_file_id lid = id;
        if (fc->env) {
            /* A load that finished between the lookup above and taking the
             * flight has stored its value by now (it stores before it lets
             * its flight go): look once more rather than load twice. */
            int again = disk_lookup(fc, path, klen, &id, stamp, out, 0);
            if (again == HONE_FILECACHE_HIT) r = -1;
            else if (again == HONE_ENOMEM) rc = again;
        }
        if (!rc && r >= 0) {
            rc = load(path, &lid, loader, ctx, out);
            if (rc) {
                atomic_fetch_add(&fc->load_failures, 1);
            } else {
                int src;
                if (fc->env) {
                    src = disk_store(fc, path, klen, &lid, stamp, out->data, out->len);
                } else {
                    pthread_mutex_lock(&fc->mu);
                    src = mem_store(fc, path, klen, &lid, stamp, out->data, out->len);
                    pthread_mutex_unlock(&fc->mu);
                }
                if (src) {
                    atomic_fetch_add(&fc->store_failures, 1);
                    if (src != HONE_ENOMEM)
                        hone_log(HONE_LOG_WARN, "cache", "%s: cannot store the value of %s: %s",
                                 fc->path, path, hone_strerror(src));
                }
            }
        }
        pthread_mutex_lock(&fc->mu);
        for (flight **p = &fc->flights; *p; p = &(*p)->next)
            if (*p == f) {
                *p = f->next;
                break;
            }
        f->id = lid;
        f->rc = rc;
        if (!rc && f->waiters && hone_buf_append(&f->value, out->data, out->len)) f->rc = HONE_ENOMEM;
        f->done = 1;
        pthread_cond_broadcast(&fc->cv);
        flight_release(fc, f);
        pthread_mutex_unlock(&fc->mu);
        if (rc) return rc;
        int res = r < 0 ? HONE_FILECACHE_HIT : r;
        count(fc, res);
        if (how) *how = (hone_filecache_result)res;
        return HONE_OK;
    }
}

int hone_filecache_invalidate(hone_filecache *fc, const char *path) {
    if (!fc || !path) return HONE_EINVAL;
    size_t klen = strlen(path);
    if (!fc->env) {
        pthread_mutex_lock(&fc->mu);
        mnode **slot = mem_slot(fc, path, klen, key_hash(fc, path, klen));
        int found = slot && *slot;
        if (found) mem_remove(fc, slot);
        pthread_mutex_unlock(&fc->mu);
        return found ? HONE_OK : HONE_ENOTFOUND;
    }
    if (!storable(fc, path, klen)) return HONE_ENOTFOUND;
    MDB_txn *txn;
    int rc = hone__lmdb_status(mdb_txn_begin(fc->env, NULL, 0, &txn));
    if (rc) return rc;
    MDB_val k = {klen, (void *)path};
    rc = hone__lmdb_status(mdb_del(txn, fc->dbi, &k, NULL));
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return hone__lmdb_status(mdb_txn_commit(txn));
}

void hone_filecache_stats_get(hone_filecache *fc, hone_filecache_stats *st) {
    if (!st) return;
    memset(st, 0, sizeof *st);
    if (!fc) return;
    st->hits = atomic_load(&fc->hits);
    st->misses = atomic_load(&fc->misses);
    st->stale = atomic_load(&fc->stale);
    st->racy = atomic_load(&fc->racy);
    st->expired = atomic_load(&fc->expired);
    st->joined = atomic_load(&fc->joined);
    st->load_failures = atomic_load(&fc->load_failures);
    st->corrupt = atomic_load(&fc->corrupt);
    st->store_failures = atomic_load(&fc->store_failures);
    st->recreated = (uint64_t)fc->recreated;
    st->waiting = atomic_load(&fc->waiting);
    if (fc->env) {
        uint64_t n = hone__filecache_entries(fc);
        st->entries = n == UINT64_MAX ? 0 : n;
    } else {
        pthread_mutex_lock(&fc->mu);
        st->entries = fc->n;
        pthread_mutex_unlock(&fc->mu);
    }
}

/* ------------------------------------------------------------------ */
/* Readers with a per-directory scan (the manifest's lookups)          */
/* ------------------------------------------------------------------ */

/* A file of the directory a reader has loaded: its name and its value,
 * both pointing into LMDB's map (valid while the read transaction lives). */
typedef struct dent {
    const char *name;
    size_t nlen;
    MDB_val v;
    uint64_t h;
} dent;

struct hone__filecache_reader {
    hone_filecache *fc;
    MDB_txn *txn;
    MDB_cursor *cur;
    int loaded;   /* dir holds the prefix whose entries are in ents */
    hone_buf dir; /* "<root>/<dir>/" */
    dent *ents;
    size_t n, cap;
    uint32_t *tab; /* open addressing: index + 1 into ents, 0 empty */
    size_t tcap;   /* slots allocated */
    size_t mask;   /* slots in use - 1: a power of two, at least 2n */
};

int hone__filecache_reader_begin(hone_filecache *fc, hone__filecache_reader **out) {
    *out = NULL;
    if (!fc->env) return HONE_ESTATE;
    hone__filecache_reader *r = hone_calloc(fc->a, 1, sizeof *r);
    if (!r) return HONE_ENOMEM;
    r->fc = fc;
    hone_buf_init(&r->dir, fc->a);
    int rc = hone__lmdb_status(mdb_txn_begin(fc->env, NULL, MDB_RDONLY, &r->txn));
    if (!rc && (rc = hone__lmdb_status(mdb_cursor_open(r->txn, fc->dbi, &r->cur))))
        mdb_txn_abort(r->txn);
    if (rc) {
        hone_free(fc->a, r);
        return rc;
    }
    *out = r;
    return HONE_OK;
}

void hone__filecache_reader_end(hone__filecache_reader *r) {
    if (!r) return;
    mdb_cursor_close(r->cur);
    mdb_txn_abort(r->txn);
    hone_buf_free(&r->dir);
    hone_free(r->fc->a, r->ents);
    hone_free(r->fc->a, r->tab);
    hone_free(r->fc->a, r);
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
static int load_dir(hone__filecache_reader *r, const char *prefix, size_t plen) {
    hone_filecache *fc = r->fc;
    r->loaded = 0;
    r->n = 0;
    hone_buf_clear(&r->dir);
    if (hone_buf_append(&r->dir, prefix, plen)) return HONE_ENOMEM;
    char seek[1024];
    MDB_val k = {plen, (void *)prefix}, v;
    int rc = plen <= fc->max_key ? mdb_cursor_get(r->cur, &k, &v, MDB_SET_RANGE) : MDB_NOTFOUND;
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
            dent *ne = hone_realloc(fc->a, r->ents, nc * sizeof *ne);
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
        uint32_t *nt = hone_malloc(fc->a, tc * sizeof *nt);
        if (!nt) return HONE_ENOMEM;
        hone_free(fc->a, r->tab);
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

int hone__filecache_find(hone__filecache_reader *r, const char *key, size_t klen, size_t dirlen,
                         hone__filecache_entry *e) {
    hone_filecache *fc = r->fc;
    if (!storable(fc, key, klen) || dirlen > klen) return 0;
    if (!r->loaded || r->dir.len != dirlen || memcmp(r->dir.data, key, dirlen) != 0) {
        int rc = load_dir(r, key, dirlen);
        if (rc == HONE_ENOMEM) return rc;
        if (rc) {
            /* The scan failed (rare): one plain lookup instead. */
            MDB_val k = {klen, (void *)key}, v;
            if (mdb_get(r->txn, fc->dbi, &k, &v) != 0) return 0;
            return decode(&v, e);
        }
    }
    const char *name = key + dirlen;
    size_t nlen = klen - dirlen;
    uint64_t h = name_hash(name, nlen);
    for (size_t j = (size_t)h & r->mask; r->tab[j]; j = (j + 1) & r->mask) {
        const dent *d = &r->ents[r->tab[j] - 1];
        if (d->h == h && d->nlen == nlen && !memcmp(d->name, name, nlen)) return decode(&d->v, e);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The batched write pass (the manifest's index update)                */
/* ------------------------------------------------------------------ */

int hone__filecache_begin(hone_filecache *fc) {
    if (!fc->env || fc->wtxn) return HONE_ESTATE;
    int rc = hone__lmdb_status(mdb_txn_begin(fc->env, NULL, 0, &fc->wtxn));
    if (rc) {
        fc->wtxn = NULL;
        return rc;
    }
    if (atomic_load(&fc->fresh) && (rc = put_magic(fc, fc->wtxn))) hone__filecache_abort(fc);
    return rc;
}

int hone__filecache_put(hone_filecache *fc, const char *key, size_t klen, const hone_file_id *id,
                        int64_t stamp_ns, const void *value, size_t vlen, int append) {
    if (!fc->wtxn) return HONE_ESTATE;
    if (!storable(fc, key, klen)) return HONE_OK;
    return put_entry(fc, fc->wtxn, key, klen, id, stamp_ns, value, vlen, append ? MDB_APPEND : 0);
}

int hone__filecache_commit(hone_filecache *fc) {
    if (!fc->wtxn) return HONE_ESTATE;
    int rc = mdb_txn_commit(fc->wtxn);
    fc->wtxn = NULL;
    if (rc == 0) atomic_store(&fc->fresh, 0);
    return hone__lmdb_status(rc);
}

void hone__filecache_abort(hone_filecache *fc) {
    if (fc->wtxn) mdb_txn_abort(fc->wtxn);
    fc->wtxn = NULL;
}

int hone__filecache_reset(hone_filecache *fc) {
    if (!fc->wtxn) return HONE_ESTATE;
    int rc = mdb_drop(fc->wtxn, fc->dbi, 0);
    if (rc) return hone__lmdb_status(rc);
    return put_magic(fc, fc->wtxn);
}

int hone__filecache_prune(hone_filecache *fc, const char *prefix, size_t plen,
                          int (*keep)(void *ctx, const char *rest, size_t len), void *ctx,
                          uint64_t *pruned) {
    if (!fc->wtxn) return HONE_ESTATE;
    MDB_cursor *c;
    int rc = mdb_cursor_open(fc->wtxn, fc->dbi, &c);
    if (rc) return hone__lmdb_status(rc);
    MDB_val k = {plen, (void *)prefix}, v;
    /* Keys sort bytewise, so the entries under prefix are one range. */
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= plen && !memcmp(k.mv_data, prefix, plen)) {
        if (!(k.mv_size == fc->mklen && !memcmp(k.mv_data, fc->magic_key, fc->mklen)) &&
            !keep(ctx, (const char *)k.mv_data + plen, k.mv_size - plen)) {
            if ((rc = mdb_cursor_del(c, 0))) break;
            if (pruned) (*pruned)++;
        }
        /* After a delete, MDB_NEXT returns the entry that followed it. */
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND || rc == 0 ? HONE_OK : hone__lmdb_status(rc);
}

uint64_t hone__filecache_entries(hone_filecache *fc) {
    if (!fc->env) return UINT64_MAX;
    MDB_stat st;
    MDB_txn *txn = fc->wtxn;
    /* Outside a write pass a short read transaction gives the count, so a
     * warm manifest build can see that it has nothing to write without
     * taking the writer's lock. */
    if (!txn && mdb_txn_begin(fc->env, NULL, MDB_RDONLY, &txn) != 0) return UINT64_MAX;
    int rc = mdb_stat(txn, fc->dbi, &st);
    if (txn != fc->wtxn) mdb_txn_abort(txn);
    if (rc != 0) return UINT64_MAX;
    /* Less the magic record: a file with entries always has one. */
    return st.ms_entries ? (uint64_t)st.ms_entries - 1 : 0;
}
