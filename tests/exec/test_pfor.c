/* test_pfor.c - parallel_for and parallel_map: every index exactly once
 * for any grain, errors stop the loop, nested loops on one worker. */
#include "test.h"
#include "util.h"

#include <stdlib.h>

typedef struct hits {
    atomic_int *h;
    size_t fail_at; /* SIZE_MAX: never */
    atomic_size_t chunks;
} hits;

static int mark(void *ctx, size_t lo, size_t hi) {
    hits *x = ctx;
    atomic_fetch_add(&x->chunks, 1);
    for (size_t i = lo; i < hi; i++) {
        if (i == x->fail_at) return HONE_EFAIL;
        atomic_fetch_add(&x->h[i], 1);
    }
    return HONE_OK;
}

static void every_index_once(void **state) {
    hone_pool *p;
    hone_pool_opts o = {.workers = 3};
    assert_int_equal(hone_pool_new(&p, &o, NULL), HONE_OK);
    enum { N = 10007 };
    size_t grains[] = {0, 1, 7, 1000, N, N * 2};
    for (size_t gi = 0; gi < sizeof grains / sizeof *grains; gi++) {
        hits x = {calloc(N, sizeof(atomic_int)), SIZE_MAX, 0};
        assert_int_equal(hone_parallel_for(p, 5, N, grains[gi], mark, &x), HONE_OK);
        for (size_t i = 0; i < N; i++) assert_int_equal(atomic_load(&x.h[i]), i >= 5 ? 1 : 0);
        if (grains[gi] == 7) assert_int_equal(atomic_load(&x.chunks), (N - 5 + 6) / 7);
        free(x.h);
    }
    /* Empty and reversed ranges do nothing. */
    hits e = {NULL, SIZE_MAX, 0};
    assert_int_equal(hone_parallel_for(p, 10, 10, 0, mark, &e), HONE_OK);
    assert_int_equal(hone_parallel_for(p, 10, 3, 0, mark, &e), HONE_OK);
    assert_int_equal(atomic_load(&e.chunks), 0);
    assert_int_equal(hone_parallel_for(NULL, 0, 1, 0, mark, &e), HONE_EINVAL);
    assert_int_equal(hone_parallel_for(p, 0, 1, 0, NULL, &e), HONE_EINVAL);
    hone_pool_free(p);
}

static void error_stops_loop(void **state) {
    hone_pool *p;
    hone_pool_opts o = {.workers = 2};
    assert_int_equal(hone_pool_new(&p, &o, NULL), HONE_OK);
    enum { N = 100000 };
    hits x = {calloc(N, sizeof(atomic_int)), 500, 0};
    assert_int_equal(hone_parallel_for(p, 0, N, 100, mark, &x), HONE_EFAIL);
    /* Chunks already handed out finish, but far fewer than all run. */
    assert_true(atomic_load(&x.chunks) < N / 100);
    free(x.h);
    hone_pool_free(p);
}

static int sum_range(void *ctx, size_t lo, size_t hi) {
    uint64_t s = 0;
    for (size_t i = lo; i < hi; i++) s += i;
    atomic_fetch_add((atomic_uint_fast64_t *)ctx, s);
    return HONE_OK;
}

static int nested_loop_task(void *arg, hone_task *t) {
    atomic_uint_fast64_t *total = arg;
    return hone_parallel_for(hone_task_pool(t), 0, 1000, 10, sum_range, total);
}

static void nested_one_worker(void **state) {
    hone_pool *p;
    hone_pool_opts o = {.workers = 1};
    assert_int_equal(hone_pool_new(&p, &o, NULL), HONE_OK);
    atomic_uint_fast64_t total = 0;
    hone_future *f[8];
    for (int i = 0; i < 8; i++) assert_int_equal(hone_pool_submit(p, nested_loop_task, &total, &f[i]), HONE_OK);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(hone_future_wait(f[i]), HONE_OK);
        hone_future_free(f[i]);
    }
    assert_int_equal(atomic_load(&total), 8 * 499500);
    hone_pool_free(p);
}

static int square(void *ctx, const void *in, void *out) {
    double v = *(const double *)in;
    if (v < 0) return HONE_ERANGE;
    *(double *)out = v * v;
    return HONE_OK;
}

static void map_squares(void **state) {
    hone_pool *p;
    hone_pool_opts o = {.workers = 2};
    assert_int_equal(hone_pool_new(&p, &o, NULL), HONE_OK);
    enum { N = 5000 };
    double *in = malloc(N * sizeof *in), *out = calloc(N, sizeof *out);
    for (int i = 0; i < N; i++) in[i] = i;
    assert_int_equal(hone_parallel_map(p, in, sizeof *in, out, sizeof *out, N, 0, square, NULL), HONE_OK);
    for (int i = 0; i < N; i++) assert_true(out[i] == (double)i * i);
    in[1234] = -1;
    assert_int_equal(hone_parallel_map(p, in, sizeof *in, out, sizeof *out, N, 16, square, NULL),
                     HONE_ERANGE);
    assert_int_equal(hone_parallel_map(p, NULL, 8, out, 8, 1, 0, square, NULL), HONE_EINVAL);
    free(in);
    free(out);
    hone_pool_free(p);
}

/* A closed pool still runs the loop, on the calling thread. */
static void closed_pool_runs_inline(void **state) {
    hone_pool *p;
    hone_pool_opts o = {.workers = 2};
    assert_int_equal(hone_pool_new(&p, &o, NULL), HONE_OK);
    hone_pool_shutdown(p, HONE_SHUTDOWN_DRAIN);
    atomic_uint_fast64_t total = 0;
    assert_int_equal(hone_parallel_for(p, 0, 1000, 0, sum_range, &total), HONE_OK);
    assert_int_equal(atomic_load(&total), 499500);
    hone_pool_free(p);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_index_once),   cmocka_unit_test(error_stops_loop),
        cmocka_unit_test(nested_one_worker),  cmocka_unit_test(map_squares),
        cmocka_unit_test(closed_pool_runs_inline),
};
HONE_TEST_MAIN(tests)
