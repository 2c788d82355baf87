/* util.h - latches and a fake clock for the exec tests, so that ordering
 * is forced by synchronisation and deadlines by the test, never by timing. */
#ifndef HONE_TEST_EXEC_UTIL_H
#define HONE_TEST_EXEC_UTIL_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

typedef struct latch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
} latch;

static inline void latch_init(latch *l, int count) {
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->count = count;
}
static inline void latch_down(latch *l) {
    pthread_mutex_lock(&l->mu);
    if (l->count > 0 && --l->count == 0) pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}
static inline void latch_wait(latch *l) {
    pthread_mutex_lock(&l->mu);
    while (l->count > 0) pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
}
static inline int latch_open(latch *l) {
    pthread_mutex_lock(&l->mu);
    int r = l->count == 0;
    pthread_mutex_unlock(&l->mu);
    return r;
}
static inline void latch_destroy(latch *l) {
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
}

/* A clock the test moves by hand. */
typedef struct fake_clock {
    atomic_uint_fast64_t now;
} fake_clock;
static inline uint64_t fake_now(void *ctx) {
    return atomic_load(&((fake_clock *)ctx)->now);
}
static inline void fake_advance(fake_clock *c, uint64_t ns) { atomic_fetch_add(&c->now, ns); }

/* A pool of `workers` threads, on the fake clock when clk is not NULL.
 * Include test.h first: this asserts with cmocka. */
static inline hone_pool *mkpool(unsigned workers, fake_clock *clk) {
    hone_pool *p = NULL;
    hone_pool_opts o = {.workers = workers, .clock = clk ? fake_now : NULL, .clock_ctx = clk};
    assert_int_equal(hone_pool_new(&p, &o, NULL), HONE_OK);
    assert_non_null(p);
    return p;
}

#endif
