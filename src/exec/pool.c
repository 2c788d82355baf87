/* pool.c - the work-stealing thread pool, its futures, and the waiting
 * protocol (helping waits) that groups and parallel loops build on. */
#include "exec_internal.h"
#include "hone/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The injection queue (submissions from outside the pool, and the
 * overflow of a full worker deque): an intrusive linked list under a mutex,
 * FIFO. Linking through the job itself means a push never allocates and so
 * never fails. */
typedef struct jqueue {
    pthread_mutex_t mu;
    hone_task *head, *tail;
} jqueue;

/* A worker's deque: Chase-Lev (Chase and Lev 2005, with the C11 orderings
 * of Le et al. 2013) over a fixed ring. The owner pushes at the bottom with
 * plain stores and pops there with one seq_cst store (plus a CAS for the
 * last element only): LIFO, so nested work stays hot in cache. Thieves
 * take from the top, the oldest and usually largest piece, with one CAS.
 * Where the paper uses seq_cst fences, the accesses around them are seq_cst
 * themselves (ThreadSanitizer does not model standalone fences; on x86 this
 * is the same code). The ring never grows: when it is full the owner pushes
 * to the locked injection queue instead, so a push still cannot fail. */
#define DQ_CAP 256
typedef struct deque {
    atomic_llong top; /* next to steal; CAS by thieves and a last-element pop */
    char pad0[64];
    atomic_llong bottom; /* next free slot; written by the owner only */
    char pad1[64];
    _Atomic(hone_task *) buf[DQ_CAP];
} deque;

/* Owner only. 0 when the ring is full. */
static int dq_push(deque *d, hone_task *j) {
    long long b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    long long t = atomic_load_explicit(&d->top, memory_order_acquire);
    if (b - t >= DQ_CAP) return 0;
    atomic_store_explicit(&d->buf[b & (DQ_CAP - 1)], j, memory_order_relaxed);
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    return 1;
}

/* Owner only: the most recently pushed job, or NULL. */
static hone_task *dq_pop(deque *d) {
    long long b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    atomic_store_explicit(&d->bottom, b, memory_order_seq_cst);
    long long t = atomic_load_explicit(&d->top, memory_order_seq_cst);
    /* Restoring `bottom` is a release store (free on x86), so a thief that
     * reads the restored value also sees the job published before it,
     * without relying on release sequences through plain stores. */
    if (t > b) {
        atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
        return NULL;
    }
    hone_task *j = atomic_load_explicit(&d->buf[b & (DQ_CAP - 1)], memory_order_relaxed);
    if (t == b) {
        /* The last one: race the thieves for it. */
        if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                     memory_order_relaxed))
            j = NULL;
        atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    }
    return j;
}

/* Any thread: the oldest job, or NULL when empty or when another thief won
 * the race (the caller's `queued` check makes it look again). */
static hone_task *dq_steal(deque *d) {
    long long t = atomic_load_explicit(&d->top, memory_order_seq_cst);
    long long b = atomic_load_explicit(&d->bottom, memory_order_seq_cst);
    if (t >= b) return NULL;
    hone_task *j = atomic_load_explicit(&d->buf[t & (DQ_CAP - 1)], memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return NULL;
    return j;
}

typedef struct worker {
    deque dq; /* written by thieves too */
    char pad0[64];
    /* The owner's own fields, apart from the queue thieves lock. */
    hone_pool *pool;
    unsigned idx;
    unsigned steal_seed;
    unsigned inline_left; /* submissions still to run inline; see INLINE_RUN */
    pthread_t thread;
    char pad1[64];
} worker;

struct hone_pool {
    const hone_allocator *alloc;
    hone_clock_fn clock;
    void *clock_ctx;
    unsigned nworkers;
    worker *workers;
    /* Jobs come from an object pool: per-thread caches make a submission
     * cost no allocator call, and its slabs stay mapped, so a burst of
     * tasks does not page-fault fresh memory every time. */
    hone_objpool *jobs;
    jqueue injector;

    /* The two counters every push and every pop or settle writes each get
     * a cache line of their own: sharing a line with the read-mostly flags
     * below made every submission on one core miss on the line the other
     * core had just written. Padding rather than _Alignas: the pool comes
     * from an allocator that promises 16-byte alignment only, and 64 bytes
     * of distance is enough to part two fields' lines. */
    char pad0[64];
    atomic_size_t queued; /* jobs in some queue */
    char pad1[64];
    atomic_size_t outstanding; /* submitted and not yet settled */
    char pad2[64];
    atomic_size_t settled; /* settle counter: the waiters' fence */
    char pad3[64];
    atomic_int sleepers;       /* idle workers blocked on sleep_cv */
    atomic_int waiters;        /* threads blocked on wait_cv */
    atomic_int helpers;        /* of those, workers that would run new tasks */
    atomic_int stopping;       /* 0, 1 drain, 2 cancel */
    atomic_int cancel_all;
    int shut_down;             /* shutdown finished (joined) */
    char pad4[64];

    pthread_mutex_t mu; /* guards the two condition variables */
    pthread_cond_t sleep_cv;
    pthread_cond_t wait_cv;
    pthread_mutex_t shutdown_mu;

    /* exec.parallel and exec.parallel_threshold as last resolved for the
     * pool's component, and the settings generation they were resolved
     * at (0: never); see hone__pool_serial_below. */
    char component[64];
    _Atomic uint64_t set_gen;
    atomic_size_t serial_below;
};

/* initial-exec: a direct %fs-relative load, where the default model for
 * position-independent code calls __tls_get_addr on every access, which
 * showed in the per-task profile. The variable is small, so the static TLS
 * surplus glibc keeps for dlopen covers it. */
static _Thread_local worker *tls_worker __attribute__((tls_model("initial-exec")));

/* Queued tasks per worker beyond which a worker's submission runs inline. */
#define THROTTLE 64
/* Once over the threshold, a worker runs this many submissions inline
 * before it reads the shared `queued` count again. Every steal writes that
 * count, so reading it on every submission cost the submitting core a
 * cache miss per task while another worker was stealing. Fewer than
 * THROTTLE, so thieves still find queued work while the owner runs these:
 * the hysteresis costs no parallelism. */
#define INLINE_RUN 32

/* Whether a submission by worker `self` (NULL: not a worker of this pool)
 * runs inline: the pool holds more than THROTTLE queued tasks per worker
 * and is not stopping. */
static inline int run_inline(hone_pool *pool, worker *self) {
    if (!self) return 0;
    if (self->inline_left) {
        self->inline_left--;
        return 1;
    }
    if (atomic_load_explicit(&pool->queued, memory_order_relaxed) > THROTTLE * pool->nworkers &&
        !atomic_load_explicit(&pool->stopping, memory_order_relaxed)) {
        self->inline_left = INLINE_RUN - 1;
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- */
/* Queues                                                            */
/* ---------------------------------------------------------------- */

static void jq_push_tail(jqueue *q, hone_task *j) {
    pthread_mutex_lock(&q->mu);
    j->next = NULL;
    j->prev = q->tail;
    if (q->tail) q->tail->next = j;
    else __atomic_store_n(&q->head, j, __ATOMIC_RELAXED);
    q->tail = j;
    pthread_mutex_unlock(&q->mu);
}

static hone_task *jq_pop_head(jqueue *q) {
    /* An unlocked peek first: thieves scanning empty queues must not
     * bounce every worker's lock. A stale answer only costs one retry
     * round, since `queued` tells the caller whether to look again. */
    if (!__atomic_load_n(&q->head, __ATOMIC_RELAXED)) return NULL;
    pthread_mutex_lock(&q->mu);
    hone_task *j = q->head;
    if (j) {
        __atomic_store_n(&q->head, j->next, __ATOMIC_RELAXED);
        if (q->head) q->head->prev = NULL;
        else q->tail = NULL;
    }
    pthread_mutex_unlock(&q->mu);
    return j;
}

/* How many injected jobs a worker takes per visit to the injection queue:
 * one to run and up to this many more for its own deque. One lock hold per
 * job made the injection lock the bottleneck of submissions from outside
 * the pool, with the submitter and every worker fighting for it. */
#define INJECT_BATCH 16

/* Worker `self`, whose deque is empty, takes the injection queue's oldest
 * job to run and moves up to INJECT_BATCH more into its deque, where
 * thieves can still take them. They are pushed newest first, so the owner
 * pops them in submission order. Only the owner pushes to its deque and it
 * was empty, so they fit. */
static hone_task *jq_take(jqueue *q, worker *self) {
    if (!__atomic_load_n(&q->head, __ATOMIC_RELAXED)) return NULL;
    hone_task *more[INJECT_BATCH];
    int k = 0;
    pthread_mutex_lock(&q->mu);
    hone_task *j = q->head, *x = j ? j->next : NULL;
    if (j) {
        for (; x && k < INJECT_BATCH; x = x->next) more[k++] = x;
        __atomic_store_n(&q->head, x, __ATOMIC_RELAXED);
        if (x) x->prev = NULL;
        else q->tail = NULL;
    }
    pthread_mutex_unlock(&q->mu);
    while (k > 0) {
        hone_task *m = more[--k];
        if (!dq_push(&self->dq, m)) jq_push_tail(q, m); /* not reached; see above */
    }
    return j;
}

/* ---------------------------------------------------------------- */
/* Jobs                                                              */
/* ---------------------------------------------------------------- */

uint64_t hone__exec_now(const hone_pool *pool) {
    return pool->clock ? pool->clock(pool->clock_ctx) : hone_now_ns();
}

const hone_allocator *hone__exec_alloc(const hone_pool *pool) { return pool->alloc; }

int hone__exec_custom_clock(const hone_pool *pool) { return pool->clock != NULL; }

hone_task *hone__exec_job_new(hone_pool *pool, hone_task_fn fn, void *arg) {
    hone_task *j = hone_objpool_get(pool->jobs);
    if (!j) return NULL;
    j->fn = fn;
    j->arg = arg;
    j->pool = pool;
    j->prev = j->next = NULL;
    atomic_init(&j->state, HONE_FUTURE_QUEUED);
    atomic_init(&j->cancel, 0);
    atomic_init(&j->refs, 1);
    atomic_init(&j->waited, 0);
    j->result = 0;
    atomic_init(&j->cbflag, 0);
    j->cb = NULL;
    j->cb_arg = NULL;
    j->hook = NULL;
    j->hctx = NULL;
    j->scope = NULL;
    return j;
}

void hone__exec_job_ref(hone_task *job) { atomic_fetch_add(&job->refs, 1); }

void hone__exec_job_unref(hone_task *job) {
    if (atomic_fetch_sub(&job->refs, 1) == 1) hone_objpool_put(job->pool->jobs, job);
}

static void wake_waiters(hone_pool *pool) {
    if (atomic_load(&pool->waiters) > 0) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_broadcast(&pool->wait_cv);
        pthread_mutex_unlock(&pool->mu);
    }
}

static void outstanding_dec(hone_pool *pool) {
    if (atomic_fetch_sub(&pool->outstanding, 1) == 1 && atomic_load(&pool->stopping)) {
        /* The last job of a stopping pool: idle workers may now exit. */
        pthread_mutex_lock(&pool->mu);
        pthread_cond_broadcast(&pool->sleep_cv);
        pthread_mutex_unlock(&pool->mu);
    }
}

/* The callback hand-off. cbflag: 0 none, 1 being installed, 2 installed,
 * 3 settled without a callback, 4 settled and its callback taken. The
 * settler moves 0/1 to 3, or 2 to 4 and runs the callback; an installer
 * whose 1->2 step fails (the settler got there first) or that finds 3
 * claims it with 3->4 and runs the callback itself. Exactly one callback
 * ever runs, once. */
static void settle(hone_task *j, int state) {
    hone_pool *pool = j->pool;
    atomic_store(&j->state, state);
    if (j->hook) j->hook(j, j->hctx);
    int cur = atomic_load(&j->cbflag);
    while (!atomic_compare_exchange_weak(&j->cbflag, &cur, cur == 2 ? 4 : 3)) {
    }
    if (cur == 2) j->cb((hone_future *)j, j->cb_arg);
    /* Only a settlement someone waits for wakes anyone: a job whose future
     * is being waited on, or a hooked job (group, loop) whose waiters test
     * an aggregate. The seq_cst store of `state` (or the RMW on `settled`)
     * before the load of `waited`/`waiters` pairs with the waiter's
     * registration before its check; see hone__exec_wait. */
    if (j->hook) {
        atomic_fetch_add(&pool->settled, 1);
        wake_waiters(pool);
    } else if (atomic_load(&j->waited)) {
        wake_waiters(pool);
    }
    outstanding_dec(pool);
}

/* The end of a scope job, run or refused: records a failure, counts the
 * job off its scope, and frees it. The decrement is the last access to the
 * scope (see HONE__SCOPE_WAITED); the pool stays valid until
 * outstanding_dec, because shutdown waits for `outstanding` to drain. */
static void scope_job_finish(hone_task *j, int result, int counted) {
    hone_pool *pool = j->pool;
    hone_scope *s = j->scope;
    if (result != HONE_OK && atomic_load_explicit(&s->error, memory_order_relaxed) == HONE_OK) {
        int none = HONE_OK;
        atomic_compare_exchange_strong(&s->error, &none, result);
    }
    hone_objpool_put(pool->jobs, j);
    size_t old = atomic_fetch_sub(&s->pending, 1);
    if (old == (HONE__SCOPE_WAITED | 1)) wake_waiters(pool);
    if (counted) outstanding_dec(pool);
}

static void run_job(hone_task *j) {
    if (j->scope) {
        /* No future, so no claim: nobody but this thread can settle it. */
        int r = atomic_load_explicit(&j->pool->cancel_all, memory_order_relaxed)
                    ? HONE_ECANCELED
                    : j->fn(j->arg, j);
        scope_job_finish(j, r, 1);
        return;
    }
    int expected = HONE_FUTURE_QUEUED;
    if (atomic_load_explicit(&j->pool->cancel_all, memory_order_relaxed)) {
        if (atomic_compare_exchange_strong(&j->state, &expected, HONE_FUTURE_CANCELLED))
            settle(j, HONE_FUTURE_CANCELLED);
    } else if (atomic_compare_exchange_strong(&j->state, &expected, HONE_FUTURE_RUNNING)) {
        j->result = j->fn(j->arg, j);
        settle(j, HONE_FUTURE_DONE);
    }
    /* A job cancelled while queued settled then; only its queue reference
     * is left to drop. */
    hone__exec_job_unref(j);
}

static hone_task *find_job(hone_pool *pool, worker *self) {
    hone_task *j = NULL;
    if (atomic_load(&pool->queued) == 0) return NULL;
    if (self) j = dq_pop(&self->dq);
    if (!j) j = self ? jq_take(&pool->injector, self) : jq_pop_head(&pool->injector);
    if (!j) {
        unsigned n = pool->nworkers;
        unsigned start = self ? (self->steal_seed = self->steal_seed * 1103515245u + 12345u) : 0;
        for (unsigned k = 0; k < n && !j; k++) {
            worker *v = &pool->workers[(start + k) % n];
            if (v != self) j = dq_steal(&v->dq);
        }
    }
    if (j) atomic_fetch_sub(&pool->queued, 1);
    return j;
}

static void *worker_main(void *p) {
    worker *self = p;
    hone_pool *pool = self->pool;
    tls_worker = self;
    for (;;) {
        hone_task *j = find_job(pool, self);
        if (j) {
            run_job(j);
            continue;
        }
        /* A short spin before sleeping: a producer submitting a stream of
         * small tasks would otherwise pay a futex wake per task. */
        int found = 0;
        for (int spin = 0; spin < 200; spin++) {
            if (atomic_load_explicit(&pool->queued, memory_order_relaxed)) {
                found = 1;
                break;
            }
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
        if (found) continue;
        pthread_mutex_lock(&pool->mu);
        atomic_fetch_add(&pool->sleepers, 1);
        for (;;) {
            if (atomic_load(&pool->queued) > 0) break;
            if (atomic_load(&pool->stopping) && atomic_load(&pool->outstanding) == 0) break;
            pthread_cond_wait(&pool->sleep_cv, &pool->mu);
        }
        atomic_fetch_sub(&pool->sleepers, 1);
        int stop = atomic_load(&pool->queued) == 0 && atomic_load(&pool->stopping) &&
                   atomic_load(&pool->outstanding) == 0;
        pthread_mutex_unlock(&pool->mu);
        if (stop) break;
    }
    tls_worker = NULL;
    return NULL;
}

int hone__exec_job_push(hone_pool *pool, hone_task *j) {
    worker *self = tls_worker && tls_worker->pool == pool ? tls_worker : NULL;
    atomic_fetch_add(&pool->outstanding, 1);
    int stopping = atomic_load(&pool->stopping);
    if (stopping == 2 || (stopping == 1 && !self)) {
        if (j->scope) {
            scope_job_finish(j, HONE_OK, 1);
            return HONE_ECLOSED;
        }
        int expected = HONE_FUTURE_QUEUED;
        if (atomic_compare_exchange_strong(&j->state, &expected, HONE_FUTURE_CANCELLED))
            settle(j, HONE_FUTURE_CANCELLED);
        else
            outstanding_dec(pool);
        hone__exec_job_unref(j);
        return HONE_ECLOSED;
    }
    /* Counted before it is visible, so `queued` never underflows; a finder
     * that sees the count early just looks again. */
    atomic_fetch_add(&pool->queued, 1);
    if (!self || !dq_push(&self->dq, j)) jq_push_tail(&pool->injector, j);
    int sl = atomic_load(&pool->sleepers), hw = atomic_load(&pool->helpers);
    if (sl > 0 || hw > 0) {
        pthread_mutex_lock(&pool->mu);
        if (sl) pthread_cond_signal(&pool->sleep_cv);
        if (hw) pthread_cond_broadcast(&pool->wait_cv);
        pthread_mutex_unlock(&pool->mu);
    }
    return HONE_OK;
}

int hone__exec_job_cancel(hone_task *j) {
    atomic_store(&j->cancel, 1);
    int expected = HONE_FUTURE_QUEUED;
    if (atomic_compare_exchange_strong(&j->state, &expected, HONE_FUTURE_CANCELLED)) {
        settle(j, HONE_FUTURE_CANCELLED);
        return HONE_OK;
    }
    return expected == HONE_FUTURE_RUNNING ? HONE_EBUSY : HONE_ESTATE;
}

/* ---------------------------------------------------------------- */
/* Waiting                                                           */
/* ---------------------------------------------------------------- */

static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t ns) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + ns;
    ts.tv_sec = (time_t)(t / 1000000000u);
    ts.tv_nsec = (long)(t % 1000000000u);
    pthread_cond_timedwait(cv, mu, &ts);
}

/* The waiting protocol. A waiter registers in `waiters` (an RMW) with the
 * lock held and then reads `settled` before testing its predicate; a
 * settler publishes, bumps `settled` (an RMW) and then reads `waiters`.
 * Sequential consistency forbids both reads missing the other side, so
 * either the waiter sees the settlement or the settler sees the waiter and
 * broadcasts under the lock the waiter holds until it sleeps. Submissions
 * follow the same pattern with `queued`, so a helping worker never sleeps
 * past work it could run. */
int hone__exec_wait(hone_pool *pool, int (*pred)(void *ctx), void *ctx, uint64_t deadline,
                    void (*watch)(void *ctx)) {
    worker *self = tls_worker && tls_worker->pool == pool ? tls_worker : NULL;
    for (;;) {
        if (pred(ctx)) return HONE_OK;
        uint64_t now = deadline == HONE__NO_DEADLINE ? 0 : hone__exec_now(pool);
        if (deadline != HONE__NO_DEADLINE && now >= deadline) return HONE_ETIMEDOUT;
        if (self) {
            hone_task *j = find_job(pool, self);
            if (j) {
                run_job(j);
                continue;
            }
        }
        pthread_mutex_lock(&pool->mu);
        atomic_fetch_add(&pool->waiters, 1);
        if (self) atomic_fetch_add(&pool->helpers, 1);
        if (watch) watch(ctx);
        (void)atomic_load(&pool->settled);
        int ready = pred(ctx) || (self && atomic_load(&pool->queued) > 0);
        if (!ready) {
            if (deadline == HONE__NO_DEADLINE) {
                pthread_cond_wait(&pool->wait_cv, &pool->mu);
            } else {
                uint64_t left = deadline - now;
                if (pool->clock && left > 1000000u) left = 1000000u;
                timed_wait(&pool->wait_cv, &pool->mu, left);
            }
        }
        atomic_fetch_sub(&pool->waiters, 1);
        if (self) atomic_fetch_sub(&pool->helpers, 1);
        pthread_mutex_unlock(&pool->mu);
    }
}

/* ---------------------------------------------------------------- */
/* Pool                                                              */
/* ---------------------------------------------------------------- */

static void pool_destroy(hone_pool *pool) {
    /* Jobs cancelled while queued are still linked; drop their queue
     * references now that no thread can pop them. */
    for (unsigned i = 0; i <= pool->nworkers; i++) {
        hone_task *j;
        if (i < pool->nworkers)
            while ((j = dq_steal(&pool->workers[i].dq)) != NULL) hone__exec_job_unref(j);
        else
            while ((j = jq_pop_head(&pool->injector)) != NULL) hone__exec_job_unref(j);
    }
    hone_objpool_free(pool->jobs);
    pthread_mutex_destroy(&pool->injector.mu);
    pthread_mutex_destroy(&pool->mu);
    pthread_mutex_destroy(&pool->shutdown_mu);
    pthread_cond_destroy(&pool->sleep_cv);
    pthread_cond_destroy(&pool->wait_cv);
    hone_free(pool->alloc, pool->workers);
    hone_free(pool->alloc, pool);
}

static void stop_and_join(hone_pool *pool, unsigned started, int mode) {
    pthread_mutex_lock(&pool->mu);
    if (mode == 2) atomic_store(&pool->cancel_all, 1);
    atomic_store(&pool->stopping, mode);
    pthread_cond_broadcast(&pool->sleep_cv);
    pthread_mutex_unlock(&pool->mu);
    for (unsigned i = 0; i < started; i++) pthread_join(pool->workers[i].thread, NULL);
}

int hone_pool_new(hone_pool **out, const hone_pool_opts *opts, hone_error *err) {
    if (!out) return hone_error_set(err, HONE_EINVAL, "hone_pool_new: out is NULL");
    *out = NULL;
    hone_pool_opts o = {0};
    if (opts) o = *opts;
    unsigned n = o.workers;
    if (n == 0) {
        /* exec.max_workers: the settings table (its level, the config file,
         * HONE_MAX_WORKERS, the API); 0 there means the online CPUs. A
         * malformed HONE_MAX_WORKERS is refused, not ignored. */
        hone_setting_state st;
        int rc = hone_setting_get(HONE_SET_MAX_WORKERS, NULL, &st, err);
        if (rc) return rc;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = st.value.u ? (unsigned)st.value.u : cpus > 0 ? (unsigned)cpus : 1;
    }
    if (o.component && strlen(o.component) >= sizeof ((hone_pool *)0)->component)
        return hone_error_set(err, HONE_EINVAL, "hone_pool_new: component name '%.40s...' is too long",
                              o.component);
    hone_pool *pool = hone_calloc(o.alloc, 1, sizeof *pool);
    if (!pool) return hone_error_set(err, HONE_ENOMEM, "hone_pool_new: out of memory");
    pool->alloc = o.alloc;
    pool->clock = o.clock;
    pool->clock_ctx = o.clock_ctx;
    if (o.component) snprintf(pool->component, sizeof pool->component, "%s", o.component);
    pool->workers = hone_calloc(o.alloc, n, sizeof *pool->workers);
    if (!pool->workers) {
        hone_free(o.alloc, pool);
        return hone_error_set(err, HONE_ENOMEM, "hone_pool_new: out of memory");
    }
    /* Rounded up to whole cache lines: the object pool then aligns jobs to
     * lines, and a job finished on one core shares no line with a job the
     * other core is filling in. */
    hone_objpool_opts jo = {.obj_size = (sizeof(hone_task) + 63) & ~(size_t)63,
                            .slab_objects = 512,
                            .alloc = o.alloc};
    if (hone_objpool_new(&pool->jobs, &jo)) {
        hone_free(o.alloc, pool->workers);
        hone_free(o.alloc, pool);
        return hone_error_set(err, HONE_ENOMEM, "hone_pool_new: out of memory");
    }
    pool->nworkers = n;
    pthread_mutex_init(&pool->injector.mu, NULL);
    pthread_mutex_init(&pool->mu, NULL);
    pthread_mutex_init(&pool->shutdown_mu, NULL);
    pthread_cond_init(&pool->sleep_cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pool->wait_cv, &ca);
    pthread_condattr_destroy(&ca);
    for (unsigned i = 0; i < n; i++) {
        pool->workers[i].pool = pool;
        pool->workers[i].idx = i;
        pool->workers[i].steal_seed = i * 2654435761u + 1;
    }
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&pool->workers[i].thread, NULL, worker_main, &pool->workers[i])) {
            stop_and_join(pool, i, 1);
            pool_destroy(pool);
            return hone_error_set(err, HONE_EIO, "hone_pool_new: cannot start worker thread %u", i);
        }
        char name[16];
        snprintf(name, sizeof name, "hone-w%u", i % 10000u);
        pthread_setname_np(pool->workers[i].thread, name);
    }
    *out = pool;
    return HONE_OK;
}

unsigned hone_pool_workers(const hone_pool *pool) { return pool ? pool->nworkers : 0; }

size_t hone__pool_serial_below(hone_pool *pool) {
    uint64_t gen = hone_settings_generation();
    if (atomic_load_explicit(&pool->set_gen, memory_order_acquire) != gen) {
        const char *c = pool->component[0] ? pool->component : NULL;
        size_t below;
        if (!hone_setting_u64(HONE_SET_PARALLEL, NULL)) {
            below = SIZE_MAX;
        } else {
            uint64_t t = hone_setting_u64(HONE_SET_PARALLEL_THRESHOLD, c);
            below = t > SIZE_MAX ? SIZE_MAX : (size_t)t;
        }
        atomic_store_explicit(&pool->serial_below, below, memory_order_relaxed);
        atomic_store_explicit(&pool->set_gen, gen, memory_order_release);
        return below;
    }
    return atomic_load_explicit(&pool->serial_below, memory_order_relaxed);
}

/* The process-wide pool: made on first use under a mutex, published
 * through an atomic pointer so that later calls cost one acquire load. It
 * allocates from libc directly, not through the switchable default
 * allocator: it outlives any switch (a test's failing allocator included),
 * and its frees must go to the allocator its mallocs came from. */
static void *libc_malloc(void *ctx, size_t n) {
    (void)ctx;
    return malloc(n);
}
static void *libc_realloc(void *ctx, void *p, size_t n) {
    (void)ctx;
    return realloc(p, n);
}
static void libc_free(void *ctx, void *p) {
    (void)ctx;
    free(p);
}
static const hone_allocator default_pool_alloc = {libc_malloc, libc_realloc, libc_free, NULL};
static pthread_mutex_t default_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(hone_pool *) default_pool;

/* fork() copies only the calling thread: in the child the pool's workers
 * are gone, and a task queued there would never run. The child therefore
 * forgets the pool (kept reachable, never touched: its locks may have been
 * held by threads that do not exist there) and makes a new one on first
 * use. The lock is held across fork so the child never sees it mid-update. */
static hone_pool *forked_away;
static void default_prefork(void) { pthread_mutex_lock(&default_mu); }
static void default_parent(void) { pthread_mutex_unlock(&default_mu); }
static void default_child(void) {
    hone_pool *p = atomic_load_explicit(&default_pool, memory_order_relaxed);
    if (p) forked_away = p;
    atomic_store_explicit(&default_pool, NULL, memory_order_relaxed);
    pthread_mutex_unlock(&default_mu);
}

hone_pool *hone_pool_default(void) {
    static int atfork_done;
    hone_pool *p = atomic_load_explicit(&default_pool, memory_order_acquire);
    if (p) return p;
    pthread_mutex_lock(&default_mu);
    if (!atfork_done && pthread_atfork(default_prefork, default_parent, default_child) == 0)
        atfork_done = 1;
    p = atomic_load_explicit(&default_pool, memory_order_relaxed);
    if (!p) {
        /* A failure is not remembered: a later call tries again (it may
         * have been a passing shortage of memory or threads). */
        hone_pool_opts o = {.alloc = &default_pool_alloc};
        if (hone_pool_new(&p, &o, NULL) != HONE_OK) p = NULL;
        if (p) atomic_store_explicit(&default_pool, p, memory_order_release);
    }
    pthread_mutex_unlock(&default_mu);
    return p;
}

static int is_default(const hone_pool *pool) {
    return pool == atomic_load_explicit(&default_pool, memory_order_acquire);
}

int hone_pool_shutdown(hone_pool *pool, hone_shutdown_mode mode) {
    if (!pool || (mode != HONE_SHUTDOWN_DRAIN && mode != HONE_SHUTDOWN_CANCEL)) return HONE_EINVAL;
    if (is_default(pool)) return HONE_ESTATE;
    if (tls_worker && tls_worker->pool == pool) return HONE_ESTATE;
    pthread_mutex_lock(&pool->shutdown_mu);
    if (!pool->shut_down) {
        stop_and_join(pool, pool->nworkers, mode == HONE_SHUTDOWN_CANCEL ? 2 : 1);
        pool->shut_down = 1;
    }
    pthread_mutex_unlock(&pool->shutdown_mu);
    return HONE_OK;
}

void hone_pool_free(hone_pool *pool) {
    if (!pool || is_default(pool)) return;
    hone_pool_shutdown(pool, HONE_SHUTDOWN_DRAIN);
    pool_destroy(pool);
}

int hone_pool_submit(hone_pool *pool, hone_task_fn fn, void *arg, hone_future **out) {
    if (out) *out = NULL;
    if (!pool || !fn) return HONE_EINVAL;
    if (atomic_load_explicit(&pool->stopping, memory_order_relaxed) == 2) return HONE_ECLOSED;
    hone_task *j = hone__exec_job_new(pool, fn, arg);
    if (!j) return HONE_ENOMEM;
    if (out) atomic_store_explicit(&j->refs, 2, memory_order_relaxed);
    worker *self = tls_worker && tls_worker->pool == pool ? tls_worker : NULL;
    if (run_inline(pool, self)) {
        /* Enough queued to keep every worker busy: run it here and now, as
         * OpenMP does past its own threshold. Queues stay short and a burst
         * of tiny tasks costs a call each instead of a queue round trip. */
        /* Nobody else can see the job yet: no claim, no waiter, no
         * callback and no hook are possible, so it settles with plain
         * stores, and the handle's publication to other threads (by the
         * caller) orders them. It is not counted in `outstanding`, since
         * the submitting task (which is) outlives it. */
        atomic_store_explicit(&j->state, HONE_FUTURE_RUNNING, memory_order_relaxed);
        j->result = fn(arg, j);
        atomic_store_explicit(&j->state, HONE_FUTURE_DONE, memory_order_relaxed);
        atomic_store_explicit(&j->cbflag, 3, memory_order_relaxed);
        if (!out) {
            hone_objpool_put(pool->jobs, j);
            return HONE_OK;
        }
        atomic_store_explicit(&j->refs, 1, memory_order_relaxed);
        if (out) *out = (hone_future *)j;
        return HONE_OK;
    }
    int rc = hone__exec_job_push(pool, j);
    if (rc) {
        if (out) hone__exec_job_unref(j);
        return rc;
    }
    if (out) *out = (hone_future *)j;
    return HONE_OK;
}

int hone__exec_spawn(hone_scope *s, hone_task_fn fn, void *arg) {
    hone_pool *pool = s->pool;
    if (atomic_load_explicit(&pool->stopping, memory_order_relaxed) == 2) return HONE_ECLOSED;
    worker *self = tls_worker && tls_worker->pool == pool ? tls_worker : NULL;
    if (run_inline(pool, self)) {
        /* Past the queue threshold, run it here, as hone_pool_submit does.
         * With no future to hand out, the task needs no job at all: its
         * cancellation token lives on this stack frame for the call. */
        hone_task t = {.fn = fn, .arg = arg, .pool = pool};
        atomic_init(&t.cancel, 0);
        int r = fn(arg, &t);
        if (r != HONE_OK && atomic_load_explicit(&s->error, memory_order_relaxed) == HONE_OK) {
            int none = HONE_OK;
            atomic_compare_exchange_strong(&s->error, &none, r);
        }
        return HONE_OK;
    }
    hone_task *j = hone_objpool_get(pool->jobs);
    if (!j) return HONE_ENOMEM;
    j->fn = fn;
    j->arg = arg;
    j->pool = pool;
    j->scope = s;
    atomic_init(&j->cancel, 0);
    atomic_init(&j->refs, 1);
    /* Counted before the job is visible, so that a waiter never sees the
     * scope empty while the job is queued. */
    atomic_fetch_add_explicit(&s->pending, 1, memory_order_relaxed);
    return hone__exec_job_push(pool, j);
}

int hone_task_cancelled(const hone_task *task) {
    return atomic_load_explicit(&task->cancel, memory_order_relaxed) ||
           atomic_load_explicit(&task->pool->cancel_all, memory_order_relaxed);
}

hone_pool *hone_task_pool(const hone_task *task) { return task->pool; }

/* ---------------------------------------------------------------- */
/* Futures                                                           */
/* ---------------------------------------------------------------- */

static int job_settled(void *p) {
    int s = atomic_load(&((hone_task *)p)->state);
    return s == HONE_FUTURE_DONE || s == HONE_FUTURE_CANCELLED;
}

static void job_watch(void *p) { atomic_store(&((hone_task *)p)->waited, 1); }

static int job_result(const hone_task *j) {
    return atomic_load(&j->state) == HONE_FUTURE_CANCELLED ? HONE_ECANCELED : j->result;
}

int hone_future_wait(hone_future *f) {
    if (!f) return HONE_EINVAL;
    hone_task *j = (hone_task *)f;
    hone__exec_wait(j->pool, job_settled, j, HONE__NO_DEADLINE, job_watch);
    return job_result(j);
}

int hone_future_wait_until(hone_future *f, uint64_t deadline_ns) {
    if (!f) return HONE_EINVAL;
    hone_task *j = (hone_task *)f;
    if (deadline_ns == HONE__NO_DEADLINE) deadline_ns--;
    if (hone__exec_wait(j->pool, job_settled, j, deadline_ns, job_watch)) return HONE_ETIMEDOUT;
    return job_result(j);
}

hone_future_state hone_future_state_get(const hone_future *f) {
    return (hone_future_state)atomic_load(&((const hone_task *)f)->state);
}

int hone_future_result(const hone_future *f, int *result) {
    const hone_task *j = (const hone_task *)f;
    if (!f) return HONE_EINVAL;
    if (!job_settled((void *)(uintptr_t)j)) return HONE_EBUSY;
    if (result) *result = job_result(j);
    return HONE_OK;
}

int hone_future_cancel(hone_future *f) {
    if (!f) return HONE_EINVAL;
    return hone__exec_job_cancel((hone_task *)f);
}

int hone_future_on_done(hone_future *f, void (*cb)(hone_future *f, void *arg), void *arg) {
    if (!f || !cb) return HONE_EINVAL;
    hone_task *j = (hone_task *)f;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&j->cbflag, &expected, 1)) {
        /* Settled without a callback: claim the slot and run it here. */
        if (expected != 3 || !atomic_compare_exchange_strong(&j->cbflag, &expected, 4))
            return HONE_EEXIST;
        cb(f, arg);
        return HONE_OK;
    }
    j->cb = cb;
    j->cb_arg = arg;
    expected = 1;
    if (!atomic_compare_exchange_strong(&j->cbflag, &expected, 2)) {
        /* The settler passed while we installed (1 -> 3). */
        expected = 3;
        if (atomic_compare_exchange_strong(&j->cbflag, &expected, 4)) cb(f, arg);
    }
    return HONE_OK;
}

void hone_future_free(hone_future *f) {
    if (f) hone__exec_job_unref((hone_task *)f);
}
