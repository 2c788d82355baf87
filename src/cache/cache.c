/* cache.c - the concurrent cache: shards of (mutex, policy, entries), with
 * reference-counted entries for views, TTLs, single-flight loading and
 * statistics. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "cache/policy.h"
#include "hone/cache.h"

/* An entry: immutable once published, except expire_at (under the shard
 * lock). Freed by whoever drops the last reference: the cache or a view. */
typedef struct entry {
    atomic_uint refs;
    uint32_t klen;
    uint64_t vlen;
    uint64_t weight;
    uint64_t expire_at; /* 0: never */
    uint64_t ttl;       /* for expire-after-access; 0: none */
    const hone_allocator *alloc;
    unsigned char data[]; /* key bytes, then value bytes */
} entry;

/* A load in progress (or, with negative caching, a remembered failure). */
typedef struct flight {
    struct flight *next;
    uint64_t hash;
    unsigned char *key;
    size_t klen;
    int done, rc;
    entry *e;          /* the loaded entry (a reference), when rc == 0 */
    unsigned refs;     /* loader + waiters + (negative list) */
    uint64_t neg_expire; /* nonzero: kept as a cached failure until then */
} flight;

typedef struct shard {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when a flight of this shard completes */
    hone__pol *pol;
    uint64_t max_entries, max_bytes; /* this shard's share; 0 = none */
    uint64_t bytes;
    flight *flights;
    uint64_t hits, misses, loads, load_failures, load_time_ns;
    uint64_t evictions[HONE_CACHE_REASON_COUNT];
    char pad[64];
} shard;

struct hone_cache {
    const hone_allocator *alloc;
    hone_cache_options o;
    unsigned nshards, shift;
    int by_bytes; /* policy weights are bytes (else entries) */
    shard *shards;
};

static void entry_unref(entry *e) {
    if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        hone_free(e->alloc, e);
}

static uint64_t now(const hone_cache *c) {
    return c->o.clock ? c->o.clock(c->o.clock_ctx) : hone_monotonic_ns();
}

static shard *shard_of(const hone_cache *c, uint64_t h) {
    return &c->shards[c->nshards == 1 ? 0 : (h >> c->shift)];
}

static int expired(const entry *e, uint64_t t) { return e->expire_at && t >= e->expire_at; }

static int key_eq(const entry *e, const void *key, size_t klen) {
    return e->klen == klen && (klen == 0 || !memcmp(e->data, key, klen));
}

typedef struct evict_ctx {
    shard *s;
    int reason;
} evict_ctx;

static void on_evict(void *ctx, uint64_t key, void *payload) {
    evict_ctx *x = ctx;
    entry *e = payload;
    (void)key;
    x->s->bytes -= e->weight;
    x->s->evictions[x->reason]++;
    entry_unref(e);
}

/* Removes an entry the policy holds, counting it under `reason`. */
static void remove_entry(shard *s, uint64_t h, int reason) {
    entry *e = hone__pol_remove(s->pol, h);
    if (!e) return;
    s->bytes -= e->weight;
    s->evictions[reason]++;
    entry_unref(e);
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
         * policy's; large ones spread over up to 64 so that threads rarely
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
        /* Critical sections are a few hundred nanoseconds: spinning a
         * little before sleeping beats a futex round trip when two threads
         * meet on a hot shard. */
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

static void drop_cb(void *ctx, uint64_t key, void *payload) {
    (void)ctx;
    (void)key;
    entry_unref(payload);
}

static void flight_unref(hone_cache *c, flight *f) {
    if (--f->refs) return;
    entry_unref(f->e);
    hone_free(c->alloc, f->key);
    hone_free(c->alloc, f);
}

void hone_cache_free(hone_cache *c) {
    if (!c) return;
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *s = &c->shards[i];
        hone__pol_clear(s->pol, drop_cb, NULL);
        hone__pol_free(s->pol);
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

static entry *entry_make(hone_cache *c, const void *key, size_t klen, const void *val,
                         size_t vlen, uint64_t ttl, uint64_t weight, uint64_t t) {
    entry *e = hone_malloc(c->alloc, sizeof *e + klen + vlen);
    if (!e) return NULL;
    atomic_init(&e->refs, 1);
    e->klen = (uint32_t)klen;
    e->vlen = vlen;
    e->weight = weight;
    if (ttl == 0) ttl = c->o.ttl_ns;
    if (ttl == UINT64_MAX) ttl = 0;
    e->ttl = ttl;
    e->expire_at = ttl ? (t + ttl < t ? UINT64_MAX : t + ttl) : 0;
    e->alloc = c->alloc;
    if (klen) memcpy(e->data, key, klen);
    if (vlen) memcpy(e->data + klen, val, vlen);
    return e;
}

static uint64_t weight_of(const hone_cache *c, size_t klen, size_t vlen, uint64_t weight) {
    if (!c->by_bytes) return 1;
    return weight ? weight : (uint64_t)klen + vlen;
}

/* Publishes e under the shard lock (held by the caller), replacing any
 * entry for its hash. The shard takes e's reference. */
static int publish(hone_cache *c, shard *s, uint64_t h, entry *e) {
    evict_ctx ex = {s, HONE_CACHE_EVICT_EXPLICIT};
    entry *old = NULL;
    if (hone__pol_get(s->pol, h, (void **)&old)) {
        /* Replacing keeps the key's place and frequency in the policy. */
        hone__pol_set_payload(s->pol, h, e);
        s->bytes = s->bytes - old->weight + e->weight;
        s->evictions[HONE_CACHE_EVICT_EXPLICIT]++;
        entry_unref(old);
        ex.reason = HONE_CACHE_EVICT_SIZE;
        if (c->by_bytes) hone__pol_reweigh(s->pol, h, (uint32_t)e->weight, on_evict, &ex);
    } else {
        /* Counted first: the policy may evict the new entry at once. */
        s->bytes += e->weight;
        ex.reason = HONE_CACHE_EVICT_SIZE;
        int rc = hone__pol_insert(s->pol, h, (uint32_t)e->weight, e, on_evict, &ex);
        if (rc) {
            s->bytes -= e->weight;
            return rc;
        }
    }
    ex.reason = HONE_CACHE_EVICT_SIZE;
    while (s->max_entries && hone__pol_count(s->pol) > s->max_entries)
        hone__pol_evict_one(s->pol, on_evict, &ex);
    return HONE_OK;
}

int hone_cache_put_ex(hone_cache *c, const void *key, size_t klen, const void *val,
                      size_t vlen, uint64_t ttl_ns, uint64_t weight) {
    if ((!key && klen) || (!val && vlen) || klen > UINT32_MAX) return HONE_EINVAL;
    uint64_t h = hone__hash_bytes(key, klen);
    shard *s = shard_of(c, h);
    uint64_t w = weight_of(c, klen, vlen, weight);
    if (w > UINT32_MAX || (s->max_bytes && w > s->max_bytes)) return HONE_EINVAL;
    entry *e = entry_make(c, key, klen, val, vlen, ttl_ns, w, now(c));
    if (!e) return HONE_ENOMEM;
    pthread_mutex_lock(&s->mu);
    int rc = publish(c, s, h, e);
    pthread_mutex_unlock(&s->mu);
    if (rc) entry_unref(e);
    return rc;
}

int hone_cache_put(hone_cache *c, const void *key, size_t klen, const void *val, size_t vlen) {
    return hone_cache_put_ex(c, key, klen, val, vlen, 0, 0);
}

/* Looks key up under the lock; returns the live entry (not referenced) or
 * NULL, counting the hit or miss and dropping an expired entry. */
static entry *lookup(hone_cache *c, shard *s, uint64_t h, const void *key, size_t klen,
                     int count) {
    entry *e = NULL;
    if (!hone__pol_get(s->pol, h, (void **)&e) || !key_eq(e, key, klen)) {
        if (count) s->misses++;
        return NULL;
    }
    if (e->expire_at) {
        uint64_t t = now(c);
        if (expired(e, t)) {
            remove_entry(s, h, HONE_CACHE_EVICT_EXPIRED);
            if (count) s->misses++;
            return NULL;
        }
        if (c->o.expire_after_access && e->ttl) e->expire_at = t + e->ttl;
    }
    if (count) s->hits++;
    return e;
}

int hone_cache_get(hone_cache *c, const void *key, size_t klen, void *buf, size_t cap,
                   size_t *vlen) {
    if (!key && klen) return HONE_EINVAL;
    uint64_t h = hone__hash_bytes(key, klen);
    shard *s = shard_of(c, h);
    pthread_mutex_lock(&s->mu);
    entry *e = lookup(c, s, h, key, klen, 1);
    if (e) {
        size_t n = e->vlen < cap ? e->vlen : cap;
        if (n) memcpy(buf, e->data + e->klen, n);
        if (vlen) *vlen = e->vlen;
    }
    pthread_mutex_unlock(&s->mu);
    return e ? HONE_OK : HONE_ENOTFOUND;
}

static void view_set(hone_cache_view *v, entry *e) {
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    v->data = e->data + e->klen;
    v->len = e->vlen;
    v->ref_ = e;
}

int hone_cache_get_view(hone_cache *c, const void *key, size_t klen, hone_cache_view *view) {
    memset(view, 0, sizeof *view);
    if (!key && klen) return HONE_EINVAL;
    uint64_t h = hone__hash_bytes(key, klen);
    shard *s = shard_of(c, h);
    pthread_mutex_lock(&s->mu);
    entry *e = lookup(c, s, h, key, klen, 1);
    if (e) view_set(view, e);
    pthread_mutex_unlock(&s->mu);
    return e ? HONE_OK : HONE_ENOTFOUND;
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
    if ((!key && klen) || !loader || klen > UINT32_MAX) return HONE_EINVAL;
    uint64_t h = hone__hash_bytes(key, klen);
    shard *s = shard_of(c, h);
    pthread_mutex_lock(&s->mu);
    entry *e = lookup(c, s, h, key, klen, 1);
    if (e) {
        view_set(view, e);
        pthread_mutex_unlock(&s->mu);
        return HONE_OK;
    }
    flight *f = flight_find(c, s, h, key, klen);
    if (f) {
        f->refs++;
        while (!f->done) pthread_cond_wait(&s->cv, &s->mu);
        int rc = f->rc;
        if (rc == HONE_OK) view_set(view, f->e);
        flight_unref(c, f);
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    f = hone_calloc(c->alloc, 1, sizeof *f);
    unsigned char *kc = klen ? hone_malloc(c->alloc, klen) : NULL;
    if (!f || (klen && !kc)) {
        pthread_mutex_unlock(&s->mu);
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
    pthread_mutex_unlock(&s->mu);

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
        if (w > UINT32_MAX || (s->max_bytes && w > s->max_bytes)) rc = HONE_EINVAL;
        else if (!(ne = entry_make(c, key, klen, val, vlen, ttl, w, t1))) rc = HONE_ENOMEM;
    }
    hone_free(c->alloc, val);

    pthread_mutex_lock(&s->mu);
    s->loads++;
    s->load_time_ns += t1 - t0;
    if (rc == HONE_OK) {
        atomic_fetch_add_explicit(&ne->refs, 1, memory_order_relaxed); /* the flight's */
        if (publish(c, s, h, ne) != HONE_OK) entry_unref(ne); /* served, not cached */
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
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int hone_cache_delete(hone_cache *c, const void *key, size_t klen) {
    if (!key && klen) return HONE_EINVAL;
    uint64_t h = hone__hash_bytes(key, klen);
    shard *s = shard_of(c, h);
    int rc = HONE_ENOTFOUND;
    pthread_mutex_lock(&s->mu);
    entry *e = lookup(c, s, h, key, klen, 0);
    if (e) {
        remove_entry(s, h, HONE_CACHE_EVICT_EXPLICIT);
        rc = HONE_OK;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int hone_cache_contains(hone_cache *c, const void *key, size_t klen) {
    if (!key && klen) return 0;
    uint64_t h = hone__hash_bytes(key, klen);
    shard *s = shard_of(c, h);
    pthread_mutex_lock(&s->mu);
    /* A peek: the policy is not told, so contains() never changes what
     * gets evicted. */
    entry *e = hone__pol_peek(s->pol, h);
    int found = e && key_eq(e, key, klen) && !expired(e, e->expire_at ? now(c) : 0);
    pthread_mutex_unlock(&s->mu);
    return found;
}

void hone_cache_clear(hone_cache *c) {
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *s = &c->shards[i];
        evict_ctx ex = {s, HONE_CACHE_EVICT_EXPLICIT};
        pthread_mutex_lock(&s->mu);
        hone__pol_clear(s->pol, on_evict, &ex);
        pthread_mutex_unlock(&s->mu);
    }
}

typedef struct iter_ctx {
    int (*fn)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen);
    void *ctx;
    int stop;
    uint64_t t;
} iter_ctx;

static void iter_one(void *ctx, uint64_t key, void *payload) {
    iter_ctx *x = ctx;
    entry *e = payload;
    (void)key;
    if (x->stop || expired(e, x->t)) return;
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
        hone__pol_foreach(s->pol, iter_one, &x);
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
        evict_ctx ex = {s, HONE_CACHE_EVICT_SIZE};
        pthread_mutex_lock(&s->mu);
        shard_limits(c, max_entries, max_bytes, &s->max_entries, &s->max_bytes);
        hone__pol_set_capacity(s->pol, c->by_bytes ? s->max_bytes : s->max_entries, on_evict,
                               &ex);
        while (s->max_entries && hone__pol_count(s->pol) > s->max_entries)
            hone__pol_evict_one(s->pol, on_evict, &ex);
        pthread_mutex_unlock(&s->mu);
    }
    c->o.max_entries = max_entries;
    c->o.max_bytes = max_bytes;
    return HONE_OK;
}

void hone_cache_stats_get(hone_cache *c, hone_cache_stats *st) {
    memset(st, 0, sizeof *st);
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        st->hits += s->hits;
        st->misses += s->misses;
        st->loads += s->loads;
        st->load_failures += s->load_failures;
        st->load_time_ns += s->load_time_ns;
        for (int r = 0; r < HONE_CACHE_REASON_COUNT; r++) st->evictions[r] += s->evictions[r];
        st->entries += hone__pol_count(s->pol);
        st->bytes += s->bytes;
        pthread_mutex_unlock(&s->mu);
    }
    st->max_entries = c->o.max_entries;
    st->max_bytes = c->o.max_bytes;
    if (st->hits + st->misses) st->hit_rate = (double)st->hits / (double)(st->hits + st->misses);
    double ue = st->max_entries ? 100.0 * (double)st->entries / (double)st->max_entries : 0;
    double ub = st->max_bytes ? 100.0 * (double)st->bytes / (double)st->max_bytes : 0;
    st->utilization = ue > ub ? ue : ub;
}

void hone_cache_stats_reset(hone_cache *c) {
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        s->hits = s->misses = s->loads = s->load_failures = s->load_time_ns = 0;
        memset(s->evictions, 0, sizeof s->evictions);
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

static void mem_one(void *ctx, uint64_t key, void *payload) {
    entry *e = payload;
    (void)key;
    *(uint64_t *)ctx += sizeof *e + e->klen + e->vlen;
}

uint64_t hone_cache_memory_size(hone_cache *c) {
    uint64_t m = sizeof *c + (uint64_t)c->nshards * sizeof(shard);
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        m += hone__pol_memory(s->pol);
        hone__pol_foreach(s->pol, mem_one, &m);
        for (flight *f = s->flights; f; f = f->next) m += sizeof *f + f->klen;
        pthread_mutex_unlock(&s->mu);
    }
    return m;
}
