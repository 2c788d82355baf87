/* cache.c - the concurrent cache: shards of (mutex, policy, entries) with a
 * read path that takes no lock (an open-addressing index of atomically
 * published entry pointers, entries reclaimed by epochs), hits handed to
 * the policy through lossy per-shard read buffers drained under a try-lock,
 * reference-counted views, TTLs, single-flight loading and statistics. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>

/* XXH3 inlined from Debian's header: the key hash is on every read. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "cache/cache_test.h"
#include "cache/policy.h"
#include "cache/tiers.h"
#include "hone/cache.h"
#include "hone/cachesim.h"

/* ------------------------------------------------------------------ */
/* Entries                                                             */

/* An entry: one allocation holding a 48-byte header, the key, the value
 * and a trailer of what only some entries need: the allocator (when the
 * cache was given one: a view may outlive the cache and must free the
 * entry with it) and then the time-to-live (when the cache expires after
 * access). Immutable once published, except expire_at (written by readers
 * when expire_after_access is on, so it is atomic) and the retire fields
 * (under the shard lock, after the entry left the index). Freed by whoever
 * drops the last reference: the cache (after a grace period) or a view. */
typedef struct entry {
    /* Cold for readers: references, accounting, reclamation. */
    atomic_uint refs;
    uint32_t weight;
    struct entry *rnext; /* the shard's retire queue */
    uint32_t repoch;     /* the epoch it was retired in (low 32 bits) */
    /* What a read touches, next to the key and value, so that a small
     * entry's read usually stays within one or two cache lines. */
    uint32_t klen : 31;
    uint32_t has_alloc : 1; /* the trailer starts with the allocator */
    uint64_t hash;
    _Atomic uint64_t expire_at; /* 0: never */
    uint32_t vlen;
    uint32_t node;        /* its policy node id (set before it is published) */
    unsigned char data[]; /* key bytes, value bytes, trailer */
} entry;

/* Keys and values are limited so that their lengths fit the header. */
#define KLEN_MAX 0x7fffffffu
#define VLEN_MAX UINT32_MAX

static unsigned char *trailer(const entry *e) {
    return (unsigned char *)e->data + e->klen + e->vlen;
}

static const hone_allocator *entry_alloc(const entry *e) {
    const hone_allocator *a = NULL;
    if (e->has_alloc) memcpy(&a, trailer(e), sizeof a);
    return a;
}

/* The time-to-live an access restarts (expire_after_access caches only). */
static uint64_t entry_ttl(const entry *e) {
    uint64_t t;
    memcpy(&t, trailer(e) + (e->has_alloc ? sizeof(void *) : 0), sizeof t);
    return t;
}

static uint64_t entry_size(const entry *e, int with_ttl) {
    return sizeof *e + e->klen + e->vlen + (e->has_alloc ? sizeof(void *) : 0) +
           (with_ttl ? sizeof(uint64_t) : 0);
}

static void entry_unref(entry *e) {
    if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        hone_free(entry_alloc(e), e);
}

/* ------------------------------------------------------------------ */
/* Epochs                                                              */

/* Epoch-based reclamation, process-wide. A reader announces the global
 * epoch in its thread's slot before it loads anything from an index and
 * clears the slot when done; a writer that unlinks an entry stamps it with
 * the epoch it saw afterwards and drops the cache's reference only once the
 * epoch moved two steps on. The epoch moves from E to E+1 only when every
 * announced slot shows E, so a reader that could have seen the entry has
 * left by then. Slots are a fixed array (no allocation, so reads cannot
 * fail): a thread claims one on its first read and gives it back when it
 * exits. A thread that finds none free reads under the shard lock, which
 * is correct but slower. Entries, not their memory, are what is deferred:
 * the cache's own reference is dropped late, and a view takes a reference
 * of its own inside the read section, when the count is still >= 1. */
#define EBR_SLOTS 512

typedef struct ebr_slot {
    _Atomic uint64_t state; /* epoch << 1 | 1 while reading, else 0 */
    atomic_int used;
    char pad[64 - sizeof(uint64_t) - sizeof(int)];
} ebr_slot;

static _Alignas(64) ebr_slot ebr_slots[EBR_SLOTS];
static _Alignas(64) _Atomic uint64_t ebr_epoch = 1;
/* Apart from the epoch, which readers load on every read. */
static _Alignas(64) atomic_uint ebr_high; /* slots [0, ebr_high) were ever claimed */
static pthread_key_t ebr_key;
static int ebr_key_ok;
static pthread_once_t ebr_once = PTHREAD_ONCE_INIT;
static _Thread_local ebr_slot *ebr_mine;
static _Thread_local int ebr_tried;

static void ebr_release(void *p) {
    ebr_slot *s = p;
    /* The destructor runs on the exiting thread: should another thread-exit
     * hook read from a cache after this, it takes the locked path instead
     * of a slot that may already be someone else's. */
    ebr_mine = NULL;
    atomic_store_explicit(&s->state, 0, memory_order_release);
    atomic_store_explicit(&s->used, 0, memory_order_release);
}

static void ebr_init(void) { ebr_key_ok = pthread_key_create(&ebr_key, ebr_release) == 0; }

/* This thread's slot, or NULL when none is free. */
static ebr_slot *ebr_slot_get(void) {
    if (ebr_mine || ebr_tried) return ebr_mine;
    ebr_tried = 1;
    pthread_once(&ebr_once, ebr_init);
    if (!ebr_key_ok) return NULL;
    for (unsigned i = 0; i < EBR_SLOTS; i++) {
        int z = 0;
        if (atomic_load_explicit(&ebr_slots[i].used, memory_order_relaxed) ||
            !atomic_compare_exchange_strong(&ebr_slots[i].used, &z, 1))
            continue;
        if (pthread_setspecific(ebr_key, &ebr_slots[i])) {
            atomic_store(&ebr_slots[i].used, 0);
            return NULL;
        }
        unsigned h = atomic_load(&ebr_high);
        while (h < i + 1 && !atomic_compare_exchange_weak(&ebr_high, &h, i + 1)) {
        }
        ebr_mine = &ebr_slots[i];
        return ebr_mine;
    }
    return NULL;
}

/* Enters a read section. The exchange is a full barrier: the announcement
 * is visible before any load of the index (the writer side pairs it with
 * the fence in ebr_advance). */
static void ebr_enter(ebr_slot *s) {
    /* Acquire: an epoch seen here was published after the unlinks it
     * covers, so the index loads below cannot see those entries. */
    uint64_t e = atomic_load_explicit(&ebr_epoch, memory_order_acquire);
    atomic_exchange_explicit(&s->state, e << 1 | 1, memory_order_seq_cst);
}

static void ebr_leave(ebr_slot *s) { atomic_store_explicit(&s->state, 0, memory_order_release); }

/* Moves the global epoch on when every reader has seen the current one. */
static void ebr_advance(void) {
    uint64_t e = atomic_load_explicit(&ebr_epoch, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    unsigned n = atomic_load_explicit(&ebr_high, memory_order_acquire);
    for (unsigned i = 0; i < n; i++) {
        uint64_t st = atomic_load_explicit(&ebr_slots[i].state, memory_order_seq_cst);
        if ((st & 1) && (st >> 1) != e) return;
    }
    atomic_compare_exchange_strong(&ebr_epoch, &e, e + 1);
}

static uint32_t ebr_now(void) {
    return (uint32_t)atomic_load_explicit(&ebr_epoch, memory_order_seq_cst);
}

/* Two steps since `stamp`: nobody can still be reading what was retired. */
static int ebr_safe(uint32_t stamp) { return (uint32_t)(ebr_now() - stamp) >= 2; }

/* ------------------------------------------------------------------ */
/* The index                                                           */

/* Open addressing with linear probing, keyed by the entry's 64-bit hash:
 * the low bits pick the first slot. A slot is one word: the entry's
 * address, whose low bits (always zero: entries are aligned like malloc's
 * memory) hold a few bits of the hash as a tag, so that a probe loads one
 * word per slot and dereferences an entry only when its tag matches.
 * Readers probe without a lock; the writer (holding the shard lock)
 * publishes an entry with one store (release), marks a removed one with
 * the tombstone word (or the empty word when no probe chain runs through
 * the slot), and rebuilds the index into a fresh one when live entries plus
 * tombstones pass 3/4. A matching tag is checked against the entry's full
 * hash (and then the key). The old table is retired like an entry, so a
 * reader still probing it sees only entries that are not reclaimed yet. */
#define TAG_BITS (_Alignof(max_align_t) >= 16 ? 4 : 3)
#define TAG_MASK (((uintptr_t)1 << TAG_BITS) - 1)
#define W_EMPTY ((uintptr_t)0)
#define W_TOMB ((uintptr_t)1)

typedef struct itab {
    struct itab *rnext;
    uint32_t repoch;
    size_t mask;
    _Atomic uintptr_t slot[];
} itab;

/* Hash bits above those any slot index or shard uses. */
static uintptr_t tag_of(uint64_t h) { return (uintptr_t)(h >> 44) & TAG_MASK; }
static uintptr_t word_of(const entry *e) { return (uintptr_t)e | tag_of(e->hash); }
static entry *entry_of(uintptr_t w) { return (entry *)(w & ~TAG_MASK); }
static int live_word(uintptr_t w) { return w > TAG_MASK; }

static entry *tab_find(const itab *t, uint64_t h) {
    uintptr_t tg = tag_of(h);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        uintptr_t w = atomic_load_explicit(&t->slot[i], memory_order_acquire);
        if (w == W_EMPTY) return NULL;
        if (!live_word(w) || (w & TAG_MASK) != tg) continue;
        entry *e = entry_of(w);
        if (e->hash == h) return e;
    }
}

static size_t tab_bytes(size_t slots) { return sizeof(itab) + slots * sizeof(uintptr_t); }

/* Read buffers: each shard has RSTRIPES of them, a thread uses the one its
 * epoch slot picks, so two threads reading the same hot shard rarely write
 * the same cache line. RB hashes each (a power of two). */
#define RB 32
#define RSTRIPES 4

typedef struct rstripe {
    _Alignas(64) _Atomic uint64_t tail; /* slots claimed; also the hit count */
    _Atomic uint64_t misses;
    uint64_t head;      /* drained up to here (under the shard lock) */
    uint64_t hits_base;   /* tail at the last stats reset (under the lock) */
    uint64_t misses_base; /* misses at the last stats reset (under the lock) */
    _Atomic uint64_t buf[RB];
} rstripe;

typedef struct shard {
    /* Read-mostly: loaded by every reader. */
    _Alignas(64) _Atomic(itab *) tab;
    uint64_t max_entries, max_bytes; /* this shard's share; 0 = none */
    /* Written by reads. */
    rstripe rs[RSTRIPES];
    /* Under the lock. */
    _Alignas(64) pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when a flight of this shard completes */
    hone__pol *pol;
    size_t tcount, ttombs;
    entry *rq_head, *rq_tail; /* retired entries, oldest first */
    size_t nretired;
    uint64_t retired_bytes;
    itab *old_tabs;
    uint64_t old_tab_bytes;
    uint64_t bytes;
    struct flight *flights;
    /* Lifetime totals (never reset: exported counters only go up), and
     * their values at the last hone_cache_stats_reset. */
    uint64_t loads, load_failures, load_time_ns;
    uint64_t evictions[HONE_CACHE_REASON_COUNT];
    uint64_t base_loads, base_load_failures, base_load_time_ns;
    uint64_t base_evictions[HONE_CACHE_REASON_COUNT];
} shard;

/* A load in progress (or, with negative caching, a remembered failure). */
typedef struct flight {
    struct flight *next;
    uint64_t hash;
    unsigned char *key;
    size_t klen;
    int done, rc;
    entry *e;            /* the loaded entry (a reference), when rc == 0 */
    unsigned refs;       /* loader + waiters + (negative list) */
    uint64_t neg_expire; /* nonzero: kept as a cached failure until then */
} flight;

struct hone_cache {
    const hone_allocator *alloc;
    hone_cache_options o;
    unsigned nshards, shift;
    int by_bytes; /* policy weights are bytes (else entries) */
    _Atomic uint64_t max_entries, max_bytes; /* the whole cache's, for stats */
    shard *shards;
    unsigned char secret[XXH3_SECRET_DEFAULT_SIZE]; /* key_hash's key */
    hone__tiers *tiers; /* NULL: memory only (see tiers.h) */
};

/* The key's 64-bit hash: it picks the shard (top bits), the index slot (low
 * bits) and the tag (middle bits), and is the policy's key, so two keys
 * with one hash share one place: putting one replaces the other. Keys may be
 * chosen by an attacker (URLs, user names), and an unkeyed hash lets one
 * compute colliding keys offline and evict any entry at will, or pile keys
 * into one probe chain. So the hash is XXH3 (Debian's libxxhash) keyed with
 * a secret drawn from the OS for each cache, as Redis keys SipHash per
 * process: without the secret no collision can be computed, and a chance
 * one needs about 2^32 keys (birthday bound on 64 bits). Its only effect is
 * then a replaced entry, counted as an explicit eviction: reads compare the
 * whole key, so a hit never returns another key's value. XXH3 is a bijection
 * on 8-byte keys (its 4-8 byte path is a keyed invertible mix), so distinct
 * 8-byte keys still never collide. */
static inline uint64_t key_hash(const hone_cache *c, const void *key, size_t klen) {
    return XXH3_64bits_withSecret(key, klen, c->secret, sizeof c->secret);
}

static uint64_t now(const hone_cache *c) {
    return c->o.clock ? c->o.clock(c->o.clock_ctx) : hone_monotonic_ns();
}

static shard *shard_of(const hone_cache *c, uint64_t h) {
    return &c->shards[c->nshards == 1 ? 0 : (h >> c->shift)];
}

static int expired_at(uint64_t x, uint64_t t) { return x && t >= x; }

static uint64_t expire_of(const entry *e) {
    return atomic_load_explicit(&((entry *)e)->expire_at, memory_order_relaxed);
}

static int key_eq(const entry *e, const void *key, size_t klen) {
    if (e->klen != klen) return 0;
    if (klen == 8) {
        /* The common fixed-size key (an id): two loads, not a call. */
        uint64_t a, b;
        memcpy(&a, e->data, 8);
        memcpy(&b, key, 8);
        return a == b;
    }
    return klen == 0 || !memcmp(e->data, key, klen);
}

/* --- writer side of the index (shard lock held) --- */

static itab *tab_of(shard *s) { return atomic_load_explicit(&s->tab, memory_order_relaxed); }

static void tab_put_raw(itab *t, entry *e) {
    size_t i = e->hash & t->mask;
    while (atomic_load_explicit(&t->slot[i], memory_order_relaxed) != W_EMPTY)
        i = (i + 1) & t->mask;
    atomic_store_explicit(&t->slot[i], word_of(e), memory_order_relaxed);
}

static size_t tab_size_for(uint64_t n) {
    size_t sz = 16;
    while (sz < 4096 && (uint64_t)sz * 3 < n * 4) sz <<= 1;
    return sz;
}

static itab *tab_alloc(const hone_allocator *a, size_t slots) {
    itab *t = hone_calloc(a, 1, tab_bytes(slots));
    if (!t) return NULL;
    t->mask = slots - 1;
    return t;
}

/* Makes sure one more entry fits under 3/4 load, rebuilding the table when
 * needed. Returns HONE_OK or HONE_ENOMEM (nothing changed). */
static int tab_reserve(hone_cache *c, shard *s) {
    itab *t = tab_of(s);
    size_t size = t->mask + 1;
    if ((s->tcount + s->ttombs + 1) * 4 <= size * 3) return HONE_OK;
    /* Rebuilt to at most 3/8 load, so tombstones get room to gather again. */
    size_t want = 16;
    while (want * 3 < (s->tcount + 1) * 8) want <<= 1;
    itab *n = tab_alloc(c->alloc, want);
    if (!n) return HONE_ENOMEM;
    for (size_t i = 0; i < size; i++) {
        uintptr_t w = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
        if (live_word(w)) tab_put_raw(n, entry_of(w));
    }
    atomic_store_explicit(&s->tab, n, memory_order_release);
    s->ttombs = 0;
    t->repoch = ebr_now();
    t->rnext = s->old_tabs;
    s->old_tabs = t;
    s->old_tab_bytes += tab_bytes(size);
    return HONE_OK;
}

/* Publishes e (room reserved by tab_reserve). */
static void tab_insert(shard *s, entry *e) {
    itab *t = tab_of(s);
    size_t i = e->hash & t->mask;
    for (;; i = (i + 1) & t->mask) {
        uintptr_t w = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
        if (w == W_EMPTY) break;
        if (w == W_TOMB) {
            s->ttombs--;
            break;
        }
    }
    atomic_store_explicit(&t->slot[i], word_of(e), memory_order_release);
    s->tcount++;
}

/* The slot holding e, or SIZE_MAX. */
static size_t tab_slot(shard *s, const entry *e) {
    itab *t = tab_of(s);
    for (size_t i = e->hash & t->mask;; i = (i + 1) & t->mask) {
        uintptr_t w = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
        if (w == W_EMPTY) return SIZE_MAX;
        if (live_word(w) && entry_of(w) == e) return i;
    }
}

static void tab_remove(shard *s, const entry *e) {
    size_t i = tab_slot(s, e);
    if (i == SIZE_MAX) return;
    itab *t = tab_of(s);
    /* No chain runs past a slot whose successor is empty: it can go back
     * to empty instead of becoming a tombstone. */
    if (atomic_load_explicit(&t->slot[(i + 1) & t->mask], memory_order_relaxed) == W_EMPTY) {
        atomic_store_explicit(&t->slot[i], W_EMPTY, memory_order_release);
    } else {
        atomic_store_explicit(&t->slot[i], W_TOMB, memory_order_release);
        s->ttombs++;
    }
    s->tcount--;
}

/* --- retiring and reclaiming (shard lock held) --- */

/* Queues an entry the index no longer reaches (the caller unlinked it
 * first: the stamp must be read after that). */
static void retire(shard *s, entry *e) {
    e->repoch = ebr_now();
    e->rnext = NULL;
    if (s->rq_tail) s->rq_tail->rnext = e;
    else s->rq_head = e;
    s->rq_tail = e;
    s->nretired++;
    s->retired_bytes += entry_size(e, 0);
}

/* Drops the cache's reference of retired entries (and frees old tables)
 * whose grace period is over. Cheap when there is nothing to do, so every
 * writer calls it before unlocking. It waits for RECLAIM_BATCH entries: each
 * epoch advance makes every reader miss on the epoch's cache line once, so
 * advancing on every write (as a threshold of a few entries would) slows
 * reads under a 10 % write load; batches cost some memory instead. */
#define RECLAIM_BATCH 64

static void reclaim(hone_cache *c, shard *s) {
    if (s->nretired < RECLAIM_BATCH && !s->old_tabs) return;
    if (s->rq_head && !ebr_safe(s->rq_head->repoch)) ebr_advance();
    while (s->rq_head && ebr_safe(s->rq_head->repoch)) {
        entry *e = s->rq_head;
        s->rq_head = e->rnext;
        if (!s->rq_head) s->rq_tail = NULL;
        s->nretired--;
        s->retired_bytes -= entry_size(e, 0);
        entry_unref(e);
    }
    itab **pp = &s->old_tabs;
    if (*pp && !ebr_safe((*pp)->repoch)) ebr_advance();
    while (*pp) {
        itab *t = *pp;
        if (!ebr_safe(t->repoch)) {
            pp = &t->rnext;
            continue;
        }
        *pp = t->rnext;
        s->old_tab_bytes -= tab_bytes(t->mask + 1);
        hone_free(c->alloc, t);
    }
}

/* Applies the hits recorded in the read buffer to the policy. A slot a
 * reader claimed but has not written yet reads as empty and that hit is
 * lost (or applied at the next drain): the buffer is lossy by design, the
 * policy only needs a faithful sample of what is popular. */
static void drain_stripe(shard *s, rstripe *r) {
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    uint64_t from = r->head;
    if (t - from > RB) from = t - RB;
    uint64_t hits[RB];
    size_t n = 0;
    for (; from != t; from++) {
        /* A load and a store, not an exchange: a hit written between
         * them is lost, which the buffer allows, and the drain stays free
         * of locked instructions. */
        _Atomic uint64_t *b = &r->buf[from & (RB - 1)];
        uint64_t x = atomic_load_explicit(b, memory_order_relaxed);
        if (!x) continue;
        atomic_store_explicit(b, 0, memory_order_relaxed);
        hits[n++] = x;
    }
    r->head = t;
    /* In one batch, so the policy overlaps the cache misses of its nodes
     * and sketch blocks. */
    hone__pol_touch_batch(s->pol, hits, n);
}

static void drain(shard *s) {
    for (int i = 0; i < RSTRIPES; i++) drain_stripe(s, &s->rs[i]);
}

static void lock_shard(shard *s) {
    pthread_mutex_lock(&s->mu);
    drain(s);
}

static void unlock_shard(hone_cache *c, shard *s) {
    reclaim(c, s);
    pthread_mutex_unlock(&s->mu);
}

typedef struct evict_ctx {
    shard *s;
    int reason;
    entry *pending; /* being inserted: in the policy, not yet in the index */
} evict_ctx;

/* Unlinks an entry the policy let go and queues it for reclamation. */
static void drop_entry(shard *s, entry *e, int reason) {
    tab_remove(s, e);
    s->bytes -= e->weight;
    s->evictions[reason]++;
    retire(s, e);
}

/* The policy holds keys only: the index, which holds exactly the policy's
 * resident keys, gives the entry; the one being inserted is not in it yet
 * when the policy turns it away at once. */
static void on_evict(void *ctx, uint64_t key) {
    evict_ctx *x = ctx;
    entry *e = tab_find(tab_of(x->s), key);
    if (!e && x->pending && x->pending->hash == key) e = x->pending, x->pending = NULL;
    if (e) drop_entry(x->s, e, x->reason);
}

/* Removes an entry the policy holds, counting it under `reason`. */
static void remove_entry(shard *s, uint64_t h, int reason) {
    if (!hone__pol_remove(s->pol, h)) return;
    entry *e = tab_find(tab_of(s), h);
    if (e) drop_entry(s, e, reason);
}

/* Calls fn on every entry of an index (the caller holds the shard lock or
 * is the cache's last user). */
static void tab_each(const itab *t, void (*fn)(void *ctx, entry *e), void *ctx) {
    for (size_t i = 0; i <= t->mask; i++) {
        uintptr_t w = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
        if (live_word(w)) fn(ctx, entry_of(w));
    }
}

static void shard_limits(const hone_cache *c, uint64_t max_entries, uint64_t max_bytes,
                         uint64_t *pe, uint64_t *pb) {
    *pe = max_entries ? (max_entries + c->nshards - 1) / c->nshards : 0;
    *pb = max_bytes ? (max_bytes + c->nshards - 1) / c->nshards : 0;
}

int hone_cache_new(hone_cache **out, const hone_cache_options *opts) {
    *out = NULL;
    hone_cache_options o;
    if (opts) o = *opts;
    else memset(&o, 0, sizeof o);
    if (!o.max_entries && !o.max_bytes) return HONE_EINVAL;
    if (o.shards > 256 || (o.shards & (o.shards - 1))) return HONE_EINVAL;
    unsigned n = o.shards;
    if (!n) {
        /* Small caches get one shard so that eviction order is exactly the
         * policy's; large ones spread over up to 64 so that writers rarely
         * meet on a lock. */
        n = 1;
        while (n < 64 && (!o.max_entries || o.max_entries / (n * 2) >= 1024) &&
               (!o.max_bytes || o.max_bytes / (n * 2) >= (1u << 20)))
            n *= 2;
    }
    hone_cache *c = hone_calloc(o.alloc, 1, sizeof *c);
    if (!c) return HONE_ENOMEM;
    c->alloc = o.alloc;
    c->o = o;
    c->nshards = n;
    unsigned bits = 0;
    while ((1u << bits) < n) bits++;
    c->shift = 64 - bits;
    c->by_bytes = o.max_bytes != 0;
    if (o.hash_seed) {
        XXH3_generateSecret_fromSeed(c->secret, o.hash_seed);
    } else {
        unsigned char seed[32];
        if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
            /* Only before the kernel's pool is ready, or on a kernel
             * without getrandom(2): fall back to a seed that differs per
             * cache and per run, weaker but never constant. */
            uint64_t w[4] = {hone_monotonic_ns(), (uint64_t)(uintptr_t)c, hone_cycles(),
                             (uint64_t)(uintptr_t)&seed};
            memcpy(seed, w, sizeof seed);
        }
        XXH3_generateSecret(c->secret, sizeof c->secret, seed, sizeof seed);
    }
    atomic_init(&c->max_entries, o.max_entries);
    atomic_init(&c->max_bytes, o.max_bytes);
    c->shards = hone_calloc(o.alloc, n, sizeof *c->shards);
    if (!c->shards) {
        hone_free(o.alloc, c);
        return HONE_ENOMEM;
    }
    unsigned made = 0;
    int rc = HONE_OK;
    for (; made < n; made++) {
        shard *s = &c->shards[made];
        shard_limits(c, o.max_entries, o.max_bytes, &s->max_entries, &s->max_bytes);
        uint64_t cap = c->by_bytes ? s->max_bytes : s->max_entries;
        /* Entries are assumed to weigh 64 bytes or more when only bytes
         * are limited; the sketch grows with the entries actually held. */
        uint64_t hint = s->max_entries ? s->max_entries : s->max_bytes / 64;
        if (c->by_bytes && hint > s->max_bytes) hint = s->max_bytes;
        rc = hone__pol_new(&s->pol, HONE_CACHE_POLICY_HONE, cap, hint ? hint : 1, o.alloc);
        if (rc) break;
        /* The index starts at the size the hint needs (up to 4096 slots) and
         * grows when entries are smaller than guessed. */
        itab *t = tab_alloc(o.alloc, tab_size_for(hint + 1));
        if (!t) {
            hone__pol_free(s->pol);
            rc = HONE_ENOMEM;
            break;
        }
        atomic_init(&s->tab, t);
        /* Critical sections are short: spinning a little before sleeping
         * beats a futex round trip when two writers meet on a shard. */
        pthread_mutexattr_t ma;
        pthread_mutexattr_init(&ma);
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
        pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
        pthread_mutex_init(&s->mu, &ma);
        pthread_mutexattr_destroy(&ma);
        pthread_cond_init(&s->cv, NULL);
    }
    if (rc) {
        for (unsigned i = 0; i < made; i++) {
            hone__pol_free(c->shards[i].pol);
            hone_free(o.alloc, tab_of(&c->shards[i]));
            pthread_mutex_destroy(&c->shards[i].mu);
            pthread_cond_destroy(&c->shards[i].cv);
        }
        hone_free(o.alloc, c->shards);
        hone_free(o.alloc, c);
        return rc;
    }
    *out = c;
    return HONE_OK;
}

static void unref_cb(void *ctx, entry *e) {
    (void)ctx;
    entry_unref(e);
}

static void flight_unref(hone_cache *c, flight *f) {
    if (--f->refs) return;
    entry_unref(f->e);
    hone_free(c->alloc, f->key);
    hone_free(c->alloc, f);
}

void hone_cache_free(hone_cache *c) {
    if (!c) return;
    hone__tiers_close(c->tiers);
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *s = &c->shards[i];
        /* No thread may use the cache any more, so nothing is reading:
         * retired entries and old tables go at once. */
        tab_each(tab_of(s), unref_cb, NULL);
        hone__pol_free(s->pol);
        while (s->rq_head) {
            entry *e = s->rq_head;
            s->rq_head = e->rnext;
            entry_unref(e);
        }
        while (s->old_tabs) {
            itab *t = s->old_tabs;
            s->old_tabs = t->rnext;
            hone_free(c->alloc, t);
        }
        hone_free(c->alloc, tab_of(s));
        /* Only remembered failures can remain: no thread may be loading
         * while the cache is freed. */
        while (s->flights) {
            flight *f = s->flights;
            s->flights = f->next;
            flight_unref(c, f);
        }
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
    }
    hone_free(c->alloc, c->shards);
    hone_free(c->alloc, c);
}

static entry *entry_make(hone_cache *c, uint64_t h, const void *key, size_t klen,
                         const void *val, size_t vlen, uint64_t ttl, uint64_t weight,
                         uint64_t t) {
    int has_alloc = c->alloc != NULL, has_ttl = c->o.expire_after_access;
    size_t extra = (has_alloc ? sizeof(void *) : 0) + (has_ttl ? sizeof(uint64_t) : 0);
    entry *e = hone_malloc(c->alloc, sizeof *e + klen + vlen + extra);
    if (!e) return NULL;
    if ((uintptr_t)e & TAG_MASK) {
        /* The index keeps its tag in the low bits of the address: an
         * allocator must align like malloc. */
        hone_free(c->alloc, e);
        return NULL;
    }
    atomic_init(&e->refs, 1);
    e->klen = (uint32_t)klen & KLEN_MAX;
    e->has_alloc = (uint32_t)has_alloc;
    e->weight = (uint32_t)weight;
    e->repoch = 0;
    e->node = HONE__POL_NIL;
    e->hash = h;
    e->vlen = (uint32_t)vlen;
    if (ttl == 0) ttl = c->o.ttl_ns;
    if (ttl == UINT64_MAX) ttl = 0;
    atomic_init(&e->expire_at, ttl ? (t + ttl < t ? UINT64_MAX : t + ttl) : 0);
    e->rnext = NULL;
    if (klen) memcpy(e->data, key, klen);
    if (vlen) memcpy(e->data + klen, val, vlen);
    unsigned char *tr = trailer(e);
    if (has_alloc) memcpy(tr, &c->alloc, sizeof c->alloc), tr += sizeof c->alloc;
    if (has_ttl) memcpy(tr, &ttl, sizeof ttl);
    return e;
}

static uint64_t weight_of(const hone_cache *c, size_t klen, size_t vlen, uint64_t weight) {
    if (!c->by_bytes) return 1;
    return weight ? weight : (uint64_t)klen + vlen;
}

/* Publishes e under the shard lock (held by the caller), replacing any
 * entry for its hash. The shard takes e's reference on success. */
static int publish(hone_cache *c, shard *s, uint64_t h, entry *e) {
    if (tab_reserve(c, s)) return HONE_ENOMEM;
    evict_ctx ex = {s, HONE_CACHE_EVICT_SIZE, NULL};
    if (hone__pol_get(s->pol, h)) {
        /* Replacing keeps the key's place and frequency in the policy. The
         * index holds exactly the policy's resident entries, so the old
         * entry is there; inserting covers a broken invariant. */
        entry *old = tab_find(tab_of(s), h);
        size_t i = old ? tab_slot(s, old) : SIZE_MAX;
        e->node = hone__pol_node_of(s->pol, h);
        s->bytes += e->weight;
        if (i != SIZE_MAX) {
            atomic_store_explicit(&tab_of(s)->slot[i], word_of(e), memory_order_release);
            s->bytes -= old->weight;
            s->evictions[HONE_CACHE_EVICT_EXPLICIT]++;
            retire(s, old);
        } else {
            tab_insert(s, e);
        }
        if (c->by_bytes) hone__pol_reweigh(s->pol, h, e->weight, on_evict, &ex);
    } else {
        /* Counted first: the policy may turn the new entry away at once
         * (on_evict then takes it from ex.pending and retires it). */
        s->bytes += e->weight;
        ex.pending = e;
        int rc = hone__pol_insert(s->pol, h, e->weight, on_evict, &ex);
        if (rc) {
            s->bytes -= e->weight;
            return rc;
        }
        if (ex.pending) {
            ex.pending = NULL;
            e->node = hone__pol_node_of(s->pol, h);
            tab_insert(s, e);
        }
    }
    while (s->max_entries && hone__pol_count(s->pol) > s->max_entries)
        hone__pol_evict_one(s->pol, on_evict, &ex);
    return HONE_OK;
}

static int tier_put(hone_cache *c, uint64_t h, const void *key, size_t klen, const void *val,
                    size_t vlen, uint64_t ttl_ns, uint64_t weight);

/* The memory tier's put. */
static int mem_put(hone_cache *c, uint64_t h, const void *key, size_t klen, const void *val,
                   size_t vlen, uint64_t ttl_ns, uint64_t weight) {
    shard *s = shard_of(c, h);
    uint64_t w = weight_of(c, klen, vlen, weight);
    if (w > UINT32_MAX) return HONE_EINVAL;
    entry *e = entry_make(c, h, key, klen, val, vlen, ttl_ns, w, now(c));
    if (!e) return HONE_ENOMEM;
    lock_shard(s);
    /* The shard's share is read under the lock: resize may change it. */
    int rc = s->max_bytes && w > s->max_bytes ? HONE_EINVAL : publish(c, s, h, e);
    unlock_shard(c, s);
    if (rc) entry_unref(e);
    return rc;
}

int hone_cache_put_ex(hone_cache *c, const void *key, size_t klen, const void *val,
                      size_t vlen, uint64_t ttl_ns, uint64_t weight) {
    if ((!key && klen) || (!val && vlen) || klen > KLEN_MAX || vlen > VLEN_MAX)
        return HONE_EINVAL;
    uint64_t h = key_hash(c, key, klen);
    if (c->tiers) return tier_put(c, h, key, klen, val, vlen, ttl_ns, weight);
    return mem_put(c, h, key, klen, val, vlen, ttl_ns, weight);
}

int hone_cache_put(hone_cache *c, const void *key, size_t klen, const void *val, size_t vlen) {
    return hone_cache_put_ex(c, key, klen, val, vlen, 0, 0);
}

/* --- the read path --- */

/* Records a hit for the policy. The cursor's increment is the hit count
 * too. When this hit fills the buffer, the thread drains it if the lock is
 * free; otherwise the writer that holds the lock drains it before its own
 * change, or the buffer wraps and old hits are lost. */
static void record_hit(hone_cache *c, shard *s, rstripe *r, const entry *e, int locked) {
    uint64_t i = atomic_fetch_add_explicit(&r->tail, 1, memory_order_relaxed);
    /* The node id saves the drain a lookup by key; the hash's low half
     * tells a reused id apart. */
    atomic_store_explicit(&r->buf[i & (RB - 1)], (uint64_t)e->node << 32 | (uint32_t)e->hash,
                          memory_order_relaxed);
    if ((i & (RB - 1)) != RB - 1) return;
    if (locked) {
        drain_stripe(s, r);
    } else if (pthread_mutex_trylock(&s->mu) == 0) {
        drain_stripe(s, r);
        unlock_shard(c, s);
    }
}

/* The read stripe of this thread (its epoch slot's), or stripe 0. */
static rstripe *stripe_of(shard *s, const ebr_slot *slot) {
    return &s->rs[slot ? (size_t)(slot - ebr_slots) & (RSTRIPES - 1) : 0];
}

enum { R_MISS, R_HIT, R_EXPIRED };

/* Looks key up in the index; the caller is in a read section or holds the
 * lock. On a live entry it counts the hit, restarts an access ttl and
 * returns R_HIT with *out set; R_EXPIRED when the entry's time is up (the
 * caller removes it under the lock); R_MISS (not counted). */
static int read_entry(hone_cache *c, shard *s, rstripe *r, uint64_t h, const void *key,
                      size_t klen, int locked, entry **out) {
    itab *t = atomic_load_explicit(&s->tab, memory_order_acquire);
    entry *e = tab_find(t, h);
    if (!e || !key_eq(e, key, klen)) return R_MISS;
    uint64_t x = expire_of(e);
    if (x) {
        uint64_t tm = now(c);
        if (expired_at(x, tm)) return R_EXPIRED;
        uint64_t ttl = c->o.expire_after_access ? entry_ttl(e) : 0;
        if (ttl) atomic_store_explicit(&e->expire_at, tm + ttl, memory_order_relaxed);
    }
    record_hit(c, s, r, e, locked);
    *out = e;
    return R_HIT;
}

/* Under the lock: removes key's entry if it is still there and expired. */
static void drop_expired(hone_cache *c, shard *s, uint64_t h, const void *key, size_t klen) {
    entry *e = tab_find(tab_of(s), h);
    if (e && key_eq(e, key, klen) && expired_at(expire_of(e), now(c)))
        remove_entry(s, h, HONE_CACHE_EVICT_EXPIRED);
}

typedef void (*hit_fn)(entry *e, void *ctx);

/* The whole read: lock-free inside an epoch when this thread has a slot,
 * else under the lock. fn runs on the live entry inside the section.
 * Counts the hit or (when count) the miss. Returns 1 on a hit. */
static inline int read_key(hone_cache *c, shard *s, uint64_t h, const void *key, size_t klen,
                           int count, hit_fn fn, void *ctx) {
    ebr_slot *slot = ebr_slot_get();
    entry *e = NULL;
    int r;
    if (slot) {
        ebr_enter(slot);
        r = read_entry(c, s, stripe_of(s, slot), h, key, klen, 0, &e);
        if (r == R_HIT) fn(e, ctx);
        ebr_leave(slot);
        if (r == R_EXPIRED) {
            lock_shard(s);
            drop_expired(c, s, h, key, klen);
            unlock_shard(c, s);
        }
    } else {
        pthread_mutex_lock(&s->mu);
        r = read_entry(c, s, stripe_of(s, NULL), h, key, klen, 1, &e);
        if (r == R_HIT) fn(e, ctx);
        else if (r == R_EXPIRED) drop_expired(c, s, h, key, klen);
        unlock_shard(c, s);
    }
    if (r != R_HIT && count)
        atomic_fetch_add_explicit(&stripe_of(s, slot)->misses, 1, memory_order_relaxed);
    return r == R_HIT;
}

typedef struct copy_ctx {
    void *buf;
    size_t cap;
    size_t *vlen;
} copy_ctx;

static inline void copy_out(entry *e, void *ctx) {
    copy_ctx *x = ctx;
    size_t n = e->vlen < x->cap ? e->vlen : x->cap;
    if (n) memcpy(x->buf, e->data + e->klen, n);
    if (x->vlen) *x->vlen = e->vlen;
}

/* --- tiers below memory (tiers.h) --- */

void (*hone__cache_test_tier_hook)(hone_cache *c, const void *key, size_t klen);

void hone__cache_attach_tiers(hone_cache *c, hone__tiers *t) { c->tiers = t; }

hone__tiers *hone__cache_tiers(const hone_cache *c) { return c->tiers; }

static int mem_delete(hone_cache *c, uint64_t h, const void *key, size_t klen);

/* The stripe of a key's tier lock: the hash's low bits (shards take its
 * high bits, so a shard's keys spread over the stripes). */
static size_t tier_stripe(uint64_t h) { return (size_t)h & (HONE__TIER_STRIPES - 1); }

/* A ttl for the memory tier from a wall-clock deadline (0: none): the time
 * left, UINT64_MAX (never) for none, 0 when it has passed. */
static uint64_t ttl_left(const hone__tiers *t, uint64_t expire_wall) {
    if (!expire_wall) return UINT64_MAX;
    uint64_t w = hone__tiers_wall(t);
    return expire_wall > w ? expire_wall - w : 0;
}

/* The ttl a put or load asks for (0: the cache's default; UINT64_MAX:
 * none), resolved: 0 means none. */
static uint64_t tier_ttl(const hone_cache *c, uint64_t ttl_ns) {
    uint64_t ttl = ttl_ns ? ttl_ns : c->o.ttl_ns;
    return ttl == UINT64_MAX ? 0 : ttl;
}

/* The wall-clock deadline of a resolved ttl (0: none), saturating. */
static uint64_t tier_deadline(const hone__tiers *t, uint64_t ttl) {
    if (!ttl) return 0;
    uint64_t wall = hone__tiers_wall(t);
    return wall + ttl < wall ? UINT64_MAX : wall + ttl;
}

/* 1 when the disk tier holds a live entry for key. */
static int disk_has(hone_cache *c, const void *key, size_t klen) {
    hone_buf b;
    hone_buf_init(&b, c->alloc);
    uint64_t x;
    int found = hone__disk_get(c->tiers->disk, key, klen, &b, &x) == HONE_OK &&
                ttl_left(c->tiers, x) != 0;
    hone_buf_free(&b);
    return found;
}

/* Reads key below memory: disk, then Redis. On a hit val holds the value
 * and *ttl the memory ttl it has left (UINT64_MAX: none). Returns 1 on a
 * hit, 0 on a miss. */
static int tier_read(hone_cache *c, const void *key, size_t klen, hone_buf *val, uint64_t *ttl) {
    hone__tiers *t = c->tiers;
    uint64_t x = 0;
    if (t->disk && hone__disk_get(t->disk, key, klen, val, &x) == HONE_OK &&
        (*ttl = ttl_left(t, x)) != 0)
        return val->len <= VLEN_MAX;
    if (t->redis && hone__redis_get(t->redis, key, klen, val, &x) == HONE_OK) {
        *ttl = x ? x : UINT64_MAX;
        return val->len <= VLEN_MAX;
    }
    return 0;
}

/* Makes an entry of a value read below memory (a reference the caller
 * drops) and promotes it into memory unless the stripe's generation moved
 * from g (a put or delete of the key came since the read began: the value
 * may be stale) or memory already holds the key. NULL: no memory for it. */
static entry *tier_promote(hone_cache *c, uint64_t h, const void *key, size_t klen,
                           const void *val, size_t vlen, uint64_t ttl, uint64_t g) {
    hone__tiers *t = c->tiers;
    uint64_t w = weight_of(c, klen, vlen, 0);
    entry *e = w <= UINT32_MAX && vlen <= VLEN_MAX
                   ? entry_make(c, h, key, klen, val, vlen, ttl, w, now(c))
                   : NULL;
    if (!e || t->mem_off) return e;
    if (hone__cache_test_tier_hook) hone__cache_test_tier_hook(c, key, klen);
    size_t si = tier_stripe(h);
    shard *s = shard_of(c, h);
    pthread_rwlock_rdlock(&t->clear_lock);
    pthread_mutex_lock(&t->mu[si]);
    if (atomic_load_explicit(&t->gen[si], memory_order_relaxed) == g) {
        lock_shard(s);
        entry *cur = tab_find(tab_of(s), h);
        if (!(cur && key_eq(cur, key, klen)) && !(s->max_bytes && e->weight > s->max_bytes)) {
            atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed); /* the shard's */
            if (publish(c, s, h, e) == HONE_OK)
                atomic_fetch_add_explicit(&t->promotions, 1, memory_order_relaxed);
            else
                entry_unref(e);
        }
        unlock_shard(c, s);
    }
    pthread_mutex_unlock(&t->mu[si]);
    pthread_rwlock_unlock(&t->clear_lock);
    return e;
}

/* A get that missed memory: reads below it, and on a hit returns an entry
 * of the value (a reference the caller drops), promoted as tier_promote
 * says. NULL: a miss (or no memory for the entry). */
static entry *tier_fetch(hone_cache *c, uint64_t h, const void *key, size_t klen) {
    hone__tiers *t = c->tiers;
    uint64_t g = atomic_load_explicit(&t->gen[tier_stripe(h)], memory_order_acquire);
    hone_buf b;
    hone_buf_init(&b, c->alloc);
    uint64_t ttl = 0;
    entry *e = NULL;
    if (tier_read(c, key, klen, &b, &ttl)) e = tier_promote(c, h, key, klen, b.data, b.len, ttl, g);
    hone_buf_free(&b);
    return e;
}

static int buf_set(hone_buf *b, const void *p, size_t n) {
    hone_buf_clear(b);
    return hone_buf_append(b, p, n);
}

static void view_cb(entry *e, void *ctx);

int hone_cache_get_many(hone_cache *c, size_t n, const void *const *keys, const size_t *klens,
                        hone_buf *vals, int *found) {
    if (n && (!keys || !klens || !vals || !found)) return HONE_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!keys[i] && klens[i]) return HONE_EINVAL;
        found[i] = 0;
    }
    hone__tiers *t = c->tiers;
    int rc = HONE_OK;
    if (!t || !t->redis) {
        /* Nothing to pipeline: key by key. */
        for (size_t i = 0; i < n; i++) {
            hone_cache_view v;
            if (hone_cache_get_view(c, keys[i], klens[i], &v) != HONE_OK) continue;
            if (buf_set(&vals[i], v.data, v.len)) rc = HONE_ENOMEM;
            else found[i] = 1;
            hone_cache_view_release(&v);
        }
        return rc;
    }
    /* Memory and disk key by key; what they miss goes to Redis in one
     * pipelined round trip. */
    size_t *miss = hone_malloc(c->alloc, (n ? n : 1) * sizeof *miss);
    uint64_t *gens = hone_malloc(c->alloc, (n ? n : 1) * sizeof *gens);
    if (!miss || !gens) {
        hone_free(c->alloc, miss);
        hone_free(c->alloc, gens);
        return HONE_ENOMEM;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = key_hash(c, keys[i], klens[i]);
        hone_cache_view v;
        if (!t->mem_off && read_key(c, shard_of(c, h), h, keys[i], klens[i], 1, view_cb, &v)) {
            if (buf_set(&vals[i], v.data, v.len)) rc = HONE_ENOMEM;
            else found[i] = 1;
            hone_cache_view_release(&v);
            continue;
        }
        uint64_t g = atomic_load_explicit(&t->gen[tier_stripe(h)], memory_order_acquire), x = 0;
        if (t->disk && hone__disk_get(t->disk, keys[i], klens[i], &vals[i], &x) == HONE_OK) {
            uint64_t ttl = ttl_left(t, x);
            if (ttl) {
                entry *e = tier_promote(c, h, keys[i], klens[i], vals[i].data, vals[i].len, ttl, g);
                if (e) entry_unref(e);
                found[i] = 1;
                continue;
            }
        }
        miss[m] = i;
        gens[m++] = g;
    }
    const void **kk = m ? hone_malloc(c->alloc, m * sizeof *kk) : NULL;
    size_t *kl = m ? hone_malloc(c->alloc, m * sizeof *kl) : NULL;
    hone_buf *rv = m ? hone_malloc(c->alloc, m * sizeof *rv) : NULL;
    int *rf = m ? hone_malloc(c->alloc, m * sizeof *rf) : NULL;
    uint64_t *rt = m ? hone_malloc(c->alloc, m * sizeof *rt) : NULL;
    if (m && (!kk || !kl || !rv || !rf || !rt)) {
        rc = HONE_ENOMEM;
        m = 0;
    }
    for (size_t j = 0; j < m; j++) {
        kk[j] = keys[miss[j]];
        kl[j] = klens[miss[j]];
        hone_buf_init(&rv[j], c->alloc);
    }
    if (m && hone__redis_get_many_ttl(t->redis, m, (const void *const *)kk, kl, rv, rf, rt) ==
                 HONE_ENOMEM)
        rc = HONE_ENOMEM;
    for (size_t j = 0; j < m; j++) {
        size_t i = miss[j];
        if (rc == HONE_OK && rf[j]) {
            uint64_t h = key_hash(c, keys[i], klens[i]);
            entry *e = tier_promote(c, h, keys[i], klens[i], rv[j].data, rv[j].len,
                                    rt[j] ? rt[j] : UINT64_MAX, gens[j]);
            if (e) entry_unref(e);
            if (buf_set(&vals[i], rv[j].data, rv[j].len)) rc = HONE_ENOMEM;
            else found[i] = 1;
        }
        hone_buf_free(&rv[j]);
    }
    hone_free(c->alloc, kk);
    hone_free(c->alloc, kl);
    hone_free(c->alloc, rv);
    hone_free(c->alloc, rf);
    hone_free(c->alloc, rt);
    hone_free(c->alloc, miss);
    hone_free(c->alloc, gens);
    return rc;
}

/* Writes through: disk (as its durability says), then memory, then queues
 * the Redis fill, all under the key's stripe lock so that memory and disk
 * always agree on the newest value of a key. */
static int tier_put(hone_cache *c, uint64_t h, const void *key, size_t klen, const void *val,
                    size_t vlen, uint64_t ttl_ns, uint64_t weight) {
    hone__tiers *t = c->tiers;
    size_t si = tier_stripe(h);
    uint64_t ttl = tier_ttl(c, ttl_ns), xw = tier_deadline(t, ttl);
    int rc = HONE_OK;
    pthread_rwlock_rdlock(&t->clear_lock);
    pthread_mutex_lock(&t->mu[si]);
    atomic_fetch_add_explicit(&t->gen[si], 1, memory_order_release);
    if (t->disk) rc = hone__disk_put(t->disk, key, klen, val, vlen, xw);
    if (rc == HONE_OK && !t->mem_off) {
        int mrc = mem_put(c, h, key, klen, val, vlen, ttl_ns, weight);
        if (mrc != HONE_OK && t->disk) {
            /* On disk but not in memory (no room for it there, or no
             * memory): memory must not keep the older value. */
            mem_delete(c, h, key, klen);
        } else {
            rc = mrc;
        }
    }
    if (rc == HONE_OK && t->redis) hone__redis_put(t->redis, key, klen, val, vlen, ttl);
    pthread_mutex_unlock(&t->mu[si]);
    pthread_rwlock_unlock(&t->clear_lock);
    return rc;
}

typedef struct tier_load {
    hone_cache *c;
    uint64_t h;
    hone_cache_loader_fn fn;
    void *ctx;
    /* The stripe's generation the loaded value belongs to: get_or_load
     * caches the value in memory only if it has not moved since. */
    uint64_t gen;
} tier_load;

/* get_or_load's loader with tiers: the value from below memory when it is
 * there, else the caller's loader, whose value is written through to disk
 * and Redis unless a put or delete of the key came meanwhile. */
static int tier_loader(void *ctx, const void *key, size_t klen, void **val, size_t *vlen,
                       uint64_t *ttl) {
    tier_load *x = ctx;
    hone_cache *c = x->c;
    hone__tiers *t = c->tiers;
    size_t si = tier_stripe(x->h);
    uint64_t g = atomic_load_explicit(&t->gen[si], memory_order_acquire);
    x->gen = g;
    hone_buf b;
    hone_buf_init(&b, c->alloc);
    uint64_t left = 0;
    if (tier_read(c, key, klen, &b, &left)) {
        *val = b.data; /* NULL for an empty value, as the loader contract allows */
        *vlen = b.len;
        *ttl = left;
        return HONE_OK;
    }
    hone_buf_free(&b);
    int rc = x->fn(x->ctx, key, klen, val, vlen, ttl);
    if (rc != HONE_OK || (!*val && *vlen)) return rc;
    uint64_t tl = tier_ttl(c, *ttl);
    pthread_rwlock_rdlock(&t->clear_lock);
    pthread_mutex_lock(&t->mu[si]);
    x->gen = UINT64_MAX; /* a put or delete came meanwhile: stale */
    if (atomic_load_explicit(&t->gen[si], memory_order_relaxed) == g) {
        atomic_fetch_add_explicit(&t->gen[si], 1, memory_order_release);
        x->gen = g + 1;
        uint64_t xw = tier_deadline(t, tl);
        /* A value that cannot be stored below memory is still served. */
        if (t->disk) (void)hone__disk_put(t->disk, key, klen, *val, *vlen, xw);
        if (t->redis) hone__redis_put(t->redis, key, klen, *val, *vlen, tl);
    }
    pthread_mutex_unlock(&t->mu[si]);
    pthread_rwlock_unlock(&t->clear_lock);
    return HONE_OK;
}

int hone_cache_get(hone_cache *c, const void *key, size_t klen, void *buf, size_t cap,
                   size_t *vlen) {
    if (!key && klen) return HONE_EINVAL;
    uint64_t h = key_hash(c, key, klen);
    copy_ctx x = {buf, cap, vlen};
    if (!c->tiers)
        return read_key(c, shard_of(c, h), h, key, klen, 1, copy_out, &x) ? HONE_OK
                                                                            : HONE_ENOTFOUND;
    if (!c->tiers->mem_off && read_key(c, shard_of(c, h), h, key, klen, 1, copy_out, &x))
        return HONE_OK;
    entry *e = tier_fetch(c, h, key, klen);
    if (!e) return HONE_ENOTFOUND;
    copy_out(e, &x);
    entry_unref(e);
    return HONE_OK;
}

static void view_set(hone_cache_view *v, entry *e) {
    /* Inside a read section (or under the lock) the cache's reference is
     * still held, so the count is >= 1 and may be raised. */
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    v->data = e->data + e->klen;
    v->len = e->vlen;
    v->ref_ = e;
}

static void view_cb(entry *e, void *ctx) { view_set(ctx, e); }

int hone_cache_get_view(hone_cache *c, const void *key, size_t klen, hone_cache_view *view) {
    memset(view, 0, sizeof *view);
    if (!key && klen) return HONE_EINVAL;
    uint64_t h = key_hash(c, key, klen);
    if (!c->tiers)
        return read_key(c, shard_of(c, h), h, key, klen, 1, view_cb, view) ? HONE_OK
                                                                             : HONE_ENOTFOUND;
    if (!c->tiers->mem_off && read_key(c, shard_of(c, h), h, key, klen, 1, view_cb, view))
        return HONE_OK;
    entry *e = tier_fetch(c, h, key, klen);
    if (!e) return HONE_ENOTFOUND;
    view->data = e->data + e->klen;
    view->len = e->vlen;
    view->ref_ = e; /* the view takes tier_fetch's reference */
    return HONE_OK;
}

void hone_cache_view_release(hone_cache_view *view) {
    if (!view || !view->ref_) return;
    entry_unref(view->ref_);
    memset(view, 0, sizeof *view);
}

static flight *flight_find(hone_cache *c, shard *s, uint64_t h, const void *key, size_t klen) {
    for (flight **pp = &s->flights; *pp;) {
        flight *f = *pp;
        if (f->neg_expire && now(c) >= f->neg_expire) {
            /* A remembered failure that expired: forget it. */
            *pp = f->next;
            flight_unref(c, f);
            continue;
        }
        if (f->hash == h && f->klen == klen && (!klen || !memcmp(f->key, key, klen))) return f;
        pp = &f->next;
    }
    return NULL;
}

static void flight_unlink(shard *s, flight *f) {
    for (flight **pp = &s->flights; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            return;
        }
}

int hone_cache_get_or_load(hone_cache *c, const void *key, size_t klen,
                           hone_cache_loader_fn loader, void *ctx, hone_cache_view *view) {
    memset(view, 0, sizeof *view);
    if ((!key && klen) || !loader || klen > KLEN_MAX) return HONE_EINVAL;
    uint64_t h = key_hash(c, key, klen);
    shard *s = shard_of(c, h);
    tier_load tl = {c, h, loader, ctx, 0};
    if (c->tiers) {
        loader = tier_loader;
        ctx = &tl;
    }
    /* A hit needs no lock; a miss is counted once, below, under it. */
    if (read_key(c, s, h, key, klen, 0, view_cb, view)) return HONE_OK;
    lock_shard(s);
    entry *e = NULL;
    int r = read_entry(c, s, stripe_of(s, NULL), h, key, klen, 1, &e);
    if (r == R_HIT) {
        view_set(view, e);
        unlock_shard(c, s);
        return HONE_OK;
    }
    if (r == R_EXPIRED) drop_expired(c, s, h, key, klen);
    atomic_fetch_add_explicit(&stripe_of(s, ebr_mine)->misses, 1, memory_order_relaxed);
    flight *f = flight_find(c, s, h, key, klen);
    if (f) {
        f->refs++;
        while (!f->done) pthread_cond_wait(&s->cv, &s->mu);
        int rc = f->rc;
        if (rc == HONE_OK) view_set(view, f->e);
        flight_unref(c, f);
        unlock_shard(c, s);
        return rc;
    }
    f = hone_calloc(c->alloc, 1, sizeof *f);
    unsigned char *kc = klen ? hone_malloc(c->alloc, klen) : NULL;
    if (!f || (klen && !kc)) {
        unlock_shard(c, s);
        hone_free(c->alloc, f);
        hone_free(c->alloc, kc);
        return HONE_ENOMEM;
    }
    if (klen) memcpy(kc, key, klen);
    f->hash = h;
    f->key = kc;
    f->klen = klen;
    f->refs = 1;
    f->next = s->flights;
    s->flights = f;
    unlock_shard(c, s);

    /* The loader runs without the lock, so other keys of this shard are
     * served meanwhile. */
    void *val = NULL;
    size_t vlen = 0;
    uint64_t ttl = 0, t0 = now(c);
    int rc = loader(ctx, key, klen, &val, &vlen, &ttl);
    uint64_t t1 = now(c);
    if (rc == HONE_OK && !val && vlen) rc = HONE_EINVAL;
    entry *ne = NULL;
    if (rc == HONE_OK) {
        uint64_t w = weight_of(c, klen, vlen, 0);
        if (w > UINT32_MAX || vlen > VLEN_MAX) rc = HONE_EINVAL;
        else if (!(ne = entry_make(c, h, key, klen, val, vlen, ttl, w, t1))) rc = HONE_ENOMEM;
    }
    hone_free(c->alloc, val);

    /* With tiers, the value is cached in memory only if no put or delete
     * of the key came since it was read or loaded (tl.gen): memory must
     * never hide a newer value on disk. The stripe lock orders this with
     * puts, as in tier_promote. DISK keeps nothing in memory. */
    hone__tiers *tt = c->tiers;
    size_t tsi = tier_stripe(h);
    if (tt) {
        pthread_rwlock_rdlock(&tt->clear_lock);
        pthread_mutex_lock(&tt->mu[tsi]);
    }
    lock_shard(s);
    int keep = !tt || (!tt->mem_off &&
                       atomic_load_explicit(&tt->gen[tsi], memory_order_relaxed) == tl.gen);
    if (ne && s->max_bytes && ne->weight > s->max_bytes) {
        if (tt) {
            keep = 0; /* stored below memory: served, not kept in memory */
        } else {
            entry_unref(ne);
            ne = NULL;
            rc = HONE_EINVAL;
        }
    }
    s->loads++;
    s->load_time_ns += t1 - t0;
    if (rc == HONE_OK) {
        atomic_fetch_add_explicit(&ne->refs, 1, memory_order_relaxed); /* the flight's */
        if (!keep || publish(c, s, h, ne) != HONE_OK) entry_unref(ne); /* served, not cached */
        f->e = ne;
        view_set(view, ne);
    } else {
        s->load_failures++;
    }
    f->rc = rc;
    f->done = 1;
    flight_unlink(s, f);
    if (rc != HONE_OK && c->o.negative_ttl_ns) {
        f->neg_expire = t1 + c->o.negative_ttl_ns;
        f->refs++;
        f->next = s->flights;
        s->flights = f;
    }
    pthread_cond_broadcast(&s->cv);
    flight_unref(c, f);
    unlock_shard(c, s);
    if (tt) {
        pthread_mutex_unlock(&tt->mu[tsi]);
        pthread_rwlock_unlock(&tt->clear_lock);
    }
    return rc;
}

int hone_cache_delete(hone_cache *c, const void *key, size_t klen) {
    if (!key && klen) return HONE_EINVAL;
    uint64_t h = key_hash(c, key, klen);
    hone__tiers *t = c->tiers;
    if (!t) return mem_delete(c, h, key, klen);
    size_t si = tier_stripe(h);
    pthread_rwlock_rdlock(&t->clear_lock);
    pthread_mutex_lock(&t->mu[si]);
    atomic_fetch_add_explicit(&t->gen[si], 1, memory_order_release);
    int rc = mem_delete(c, h, key, klen);
    if (t->disk) {
        if (disk_has(c, key, klen)) rc = HONE_OK;
        int drc = hone__disk_delete(t->disk, key, klen);
        if (drc) rc = drc;
    }
    if (t->redis) (void)hone__redis_delete(t->redis, key, klen);
    pthread_mutex_unlock(&t->mu[si]);
    pthread_rwlock_unlock(&t->clear_lock);
    return rc;
}

static int mem_delete(hone_cache *c, uint64_t h, const void *key, size_t klen) {
    shard *s = shard_of(c, h);
    int rc = HONE_ENOTFOUND;
    lock_shard(s);
    entry *e = tab_find(tab_of(s), h);
    if (e && key_eq(e, key, klen)) {
        /* An expired entry is gone already as far as callers can tell. */
        int dead = expired_at(expire_of(e), expire_of(e) ? now(c) : 0);
        remove_entry(s, h, dead ? HONE_CACHE_EVICT_EXPIRED : HONE_CACHE_EVICT_EXPLICIT);
        if (!dead) rc = HONE_OK;
    }
    unlock_shard(c, s);
    return rc;
}

int hone_cache_contains(hone_cache *c, const void *key, size_t klen) {
    if (!key && klen) return 0;
    uint64_t h = key_hash(c, key, klen);
    shard *s = shard_of(c, h);
    /* A peek: neither the policy nor the stats are told, so contains()
     * never changes what gets evicted. */
    ebr_slot *slot = ebr_slot_get();
    if (slot) ebr_enter(slot);
    else pthread_mutex_lock(&s->mu);
    entry *e = tab_find(atomic_load_explicit(&s->tab, memory_order_acquire), h);
    uint64_t x = e ? expire_of(e) : 0;
    int found = e && key_eq(e, key, klen) && !expired_at(x, x ? now(c) : 0);
    if (slot) ebr_leave(slot);
    else pthread_mutex_unlock(&s->mu);
    if (!found && c->tiers && c->tiers->disk) found = disk_has(c, key, klen);
    return found;
}

void hone_cache_clear(hone_cache *c) {
    hone__tiers *tiers = c->tiers;
    if (tiers) {
        /* No put, delete or promotion runs meanwhile, so none lands
         * between the two clears and survives in one tier only. */
        pthread_rwlock_wrlock(&tiers->clear_lock);
        for (int i = 0; i < HONE__TIER_STRIPES; i++)
            atomic_fetch_add_explicit(&tiers->gen[i], 1, memory_order_release);
        if (tiers->disk) (void)hone__disk_clear(tiers->disk);
    }
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *s = &c->shards[i];
        lock_shard(s);
        /* The index is emptied in place first (its entries chained through
         * their retire links, unused until they are retired), and the
         * entries retired after: a retirement's epoch must be read once the
         * entry is unreachable, or a reader could announce a later epoch
         * and still find it. A reader meanwhile finds nothing, or an entry
         * that is not reclaimed yet. */
        itab *t = tab_of(s);
        entry *gone = NULL;
        for (size_t j = 0; j <= t->mask; j++) {
            uintptr_t w = atomic_load_explicit(&t->slot[j], memory_order_relaxed);
            atomic_store_explicit(&t->slot[j], W_EMPTY, memory_order_release);
            if (!live_word(w)) continue;
            entry *e = entry_of(w);
            e->rnext = gone;
            gone = e;
        }
        s->tcount = s->ttombs = 0;
        hone__pol_clear(s->pol, NULL, NULL);
        while (gone) {
            entry *e = gone;
            gone = e->rnext;
            s->bytes -= e->weight;
            s->evictions[HONE_CACHE_EVICT_EXPLICIT]++;
            retire(s, e);
        }
        unlock_shard(c, s);
    }
    if (tiers) pthread_rwlock_unlock(&tiers->clear_lock);
}

typedef struct iter_ctx {
    int (*fn)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen);
    void *ctx;
    int stop;
    uint64_t t;
} iter_ctx;

static void iter_one(void *ctx, entry *e) {
    iter_ctx *x = ctx;
    if (x->stop || expired_at(expire_of(e), x->t)) return;
    x->stop = x->fn(x->ctx, e->data, e->klen, e->data + e->klen, e->vlen);
}

int hone_cache_iterate(hone_cache *c,
                       int (*fn)(void *ctx, const void *key, size_t klen, const void *val,
                                 size_t vlen),
                       void *ctx) {
    iter_ctx x = {fn, ctx, 0, 0};
    for (unsigned i = 0; i < c->nshards && !x.stop; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        x.t = now(c);
        tab_each(tab_of(s), iter_one, &x);
        pthread_mutex_unlock(&s->mu);
    }
    return x.stop;
}

int hone_cache_resize(hone_cache *c, uint64_t max_entries, uint64_t max_bytes) {
    if (!max_entries && !max_bytes) return HONE_EINVAL;
    /* The policy's weights are fixed at creation: a cache weighed in
     * entries cannot switch to bytes. */
    if ((max_bytes != 0) != c->by_bytes) return HONE_EINVAL;
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *s = &c->shards[i];
        evict_ctx ex = {s, HONE_CACHE_EVICT_SIZE, NULL};
        lock_shard(s);
        shard_limits(c, max_entries, max_bytes, &s->max_entries, &s->max_bytes);
        hone__pol_set_capacity(s->pol, c->by_bytes ? s->max_bytes : s->max_entries, on_evict,
                               &ex);
        while (s->max_entries && hone__pol_count(s->pol) > s->max_entries)
            hone__pol_evict_one(s->pol, on_evict, &ex);
        unlock_shard(c, s);
    }
    /* Atomics: resize may race another resize or a stats read. */
    atomic_store_explicit(&c->max_entries, max_entries, memory_order_relaxed);
    atomic_store_explicit(&c->max_bytes, max_bytes, memory_order_relaxed);
    return HONE_OK;
}

/* Sums the shards, one at a time under its lock: lifetime totals, or
 * (since_reset) what happened since the last hone_cache_stats_reset. */
static void stats_sum(hone_cache *c, hone_cache_stats *st, int since_reset) {
    memset(st, 0, sizeof *st);
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        for (int j = 0; j < RSTRIPES; j++) {
            rstripe *r = &s->rs[j];
            st->hits += atomic_load_explicit(&r->tail, memory_order_relaxed);
            st->misses += atomic_load_explicit(&r->misses, memory_order_relaxed);
            if (since_reset) st->hits -= r->hits_base, st->misses -= r->misses_base;
        }
        st->loads += s->loads;
        st->load_failures += s->load_failures;
        st->load_time_ns += s->load_time_ns;
        for (int r = 0; r < HONE_CACHE_REASON_COUNT; r++) st->evictions[r] += s->evictions[r];
        if (since_reset) {
            st->loads -= s->base_loads;
            st->load_failures -= s->base_load_failures;
            st->load_time_ns -= s->base_load_time_ns;
            for (int r = 0; r < HONE_CACHE_REASON_COUNT; r++)
                st->evictions[r] -= s->base_evictions[r];
        }
        st->entries += hone__pol_count(s->pol);
        st->bytes += s->bytes;
        pthread_mutex_unlock(&s->mu);
    }
    st->max_entries = atomic_load_explicit(&c->max_entries, memory_order_relaxed);
    st->max_bytes = atomic_load_explicit(&c->max_bytes, memory_order_relaxed);
    if (st->hits + st->misses) st->hit_rate = (double)st->hits / (double)(st->hits + st->misses);
    double ue = st->max_entries ? 100.0 * (double)st->entries / (double)st->max_entries : 0;
    double ub = st->max_bytes ? 100.0 * (double)st->bytes / (double)st->max_bytes : 0;
    st->utilization = ue > ub ? ue : ub;
}

void hone_cache_stats_get(hone_cache *c, hone_cache_stats *st) { stats_sum(c, st, 1); }

void hone_cache_stats_lifetime(hone_cache *c, hone_cache_stats *st) { stats_sum(c, st, 0); }

void hone_cache_stats_reset(hone_cache *c) {
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        for (int j = 0; j < RSTRIPES; j++) {
            rstripe *r = &s->rs[j];
            r->hits_base = atomic_load_explicit(&r->tail, memory_order_relaxed);
            r->misses_base = atomic_load_explicit(&r->misses, memory_order_relaxed);
        }
        s->base_loads = s->loads;
        s->base_load_failures = s->load_failures;
        s->base_load_time_ns = s->load_time_ns;
        memcpy(s->base_evictions, s->evictions, sizeof s->evictions);
        pthread_mutex_unlock(&s->mu);
    }
}

int hone_cache_stats_json(hone_cache *c, hone_buf *buf) {
    hone_cache_stats st;
    hone_cache_stats_get(c, &st);
    return hone_buf_printf(
        buf,
        "{\"hits\":%llu,\"misses\":%llu,\"hit_rate\":%.6f,\"loads\":%llu,"
        "\"load_failures\":%llu,\"load_time_ns\":%llu,\"evictions\":{\"size\":%llu,"
        "\"expired\":%llu,\"explicit\":%llu},\"entries\":%llu,\"bytes\":%llu,"
        "\"utilization_percent\":%.3f,\"max_entries\":%llu,\"max_bytes\":%llu,"
        "\"memory_bytes\":%llu}",
        (unsigned long long)st.hits, (unsigned long long)st.misses, st.hit_rate,
        (unsigned long long)st.loads, (unsigned long long)st.load_failures,
        (unsigned long long)st.load_time_ns,
        (unsigned long long)st.evictions[HONE_CACHE_EVICT_SIZE],
        (unsigned long long)st.evictions[HONE_CACHE_EVICT_EXPIRED],
        (unsigned long long)st.evictions[HONE_CACHE_EVICT_EXPLICIT],
        (unsigned long long)st.entries, (unsigned long long)st.bytes, st.utilization,
        (unsigned long long)st.max_entries, (unsigned long long)st.max_bytes,
        (unsigned long long)hone_cache_memory_size(c));
}

static void mem_one(void *ctx, entry *e) { *(uint64_t *)ctx += entry_size(e, 0); }

uint64_t hone_cache_memory_size(hone_cache *c) {
    uint64_t m = sizeof *c + (uint64_t)c->nshards * sizeof(shard);
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        m += hone__pol_memory(s->pol);
        tab_each(tab_of(s), mem_one, &m);
        if (c->o.expire_after_access) m += hone__pol_count(s->pol) * sizeof(uint64_t);
        m += tab_bytes(tab_of(s)->mask + 1) + s->old_tab_bytes + s->retired_bytes;
        for (flight *f = s->flights; f; f = f->next) m += sizeof *f + f->klen;
        pthread_mutex_unlock(&s->mu);
    }
    return m;
}

/* --- test hooks (cache_test.h) --- */

const void *hone__cache_test_enter(hone_cache *c, const void *key, size_t klen, size_t *vlen) {
    ebr_slot *slot = ebr_slot_get();
    if (!slot) return NULL;
    uint64_t h = key_hash(c, key, klen);
    shard *s = shard_of(c, h);
    ebr_enter(slot);
    entry *e = tab_find(atomic_load_explicit(&s->tab, memory_order_acquire), h);
    if (!e || !key_eq(e, key, klen)) return NULL;
    *vlen = e->vlen;
    return e->data + e->klen;
}

void hone__cache_test_leave(void) {
    if (ebr_mine) ebr_leave(ebr_mine);
}

void hone__cache_test_no_slot(void) { ebr_tried = 1; }
