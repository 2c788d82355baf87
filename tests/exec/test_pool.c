/* test_pool.c - the thread pool and futures: results, nested waits on a
 * one-worker pool, cancellation (queued, running, racing), deadlines on a
 * fake clock, completion callbacks, and both shutdown modes. */
#include "test.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_int counter;

static int count_task(void *arg, hone_task *t) {
    atomic_fetch_add(&counter, 1);
    return (int)(intptr_t)arg;
}

static void submit_and_wait_results(void **state) {
    hone_pool *p = mkpool(4, NULL);
    enum { N = 1000 };
    hone_future **f = calloc(N, sizeof *f);
    atomic_store(&counter, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(hone_pool_submit(p, count_task, (void *)(intptr_t)(i % 3 ? 0 : HONE_EFAIL), &f[i]),
                         HONE_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(hone_future_wait(f[i]), i % 3 ? HONE_OK : HONE_EFAIL);
        assert_int_equal(hone_future_state_get(f[i]), HONE_FUTURE_DONE);
        int r = 1;
        assert_int_equal(hone_future_result(f[i], &r), HONE_OK);
        assert_int_equal(r, i % 3 ? HONE_OK : HONE_EFAIL);
        hone_future_free(f[i]);
    }
    assert_int_equal(atomic_load(&counter), N);
    free(f);
    hone_pool_free(p);
}

static void bad_arguments(void **state) {
    hone_pool *p = mkpool(1, NULL);
    hone_future *f = (hone_future *)1;
    assert_int_equal(hone_pool_submit(p, NULL, NULL, &f), HONE_EINVAL);
    assert_null(f);
    assert_int_equal(hone_pool_submit(NULL, count_task, NULL, NULL), HONE_EINVAL);
    assert_int_equal(hone_pool_new(NULL, NULL, NULL), HONE_EINVAL);
    assert_int_equal(hone_pool_shutdown(p, (hone_shutdown_mode)7), HONE_EINVAL);
    hone_pool_free(p);
    hone_pool_free(NULL);
    hone_future_free(NULL);
}

static void workers_from_env(void **state) {
    setenv("HONE_MAX_WORKERS", "3", 1);
    hone_pool *p = NULL;
    assert_int_equal(hone_pool_new(&p, NULL, NULL), HONE_OK);
    assert_int_equal(hone_pool_workers(p), 3);
    hone_pool_free(p);
    /* Options win over the environment. */
    hone_pool_opts o = {.workers = 2};
    assert_int_equal(hone_pool_new(&p, &o, NULL), HONE_OK);
    assert_int_equal(hone_pool_workers(p), 2);
    hone_pool_free(p);
    /* 0 is exec.max_workers' "one per online CPU". */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    setenv("HONE_MAX_WORKERS", "0", 1);
    assert_int_equal(hone_pool_new(&p, NULL, NULL), HONE_OK);
    assert_int_equal(hone_pool_workers(p), cpus > 0 ? (unsigned)cpus : 1u);
    hone_pool_free(p);
    setenv("HONE_MAX_WORKERS", "abc", 1);
    hone_error err = {0};
    p = (hone_pool *)1;
    assert_int_equal(hone_pool_new(&p, NULL, &err), HONE_EINVAL);
    assert_null(p);
    assert_string_equal(err.msg, "HONE_MAX_WORKERS=abc: expected an integer from 0 to 1024");
    setenv("HONE_MAX_WORKERS", "1025", 1);
    assert_int_equal(hone_pool_new(&p, NULL, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "HONE_MAX_WORKERS=1025"));
    unsetenv("HONE_MAX_WORKERS");
    assert_int_equal(hone_pool_new(&p, NULL, NULL), HONE_OK);
    assert_true(hone_pool_workers(p) >= 1);
    hone_pool_free(p);
}

/* The settings table's levels reach the pool: at level basic a pool whose
 * options leave workers at 0 has exec.max_workers = 2 workers, and loops
 * of fewer than exec.parallel_threshold = 4096 indexes run on the calling
 * thread alone; a component's own threshold applies to its pool. */
typedef struct tid_probe {
    pthread_t caller;
    atomic_int other_thread;
} tid_probe;

static int note_thread(void *ctx, size_t lo, size_t hi) {
    tid_probe *t = ctx;
    (void)lo;
    (void)hi;
    if (!pthread_equal(pthread_self(), t->caller)) atomic_store(&t->other_thread, 1);
    return HONE_OK;
}

static void level_sets_workers_and_parallel_threshold(void **state) {
    (void)state;
    unsetenv("HONE_MAX_WORKERS");
    setenv("HONE_LEVEL", "basic", 1);
    hone_pool *p = NULL;
    assert_int_equal(hone_pool_new(&p, NULL, NULL), HONE_OK);
    assert_int_equal(hone_pool_workers(p), 2);
    tid_probe t = {.caller = pthread_self()};
    atomic_init(&t.other_thread, 0);
    /* 4095 indexes in chunks of 1: below basic's threshold, all on the
     * caller. */
    for (int round = 0; round < 20; round++)
        assert_int_equal(hone_parallel_for(p, 0, 4095, 1, note_thread, &t), HONE_OK);
    assert_int_equal(atomic_load(&t.other_thread), 0);
    hone_pool_free(p);

    /* HONE_PARALLEL=off: every loop on the caller, whatever its size. */
    unsetenv("HONE_LEVEL");
    setenv("HONE_PARALLEL", "off", 1);
    hone_pool_opts o = {.workers = 2};
    assert_int_equal(hone_pool_new(&p, &o, NULL), HONE_OK);
    for (int round = 0; round < 20; round++)
        assert_int_equal(hone_parallel_for(p, 0, 100000, 1, note_thread, &t), HONE_OK);
    assert_int_equal(atomic_load(&t.other_thread), 0);
    hone_pool_free(p);
    unsetenv("HONE_PARALLEL");

    /* A component's threshold (api layer) applies to its pool only. */
    assert_int_equal(hone_setting_set(HONE_SET_PARALLEL_THRESHOLD, "walker", HONE_ORIGIN_API,
                                      "1000000", "test", NULL),
                     HONE_OK);
    o.component = "walker";
    assert_int_equal(hone_pool_new(&p, &o, NULL), HONE_OK);
    for (int round = 0; round < 20; round++)
        assert_int_equal(hone_parallel_for(p, 0, 100000, 1, note_thread, &t), HONE_OK);
    assert_int_equal(atomic_load(&t.other_thread), 0);
    /* Removing it takes effect on the live pool: helpers join again. A
     * helper blocked until it is seen on another thread would hang if the
     * loop stayed serial, so wait with a bound instead: some round sees
     * another thread. */
    hone_setting_unset(HONE_SET_PARALLEL_THRESHOLD, "walker", HONE_ORIGIN_API);
    for (int round = 0; round < 2000 && !atomic_load(&t.other_thread); round++)
        assert_int_equal(hone_parallel_for(p, 0, 100000, 1, note_thread, &t), HONE_OK);
    assert_int_equal(atomic_load(&t.other_thread), 1);
    hone_pool_free(p);
}

/* Each level submits the next and waits for it: on one worker this only
 * finishes if waiting runs the child instead of blocking. */
static int nest(void *arg, hone_task *t) {
    intptr_t depth = (intptr_t)arg;
    if (depth == 0) return 0;
    hone_future *f;
    int rc = hone_pool_submit(hone_task_pool(t), nest, (void *)(depth - 1), &f);
    if (rc) return rc;
    rc = hone_future_wait(f);
    hone_future_free(f);
    return rc < 0 ? rc : rc + 1;
}

static void nested_deep_one_worker(void **state) {
    hone_pool *p = mkpool(1, NULL);
    hone_future *f;
    assert_int_equal(hone_pool_submit(p, nest, (void *)(intptr_t)300, &f), HONE_OK);
    assert_int_equal(hone_future_wait(f), 300);
    hone_future_free(f);
    hone_pool_free(p);
}

/* Fork-join fibonacci: fan-out plus nesting. */
static int fib(void *arg, hone_task *t) {
    intptr_t n = (intptr_t)arg;
    if (n < 2) return (int)n;
    hone_future *a;
    if (hone_pool_submit(hone_task_pool(t), fib, (void *)(n - 1), &a)) return -100;
    int b = fib((void *)(n - 2), t);
    int ra = hone_future_wait(a);
    hone_future_free(a);
    return ra + b;
}

static void nested_fib(void **state) {
    for (unsigned w = 1; w <= 4; w++) {
        hone_pool *p = mkpool(w, NULL);
        hone_future *f;
        assert_int_equal(hone_pool_submit(p, fib, (void *)(intptr_t)16, &f), HONE_OK);
        assert_int_equal(hone_future_wait(f), 987);
        hone_future_free(f);
        hone_pool_free(p);
    }
}

static int wait_latch_task(void *arg, hone_task *t) {
    latch_wait(arg);
    return HONE_OK;
}

static int set_flag_task(void *arg, hone_task *t) {
    atomic_store((atomic_int *)arg, 1);
    return HONE_OK;
}

static void cancel_queued_never_runs(void **state) {
    hone_pool *p = mkpool(1, NULL);
    latch gate;
    latch_init(&gate, 1);
    atomic_int ran = 0;
    hone_future *blocker, *victim;
    assert_int_equal(hone_pool_submit(p, wait_latch_task, &gate, &blocker), HONE_OK);
    assert_int_equal(hone_pool_submit(p, set_flag_task, &ran, &victim), HONE_OK);
    assert_int_equal(hone_future_cancel(victim), HONE_OK);
    assert_int_equal(hone_future_state_get(victim), HONE_FUTURE_CANCELLED);
    assert_int_equal(hone_future_cancel(victim), HONE_ESTATE);
    latch_down(&gate);
    assert_int_equal(hone_future_wait(blocker), HONE_OK);
    assert_int_equal(hone_future_wait(victim), HONE_ECANCELED);
    hone_future_free(blocker);
    hone_future_free(victim);
    hone_pool_free(p); /* drains: the cancelled job is dropped, not run */
    assert_int_equal(atomic_load(&ran), 0);
    latch_destroy(&gate);
}

typedef struct coop {
    latch started;
    atomic_int saw_cancel;
} coop;

static int until_cancelled(void *arg, hone_task *t) {
    coop *c = arg;
    latch_down(&c->started);
    while (!hone_task_cancelled(t)) sched_yield();
    atomic_store(&c->saw_cancel, 1);
    return HONE_ECANCELED;
}

static void cancel_running_sees_token(void **state) {
    hone_pool *p = mkpool(2, NULL);
    coop c;
    latch_init(&c.started, 1);
    atomic_init(&c.saw_cancel, 0);
    hone_future *f;
    assert_int_equal(hone_pool_submit(p, until_cancelled, &c, &f), HONE_OK);
    latch_wait(&c.started);
    assert_int_equal(hone_future_state_get(f), HONE_FUTURE_RUNNING);
    int r;
    assert_int_equal(hone_future_result(f, &r), HONE_EBUSY);
    assert_int_equal(hone_future_cancel(f), HONE_EBUSY);
    assert_int_equal(hone_future_wait(f), HONE_ECANCELED);
    assert_int_equal(hone_future_state_get(f), HONE_FUTURE_DONE);
    assert_int_equal(atomic_load(&c.saw_cancel), 1);
    assert_int_equal(hone_future_cancel(f), HONE_ESTATE);
    hone_future_free(f);
    hone_pool_free(p);
    latch_destroy(&c.started);
}

/* Cancel racing with start: each future either ran (DONE, counted) or
 * never ran (CANCELLED, not counted); nothing in between. */
static void cancel_race(void **state) {
    hone_pool *p = mkpool(2, NULL);
    enum { N = 2000 };
    hone_future **f = calloc(N, sizeof *f);
    atomic_int *ran = calloc(N, sizeof *ran);
    for (int i = 0; i < N; i++) {
        assert_int_equal(hone_pool_submit(p, set_flag_task, &ran[i], &f[i]), HONE_OK);
        if (i % 2 == 0) {
            int rc = hone_future_cancel(f[i]);
            assert_true(rc == HONE_OK || rc == HONE_EBUSY || rc == HONE_ESTATE);
        }
    }
    int cancelled = 0;
    for (int i = 0; i < N; i++) {
        int rc = hone_future_wait(f[i]);
        if (hone_future_state_get(f[i]) == HONE_FUTURE_CANCELLED) {
            assert_int_equal(rc, HONE_ECANCELED);
            cancelled++;
        } else {
            assert_int_equal(rc, HONE_OK);
        }
        hone_future_free(f[i]);
    }
    hone_pool_free(p);
    int runs = 0;
    for (int i = 0; i < N; i++) runs += atomic_load(&ran[i]);
    assert_int_equal(runs + cancelled, N);
    free(f);
    free(ran);
}

static void wait_deadline_fake_clock(void **state) {
    fake_clock clk;
    atomic_init(&clk.now, 1000);
    hone_pool_opts o = {.workers = 1, .clock = fake_now, .clock_ctx = &clk};
    hone_pool *p;
    assert_int_equal(hone_pool_new(&p, &o, NULL), HONE_OK);
    latch gate;
    latch_init(&gate, 1);
    hone_future *f;
    assert_int_equal(hone_pool_submit(p, wait_latch_task, &gate, &f), HONE_OK);
    /* A deadline already passed times out at once and leaves the task. */
    assert_int_equal(hone_future_wait_until(f, 500), HONE_ETIMEDOUT);
    assert_int_not_equal(hone_future_state_get(f), HONE_FUTURE_DONE);
    /* A deadline ahead times out once the clock gets there. */
    assert_int_equal(hone_future_wait_until(f, 1000), HONE_ETIMEDOUT);
    latch_down(&gate);
    assert_int_equal(hone_future_wait_until(f, UINT64_MAX), HONE_OK);
    hone_future_free(f);
    hone_pool_free(p);
    latch_destroy(&gate);
}

typedef struct advancer {
    fake_clock *clk;
    latch *waiting;
} advancer;

static void *advance_later(void *arg) {
    advancer *a = arg;
    latch_wait(a->waiting);
    fake_advance(a->clk, 10000);
    return NULL;
}

static int gate_then_down(void *arg, hone_task *t) {
    latch **l = arg;
    latch_down(l[1]); /* tell the test the task runs */
    latch_wait(l[0]);
    return HONE_OK;
}

static void wait_deadline_clock_moves(void **state) {
    fake_clock clk;
    atomic_init(&clk.now, 0);
    hone_pool_opts o = {.workers = 1, .clock = fake_now, .clock_ctx = &clk};
    hone_pool *p;
    assert_int_equal(hone_pool_new(&p, &o, NULL), HONE_OK);
    latch gate, running;
    latch_init(&gate, 1);
    latch_init(&running, 1);
    latch *ls[2] = {&gate, &running};
    hone_future *f;
    assert_int_equal(hone_pool_submit(p, gate_then_down, ls, &f), HONE_OK);
    advancer a = {&clk, &running};
    pthread_t th;
    pthread_create(&th, NULL, advance_later, &a);
    /* Blocks until the other thread moves the clock past the deadline. */
    assert_int_equal(hone_future_wait_until(f, 5000), HONE_ETIMEDOUT);
    pthread_join(th, NULL);
    assert_int_equal(hone_future_state_get(f), HONE_FUTURE_RUNNING);
    latch_down(&gate);
    assert_int_equal(hone_future_wait(f), HONE_OK);
    hone_future_free(f);
    hone_pool_free(p);
    latch_destroy(&gate);
    latch_destroy(&running);
}

typedef struct cbinfo {
    atomic_int calls;
    pthread_t thread;
    int result;
    latch done;
} cbinfo;

static void on_done(hone_future *f, void *arg) {
    cbinfo *c = arg;
    c->thread = pthread_self();
    assert_int_equal(hone_future_result(f, &c->result), HONE_OK);
    atomic_fetch_add(&c->calls, 1);
    latch_down(&c->done);
}

static int ret_seven(void *arg, hone_task *t) {
    latch_wait(arg);
    return 7;
}

static void completion_callback(void **state) {
    hone_pool *p = mkpool(1, NULL);
    latch gate;
    latch_init(&gate, 1);
    cbinfo c = {0};
    latch_init(&c.done, 1);
    hone_future *f;
    assert_int_equal(hone_pool_submit(p, ret_seven, &gate, &f), HONE_OK);
    assert_int_equal(hone_future_on_done(f, on_done, &c), HONE_OK);
    assert_int_equal(hone_future_on_done(f, on_done, &c), HONE_EEXIST);
    latch_down(&gate);
    latch_wait(&c.done);
    assert_int_equal(atomic_load(&c.calls), 1);
    assert_int_equal(c.result, 7);
    /* It ran on the worker, not here. */
    assert_false(pthread_equal(c.thread, pthread_self()));
    hone_future_wait(f);
    hone_future_free(f);

    /* Already settled: runs at once on the caller. */
    cbinfo c2 = {0};
    latch_init(&c2.done, 1);
    assert_int_equal(hone_pool_submit(p, ret_seven, &gate, &f), HONE_OK);
    hone_future_wait(f);
    assert_int_equal(hone_future_on_done(f, on_done, &c2), HONE_OK);
    assert_int_equal(atomic_load(&c2.calls), 1);
    assert_true(pthread_equal(c2.thread, pthread_self()));
    /* Still one callback per future, settled or not. */
    assert_int_equal(hone_future_on_done(f, on_done, &c2), HONE_EEXIST);
    assert_int_equal(atomic_load(&c2.calls), 1);
    hone_future_free(f);

    /* Cancelled while queued: runs on the cancelling thread. */
    latch gate2;
    latch_init(&gate2, 1);
    hone_future *blocker;
    cbinfo c3 = {0};
    latch_init(&c3.done, 1);
    assert_int_equal(hone_pool_submit(p, ret_seven, &gate2, &blocker), HONE_OK);
    assert_int_equal(hone_pool_submit(p, ret_seven, &gate, &f), HONE_OK);
    assert_int_equal(hone_future_on_done(f, on_done, &c3), HONE_OK);
    assert_int_equal(hone_future_cancel(f), HONE_OK);
    assert_int_equal(atomic_load(&c3.calls), 1);
    assert_int_equal(c3.result, HONE_ECANCELED);
    assert_true(pthread_equal(c3.thread, pthread_self()));
    latch_down(&gate2);
    hone_future_wait(blocker);
    hone_future_free(blocker);
    hone_future_free(f);
    hone_pool_free(p);
    latch_destroy(&gate);
    latch_destroy(&gate2);
    latch_destroy(&c.done);
    latch_destroy(&c2.done);
    latch_destroy(&c3.done);
}

/* Racing callback installation against completion: it must run once. */
static void callback_race(void **state) {
    hone_pool *p = mkpool(2, NULL);
    enum { N = 500 };
    cbinfo *cs = calloc(N, sizeof *cs);
    latch open;
    latch_init(&open, 0);
    for (int i = 0; i < N; i++) {
        hone_future *f;
        latch_init(&cs[i].done, 1);
        assert_int_equal(hone_pool_submit(p, ret_seven, &open, &f), HONE_OK);
        assert_int_equal(hone_future_on_done(f, on_done, &cs[i]), HONE_OK);
        hone_future_free(f);
    }
    for (int i = 0; i < N; i++) {
        latch_wait(&cs[i].done);
        assert_int_equal(cs[i].result, 7);
    }
    hone_pool_free(p);
    for (int i = 0; i < N; i++) {
        assert_int_equal(atomic_load(&cs[i].calls), 1);
        latch_destroy(&cs[i].done);
    }
    free(cs);
    latch_destroy(&open);
}

static int spawn_children(void *arg, hone_task *t) {
    for (int i = 0; i < 10; i++) {
        if (hone_pool_submit(hone_task_pool(t), count_task, NULL, NULL)) return HONE_EFAIL;
    }
    return HONE_OK;
}

static void shutdown_drain(void **state) {
    hone_pool *p = mkpool(2, NULL);
    atomic_store(&counter, 0);
    for (int i = 0; i < 500; i++) assert_int_equal(hone_pool_submit(p, count_task, NULL, NULL), HONE_OK);
    /* Nested submissions during the drain still run. */
    for (int i = 0; i < 50; i++)
        assert_int_equal(hone_pool_submit(p, spawn_children, NULL, NULL), HONE_OK);
    assert_int_equal(hone_pool_shutdown(p, HONE_SHUTDOWN_DRAIN), HONE_OK);
    assert_int_equal(atomic_load(&counter), 1000);
    assert_int_equal(hone_pool_submit(p, count_task, NULL, NULL), HONE_ECLOSED);
    assert_int_equal(hone_pool_shutdown(p, HONE_SHUTDOWN_CANCEL), HONE_OK); /* idempotent */
    hone_pool_free(p);
}

static void shutdown_cancel(void **state) {
    hone_pool *p = mkpool(1, NULL);
    coop c;
    latch_init(&c.started, 1);
    atomic_init(&c.saw_cancel, 0);
    hone_future *run, *q[100];
    assert_int_equal(hone_pool_submit(p, until_cancelled, &c, &run), HONE_OK);
    latch_wait(&c.started);
    atomic_store(&counter, 0);
    for (int i = 0; i < 100; i++) assert_int_equal(hone_pool_submit(p, count_task, NULL, &q[i]), HONE_OK);
    assert_int_equal(hone_pool_shutdown(p, HONE_SHUTDOWN_CANCEL), HONE_OK);
    assert_int_equal(atomic_load(&c.saw_cancel), 1);
    assert_int_equal(hone_future_wait(run), HONE_ECANCELED);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(hone_future_state_get(q[i]), HONE_FUTURE_CANCELLED);
        assert_int_equal(hone_future_wait(q[i]), HONE_ECANCELED);
        hone_future_free(q[i]);
    }
    assert_int_equal(atomic_load(&counter), 0);
    hone_future_free(run);
    assert_int_equal(hone_pool_submit(p, count_task, NULL, NULL), HONE_ECLOSED);
    hone_pool_free(p);
    latch_destroy(&c.started);
}

static int try_shutdown_inside(void *arg, hone_task *t) {
    return hone_pool_shutdown(hone_task_pool(t), HONE_SHUTDOWN_DRAIN);
}

static void shutdown_from_task_refused(void **state) {
    hone_pool *p = mkpool(1, NULL);
    hone_future *f;
    assert_int_equal(hone_pool_submit(p, try_shutdown_inside, NULL, &f), HONE_OK);
    assert_int_equal(hone_future_wait(f), HONE_ESTATE);
    hone_future_free(f);
    hone_pool_free(p);
}

/* Free with detached work still queued: everything runs first. */
static void free_drains_detached(void **state) {
    hone_pool *p = mkpool(2, NULL);
    atomic_store(&counter, 0);
    for (int i = 0; i < 300; i++) assert_int_equal(hone_pool_submit(p, count_task, NULL, NULL), HONE_OK);
    hone_pool_free(p);
    assert_int_equal(atomic_load(&counter), 300);
}

typedef struct burst {
    int settled_at_submit;
    int sum;
    int callbacks_inline;
} burst;

static int ret_index(void *arg, hone_task *t) { return (int)(intptr_t)arg; }

static void count_cb(hone_future *f, void *arg) { (*(int *)arg)++; }

/* One worker, so nobody else pops: the first 65 children queue, and past
 * 64 queued per worker every further submission runs inline. */
static int burst_task(void *arg, hone_task *t) {
    burst *b = arg;
    enum { N = 1000 };
    hone_future *f[N];
    for (int i = 0; i < N; i++) {
        if (hone_pool_submit(hone_task_pool(t), ret_index, (void *)(intptr_t)i, &f[i])) return HONE_EFAIL;
        if (hone_future_state_get(f[i]) == HONE_FUTURE_DONE) {
            b->settled_at_submit++;
            int before = b->callbacks_inline;
            hone_future_on_done(f[i], count_cb, &b->callbacks_inline);
            if (b->callbacks_inline != before + 1) return HONE_EFAIL;
            if (hone_future_cancel(f[i]) != HONE_ESTATE) return HONE_EFAIL;
        }
    }
    for (int i = 0; i < N; i++) {
        b->sum += hone_future_wait(f[i]);
        hone_future_free(f[i]);
    }
    return HONE_OK;
}

static void burst_runs_inline_past_threshold(void **state) {
    hone_pool *p = mkpool(1, NULL);
    burst b = {0};
    hone_future *f;
    assert_int_equal(hone_pool_submit(p, burst_task, &b, &f), HONE_OK);
    assert_int_equal(hone_future_wait(f), HONE_OK);
    hone_future_free(f);
    assert_int_equal(b.settled_at_submit, 1000 - 65);
    assert_int_equal(b.callbacks_inline, 1000 - 65);
    assert_int_equal(b.sum, 999 * 1000 / 2);
    hone_pool_free(p);
}

/* A worker's own deque is a fixed ring: a task pushing more than it holds
 * (group members are queued without the inline threshold) overflows to the
 * shared queue, and every task still runs exactly once. */
typedef struct overflow {
    int n;
    atomic_int ran[1500];
} overflow;

static int mark_once(void *arg, hone_task *t) {
    atomic_fetch_add((atomic_int *)arg, 1);
    return HONE_OK;
}

static int overflow_task(void *arg, hone_task *t) {
    overflow *o = arg;
    hone_group *g;
    if (hone_group_new(&g, hone_task_pool(t), NULL)) return HONE_ENOMEM;
    int rc = HONE_OK;
    for (int i = 0; i < o->n && rc >= 0; i++) rc = hone_group_add(g, mark_once, &o->ran[i]);
    if (rc >= 0) rc = hone_group_wait(g);
    hone_group_free(g);
    return rc;
}

static void deque_overflow(void **state) {
    for (unsigned w = 1; w <= 3; w++) {
        hone_pool *p = mkpool(w, NULL);
        static overflow o;
        o.n = 1500;
        for (int i = 0; i < o.n; i++) atomic_store(&o.ran[i], 0);
        hone_future *f;
        assert_int_equal(hone_pool_submit(p, overflow_task, &o, &f), HONE_OK);
        assert_int_equal(hone_future_wait(f), HONE_OK);
        hone_future_free(f);
        for (int i = 0; i < o.n; i++) assert_int_equal(atomic_load(&o.ran[i]), 1);
        hone_pool_free(p);
    }
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(submit_and_wait_results),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(workers_from_env),
        cmocka_unit_test(level_sets_workers_and_parallel_threshold),
        cmocka_unit_test(nested_deep_one_worker),
        cmocka_unit_test(nested_fib),
        cmocka_unit_test(cancel_queued_never_runs),
        cmocka_unit_test(cancel_running_sees_token),
        cmocka_unit_test(cancel_race),
        cmocka_unit_test(wait_deadline_fake_clock),
        cmocka_unit_test(wait_deadline_clock_moves),
        cmocka_unit_test(completion_callback),
        cmocka_unit_test(callback_race),
        cmocka_unit_test(shutdown_drain),
        cmocka_unit_test(shutdown_cancel),
        cmocka_unit_test(shutdown_from_task_refused),
        cmocka_unit_test(free_drains_detached),
        cmocka_unit_test(burst_runs_inline_past_threshold),
        cmocka_unit_test(deque_overflow),
};
HONE_TEST_MAIN(tests)
