/* exec.c - benchmarks of the executor and memory helpers against OpenMP,
 * raw pthreads and glibc malloc, each baseline measured in the same run.
 * Prints name<TAB>value<TAB>unit lines; ratios are hone / baseline. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "hone.h"

static double now_s(void) { return (double)hone_monotonic_ns() / 1e9; }

/* Keeps the compiler from proving a pointer unused (and deleting a
 * malloc/free pair). */
static inline void escape(void *p) { __asm__ __volatile__("" : : "g"(p) : "memory"); }

#define REPS 5

/* ---------------------------------------------------------------- */

static int empty_task(void *arg, hone_task *t) { return HONE_OK; }

typedef struct spawn {
    hone_future **f;
    int n;
} spawn;

/* The OpenMP pattern: one task (omp single) creates every task, then waits
 * for them all (taskwait); the waiting thread helps run them. */
static int spawner(void *arg, hone_task *t) {
    spawn *s = arg;
    hone_pool *p = hone_task_pool(t);
    for (int i = 0; i < s->n; i++)
        if (hone_pool_submit(p, empty_task, NULL, &s->f[i])) abort();
    for (int i = 0; i < s->n; i++) {
        hone_future_wait(s->f[i]);
        hone_future_free(s->f[i]);
    }
    return HONE_OK;
}

static double hone_tasks(hone_pool *p, hone_future **f, int n) {
    spawn s = {f, n};
    hone_future *root;
    double t0 = now_s();
    if (hone_pool_submit(p, spawner, &s, &root)) abort();
    hone_future_wait(root);
    hone_future_free(root);
    return now_s() - t0;
}

/* The like-for-like counterpart of OpenMP task/taskwait: one task spawns
 * every task into a scope (no future each), then waits for them all,
 * helping to run them. */
static int scope_spawner(void *arg, hone_task *t) {
    int n = *(int *)arg;
    hone_scope *s;
    if (hone_scope_new(&s, hone_task_pool(t))) abort();
    for (int i = 0; i < n; i++)
        if (hone_scope_spawn(s, empty_task, NULL)) abort();
    int rc = hone_scope_wait(s);
    hone_scope_free(s);
    return rc;
}

static double hone_scope_tasks(hone_pool *p, int n) {
    hone_future *root;
    double t0 = now_s();
    if (hone_pool_submit(p, scope_spawner, &n, &root)) abort();
    if (hone_future_wait(root)) abort();
    hone_future_free(root);
    return now_s() - t0;
}

/* Rounds of ROUND tasks, each round waited for: below the inline
 * threshold of both hone and libgomp, so every task goes through a queue
 * and the other worker can take it - the hand-off path rather than inline
 * calls. */
enum { ROUND = 32 };

static int scope_rounds(void *arg, hone_task *t) {
    int n = *(int *)arg;
    hone_scope *s;
    if (hone_scope_new(&s, hone_task_pool(t))) abort();
    for (int r = 0; r < n / ROUND; r++) {
        for (int i = 0; i < ROUND; i++)
            if (hone_scope_spawn(s, empty_task, NULL)) abort();
        if (hone_scope_wait(s)) abort();
    }
    hone_scope_free(s);
    return HONE_OK;
}

static double hone_scope_rounds(hone_pool *p, int n) {
    hone_future *root;
    double t0 = now_s();
    if (hone_pool_submit(p, scope_rounds, &n, &root)) abort();
    if (hone_future_wait(root)) abort();
    hone_future_free(root);
    return now_s() - t0;
}

#ifdef _OPENMP
static double omp_rounds(int n) {
    double t0 = now_s();
#pragma omp parallel
#pragma omp single
    {
        for (int r = 0; r < n / ROUND; r++) {
            for (int i = 0; i < ROUND; i++) {
#pragma omp task
                {
                    escape(NULL);
                }
            }
#pragma omp taskwait
        }
    }
    return now_s() - t0;
}
#endif

/* Untimed: the share of tasks that ran on a thread other than the
 * spawner. Past the queue threshold both hone and libgomp run a task as a
 * plain call on the spawning thread, so this says how much of each figure
 * is real hand-off between threads rather than inline calls. */
static _Thread_local long ran_here;

static int here_task(void *arg, hone_task *t) {
    ran_here++;
    return HONE_OK;
}

static int here_spawner(void *arg, hone_task *t) {
    int n = *(int *)arg;
    hone_scope *s;
    if (hone_scope_new(&s, hone_task_pool(t))) abort();
    long before = ran_here;
    for (int i = 0; i < n; i++)
        if (hone_scope_spawn(s, here_task, NULL)) abort();
    hone_scope_wait(s);
    hone_scope_free(s);
    *(int *)arg = (int)(ran_here - before);
    return HONE_OK;
}

static double hone_offloaded(hone_pool *p, int n) {
    int here = n;
    hone_future *root;
    if (hone_pool_submit(p, here_spawner, &here, &root)) abort();
    hone_future_wait(root);
    hone_future_free(root);
    return (double)(n - here) / n;
}

#ifdef _OPENMP
static double omp_offloaded(int n) {
    long here = 0;
#pragma omp parallel
#pragma omp single
    {
        long before = ran_here;
        for (int i = 0; i < n; i++) {
#pragma omp task
            {
                ran_here++;
            }
        }
#pragma omp taskwait
        here = ran_here - before;
    }
    return (double)(n - here) / n;
}
#endif

/* Submission from a thread outside the pool, through the shared queue. */
static double hone_tasks_external(hone_pool *p, hone_future **f, int n) {
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        if (hone_pool_submit(p, empty_task, NULL, &f[i])) abort();
    for (int i = 0; i < n; i++) {
        hone_future_wait(f[i]);
        hone_future_free(f[i]);
    }
    return now_s() - t0;
}

#ifdef _OPENMP
static double omp_tasks(int n) {
    double t0 = now_s();
#pragma omp parallel
#pragma omp single
    {
        for (int i = 0; i < n; i++) {
#pragma omp task
            {
                escape(NULL);
            }
        }
#pragma omp taskwait
    }
    return now_s() - t0;
}
#endif

static void *empty_thread(void *arg) { return arg; }

static double pthread_tasks(int n) {
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        pthread_t th;
        if (pthread_create(&th, NULL, empty_thread, NULL)) abort();
        pthread_join(th, NULL);
    }
    return now_s() - t0;
}

static void bench_tasks(hone_pool *p) {
    enum { N = 200000, NT = 3000 };
    hone_future **f = malloc(N * sizeof *f);
    double h = 1e9, o = 1e9, t = 1e9, e = 1e9, sc = 1e9, hr = 1e9, orr = 1e9;
    /* hone first, then the baselines: libgomp's idle threads spin after a
     * region and would steal the CPU from hone's workers on a small box. */
    for (int r = 0; r < REPS; r++) {
        double x = hone_scope_tasks(p, N);
        if (x < sc) sc = x;
        x = hone_scope_rounds(p, N);
        if (x < hr) hr = x;
        x = hone_tasks(p, f, N);
        if (x < h) h = x;
        x = hone_tasks_external(p, f, N);
        if (x < e) e = x;
    }
    for (int r = 0; r < REPS; r++) {
        double x = pthread_tasks(NT);
        if (x < t) t = x;
    }
#ifdef _OPENMP
    for (int r = 0; r < REPS; r++) {
        double x = omp_tasks(N);
        if (x < o) o = x;
        x = omp_rounds(N);
        if (x < orr) orr = x;
    }
#endif
    double ho = hone_offloaded(p, N), oo = 0;
#ifdef _OPENMP
    oo = omp_offloaded(N);
#endif
    free(f);
    double sn = sc / N * 1e9, hn = h / N * 1e9, tn = t / NT * 1e9;
    /* exec.task.* measures hone_scope_spawn + hone_scope_wait, the same
     * contract as OpenMP task + taskwait (no per-task handle);
     * exec.future.* measures hone_pool_submit + hone_future_wait with
     * 200 000 futures alive at once, which OpenMP has no equivalent of. */
    printf("exec.task.submit_complete\t%.1f\tns/task (hone_scope_spawn+wait)\n", sn);
    printf("exec.future.submit_complete\t%.1f\tns/task (hone_pool_submit+future_wait)\n", hn);
    printf("exec.future.external_submit_complete\t%.1f\tns/task (futures, from outside the pool)\n",
           e / N * 1e9);
#ifdef _OPENMP
    double on = o / N * 1e9;
    printf("exec.task.omp\t%.1f\tns/task\n", on);
    printf("exec.task.ratio\t%.3f\tvs OpenMP task/taskwait (hone_scope_spawn/wait)\n", sn / on);
    printf("exec.future.ratio\t%.3f\tvs OpenMP task/taskwait (hone futures)\n", hn / on);
#else
    (void)o;
#endif
    printf("exec.task.rounds\t%.1f\tns/task (hone_scope, rounds of %d + wait)\n",
           hr / N * 1e9, ROUND);
#ifdef _OPENMP
    printf("exec.task.rounds.omp\t%.1f\tns/task (OpenMP, rounds of %d + taskwait)\n", orr / N * 1e9,
           ROUND);
    printf("exec.task.rounds.ratio\t%.3f\tvs OpenMP task/taskwait rounds (hone_scope)\n",
           hr / orr);
#else
    (void)orr;
#endif
    printf("exec.task.offloaded\t%.3f\tshare of tasks run off the spawner (hone_scope)\n", ho);
#ifdef _OPENMP
    printf("exec.task.omp.offloaded\t%.3f\tshare of tasks run off the spawner (OpenMP)\n", oo);
#else
    (void)oo;
#endif
    printf("exec.task.pthread\t%.1f\tns/task\n", tn);
    printf("exec.task.pthread.ratio\t%.4f\tvs pthread_create+join (hone_scope)\n", sn / tn);
}

/* ---------------------------------------------------------------- */

typedef struct sumctx {
    const double *v;
    pthread_mutex_t mu;
    double total;
} sumctx;

static int sum_range(void *ctx, size_t lo, size_t hi) {
    sumctx *s = ctx;
    double acc = 0;
    for (size_t i = lo; i < hi; i++) acc += s->v[i];
    pthread_mutex_lock(&s->mu);
    s->total += acc;
    pthread_mutex_unlock(&s->mu);
    return HONE_OK;
}

static void bench_pfor(hone_pool *p) {
    enum { N = 10000000 };
    double *v = malloc(N * sizeof *v);
    for (size_t i = 0; i < N; i++) v[i] = (double)(i % 1000) * 0.5;
    double h = 1e9, o = 1e9, hs = 0, os = 0;
    for (int r = 0; r < REPS * 2; r++) {
        sumctx s = {v, PTHREAD_MUTEX_INITIALIZER, 0};
        double t0 = now_s();
        hone_parallel_for(p, 0, N, 0, sum_range, &s);
        double x = now_s() - t0;
        if (x < h) h = x;
        hs = s.total;
    }
    for (int r = 0; r < REPS * 2; r++) {
#ifdef _OPENMP
        double acc = 0;
        double t0 = now_s();
#pragma omp parallel for reduction(+ : acc) schedule(static)
        for (long i = 0; i < (long)N; i++) acc += v[i];
        double x = now_s() - t0;
        if (x < o) o = x;
        os = acc;
#endif
    }
    free(v);
    printf("exec.pfor.sum10m\t%.3f\tms\n", h * 1e3);
#ifdef _OPENMP
    printf("exec.pfor.omp\t%.3f\tms\n", o * 1e3);
    printf("exec.pfor.ratio\t%.3f\tvs OpenMP parallel for reduction\n", h / o);
    if (hs != os) fprintf(stderr, "exec.pfor: sums differ (%.1f vs %.1f)\n", hs, os);
#else
    (void)os;
    (void)o;
    (void)hs;
#endif
}

/* ---------------------------------------------------------------- */

static void batch_sink(void *ctx, void **items, size_t n) { escape(items); }

typedef struct prod {
    hone_batcher *b;
    int n;
} prod;

static void *producer(void *arg) {
    prod *p = arg;
    struct timespec ts = {0, 200000}; /* 0.2 ms between items */
    for (int i = 0; i < p->n; i++) {
        hone_batcher_add(p->b, (void *)(intptr_t)i, HONE_BATCH_BLOCK);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void bench_batcher(void) {
    const uint64_t max_wait = 5000000; /* 5 ms */
    hone_batcher_opts o = {.batch_size = 64, .max_wait_ns = max_wait};
    hone_batcher *b;
    if (hone_batcher_new(&b, batch_sink, NULL, &o, NULL)) abort();
    enum { P = 2, PER = 2500 };
    pthread_t th[P];
    prod pr[P];
    for (int i = 0; i < P; i++) {
        pr[i] = (prod){b, PER};
        pthread_create(&th[i], NULL, producer, &pr[i]);
    }
    for (int i = 0; i < P; i++) pthread_join(th[i], NULL);
    hone_batcher_close(b);
    hone_batcher_stats st;
    hone_batcher_stats_get(b, &st);
    hone_batcher_free(b);
    printf("exec.batch.items\t%llu\titems\n", (unsigned long long)st.items);
    printf("exec.batch.mean_size\t%.1f\titems\n", st.mean_batch);
    printf("exec.batch.max_wait_ms\t%.3f\tms\n", (double)max_wait / 1e6);
    printf("exec.batch.p50_added_ms\t%.3f\tms\n", st.latency_p50_ns / 1e6);
    printf("exec.batch.p99_added_ms\t%.3f\tms\n", st.latency_p99_ns / 1e6);
    printf("exec.batch.p99_added_ms.ratio\t%.3f\tvs configured max wait\n",
           st.latency_p99_ns / (double)max_wait);
}

/* ---------------------------------------------------------------- */

static void bench_objpool(void) {
    enum { ROUNDS = 300000, K = 16 };
    hone_objpool_opts o = {.obj_size = 64};
    hone_objpool *p;
    if (hone_objpool_new(&p, &o)) abort();
    void *held[K];
    double h = 1e9, m = 1e9;
    for (int r = 0; r < REPS; r++) {
        double t0 = now_s();
        for (int i = 0; i < ROUNDS; i++) {
            for (int k = 0; k < K; k++) held[k] = hone_objpool_get(p);
            escape(held);
            for (int k = 0; k < K; k++) hone_objpool_put(p, held[k]);
        }
        double x = now_s() - t0;
        if (x < h) h = x;
        t0 = now_s();
        for (int i = 0; i < ROUNDS; i++) {
            for (int k = 0; k < K; k++) held[k] = malloc(64);
            escape(held);
            for (int k = 0; k < K; k++) free(held[k]);
        }
        x = now_s() - t0;
        if (x < m) m = x;
    }
    hone_objpool_free(p);
    double ops = (double)ROUNDS * K;
    printf("mem.pool.get_put\t%.2f\tns/pair\n", h / ops * 1e9);
    printf("mem.pool.malloc_free\t%.2f\tns/pair\n", m / ops * 1e9);
    printf("mem.pool.ratio\t%.3f\tvs glibc malloc/free\n", h / m);
}

static void bench_interner(void) {
    enum { KEYS = 100000, LOOKUPS = 2000000 };
    hone_interner *in;
    if (hone_interner_new(&in, NULL)) abort();
    char (*keys)[24] = malloc(KEYS * sizeof *keys);
    size_t *lens = malloc(KEYS * sizeof *lens);
    for (int i = 0; i < KEYS; i++) {
        lens[i] = (size_t)snprintf(keys[i], sizeof keys[i], "metric.name.%d", i);
        const char *s;
        if (hone_intern(in, keys[i], lens[i], &s)) abort();
    }
    double best = 1e9;
    uint64_t x = 88172645463325252ull;
    for (int r = 0; r < REPS; r++) {
        double t0 = now_s();
        for (int i = 0; i < LOOKUPS; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            size_t k = (size_t)(x % KEYS);
            const char *s;
            hone_intern(in, keys[k], lens[k], &s);
            escape((void *)s);
        }
        double t = now_s() - t0;
        if (t < best) best = t;
    }
    printf("mem.intern.lookups\t%.2f\tM/s\n", LOOKUPS / best / 1e6);
    free(keys);
    free(lens);
    hone_interner_free(in);
}

int main(void) {
    hone_clock_init();
    hone_pool *p;
    if (hone_pool_new(&p, NULL, NULL)) return 1;
    printf("exec.workers\t%u\tthreads\n", hone_pool_workers(p));
    fflush(stdout);
    bench_tasks(p);
    fflush(stdout);
    bench_pfor(p);
    fflush(stdout);
    hone_pool_free(p);
    bench_batcher();
    fflush(stdout);
    bench_objpool();
    bench_interner();
    return 0;
}
