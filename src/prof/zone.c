/* zone.c - zone recording: site registration, the zone tree's paths,
 * per-thread slots written without locks, trace rings, and snapshots/resets
 * that merge every thread while the threads keep recording.
 *
 * Slots belong to paths, not sites. A path ("node") is a site under a parent
 * node (node 0 is the root); nodes live in one global table, interned once
 * under g_lock and found afterwards without a lock through an open-addressing
 * hash whose entries are written once and never move. A zone finds its node
 * when it begins (its children need it), so the end only records. Flat
 * per-site figures are the sums of the site's nodes, made when a snapshot
 * is taken: recording costs the same as when slots belonged to sites.
 *
 * Concurrency design (docs/design/prof.md has the long version). Each
 * thread owns its slots and is their only writer; it updates them with
 * relaxed atomic loads and stores (plain moves on x86), never with a
 * read-modify-write, so recording costs what a plain increment costs. A
 * snapshot reads every field with relaxed loads. Fields only grow, so a
 * reset does not zero anything: it stores, in reader-owned "baseline"
 * copies next to each field, the value it just read, and later snapshots
 * report current minus baseline. A record therefore lands, field by field,
 * in exactly one interval. The histogram counter of each slot's latest
 * record is incremented only with the slot's next record (slot_record says
 * why); readers add it themselves, reading the pointer to it and its
 * counter as one under a per-slot sequence count. Min and max cannot be subtracted; they carry a
 * generation number that a reset bumps, and the writer restarts them when
 * it sees a new generation. */
#include "hone/prof.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "prof/layout.h"
#include "prof/prof_internal.h"

int hone_prof_state;

#define PAGE_SLOTS 64
/* Slots are indexed by node id (1-based; slot 0 of page 0 stays unused),
 * which saves the hot path a subtraction. */
#define N_PAGES ((HONE_PROF_MAX_NODES + PAGE_SLOTS) / PAGE_SLOTS)
#define MAX_BLOCKS 40
/* The node hash: twice the nodes, so probes stay short when it is full. */
#define NODE_HASH_BITS 15
#define NODE_HASH (1u << NODE_HASH_BITS)

/* One zone on one thread. The writer fields are written only by the owning
 * thread; the base_ fields only by the snapshot taker under g_lock. Each
 * histogram block holds 2 * half_count counters: the writer's first, then
 * the baseline's, so that a reset never has to allocate. */
typedef struct slot {
    /* Everything the hot path touches outside the histogram comes first:
     * 64 bytes from count to pend. */
    uint64_t count, total, self, min, max;
    double sumsq;
    uint32_t gen; /* 1 + the thread generation min/max belong to; 0: none */
    /* The histogram counter of the latest record, which is added to it only
     * when the next record arrives (see slot_record); &none when there is
     * no such record. seq is odd while the writer moves it, so that a
     * reader can read pend and *pend as one. */
    uint32_t seq;
    uint64_t *pend;
    uint64_t *blocks[MAX_BLOCKS];
    uint64_t none; /* where a "pending" record that does not exist goes */
    uint64_t base_count, base_total, base_self;
    double base_sumsq;
} slot;

/* One traced call; begin and end in clock units. */
typedef struct ev {
    uint64_t begin, end, node;
} ev;

/* A thread's trace ring. The owner claims event number w (stores claim =
 * w + 1), writes it into e[w & mask], then commits it (head = w + 1); every
 * store is atomic, and the release ones keep that order for a reader on any
 * CPU. A reader copies events below head, then reads claim: an event below
 * claim - cap may have been overwritten while it was copied, so it is
 * dropped from the copy. No lock, no read-modify-write on the hot path. */
typedef struct ring {
    struct ring *next; /* the retired list */
    uint64_t claim, head;
    uint64_t tail; /* reader's: events below it belong to earlier intervals */
    uint64_t tid;
    char name[16];
    uint64_t mask;
    ev e[];
} ring;

typedef struct thr {
    struct thr *next;
    uint32_t gen; /* written by resets, read by the owner */
    hone_prof_scope *cur; /* innermost open zone, or &root */
    /* The parent of outermost zones, so that ending a zone adds its time
     * to its parent without testing for one; its child time is unused. */
    hone_prof_scope root;
    ring *ring; /* NULL until the thread first traces */
    pthread_t self;
    uint64_t tid;
    slot *pages[N_PAGES];
} thr;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static hone_allocator g_alloc; /* the default allocator when hone loaded */
static hone__layout g_layout;
static int g_frozen; /* a site registered: the layout cannot change */
static uint64_t g_slow_interval_ns = 1000000000u;
static hone_prof_site *g_sites[HONE_PROF_MAX_ZONES + 1];
static uint32_t g_nsites;
/* The nodes of the zone tree, under g_lock: site and parent, the site's
 * next node, and the tree's child lists, all in creation order. */
typedef struct node {
    uint32_t site, parent;
    uint32_t next_of_site;
    uint32_t first_child, last_child, next_sibling;
} node;
static node g_nodes[HONE_PROF_MAX_NODES + 1];
static uint32_t g_nnodes;
static uint32_t g_site_first[HONE_PROF_MAX_ZONES + 1], g_site_last[HONE_PROF_MAX_ZONES + 1];
/* (parent, site) -> node, read without the lock: an entry packs parent
 * (24 bits), site (16) and node (24) into one word that is written once. */
static uint64_t g_node_hash[NODE_HASH];
/* Tracing. */
static int g_trace;
static uint64_t g_trace_cap = 65536;
static uint64_t g_trace_lost; /* events not written: no ring */
static ring *g_retired_rings; /* newest first; under g_lock */
static uint32_t g_n_retired_rings;
static uint64_t g_retired_lost; /* events of rings freed past the bound */
static uint64_t g_trace_lost_base; /* g_trace_lost at the last reset */
/* The test clock, and the cycle count trace timestamps count from. */
static hone_prof_clock_fn g_clock;
static void *g_clock_ctx;
static uint64_t g_cyc0;
static uint64_t g_ns_mult_tsc;
static uint64_t g_cyc0_tsc; /* hone_cycles() when the profiler loaded */
static thr *g_threads;
static slot *g_retired[N_PAGES]; /* what exited threads recorded; under g_lock */
static uint64_t g_dropped;
static uint64_t g_interval_start;
/* Nanoseconds per cycle as 32.32 fixed point: one 64x64->128 multiply
 * converts, cheaper than the unsigned/double conversions on x86-64. */
static uint64_t g_ns_mult;

/* The histogram shape the hot path needs, copied out of g_layout when the
 * layout is set, so that finding a bucket is a handful of register
 * operations on one cache line of constants. */
static struct {
    uint64_t highest;  /* values above are recorded as this */
    uint64_t sub_mask; /* sub_count - 1 */
    uint32_t half_mag; /* log2(half_count) */
    uint32_t half_mask; /* half_count - 1 */
} g_hot;

static void hot_init(void) {
    g_hot.highest = g_layout.highest;
    g_hot.sub_mask = g_layout.sub_mask;
    g_hot.half_mag = (uint32_t)g_layout.half_mag;
    g_hot.half_mask = (uint32_t)(g_layout.half_count - 1);
}

static __thread thr *tls_thr __attribute__((tls_model("initial-exec")));

/* The time now in clock units: the cycle counter, or the test clock. */
static inline uint64_t now_units(void) {
    hone_prof_clock_fn c = __atomic_load_n(&g_clock, __ATOMIC_RELAXED);
    if (__builtin_expect(c != NULL, 0)) return c(__atomic_load_n(&g_clock_ctx, __ATOMIC_RELAXED));
    return hone_cycles();
}

#define LD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

static double ld_d(const double *p) {
    double v;
    __atomic_load(p, &v, __ATOMIC_RELAXED);
    return v;
}
static void st_d(double *p, double v) { __atomic_store(p, &v, __ATOMIC_RELAXED); }

static void thr_exit(void *p);

__extension__ typedef unsigned __int128 u128;
static inline uint64_t cyc_to_ns(uint64_t c) {
    return (uint64_t)(((u128)c * __atomic_load_n(&g_ns_mult, __ATOMIC_RELAXED)) >> 32);
}
/* Values stay far below 2^63, and the signed conversion is one
 * instruction where the unsigned one is several. */
static inline double to_d(uint64_t v) { return (double)(int64_t)v; }

static void once_init(void) {
    pthread_key_create(&g_key, thr_exit);
    pthread_mutex_lock(&g_lock);
    g_ns_mult_tsc = (uint64_t)(1e9 / hone_cycles_per_sec() * 4294967296.0 + 0.5);
    if (!g_clock) __atomic_store_n(&g_ns_mult, g_ns_mult_tsc, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&g_lock);
}

__attribute__((cold, noinline)) static void count_drop(void) { __atomic_fetch_add(&g_dropped, 1, __ATOMIC_RELAXED); }
uint64_t hone_prof_dropped(void) { return __atomic_load_n(&g_dropped, __ATOMIC_RELAXED); }

void hone_prof_enable(int on) { __atomic_store_n(&hone_prof_state, on ? 1 : 0, __ATOMIC_RELAXED); }
void hone_prof_trace(int on) { __atomic_store_n(&g_trace, on ? 1 : 0, __ATOMIC_RELAXED); }
int hone_prof_tracing(void) { return __atomic_load_n(&g_trace, __ATOMIC_RELAXED); }

int hone_prof_configure(const hone_prof_config *cfg) {
    hone_prof_config c = {0};
    if (cfg) c = *cfg;
    if (!c.significant_digits) c.significant_digits = 2;
    if (c.significant_digits < 1 || c.significant_digits > 3) return HONE_EINVAL;
    if (!c.slow_log_interval_ns) c.slow_log_interval_ns = 1000000000u;
    if (!c.trace_events) c.trace_events = 65536;
    if (c.trace_events < 2 || c.trace_events > (1u << 24)) return HONE_EINVAL;
    uint64_t cap = 2;
    while (cap < c.trace_events) cap <<= 1;
    pthread_once(&g_once, once_init);
    pthread_mutex_lock(&g_lock);
    int rc = HONE_OK;
    if (g_frozen && c.significant_digits != g_layout.digits) {
        rc = HONE_ESTATE;
    } else {
        /* Recorders read the layout without the lock once sites exist, so
         * it is written only before that. */
        if (!g_frozen) {
            hone__layout_init(&g_layout, c.significant_digits, 3600000000000ull);
            hot_init();
        }
        __atomic_store_n(&g_slow_interval_ns, c.slow_log_interval_ns, __ATOMIC_RELAXED);
        __atomic_store_n(&g_trace_cap, cap, __ATOMIC_RELAXED);
        /* With a clock of nanoseconds, conversions are the identity and
         * timestamps are its readings. */
        __atomic_store_n(&g_clock_ctx, c.clock_ctx, __ATOMIC_RELAXED);
        __atomic_store_n(&g_clock, c.clock, __ATOMIC_RELAXED);
        __atomic_store_n(&g_ns_mult, c.clock ? (uint64_t)1 << 32 : g_ns_mult_tsc, __ATOMIC_RELAXED);
        __atomic_store_n(&g_cyc0, c.clock ? 0 : g_cyc0_tsc, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

/* Assigns site its id (1-based) under g_lock; 0 when the table is full. */
__attribute__((cold, noinline)) static uint32_t site_register(hone_prof_site *site) {
    pthread_mutex_lock(&g_lock);
    uint32_t id = __atomic_load_n(&site->id, __ATOMIC_ACQUIRE);
    if (!id && g_nsites < HONE_PROF_MAX_ZONES) {
        g_frozen = 1;
        id = ++g_nsites;
        g_sites[id] = site;
        __atomic_store_n(&site->id, id, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&g_lock);
    return id;
}

static inline uint32_t node_hash(uint32_t parent, uint32_t site) {
    return ((parent << 12 ^ site) * 0x9E3779B1u) >> (32 - NODE_HASH_BITS);
}

/* Interns (parent, site) under g_lock; 0 when the table is full. */
__attribute__((cold, noinline)) static uint32_t node_insert(uint32_t parent, uint32_t site) {
    uint64_t key = (uint64_t)parent << 16 | site;
    pthread_mutex_lock(&g_lock);
    uint32_t h = node_hash(parent, site), id = 0;
    for (;; h = (h + 1) & (NODE_HASH - 1)) {
        uint64_t e = g_node_hash[h];
        if (!e) break;
        if (e >> 24 == key) {
            id = (uint32_t)(e & 0xffffff);
            break;
        }
    }
    if (!id && g_nnodes < HONE_PROF_MAX_NODES) {
        id = ++g_nnodes;
        node *n = &g_nodes[id];
        n->site = site;
        n->parent = parent;
        if (g_site_last[site])
            g_nodes[g_site_last[site]].next_of_site = id;
        else
            g_site_first[site] = id;
        g_site_last[site] = id;
        node *p = &g_nodes[parent];
        if (p->last_child)
            g_nodes[p->last_child].next_sibling = id;
        else
            p->first_child = id;
        p->last_child = id;
        __atomic_store_n(&g_node_hash[h], key << 24 | id, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&g_lock);
    return id;
}

/* The node of site under parent, made on first use; 0 when the table is
 * full. One hash and, nearly always, one load. */
static inline uint32_t node_find(uint32_t parent, uint32_t site) {
    uint64_t key = (uint64_t)parent << 16 | site;
    for (uint32_t h = node_hash(parent, site);; h = (h + 1) & (NODE_HASH - 1)) {
        uint64_t e = __atomic_load_n(&g_node_hash[h], __ATOMIC_ACQUIRE);
        if (__builtin_expect(e >> 24 == key, 1)) return (uint32_t)(e & 0xffffff);
        if (!e) return node_insert(parent, site);
    }
}

static thr *thr_create(void) {
    pthread_once(&g_once, once_init);
    thr *t = hone_calloc(&g_alloc, 1, sizeof *t);
    if (!t) return NULL;
    t->self = pthread_self();
    t->tid = (uint64_t)syscall(SYS_gettid);
    pthread_mutex_lock(&g_lock);
    t->cur = &t->root;
    t->next = g_threads;
    g_threads = t;
    pthread_mutex_unlock(&g_lock);
    pthread_setspecific(g_key, t);
    tls_thr = t;
    return t;
}

__attribute__((cold, noinline)) static slot *page_alloc(thr *t, uint32_t pg) {
    slot *page = hone_calloc(&g_alloc, PAGE_SLOTS, sizeof *page);
    if (!page) return NULL;
    for (int k = 0; k < PAGE_SLOTS; k++) page[k].pend = &page[k].none;
    __atomic_store_n(&t->pages[pg], page, __ATOMIC_RELEASE);
    return page;
}

/* The slot for id on t, made on first use; NULL when out of memory. */
static inline slot *thr_slot(thr *t, uint32_t id, int create) {
    slot *page = __atomic_load_n(&t->pages[id / PAGE_SLOTS], __ATOMIC_ACQUIRE);
    if (__builtin_expect(!page, 0) && (!create || !(page = page_alloc(t, id / PAGE_SLOTS)))) return NULL;
    return &page[id % PAGE_SLOTS];
}

__attribute__((cold, noinline)) static uint64_t *block_alloc(slot *s, uint32_t b) {
    uint64_t *blk = hone_calloc(&g_alloc, 2 * g_layout.half_count, sizeof *blk);
    if (blk)
        __atomic_store_n(&s->blocks[b], blk, __ATOMIC_RELEASE);
    else
        count_drop();
    return blk;
}

/* The cold tail of slot_record: the value's histogram block does not exist
 * yet. Allocates it and records there; a failed allocation drops the
 * record (counted), as the fields must stay consistent with the
 * histogram. */
__attribute__((cold, noinline)) static void slot_record_new_block(slot *s, uint32_t gen, uint64_t ns,
                                                                  uint64_t self_ns);

/* Records one value into s: the owner's hot path. Branch-light on purpose:
 * the only branches are the missing-block and new-generation cases, both
 * cold.
 *
 * The histogram increment is one record behind: this record's counter is
 * only remembered in s->pend, and the previous record's counter is
 * incremented now. Incrementing this record's own counter means a load and
 * a store whose address depends on the cycle counter just read; measured
 * on AMD EPYC (Zen, KVM), that one increment made a zone cost 1.5x two
 * rdtsc reads, while everything else here (about 100 instructions,
 * including the bucket index and the block load) hides in the shadow of
 * the reads (1.0x). The remembered pointer was stored a whole record
 * earlier, so its address is known at once. Readers count the pending
 * record as part of its counter (slot_collect, thr_exit), so a record is
 * never late nor counted twice. */
static inline __attribute__((always_inline)) void slot_record(slot *s, uint32_t gen, uint64_t ns,
                                                              uint64_t self_ns) {
    uint64_t v = ns < g_hot.highest ? ns : g_hot.highest;
    /* HdrHistogram's index (see hone__layout_index), with the constants
     * preloaded: the power of two v falls in, then the linear step. */
    uint32_t hm = g_hot.half_mag;
    int bucket = (63 - __builtin_clzll(v | g_hot.sub_mask)) - (int)hm;
    uint32_t idx = (uint32_t)(((uint64_t)(bucket + 1) << hm) + (v >> bucket)) - (g_hot.half_mask + 1);
    uint64_t *blk = s->blocks[idx >> hm];
    if (__builtin_expect(!blk, 0)) {
        slot_record_new_block(s, gen, ns, self_ns);
        return;
    }
    /* A seqlock write without fences (TSan does not model them): the
     * release stores keep the odd count ahead of the two moves, which is
     * what a reader that sees either move needs. All plain movs on x86. */
    uint32_t q = s->seq;
    ST(&s->seq, q + 1);
    uint64_t *prev = s->pend;
    __atomic_store_n(prev, *prev + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&s->pend, &blk[idx & g_hot.half_mask], __ATOMIC_RELEASE);
    __atomic_store_n(&s->seq, q + 2, __ATOMIC_RELEASE);
    ST(&s->count, s->count + 1);
    ST(&s->total, s->total + ns);
    ST(&s->self, s->self + self_ns);
    st_d(&s->sumsq, s->sumsq + to_d(ns) * to_d(ns));
    if (__builtin_expect(s->gen != gen, 0)) {
        /* The first record since a reset restarts min and max; the
         * release store of gen publishes them to the reader. */
        ST(&s->min, ns);
        ST(&s->max, ns);
        __atomic_store_n(&s->gen, gen, __ATOMIC_RELEASE);
        return;
    }
    uint64_t mn = s->min, mx = s->max;
    ST(&s->min, ns < mn ? ns : mn);
    ST(&s->max, ns > mx ? ns : mx);
}

static void slot_record_new_block(slot *s, uint32_t gen, uint64_t ns, uint64_t self_ns) {
    uint64_t v = ns < g_hot.highest ? ns : g_hot.highest;
    uint32_t b = hone__layout_index(&g_layout, v) >> g_layout.half_mag;
    if (!block_alloc(s, b)) return;
    slot_record(s, gen, ns, self_ns);
}

__attribute__((cold, noinline)) static void slow_log(hone_prof_site *site, uint64_t ns) {
    uint64_t now = hone_monotonic_ns();
    uint64_t last = __atomic_load_n(&site->slow_last_ns, __ATOMIC_RELAXED);
    uint64_t every = __atomic_load_n(&g_slow_interval_ns, __ATOMIC_RELAXED);
    /* One line per interval per site: the thread that wins the exchange
     * logs, the others count themselves into the next line. */
    if ((last && now - last < every) ||
        !__atomic_compare_exchange_n(&site->slow_last_ns, &last, now, 0, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED)) {
        __atomic_fetch_add(&site->slow_suppressed, 1, __ATOMIC_RELAXED);
        return;
    }
    uint32_t sup = __atomic_exchange_n(&site->slow_suppressed, 0, __ATOMIC_RELAXED);
    char more[64] = "";
    if (sup) snprintf(more, sizeof more, " (%u more slow calls since the last line)", sup);
    hone_log((hone_log_level)site->slow_level, "prof",
             "slow call: zone '%s' took %.3f ms, threshold %.3f ms, at %s:%d%s", site->name,
             (double)ns / 1e6, (double)site->slow_ns / 1e6, site->file ? site->file : "?", site->line,
             more);
}

/* Records one call of node id on this thread (the shared tail of end and
 * record). */
static inline __attribute__((always_inline)) void record(thr *t, hone_prof_site *site, uint32_t id,
                                                         uint64_t ns, uint64_t self_ns) {
    slot *s = thr_slot(t, id, 1);
    if (__builtin_expect(!s, 0)) {
        count_drop();
        return;
    }
    slot_record(s, LD(&t->gen) + 1, ns, self_ns);
    if (__builtin_expect(site->slow_ns != 0, 0) && ns > site->slow_ns) slow_log(site, ns);
}

/* The node of site under the zone open on t; 0 (counted) when the site or
 * node tables are full. */
static inline __attribute__((always_inline)) uint32_t site_node(thr *t, hone_prof_site *site) {
    uint32_t sid = __atomic_load_n(&site->id, __ATOMIC_ACQUIRE);
    if (__builtin_expect(!sid, 0) && !(sid = site_register(site))) {
        count_drop();
        return 0;
    }
    uint32_t id = node_find(t->cur->node, sid);
    if (__builtin_expect(!id, 0)) count_drop();
    return id;
}

__attribute__((cold, noinline)) static ring *ring_new(thr *t) {
    uint64_t cap = __atomic_load_n(&g_trace_cap, __ATOMIC_RELAXED);
    ring *r = hone_calloc(&g_alloc, 1, sizeof *r + cap * sizeof(ev));
    if (!r) {
        __atomic_fetch_add(&g_trace_lost, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    r->mask = cap - 1;
    r->tid = t->tid;
    pthread_getname_np(pthread_self(), r->name, sizeof r->name);
    /* Published under the lock, so that snapshots see whole rings. */
    pthread_mutex_lock(&g_lock);
    __atomic_store_n(&t->ring, r, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&g_lock);
    return r;
}

/* Writes one event into t's ring (see struct ring for the protocol). */
static inline __attribute__((always_inline)) void trace_put(thr *t, uint64_t begin, uint64_t end,
                                                            uint32_t id) {
    ring *r = t->ring;
    if (__builtin_expect(!r, 0) && !(r = ring_new(t))) return;
    uint64_t w = r->claim;
    ST(&r->claim, w + 1);
    ev *e = &r->e[w & r->mask];
    __atomic_store_n(&e->begin, begin, __ATOMIC_RELEASE);
    __atomic_store_n(&e->end, end, __ATOMIC_RELEASE);
    __atomic_store_n(&e->node, (uint64_t)id, __ATOMIC_RELEASE);
    __atomic_store_n(&r->head, w + 1, __ATOMIC_RELEASE);
}

void hone_prof_begin_slow(hone_prof_site *site, hone_prof_scope *z) {
    thr *t = tls_thr;
    if (__builtin_expect(!t, 0) && !(t = thr_create())) {
        count_drop();
        z->site = NULL;
        return;
    }
    uint32_t id = site_node(t, site);
    if (__builtin_expect(!id, 0)) {
        z->site = NULL;
        return;
    }
    z->site = site;
    z->node = id;
    z->parent = t->cur;
    z->child = 0;
    t->cur = z;
    z->start = now_units();
}

void hone_prof_end_slow(hone_prof_scope *z) {
    uint64_t end = now_units();
    uint64_t d = end - z->start;
    thr *t = tls_thr;
    hone_prof_site *site = z->site;
    z->site = NULL;
    if (__builtin_expect(!t, 0)) return; /* the thread's state went away under a late destructor */
    hone_prof_scope *parent = z->parent;
    t->cur = parent;
    parent->child += d;
    uint64_t self = d > z->child ? d - z->child : 0;
    record(t, site, z->node, cyc_to_ns(d), cyc_to_ns(self));
    if (__builtin_expect(LD(&g_trace), 0)) trace_put(t, z->start, end, z->node);
}

void hone_prof_record(hone_prof_site *site, uint64_t ns) {
    if (!hone_prof_enabled()) return;
    thr *t = tls_thr;
    if (!t && !(t = thr_create())) {
        count_drop();
        return;
    }
    uint32_t id = site_node(t, site);
    if (id) record(t, site, id, ns, ns);
}

/* ---- reading side, all under g_lock -------------------------------- */

/* The interval's sums for one zone, merged over threads. */
typedef struct acc {
    uint64_t count, total, self, min, max;
    double sumsq;
    uint64_t *counts; /* flat, g_layout.counts_len; zero outside [lo, hi) */
    uint32_t lo, hi;  /* the range of blocks that had counts */
} acc;

static void acc_range(acc *a, uint32_t b) {
    uint32_t lo = b << g_layout.half_mag, hi = (b + 1) << g_layout.half_mag;
    if (lo < a->lo) a->lo = lo;
    if (hi > a->hi) a->hi = hi;
}

static void acc_add_minmax(acc *a, uint64_t mn, uint64_t mx) {
    if (mn < a->min) a->min = mn;
    if (mx > a->max) a->max = mx;
}

/* Adds what s recorded since its baseline to a; with reset, moves the
 * baseline up to what was read. */
static void slot_collect(slot *s, uint32_t gen, acc *a, int reset) {
    const hone__layout *l = &g_layout;
    /* First the pending record's counter and that counter's value without
     * it, as one consistent pair (a seqlock read: the writer holds seq odd
     * for a few instructions). Its counter is then read as that value plus
     * one. Every counter read this way only grows, record by record, so
     * baselines split records between intervals exactly. */
    uint64_t *pend, pend_v;
    for (;;) {
        /* Acquire loads throughout: each keeps the next load after it,
         * so the second read of seq cannot move before the pair. */
        uint32_t q = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        pend = __atomic_load_n(&s->pend, __ATOMIC_ACQUIRE);
        pend_v = __atomic_load_n(pend, __ATOMIC_ACQUIRE);
        if (!(q & 1) && __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) == q) break;
        sched_yield();
    }
    uint64_t c = LD(&s->count);
    uint64_t dc = c - s->base_count;
    uint64_t tot = LD(&s->total), self = LD(&s->self);
    double sq = ld_d(&s->sumsq);
    a->count += dc;
    a->total += tot - s->base_total;
    a->self += self - s->base_self;
    a->sumsq += sq - s->base_sumsq;
    if (dc && __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) == gen + 1)
        acc_add_minmax(a, LD(&s->min), LD(&s->max));
    for (uint32_t b = 0; b < MAX_BLOCKS && b <= (uint32_t)l->bucket_count; b++) {
        uint64_t *blk = __atomic_load_n(&s->blocks[b], __ATOMIC_ACQUIRE);
        if (!blk) continue;
        acc_range(a, b);
        uint64_t *base = blk + l->half_count;
        for (uint64_t k = 0; k < l->half_count; k++) {
            uint64_t v = &blk[k] == pend ? pend_v + 1 : LD(&blk[k]);
            a->counts[(b << l->half_mag) + k] += v - base[k];
            if (reset) base[k] = v;
        }
    }
    if (reset) {
        s->base_count = c;
        s->base_total = tot;
        s->base_self = self;
        s->base_sumsq = sq;
    }
}

/* Folds the retired accumulator of one zone into a; reset zeroes it. The
 * retired slots keep no baseline: only the reader touches them. */
static void retired_collect(slot *s, acc *a, int reset) {
    const hone__layout *l = &g_layout;
    if (!s->count) return;
    a->count += s->count;
    a->total += s->total;
    a->self += s->self;
    a->sumsq += s->sumsq;
    acc_add_minmax(a, s->min, s->max);
    for (uint32_t b = 0; b < MAX_BLOCKS; b++) {
        if (!s->blocks[b]) continue;
        acc_range(a, b);
        for (uint64_t k = 0; k < l->half_count; k++) {
            a->counts[(b << l->half_mag) + k] += s->blocks[b][k];
            if (reset) s->blocks[b][k] = 0;
        }
    }
    if (reset) {
        s->count = s->total = s->self = s->max = 0;
        s->min = UINT64_MAX;
        s->sumsq = 0;
    }
}

static slot *retired_slot(uint32_t id) {
    uint32_t i = id;
    if (!g_retired[i / PAGE_SLOTS]) {
        slot *p = hone_calloc(&g_alloc, PAGE_SLOTS, sizeof *p);
        if (!p) return NULL;
        for (int k = 0; k < PAGE_SLOTS; k++) p[k].min = UINT64_MAX;
        g_retired[i / PAGE_SLOTS] = p;
    }
    return &g_retired[i / PAGE_SLOTS][i % PAGE_SLOTS];
}

/* A thread is exiting: fold its interval into the retired accumulator so
 * that snapshots still see it, and free its memory. */
static void thr_exit(void *p) {
    thr *t = p;
    const hone__layout *l = &g_layout;
    pthread_mutex_lock(&g_lock);
    for (thr **pp = &g_threads; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    for (uint32_t id = 1; id <= g_nnodes; id++) {
        slot *s = thr_slot(t, id, 0);
        if (!s || s->count == s->base_count) continue;
        slot *r = retired_slot(id);
        int lost = !r;
        if (r) {
            r->count += s->count - s->base_count;
            r->total += s->total - s->base_total;
            r->self += s->self - s->base_self;
            r->sumsq += s->sumsq - s->base_sumsq;
            if (s->gen == t->gen + 1) {
                if (s->min < r->min) r->min = s->min;
                if (s->max > r->max) r->max = s->max;
            }
        }
        for (uint32_t b = 0; b < MAX_BLOCKS; b++) {
            if (!s->blocks[b]) continue;
            if (r && !r->blocks[b]) r->blocks[b] = hone_calloc(&g_alloc, 2 * l->half_count, sizeof(uint64_t));
            if (r && r->blocks[b])
                for (uint64_t k = 0; k < l->half_count; k++) /* the pending record included */
                    r->blocks[b][k] += s->blocks[b][k] + (&s->blocks[b][k] == s->pend) -
                                       s->blocks[b][k + l->half_count];
            else
                lost = 1;
        }
        if (lost) __atomic_fetch_add(&g_dropped, s->count - s->base_count, __ATOMIC_RELAXED);
    }
    /* The ring stays for the next snapshot, among a bounded number of
     * exited threads' rings: the oldest goes, its events counted. */
    ring *r = t->ring;
    if (r) {
        pthread_getname_np(pthread_self(), r->name, sizeof r->name);
        r->next = g_retired_rings;
        g_retired_rings = r;
        if (++g_n_retired_rings > HONE_PROF_TRACE_RETIRED) {
            ring **pp = &g_retired_rings;
            while ((*pp)->next) pp = &(*pp)->next;
            g_retired_lost += (*pp)->head - (*pp)->tail;
            hone_free(&g_alloc, *pp);
            *pp = NULL;
            g_n_retired_rings--;
        }
        t->ring = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    for (uint32_t pg = 0; pg < N_PAGES; pg++) {
        slot *page = t->pages[pg];
        if (!page) continue;
        for (int k = 0; k < PAGE_SLOTS; k++)
            for (uint32_t b = 0; b < MAX_BLOCKS; b++) hone_free(&g_alloc, page[k].blocks[b]);
        hone_free(&g_alloc, page);
    }
    if (tls_thr == t) tls_thr = NULL;
    hone_free(&g_alloc, t);
}

/* Fills z's statistics from a. */
static void acc_finish(acc *a, hone_prof_zone *z) {
    const hone__layout *l = &g_layout;
    uint64_t hist_total = 0, lo = UINT32_MAX, hi = 0;
    for (uint32_t i = a->lo; i < a->hi; i++)
        if (a->counts[i]) {
            hist_total += a->counts[i];
            if (lo == UINT32_MAX) lo = i;
            hi = i;
        }
    z->count = a->count;
    z->total_ns = a->total;
    z->self_ns = a->self;
    z->mean_ns = a->count ? (double)a->total / (double)a->count : 0;
    double var = a->count ? a->sumsq / (double)a->count - z->mean_ns * z->mean_ns : 0;
    z->std_ns = var > 0 ? sqrt(var) : 0;
    z->min_ns = a->min;
    z->max_ns = a->max;
    if (hist_total) {
        /* Records racing with a reset can miss the exact min/max; the
         * histogram never does, so it bounds them. */
        uint64_t lo_v = hone__layout_value(l, (uint32_t)lo);
        uint64_t lo_hi = lo_v + hone__layout_width(l, (uint32_t)lo) - 1;
        uint64_t hi_v = hone__layout_value(l, (uint32_t)hi);
        uint64_t hi_hi = hi_v + hone__layout_width(l, (uint32_t)hi) - 1;
        if (a->min == UINT64_MAX || a->min > lo_hi) z->min_ns = lo_v;
        if (a->max < hi_v) z->max_ns = hi_hi;
        z->p50_ns = hone__hist_percentile_counts(l, a->counts, a->lo, a->hi, hist_total, 50);
        z->p90_ns = hone__hist_percentile_counts(l, a->counts, a->lo, a->hi, hist_total, 90);
        z->p99_ns = hone__hist_percentile_counts(l, a->counts, a->lo, a->hi, hist_total, 99);
        z->p999_ns = hone__hist_percentile_counts(l, a->counts, a->lo, a->hi, hist_total, 99.9);
        uint64_t *ps[4] = {&z->p50_ns, &z->p90_ns, &z->p99_ns, &z->p999_ns};
        for (int k = 0; k < 4; k++)
            if (*ps[k] > z->max_ns) *ps[k] = z->max_ns;
    } else if (a->min == UINT64_MAX) {
        z->min_ns = 0;
    }
}

/* Adds accumulator a into a site's accumulator m (the counts over the
 * ranges a had). */
static void acc_merge(acc *m, const acc *a) {
    m->count += a->count;
    m->total += a->total;
    m->self += a->self;
    m->sumsq += a->sumsq;
    acc_add_minmax(m, a->min, a->max);
    for (uint32_t i = a->lo; i < a->hi; i++) m->counts[i] += a->counts[i];
    if (a->lo < m->lo) m->lo = a->lo;
    if (a->hi > m->hi) m->hi = a->hi;
}

/* A ring to read, and the head it is read up to. */
typedef struct ring_read {
    ring *r;
    uint64_t head;
} ring_read;

static uint64_t ring_take(const ring *r, uint64_t head) {
    uint64_t n = head - r->tail;
    return n > r->mask + 1 ? r->mask + 1 : n;
}

/* Copies the interval's events of r below rr->head into ev_out (room for
 * ring_take of them) as snapshot events whose node is still the node id;
 * returns how many, and sets *lost to the interval's events no longer in
 * the ring. */
static size_t ring_collect(ring_read *rr, hone_prof_event *out, uint64_t *lost, int reset) {
    ring *r = rr->r;
    uint64_t cap = r->mask + 1, h = rr->head;
    uint64_t from = h - ring_take(r, h);
    size_t n = 0;
    for (uint64_t i = from; i < h; i++) {
        ev *e = &r->e[i & r->mask];
        out[n].begin_ns = __atomic_load_n(&e->begin, __ATOMIC_ACQUIRE);
        out[n].end_ns = __atomic_load_n(&e->end, __ATOMIC_ACQUIRE);
        out[n].node = (size_t)__atomic_load_n(&e->node, __ATOMIC_ACQUIRE);
        n++;
    }
    /* Events the writer may have overwritten while they were copied. */
    uint64_t c = __atomic_load_n(&r->claim, __ATOMIC_ACQUIRE);
    uint64_t valid = c > cap ? c - cap : 0;
    size_t skip = valid > from ? (size_t)(valid - from < n ? valid - from : n) : 0;
    if (skip) memmove(out, out + skip, (n - skip) * sizeof *out);
    n -= skip;
    *lost = (from + skip) - r->tail;
    if (reset) r->tail = h;
    return n;
}

static uint64_t units_to_ts(uint64_t u, uint64_t base) { return u > base ? cyc_to_ns(u - base) : 0; }

static int cmp_event(const void *pa, const void *pb) {
    const hone_prof_event *a = pa, *b = pb;
    if (a->begin_ns != b->begin_ns) return a->begin_ns < b->begin_ns ? -1 : 1;
    if (a->end_ns != b->end_ns) return a->end_ns > b->end_ns ? -1 : 1;
    return (a->node > b->node) - (a->node < b->node);
}

int hone__prof_collect(hone_prof_snapshot *out, const hone_allocator *alloc, int reset) {
    memset(out, 0, sizeof *out);
    out->alloc = alloc;
    pthread_once(&g_once, once_init);
    pthread_mutex_lock(&g_lock);
    if (!g_layout.digits) {
        hone__layout_init(&g_layout, 2, 3600000000000ull);
        hot_init();
    }
    uint32_t n = g_nsites, nn = g_nnodes;
    /* The rings to read: live threads' and exited threads'. */
    size_t nr = g_n_retired_rings;
    for (thr *t = g_threads; t; t = t->next) nr += __atomic_load_n(&t->ring, __ATOMIC_ACQUIRE) != NULL;
    int rc = HONE_ENOMEM;
    uint64_t *counts = hone_calloc(alloc, g_layout.counts_len, sizeof *counts);
    uint64_t *ncounts = hone_calloc(alloc, g_layout.counts_len, sizeof *ncounts);
    hone_prof_zone *zones = hone_calloc(alloc, n ? n : 1, sizeof *zones);
    hone_prof_zone *nstats = hone_calloc(alloc, nn + 1, sizeof *nstats);
    uint32_t *map = hone_calloc(alloc, nn + 1, sizeof *map);
    hone_prof_node *nodes = hone_calloc(alloc, nn ? nn : 1, sizeof *nodes);
    char **owned = hone_calloc(alloc, 3 * (size_t)n + nr + 1, sizeof *owned);
    ring_read *rings = hone_calloc(alloc, nr ? nr : 1, sizeof *rings);
    hone_prof_thread *threads = hone_calloc(alloc, nr ? nr : 1, sizeof *threads);
    hone_prof_event *events = NULL;
    size_t n_owned = 0;
    if (!counts || !ncounts || !zones || !nstats || !map || !nodes || !owned || !rings || !threads) goto fail;
    for (uint32_t id = 1; id <= n; id++) {
        const hone_prof_site *site = g_sites[id];
        hone_prof_zone *z = &zones[id - 1];
        if (!(owned[n_owned++] = (char *)(z->name = hone_strdup(alloc, site->name ? site->name : "?"))) ||
            !(owned[n_owned++] = (char *)(z->file = hone_strdup(alloc, site->file ? site->file : ""))) ||
            !(owned[n_owned++] = (char *)(z->func = hone_strdup(alloc, site->func ? site->func : ""))))
            goto fail;
        z->line = site->line;
    }
    size_t k = 0, n_ev = 0;
    for (ring *r = g_retired_rings; r; r = r->next) rings[k++].r = r;
    for (thr *t = g_threads; t; t = t->next) {
        ring *r = __atomic_load_n(&t->ring, __ATOMIC_ACQUIRE);
        if (!r) continue;
        /* The name may have changed since the ring was made. */
        pthread_getname_np(t->self, r->name, sizeof r->name);
        rings[k++].r = r;
    }
    for (k = 0; k < nr; k++) {
        rings[k].head = __atomic_load_n(&rings[k].r->head, __ATOMIC_ACQUIRE);
        n_ev += ring_take(rings[k].r, rings[k].head);
        if (!(owned[n_owned++] = (char *)(threads[k].name = hone_strdup(alloc, rings[k].r->name)))) goto fail;
    }
    if (!(events = hone_calloc(alloc, n_ev ? n_ev : 1, sizeof *events))) goto fail;
    /* Everything is allocated: from here on nothing fails, so a reset
     * either happens completely or not at all. */
    for (uint32_t sid = 1; sid <= n; sid++) {
        acc m = {0, 0, 0, UINT64_MAX, 0, 0, counts, UINT32_MAX, 0};
        for (uint32_t id = g_site_first[sid]; id; id = g_nodes[id].next_of_site) {
            acc a = {0, 0, 0, UINT64_MAX, 0, 0, ncounts, UINT32_MAX, 0};
            if (g_retired[id / PAGE_SLOTS]) retired_collect(&g_retired[id / PAGE_SLOTS][id % PAGE_SLOTS], &a, reset);
            for (thr *t = g_threads; t; t = t->next) {
                slot *s = thr_slot(t, id, 0);
                if (s) slot_collect(s, LD(&t->gen), &a, reset);
            }
            acc_finish(&a, &nstats[id]);
            acc_merge(&m, &a);
            if (a.hi > a.lo) memset(ncounts + a.lo, 0, (a.hi - a.lo) * sizeof *ncounts);
        }
        acc_finish(&m, &zones[sid - 1]);
        if (m.hi > m.lo) memset(counts + m.lo, 0, (m.hi - m.lo) * sizeof *counts);
    }
    /* The trace. */
    uint64_t base = __atomic_load_n(&g_cyc0, __ATOMIC_RELAXED), trace_lost = 0;
    size_t ev_at = 0, nt = 0;
    for (k = 0; k < nr; k++) {
        uint64_t lost;
        size_t got = ring_collect(&rings[k], events + ev_at, &lost, reset);
        if (!got && !lost) continue;
        hone_prof_thread *th = &threads[nt++];
        th->name = threads[k].name;
        th->tid = rings[k].r->tid;
        th->events = events + ev_at;
        th->n_events = got;
        th->dropped = lost;
        trace_lost += lost;
        for (size_t i = ev_at; i < ev_at + got; i++) {
            hone_prof_event *e = &events[i];
            e->begin_ns = units_to_ts(e->begin_ns, base);
            e->end_ns = units_to_ts(e->end_ns, base);
            map[e->node] = 1; /* nodes exist before their events: e->node <= nn */
        }
        ev_at += got;
    }
    trace_lost += g_retired_lost + (__atomic_load_n(&g_trace_lost, __ATOMIC_RELAXED) - g_trace_lost_base);
    /* The tree: nodes that ran or were traced, and their ancestors, in
     * depth-first order. */
    for (uint32_t id = 1; id <= nn; id++) {
        if (!nstats[id].count && !map[id]) continue;
        map[id] = 1;
        /* A parent's id is below its children's, so a marked parent has
         * had its own ancestors marked already. */
        for (uint32_t a = g_nodes[id].parent; a && !map[a]; a = g_nodes[a].parent) map[a] = 1;
    }
    size_t nk = 0;
    for (uint32_t cur = g_nodes[0].first_child; cur;) {
        int kept = map[cur] != 0;
        if (kept) {
            const node *gn = &g_nodes[cur];
            hone_prof_node *o = &nodes[nk];
            const hone_prof_zone *sz = &zones[gn->site - 1];
            o->z = nstats[cur];
            o->z.name = sz->name;
            o->z.file = sz->file;
            o->z.func = sz->func;
            o->z.line = sz->line;
            o->parent = gn->parent ? (size_t)map[gn->parent] - 1 : HONE_PROF_NO_PARENT;
            o->depth = gn->parent ? nodes[o->parent].depth + 1 : 0;
            map[cur] = (uint32_t)++nk; /* index + 1 from here on */
        }
        if (kept && g_nodes[cur].first_child) {
            cur = g_nodes[cur].first_child;
            continue;
        }
        while (cur && !g_nodes[cur].next_sibling) cur = g_nodes[cur].parent;
        if (cur) cur = g_nodes[cur].next_sibling;
    }
    for (size_t i = 0; i < ev_at; i++) events[i].node = map[events[i].node] - 1;
    /* Leave out zones that did not run in this interval. */
    size_t nz = 0;
    for (uint32_t i = 0; i < n; i++)
        if (zones[i].count) zones[nz++] = zones[i];
    uint64_t now = hone_monotonic_ns();
    out->wall_ns = now - g_interval_start;
    if (reset) {
        /* New generation: writers restart min/max with their next record. */
        for (thr *t = g_threads; t; t = t->next) __atomic_store_n(&t->gen, t->gen + 1, __ATOMIC_RELAXED);
        g_interval_start = now;
        /* Exited threads' events are consumed. */
        while (g_retired_rings) {
            ring *r = g_retired_rings;
            g_retired_rings = r->next;
            hone_free(&g_alloc, r);
        }
        g_n_retired_rings = 0;
        g_retired_lost = 0;
        g_trace_lost_base = __atomic_load_n(&g_trace_lost, __ATOMIC_RELAXED);
    }
    out->digits = g_layout.digits;
    out->dropped = hone_prof_dropped();
    out->traced = hone_prof_tracing() || nt;
    out->trace_dropped = trace_lost;
    pthread_mutex_unlock(&g_lock);
    for (size_t i = 0; i < nt; i++)
        qsort((void *)threads[i].events, threads[i].n_events, sizeof(hone_prof_event), cmp_event);
    hone_free(alloc, counts);
    hone_free(alloc, ncounts);
    hone_free(alloc, nstats);
    hone_free(alloc, map);
    hone_free(alloc, rings);
    out->zones = zones;
    out->n = nz;
    out->nodes = nodes;
    out->n_nodes = nk;
    out->threads = threads;
    out->n_threads = nt;
    out->events = events;
    out->n_events = ev_at;
    out->owned = owned;
    out->n_owned = n_owned;
    out->pid = (uint64_t)getpid();
    return HONE_OK;
fail:
    pthread_mutex_unlock(&g_lock);
    for (size_t i = 0; owned && i < n_owned; i++) hone_free(alloc, owned[i]);
    hone_free(alloc, owned);
    hone_free(alloc, counts);
    hone_free(alloc, ncounts);
    hone_free(alloc, zones);
    hone_free(alloc, nstats);
    hone_free(alloc, map);
    hone_free(alloc, nodes);
    hone_free(alloc, rings);
    hone_free(alloc, threads);
    hone_free(alloc, events);
    return rc;
}

size_t hone_prof_memory_size(void) {
    size_t bytes = 0;
    pthread_mutex_lock(&g_lock);
    for (ring *r = g_retired_rings; r; r = r->next) bytes += sizeof *r + (r->mask + 1) * sizeof(ev);
    for (thr *t = g_threads; t; t = t->next) {
        bytes += sizeof *t;
        ring *r = __atomic_load_n(&t->ring, __ATOMIC_ACQUIRE);
        if (r) bytes += sizeof *r + (r->mask + 1) * sizeof(ev);
        for (uint32_t pg = 0; pg < N_PAGES; pg++) {
            slot *page = __atomic_load_n(&t->pages[pg], __ATOMIC_ACQUIRE);
            if (!page) continue;
            bytes += PAGE_SLOTS * sizeof *page;
            for (int k = 0; k < PAGE_SLOTS; k++)
                for (uint32_t b = 0; b < MAX_BLOCKS; b++)
                    if (__atomic_load_n(&page[k].blocks[b], __ATOMIC_ACQUIRE))
                        bytes += 2 * g_layout.half_count * sizeof(uint64_t);
        }
    }
    pthread_mutex_unlock(&g_lock);
    return bytes;
}

/* ---- start-up and exit --------------------------------------------- */

static char *g_out_path;

static void write_at_exit(void) {
    hone_error err;
    if (hone_prof_write_file(g_out_path, &err))
        hone_log(HONE_LOG_ERROR, "prof", "HONE_PROFILE_OUT: %s", err.msg);
}

__attribute__((constructor)) static void prof_load(void) {
    g_alloc = *hone_allocator_default();
    g_cyc0_tsc = g_cyc0 = hone_cycles();
    hone__layout_init(&g_layout, 2, 3600000000000ull);
    hot_init();
    g_interval_start = hone_monotonic_ns();
    hone_error err;
    int on = 0;
    const char *out = getenv("HONE_PROFILE_OUT");
    int want_out = out && *out;
    /* A bad HONE_PROFILE is reported by hone_env_validate(); here it
     * leaves profiling as HONE_PROFILE_OUT implies. */
    const char *raw = getenv("HONE_PROFILE");
    int trace = raw && !strcasecmp(raw, "trace");
    if (trace)
        on = 1;
    else if (hone_env_bool("HONE_PROFILE", want_out, &on, &err))
        on = want_out;
    if (want_out && !(raw && *raw)) on = 1;
    hone_prof_enable(on);
    hone_prof_trace(trace);
    if (want_out) {
        g_out_path = strdup(out);
        if (g_out_path) atexit(write_at_exit);
    }
}
