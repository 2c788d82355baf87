/* objpool.c - a pool of fixed-size objects carved from slabs, with a
 * small per-thread cache in front of a locked free store.
 *
 * Free objects are tracked in arrays of pointers (a stack per thread cache
 * and one for the pool), not in lists linked through the objects: a get or
 * put then never reads or writes the object itself, and refilling a cache
 * copies pointers instead of walking a chain of dependent loads. With many
 * objects out at once (a burst of 200 000 tasks' futures) the objects are
 * cold, and walking their links cost a cache miss per object, one after the
 * other; the arrays are sequential and small. */
#include "hone/mem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* Counters of one thread for one pool: written only by that thread (plain
 * load + store, no locked instruction), read by stats_get. Owned by the
 * pool, so they outlive the thread. */
typedef struct tstat {
    atomic_uint_fast64_t gets, puts, hits;
    struct tstat *next;
    void *objs[]; /* the thread's cache: cache + 1 slots */
} tstat;

struct hone_objpool {
    const hone_allocator *alloc;
    size_t obj, cache, slab_n;
    uint64_t id;
    pthread_mutex_t mu;
    void **free_arr; /* free objects not in any thread's cache */
    size_t nfree, freecap;
    void **slabs;
    size_t nslabs, slabcap;
    uint64_t capacity;
    uint64_t slow_gets, slow_puts; /* calls that bypassed thread caches */
    tstat *tstats;
};

/* A thread serves up to TCACHE_SLOTS pools from caches. A slot names its
 * pool by a unique id, never reused, so a slot left by a freed pool is
 * recognised as stale through the registry of live ids. */
#define TCACHE_SLOTS 4
typedef struct tcache {
    uint64_t id;
    void **objs;
    size_t n;
    tstat *st;
} tcache;
/* initial-exec: see the same note in src/exec/pool.c. */
static _Thread_local tcache tls[TCACHE_SLOTS] __attribute__((tls_model("initial-exec")));

#define REGISTRY_MAX 256
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t reg_ids[REGISTRY_MAX];
static uint64_t next_id = 1;

static int reg_alive(uint64_t id) {
    int alive = 0;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < REGISTRY_MAX && !alive; i++) alive = reg_ids[i] == id;
    pthread_mutex_unlock(&reg_mu);
    return alive;
}

static uint64_t reg_add(void) {
    uint64_t id = 0;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < REGISTRY_MAX; i++)
        if (!reg_ids[i]) {
            id = reg_ids[i] = next_id++;
            break;
        }
    pthread_mutex_unlock(&reg_mu);
    return id; /* 0: registry full, this pool runs without caches */
}

static void reg_remove(uint64_t id) {
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < REGISTRY_MAX; i++)
        if (reg_ids[i] == id) reg_ids[i] = 0;
    pthread_mutex_unlock(&reg_mu);
}

int hone_objpool_new(hone_objpool **out, const hone_objpool_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    if (!opts || !opts->obj_size || opts->obj_size > ((size_t)1 << 30)) return HONE_EINVAL;
    hone_objpool *p = hone_calloc(opts->alloc, 1, sizeof *p);
    if (!p) return HONE_ENOMEM;
    p->alloc = opts->alloc;
    p->obj = (opts->obj_size + 15) & ~(size_t)15;
    p->cache = opts->cache_size ? opts->cache_size : 64;
    p->slab_n = opts->slab_objects ? opts->slab_objects : 256;
    pthread_mutex_init(&p->mu, NULL);
    /* A cache too large to allocate is no cache. */
    p->id = p->cache > 1 && p->cache < ((size_t)1 << 28) ? reg_add() : 0;
    *out = p;
    return HONE_OK;
}

/* Caller holds p->mu. */
static int add_slab(hone_objpool *p) {
    if (p->nslabs == p->slabcap) {
        size_t cap = p->slabcap ? p->slabcap * 2 : 8;
        void **ns = hone_realloc(p->alloc, p->slabs, cap * sizeof *ns);
        if (!ns) return HONE_ENOMEM;
        p->slabs = ns;
        p->slabcap = cap;
    }
    /* Every object is out, in a thread's cache or in free_arr, so room for
     * the whole capacity is enough for free_arr. */
    if (p->freecap < p->capacity + p->slab_n) {
        size_t cap = p->freecap * 2 > p->capacity + p->slab_n ? p->freecap * 2
                                                               : p->capacity + p->slab_n;
        void **nf = hone_realloc(p->alloc, p->free_arr, cap * sizeof *nf);
        if (!nf) return HONE_ENOMEM;
        p->free_arr = nf;
        p->freecap = cap;
    }
    /* Objects whose size is a multiple of a cache line start on one, so
     * two objects used by different threads never share a line. The slab
     * keeps its allocator's pointer for freeing. */
    size_t line = p->obj % 64 == 0 ? 64 : 0;
    char *raw = hone_malloc(p->alloc, p->obj * p->slab_n + line);
    if (!raw) return HONE_ENOMEM;
    p->slabs[p->nslabs++] = raw;
    char *slab = line ? raw + (line - (uintptr_t)raw % line) % line : raw;
    /* Pushed backwards, so objects go out in address order. */
    for (size_t i = p->slab_n; i-- > 0;) p->free_arr[p->nfree++] = slab + i * p->obj;
    p->capacity += p->slab_n;
    return HONE_OK;
}

/* Claims a cache slot for p on this thread; NULL when none can be had. */
static __attribute__((noinline)) tcache *slot_claim(hone_objpool *p) {
    if (!p->id) return NULL;
    for (int i = 0; i < TCACHE_SLOTS; i++) {
        if (tls[i].id && reg_alive(tls[i].id)) continue;
        /* Empty, or left by a freed pool whose memory is gone: claim it. */
        tstat *st = hone_calloc(p->alloc, 1, sizeof *st + (p->cache + 1) * sizeof(void *));
        if (!st) return NULL;
        pthread_mutex_lock(&p->mu);
        st->next = p->tstats;
        p->tstats = st;
        pthread_mutex_unlock(&p->mu);
        tls[i].id = p->id;
        tls[i].objs = st->objs;
        tls[i].n = 0;
        tls[i].st = st;
        return &tls[i];
    }
    return NULL;
}

/* The fast path of get and put is this lookup plus a few instructions; the
 * rest lives in separate functions, so that the fast path needs no stack
 * frame. */
static inline tcache *slot_for(hone_objpool *p) {
    for (int i = 0; i < TCACHE_SLOTS; i++)
        if (tls[i].id == p->id && p->id) return &tls[i];
    return slot_claim(p);
}

static inline void bump(atomic_uint_fast64_t *c) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static __attribute__((noinline)) void *get_slow(hone_objpool *p, tcache *c) {
    pthread_mutex_lock(&p->mu);
    if (!p->nfree && add_slab(p)) {
        pthread_mutex_unlock(&p->mu);
        return NULL;
    }
    void *o = p->free_arr[--p->nfree];
    if (c) {
        /* Refill half the cache in the same lock hold, keeping the order
         * in which the pool would have handed the objects out. */
        size_t k = p->cache / 2 < p->nfree ? p->cache / 2 : p->nfree;
        p->nfree -= k;
        memcpy(c->objs, p->free_arr + p->nfree, k * sizeof *c->objs);
        c->n = k;
    } else {
        p->slow_gets++;
    }
    pthread_mutex_unlock(&p->mu);
    if (c) bump(&c->st->gets);
    return o;
}

void *hone_objpool_get(hone_objpool *p) {
    tcache *c = slot_for(p);
    if (c && c->n) {
        void *o = c->objs[--c->n];
        bump(&c->st->gets);
        bump(&c->st->hits);
        return o;
    }
    return get_slow(p, c);
}

/* Gives the least recently returned half of a full cache back, so other
 * threads can have them; the most recent stay, likely still in cache. */
static __attribute__((noinline)) void spill(hone_objpool *p, tcache *c) {
    size_t k = c->n - p->cache / 2;
    pthread_mutex_lock(&p->mu);
    memcpy(p->free_arr + p->nfree, c->objs, k * sizeof *c->objs);
    p->nfree += k;
    pthread_mutex_unlock(&p->mu);
    memmove(c->objs, c->objs + k, (c->n - k) * sizeof *c->objs);
    c->n -= k;
}

void hone_objpool_put(hone_objpool *p, void *obj) {
    if (!obj) return;
    tcache *c = slot_for(p);
    if (c) {
        c->objs[c->n++] = obj;
        bump(&c->st->puts);
        if (c->n > p->cache) spill(p, c);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->free_arr[p->nfree++] = obj;
    p->slow_puts++;
    pthread_mutex_unlock(&p->mu);
}

void hone_objpool_stats_get(hone_objpool *p, hone_objpool_stats *out) {
    if (!p || !out) return;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&p->mu);
    out->gets = p->slow_gets;
    out->puts = p->slow_puts;
    for (tstat *s = p->tstats; s; s = s->next) {
        out->gets += atomic_load_explicit(&s->gets, memory_order_relaxed);
        out->puts += atomic_load_explicit(&s->puts, memory_order_relaxed);
        out->cache_hits += atomic_load_explicit(&s->hits, memory_order_relaxed);
    }
    out->slabs = p->nslabs;
    out->capacity = p->capacity;
    out->bytes = p->nslabs * p->slab_n * p->obj;
    pthread_mutex_unlock(&p->mu);
    out->in_use = out->gets >= out->puts ? out->gets - out->puts : 0;
}

void hone_objpool_free(hone_objpool *p) {
    if (!p) return;
    if (p->id) {
        reg_remove(p->id);
        /* This thread's slot can be cleared now; other threads find theirs
         * stale through the registry. */
        for (int i = 0; i < TCACHE_SLOTS; i++)
            if (tls[i].id == p->id) memset(&tls[i], 0, sizeof tls[i]);
    }
    for (size_t i = 0; i < p->nslabs; i++) hone_free(p->alloc, p->slabs[i]);
    for (tstat *s = p->tstats, *n; s; s = n) {
        n = s->next;
        hone_free(p->alloc, s);
    }
    hone_free(p->alloc, p->slabs);
    hone_free(p->alloc, p->free_arr);
    pthread_mutex_destroy(&p->mu);
    hone_free(p->alloc, p);
}
