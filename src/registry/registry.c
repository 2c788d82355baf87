/* registry.c - shared resources loaded once (single flight), held by
 * counted handles, unloaded after an idle time or for a byte budget, least
 * recently released first. One mutex and condition variable per registry;
 * loaders and unload callbacks always run without them. */
#include "hone/registry.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define DEFAULT_IDLE_NS (UINT64_C(300) * 1000000000u)
#define MIN_BUCKETS 16u

enum { ST_LOADING = 0, ST_READY = 1, ST_FAILED = 2 };

/* An entry is the handle: every acquire of a loaded key returns the same
 * pointer and counts it in refs. While LOADING, refs counts the loading
 * thread and every waiter; a FAILED entry is out of the table and is freed
 * by whichever of them drops the last count. */
struct hone_registry_handle {
    struct hone_registry_handle *hnext;         /* hash chain */
    struct hone_registry_handle *iprev, *inext; /* idle list (READY, refs 0); victims */
    hone_registry *reg;
    uint64_t hash;
    uint64_t refs;
    uint64_t bytes;
    uint64_t released_at; /* clock at the release that made refs 0 */
    void *resource;
    hone_registry_loader loader;
    pthread_t loader_thread; /* valid while LOADING */
    int state;
    int rc; /* the load's status when FAILED */
    size_t klen;
    unsigned char key[];
};
typedef struct hone_registry_handle entry;

/* closing: 0 open; 1 hone_registry_free is running (a release must not
 * free the registry under it); 2 free returned with handles out (the last
 * release frees the registry). */
struct hone_registry {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast when any load ends */
    const hone_allocator *alloc;
    hone_registry_clock_fn clock;
    void *clock_ctx;
    uint64_t idle_ns, max_bytes, seed;
    entry **buckets;
    size_t mask;
    size_t n;                       /* entries in the table (loading + loaded) */
    entry *idle_head, *idle_tail;   /* unheld, oldest release first */
    int closing;
    /* Figures, guarded by mu. */
    uint64_t loads, load_failures, shares, over_budget;
    uint64_t unloads[HONE_REGISTRY_REASON_COUNT];
    uint64_t resources, loading, waiting, handles, bytes, held_bytes;
};

static uint64_t now_of(const hone_registry *r) {
    return r->clock ? r->clock(r->clock_ctx) : hone_monotonic_ns();
}

static uint64_t seed_new(void) {
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
        /* No entropy yet (early boot) or no getrandom: keys are chosen by
         * the program, not by clients, so a per-process mix is enough. */
        s = hone_monotonic_ns() ^ (uint64_t)(uintptr_t)&s ^ UINT64_C(0x9e3779b97f4a7c15);
    }
    return s;
}

/* ------------------------------------------------------------------ */
/* Table and idle list (all with mu held)                              */
/* ------------------------------------------------------------------ */

static entry *find(hone_registry *r, uint64_t h, const void *key, size_t klen) {
    for (entry *e = r->buckets[h & r->mask]; e; e = e->hnext)
        if (e->hash == h && e->klen == klen && (klen == 0 || !memcmp(e->key, key, klen)))
            return e;
    return NULL;
}

/* Doubles the buckets when chains grow past two on average. If the
 * allocation fails the table keeps its size: chains get longer, nothing
 * else changes, so the acquire that triggered it need not fail. */
static void maybe_grow(hone_registry *r) {
    size_t nb = r->mask + 1;
    if (r->n <= 2 * nb || nb > SIZE_MAX / 2 / sizeof(entry *)) return;
    entry **b = hone_calloc(r->alloc, nb * 2, sizeof *b);
    if (!b) return;
    for (size_t i = 0; i < nb; i++) {
        entry *e = r->buckets[i];
        while (e) {
            entry *next = e->hnext;
            size_t j = e->hash & (nb * 2 - 1);
            e->hnext = b[j];
            b[j] = e;
            e = next;
        }
    }
    hone_free(r->alloc, r->buckets);
    r->buckets = b;
    r->mask = nb * 2 - 1;
}

static void table_remove(hone_registry *r, entry *e) {
    entry **link = &r->buckets[e->hash & r->mask];
    while (*link != e) link = &(*link)->hnext;
    *link = e->hnext;
    e->hnext = NULL;
    r->n--;
}

static void idle_push(hone_registry *r, entry *e) {
    e->inext = NULL;
    e->iprev = r->idle_tail;
    if (r->idle_tail)
        r->idle_tail->inext = e;
    else
        r->idle_head = e;
    r->idle_tail = e;
}

static void idle_remove(hone_registry *r, entry *e) {
    if (e->iprev)
        e->iprev->inext = e->inext;
    else
        r->idle_head = e->inext;
    if (e->inext)
        e->inext->iprev = e->iprev;
    else
        r->idle_tail = e->iprev;
    e->iprev = e->inext = NULL;
}

/* Takes an unheld READY entry out of the registry and onto the victims
 * list, whose unload runs after the lock is dropped. */
static void evict(hone_registry *r, entry *e, hone_registry_reason why, entry **victims) {
    idle_remove(r, e);
    table_remove(r, e);
    r->resources--;
    r->bytes -= e->bytes;
    r->unloads[why]++;
    e->inext = *victims;
    *victims = e;
}

/* Unloads (onto victims) what idleness and the budget make due. Returns
 * how many. */
static int collect_due(hone_registry *r, uint64_t now, entry **victims) {
    int n = 0;
    if (r->idle_ns != UINT64_MAX)
        while (r->idle_head && now >= r->idle_head->released_at &&
               now - r->idle_head->released_at >= r->idle_ns) {
            evict(r, r->idle_head, HONE_REGISTRY_UNLOAD_IDLE, victims);
            n++;
        }
    if (r->max_bytes)
        while (r->bytes > r->max_bytes && r->idle_head) {
            evict(r, r->idle_head, HONE_REGISTRY_UNLOAD_BUDGET, victims);
            n++;
        }
    return n;
}

/* Counts a load that left the bytes above the budget: everything else
 * was held or loading, so nothing could make room. */
static void note_budget(hone_registry *r) {
    if (r->max_bytes && r->bytes > r->max_bytes) r->over_budget++;
}

/* Runs the unload callbacks of victims and frees them, without the lock.
 * Each entry reached the list exactly once (taken out of the table under
 * the lock), so each callback runs exactly once. */
static void run_victims(const hone_allocator *a, entry *v) {
    while (v) {
        entry *next = v->inext;
        if (v->loader.unload) v->loader.unload(v->loader.ctx, v->resource);
        hone_free(a, v);
        v = next;
    }
}

static void registry_destroy(hone_registry *r) {
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    hone_free(r->alloc, r->buckets);
    hone_free(r->alloc, r);
}

/* ------------------------------------------------------------------ */
/* Public calls                                                        */
/* ------------------------------------------------------------------ */

int hone_registry_new(hone_registry **out, const hone_registry_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    hone_registry_opts o = {0};
    if (opts) o = *opts;
    hone_registry *r = hone_calloc(o.alloc, 1, sizeof *r);
    if (!r) return HONE_ENOMEM;
    r->alloc = o.alloc;
    r->clock = o.clock;
    r->clock_ctx = o.clock_ctx;
    r->idle_ns = o.idle_ns ? o.idle_ns : DEFAULT_IDLE_NS;
    r->max_bytes = o.max_bytes;
    r->seed = seed_new();
    r->buckets = hone_calloc(o.alloc, MIN_BUCKETS, sizeof *r->buckets);
    if (!r->buckets) {
        hone_free(o.alloc, r);
        return HONE_ENOMEM;
    }
    r->mask = MIN_BUCKETS - 1;
    if (pthread_mutex_init(&r->mu, NULL)) {
        hone_free(o.alloc, r->buckets);
        hone_free(o.alloc, r);
        return HONE_EIO;
    }
    if (pthread_cond_init(&r->cv, NULL)) {
        pthread_mutex_destroy(&r->mu);
        hone_free(o.alloc, r->buckets);
        hone_free(o.alloc, r);
        return HONE_EIO;
    }
    *out = r;
    return HONE_OK;
}

void hone_registry_free(hone_registry *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->closing = 1;
    /* Rounds, because an unload callback may release handles of other
     * keys (a model its tokenizer), which then become unheld too. */
    while (r->idle_head) {
        entry *victims = NULL;
        while (r->idle_head) evict(r, r->idle_head, HONE_REGISTRY_UNLOAD_EXPLICIT, &victims);
        pthread_mutex_unlock(&r->mu);
        run_victims(r->alloc, victims);
        pthread_mutex_lock(&r->mu);
    }
    if (r->n == 0) {
        pthread_mutex_unlock(&r->mu);
        registry_destroy(r);
        return;
    }
    uint64_t handles = r->handles, left = r->n;
    r->closing = 2;
    pthread_mutex_unlock(&r->mu);
    /* From here the registry belongs to its remaining handles: the last
     * release frees it, so r must not be touched again. */
    hone_log(HONE_LOG_WARN, "registry",
             "hone_registry_free with %llu handle count(s) out on %llu resource(s): they stay "
             "loaded until released, and the last release frees the registry",
             (unsigned long long)handles, (unsigned long long)left);
}

int hone_registry_acquire(hone_registry *r, const void *key, size_t klen,
                          const hone_registry_loader *loader, hone_registry_handle **out) {
    if (out) *out = NULL;
    if (!r || !loader || !loader->load || !out || (!key && klen)) return HONE_EINVAL;
    if (klen > SIZE_MAX - sizeof(entry)) return HONE_EINVAL;
    uint64_t h = XXH3_64bits_withSeed(key ? key : "", klen, r->seed);
    entry *victims = NULL;
    pthread_mutex_lock(&r->mu);
    collect_due(r, now_of(r), &victims);
    entry *e = find(r, h, key, klen);
    if (e) {
        if (e->state == ST_LOADING && pthread_equal(e->loader_thread, pthread_self())) {
            pthread_mutex_unlock(&r->mu);
            run_victims(r->alloc, victims);
            return HONE_ESTATE;
        }
        if (e->state == ST_READY && e->refs == 0) {
            idle_remove(r, e);
            r->held_bytes += e->bytes;
        }
        e->refs++;
        if (e->state == ST_LOADING) {
            r->waiting++;
            while (e->state == ST_LOADING) pthread_cond_wait(&r->cv, &r->mu);
            r->waiting--;
        }
        if (e->state == ST_FAILED) {
            int rc = e->rc;
            int last = --e->refs == 0;
            pthread_mutex_unlock(&r->mu);
            if (last) hone_free(r->alloc, e);
            run_victims(r->alloc, victims);
            return rc;
        }
        r->shares++;
        r->handles++;
        pthread_mutex_unlock(&r->mu);
        run_victims(r->alloc, victims);
        *out = e;
        return HONE_OK;
    }

    e = hone_malloc(r->alloc, sizeof *e + klen);
    if (!e) {
        pthread_mutex_unlock(&r->mu);
        run_victims(r->alloc, victims);
        return HONE_ENOMEM;
    }
    memset(e, 0, sizeof *e);
    if (klen) memcpy(e->key, key, klen);
    e->klen = klen;
    e->hash = h;
    e->reg = r;
    e->loader = *loader;
    e->loader_thread = pthread_self();
    e->state = ST_LOADING;
    e->refs = 1;
    size_t b = h & r->mask;
    e->hnext = r->buckets[b];
    r->buckets[b] = e;
    r->n++;
    r->loads++;
    r->loading++;
    maybe_grow(r);
    pthread_mutex_unlock(&r->mu);
    run_victims(r->alloc, victims);
    victims = NULL;

    void *res = NULL;
    uint64_t bytes = 0;
    int rc = e->loader.load(e->loader.ctx, e->key, klen, &res, &bytes);
    if (rc > 0) rc = HONE_EFAIL;

    pthread_mutex_lock(&r->mu);
    r->loading--;
    if (rc != HONE_OK) {
        table_remove(r, e);
        e->state = ST_FAILED;
        e->rc = rc;
        r->load_failures++;
        int last = --e->refs == 0;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        if (last) hone_free(r->alloc, e);
        return rc;
    }
    e->state = ST_READY;
    e->resource = res;
    e->bytes = bytes;
    r->resources++;
    r->bytes += bytes;
    r->held_bytes += bytes;
    r->handles++; /* each waiter counts its own as it wakes */
    collect_due(r, now_of(r), &victims);
    note_budget(r);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    run_victims(r->alloc, victims);
    *out = e;
    return HONE_OK;
}

void *hone_registry_handle_get(const hone_registry_handle *h) { return h ? h->resource : NULL; }

uint64_t hone_registry_handle_bytes(const hone_registry_handle *h) { return h ? h->bytes : 0; }

void hone_registry_release(hone_registry_handle *e) {
    if (!e) return;
    hone_registry *r = e->reg;
    const hone_allocator *a = r->alloc;
    entry *victims = NULL;
    int destroy = 0;
    pthread_mutex_lock(&r->mu);
    r->handles--;
    if (--e->refs == 0) {
        r->held_bytes -= e->bytes;
        e->released_at = now_of(r);
        idle_push(r, e);
        if (r->closing) {
            /* Freed with handles out: the last count of a resource
             * unloads it, and the last resource frees the registry
             * (unless hone_registry_free is still running its rounds). */
            evict(r, e, HONE_REGISTRY_UNLOAD_EXPLICIT, &victims);
            destroy = r->closing == 2 && r->n == 0;
        } else {
            collect_due(r, e->released_at, &victims);
        }
    } else if (!r->closing) {
        collect_due(r, now_of(r), &victims);
    }
    pthread_mutex_unlock(&r->mu);
    run_victims(a, victims);
    if (destroy) registry_destroy(r);
}

int hone_registry_sweep(hone_registry *r) {
    if (!r) return HONE_EINVAL;
    entry *victims = NULL;
    pthread_mutex_lock(&r->mu);
    int n = collect_due(r, now_of(r), &victims);
    pthread_mutex_unlock(&r->mu);
    run_victims(r->alloc, victims);
    return n;
}

int hone_registry_unload(hone_registry *r, const void *key, size_t klen) {
    if (!r || (!key && klen)) return HONE_EINVAL;
    uint64_t h = XXH3_64bits_withSeed(key ? key : "", klen, r->seed);
    entry *victims = NULL;
    int rc = HONE_OK;
    pthread_mutex_lock(&r->mu);
    entry *e = find(r, h, key, klen);
    if (!e || e->state != ST_READY)
        rc = HONE_ENOTFOUND;
    else if (e->refs)
        rc = HONE_EBUSY;
    else
        evict(r, e, HONE_REGISTRY_UNLOAD_EXPLICIT, &victims);
    collect_due(r, now_of(r), &victims);
    pthread_mutex_unlock(&r->mu);
    run_victims(r->alloc, victims);
    return rc;
}

int hone_registry_stats_get(hone_registry *r, hone_registry_stats *st) {
    if (!r || !st) return HONE_EINVAL;
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&r->mu);
    st->loads = r->loads;
    st->load_failures = r->load_failures;
    st->shares = r->shares;
    memcpy(st->unloads, r->unloads, sizeof st->unloads);
    st->over_budget = r->over_budget;
    st->resources = r->resources;
    st->loading = r->loading;
    st->waiting = r->waiting;
    st->handles = r->handles;
    st->bytes = r->bytes;
    st->held_bytes = r->held_bytes;
    st->max_bytes = r->max_bytes;
    st->excess_bytes = r->max_bytes && r->bytes > r->max_bytes ? r->bytes - r->max_bytes : 0;
    st->idle_ns = r->idle_ns;
    st->next_idle_ns = UINT64_MAX;
    if (r->idle_head && r->idle_ns != UINT64_MAX)
        st->next_idle_ns = r->idle_head->released_at > UINT64_MAX - r->idle_ns
                               ? UINT64_MAX
                               : r->idle_head->released_at + r->idle_ns;
    pthread_mutex_unlock(&r->mu);
    return HONE_OK;
}

/* ------------------------------------------------------------------ */
/* Metrics export                                                      */
/* ------------------------------------------------------------------ */

int hone_registry_metrics_update(hone_registry *r, hone_metrics *m, const char *name,
                                 hone_error *err) {
    if (!r || !m || !name || !*name)
        return hone_error_set(err, HONE_EINVAL,
                              "hone_registry_metrics_update: registry, metrics and a non-empty "
                              "name are required");
    hone_registry_stats st;
    hone_registry_stats_get(r, &st);
    const char *l[] = {"registry", name, NULL};
    const int C = 1, G = 0;
    int rc;
#define PUT(fn, metric, help, v)                                                        \
    do {                                                                                \
        if ((rc = hone_metrics_mirror(m, fn, metric, help, l, (double)(v), err)) != HONE_OK) return rc; \
    } while (0)
    PUT(C, "hone_registry_loads_total", "Loader calls (one per single-flight load).", st.loads);
    PUT(C, "hone_registry_load_failures_total", "Loader calls that returned an error.",
        st.load_failures);
    PUT(C, "hone_registry_shares_total",
        "Acquires served by a resource another acquire loaded (no load of their own).",
        st.shares);
    static const char *const reasons[HONE_REGISTRY_REASON_COUNT] = {"idle", "budget",
                                                                     "explicit"};
    for (int i = 0; i < HONE_REGISTRY_REASON_COUNT; i++) {
        const char *lr[] = {"registry", name, "reason", reasons[i], NULL};
        rc = hone_metrics_mirror(m, C, "hone_registry_unloads_total",
                 "Resources unloaded, by reason: idle (unheld for the idle time), budget "
                 "(max_bytes needed the room), explicit (unload call, registry freed).",
                 lr, (double)st.unloads[i], err);
        if (rc) return rc;
    }
    PUT(C, "hone_registry_over_budget_total",
        "Loads that left the bytes above max_bytes because the rest was held.", st.over_budget);
    PUT(G, "hone_registry_resources", "Resources loaded.", st.resources);
    PUT(G, "hone_registry_loading", "Loads running.", st.loading);
    PUT(G, "hone_registry_handles", "Handle counts out.", st.handles);
    PUT(G, "hone_registry_bytes", "Bytes of loaded resources, as their loaders report.",
        st.bytes);
    PUT(G, "hone_registry_held_bytes", "Bytes of loaded resources with a handle out.",
        st.held_bytes);
    PUT(G, "hone_registry_max_bytes", "The byte budget (0: none).", st.max_bytes);
    PUT(G, "hone_registry_excess_bytes",
        "Bytes above the budget now, all of them held (0 within budget).", st.excess_bytes);
#undef PUT
    return HONE_OK;
}
