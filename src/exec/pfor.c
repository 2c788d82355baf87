/* pfor.c - parallel loops: chunks of an index range handed out
 * dynamically to the pool's workers and the calling thread. */
#include "exec_internal.h"

#include <string.h>

typedef struct pfor {
    hone_range_fn fn;
    void *ctx;
    size_t end, grain;
    atomic_size_t next;
    atomic_int err;
    atomic_uint helpers_done;
    unsigned helpers;
} pfor;

static void pfor_chunks(pfor *p) {
    while (!atomic_load_explicit(&p->err, memory_order_relaxed)) {
        size_t lo = atomic_fetch_add_explicit(&p->next, p->grain, memory_order_relaxed);
        if (lo >= p->end) break;
        size_t hi = p->end - lo < p->grain ? p->end : lo + p->grain;
        int rc = p->fn(p->ctx, lo, hi);
        if (rc) {
            int expected = 0;
            atomic_compare_exchange_strong(&p->err, &expected, rc);
        }
    }
}

static int pfor_helper(void *arg, hone_task *task) {
    pfor_chunks(arg);
    return HONE_OK;
}

/* Counts a helper as finished whether it ran or was cancelled by a
 * shutdown before it started. */
static void pfor_hook(hone_task *job, void *hctx) {
    atomic_fetch_add(&((pfor *)hctx)->helpers_done, 1);
}

static int pfor_joined(void *ctx) {
    pfor *p = ctx;
    return atomic_load(&p->helpers_done) == p->helpers;
}

int hone_parallel_for(hone_pool *pool, size_t begin, size_t end, size_t grain, hone_range_fn fn,
                      void *ctx) {
    if (!pool || !fn) return HONE_EINVAL;
    if (end <= begin) return HONE_OK;
    size_t n = end - begin;
    unsigned workers = hone_pool_workers(pool);
    if (grain == 0) grain = n / ((size_t)workers * 8 + 8);
    if (grain == 0) grain = 1;
    /* Keep next + (threads * grain) from wrapping around. */
    size_t room = SIZE_MAX - end;
    if (grain > n) grain = n;
    if (room / ((size_t)workers + 2) < grain) grain = room / ((size_t)workers + 2);
    if (grain == 0) grain = 1;

    pfor p;
    p.fn = fn;
    p.ctx = ctx;
    p.end = end;
    p.grain = grain;
    atomic_init(&p.next, begin);
    atomic_init(&p.err, 0);
    atomic_init(&p.helpers_done, 0);
    p.helpers = 0;
    size_t chunks = (n + grain - 1) / grain;
    size_t want = chunks - 1 < workers ? chunks - 1 : workers;
    if (n < hone__pool_serial_below(pool)) want = 0;
    /* Helpers are counted before they are pushed, so the join predicate
     * never sees a complete count early. A helper that cannot be made
     * (out of memory) or pushed (pool closed) only means fewer hands: the
     * caller runs whatever is left itself. */
    hone_task *jobs[64];
    if (want > 64) want = 64;
    for (size_t i = 0; i < want; i++) {
        jobs[i] = hone__exec_job_new(pool, pfor_helper, &p);
        if (!jobs[i]) {
            want = i;
            break;
        }
        jobs[i]->hook = pfor_hook;
        jobs[i]->hctx = &p;
    }
    p.helpers = (unsigned)want;
    for (size_t i = 0; i < want; i++) hone__exec_job_push(pool, jobs[i]);
    pfor_chunks(&p);
    hone__exec_wait(pool, pfor_joined, &p, HONE__NO_DEADLINE, NULL);
    return atomic_load(&p.err);
}

typedef struct pmap {
    const char *in;
    char *out;
    size_t in_size, out_size;
    int (*fn)(void *ctx, const void *in, void *out);
    void *ctx;
} pmap;

static int pmap_range(void *ctx, size_t lo, size_t hi) {
    pmap *m = ctx;
    for (size_t i = lo; i < hi; i++) {
        int rc = m->fn(m->ctx, m->in + i * m->in_size, m->out + i * m->out_size);
        if (rc) return rc;
    }
    return HONE_OK;
}

int hone_parallel_map(hone_pool *pool, const void *in, size_t in_size, void *out, size_t out_size,
                      size_t n, size_t grain, int (*fn)(void *ctx, const void *in, void *out),
                      void *ctx) {
    if (!pool || !fn || (n && (!in || !out))) return HONE_EINVAL;
    pmap m = {in, out, in_size, out_size, fn, ctx};
    return hone_parallel_for(pool, 0, n, grain, pmap_range, &m);
}
