/* test_scope.c - scopes (spawn + wait for all): every task counted, nested
 * spawns and nested waits on one worker, the first error reported and
 * cleared, inline runs past the queue threshold, and shutdown. */
#include "test.h"
#include "util.h"

#include <stdlib.h>

static atomic_int counter;

static int count_task(void *arg, hone_task *t) {
    atomic_fetch_add(&counter, 1);
    return (int)(intptr_t)arg;
}

static void counts_every_task(void **state) {
    for (unsigned w = 1; w <= 3; w++) {
        hone_pool *p = mkpool(w, NULL);
        hone_scope *s = NULL;
        assert_int_equal(hone_scope_new(&s, p), HONE_OK);
        atomic_store(&counter, 0);
        enum { N = 20000 };
        for (int i = 0; i < N; i++) assert_int_equal(hone_scope_spawn(s, count_task, NULL), HONE_OK);
        assert_int_equal(hone_scope_wait(s), HONE_OK);
        assert_int_equal(atomic_load(&counter), N);
        assert_int_equal(hone_scope_pending(s), 0);
        /* A second round on the same scope. */
        for (int i = 0; i < 100; i++) assert_int_equal(hone_scope_spawn(s, count_task, NULL), HONE_OK);
        assert_int_equal(hone_scope_wait(s), HONE_OK);
        assert_int_equal(atomic_load(&counter), N + 100);
        hone_scope_free(s);
        hone_pool_free(p);
    }
}

static void bad_arguments(void **state) {
    hone_pool *p = mkpool(1, NULL);
    hone_scope *s = (hone_scope *)p;
    assert_int_equal(hone_scope_new(NULL, p), HONE_EINVAL);
    assert_int_equal(hone_scope_new(&s, NULL), HONE_EINVAL);
    assert_null(s);
    assert_int_equal(hone_scope_new(&s, p), HONE_OK);
    assert_int_equal(hone_scope_spawn(NULL, count_task, NULL), HONE_EINVAL);
    assert_int_equal(hone_scope_spawn(s, NULL, NULL), HONE_EINVAL);
    assert_int_equal(hone_scope_wait(NULL), HONE_EINVAL);
    assert_int_equal(hone_scope_pending(NULL), 0);
    hone_scope_free(NULL);
    hone_scope_free(s);
    hone_pool_free(p);
}

/* A binary tree of spawns into one scope: every node spawns its children
 * into the scope it runs in, and the outside waiter must see them all. */
typedef struct tree {
    hone_scope *s;
    int depth;
} tree;

static tree nodes[16];

static int tree_task(void *arg, hone_task *t) {
    tree *n = arg;
    atomic_fetch_add(&counter, 1);
    if (n->depth > 0) {
        tree *child = &nodes[n->depth - 1];
        if (hone_scope_spawn(child->s, tree_task, child)) return HONE_EFAIL;
        if (hone_scope_spawn(child->s, tree_task, child)) return HONE_EFAIL;
    }
    return HONE_OK;
}

static void nested_spawns_counted(void **state) {
    for (unsigned w = 1; w <= 4; w++) {
        hone_pool *p = mkpool(w, NULL);
        hone_scope *s;
        assert_int_equal(hone_scope_new(&s, p), HONE_OK);
        for (int d = 0; d < 16; d++) nodes[d] = (tree){s, d};
        atomic_store(&counter, 0);
        assert_int_equal(hone_scope_spawn(s, tree_task, &nodes[13]), HONE_OK);
        assert_int_equal(hone_scope_wait(s), HONE_OK);
        assert_int_equal(atomic_load(&counter), (1 << 14) - 1);
        hone_scope_free(s);
        hone_pool_free(p);
    }
}

/* Each level opens its own scope, spawns the next level and waits inside
 * the task: on one worker this only finishes if the wait runs the child. */
static int deep(void *arg, hone_task *t) {
    int d = (int)(intptr_t)arg;
    atomic_fetch_add(&counter, 1);
    if (d == 0) return HONE_OK;
    hone_scope *s;
    if (hone_scope_new(&s, hone_task_pool(t))) return HONE_ENOMEM;
    int rc = hone_scope_spawn(s, deep, (void *)(intptr_t)(d - 1));
    if (!rc) rc = hone_scope_wait(s);
    hone_scope_free(s);
    return rc;
}

static void nested_waits_one_worker(void **state) {
    hone_pool *p = mkpool(1, NULL);
    hone_scope *s;
    assert_int_equal(hone_scope_new(&s, p), HONE_OK);
    atomic_store(&counter, 0);
    assert_int_equal(hone_scope_spawn(s, deep, (void *)(intptr_t)300), HONE_OK);
    assert_int_equal(hone_scope_wait(s), HONE_OK);
    assert_int_equal(atomic_load(&counter), 301);
    hone_scope_free(s);
    hone_pool_free(p);
}

static void first_error_then_cleared(void **state) {
    hone_pool *p = mkpool(2, NULL);
    hone_scope *s;
    assert_int_equal(hone_scope_new(&s, p), HONE_OK);
    atomic_store(&counter, 0);
    for (int i = 0; i < 500; i++)
        assert_int_equal(hone_scope_spawn(s, count_task, (void *)(intptr_t)(i == 250 ? HONE_EIO : 0)),
                         HONE_OK);
    assert_int_equal(hone_scope_wait(s), HONE_EIO);
    assert_int_equal(atomic_load(&counter), 500); /* an error stops nothing */
    assert_int_equal(hone_scope_wait(s), HONE_OK);
    for (int i = 0; i < 10; i++) assert_int_equal(hone_scope_spawn(s, count_task, NULL), HONE_OK);
    assert_int_equal(hone_scope_wait(s), HONE_OK);
    hone_scope_free(s);
    hone_pool_free(p);
}

/* On one worker busy running the spawner nothing else runs, so the first
 * 65 spawns stay queued and every later one runs before spawn returns,
 * with the same task contract (a token, the pool). */
typedef struct burst {
    hone_scope *s;
    int inline_runs;
    int errors;
} burst;

static _Thread_local int ran_here;

static int mark_task(void *arg, hone_task *t) {
    ran_here++;
    if (hone_task_cancelled(t) || hone_task_pool(t) != arg) return HONE_EFAIL;
    return HONE_OK;
}

static int burst_task(void *arg, hone_task *t) {
    burst *b = arg;
    hone_pool *p = hone_task_pool(t);
    for (int i = 0; i < 1000; i++) {
        int before = ran_here;
        if (hone_scope_spawn(b->s, mark_task, p)) b->errors++;
        if (ran_here == before + 1) b->inline_runs++;
    }
    return HONE_OK;
}

static void inline_past_threshold(void **state) {
    hone_pool *p = mkpool(1, NULL);
    hone_scope *s, *outer;
    assert_int_equal(hone_scope_new(&s, p), HONE_OK);
    assert_int_equal(hone_scope_new(&outer, p), HONE_OK);
    burst b = {s, 0, 0};
    assert_int_equal(hone_scope_spawn(outer, burst_task, &b), HONE_OK);
    assert_int_equal(hone_scope_wait(outer), HONE_OK);
    assert_int_equal(hone_scope_wait(s), HONE_OK);
    assert_int_equal(b.errors, 0);
    assert_int_equal(b.inline_runs, 1000 - 65);
    hone_scope_free(s);
    hone_scope_free(outer);
    hone_pool_free(p);
}

/* Holds the only worker until the pool is cancelled. */
static int blocker(void *arg, hone_task *t) {
    latch_down(arg);
    while (!hone_task_cancelled(t)) sched_yield();
    return HONE_ECANCELED;
}

static void shutdown_cancel_never_runs(void **state) {
    hone_pool *p = mkpool(1, NULL);
    hone_scope *s;
    assert_int_equal(hone_scope_new(&s, p), HONE_OK);
    latch started;
    latch_init(&started, 1);
    atomic_store(&counter, 0);
    hone_future *f;
    assert_int_equal(hone_pool_submit(p, blocker, &started, &f), HONE_OK);
    latch_wait(&started);
    for (int i = 0; i < 10; i++) assert_int_equal(hone_scope_spawn(s, count_task, NULL), HONE_OK);
    assert_int_equal(hone_scope_pending(s), 10);
    assert_int_equal(hone_pool_shutdown(p, HONE_SHUTDOWN_CANCEL), HONE_OK);
    assert_int_equal(hone_scope_wait(s), HONE_ECANCELED);
    assert_int_equal(atomic_load(&counter), 0);
    assert_int_equal(hone_scope_spawn(s, count_task, NULL), HONE_ECLOSED);
    assert_int_equal(hone_scope_wait(s), HONE_OK); /* a refused spawn is no failure */
    assert_int_equal(hone_future_wait(f), HONE_ECANCELED);
    hone_future_free(f);
    hone_scope_free(s);
    hone_pool_free(p);
    latch_destroy(&started);
}

/* Drain runs queued scope tasks; afterwards outside spawns are refused. */
static void shutdown_drain_runs(void **state) {
    hone_pool *p = mkpool(2, NULL);
    hone_scope *s;
    assert_int_equal(hone_scope_new(&s, p), HONE_OK);
    atomic_store(&counter, 0);
    for (int i = 0; i < 1000; i++) assert_int_equal(hone_scope_spawn(s, count_task, NULL), HONE_OK);
    assert_int_equal(hone_pool_shutdown(p, HONE_SHUTDOWN_DRAIN), HONE_OK);
    assert_int_equal(atomic_load(&counter), 1000);
    assert_int_equal(hone_scope_pending(s), 0);
    assert_int_equal(hone_scope_spawn(s, count_task, NULL), HONE_ECLOSED);
    assert_int_equal(hone_scope_wait(s), HONE_OK);
    hone_scope_free(s);
    hone_pool_free(p);
}

/* Waiting from a thread outside the pool blocks and must be woken by the
 * last task; repeated with tasks that finish while the waiter registers. */
static void outside_waiter_woken(void **state) {
    hone_pool *p = mkpool(2, NULL);
    hone_scope *s;
    assert_int_equal(hone_scope_new(&s, p), HONE_OK);
    atomic_store(&counter, 0);
    for (int r = 0; r < 2000; r++) {
        assert_int_equal(hone_scope_spawn(s, count_task, NULL), HONE_OK);
        assert_int_equal(hone_scope_spawn(s, count_task, NULL), HONE_OK);
        assert_int_equal(hone_scope_wait(s), HONE_OK);
        assert_int_equal(atomic_load(&counter), 2 * (r + 1));
    }
    hone_scope_free(s);
    hone_pool_free(p);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_every_task),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(nested_spawns_counted),
        cmocka_unit_test(nested_waits_one_worker),
        cmocka_unit_test(first_error_then_cleared),
        cmocka_unit_test(inline_past_threshold),
        cmocka_unit_test(shutdown_cancel_never_runs),
        cmocka_unit_test(shutdown_drain_runs),
        cmocka_unit_test(outside_waiter_woken),
};
HONE_TEST_MAIN(tests)
