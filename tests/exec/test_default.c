/* test_default.c - the process-wide default pool: one pool for racing
 * first calls, sized from HONE_MAX_WORKERS, not freeable, and usable from
 * inside its own tasks (nested scopes help instead of blocking). */
#include "test.h"

#include "util.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

enum { RACERS = 8 };
static hone_pool *seen[RACERS];
static latch start;

static void *racer(void *arg) {
    latch_wait(&start);
    seen[(intptr_t)arg] = hone_pool_default();
    return NULL;
}

/* Runs first (cmocka keeps the order): racing first calls get one pool. */
static void racing_first_calls_get_one_pool(void **state) {
    latch_init(&start, 1);
    pthread_t th[RACERS];
    for (intptr_t i = 0; i < RACERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, racer, (void *)i), 0);
    latch_down(&start);
    for (int i = 0; i < RACERS; i++) pthread_join(th[i], NULL);
    latch_destroy(&start);
    assert_non_null(seen[0]);
    for (int i = 1; i < RACERS; i++) assert_ptr_equal(seen[i], seen[0]);
    assert_ptr_equal(hone_pool_default(), seen[0]);
}

/* main sets HONE_MAX_WORKERS=3 before the first call. */
static void sized_from_env(void **state) {
    assert_int_equal(hone_pool_workers(hone_pool_default()), 3);
}

static void cannot_be_freed_or_shut_down(void **state) {
    hone_pool *p = hone_pool_default();
    assert_int_equal(hone_pool_shutdown(p, HONE_SHUTDOWN_DRAIN), HONE_ESTATE);
    assert_int_equal(hone_pool_shutdown(p, HONE_SHUTDOWN_CANCEL), HONE_ESTATE);
    hone_pool_free(p);
    /* Still alive and running tasks. */
    assert_ptr_equal(hone_pool_default(), p);
    assert_int_equal(hone_pool_workers(p), 3);
}

static atomic_int leaves;

/* A tree of depth d: each node spawns two children into a scope of its
 * own and waits for them, from inside the default pool's tasks. */
static int tree(void *arg, hone_task *t) {
    intptr_t d = (intptr_t)arg;
    if (d == 0) {
        atomic_fetch_add(&leaves, 1);
        return HONE_OK;
    }
    hone_scope *s = NULL;
    int rc = hone_scope_new(&s, hone_pool_default());
    if (rc) return rc;
    if (hone_task_pool(t) != hone_pool_default()) rc = HONE_EINVAL;
    for (int i = 0; i < 2 && !rc; i++) rc = hone_scope_spawn(s, tree, (void *)(d - 1));
    int w = hone_scope_wait(s);
    hone_scope_free(s);
    return rc ? rc : w;
}

static void nested_use_from_own_tasks(void **state) {
    hone_pool *p = hone_pool_default();
    atomic_store(&leaves, 0);
    hone_future *f = NULL;
    assert_int_equal(hone_pool_submit(p, tree, (void *)(intptr_t)10, &f), HONE_OK);
    assert_int_equal(hone_future_wait(f), HONE_OK);
    hone_future_free(f);
    assert_int_equal(atomic_load(&leaves), 1024);
}

/* A child of fork() has none of the parent's workers: its default pool
 * must be a new one that runs tasks, not the parent's (which would hang). */
static void fork_child_gets_a_working_pool(void **state) {
    hone_pool *parent = hone_pool_default();
    assert_non_null(parent);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        hone_pool *p = hone_pool_default();
        if (!p) _exit(2);
        atomic_store(&leaves, 0);
        hone_future *f = NULL;
        if (hone_pool_submit(p, tree, (void *)(intptr_t)4, &f) != HONE_OK) _exit(3);
        int rc = hone_future_wait(f);
        hone_future_free(f);
        _exit(rc == HONE_OK && atomic_load(&leaves) == 16 ? 0 : 4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_ptr_equal(hone_pool_default(), parent);
}

int main(int argc, char **argv) {
    setenv("HONE_MAX_WORKERS", "3", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(racing_first_calls_get_one_pool),
        cmocka_unit_test(sized_from_env),
        cmocka_unit_test(cannot_be_freed_or_shut_down),
        cmocka_unit_test(nested_use_from_own_tasks),
        cmocka_unit_test(fork_child_gets_a_working_pool),
    };
    return HONE_TEST_RUN(tests, NULL, NULL, argc, argv);
}
