/* test_group.c - task groups: results in input order, the three policies
 * (queued tasks never start, running ones see cancellation), concurrency
 * limits, per-task deadlines on a fake clock, and groups inside tasks. */
#include "test.h"
#include "util.h"

#include <stdlib.h>

typedef struct item {
    int ret;              /* what the task returns */
    atomic_int ran;       /* it started */
    latch *wait_for;      /* wait on this first, if set */
    latch *signal;        /* count this down when started, if set */
    int until_cancelled;  /* loop until cancelled, return HONE_ECANCELED */
    atomic_int saw_cancel;
    fake_clock *advance;  /* advance this clock by 500 while running */
} item;

static int item_task(void *arg, hone_task *t) {
    item *it = arg;
    atomic_store(&it->ran, 1);
    if (it->signal) latch_down(it->signal);
    if (it->wait_for) latch_wait(it->wait_for);
    if (it->advance) fake_advance(it->advance, 500);
    if (it->until_cancelled) {
        while (!hone_task_cancelled(t)) sched_yield();
        atomic_store(&it->saw_cancel, 1);
        return HONE_ECANCELED;
    }
    return it->ret;
}

static void collect_all_in_order(void **state) {
    fake_clock clk;
    atomic_init(&clk.now, 0);
    hone_pool *p = mkpool(3, &clk);
    enum { N = 200 };
    item *items = calloc(N, sizeof *items);
    hone_group *g;
    assert_int_equal(hone_group_new(&g, p, NULL), HONE_OK);
    for (int i = 0; i < N; i++) {
        items[i].ret = i % 7 == 3 ? HONE_EFAIL : (i % 11 == 5 ? HONE_EPARSE : HONE_OK);
        if (i == 42) items[i].advance = &clk;
        assert_int_equal(hone_group_add(g, item_task, &items[i]), i);
    }
    /* The first error by input order: index 3 (EFAIL), not 5 (EPARSE). */
    assert_int_equal(hone_group_wait(g), HONE_EFAIL);
    assert_int_equal(hone_group_wait(g), HONE_EFAIL);
    assert_int_equal(hone_group_size(g), N);
    for (int i = 0; i < N; i++) {
        hone_task_result r;
        assert_int_equal(hone_group_result(g, (size_t)i, &r), HONE_OK);
        assert_int_equal(r.outcome, HONE_TASK_FINISHED);
        assert_int_equal(r.status, items[i].ret);
        assert_int_equal(atomic_load(&items[i].ran), 1);
    }
    hone_task_result r;
    assert_int_equal(hone_group_result(g, 42, &r), HONE_OK);
    assert_true(r.duration_ns >= 500);
    assert_int_equal(hone_group_result(g, N, &r), HONE_EINVAL);
    assert_int_equal(hone_group_add(g, item_task, &items[0]), HONE_ESTATE);
    hone_group_free(g);
    free(items);
    hone_pool_free(p);
}

static void fail_fast_queued_never_start(void **state) {
    hone_pool *p = mkpool(1, NULL);
    item items[10] = {0};
    items[1].ret = HONE_EFAIL;
    hone_group_opts o = {.policy = HONE_GROUP_FAIL_FAST, .max_concurrency = 1};
    hone_group *g;
    assert_int_equal(hone_group_new(&g, p, &o), HONE_OK);
    for (int i = 0; i < 10; i++) assert_int_equal(hone_group_add(g, item_task, &items[i]), i);
    assert_int_equal(hone_group_wait(g), HONE_EFAIL);
    hone_group_free(g);
    /* Free joined everything, so results are final; read them again via a
     * fresh check of the flags. */
    assert_int_equal(atomic_load(&items[0].ran), 1);
    assert_int_equal(atomic_load(&items[1].ran), 1);
    for (int i = 2; i < 10; i++) assert_int_equal(atomic_load(&items[i].ran), 0);
    hone_pool_free(p);
}

static void fail_fast_outcomes(void **state) {
    hone_pool *p = mkpool(1, NULL);
    item items[6] = {0};
    items[2].ret = HONE_EIO;
    hone_group_opts o = {.policy = HONE_GROUP_FAIL_FAST, .max_concurrency = 1};
    hone_group *g;
    assert_int_equal(hone_group_new(&g, p, &o), HONE_OK);
    for (int i = 0; i < 6; i++) hone_group_add(g, item_task, &items[i]);
    assert_int_equal(hone_group_wait(g), HONE_EIO);
    hone_task_result r;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(hone_group_result(g, (size_t)i, &r), HONE_OK);
        if (i < 3) {
            assert_int_equal(r.outcome, HONE_TASK_FINISHED);
        } else {
            assert_int_equal(r.outcome, HONE_TASK_CANCELLED);
            assert_int_equal(r.status, HONE_ECANCELED);
        }
    }
    /* Adding after the decision is refused (wait already ran). */
    assert_int_equal(hone_group_add(g, item_task, &items[0]), HONE_ESTATE);
    hone_group_free(g);
    hone_pool_free(p);
}

/* Fail-fast with a task running: it sees the cancellation. */
static void fail_fast_running_sees_cancel(void **state) {
    hone_pool *p = mkpool(2, NULL);
    latch started;
    latch_init(&started, 1);
    item items[2] = {0};
    items[0].until_cancelled = 1;
    items[0].signal = &started;
    items[1].wait_for = &started;
    items[1].ret = HONE_EFAIL;
    hone_group_opts o = {.policy = HONE_GROUP_FAIL_FAST};
    hone_group *g;
    assert_int_equal(hone_group_new(&g, p, &o), HONE_OK);
    hone_group_add(g, item_task, &items[0]);
    hone_group_add(g, item_task, &items[1]);
    assert_int_equal(hone_group_wait(g), HONE_EFAIL);
    hone_group_free(g); /* waits for task 0 to notice and return */
    assert_int_equal(atomic_load(&items[0].saw_cancel), 1);
    hone_pool_free(p);
    latch_destroy(&started);
}

static void first_success(void **state) {
    hone_pool *p = mkpool(1, NULL);
    item items[8] = {0};
    items[0].ret = HONE_EFAIL;
    items[1].ret = HONE_EPARSE;
    items[2].ret = HONE_OK;
    hone_group_opts o = {.policy = HONE_GROUP_FIRST_SUCCESS, .max_concurrency = 1};
    hone_group *g;
    assert_int_equal(hone_group_new(&g, p, &o), HONE_OK);
    for (int i = 0; i < 8; i++) hone_group_add(g, item_task, &items[i]);
    assert_int_equal(hone_group_wait(g), HONE_OK);
    assert_int_equal(hone_group_winner(g), 2);
    hone_group_free(g);
    for (int i = 3; i < 8; i++) assert_int_equal(atomic_load(&items[i].ran), 0);
    hone_pool_free(p);

    /* None succeeds: the first error by input order. */
    p = mkpool(2, NULL);
    item bad[5] = {0};
    for (int i = 0; i < 5; i++) bad[i].ret = i == 0 ? HONE_EIO : HONE_EFAIL;
    assert_int_equal(hone_group_new(&g, p, &o), HONE_OK);
    for (int i = 0; i < 5; i++) hone_group_add(g, item_task, &bad[i]);
    assert_int_equal(hone_group_wait(g), HONE_EIO);
    assert_int_equal(hone_group_winner(g), -1);
    hone_group_free(g);
    hone_pool_free(p);
}

/* First success with a task still running: it is cancelled. */
static void first_success_cancels_running(void **state) {
    hone_pool *p = mkpool(2, NULL);
    latch started;
    latch_init(&started, 1);
    item items[2] = {0};
    items[0].until_cancelled = 1;
    items[0].signal = &started;
    items[1].wait_for = &started;
    hone_group_opts o = {.policy = HONE_GROUP_FIRST_SUCCESS};
    hone_group *g;
    assert_int_equal(hone_group_new(&g, p, &o), HONE_OK);
    hone_group_add(g, item_task, &items[0]);
    hone_group_add(g, item_task, &items[1]);
    assert_int_equal(hone_group_wait(g), HONE_OK);
    assert_int_equal(hone_group_winner(g), 1);
    hone_group_free(g);
    assert_int_equal(atomic_load(&items[0].saw_cancel), 1);
    hone_pool_free(p);
    latch_destroy(&started);
}

static atomic_int cur_running, max_running;

static int track_concurrency(void *arg, hone_task *t) {
    int now = atomic_fetch_add(&cur_running, 1) + 1;
    int m = atomic_load(&max_running);
    while (now > m && !atomic_compare_exchange_weak(&max_running, &m, now)) {
    }
    for (int i = 0; i < 50; i++) sched_yield();
    atomic_fetch_sub(&cur_running, 1);
    return HONE_OK;
}

static void max_concurrency(void **state) {
    hone_pool *p = mkpool(4, NULL);
    hone_group_opts o = {.max_concurrency = 2};
    hone_group *g;
    atomic_store(&cur_running, 0);
    atomic_store(&max_running, 0);
    assert_int_equal(hone_group_new(&g, p, &o), HONE_OK);
    for (int i = 0; i < 100; i++) hone_group_add(g, track_concurrency, NULL);
    assert_int_equal(hone_group_wait(g), HONE_OK);
    hone_group_free(g);
    assert_true(atomic_load(&max_running) <= 2);
    assert_true(atomic_load(&max_running) >= 1);
    hone_pool_free(p);
}

typedef struct deadline_ctx {
    hone_group *g;
    fake_clock *clk;
    latch *slow_started;
    int fast;
} deadline_ctx;

/* Moves the clock once the slow task runs and every fast one finished. */
static void *deadline_driver(void *arg) {
    deadline_ctx *d = arg;
    latch_wait(d->slow_started);
    for (int i = 1; i <= d->fast; i++) {
        hone_task_result r;
        for (;;) {
            hone_group_result(d->g, (size_t)i, &r);
            if (r.outcome != HONE_TASK_PENDING) break;
            sched_yield();
        }
    }
    fake_advance(d->clk, 5000);
    return NULL;
}

static void per_task_deadline(void **state) {
    fake_clock clk;
    atomic_init(&clk.now, 100);
    hone_pool *p = mkpool(2, &clk);
    latch slow_started;
    latch_init(&slow_started, 1);
    enum { FAST = 9 };
    item items[1 + FAST] = {0};
    items[0].until_cancelled = 1;
    items[0].signal = &slow_started;
    hone_group_opts o = {.task_timeout_ns = 1000};
    hone_group *g;
    assert_int_equal(hone_group_new(&g, p, &o), HONE_OK);
    for (int i = 0; i <= FAST; i++) hone_group_add(g, item_task, &items[i]);
    deadline_ctx d = {g, &clk, &slow_started, FAST};
    pthread_t th;
    pthread_create(&th, NULL, deadline_driver, &d);
    assert_int_equal(hone_group_wait(g), HONE_ETIMEDOUT);
    pthread_join(th, NULL);
    hone_task_result r;
    hone_group_result(g, 0, &r);
    assert_int_equal(r.outcome, HONE_TASK_TIMED_OUT);
    assert_int_equal(r.status, HONE_ETIMEDOUT);
    assert_int_equal(r.duration_ns, 1000);
    for (int i = 1; i <= FAST; i++) {
        hone_group_result(g, (size_t)i, &r);
        assert_int_equal(r.outcome, HONE_TASK_FINISHED);
        assert_int_equal(r.status, HONE_OK);
    }
    hone_group_free(g);
    /* The timed-out task was told to stop. */
    assert_int_equal(atomic_load(&items[0].saw_cancel), 1);
    hone_pool_free(p);
    latch_destroy(&slow_started);
}

static int leaf(void *arg, hone_task *t) {
    atomic_fetch_add((atomic_int *)arg, 1);
    return HONE_OK;
}

static int group_in_task(void *arg, hone_task *t) {
    hone_group *g;
    int rc = hone_group_new(&g, hone_task_pool(t), NULL);
    if (rc) return rc;
    for (int i = 0; i < 20; i++) hone_group_add(g, leaf, arg);
    rc = hone_group_wait(g);
    hone_group_free(g);
    return rc;
}

static void nested_group_one_worker(void **state) {
    hone_pool *p = mkpool(1, NULL);
    atomic_int n = 0;
    hone_group *g;
    assert_int_equal(hone_group_new(&g, p, NULL), HONE_OK);
    for (int i = 0; i < 5; i++) hone_group_add(g, group_in_task, &n);
    assert_int_equal(hone_group_wait(g), HONE_OK);
    hone_group_free(g);
    assert_int_equal(atomic_load(&n), 100);
    hone_pool_free(p);
}

static void explicit_cancel_and_free_unwaited(void **state) {
    hone_pool *p = mkpool(1, NULL);
    latch gate;
    latch_init(&gate, 1);
    item items[5] = {0};
    items[0].wait_for = &gate;
    hone_group *g;
    hone_group_opts o = {.max_concurrency = 1};
    assert_int_equal(hone_group_new(&g, p, &o), HONE_OK);
    for (int i = 0; i < 5; i++) hone_group_add(g, item_task, &items[i]);
    hone_group_cancel(g);
    latch_down(&gate);
    assert_int_equal(hone_group_wait(g), HONE_ECANCELED);
    hone_group_free(g);
    for (int i = 1; i < 5; i++) assert_int_equal(atomic_load(&items[i].ran), 0);
    /* A group freed without waiting joins its tasks. */
    assert_int_equal(hone_group_new(&g, p, NULL), HONE_OK);
    for (int i = 0; i < 5; i++) hone_group_add(g, item_task, &items[i]);
    hone_group_free(g);
    hone_group_free(NULL);
    assert_int_equal(hone_group_new(&g, NULL, NULL), HONE_EINVAL);
    assert_null(g);
    hone_pool_free(p);
    latch_destroy(&gate);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(collect_all_in_order),
        cmocka_unit_test(fail_fast_queued_never_start),
        cmocka_unit_test(fail_fast_outcomes),
        cmocka_unit_test(fail_fast_running_sees_cancel),
        cmocka_unit_test(first_success),
        cmocka_unit_test(first_success_cancels_running),
        cmocka_unit_test(max_concurrency),
        cmocka_unit_test(per_task_deadline),
        cmocka_unit_test(nested_group_one_worker),
        cmocka_unit_test(explicit_cancel_and_free_unwaited),
};
HONE_TEST_MAIN(tests)
