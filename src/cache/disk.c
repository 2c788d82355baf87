/* disk.c - the cache's disk tier: one LMDB file of checksummed entries
 * with stored wall-clock expiry, written by one writer task in group
 * commits, bounded in bytes by CLOCK (FIFO with reinsertion) eviction. The
 * design and its durability contract are in docs/design/tiers.md. */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* XXH3 inlined from Debian's header, as in cache.c: two hashes per read. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "cache/disk.h"
#include "cache/lmdb_check.h"
#include "hone/exec.h"
#include "hone/hash.h"

/* ------------------------------------------------------------------ */
/* On-disk format (see disk.h for the prefixes)                        */
/* ------------------------------------------------------------------ */

/* An entry record: this header (native byte order; the magic record's
 * probe refuses a file of the other order), then the full key when the
 * LMDB key is its digest, then the value. sum is XXH3-64 of everything
 * after it, seeded with XXH3-64 of the full key: it covers the header, the
 * stored key and the value, and ties the record to the key that looked it
 * up, so a record moved under another key fails it as well. */
typedef struct rec_head {
    uint64_t sum;
    uint8_t version, flags;
    uint16_t pad;
    uint32_t klen;
    uint64_t vlen;
    uint64_t expire; /* CLOCK_REALTIME ns; 0: never */
    uint64_t seq;    /* its place in the order index */
} rec_head;

#define HDR ((size_t)sizeof(rec_head))
#define REC_VERSION 1
#define F_HASHED 1u
#define DIGEST_LEN 32
#define LKEY_MAX 512 /* LMDB's default key limit is 511 */
#define OKEY_LEN 9   /* 'O' + big-endian seq */

/* The state record: stored bytes and entries and the next sequence
 * number, with a checksum; rewritten by every write transaction. */
typedef struct state_rec {
    uint64_t bytes, entries, next_seq, sum;
} state_rec;

static const char STATE_KEY[] = HONE__DISK_STATE_KEY;
static const char MAGIC_KEY[] = HONE__DISK_MAGIC_KEY;

/* What an entry costs against max_bytes: its key and record, and its
 * order-index record (key 'O'+seq, value the entry's LMDB key). */
static uint64_t entry_cost(size_t lklen, size_t reclen) {
    return (uint64_t)lklen * 2 + OKEY_LEN + reclen;
}

/* ------------------------------------------------------------------ */
/* The object                                                          */
/* ------------------------------------------------------------------ */

/* A read transaction kept between gets (reset, then renewed): with
 * MDB_NOTLS a transaction is not tied to a thread, so a small array of
 * them, each claimed with one atomic exchange, serves any number of
 * threads without thread-exit hooks. The writer claims all of them to
 * remap the file (mdb_env_set_mapsize needs no reader inside the map). */
#define N_SLOTS 32
typedef struct rslot {
    _Alignas(64) atomic_int busy;
    MDB_txn *txn;
    atomic_uint_fast64_t hits, misses; /* counted here: no shared line per get */
} rslot;

enum { OP_PUT, OP_DEL, OP_PURGE, OP_CLEAR };

/* A caller blocked on its write. Each has its own condition variable: a
 * shared one woke all 32 putters of the bench at every commit, half of
 * them only to sleep again. */
typedef struct waiter {
    int done, status;
    pthread_cond_t cv;
} waiter;

/* A queued write. Under nosync, puts and deletes are also in the pending
 * table (newest per key) until committed, for read-your-writes. */
typedef struct op {
    struct op *next;  /* queue */
    struct op *tnext; /* pending table chain */
    int kind, in_table;
    uint64_t ticket, khash, expire, enq_ns;
    size_t klen, vlen;
    waiter *w; /* a caller blocked on it, or NULL */
    unsigned char data[]; /* key, then value */
} op;

/* Counters the writer accumulates inside a transaction and publishes only
 * once it commits (a retried transaction must not count twice). */
typedef struct wcount {
    uint64_t evictions, expired, corrupt;
} wcount;

struct hone__disk {
    const hone_allocator *a;
    char *path;
    MDB_env *env;
    MDB_dbi dbi;
    size_t maxkey;
    uint64_t max_bytes;
    int nosync;
    unsigned group_max;
    uint64_t group_wait_ns, sync_interval_ns;
    hone_cache_clock_fn wall;
    void *wall_ctx;
    size_t map_ceiling;

    rslot slots[N_SLOTS];
    atomic_uint_fast64_t *ref; /* CLOCK's referenced bits, by key hash */
    size_t ref_mask;           /* bits - 1 */
    uint64_t ref_salt;

    hone_pool *pool;
    hone_future *writer;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    op *qhead, *qtail;
    size_t qlen, qclears;
    uint64_t tickets, committed, synced, flush_want, fail_ticket;
    uint64_t last_sync_ns;
    int stopping;
    unsigned purges_queued;
    op **tab;
    size_t tcap, tcount;
    atomic_size_t pending;

    /* Writer-only. */
    op **batch;
    unsigned char *scratch;
    size_t scratch_cap;

    atomic_uint_fast64_t hits, misses, puts, deletes, evictions, expired, corrupt, commits, syncs,
        map_grows, entries, bytes;
};

static uint64_t wall_now(const hone__disk *d) {
    if (d->wall) return d->wall(d->wall_ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define RLX memory_order_relaxed
static void add(atomic_uint_fast64_t *c, uint64_t n) {
    if (n) atomic_fetch_add_explicit(c, n, RLX);
}

/* ------------------------------------------------------------------ */
/* Keys and records                                                    */
/* ------------------------------------------------------------------ */

typedef struct lkey {
    unsigned char b[LKEY_MAX];
    size_t n;
    int hashed;
} lkey;

/* The LMDB key of a cache key: 'E' + the key, or 'H' + its BLAKE3 digest
 * when that would not fit LMDB's key limit. */
static int make_lkey(const hone__disk *d, const void *key, size_t klen, lkey *k) {
    if (klen + 1 <= d->maxkey) {
        k->b[0] = HONE__DISK_ENTRY_PREFIX;
        if (klen) memcpy(k->b + 1, key, klen);
        k->n = klen + 1;
        k->hashed = 0;
        return HONE_OK;
    }
    k->b[0] = HONE__DISK_HASHED_PREFIX;
    k->n = 1 + DIGEST_LEN;
    k->hashed = 1;
    return hone_hash_oneshot(HONE_HASH_BLAKE3, key, klen, k->b + 1, DIGEST_LEN);
}

static uint64_t key_hash(const void *key, size_t klen) { return XXH3_64bits(key, klen); }

/* Checks a stored record against the key that found it: version, flags,
 * lengths, the stored full key and the checksum. Fills *h. Returns 1 when
 * it is good, 0 when it is damaged or not this key's. */
static int rec_check(const MDB_val *v, const void *key, size_t klen, uint64_t kh, int hashed,
                     rec_head *h) {
    const unsigned char *p = v->mv_data;
    if (v->mv_size < HDR) return 0;
    memcpy(h, p, HDR);
    size_t kpart = hashed ? klen : 0;
    if (h->version != REC_VERSION || h->flags != (hashed ? F_HASHED : 0u) || h->klen != klen ||
        v->mv_size - HDR < kpart || h->vlen != v->mv_size - HDR - kpart)
        return 0;
    if (hashed && memcmp(p + HDR, key, klen) != 0) return 0;
    return h->sum == XXH3_64bits_withSeed(p + 8, v->mv_size - 8, kh);
}

/* Writes a record into dst (reclen bytes, as rec_len says). */
static void rec_fill(unsigned char *dst, const void *key, size_t klen, uint64_t kh, int hashed,
                     const void *val, size_t vlen, uint64_t expire, uint64_t seq) {
    rec_head h;
    memset(&h, 0, sizeof h);
    h.version = REC_VERSION;
    h.flags = hashed ? F_HASHED : 0;
    h.klen = (uint32_t)klen;
    h.vlen = vlen;
    h.expire = expire;
    h.seq = seq;
    memcpy(dst, &h, HDR);
    size_t off = HDR;
    if (hashed) {
        memcpy(dst + off, key, klen);
        off += klen;
    }
    if (vlen) memcpy(dst + off, val, vlen);
    off += vlen;
    uint64_t sum = XXH3_64bits_withSeed(dst + 8, off - 8, kh);
    memcpy(dst, &sum, 8);
}

static size_t rec_len(size_t klen, int hashed, size_t vlen) {
    return HDR + (hashed ? klen : 0) + vlen;
}

static void okey(unsigned char *b, uint64_t seq) {
    b[0] = HONE__DISK_ORDER_PREFIX;
    for (int i = 0; i < 8; i++) b[1 + i] = (unsigned char)(seq >> (56 - 8 * i));
}

static uint64_t okey_seq(const unsigned char *b) {
    uint64_t s = 0;
    for (int i = 0; i < 8; i++) s = s << 8 | b[1 + i];
    return s;
}

/* The entry's full key: in the LMDB key, or (hashed) in the record. Sets
 * *key and *klen; returns 0 if the record is too short to hold it. */
/* An entry's LMDB key (not the order index's, nor a format record's). */
static int is_entry(const MDB_val *k) {
    unsigned char p = k->mv_size ? ((const unsigned char *)k->mv_data)[0] : 0;
    return p == HONE__DISK_ENTRY_PREFIX || (p == HONE__DISK_HASHED_PREFIX && k->mv_size == 1 + DIGEST_LEN);
}

static int entry_key(const MDB_val *k, const MDB_val *v, const void **key, size_t *klen,
                     int *hashed) {
    const unsigned char *kb = k->mv_data;
    if (kb[0] == HONE__DISK_ENTRY_PREFIX) {
        *key = kb + 1;
        *klen = k->mv_size - 1;
        *hashed = 0;
        return 1;
    }
    *hashed = 1;
    rec_head h;
    if (v->mv_size < HDR) return 0;
    memcpy(&h, v->mv_data, HDR);
    if (h.klen > v->mv_size - HDR) return 0;
    *key = (const unsigned char *)v->mv_data + HDR;
    *klen = h.klen;
    return 1;
}

/* A full check of a record met by a walk (eviction, iterate): besides
 * rec_check, a hashed entry's key must hash to the digest it is under. */
static int walk_check(const MDB_val *k, const MDB_val *v, const void **key, size_t *klen,
                      uint64_t *kh, rec_head *h) {
    int hashed;
    if (!entry_key(k, v, key, klen, &hashed)) return 0;
    if (hashed) {
        unsigned char dg[DIGEST_LEN];
        if (k->mv_size != 1 + DIGEST_LEN ||
            hone_hash_oneshot(HONE_HASH_BLAKE3, *key, *klen, dg, DIGEST_LEN) ||
            memcmp(dg, (const unsigned char *)k->mv_data + 1, DIGEST_LEN) != 0)
            return 0;
    }
    *kh = key_hash(*key, *klen);
    return rec_check(v, *key, *klen, *kh, hashed, h);
}

/* ------------------------------------------------------------------ */
/* CLOCK's referenced bits                                             */
/* ------------------------------------------------------------------ */

/* A bitmap indexed by a salted mix of the key hash: a bounded set of key
 * hashes whose false positives only give an unread entry a second chance.
 * Bits, not bytes: a byte per slot (4 MiB for a 256 MiB bound) missed the
 * cache and the TLB on most gets and cost 12 % of a get; the bitmap is
 * eight times smaller. Reads set a bit only if it is clear, so a hot key's
 * word is not written on every hit. */
static size_t ref_slot(const hone__disk *d, uint64_t kh) {
    uint64_t x = (kh ^ d->ref_salt) * 0x9e3779b97f4a7c15u;
    return (size_t)(x >> 32) & d->ref_mask;
}

static int ref_test(hone__disk *d, size_t slot) {
    return (atomic_load_explicit(&d->ref[slot >> 6], RLX) >> (slot & 63)) & 1;
}

static void ref_set(hone__disk *d, size_t slot) {
    uint64_t bit = (uint64_t)1 << (slot & 63);
    atomic_uint_fast64_t *w = &d->ref[slot >> 6];
    if (!(atomic_load_explicit(w, RLX) & bit)) atomic_fetch_or_explicit(w, bit, RLX);
}

static void ref_clear(hone__disk *d, size_t slot) {
    uint64_t bit = (uint64_t)1 << (slot & 63);
    atomic_uint_fast64_t *w = &d->ref[slot >> 6];
    if (atomic_load_explicit(w, RLX) & bit) atomic_fetch_and_explicit(w, ~bit, RLX);
}

static void ref_mark(hone__disk *d, uint64_t kh) { ref_set(d, ref_slot(d, kh)); }

/* ------------------------------------------------------------------ */
/* Read slots and remapping                                            */
/* ------------------------------------------------------------------ */

static _Thread_local unsigned tl_slot = UINT32_MAX;
static atomic_uint g_slot_next;

static rslot *slot_claim(hone__disk *d) {
    if (tl_slot == UINT32_MAX) tl_slot = atomic_fetch_add(&g_slot_next, 1) % N_SLOTS;
    for (;;) {
        for (unsigned i = 0; i < N_SLOTS; i++) {
            rslot *s = &d->slots[(tl_slot + i) % N_SLOTS];
            if (!atomic_load_explicit(&s->busy, RLX) &&
                !atomic_exchange_explicit(&s->busy, 1, memory_order_acquire))
                return s;
        }
        sched_yield();
    }
}

static void slot_release(rslot *s) { atomic_store_explicit(&s->busy, 0, memory_order_release); }

/* Starts the slot's read snapshot. Returns an LMDB code. */
static int slot_begin(hone__disk *d, rslot *s) {
    int rc;
    if (s->txn) {
        rc = mdb_txn_renew(s->txn);
        if (!rc) return 0;
        mdb_txn_abort(s->txn);
        s->txn = NULL;
    }
    rc = mdb_txn_begin(d->env, NULL, MDB_RDONLY, &s->txn);
    if (rc) s->txn = NULL;
    return rc;
}

static void slot_end(rslot *s) {
    if (s->txn) mdb_txn_reset(s->txn);
}

/* Changes the map size (0: adopt what another process set) with every
 * read slot claimed, so no reader is inside the old map. Writer only,
 * outside a write transaction. */
static int remap(hone__disk *d, size_t size) {
    for (unsigned i = 0; i < N_SLOTS; i++)
        while (atomic_exchange_explicit(&d->slots[i].busy, 1, memory_order_acquire)) sched_yield();
    int rc = mdb_env_set_mapsize(d->env, size);
    for (unsigned i = 0; i < N_SLOTS; i++) slot_release(&d->slots[i]);
    return rc;
}

static size_t map_size(hone__disk *d) {
    MDB_envinfo info;
    mdb_env_info(d->env, &info);
    return info.me_mapsize;
}

/* ------------------------------------------------------------------ */
/* The pending table (nosync: read-your-writes)                        */
/* ------------------------------------------------------------------ */

static op *tab_find(hone__disk *d, uint64_t kh, const void *key, size_t klen, op ***link) {
    if (!d->tcap) return NULL;
    op **l = &d->tab[kh & (d->tcap - 1)];
    for (; *l; l = &(*l)->tnext) {
        op *o = *l;
        if (o->khash == kh && o->klen == klen && !memcmp(o->data, key, klen)) {
            if (link) *link = l;
            return o;
        }
    }
    return NULL;
}

static void tab_remove(hone__disk *d, op *o) {
    if (!o->in_table) return;
    op **l;
    if (tab_find(d, o->khash, o->data, o->klen, &l) == o) {
        *l = o->tnext;
        d->tcount--;
    }
    o->in_table = 0;
    atomic_store_explicit(&d->pending, d->tcount, memory_order_release);
}

/* Makes o the key's newest pending write. A failed resize keeps the old
 * table, whose chains are then only longer. */
static void tab_insert(hone__disk *d, op *o) {
    op *old = tab_find(d, o->khash, o->data, o->klen, NULL);
    if (old) tab_remove(d, old);
    if (d->tcount >= d->tcap) {
        size_t nc = d->tcap * 2;
        op **nt = hone_calloc(d->a, nc, sizeof *nt);
        if (nt) {
            for (size_t i = 0; i < d->tcap; i++)
                for (op *e = d->tab[i], *nx; e; e = nx) {
                    nx = e->tnext;
                    e->tnext = nt[e->khash & (nc - 1)];
                    nt[e->khash & (nc - 1)] = e;
                }
            hone_free(d->a, d->tab);
            d->tab = nt;
            d->tcap = nc;
        }
    }
    op **b = &d->tab[o->khash & (d->tcap - 1)];
    o->tnext = *b;
    *b = o;
    o->in_table = 1;
    d->tcount++;
    atomic_store_explicit(&d->pending, d->tcount, memory_order_release);
}

/* ------------------------------------------------------------------ */
/* The writer's transaction                                            */
/* ------------------------------------------------------------------ */

typedef struct wtx {
    hone__disk *d;
    MDB_txn *txn;
    uint64_t bytes, entries, next_seq, now;
    wcount c;
} wtx;

static void state_seal(state_rec *s) { s->sum = XXH3_64bits(s, offsetof(state_rec, sum)); }

static int state_store(wtx *w) {
    state_rec s = {w->bytes, w->entries, w->next_seq, 0};
    state_seal(&s);
    MDB_val k = {sizeof STATE_KEY - 1, (void *)STATE_KEY}, v = {sizeof s, &s};
    return mdb_put(w->txn, w->d->dbi, &k, &v, 0);
}

/* Recounts entries and bytes and finds the next sequence number by a scan
 * of the whole file: for a state record that is missing or damaged. */
static int state_recount(wtx *w) {
    MDB_cursor *c;
    int rc = mdb_cursor_open(w->txn, w->d->dbi, &c);
    if (rc) return rc;
    w->bytes = w->entries = 0;
    w->next_seq = 1;
    MDB_val k, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); !rc; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const unsigned char *kb = k.mv_data;
        if (k.mv_size == 0) continue;
        if (is_entry(&k)) {
            w->entries++;
            w->bytes += entry_cost(k.mv_size, v.mv_size);
            rec_head h;
            if (v.mv_size >= HDR) {
                memcpy(&h, v.mv_data, HDR);
                if (h.seq < UINT64_MAX / 2 && h.seq >= w->next_seq) w->next_seq = h.seq + 1;
            }
        } else if (kb[0] == HONE__DISK_ORDER_PREFIX && k.mv_size == OKEY_LEN) {
            uint64_t s = okey_seq(kb);
            if (s < UINT64_MAX / 2 && s >= w->next_seq) w->next_seq = s + 1;
        }
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int state_load(wtx *w) {
    MDB_val k = {sizeof STATE_KEY - 1, (void *)STATE_KEY}, v;
    int rc = mdb_get(w->txn, w->d->dbi, &k, &v);
    if (rc && rc != MDB_NOTFOUND) return rc;
    if (!rc && v.mv_size == sizeof(state_rec)) {
        state_rec s;
        memcpy(&s, v.mv_data, sizeof s);
        uint64_t want = s.sum;
        state_seal(&s);
        if (s.sum == want) {
            w->bytes = s.bytes, w->entries = s.entries, w->next_seq = s.next_seq;
            return 0;
        }
    }
    hone_log(HONE_LOG_WARN, "cache", "%s: the disk tier's state record is %s; recounting",
             w->d->path, rc ? "missing" : "damaged");
    return state_recount(w);
}

/* Deletes the entry under lk whose record is v (read in this txn): the
 * record, its order record when its header can be trusted, its bytes. */
static int entry_drop(wtx *w, const lkey *lk, const MDB_val *v, const rec_head *h, int trusted) {
    uint64_t cost = entry_cost(lk->n, v->mv_size);
    MDB_val k = {lk->n, (void *)lk->b};
    int rc = mdb_del(w->txn, w->d->dbi, &k, NULL);
    if (rc) return rc;
    w->bytes = w->bytes > cost ? w->bytes - cost : 0;
    if (w->entries) w->entries--;
    if (trusted) {
        unsigned char ob[OKEY_LEN];
        okey(ob, h->seq);
        MDB_val ok = {OKEY_LEN, ob};
        rc = mdb_del(w->txn, w->d->dbi, &ok, NULL);
        if (rc == MDB_NOTFOUND) rc = 0;
    }
    return rc;
}

/* Removes the key's entry if any (a put's overwrite, a delete). */
static int entry_remove(wtx *w, const op *o, const lkey *lk) {
    MDB_val k = {lk->n, (void *)lk->b}, v;
    int rc = mdb_get(w->txn, w->d->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return rc;
    rec_head h;
    int good = rec_check(&v, o->data, o->klen, o->khash, lk->hashed, &h);
    if (!good) w->c.corrupt++;
    return entry_drop(w, lk, &v, &h, good);
}

static int order_put(wtx *w, uint64_t seq, const lkey *lk) {
    unsigned char ob[OKEY_LEN];
    okey(ob, seq);
    MDB_val k = {OKEY_LEN, ob}, v = {lk->n, (void *)lk->b};
    /* The order index is the last range and sequence numbers only grow, so
     * it is appended to (full pages, no search). */
    int rc = mdb_put(w->txn, w->d->dbi, &k, &v, MDB_APPEND);
    if (rc == MDB_KEYEXIST) rc = mdb_put(w->txn, w->d->dbi, &k, &v, 0);
    return rc;
}

static int apply_put(wtx *w, const op *o) {
    lkey lk;
    if (make_lkey(w->d, o->data, o->klen, &lk)) return EINVAL;
    size_t rl = rec_len(o->klen, lk.hashed, o->vlen);
    MDB_val k = {lk.n, lk.b}, v = {rl, NULL};
    /* One B-tree descent for a new key: NOOVERWRITE fails on an existing
     * one (handing back its record), which is then removed first. */
    int rc = mdb_put(w->txn, w->d->dbi, &k, &v, MDB_RESERVE | MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) {
        if ((rc = entry_remove(w, o, &lk))) return rc;
        v = (MDB_val){rl, NULL};
        rc = mdb_put(w->txn, w->d->dbi, &k, &v, MDB_RESERVE);
    }
    if (rc) return rc;
    uint64_t seq = w->next_seq++;
    rec_fill(v.mv_data, o->data, o->klen, o->khash, lk.hashed, o->data + o->klen, o->vlen,
             o->expire, seq);
    w->bytes += entry_cost(lk.n, rl);
    w->entries++;
    return order_put(w, seq, &lk);
}

/* A get found the key's record damaged or expired: drop it if it still is
 * (a put since may have replaced it). */
static int apply_purge(wtx *w, const op *o) {
    lkey lk;
    if (make_lkey(w->d, o->data, o->klen, &lk)) return 0;
    MDB_val k = {lk.n, lk.b}, v;
    int rc = mdb_get(w->txn, w->d->dbi, &k, &v);
    if (rc) return rc == MDB_NOTFOUND ? 0 : rc;
    rec_head h;
    int good = rec_check(&v, o->data, o->klen, o->khash, lk.hashed, &h);
    if (good && (!h.expire || h.expire > w->now)) return 0;
    if (good)
        w->c.expired++;
    else
        w->c.corrupt++;
    return entry_drop(w, &lk, &v, &h, good);
}

static int put_magic(wtx *w) {
    char mv[64];
    int ml = hone__disk_magic_value(mv, sizeof mv);
    MDB_val k = {sizeof MAGIC_KEY - 1, (void *)MAGIC_KEY}, v = {(size_t)ml, mv};
    return mdb_put(w->txn, w->d->dbi, &k, &v, 0);
}

static int apply_clear(wtx *w) {
    int rc = mdb_drop(w->txn, w->d->dbi, 0);
    if (rc) return rc;
    w->bytes = w->entries = 0;
    for (size_t i = 0; i <= w->d->ref_mask >> 6; i++) atomic_store_explicit(&w->d->ref[i], 0, RLX);
    return put_magic(w);
}

/* Copies a record into the writer's scratch buffer. */
static unsigned char *scratch(hone__disk *d, size_t n) {
    if (n > d->scratch_cap) {
        size_t nc = n < 4096 ? 4096 : n;
        unsigned char *p = hone_realloc(d->a, d->scratch, nc);
        if (!p) return NULL;
        d->scratch = p;
        d->scratch_cap = nc;
    }
    return d->scratch;
}

/* The fallback of evict when there are no order records: drops entries
 * in key order until the bytes are at most target. */
static int evict_unordered(wtx *w, uint64_t target) {
    MDB_cursor *c;
    int rc = mdb_cursor_open(w->txn, w->d->dbi, &c);
    if (rc) return rc;
    if (w->bytes > target)
        hone_log(HONE_LOG_WARN, "cache", "%s: entries without order records; evicting by key",
                 w->d->path);
    while (!rc && w->bytes > target) {
        unsigned char first = HONE__DISK_HASHED_PREFIX;
        MDB_val k = {1, &first}, v;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        while (!rc && !is_entry(&k) && ((unsigned char *)k.mv_data)[0] <= HONE__DISK_ENTRY_PREFIX)
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        if (!rc && !is_entry(&k)) rc = MDB_NOTFOUND;
        if (rc) break;
        uint64_t cost = entry_cost(k.mv_size, v.mv_size);
        if ((rc = mdb_cursor_del(c, 0))) break;
        w->bytes = w->bytes > cost ? w->bytes - cost : 0;
        if (w->entries) w->entries--;
        w->c.evictions++;
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) {
        w->bytes = w->entries = 0; /* nothing left to count */
        rc = 0;
    }
    return rc;
}

/* CLOCK: walks the order index from the oldest entry until the stored
 * bytes are at most target. An expired entry is dropped; a referenced one
 * gets a new sequence number (moves to the back) and its bit cleared; an
 * unreferenced one is evicted. Each step takes the first order record
 * afresh, since the step removes it. */
static int evict(wtx *w, uint64_t target) {
    hone__disk *d = w->d;
    if (w->bytes <= target) return 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(w->txn, d->dbi, &c);
    if (rc) return rc;
    while (w->bytes > target) {
        unsigned char first = HONE__DISK_ORDER_PREFIX;
        MDB_val k = {1, &first}, v;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND ||
            (!rc && (k.mv_size != OKEY_LEN ||
                     ((const unsigned char *)k.mv_data)[0] != HONE__DISK_ORDER_PREFIX))) {
            /* No order records left while bytes say otherwise: the count
             * drifted, or entries lost their order records (damage).
             * Recount, and drop unordered entries in key order. */
            mdb_cursor_close(c);
            rc = state_recount(w);
            return rc ? rc : evict_unordered(w, target);
        }
        if (rc) break;
        uint64_t seq = okey_seq(k.mv_data);
        lkey lk;
        lk.n = v.mv_size;
        int bad_ref = lk.n == 0 || lk.n > LKEY_MAX;
        if (!bad_ref) memcpy(lk.b, v.mv_data, lk.n);
        if ((rc = mdb_cursor_del(c, 0))) break;
        if (bad_ref) continue;
        MDB_val ek = {lk.n, lk.b}, ev;
        rc = mdb_get(w->txn, d->dbi, &ek, &ev);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc) break;
        lk.hashed = lk.b[0] == HONE__DISK_HASHED_PREFIX;
        const void *key;
        size_t klen;
        uint64_t kh;
        rec_head h;
        int good = walk_check(&ek, &ev, &key, &klen, &kh, &h);
        if (good && h.seq != seq) continue; /* a stale order record */
        if (!good) {
            w->c.corrupt++;
            if ((rc = entry_drop(w, &lk, &ev, &h, 0))) break;
            continue;
        }
        if (h.expire && h.expire <= w->now) {
            w->c.expired++;
            if ((rc = entry_drop(w, &lk, &ev, &h, 0))) break;
            continue;
        }
        size_t slot = ref_slot(d, kh);
        unsigned char *cp = NULL;
        if (ref_test(d, slot) && (cp = scratch(d, ev.mv_size))) {
            ref_clear(d, slot);
            size_t rl = ev.mv_size;
            memcpy(cp, ev.mv_data, rl);
            uint64_t ns = w->next_seq++;
            memcpy(&h, cp, HDR);
            h.seq = ns;
            memcpy(cp, &h, HDR);
            uint64_t sum = XXH3_64bits_withSeed(cp + 8, rl - 8, kh);
            memcpy(cp, &sum, 8);
            MDB_val nv = {rl, cp};
            if ((rc = mdb_put(w->txn, d->dbi, &ek, &nv, 0))) break;
            if ((rc = order_put(w, ns, &lk))) break;
            continue;
        }
        w->c.evictions++;
        if ((rc = entry_drop(w, &lk, &ev, &h, 0))) break;
    }
    mdb_cursor_close(c);
    return rc;
}

/* One write transaction over ops[0..n): applied in order, then evicted
 * down to max_bytes - extra, the state stored, committed. Returns an
 * LMDB code (MDB_MAP_FULL for the caller to handle). */
static int txn_run(hone__disk *d, op **ops, size_t n, uint64_t extra) {
    wtx w;
    memset(&w, 0, sizeof w);
    w.d = d;
    int rc = mdb_txn_begin(d->env, NULL, 0, &w.txn);
    if (rc == MDB_MAP_RESIZED) {
        if (!(rc = remap(d, 0))) rc = mdb_txn_begin(d->env, NULL, 0, &w.txn);
    }
    if (rc) return rc;
    w.now = wall_now(d);
    rc = state_load(&w);
    for (size_t i = 0; i < n && !rc; i++) {
        op *o = ops[i];
        switch (o->kind) {
        case OP_PUT: rc = apply_put(&w, o); break;
        case OP_DEL: {
            lkey lk;
            rc = make_lkey(d, o->data, o->klen, &lk) ? EINVAL : entry_remove(&w, o, &lk);
            break;
        }
        case OP_PURGE: rc = apply_purge(&w, o); break;
        default: rc = apply_clear(&w); break;
        }
    }
    if (!rc) rc = evict(&w, d->max_bytes > extra ? d->max_bytes - extra : 0);
    if (!rc) rc = state_store(&w);
    if (rc) {
        mdb_txn_abort(w.txn);
        return rc;
    }
    rc = mdb_txn_commit(w.txn);
    if (rc) return rc;
    add(&d->commits, 1);
    if (!d->nosync) add(&d->syncs, 1); /* LMDB synced the commit */
    add(&d->evictions, w.c.evictions);
    add(&d->expired, w.c.expired);
    add(&d->corrupt, w.c.corrupt);
    atomic_store_explicit(&d->entries, w.entries, RLX);
    atomic_store_explicit(&d->bytes, w.bytes, RLX);
    return 0;
}

/* Commits ops[0..n) in as few transactions as the map allows. On
 * MDB_MAP_FULL (never returned): grow the map by half, up to the ceiling;
 * at the ceiling split the group into smaller transactions; with one op
 * left, evict a further tenth of the bound each time. Returns a hone
 * status. */
static int run_group(hone__disk *d, op **ops, size_t n) {
    size_t start = 0, chunk = n;
    uint64_t extra = 0;
    while (start < n) {
        size_t cnt = n - start < chunk ? n - start : chunk;
        int rc = txn_run(d, ops + start, cnt, extra);
        if (rc == MDB_MAP_FULL) {
            size_t cur = map_size(d);
            if (cur < d->map_ceiling) {
                size_t next = cur + cur / 2;
                if (next > d->map_ceiling || next < cur) next = d->map_ceiling;
                if ((rc = remap(d, next))) {
                    hone_log(HONE_LOG_ERROR, "cache", "%s: cannot grow the map to %zu bytes: %s",
                             d->path, next, mdb_strerror(rc));
                    return hone__lmdb_status(rc);
                }
                add(&d->map_grows, 1);
                continue;
            }
            if (chunk > 1) {
                chunk = cnt / 2 ? cnt / 2 : 1;
                continue;
            }
            if (extra < d->max_bytes) {
                extra += d->max_bytes / 10 ? d->max_bytes / 10 : 1;
                continue;
            }
            hone_log(HONE_LOG_ERROR, "cache",
                     "%s: the map is full at its ceiling of %zu bytes even when empty (a long "
                     "read transaction holds old pages?)",
                     d->path, d->map_ceiling);
            return HONE_EIO;
        }
        if (rc) {
            hone_log(HONE_LOG_ERROR, "cache", "%s: write failed: %s", d->path, mdb_strerror(rc));
            return hone__lmdb_status(rc) == HONE_ENOMEM ? HONE_ENOMEM : HONE_EIO;
        }
        start += cnt;
        extra = 0;
    }
    return HONE_OK;
}

/* ------------------------------------------------------------------ */
/* The writer task                                                     */
/* ------------------------------------------------------------------ */

static void wait_until(pthread_cond_t *c, pthread_mutex_t *m, uint64_t deadline_ns) {
    struct timespec ts = {(time_t)(deadline_ns / 1000000000u), (long)(deadline_ns % 1000000000u)};
    pthread_cond_timedwait(c, m, &ts);
}

static void finish_ops(hone__disk *d, size_t n, int rc) {
    for (size_t i = 0; i < n; i++) {
        op *o = d->batch[i];
        tab_remove(d, o);
        if (o->kind == OP_PURGE) d->purges_queued--;
        if (o->w) {
            o->w->status = rc;
            o->w->done = 1;
            pthread_cond_signal(&o->w->cv);
        }
        hone_free(d->a, o);
    }
}

static void synced_upto(hone__disk *d, uint64_t upto, int rc, uint64_t now) {
    if (rc) {
        hone_log(HONE_LOG_ERROR, "cache", "%s: sync failed: %s", d->path, mdb_strerror(rc));
        if (upto > d->fail_ticket) d->fail_ticket = upto;
    } else {
        add(&d->syncs, 1);
    }
    if (upto > d->synced) d->synced = upto;
    d->last_sync_ns = now;
}

/* The one writer. Under sync it commits whatever is queued as soon as it
 * is idle (a lone putter gets one commit per put; putters arriving during
 * a commit share the next: group commit), each commit fsynced by LMDB.
 * Under nosync it gathers up to group_max writes or group_wait_ns,
 * commits without syncing, and syncs every sync_interval_ns. A flush, a
 * clear or close makes it commit and sync at once. */
static int writer_task(void *arg, hone_task *task) {
    (void)task;
    hone__disk *d = arg;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        uint64_t now = hone_monotonic_ns();
        int flushing = d->flush_want > d->synced;
        int sync_due = d->nosync && now >= d->last_sync_ns + d->sync_interval_ns;
        if (!d->qhead) {
            if (d->committed > d->synced && (d->stopping || flushing || sync_due)) {
                uint64_t upto = d->committed;
                pthread_mutex_unlock(&d->mu);
                int rc = mdb_env_sync(d->env, 1);
                pthread_mutex_lock(&d->mu);
                synced_upto(d, upto, rc, hone_monotonic_ns());
                pthread_cond_broadcast(&d->done);
                continue;
            }
            if (d->stopping) break;
            if (d->committed > d->synced)
                wait_until(&d->work, &d->mu, d->last_sync_ns + d->sync_interval_ns);
            else
                pthread_cond_wait(&d->work, &d->mu);
            continue;
        }
        if (d->nosync && !d->stopping && !flushing && !d->qclears && d->qlen < d->group_max) {
            uint64_t dl = d->qhead->enq_ns + d->group_wait_ns;
            if (now < dl) {
                wait_until(&d->work, &d->mu, dl);
                continue;
            }
        }
        size_t n = 0;
        int clears = 0;
        while (d->qhead && n < d->group_max) {
            op *o = d->qhead;
            d->qhead = o->next;
            if (o->kind == OP_CLEAR) clears++;
            d->batch[n++] = o;
        }
        if (!d->qhead) d->qtail = NULL;
        d->qlen -= n;
        d->qclears -= (size_t)clears;
        uint64_t last = d->batch[n - 1]->ticket;
        /* A flush waits for a sync after its last write only: syncing every
         * group on the way there made a flush behind a long queue sync 145
         * times for 196 commits. */
        int want_sync = d->nosync && (clears || sync_due || (flushing && last >= d->flush_want));
        pthread_mutex_unlock(&d->mu);

        int rc = run_group(d, d->batch, n);
        int src = 0;
        if (!rc && want_sync) src = mdb_env_sync(d->env, 1);

        pthread_mutex_lock(&d->mu);
        now = hone_monotonic_ns();
        if (rc && last > d->fail_ticket) d->fail_ticket = last;
        d->committed = last;
        if (!d->nosync) {
            d->synced = last;
        } else if (want_sync && !rc) {
            synced_upto(d, last, src, now);
            if (src) rc = HONE_EIO;
        }
        finish_ops(d, n, rc);
        pthread_cond_broadcast(&d->done);
    }
    pthread_mutex_unlock(&d->mu);
    return HONE_OK;
}

#define QUEUE_GROUPS 4

/* Queues o; under sync (or for a clear) waits for its commit. Takes
 * ownership of o. */
static int enqueue(hone__disk *d, op *o, int wait) {
    waiter w = {.done = 0, .status = 0};
    if (wait) {
        pthread_cond_init(&w.cv, NULL);
        o->w = &w;
    }
    int kind = o->kind; /* o may be freed by the writer once queued */
    pthread_mutex_lock(&d->mu);
    o->ticket = ++d->tickets;
    o->enq_ns = hone_monotonic_ns();
    int was_empty = !d->qhead;
    if (d->qtail)
        d->qtail->next = o;
    else
        d->qhead = o;
    d->qtail = o;
    d->qlen++;
    if (o->kind == OP_CLEAR) d->qclears++;
    if (o->kind == OP_PURGE) d->purges_queued++;
    if (d->nosync && (o->kind == OP_PUT || o->kind == OP_DEL)) tab_insert(d, o);
    if (wait || was_empty || d->qlen >= d->group_max) pthread_cond_signal(&d->work);
    while (wait && !w.done) pthread_cond_wait(&w.cv, &d->mu);
    /* Backpressure under nosync: a putter faster than the disk waits while
     * more than QUEUE_GROUPS groups are queued, so the queue (and memory)
     * stays bounded. Purges never wait: a get queues them. */
    while (!wait && kind != OP_PURGE && d->qlen > (size_t)d->group_max * QUEUE_GROUPS &&
           !d->stopping)
        pthread_cond_wait(&d->done, &d->mu);
    pthread_mutex_unlock(&d->mu);
    if (wait) pthread_cond_destroy(&w.cv);
    return w.status;
}

static op *op_new(hone__disk *d, int kind, const void *key, size_t klen, const void *val,
                  size_t vlen, uint64_t kh) {
    op *o = hone_malloc(d->a, sizeof *o + klen + vlen);
    if (!o) return NULL;
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->klen = klen;
    o->vlen = vlen;
    o->khash = kh;
    if (klen) memcpy(o->data, key, klen);
    if (vlen) memcpy(o->data + klen, val, vlen);
    return o;
}

/* ------------------------------------------------------------------ */
/* Opening                                                             */
/* ------------------------------------------------------------------ */

int hone__disk_magic_value(char *buf, size_t n) {
    uint32_t probe = 0x01020304u;
    size_t ml = sizeof HONE__DISK_MAGIC_PREFIX - 1;
    char ver[16];
    int vl = snprintf(ver, sizeof ver, "%d ", HONE__DISK_FORMAT_VERSION);
    if (n < ml + (size_t)vl + sizeof probe) return 0;
    memcpy(buf, HONE__DISK_MAGIC_PREFIX, ml);
    memcpy(buf + ml, ver, (size_t)vl);
    memcpy(buf + ml + (size_t)vl, &probe, sizeof probe);
    return (int)(ml + (size_t)vl + sizeof probe);
}

/* Checks the magic record. Returns 0, or MDB_INVALID with why filled. */
static int check_magic(const MDB_val *v, char *why, size_t wn) {
    char want[64];
    int wl = hone__disk_magic_value(want, sizeof want);
    if (v->mv_size == (size_t)wl && !memcmp(v->mv_data, want, (size_t)wl)) return 0;
    size_t pl = sizeof HONE__DISK_MAGIC_PREFIX - 1;
    const char *p = v->mv_data;
    if (v->mv_size > pl && !memcmp(p, HONE__DISK_MAGIC_PREFIX, pl)) {
        size_t e = pl;
        while (e < v->mv_size && e < pl + 10 && p[e] >= '0' && p[e] <= '9') e++;
        if (e < v->mv_size && p[e] == ' ' && (size_t)wl > e && !memcmp(p, want, e + 1))
            snprintf(why, wn, "written on a machine of the other byte order");
        else
            snprintf(why, wn, "a hone disk cache of format version %.*s; this build reads version %d",
                     (int)(e - pl), p + pl, HONE__DISK_FORMAT_VERSION);
    } else {
        snprintf(why, wn, "an LMDB file hone did not write (its format record is foreign)");
    }
    return MDB_INVALID;
}

/* Opens the environment, validates the file in the first write
 * transaction, checks or writes the magic and state records, and evicts
 * down to the bound (it may have shrunk). Returns a hone status; why says
 * what is wrong with a refused file. */
static int try_open(hone__disk *d, char *why, size_t wn) {
    why[0] = '\0';
    int prc = hone__lmdb_precheck(d->path);
    if (prc == HONE_ECORRUPT) {
        snprintf(why, wn, "not an LMDB database, or a damaged one");
        return HONE_ECORRUPT;
    }
    if (prc) return prc;
    int rc = mdb_env_create(&d->env);
    if (rc) return hone__lmdb_status(rc);
    /* Twice the bound plus slack: B-tree pages are not full and a commit
     * needs free pages beside the live ones (copy-on-write); the map grows
     * on MDB_MAP_FULL up to the ceiling. The file only grows as pages are
     * written. */
    size_t init = (size_t)d->max_bytes * 2 + ((size_t)1 << 20);
    mdb_env_set_mapsize(d->env, init);
    mdb_env_set_maxreaders(d->env, 126 + N_SLOTS);
    unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD | (d->nosync ? MDB_NOSYNC : 0);
    rc = mdb_env_open(d->env, d->path, flags, 0644);
    MDB_txn *txn = NULL;
    if (rc) goto fail;
    int dead = 0;
    mdb_reader_check(d->env, &dead);
    if (dead)
        hone_log(HONE_LOG_INFO, "cache", "%s: cleared %d stale reader slot%s", d->path, dead,
                 dead == 1 ? "" : "s");
    size_t mk = (size_t)mdb_env_get_maxkeysize(d->env);
    d->maxkey = mk < LKEY_MAX - 1 ? mk : LKEY_MAX - 1;
    size_t cur = map_size(d);
    d->map_ceiling = (size_t)d->max_bytes * 4 + ((size_t)4 << 20);
    if (d->map_ceiling < cur) d->map_ceiling = cur;

    rc = mdb_txn_begin(d->env, NULL, 0, &txn);
    if (rc) goto fail;
    int vrc = hone__lmdb_validate(d->env, d->a);
    if (vrc) {
        mdb_txn_abort(txn);
        mdb_env_close(d->env);
        d->env = NULL;
        if (vrc == HONE_ECORRUPT) snprintf(why, wn, "a damaged LMDB file");
        return vrc;
    }
    if ((rc = mdb_dbi_open(txn, NULL, 0, &d->dbi))) goto fail;
    wtx w;
    memset(&w, 0, sizeof w);
    w.d = d;
    w.txn = txn;
    w.now = wall_now(d);
    w.next_seq = 1;
    MDB_val k = {sizeof MAGIC_KEY - 1, (void *)MAGIC_KEY}, v;
    rc = mdb_get(txn, d->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        MDB_stat st;
        if ((rc = mdb_stat(txn, d->dbi, &st))) goto fail;
        if (st.ms_entries != 0) {
            snprintf(why, wn, "an LMDB file hone did not write (no hone format record)");
            rc = MDB_INVALID;
            goto fail;
        }
        rc = put_magic(&w);
    } else if (!rc) {
        if ((rc = check_magic(&v, why, wn))) goto fail;
        rc = state_load(&w);
    }
    if (!rc) rc = evict(&w, d->max_bytes);
    if (!rc) rc = state_store(&w);
    if (rc) goto fail;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc) goto fail;
    if (d->nosync && (rc = mdb_env_sync(d->env, 1))) goto fail;
    add(&d->evictions, w.c.evictions);
    add(&d->expired, w.c.expired);
    add(&d->corrupt, w.c.corrupt);
    atomic_store(&d->entries, w.entries);
    atomic_store(&d->bytes, w.bytes);
    return HONE_OK;
fail:
    if (txn) mdb_txn_abort(txn);
    mdb_env_close(d->env);
    d->env = NULL;
    if (rc == MDB_INVALID && !why[0]) snprintf(why, wn, "not a hone disk cache");
    return hone__lmdb_status(rc);
}

static void disk_destroy(hone__disk *d) {
    for (unsigned i = 0; i < N_SLOTS; i++)
        if (d->slots[i].txn) mdb_txn_abort(d->slots[i].txn);
    if (d->env) mdb_env_close(d->env);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->work);
    pthread_cond_destroy(&d->done);
    hone_free(d->a, d->tab);
    hone_free(d->a, d->batch);
    hone_free(d->a, d->scratch);
    hone_free(d->a, (void *)d->ref);
    hone_free(d->a, d->path);
    hone_free(d->a, d);
}

/* Moves a refused file aside to PATH.corrupt (replacing an older one; and
 * whatever else stands there), and removes its lock file. */
static int move_aside(hone__disk *d) {
    hone_buf aside;
    hone_buf_init(&aside, d->a);
    if (hone_buf_printf(&aside, "%s.corrupt", d->path)) {
        hone_buf_free(&aside);
        return HONE_ENOMEM;
    }
    if (rename(d->path, aside.data) != 0) {
        unlink(aside.data);
        rmdir(aside.data);
        if (rename(d->path, aside.data) != 0) unlink(d->path);
    }
    hone_buf_clear(&aside);
    if (hone_buf_printf(&aside, "%s-lock", d->path)) {
        hone_buf_free(&aside);
        return HONE_ENOMEM;
    }
    if (unlink(aside.data) != 0) rmdir(aside.data);
    hone_buf_free(&aside);
    return HONE_OK;
}

int hone__disk_open(hone__disk **out, const hone__disk_options *o, int *recreated,
                    hone_error *err) {
    if (!out) return hone_error_set(err, HONE_EINVAL, "disk tier: out is NULL");
    *out = NULL;
    if (recreated) *recreated = 0;
    if (!o || !o->path || !o->path[0])
        return hone_error_set(err, HONE_EINVAL, "disk tier: no database path given");
    if (o->max_bytes == 0 || o->max_bytes > ((uint64_t)1 << 50))
        return hone_error_set(err, HONE_EINVAL,
                              "disk tier: max_bytes=%llu: expected from 1 to 2^50 bytes",
                              (unsigned long long)o->max_bytes);
    const hone_allocator *a = o->alloc;
    hone__disk *d = hone_calloc(a, 1, sizeof *d);
    if (!d) return hone_error_set(err, HONE_ENOMEM, "out of memory");
    d->a = a;
    d->max_bytes = o->max_bytes;
    d->nosync = o->nosync != 0;
    d->group_max = o->group_max ? o->group_max : 512;
    d->group_wait_ns = o->group_wait_ns ? o->group_wait_ns : 1000000u;
    d->sync_interval_ns = o->sync_interval_ns ? o->sync_interval_ns : 1000000000u;
    d->wall = o->wall_clock;
    d->wall_ctx = o->wall_clock_ctx;
    d->last_sync_ns = hone_monotonic_ns();
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->work, &ca);
    pthread_cond_init(&d->done, &ca);
    pthread_condattr_destroy(&ca);
    /* One referenced bit per 64 bytes of bound (an entry is rarely
     * smaller), from 4 Ki to 32 Mi bits (512 B to 4 MiB). */
    size_t rn = 4096;
    while (rn < ((size_t)1 << 25) && rn < d->max_bytes / 64) rn *= 2;
    d->ref = hone_calloc(a, rn / 64, sizeof *d->ref);
    d->ref_mask = rn - 1;
    d->ref_salt = XXH3_64bits(&d, sizeof d) ^ hone_monotonic_ns();
    d->path = hone_strdup(a, o->path);
    d->batch = hone_calloc(a, d->group_max, sizeof *d->batch);
    if (d->nosync) {
        d->tcap = 64;
        d->tab = hone_calloc(a, d->tcap, sizeof *d->tab);
    }
    char *dir = d->path ? hone_strdup(a, d->path) : NULL;
    if (!d->ref || !d->path || !d->batch || (d->nosync && !d->tab) || !dir) {
        hone_free(a, dir);
        disk_destroy(d);
        return hone_error_set(err, HONE_ENOMEM, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    int mkrc = 0, mkerr = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        mkrc = hone_mkdir_p(dir);
        mkerr = errno;
    }
    if (mkrc) {
        int st = hone_status_from_errno(mkerr);
        hone_error_set(err, st, "%s: cannot create the disk tier's directory: %s", dir,
                       strerror(mkerr));
        hone_free(a, dir);
        disk_destroy(d);
        return st;
    }
    hone_free(a, dir);

    char why[200];
    int rc = try_open(d, why, sizeof why);
    if (rc == HONE_ECORRUPT && o->recreate) {
        hone_log(HONE_LOG_WARN, "cache", "%s: %s; moved to %s.corrupt, starting empty", d->path,
                 why, d->path);
        if (recreated) *recreated = 1;
        rc = move_aside(d);
        if (!rc) rc = try_open(d, why, sizeof why);
    }
    if (rc) {
        if (rc == HONE_ECORRUPT)
            hone_error_set(err, rc, "%s: refused: %s (set recreate to move it aside)", d->path,
                           why[0] ? why : "not a hone disk cache");
        else if (rc == HONE_ENOMEM)
            hone_error_set(err, rc, "out of memory");
        else
            hone_error_set(err, rc, "%s: cannot open the disk tier: %s", d->path,
                           hone_strerror(rc));
        disk_destroy(d);
        return rc;
    }
    hone_pool_opts po = {.workers = 1, .alloc = a};
    hone_error perr;
    perr.msg[0] = '\0';
    rc = hone_pool_new(&d->pool, &po, &perr);
    if (!rc) {
        rc = hone_pool_submit(d->pool, writer_task, d, &d->writer);
        if (rc) hone_pool_free(d->pool);
    }
    if (rc) {
        hone_error_set(err, rc, "%s: cannot start the disk tier's writer: %s", d->path,
                       rc == HONE_ENOMEM ? "out of memory" : perr.msg);
        disk_destroy(d);
        return rc;
    }
    *out = d;
    return HONE_OK;
}

void hone__disk_close(hone__disk *d) {
    if (!d) return;
    pthread_mutex_lock(&d->mu);
    d->stopping = 1;
    pthread_cond_signal(&d->work);
    pthread_mutex_unlock(&d->mu);
    hone_future_wait(d->writer);
    hone_future_free(d->writer);
    hone_pool_free(d->pool);
    disk_destroy(d);
}

/* ------------------------------------------------------------------ */
/* Reads                                                               */
/* ------------------------------------------------------------------ */

static void queue_purge(hone__disk *d, const void *key, size_t klen, uint64_t kh) {
    /* Bounded, so a scan over many damaged records cannot queue without
     * limit; what is not queued is found again by a later read. */
    pthread_mutex_lock(&d->mu);
    int full = d->purges_queued >= 1024 || d->stopping;
    pthread_mutex_unlock(&d->mu);
    if (full) return;
    op *o = op_new(d, OP_PURGE, key, klen, NULL, 0, kh);
    if (o) enqueue(d, o, 0);
}

static int copy_out(hone_buf *val, const void *p, size_t n) {
    hone_buf_clear(val);
    return n ? hone_buf_append(val, p, n) : HONE_OK;
}

int hone__disk_get(hone__disk *d, const void *key, size_t klen, hone_buf *val,
                   uint64_t *expire_wall_ns) {
    if (!d || (!key && klen) || !val) return HONE_EINVAL;
    uint64_t kh = key_hash(key, klen);
    if (atomic_load_explicit(&d->pending, memory_order_acquire)) {
        pthread_mutex_lock(&d->mu);
        op *o = tab_find(d, kh, key, klen, NULL);
        int rc = HONE_ENOTFOUND;
        if (o) {
            if (o->kind == OP_PUT && (!o->expire || o->expire > wall_now(d))) {
                rc = copy_out(val, o->data + o->klen, o->vlen);
                if (!rc && expire_wall_ns) *expire_wall_ns = o->expire;
            }
        }
        pthread_mutex_unlock(&d->mu);
        if (o) {
            add(rc ? &d->misses : &d->hits, 1);
            if (!rc) ref_mark(d, kh);
            return rc == HONE_ENOMEM ? rc : rc ? HONE_ENOTFOUND : HONE_OK;
        }
    }
    /* The referenced bit's word may miss the cache; fetched now, it arrives
     * while LMDB searches. */
    size_t ref = ref_slot(d, kh);
    __builtin_prefetch(&d->ref[ref >> 6], 1, 1);
    lkey lk;
    if (make_lkey(d, key, klen, &lk)) return HONE_EINVAL;
    rslot *s = slot_claim(d);
    int rc = slot_begin(d, s);
    if (rc) {
        slot_release(s);
        return hone__lmdb_status(rc);
    }
    MDB_val k = {lk.n, lk.b}, v;
    rc = mdb_get(s->txn, d->dbi, &k, &v);
    int bad = 0, expired = 0;
    if (!rc) {
        rec_head h;
        if (!rec_check(&v, key, klen, kh, lk.hashed, &h)) {
            bad = 1;
        } else if (h.expire && h.expire <= wall_now(d)) {
            expired = 1;
        } else {
            rc = copy_out(val, (const unsigned char *)v.mv_data + v.mv_size - h.vlen, h.vlen);
            if (!rc && expire_wall_ns) *expire_wall_ns = h.expire;
        }
        if (bad || expired) rc = MDB_NOTFOUND;
    }
    slot_end(s);
    atomic_fetch_add_explicit(rc ? &s->misses : &s->hits, 1, RLX);
    slot_release(s);
    if (!rc) {
        ref_set(d, ref);
        return HONE_OK;
    }
    if (bad || expired) queue_purge(d, key, klen, kh);
    return hone__lmdb_status(rc);
}

/* ------------------------------------------------------------------ */
/* Writes                                                              */
/* ------------------------------------------------------------------ */

int hone__disk_put(hone__disk *d, const void *key, size_t klen, const void *val, size_t vlen,
                   uint64_t expire_wall_ns) {
    if (!d || (!key && klen) || (!val && vlen) || klen > UINT32_MAX) return HONE_EINVAL;
    int hashed = klen + 1 > d->maxkey;
    size_t lkn = hashed ? 1 + DIGEST_LEN : klen + 1;
    size_t rl = rec_len(klen, hashed, vlen);
    if (rl < vlen || entry_cost(lkn, rl) > d->max_bytes / 4) return HONE_EINVAL;
    op *o = op_new(d, OP_PUT, key, klen, val, vlen, key_hash(key, klen));
    if (!o) return HONE_ENOMEM;
    o->expire = expire_wall_ns;
    add(&d->puts, 1);
    return enqueue(d, o, !d->nosync);
}

int hone__disk_delete(hone__disk *d, const void *key, size_t klen) {
    if (!d || (!key && klen)) return HONE_EINVAL;
    op *o = op_new(d, OP_DEL, key, klen, NULL, 0, key_hash(key, klen));
    if (!o) return HONE_ENOMEM;
    add(&d->deletes, 1);
    return enqueue(d, o, !d->nosync);
}

int hone__disk_clear(hone__disk *d) {
    if (!d) return HONE_EINVAL;
    op *o = op_new(d, OP_CLEAR, NULL, 0, NULL, 0, 0);
    if (!o) return HONE_ENOMEM;
    return enqueue(d, o, 1);
}

int hone__disk_flush(hone__disk *d) {
    if (!d) return HONE_EINVAL;
    pthread_mutex_lock(&d->mu);
    uint64_t t = d->tickets, s0 = d->synced;
    if (d->committed >= t && (d->synced >= t || !d->nosync)) {
        pthread_mutex_unlock(&d->mu);
        return HONE_OK;
    }
    if (d->flush_want < t) d->flush_want = t;
    pthread_cond_signal(&d->work);
    while (d->synced < t) pthread_cond_wait(&d->done, &d->mu);
    int rc = d->fail_ticket > s0 ? HONE_EIO : HONE_OK;
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Walks and stats                                                     */
/* ------------------------------------------------------------------ */

int hone__disk_iterate(hone__disk *d,
                       int (*fn)(void *ctx, const void *key, size_t klen, const void *val,
                                 size_t vlen, uint64_t expire_wall_ns),
                       void *ctx) {
    if (!d || !fn) return HONE_EINVAL;
    int rc = hone__disk_flush(d);
    if (rc) return rc;
    uint64_t now = wall_now(d);
    rslot *s = slot_claim(d);
    rc = slot_begin(d, s);
    if (rc) {
        slot_release(s);
        return hone__lmdb_status(rc);
    }
    MDB_cursor *c;
    rc = mdb_cursor_open(s->txn, d->dbi, &c);
    if (rc) {
        slot_end(s);
        slot_release(s);
        return hone__lmdb_status(rc);
    }
    /* Damaged records met are remembered (up to a bound) and queued for
     * removal after the walk, when the read slot is released. */
    enum { MAX_BAD = 64 };
    struct {
        unsigned char *key;
        size_t klen;
    } bad[MAX_BAD];
    size_t nbad = 0;
    int out = 0;
    MDB_val k, v;
    unsigned char first = HONE__DISK_HASHED_PREFIX;
    k = (MDB_val){1, &first};
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); !rc;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        unsigned char p = ((const unsigned char *)k.mv_data)[0];
        if (!is_entry(&k)) {
            if (p > HONE__DISK_ENTRY_PREFIX) break; /* the order index */
            continue;
        }
        const void *key;
        size_t klen;
        uint64_t kh;
        rec_head h;
        if (!walk_check(&k, &v, &key, &klen, &kh, &h)) {
            if (p == HONE__DISK_ENTRY_PREFIX && nbad < MAX_BAD &&
                (bad[nbad].key = hone_malloc(d->a, klen ? klen : 1))) {
                memcpy(bad[nbad].key, key, klen);
                bad[nbad++].klen = klen;
            }
            continue;
        }
        if (h.expire && h.expire <= now) continue;
        out = fn(ctx, key, klen, (const unsigned char *)v.mv_data + v.mv_size - h.vlen, h.vlen,
                 h.expire);
        if (out) break;
    }
    mdb_cursor_close(c);
    slot_end(s);
    slot_release(s);
    for (size_t i = 0; i < nbad; i++) {
        queue_purge(d, bad[i].key, bad[i].klen, key_hash(bad[i].key, bad[i].klen));
        hone_free(d->a, bad[i].key);
    }
    if (out) return out;
    return rc == MDB_NOTFOUND || rc == 0 ? HONE_OK : hone__lmdb_status(rc);
}

void hone__disk_stats_get(hone__disk *d, hone__disk_stats *st) {
    memset(st, 0, sizeof *st);
    if (!d) return;
    st->hits = atomic_load_explicit(&d->hits, RLX);
    st->misses = atomic_load_explicit(&d->misses, RLX);
    for (unsigned i = 0; i < N_SLOTS; i++) {
        st->hits += atomic_load_explicit(&d->slots[i].hits, RLX);
        st->misses += atomic_load_explicit(&d->slots[i].misses, RLX);
    }
    st->puts = atomic_load_explicit(&d->puts, RLX);
    st->deletes = atomic_load_explicit(&d->deletes, RLX);
    st->evictions = atomic_load_explicit(&d->evictions, RLX);
    st->expired = atomic_load_explicit(&d->expired, RLX);
    st->corrupt = atomic_load_explicit(&d->corrupt, RLX);
    st->commits = atomic_load_explicit(&d->commits, RLX);
    st->syncs = atomic_load_explicit(&d->syncs, RLX);
    st->map_grows = atomic_load_explicit(&d->map_grows, RLX);
    st->entries = atomic_load_explicit(&d->entries, RLX);
    st->bytes = atomic_load_explicit(&d->bytes, RLX);
    st->max_bytes = d->max_bytes;
    struct stat sb;
    if (stat(d->path, &sb) == 0) st->file_bytes = (uint64_t)sb.st_size;
}
