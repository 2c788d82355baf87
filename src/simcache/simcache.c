/* simcache.c - the similarity cache: an exact tier (hone's memory cache,
 * mapping namespace + text to an entry), a similarity tier (a brute-force
 * scan of every entry's vector, exactly scored), hard gates between a
 * query and the candidates, per-entry thresholds tightened by feedback, a
 * byte budget with least-recently-used eviction, and TTLs.
 *
 * Layout: entries live in slots; the vectors are one contiguous array
 * (slot * dim floats) so the scan streams through memory, with the
 * per-slot threshold, namespace and expiry beside it in parallel arrays.
 * One rwlock guards all of it: lookups scan under the read lock; puts,
 * evictions, feedback and expiry take the write lock. The LRU list is
 * touched by lookups, so it has its own mutex, taken only inside the
 * rwlock (read or write), never the other way round. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "simcache/simcache_internal.h"

#define WRONG_MAX 16     /* wrong-reported query hashes kept per entry */
#define TOPK 8           /* candidates over threshold gate-checked per lookup */
#define NS_MAX 255       /* longest namespace */
#define FREE_NS UINT32_MAX

typedef struct sc_entry {
    uint64_t id;
    uint32_t slot, ns;
    size_t xlen, klen, alen; /* data = ns '\0' key, then the answer */
    uint64_t bytes;          /* what it counts against max_bytes */
    struct sc_entry *prev, *next; /* LRU: head is the most recent */
    uint64_t wrong[WRONG_MAX];
    unsigned nwrong, wpos;
    char data[];
} sc_entry;

static const char *e_key(const sc_entry *e) { return e->data + e->xlen - e->klen; }
static const char *e_answer(const sc_entry *e) { return e->data + e->xlen; }

typedef struct sc_ns {
    char *name; /* NULL: a free row */
    size_t len;
    uint32_t refs;
} sc_ns;

/* The exact tier's value: where the entry is. */
typedef struct sc_loc {
    uint64_t id;
    uint32_t slot;
} sc_loc;

struct hone_simcache {
    const hone_allocator *alloc;
    hone_sim_scorer scorer;
    hone_sim_ngram ngram;
    char label[48];
    size_t dim;
    double threshold, margin;
    unsigned gates_off;
    uint64_t max_bytes, ttl_ns;
    hone_cache_clock_fn clock;
    void *clock_ctx;
    uint64_t seed; /* of the feedback hashes */
    float (*dot)(const float *, const float *, size_t);
    hone_cache *exact;

    pthread_rwlock_t lock;
    pthread_mutex_t lru_mu;
    /* Slots (guarded by lock). */
    sc_entry **ent;
    float *vec;
    float *thr;
    uint32_t *nsid; /* FREE_NS: an empty slot */
    uint64_t *exp;  /* 0: never expires */
    uint32_t *freelist;
    size_t nfree, nslots, cap;
    sc_ns *ns;
    size_t nns;
    sc_entry *lru_head, *lru_tail; /* guarded by lru_mu */
    uint64_t next_id, bytes, entries;

    _Atomic uint64_t n_exact, n_similar, n_refused, n_near, n_miss, n_wrong, n_puts, n_evict,
        n_expired;
    _Atomic uint64_t n_gate[HONE_SIM_GATE_COUNT];
};

static void inc(_Atomic uint64_t *a) { atomic_fetch_add_explicit(a, 1, memory_order_relaxed); }
static uint64_t get(_Atomic uint64_t *a) { return atomic_load_explicit(a, memory_order_relaxed); }

static uint64_t now_ns(const hone_simcache *c) {
    return c->clock ? c->clock(c->clock_ctx) : hone_monotonic_ns();
}

static const char *const kind_names[] = {"miss", "exact", "similar", "refused", "near_miss"};

const char *hone_sim_kind_name(int kind) {
    return kind >= 0 && kind <= HONE_SIM_NEAR_MISS ? kind_names[kind] : NULL;
}

/* ------------------------------------------------------------------ */
/* Making and freeing                                                  */
/* ------------------------------------------------------------------ */

static float dot_dispatch(const float *a, const float *b, size_t n) { return hone_sim_dot(a, b, n); }

int hone_simcache_new(hone_simcache **out, const hone_simcache_opts *opts, hone_error *err) {
    if (!out) return hone_error_set(err, HONE_EINVAL, "hone_simcache_new: out is NULL");
    *out = NULL;
    hone_simcache_opts o;
    if (opts) o = *opts;
    else memset(&o, 0, sizeof o);
    if (o.scorer) {
        const hone_sim_scorer *s = o.scorer;
        if (!s->name || !*s->name || strlen(s->name) > 31)
            return hone_error_set(err, HONE_EINVAL,
                                  "simcache: the scorer needs a name of 1 to 31 bytes");
        if (s->version && strlen(s->version) > 15)
            return hone_error_set(err, HONE_EINVAL,
                                  "simcache: scorer version \"%s\" is longer than 15 bytes",
                                  s->version);
        if (s->dim < 1 || s->dim > 65536)
            return hone_error_set(err, HONE_EINVAL,
                                  "simcache: scorer dim %zu: expected 1 to 65536", s->dim);
        if (o.threshold == 0)
            return hone_error_set(err, HONE_EINVAL,
                                  "simcache: a threshold is required with scorer \"%s\" (its "
                                  "scores are its own: calibrate one with hone cache calibrate)",
                                  s->name);
    }
    if (!(o.threshold >= 0 && o.threshold <= 1))
        return hone_error_set(err, HONE_EINVAL, "simcache: threshold %g: expected 0 to 1",
                              o.threshold);
    if (!(o.near_miss_margin >= 0 && o.near_miss_margin < 1))
        return hone_error_set(err, HONE_EINVAL,
                              "simcache: near_miss_margin %g: expected 0 to below 1",
                              o.near_miss_margin);
    hone_simcache *c = hone_calloc(o.alloc, 1, sizeof *c);
    if (!c) return hone_error_set(err, HONE_ENOMEM, "simcache: out of memory");
    c->alloc = o.alloc;
    const char *name, *version;
    if (o.scorer) {
        c->scorer = *o.scorer;
        name = o.scorer->name;
        version = o.scorer->version ? o.scorer->version : "";
    } else {
        hone_sim_scorer_ngram(&c->scorer, &c->ngram, 0, 0);
        name = c->scorer.name;
        version = c->scorer.version;
    }
    if (!o.scorer) c->scorer.ctx = &c->ngram;
    snprintf(c->label, sizeof c->label, "%s/%s", name, version);
    c->scorer.name = NULL; /* the caller's strings are not kept */
    c->scorer.version = NULL;
    c->dim = c->scorer.dim;
    c->threshold = o.threshold ? o.threshold : HONE_SIM_NGRAM_THRESHOLD;
    c->margin = o.near_miss_margin ? o.near_miss_margin : 0.05;
    c->gates_off = o.gates_off & ~HONE_SIM_GATE_BIT(HONE_SIM_GATE_FEEDBACK);
    c->max_bytes = o.max_bytes ? o.max_bytes : (UINT64_C(64) << 20);
    c->ttl_ns = o.ttl_ns;
    c->clock = o.clock;
    c->clock_ctx = o.clock_ctx;
    c->seed = hone__sim_seed() ^ (uint64_t)(uintptr_t)c;
    c->dot = dot_dispatch;
    if (c->max_bytes < c->dim * sizeof(float)) {
        hone_free(c->alloc, c);
        return hone_error_set(err, HONE_EINVAL,
                              "simcache: max_bytes %llu is below one entry's vector (%zu bytes)",
                              (unsigned long long)o.max_bytes, c->dim * sizeof(float));
    }
    /* The exact tier maps ns '\0' key to where the entry is. It weighs at
     * most what the entries do (their keys, without vectors or answers),
     * so twice max_bytes in one shard never evicts on its own; the cache
     * deletes what it evicts. One shard: puts are serialised by the write
     * lock anyway, and reads of hone_cache take no lock. */
    hone_cache_options co = {0};
    co.alloc = c->alloc;
    co.max_bytes = c->max_bytes * 2 + 4096;
    co.shards = 1;
    co.clock = o.clock;
    co.clock_ctx = o.clock_ctx;
    int rc = hone_cache_new(&c->exact, &co);
    if (rc) {
        hone_free(c->alloc, c);
        return hone_error_set(err, rc, "simcache: exact tier: %s", hone_strerror(rc));
    }
    if (pthread_rwlock_init(&c->lock, NULL)) {
        hone_cache_free(c->exact);
        hone_free(c->alloc, c);
        return hone_error_set(err, HONE_ENOMEM, "simcache: cannot make a lock");
    }
    if (pthread_mutex_init(&c->lru_mu, NULL)) {
        pthread_rwlock_destroy(&c->lock);
        hone_cache_free(c->exact);
        hone_free(c->alloc, c);
        return hone_error_set(err, HONE_ENOMEM, "simcache: cannot make a lock");
    }
    *out = c;
    return HONE_OK;
}

void hone_simcache_free(hone_simcache *c) {
    if (!c) return;
    for (size_t i = 0; i < c->nslots; i++) hone_free(c->alloc, c->ent[i]);
    for (size_t i = 0; i < c->nns; i++) hone_free(c->alloc, c->ns[i].name);
    hone_free(c->alloc, c->ns);
    hone_free(c->alloc, c->ent);
    hone_free(c->alloc, c->vec);
    hone_free(c->alloc, c->thr);
    hone_free(c->alloc, c->nsid);
    hone_free(c->alloc, c->exp);
    hone_free(c->alloc, c->freelist);
    hone_cache_free(c->exact);
    pthread_mutex_destroy(&c->lru_mu);
    pthread_rwlock_destroy(&c->lock);
    hone_free(c->alloc, c);
}

double hone_simcache_threshold(const hone_simcache *c) { return c ? c->threshold : 0; }

/* ------------------------------------------------------------------ */
/* Namespaces, slots, LRU (callers hold the write lock unless said)    */
/* ------------------------------------------------------------------ */

/* The row of namespace ns, or -1. Read or write lock. */
static long ns_find(const hone_simcache *c, const char *ns, size_t len) {
    for (size_t i = 0; i < c->nns; i++)
        if (c->ns[i].name && c->ns[i].len == len && memcmp(c->ns[i].name, ns, len) == 0)
            return (long)i;
    return -1;
}

/* Finds or adds a row (refs unchanged). Returns the row or -1 (no memory). */
static long ns_add(hone_simcache *c, const char *ns, size_t len) {
    long r = ns_find(c, ns, len);
    if (r >= 0) return r;
    char *copy = hone_strndup(c->alloc, ns, len);
    if (!copy) return -1;
    size_t i = 0;
    while (i < c->nns && c->ns[i].name) i++;
    if (i == c->nns) {
        sc_ns *g = hone_realloc(c->alloc, c->ns, (c->nns + 1) * sizeof *g);
        if (!g) {
            hone_free(c->alloc, copy);
            return -1;
        }
        c->ns = g;
        c->nns++;
    }
    c->ns[i] = (sc_ns){copy, len, 0};
    return (long)i;
}

static void ns_unref_maybe_free(hone_simcache *c, long row) {
    if (row < 0 || c->ns[row].refs) return;
    hone_free(c->alloc, c->ns[row].name);
    c->ns[row].name = NULL;
    c->ns[row].len = 0;
}

/* Makes room for one more slot. Returns HONE_OK or HONE_ENOMEM (nothing
 * changed but capacity). */
static int slots_reserve(hone_simcache *c) {
    if (c->nfree || c->nslots < c->cap) return HONE_OK;
    size_t n = c->cap ? c->cap * 2 : 64;
    /* Each array is grown on its own; a failure leaves the ones already
     * grown larger, which is harmless (cap changes only at the end). */
    sc_entry **e = hone_realloc(c->alloc, c->ent, n * sizeof *e);
    if (!e) return HONE_ENOMEM;
    c->ent = e;
    float *v = hone_realloc(c->alloc, c->vec, n * c->dim * sizeof *v);
    if (!v) return HONE_ENOMEM;
    c->vec = v;
    float *t = hone_realloc(c->alloc, c->thr, n * sizeof *t);
    if (!t) return HONE_ENOMEM;
    c->thr = t;
    uint32_t *s = hone_realloc(c->alloc, c->nsid, n * sizeof *s);
    if (!s) return HONE_ENOMEM;
    c->nsid = s;
    uint64_t *x = hone_realloc(c->alloc, c->exp, n * sizeof *x);
    if (!x) return HONE_ENOMEM;
    c->exp = x;
    uint32_t *f = hone_realloc(c->alloc, c->freelist, n * sizeof *f);
    if (!f) return HONE_ENOMEM;
    c->freelist = f;
    c->cap = n;
    return HONE_OK;
}

static void lru_unlink(hone_simcache *c, sc_entry *e) {
    if (e->prev) e->prev->next = e->next;
    else c->lru_head = e->next;
    if (e->next) e->next->prev = e->prev;
    else c->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(hone_simcache *c, sc_entry *e) {
    e->prev = NULL;
    e->next = c->lru_head;
    if (c->lru_head) c->lru_head->prev = e;
    c->lru_head = e;
    if (!c->lru_tail) c->lru_tail = e;
}

/* Under the read lock: moves e to the front. */
static void lru_touch(hone_simcache *c, sc_entry *e) {
    pthread_mutex_lock(&c->lru_mu);
    if (c->lru_head != e) {
        lru_unlink(c, e);
        lru_push(c, e);
    }
    pthread_mutex_unlock(&c->lru_mu);
}

/* Removes and frees e; delete_exact also drops its exact-tier mapping
 * (not when a put has just replaced that mapping). */
static void remove_entry(hone_simcache *c, sc_entry *e, int delete_exact) {
    if (delete_exact) hone_cache_delete(c->exact, e->data, e->xlen);
    uint32_t s = e->slot;
    c->ent[s] = NULL;
    c->nsid[s] = FREE_NS;
    c->exp[s] = 0;
    c->freelist[c->nfree++] = s;
    c->ns[e->ns].refs--;
    ns_unref_maybe_free(c, (long)e->ns);
    lru_unlink(c, e);
    c->bytes -= e->bytes;
    c->entries--;
    hone_free(c->alloc, e);
}

static int expired(const hone_simcache *c, uint32_t slot, uint64_t now) {
    return c->exp[slot] && now >= c->exp[slot];
}

static void sweep_expired(hone_simcache *c, uint64_t now) {
    if (!c->ttl_ns) return;
    for (size_t s = 0; s < c->nslots; s++)
        if (c->ent[s] && expired(c, (uint32_t)s, now)) {
            remove_entry(c, c->ent[s], 1);
            inc(&c->n_expired);
        }
}

/* The live entry of the exact tier for xkey, or NULL. Read or write lock. */
static sc_entry *exact_find(hone_simcache *c, const char *xkey, size_t xlen, uint64_t now) {
    sc_loc loc;
    size_t vlen = 0;
    if (hone_cache_get(c->exact, xkey, xlen, &loc, sizeof loc, &vlen) != HONE_OK ||
        vlen != sizeof loc)
        return NULL;
    if (loc.slot >= c->nslots) return NULL;
    sc_entry *e = c->ent[loc.slot];
    if (!e || e->id != loc.id || e->xlen != xlen || memcmp(e->data, xkey, xlen) != 0) return NULL;
    if (expired(c, loc.slot, now)) return NULL;
    return e;
}

/* ns '\0' text in buf (stack) or allocated; *heap says which. */
static char *make_xkey(hone_simcache *c, const char *ns, size_t nslen, const char *text,
                       size_t len, char *buf, size_t cap, size_t *xlen, int *heap) {
    *xlen = nslen + 1 + len;
    char *p = buf;
    *heap = 0;
    if (*xlen > cap) {
        p = hone_malloc(c->alloc, *xlen);
        if (!p) return NULL;
        *heap = 1;
    }
    memcpy(p, ns, nslen);
    p[nslen] = 0;
    if (len) memcpy(p + nslen + 1, text, len);
    return p;
}

static uint64_t query_hash(const hone_simcache *c, const char *ns, size_t nslen, const char *q,
                           size_t qlen) {
    uint64_t h = XXH3_64bits_withSeed(ns, nslen, c->seed);
    return XXH3_64bits_withSeed(q, qlen, c->seed ^ h);
}

/* Copies vec into out, normalised. Returns HONE_OK or HONE_EINVAL. */
static int normalise(const float *vec, float *out, size_t dim) {
    double n = 0;
    for (size_t i = 0; i < dim; i++) n += (double)vec[i] * vec[i];
    if (!(n > 0) || !isfinite(n)) return HONE_EINVAL;
    float inv = (float)(1.0 / sqrt(n));
    for (size_t i = 0; i < dim; i++) out[i] = vec[i] * inv;
    return HONE_OK;
}

/* The query's vector: the caller's, normalised, or the scorer's. */
static int query_vector(hone_simcache *c, const char *text, size_t len, const float *vec,
                        float *out) {
    if (vec) return normalise(vec, out, c->dim);
    if (!c->scorer.embed) return HONE_ENOTSUP;
    return c->scorer.embed(c->scorer.ctx, text ? text : "", len, out);
}

/* ------------------------------------------------------------------ */
/* Put                                                                 */
/* ------------------------------------------------------------------ */

static int put_common(hone_simcache *c, const char *ns, const char *key, size_t klen,
                      const float *vec, const void *answer, size_t alen) {
    if (!c || (!key && klen) || (!answer && alen)) return HONE_EINVAL;
    if (!ns) ns = "";
    size_t nslen = strlen(ns);
    if (nslen > NS_MAX) return HONE_EINVAL;
    if (!vec && !c->scorer.embed) return HONE_ENOTSUP;
    size_t xlen = nslen + 1 + klen;
    if (xlen < klen || alen > SIZE_MAX - xlen - sizeof(sc_entry)) return HONE_ERANGE;
    uint64_t bytes = (uint64_t)xlen + alen + c->dim * sizeof(float);
    if (bytes > c->max_bytes) return HONE_ERANGE;
    sc_entry *e = hone_malloc(c->alloc, sizeof *e + xlen + alen);
    float *v = hone_malloc(c->alloc, c->dim * sizeof *v);
    if (!e || !v) {
        hone_free(c->alloc, e);
        hone_free(c->alloc, v);
        return HONE_ENOMEM;
    }
    memset(e, 0, sizeof *e);
    memcpy(e->data, ns, nslen);
    e->data[nslen] = 0;
    if (klen) memcpy(e->data + nslen + 1, key, klen);
    if (alen) memcpy(e->data + xlen, answer, alen);
    e->xlen = xlen;
    e->klen = klen;
    e->alen = alen;
    e->bytes = bytes;
    int rc = query_vector(c, key, klen, vec, v);
    if (rc) {
        hone_free(c->alloc, e);
        hone_free(c->alloc, v);
        return rc;
    }
    pthread_rwlock_wrlock(&c->lock);
    uint64_t now = now_ns(c);
    sweep_expired(c, now);
    long row = ns_add(c, ns, nslen);
    if (row < 0 || slots_reserve(c) != HONE_OK) {
        rc = HONE_ENOMEM;
        goto fail;
    }
    sc_entry *old = exact_find(c, e->data, xlen, 0);
    uint32_t slot = c->nfree ? c->freelist[c->nfree - 1] : (uint32_t)c->nslots;
    e->id = ++c->next_id;
    e->slot = slot;
    e->ns = (uint32_t)row;
    sc_loc loc = {e->id, slot};
    /* A put replaces the mapping of the same key: from here on the old
     * entry is unreachable by the exact tier and is removed below. */
    rc = hone_cache_put_ex(c->exact, e->data, xlen, &loc, sizeof loc, UINT64_MAX, 0);
    if (rc) goto fail;
    if (c->nfree) c->nfree--;
    else c->nslots++;
    c->ns[row].refs++;
    if (old) remove_entry(c, old, 0);
    c->ent[slot] = e;
    memcpy(c->vec + (size_t)slot * c->dim, v, c->dim * sizeof *v);
    c->thr[slot] = (float)c->threshold;
    c->nsid[slot] = (uint32_t)row;
    c->exp[slot] = c->ttl_ns ? now + c->ttl_ns : 0;
    if (c->exp[slot] == 0 && c->ttl_ns) c->exp[slot] = 1;
    pthread_mutex_lock(&c->lru_mu);
    lru_push(c, e);
    pthread_mutex_unlock(&c->lru_mu);
    c->bytes += e->bytes;
    c->entries++;
    /* The new entry alone fits, so the loop stops before reaching it. */
    while (c->bytes > c->max_bytes && c->lru_tail && c->lru_tail != e) {
        remove_entry(c, c->lru_tail, 1);
        inc(&c->n_evict);
    }
    pthread_rwlock_unlock(&c->lock);
    inc(&c->n_puts);
    hone_free(c->alloc, v);
    return HONE_OK;
fail:
    if (row >= 0) ns_unref_maybe_free(c, row);
    pthread_rwlock_unlock(&c->lock);
    hone_free(c->alloc, e);
    hone_free(c->alloc, v);
    return rc == HONE_EINVAL ? HONE_EINVAL : HONE_ENOMEM;
}

int hone_simcache_put(hone_simcache *c, const char *ns, const char *key, size_t klen,
                      const void *answer, size_t alen) {
    return put_common(c, ns, key, klen, NULL, answer, alen);
}

int hone_simcache_put_vec(hone_simcache *c, const char *ns, const char *key, size_t klen,
                          const float *vec, const void *answer, size_t alen) {
    if (!vec) return HONE_EINVAL;
    return put_common(c, ns, key, klen, vec, answer, alen);
}

/* ------------------------------------------------------------------ */
/* Get                                                                 */
/* ------------------------------------------------------------------ */

static void clip(char *dst, size_t cap, const char *s, size_t n) {
    if (n > cap - 1) n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
}

static void result_init(const hone_simcache *c, hone_sim_result *r) {
    memset(r, 0, sizeof *r);
    r->kind = HONE_SIM_MISS;
    r->threshold = c->threshold;
    snprintf(r->scorer, sizeof r->scorer, "%s", c->label);
    for (int g = 0; g < HONE_SIM_GATE_COUNT; g++) r->gates[g].passed = 1;
}

/* Describes candidate e in r (the gates are filled by the caller). */
static void result_entry(const hone_simcache *c, hone_sim_result *r, const sc_entry *e,
                         double score, double thr, long qrow) {
    r->entry_id = e->id;
    r->score = score;
    r->threshold = thr;
    clip(r->ns, sizeof r->ns, c->ns[e->ns].name, c->ns[e->ns].len);
    r->cross_namespace = qrow != (long)e->ns;
    clip(r->key, sizeof r->key, e_key(e), e->klen);
    r->key_len = e->klen;
}

typedef struct cand {
    float score;
    uint32_t slot;
} cand;

/* The namespace and feedback gates of candidate e. Returns 1 when both
 * pass (namespace only counts when on). */
static int meta_gates(const hone_simcache *c, const sc_entry *e, long qrow, uint64_t qh,
                      hone_sim_gate_result *g) {
    hone_sim_gate_result *n = &g[HONE_SIM_GATE_NAMESPACE], *f = &g[HONE_SIM_GATE_FEEDBACK];
    n->checked = !(c->gates_off & HONE_SIM_GATE_BIT(HONE_SIM_GATE_NAMESPACE));
    n->passed = qrow == (long)e->ns;
    n->detail[0] = 0;
    if (!n->passed) {
        char a[48];
        clip(a, sizeof a, c->ns[e->ns].name, c->ns[e->ns].len);
        snprintf(n->detail, sizeof n->detail, "entry of namespace \"%s\"", a);
    }
    f->checked = 1;
    f->passed = 1;
    f->detail[0] = 0;
    for (unsigned i = 0; i < e->nwrong; i++)
        if (e->wrong[i] == qh) {
            f->passed = 0;
            snprintf(f->detail, sizeof f->detail, "this query was reported wrong for entry %llu",
                     (unsigned long long)e->id);
        }
    return (n->passed || !n->checked) && f->passed;
}

static int get_common(hone_simcache *c, const char *ns, const char *query, size_t qlen,
                      const float *vec, hone_buf *answer, hone_sim_result *why) {
    if (!c || (!query && qlen)) return HONE_EINVAL;
    if (!query) query = "";
    if (!ns) ns = "";
    size_t nslen = strlen(ns);
    if (!vec && !c->scorer.embed) return HONE_ENOTSUP;
    hone_sim_result local;
    hone_sim_result *r = why ? why : &local;
    result_init(c, r);
    /* The exact tier. */
    char kbuf[512];
    size_t xlen;
    int heap;
    char *xkey = make_xkey(c, ns, nslen, query, qlen, kbuf, sizeof kbuf, &xlen, &heap);
    if (!xkey) return HONE_ENOMEM;
    int rc = HONE_ENOTFOUND;
    pthread_rwlock_rdlock(&c->lock);
    uint64_t now = now_ns(c);
    sc_entry *e = exact_find(c, xkey, xlen, now);
    if (e) {
        if (answer && hone_buf_append(answer, e_answer(e), e->alen) != HONE_OK) {
            rc = HONE_ENOMEM;
        } else {
            result_entry(c, r, e, 1.0, c->thr[e->slot], (long)e->ns);
            r->kind = HONE_SIM_EXACT;
            lru_touch(c, e);
            rc = HONE_OK;
        }
    }
    pthread_rwlock_unlock(&c->lock);
    if (heap) hone_free(c->alloc, xkey);
    if (rc == HONE_OK) inc(&c->n_exact);
    if (rc != HONE_ENOTFOUND) return rc;

    /* The similarity tier. */
    float *qv = hone_malloc(c->alloc, c->dim * sizeof *qv);
    hone__sim_text *ta = hone_malloc(c->alloc, 2 * sizeof *ta);
    if (!qv || !ta) {
        hone_free(c->alloc, qv);
        hone_free(c->alloc, ta);
        return HONE_ENOMEM;
    }
    rc = query_vector(c, query, qlen, vec, qv);
    if (rc) {
        hone_free(c->alloc, qv);
        hone_free(c->alloc, ta);
        return rc;
    }
    hone__sim_text *tq = &ta[0], *tk = &ta[1];
    int analysed = 0;
    uint64_t qh = query_hash(c, ns, nslen, query, qlen);
    int all_ns = (c->gates_off & HONE_SIM_GATE_BIT(HONE_SIM_GATE_NAMESPACE)) != 0;
    int saw_expired = 0;
    cand top[TOPK];
    size_t ntop = 0;
    float best = -2;
    uint32_t best_slot = 0;
    rc = HONE_ENOTFOUND;
    pthread_rwlock_rdlock(&c->lock);
    long qrow = ns_find(c, ns, nslen);
    if (qrow >= 0 || all_ns) {
        for (size_t s = 0; s < c->nslots; s++) {
            uint32_t sid = c->nsid[s];
            if (sid == FREE_NS) continue;
            if (!all_ns && (long)sid != qrow) continue;
            if (c->exp[s] && now >= c->exp[s]) {
                saw_expired = 1;
                continue;
            }
            float sc = c->dot(qv, c->vec + s * c->dim, c->dim);
            if (sc > best) {
                best = sc;
                best_slot = (uint32_t)s;
            }
            if (sc < c->thr[s]) continue;
            /* Insert into the top list, best first. */
            if (ntop == TOPK && sc <= top[TOPK - 1].score) continue;
            size_t i = ntop < TOPK ? ntop++ : TOPK - 1;
            while (i > 0 && top[i - 1].score < sc) {
                top[i] = top[i - 1];
                i--;
            }
            top[i] = (cand){sc, (uint32_t)s};
        }
    }
    if (ntop) {
        r->candidates = ntop;
        hone_sim_gate_result g[HONE_SIM_GATE_COUNT];
        int served = 0;
        for (size_t i = 0; i < ntop && !served; i++) {
            sc_entry *ce = c->ent[top[i].slot];
            if (!analysed) {
                hone__sim_analyze(tq, query, qlen);
                analysed = 1;
            }
            hone__sim_analyze(tk, e_key(ce), ce->klen);
            int ok = hone__sim_gates(tq, tk, c->gates_off, g);
            ok = meta_gates(c, ce, qrow, qh, g) && ok;
            if (ok || i == 0) {
                result_entry(c, r, ce, top[i].score, c->thr[top[i].slot], qrow);
                memcpy(r->gates, g, sizeof g);
            }
            if (ok) {
                if (answer && hone_buf_append(answer, e_answer(ce), ce->alen) != HONE_OK) {
                    rc = HONE_ENOMEM;
                    break;
                }
                r->kind = HONE_SIM_SIMILAR;
                lru_touch(c, ce);
                served = 1;
                rc = HONE_OK;
            }
        }
        if (!served && rc != HONE_ENOMEM) r->kind = HONE_SIM_REFUSED;
    } else if (best > -2) {
        sc_entry *be = c->ent[best_slot];
        result_entry(c, r, be, best, c->thr[best_slot], qrow);
        r->kind = best >= c->thr[best_slot] - c->margin ? HONE_SIM_NEAR_MISS : HONE_SIM_MISS;
        for (int gi = 0; gi < HONE_SIM_GATE_COUNT; gi++) r->gates[gi].checked = 0;
    }
    pthread_rwlock_unlock(&c->lock);
    hone_free(c->alloc, qv);
    hone_free(c->alloc, ta);
    if (saw_expired) {
        pthread_rwlock_wrlock(&c->lock);
        sweep_expired(c, now_ns(c));
        pthread_rwlock_unlock(&c->lock);
    }
    if (rc == HONE_ENOMEM) return rc;
    switch (r->kind) {
    case HONE_SIM_SIMILAR: inc(&c->n_similar); break;
    case HONE_SIM_REFUSED:
        inc(&c->n_refused);
        for (int gi = 0; gi < HONE_SIM_GATE_COUNT; gi++)
            if (r->gates[gi].checked && !r->gates[gi].passed) inc(&c->n_gate[gi]);
        break;
    case HONE_SIM_NEAR_MISS: inc(&c->n_near); break;
    default: inc(&c->n_miss); break;
    }
    return rc;
}

int hone_simcache_get(hone_simcache *c, const char *ns, const char *query, size_t qlen,
                      hone_buf *answer, hone_sim_result *why) {
    return get_common(c, ns, query, qlen, NULL, answer, why);
}

int hone_simcache_get_vec(hone_simcache *c, const char *ns, const char *query, size_t qlen,
                          const float *vec, hone_buf *answer, hone_sim_result *why) {
    if (!vec) return HONE_EINVAL;
    return get_common(c, ns, query, qlen, vec, answer, why);
}

/* ------------------------------------------------------------------ */
/* Feedback, delete, score                                             */
/* ------------------------------------------------------------------ */

int hone_simcache_report_wrong(hone_simcache *c, const char *ns, const char *query, size_t qlen,
                               const hone_sim_result *served) {
    if (!c || !served || (!query && qlen)) return HONE_EINVAL;
    if (served->kind != HONE_SIM_EXACT && served->kind != HONE_SIM_SIMILAR) return HONE_EINVAL;
    if (!ns) ns = "";
    if (!query) query = "";
    uint64_t qh = query_hash(c, ns, strlen(ns), query, qlen);
    inc(&c->n_wrong);
    int rc = HONE_ENOTFOUND;
    pthread_rwlock_wrlock(&c->lock);
    for (size_t s = 0; s < c->nslots; s++) {
        sc_entry *e = c->ent[s];
        if (!e || e->id != served->entry_id) continue;
        if (served->kind == HONE_SIM_EXACT) {
            remove_entry(c, e, 1);
        } else {
            e->wrong[e->wpos] = qh;
            e->wpos = (e->wpos + 1) % WRONG_MAX;
            if (e->nwrong < WRONG_MAX) e->nwrong++;
            double t = served->score + 0.001;
            if (t > 1.0) t = 1.0;
            if (t > c->thr[s]) c->thr[s] = (float)t;
        }
        rc = HONE_OK;
        break;
    }
    pthread_rwlock_unlock(&c->lock);
    return rc;
}

int hone_simcache_delete(hone_simcache *c, const char *ns, const char *key, size_t klen) {
    if (!c || (!key && klen)) return HONE_EINVAL;
    if (!ns) ns = "";
    if (!key) key = "";
    char kbuf[512];
    size_t xlen;
    int heap;
    char *xkey = make_xkey(c, ns, strlen(ns), key, klen, kbuf, sizeof kbuf, &xlen, &heap);
    if (!xkey) return HONE_ENOMEM;
    pthread_rwlock_wrlock(&c->lock);
    sc_entry *e = exact_find(c, xkey, xlen, 0);
    if (e) remove_entry(c, e, 1);
    pthread_rwlock_unlock(&c->lock);
    if (heap) hone_free(c->alloc, xkey);
    return e ? HONE_OK : HONE_ENOTFOUND;
}

int hone_simcache_score(hone_simcache *c, const char *a, size_t alen, const char *b, size_t blen,
                        double *score, hone_sim_result *gates) {
    if (!c || !score || (!a && alen) || (!b && blen)) return HONE_EINVAL;
    if (!c->scorer.embed) return HONE_ENOTSUP;
    if (!a) a = "";
    if (!b) b = "";
    float *v = hone_malloc(c->alloc, 2 * c->dim * sizeof *v);
    hone__sim_text *ta = gates ? hone_malloc(c->alloc, 2 * sizeof *ta) : NULL;
    if (!v || (gates && !ta)) {
        hone_free(c->alloc, v);
        hone_free(c->alloc, ta);
        return HONE_ENOMEM;
    }
    int rc = c->scorer.embed(c->scorer.ctx, a, alen, v);
    if (!rc) rc = c->scorer.embed(c->scorer.ctx, b, blen, v + c->dim);
    if (!rc) {
        double s = c->dot(v, v + c->dim, c->dim);
        *score = s;
        if (gates) {
            result_init(c, gates);
            gates->score = s;
            clip(gates->key, sizeof gates->key, b, blen);
            gates->key_len = blen;
            hone__sim_analyze(&ta[0], a, alen);
            hone__sim_analyze(&ta[1], b, blen);
            int ok = hone__sim_gates(&ta[0], &ta[1], c->gates_off, gates->gates);
            gates->gates[HONE_SIM_GATE_NAMESPACE].checked =
                !(c->gates_off & HONE_SIM_GATE_BIT(HONE_SIM_GATE_NAMESPACE));
            gates->gates[HONE_SIM_GATE_FEEDBACK].checked = 1;
            if (s >= c->threshold) {
                gates->kind = ok ? HONE_SIM_SIMILAR : HONE_SIM_REFUSED;
                gates->candidates = 1;
            } else {
                gates->kind = s >= c->threshold - c->margin ? HONE_SIM_NEAR_MISS : HONE_SIM_MISS;
            }
        }
    }
    hone_free(c->alloc, v);
    hone_free(c->alloc, ta);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Results as text, stats, metrics                                     */
/* ------------------------------------------------------------------ */

static int put_escaped(hone_buf *b, const char *s, size_t n) {
    int rc = hone_buf_puts(b, "\"");
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') rc = hone_buf_printf(b, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f) rc = hone_buf_printf(b, "\\x%02x", ch);
        else rc = hone_buf_append(b, &s[i], 1);
    }
    return rc ? rc : hone_buf_puts(b, "\"");
}

int hone_sim_result_format(const hone_sim_result *r, hone_buf *out) {
    if (!r || !out) return HONE_EINVAL;
    size_t mark = out->len;
    const char *kind = hone_sim_kind_name(r->kind);
    int rc = hone_buf_printf(out, "%s", kind ? kind : "unknown");
    if (!rc && r->entry_id) {
        rc = hone_buf_printf(out, " score=%.3f threshold=%.3f scorer=%s entry=%llu ns=", r->score,
                             r->threshold, r->scorer, (unsigned long long)r->entry_id);
        if (!rc) rc = put_escaped(out, r->ns, strlen(r->ns));
        if (!rc && r->cross_namespace) rc = hone_buf_puts(out, " cross_namespace");
        if (!rc) rc = hone_buf_puts(out, " key=");
        if (!rc) rc = put_escaped(out, r->key, strlen(r->key));
        if (!rc && r->key_len > strlen(r->key))
            rc = hone_buf_printf(out, "...(%zu bytes)", r->key_len);
    } else if (!rc) {
        rc = hone_buf_printf(out, " scorer=%s threshold=%.3f", r->scorer, r->threshold);
    }
    if (!rc && r->kind != HONE_SIM_EXACT && r->entry_id &&
        (r->kind == HONE_SIM_SIMILAR || r->kind == HONE_SIM_REFUSED)) {
        rc = hone_buf_puts(out, " gates=");
        for (int g = 0; g < HONE_SIM_GATE_COUNT && !rc; g++) {
            const hone_sim_gate_result *x = &r->gates[g];
            rc = hone_buf_printf(out, "%s%s:", g ? "," : "", hone_sim_gate_name(g));
            if (rc) break;
            if (!x->checked) rc = hone_buf_puts(out, x->passed ? "off" : "off(would fail)");
            else if (x->passed) rc = hone_buf_puts(out, "pass");
            else rc = hone_buf_printf(out, "FAIL(%s)", x->detail);
        }
    }
    if (rc) {
        out->len = mark;
        if (out->data) out->data[mark] = 0;
        return HONE_ENOMEM;
    }
    return HONE_OK;
}

void hone_simcache_stats_get(hone_simcache *c, hone_simcache_stats *st) {
    if (!st) return;
    memset(st, 0, sizeof *st);
    if (!c) return;
    st->exact_hits = get(&c->n_exact);
    st->similar_hits = get(&c->n_similar);
    st->refused = get(&c->n_refused);
    for (int g = 0; g < HONE_SIM_GATE_COUNT; g++) st->refused_by_gate[g] = get(&c->n_gate[g]);
    st->near_misses = get(&c->n_near);
    st->misses = get(&c->n_miss);
    st->wrong_reports = get(&c->n_wrong);
    st->puts = get(&c->n_puts);
    st->evictions = get(&c->n_evict);
    st->expired = get(&c->n_expired);
    pthread_rwlock_rdlock(&c->lock);
    st->entries = c->entries;
    st->bytes = c->bytes;
    pthread_rwlock_unlock(&c->lock);
    st->max_bytes = c->max_bytes;
}

int hone_simcache_metrics_update(hone_simcache *c, hone_metrics *m, const char *name,
                                 hone_error *err) {
    if (!c || !m || !name || !*name)
        return hone_error_set(err, HONE_EINVAL,
                              "hone_simcache_metrics_update: cache, registry and a non-empty "
                              "name are required");
    hone_simcache_stats st;
    hone_simcache_stats_get(c, &st);
    const int C = 1, G = 0;
    int rc;
    const struct {
        const char *result;
        uint64_t v;
    } lookups[] = {{"exact", st.exact_hits},
                   {"similar", st.similar_hits},
                   {"refused", st.refused},
                   {"near_miss", st.near_misses},
                   {"miss", st.misses}};
    for (size_t i = 0; i < sizeof lookups / sizeof lookups[0]; i++) {
        const char *l[] = {"simcache", name, "result", lookups[i].result, NULL};
        if ((rc = hone_metrics_mirror(m, C, "hone_simcache_lookups_total",
                             "Lookups by result: exact (exact tier), similar (served by "
                             "similarity), refused (over threshold, failed a gate), near_miss "
                             "(just under threshold), miss.",
                             l, (double)lookups[i].v, err)))
            return rc;
    }
    for (int g = 0; g < HONE_SIM_GATE_COUNT; g++) {
        const char *l[] = {"simcache", name, "gate", hone_sim_gate_name(g), NULL};
        if ((rc = hone_metrics_mirror(m, C, "hone_simcache_refusals_total",
                             "Gate failures of refused lookups' best candidates, by gate.", l,
                             (double)st.refused_by_gate[g], err)))
            return rc;
    }
    const char *evr[2] = {"size", "expired"};
    uint64_t evv[2] = {st.evictions, st.expired};
    for (int i = 0; i < 2; i++) {
        const char *l[] = {"simcache", name, "reason", evr[i], NULL};
        if ((rc = hone_metrics_mirror(m, C, "hone_simcache_evictions_total",
                             "Entries removed: size (least recently used, to fit max_bytes), "
                             "expired (time-to-live).",
                             l, (double)evv[i], err)))
            return rc;
    }
    const char *l[] = {"simcache", name, NULL};
    if ((rc = hone_metrics_mirror(m, C, "hone_simcache_wrong_reports_total",
                         "Served hits reported wrong by the caller.", l, (double)st.wrong_reports,
                         err)) ||
        (rc = hone_metrics_mirror(m, C, "hone_simcache_puts_total", "Entries stored.", l,
                         (double)st.puts, err)) ||
        (rc = hone_metrics_mirror(m, G, "hone_simcache_entries", "Entries held.", l, (double)st.entries,
                         err)) ||
        (rc = hone_metrics_mirror(m, G, "hone_simcache_bytes",
                         "Bytes of keys, namespaces, vectors and answers held.", l,
                         (double)st.bytes, err)) ||
        (rc = hone_metrics_mirror(m, G, "hone_simcache_max_bytes", "The byte budget.", l,
                         (double)st.max_bytes, err)) ||
        (rc = hone_metrics_mirror(m, G, "hone_simcache_threshold", "The default similarity threshold.", l,
                         c->threshold, err)))
        return rc;
    return HONE_OK;
}
