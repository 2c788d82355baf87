/* test_registry.c - the resource registry: single-flight loads under many
 * threads, failed loads shared and not cached, held resources never
 * unloaded, idle and budget unloading (least recently released first),
 * unload callbacks exactly once, stats, metrics, out-of-memory, stress. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "test.h"

#define MAGIC UINT64_C(0x5245534f55524345)
#define NKEYS 64

/* A loaded resource: which key it is for, and how many test threads
 * believe they hold it (the unload callback checks that is zero). */
typedef struct res {
    uint64_t magic;
    int key;
    atomic_int holders;
} res;

/* What the test's loader does and what it saw. */
typedef struct lctx {
    pthread_mutex_t mu;
    int calls, loads, unloads;         /* loader calls, successful loads, unload calls */
    int key_loads[NKEYS], key_unloads[NKEYS];
    char order[256];                   /* keys in unload order */
    int norder;
    uint64_t bytes;                    /* reported per resource */
    int fail_rc;                       /* nonzero: the loader returns it */
    int fail_key;                      /* >= 0: only this key fails, every 3rd call */
    hone_registry *reg;                /* with wait_for: the registry to watch */
    uint64_t wait_for;                 /* block until this many acquires wait */
    int wait_timed_out;
    int violations;                    /* unloads of a held or foreign resource */
    int yield;                         /* yield inside load, to widen races */
} lctx;

static void lctx_init(lctx *c) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->bytes = 100;
    c->fail_key = -1;
}

static int key_of(const void *key, size_t klen) {
    return klen == 1 ? ((const unsigned char *)key)[0] - 'A' : NKEYS - 1;
}

static int t_load(void *ctx, const void *key, size_t klen, void **out, uint64_t *bytes) {
    lctx *c = ctx;
    if (c->wait_for) {
        /* The condition: every other acquirer is inside acquire, waiting
         * for this load. Bounded, so a broken registry fails instead of
         * hanging. */
        uint64_t deadline = hone_monotonic_ns() + UINT64_C(60) * 1000000000u;
        hone_registry_stats st;
        for (;;) {
            hone_registry_stats_get(c->reg, &st);
            if (st.waiting >= c->wait_for) break;
            if (hone_monotonic_ns() > deadline) {
                c->wait_timed_out = 1;
                break;
            }
            sched_yield();
        }
    }
    if (c->yield) sched_yield();
    int k = key_of(key, klen);
    pthread_mutex_lock(&c->mu);
    c->calls++;
    int fail = c->fail_rc != 0 && (c->fail_key < 0 || (c->fail_key == k && c->calls % 3 == 0));
    pthread_mutex_unlock(&c->mu);
    if (fail) return c->fail_rc;
    res *r = hone_malloc(NULL, sizeof *r);
    if (!r) return HONE_ENOMEM;
    r->magic = MAGIC;
    r->key = k;
    atomic_init(&r->holders, 0);
    pthread_mutex_lock(&c->mu);
    c->loads++;
    c->key_loads[k]++;
    pthread_mutex_unlock(&c->mu);
    *out = r;
    *bytes = c->bytes;
    return HONE_OK;
}

static void t_unload(void *ctx, void *resource) {
    lctx *c = ctx;
    res *r = resource;
    pthread_mutex_lock(&c->mu);
    if (r->magic != MAGIC || atomic_load(&r->holders) != 0) c->violations++;
    c->unloads++;
    c->key_unloads[r->key]++;
    if (c->norder < (int)sizeof c->order - 1) c->order[c->norder++] = (char)('A' + r->key);
    pthread_mutex_unlock(&c->mu);
    r->magic = 0;
    hone_free(NULL, r);
}

static hone_registry_loader loader_of(lctx *c) {
    hone_registry_loader l = {t_load, t_unload, c};
    return l;
}

/* A clock the test moves by hand. */
typedef struct fclock {
    _Atomic uint64_t now;
} fclock;
static uint64_t fclock_now(void *ctx) { return atomic_load(&((fclock *)ctx)->now); }

static hone_registry *make(uint64_t idle_ns, uint64_t max_bytes, fclock *clk) {
    hone_registry_opts o = {0};
    o.idle_ns = idle_ns;
    o.max_bytes = max_bytes;
    if (clk) {
        o.clock = fclock_now;
        o.clock_ctx = clk;
    }
    hone_registry *reg = NULL;
    int rc = hone_registry_new(&reg, &o);
    if (rc != HONE_OK) fail_msg("hone_registry_new: %s", hone_status_name(rc));
    return reg;
}

static hone_registry_handle *get(hone_registry *reg, char key, lctx *c) {
    hone_registry_loader l = loader_of(c);
    hone_registry_handle *h = NULL;
    int rc = hone_registry_acquire(reg, &key, 1, &l, &h);
    if (rc != HONE_OK) fail_msg("acquire %c: %s, expected HONE_OK", key, hone_status_name(rc));
    res *r = hone_registry_handle_get(h);
    if (!r || r->magic != MAGIC || r->key != key - 'A')
        fail_msg("acquire %c: the handle's resource is not key %c's", key, key);
    return h;
}

static hone_registry_stats stats(hone_registry *reg) {
    hone_registry_stats st;
    assert_int_equal(hone_registry_stats_get(reg, &st), HONE_OK);
    return st;
}

/* ------------------------------------------------------------------ */
/* Single flight                                                       */
/* ------------------------------------------------------------------ */

#define FLIGHT 16

typedef struct flight {
    hone_registry *reg;
    lctx *c;
    pthread_barrier_t *start;
    int rc;
    hone_registry_handle *h;
} flight;

static void *flight_thread(void *arg) {
    flight *f = arg;
    hone_registry_loader l = loader_of(f->c);
    pthread_barrier_wait(f->start);
    f->rc = hone_registry_acquire(f->reg, "M", 1, &l, &f->h);
    return NULL;
}

static void run_flight(hone_registry *reg, lctx *c, flight *f) {
    pthread_t t[FLIGHT];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, FLIGHT);
    for (int i = 0; i < FLIGHT; i++) {
        f[i] = (flight){reg, c, &start, -999, NULL};
        assert_int_equal(pthread_create(&t[i], NULL, flight_thread, &f[i]), 0);
    }
    for (int i = 0; i < FLIGHT; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
}

static void test_single_flight(void **state) {
    (void)state;
    lctx c;
    lctx_init(&c);
    hone_registry *reg = make(0, 0, NULL);
    c.reg = reg;
    c.wait_for = FLIGHT - 1;
    flight f[FLIGHT];
    run_flight(reg, &c, f);
    if (c.wait_timed_out)
        fail_msg("the other %d acquirers never all waited for the load", FLIGHT - 1);
    if (c.calls != 1)
        fail_msg("loader ran %d times for %d concurrent acquires, expected 1", c.calls, FLIGHT);
    void *p = hone_registry_handle_get(f[0].h);
    for (int i = 0; i < FLIGHT; i++) {
        if (f[i].rc != HONE_OK)
            fail_msg("thread %d: %s, expected HONE_OK", i, hone_status_name(f[i].rc));
        if (hone_registry_handle_get(f[i].h) != p)
            fail_msg("thread %d got resource %p, thread 0 got %p", i,
                     hone_registry_handle_get(f[i].h), p);
    }
    hone_registry_stats st = stats(reg);
    assert_int_equal(st.loads, 1);
    assert_int_equal(st.shares, FLIGHT - 1);
    assert_int_equal(st.handles, FLIGHT);
    assert_int_equal(st.resources, 1);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.loading, 0);
    assert_int_equal(st.bytes, 100);
    assert_int_equal(st.held_bytes, 100);
    for (int i = 0; i < FLIGHT; i++) hone_registry_release(f[i].h);
    st = stats(reg);
    assert_int_equal(st.handles, 0);
    assert_int_equal(st.held_bytes, 0);
    assert_int_equal(st.resources, 1); /* unheld, but its idle time has not passed */
    assert_int_equal(c.unloads, 0);
    hone_registry_free(reg);
    assert_int_equal(c.unloads, 1);
    assert_int_equal(c.violations, 0);
}

static void test_failed_load_shared_not_cached(void **state) {
    (void)state;
    lctx c;
    lctx_init(&c);
    hone_registry *reg = make(0, 0, NULL);
    c.reg = reg;
    c.wait_for = FLIGHT - 1;
    c.fail_rc = HONE_EIO;
    flight f[FLIGHT];
    run_flight(reg, &c, f);
    if (c.wait_timed_out)
        fail_msg("the other %d acquirers never all waited for the load", FLIGHT - 1);
    assert_int_equal(c.calls, 1);
    for (int i = 0; i < FLIGHT; i++) {
        if (f[i].rc != HONE_EIO)
            fail_msg("thread %d: %s, expected the load's HONE_EIO", i, hone_status_name(f[i].rc));
        assert_null(f[i].h);
    }
    hone_registry_stats st = stats(reg);
    assert_int_equal(st.loads, 1);
    assert_int_equal(st.load_failures, 1);
    assert_int_equal(st.shares, 0);
    assert_int_equal(st.resources, 0);
    assert_int_equal(st.handles, 0);
    /* Not remembered: the next acquire loads again, and succeeds. */
    c.fail_rc = 0;
    c.wait_for = 0;
    hone_registry_handle *h = get(reg, 'M', &c);
    assert_int_equal(c.calls, 2);
    st = stats(reg);
    assert_int_equal(st.loads, 2);
    assert_int_equal(st.load_failures, 1);
    /* A loader returning a positive value is reported as HONE_EFAIL. */
    c.fail_rc = 7;
    hone_registry_loader l = loader_of(&c);
    hone_registry_handle *h2 = NULL;
    assert_int_equal(hone_registry_acquire(reg, "X", 1, &l, &h2), HONE_EFAIL);
    assert_null(h2);
    hone_registry_release(h);
    hone_registry_free(reg);
    assert_int_equal(c.unloads, 1);
    assert_int_equal(c.violations, 0);
}

/* ------------------------------------------------------------------ */
/* Budget and idleness                                                 */
/* ------------------------------------------------------------------ */

static void test_held_never_unloaded(void **state) {
    (void)state;
    lctx c;
    lctx_init(&c);
    c.bytes = 60;
    fclock clk = {1000};
    hone_registry *reg = make(1000, 100, &clk);
    hone_registry_handle *a = get(reg, 'A', &c), *b = get(reg, 'B', &c);
    hone_registry_stats st = stats(reg);
    assert_int_equal(st.bytes, 120);
    assert_int_equal(st.excess_bytes, 20);
    assert_int_equal(st.over_budget, 1);
    assert_int_equal(c.unloads, 0);
    hone_registry_handle *cc = get(reg, 'C', &c);
    st = stats(reg);
    assert_int_equal(st.bytes, 180);
    assert_int_equal(st.over_budget, 2);
    /* Far past the idle time and over budget: still nothing held goes. */
    atomic_store(&clk.now, 1000000);
    assert_int_equal(hone_registry_sweep(reg), 0);
    assert_int_equal(c.unloads, 0);
    res *ra = hone_registry_handle_get(a);
    assert_true(ra->magic == MAGIC && ra->key == 0);
    /* The first release makes room at once (reason budget). */
    hone_registry_release(a);
    assert_int_equal(c.unloads, 1);
    st = stats(reg);
    assert_int_equal(st.bytes, 120);
    assert_int_equal(st.unloads[HONE_REGISTRY_UNLOAD_BUDGET], 1);
    hone_registry_release(b);
    st = stats(reg);
    assert_int_equal(st.bytes, 60);
    assert_int_equal(st.excess_bytes, 0);
    assert_int_equal(st.unloads[HONE_REGISTRY_UNLOAD_BUDGET], 2);
    assert_string_equal(c.order, "AB");
    hone_registry_release(cc);
    assert_int_equal(c.unloads, 2); /* C fits: it stays until idle */
    hone_registry_free(reg);
    assert_int_equal(c.unloads, 3);
    assert_int_equal(c.violations, 0);
}

static void test_idle_unload(void **state) {
    (void)state;
    lctx c;
    lctx_init(&c);
    fclock clk = {5000};
    hone_registry *reg = make(1000, 0, &clk);
    hone_registry_release(get(reg, 'A', &c)); /* released at 5000 */
    hone_registry_stats st = stats(reg);
    assert_int_equal(st.next_idle_ns, 6000);
    atomic_store(&clk.now, 5999);
    assert_int_equal(hone_registry_sweep(reg), 0);
    assert_int_equal(c.unloads, 0);
    atomic_store(&clk.now, 6000);
    assert_int_equal(hone_registry_sweep(reg), 1);
    assert_int_equal(c.unloads, 1);
    assert_int_equal(hone_registry_sweep(reg), 0);
    st = stats(reg);
    assert_int_equal(st.unloads[HONE_REGISTRY_UNLOAD_IDLE], 1);
    assert_int_equal(st.resources, 0);
    assert_true(st.next_idle_ns == UINT64_MAX);

    /* A new acquire within the idle time shares and restarts it. */
    hone_registry_release(get(reg, 'B', &c)); /* at 6000 */
    atomic_store(&clk.now, 6600);
    hone_registry_release(get(reg, 'B', &c)); /* shared, released at 6600 */
    assert_int_equal(c.key_loads[1], 1);
    atomic_store(&clk.now, 7200);
    assert_int_equal(hone_registry_sweep(reg), 0);
    atomic_store(&clk.now, 7600);
    assert_int_equal(hone_registry_sweep(reg), 1);
    assert_int_equal(c.key_unloads[1], 1);

    /* Registry calls other than sweep unload what is due, too. */
    hone_registry_release(get(reg, 'C', &c)); /* at 7600 */
    atomic_store(&clk.now, 9000);
    hone_registry_handle *d = get(reg, 'D', &c);
    assert_int_equal(c.key_unloads[2], 1);
    st = stats(reg);
    assert_int_equal(st.unloads[HONE_REGISTRY_UNLOAD_IDLE], 3);
    hone_registry_release(d);
    hone_registry_free(reg);
    assert_int_equal(c.unloads, c.loads);
    assert_int_equal(c.violations, 0);
}

static void test_budget_lru_order(void **state) {
    (void)state;
    lctx c;
    lctx_init(&c);
    fclock clk = {1};
    hone_registry *reg = make(UINT64_MAX, 300, &clk);
    hone_registry_handle *a = get(reg, 'A', &c), *b = get(reg, 'B', &c), *cc = get(reg, 'C', &c);
    hone_registry_release(b);
    hone_registry_release(a);
    hone_registry_release(cc); /* idle order, oldest first: B A C */
    hone_registry_handle *d = get(reg, 'D', &c);
    assert_string_equal(c.order, "B");
    hone_registry_release(get(reg, 'A', &c)); /* shared: A becomes the newest */
    assert_int_equal(c.key_loads[0], 1);
    hone_registry_handle *e = get(reg, 'E', &c);
    assert_string_equal(c.order, "BC");
    hone_registry_release(d);
    hone_registry_release(e); /* idle order: A D E */
    hone_registry_handle *f = get(reg, 'F', &c);
    assert_string_equal(c.order, "BCA");
    hone_registry_stats st = stats(reg);
    assert_int_equal(st.unloads[HONE_REGISTRY_UNLOAD_BUDGET], 3);
    assert_int_equal(st.unloads[HONE_REGISTRY_UNLOAD_IDLE], 0);
    assert_int_equal(st.bytes, 300);
    assert_int_equal(st.over_budget, 0);
    /* UINT64_MAX: never for idleness, however long. */
    atomic_store(&clk.now, UINT64_MAX / 2);
    assert_int_equal(hone_registry_sweep(reg), 0);
    hone_registry_release(f);
    hone_registry_free(reg);
    assert_int_equal(c.unloads, c.loads);
    for (int k = 0; k < 6; k++)
        if (c.key_loads[k] != c.key_unloads[k])
            fail_msg("key %c: %d loads, %d unloads", 'A' + k, c.key_loads[k], c.key_unloads[k]);
    assert_int_equal(c.violations, 0);
}

/* ------------------------------------------------------------------ */
/* Explicit unload, stats, dependencies, free with handles out         */
/* ------------------------------------------------------------------ */

static void test_unload_and_stats(void **state) {
    (void)state;
    lctx c;
    lctx_init(&c);
    hone_registry *reg = make(0, 0, NULL);
    hone_registry_stats st = stats(reg);
    assert_int_equal(st.idle_ns, UINT64_C(300) * 1000000000u);
    hone_registry_handle *a = get(reg, 'A', &c);
    hone_registry_handle *a2 = get(reg, 'A', &c);
    assert_ptr_equal(a, a2);
    assert_int_equal(hone_registry_handle_bytes(a), 100);
    assert_int_equal(hone_registry_unload(reg, "A", 1), HONE_EBUSY);
    assert_int_equal(hone_registry_unload(reg, "Z", 1), HONE_ENOTFOUND);
    st = stats(reg);
    assert_int_equal(st.loads, 1);
    assert_int_equal(st.shares, 1);
    assert_int_equal(st.handles, 2);
    hone_registry_release(a);
    assert_int_equal(hone_registry_unload(reg, "A", 1), HONE_EBUSY);
    hone_registry_release(a2);
    assert_int_equal(hone_registry_unload(reg, "A", 1), HONE_OK);
    assert_int_equal(c.unloads, 1);
    assert_int_equal(hone_registry_unload(reg, "A", 1), HONE_ENOTFOUND);
    st = stats(reg);
    assert_int_equal(st.unloads[HONE_REGISTRY_UNLOAD_EXPLICIT], 1);
    assert_int_equal(st.resources, 0);
    assert_int_equal(st.bytes, 0);

    /* An empty key is a key; a different length is a different key. */
    hone_registry_loader l = loader_of(&c);
    hone_registry_handle *e0 = NULL, *e1 = NULL;
    assert_int_equal(hone_registry_acquire(reg, NULL, 0, &l, &e0), HONE_OK);
    assert_int_equal(hone_registry_acquire(reg, "AB", 2, &l, &e1), HONE_OK);
    assert_ptr_not_equal(e0, e1);
    hone_registry_release(e0);
    hone_registry_release(e1);

    /* Argument errors leave *out NULL. */
    hone_registry_handle *h = (hone_registry_handle *)&c;
    assert_int_equal(hone_registry_acquire(NULL, "A", 1, &l, &h), HONE_EINVAL);
    assert_null(h);
    assert_int_equal(hone_registry_acquire(reg, NULL, 1, &l, &h), HONE_EINVAL);
    assert_int_equal(hone_registry_acquire(reg, "A", 1, NULL, &h), HONE_EINVAL);
    hone_registry_loader nol = {NULL, NULL, NULL};
    assert_int_equal(hone_registry_acquire(reg, "A", 1, &nol, &h), HONE_EINVAL);
    assert_int_equal(hone_registry_acquire(reg, "A", 1, &l, NULL), HONE_EINVAL);
    assert_int_equal(hone_registry_new(NULL, NULL), HONE_EINVAL);
    assert_int_equal(hone_registry_sweep(NULL), HONE_EINVAL);
    assert_int_equal(hone_registry_stats_get(reg, NULL), HONE_EINVAL);
    assert_int_equal(hone_registry_unload(NULL, "A", 1), HONE_EINVAL);
    assert_null(hone_registry_handle_get(NULL));
    hone_registry_release(NULL);
    hone_registry_free(NULL);
    hone_registry_free(reg);
    assert_int_equal(c.unloads, c.loads);
}

/* A resource whose loader acquires a dependency (key D) and whose unload
 * releases it; and a loader that tries to acquire its own key. */
typedef struct dep_ctx {
    hone_registry *reg;
    lctx *inner;
    int self_rc;
    int unloads;
} dep_ctx;

static int dep_load(void *ctx, const void *key, size_t klen, void **out, uint64_t *bytes) {
    dep_ctx *d = ctx;
    hone_registry_loader self = {dep_load, NULL, d};
    hone_registry_handle *h = NULL;
    d->self_rc = hone_registry_acquire(d->reg, key, klen, &self, &h);
    if (d->self_rc == HONE_OK) hone_registry_release(h);
    hone_registry_loader l = loader_of(d->inner);
    int rc = hone_registry_acquire(d->reg, "D", 1, &l, &h);
    if (rc) return rc;
    *out = h;
    *bytes = 10;
    return HONE_OK;
}

static void dep_unload(void *ctx, void *resource) {
    dep_ctx *d = ctx;
    d->unloads++;
    hone_registry_release(resource);
}

static void test_dependencies(void **state) {
    (void)state;
    lctx c;
    lctx_init(&c);
    hone_registry *reg = make(0, 0, NULL);
    dep_ctx d = {reg, &c, 0, 0};
    hone_registry_loader l = {dep_load, dep_unload, &d};
    hone_registry_handle *m = NULL;
    assert_int_equal(hone_registry_acquire(reg, "M", 1, &l, &m), HONE_OK);
    if (d.self_rc != HONE_ESTATE)
        fail_msg("a loader acquiring its own key got %s, expected HONE_ESTATE",
                 hone_status_name(d.self_rc));
    hone_registry_handle *dep = hone_registry_handle_get(m);
    res *r = hone_registry_handle_get(dep);
    assert_true(r->magic == MAGIC && r->key == 'D' - 'A');
    hone_registry_stats st = stats(reg);
    assert_int_equal(st.resources, 2);
    assert_int_equal(st.handles, 2);
    hone_registry_release(m);
    /* Free unloads M, whose unload releases D, which a later round of
     * free then unloads. */
    hone_registry_free(reg);
    assert_int_equal(d.unloads, 1);
    assert_int_equal(c.unloads, 1);
    assert_int_equal(c.violations, 0);
}

typedef struct logcap {
    char msg[512];
    int n;
} logcap;
static void log_sink(void *ctx, hone_log_level level, const char *module, const char *msg) {
    logcap *lc = ctx;
    if (level == HONE_LOG_WARN && !strcmp(module, "registry")) {
        snprintf(lc->msg, sizeof lc->msg, "%s", msg);
        lc->n++;
    }
}

static void test_free_with_handles_out(void **state) {
    (void)state;
    lctx c;
    lctx_init(&c);
    hone_registry *reg = make(0, 0, NULL);
    hone_registry_handle *a = get(reg, 'A', &c), *b = get(reg, 'B', &c);
    hone_registry_handle *a2 = get(reg, 'A', &c);
    hone_registry_release(get(reg, 'C', &c));
    logcap lc = {{0}, 0};
    hone_log_set_sink(log_sink, &lc);
    hone_registry_free(reg);
    hone_log_set_sink(NULL, NULL);
    if (lc.n != 1 || !strstr(lc.msg, "3 handle count(s) out on 2 resource(s)"))
        fail_msg("expected one warning naming 3 handles on 2 resources, got %d: \"%s\"", lc.n,
                 lc.msg);
    /* C (unheld) went with the free; A and B stay valid while held. */
    assert_int_equal(c.unloads, 1);
    assert_int_equal(c.key_unloads[2], 1);
    res *ra = hone_registry_handle_get(a);
    assert_true(ra->magic == MAGIC && ra->key == 0);
    hone_registry_release(a);
    assert_int_equal(c.unloads, 1); /* a2 still holds A */
    hone_registry_release(b);
    assert_int_equal(c.key_unloads[1], 1);
    hone_registry_release(a2); /* the last: unloads A and frees the registry (ASan: no leak) */
    assert_int_equal(c.unloads, 3);
    assert_int_equal(c.violations, 0);
}

/* ------------------------------------------------------------------ */
/* Metrics                                                             */
/* ------------------------------------------------------------------ */

static void test_metrics(void **state) {
    (void)state;
    lctx c;
    lctx_init(&c);
    fclock clk = {1};
    hone_registry *reg = make(10, 150, &clk);
    hone_registry_handle *a = get(reg, 'A', &c), *b = get(reg, 'B', &c);
    hone_registry_release(get(reg, 'A', &c));
    hone_registry_release(b); /* over budget: B goes */
    hone_metrics *m;
    assert_int_equal(hone_metrics_new(&m, NULL), HONE_OK);
    hone_error err;
    int rc = hone_registry_metrics_update(reg, m, "models", &err);
    if (rc) fail_msg("metrics_update: %s: %s", hone_status_name(rc), err.msg);
    hone_buf out;
    hone_buf_init(&out, NULL);
    assert_int_equal(hone_metrics_expose(m, &out), HONE_OK);
    static const char *const want[] = {
        "hone_registry_loads_total{registry=\"models\"} 2\n",
        "hone_registry_shares_total{registry=\"models\"} 1\n",
        "hone_registry_load_failures_total{registry=\"models\"} 0\n",
        "hone_registry_unloads_total{registry=\"models\",reason=\"budget\"} 1\n",
        "hone_registry_unloads_total{registry=\"models\",reason=\"idle\"} 0\n",
        "hone_registry_unloads_total{registry=\"models\",reason=\"explicit\"} 0\n",
        "hone_registry_over_budget_total{registry=\"models\"} 1\n",
        "hone_registry_resources{registry=\"models\"} 1\n",
        "hone_registry_handles{registry=\"models\"} 1\n",
        "hone_registry_bytes{registry=\"models\"} 100\n",
        "hone_registry_held_bytes{registry=\"models\"} 100\n",
        "hone_registry_max_bytes{registry=\"models\"} 150\n",
        "hone_registry_excess_bytes{registry=\"models\"} 0\n",
        "# TYPE hone_registry_unloads_total counter\n",
        "# TYPE hone_registry_bytes gauge\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(out.data, want[i]))
            fail_msg("exposition lacks \"%s\"; it is:\n%s", want[i], out.data);
    rc = hone_metrics_lint(out.data, out.len, 0, &err);
    if (rc) fail_msg("lint: %s", err.msg);
    /* A second update after more work moves the counters up. */
    hone_registry_release(a);
    atomic_store(&clk.now, 100);
    assert_int_equal(hone_registry_sweep(reg), 1);
    assert_int_equal(hone_registry_metrics_update(reg, m, "models", &err), HONE_OK);
    hone_buf_clear(&out);
    assert_int_equal(hone_metrics_expose(m, &out), HONE_OK);
    assert_non_null(
        strstr(out.data, "hone_registry_unloads_total{registry=\"models\",reason=\"idle\"} 1\n"));
    assert_non_null(strstr(out.data, "hone_registry_resources{registry=\"models\"} 0\n"));
    assert_int_equal(hone_registry_metrics_update(reg, m, "", &err), HONE_EINVAL);
    assert_int_equal(hone_registry_metrics_update(NULL, m, "x", &err), HONE_EINVAL);
    hone_buf_free(&out);
    hone_metrics_free(m);
    hone_registry_free(reg);
    assert_int_equal(c.unloads, c.loads);
}

/* ------------------------------------------------------------------ */
/* Out of memory                                                       */
/* ------------------------------------------------------------------ */

static int oom_calls(const hone_allocator *a, void *ctx) {
    (void)ctx;
    lctx c;
    lctx_init(&c);
    fclock clk = {1};
    hone_registry_opts o = {0};
    o.alloc = a;
    o.idle_ns = 100;
    o.max_bytes = 1000;
    o.clock = fclock_now;
    o.clock_ctx = &clk;
    hone_registry *reg;
    int rc = hone_registry_new(&reg, &o);
    if (rc) return rc;
    hone_registry_loader l = loader_of(&c);
    hone_registry_handle *h[40] = {0};
    /* 40 keys held at once: the table grows (or, when that allocation
     * fails, keeps its size), and the budget is exceeded. */
    for (int i = 0; i < 40 && !rc; i++) {
        char k = (char)('A' + i);
        rc = hone_registry_acquire(reg, &k, 1, &l, &h[i]);
        if (!rc && ((res *)hone_registry_handle_get(h[i]))->key != i) rc = HONE_EFAIL;
    }
    hone_registry_handle *again = NULL;
    if (!rc) rc = hone_registry_acquire(reg, "A", 1, &l, &again);
    if (!rc && again != h[0]) rc = HONE_EFAIL;
    hone_registry_release(again);
    for (int i = 0; i < 40; i++) hone_registry_release(h[i]);
    if (!rc) {
        /* B is unheld: gone for the budget already, or unloaded now. */
        int u = hone_registry_unload(reg, "B", 1);
        if (u != HONE_ENOTFOUND && u != HONE_OK) rc = HONE_EFAIL;
    }
    atomic_store(&clk.now, 1000);
    if (!rc && hone_registry_sweep(reg) < 0) rc = HONE_EFAIL;
    hone_registry_stats st;
    if (!rc) rc = hone_registry_stats_get(reg, &st);
    if (!rc && (st.handles != 0 || st.resources != 0)) rc = HONE_EFAIL;
    hone_metrics *m = NULL;
    hone_metrics_opts mo = {a};
    if (!rc) rc = hone_metrics_new(&m, &mo);
    if (!rc) rc = hone_registry_metrics_update(reg, m, "oom", NULL);
    hone_buf out;
    hone_buf_init(&out, a);
    if (!rc) rc = hone_metrics_expose(m, &out);
    if (!rc && !strstr(out.data, "hone_registry_loads_total{registry=\"oom\"}")) rc = HONE_EFAIL;
    hone_buf_free(&out);
    hone_metrics_free(m);
    hone_registry_free(reg);
    pthread_mutex_destroy(&c.mu);
    if (c.unloads != c.loads || c.violations) return HONE_EFAIL;
    return rc;
}

static void test_oom(void **state) {
    (void)state;
    long n = failalloc_loop("registry calls", oom_calls, NULL);
    assert_true(n > 40);
}

/* ------------------------------------------------------------------ */
/* Stress (run under TSan)                                             */
/* ------------------------------------------------------------------ */

#define STRESS_THREADS 8
#define STRESS_OPS 4000
#define STRESS_KEYS 20

typedef struct stress {
    hone_registry *reg;
    lctx *c;
    uint64_t seed;
    int errors;
    int failed_loads;
} stress;

static uint64_t rng(uint64_t *s) {
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void *stress_thread(void *arg) {
    stress *s = arg;
    hone_registry_loader l = loader_of(s->c);
    hone_registry_handle *held[3] = {0};
    for (int op = 0; op < STRESS_OPS; op++) {
        uint64_t x = rng(&s->seed);
        int slot = (int)(x % 3);
        if (held[slot]) {
            res *r = hone_registry_handle_get(held[slot]);
            if (r->magic != MAGIC) s->errors++;
            atomic_fetch_sub(&r->holders, 1);
            hone_registry_release(held[slot]);
            held[slot] = NULL;
        } else {
            char k = (char)('A' + (x >> 8) % STRESS_KEYS);
            int rc = hone_registry_acquire(s->reg, &k, 1, &l, &held[slot]);
            if (rc == HONE_EIO) {
                s->failed_loads++;
                continue;
            }
            if (rc != HONE_OK) {
                s->errors++;
                continue;
            }
            res *r = hone_registry_handle_get(held[slot]);
            atomic_fetch_add(&r->holders, 1);
            if (r->magic != MAGIC || r->key != k - 'A') s->errors++;
        }
        if ((x >> 40) % 97 == 0) {
            hone_registry_stats st;
            if (hone_registry_sweep(s->reg) < 0 || hone_registry_stats_get(s->reg, &st))
                s->errors++;
        }
    }
    for (int i = 0; i < 3; i++)
        if (held[i]) {
            res *r = hone_registry_handle_get(held[i]);
            atomic_fetch_sub(&r->holders, 1);
            hone_registry_release(held[i]);
        }
    return NULL;
}

static void test_stress(void **state) {
    (void)state;
    lctx c;
    lctx_init(&c);
    c.yield = 1;
    c.fail_rc = HONE_EIO; /* key 'S' fails when the loader's call count is a multiple of 3 */
    c.fail_key = 'S' - 'A';
    hone_registry *reg = make(0, 800, NULL);
    pthread_t t[STRESS_THREADS];
    stress s[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++) {
        s[i] = (stress){reg, &c, (uint64_t)i * 7919 + 1, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, stress_thread, &s[i]), 0);
    }
    for (int i = 0; i < STRESS_THREADS; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < STRESS_THREADS; i++)
        if (s[i].errors) fail_msg("thread %d saw %d wrong resources or errors", i, s[i].errors);
    hone_registry_stats st = stats(reg);
    assert_int_equal(st.handles, 0);
    assert_int_equal(st.held_bytes, 0);
    assert_int_equal(st.loading, 0);
    assert_int_equal(st.waiting, 0);
    if (st.loads != (uint64_t)c.calls)
        fail_msg("stats count %llu loads, the loader ran %d times", (unsigned long long)st.loads,
                 c.calls);
    assert_int_equal(st.loads - st.load_failures, c.loads);
    assert_true(st.bytes <= 800); /* nothing held: within budget again */
    assert_true(st.unloads[HONE_REGISTRY_UNLOAD_BUDGET] > 0);
    assert_true(st.shares > 0);
    assert_int_equal(st.resources + st.unloads[0] + st.unloads[1] + st.unloads[2], c.loads);
    hone_registry_free(reg);
    if (c.violations) fail_msg("%d unloads of a held resource", c.violations);
    for (int k = 0; k < STRESS_KEYS; k++)
        if (c.key_loads[k] != c.key_unloads[k])
            fail_msg("key %c: %d loads, %d unload callbacks", 'A' + k, c.key_loads[k],
                     c.key_unloads[k]);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_single_flight),
    cmocka_unit_test(test_failed_load_shared_not_cached),
    cmocka_unit_test(test_held_never_unloaded),
    cmocka_unit_test(test_idle_unload),
    cmocka_unit_test(test_budget_lru_order),
    cmocka_unit_test(test_unload_and_stats),
    cmocka_unit_test(test_dependencies),
    cmocka_unit_test(test_free_with_handles_out),
    cmocka_unit_test(test_metrics),
    cmocka_unit_test(test_oom),
    cmocka_unit_test(test_stress),
};

HONE_TEST_MAIN(tests)
