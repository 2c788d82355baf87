/* test_batcher.c - the batcher: many producers with every item counted,
 * size and max-wait flushing (fake clock), backpressure, close, stats and
 * the HONE_BATCH_* defaults. */
#include "test.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

typedef struct sink {
    pthread_mutex_t mu;
    int *seen;
    size_t nseen;
    size_t batches, max_batch;
    latch *first_entered; /* counted down on the first call */
    latch *hold;          /* the first call waits on this */
    latch *each;          /* counted down per batch */
} sink;

static void handler(void *ctx, void **items, size_t n) {
    sink *s = ctx;
    pthread_mutex_lock(&s->mu);
    int first = s->batches == 0;
    s->batches++;
    if (n > s->max_batch) s->max_batch = n;
    for (size_t i = 0; i < n; i++) s->seen[(intptr_t)items[i]]++;
    s->nseen += n;
    pthread_mutex_unlock(&s->mu);
    if (first && s->first_entered) latch_down(s->first_entered);
    if (first && s->hold) latch_wait(s->hold);
    if (s->each) latch_down(s->each);
}

static void sink_init(sink *s, size_t n) {
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->seen = calloc(n, sizeof *s->seen);
}

typedef struct producer {
    hone_batcher *b;
    int base, n;
} producer;

static void *produce(void *arg) {
    producer *p = arg;
    for (int i = 0; i < p->n; i++)
        assert_int_equal(hone_batcher_add(p->b, (void *)(intptr_t)(p->base + i), HONE_BATCH_BLOCK), HONE_OK);
    return NULL;
}

static void many_producers_every_item(void **state) {
    enum { P = 4, PER = 5000 };
    sink s;
    sink_init(&s, P * PER);
    hone_batcher_opts o = {.batch_size = 32, .capacity = 64, .max_wait_ns = 1000000};
    hone_batcher *b;
    assert_int_equal(hone_batcher_new(&b, handler, &s, &o, NULL), HONE_OK);
    pthread_t th[P];
    producer pr[P];
    for (int i = 0; i < P; i++) {
        pr[i] = (producer){b, i * PER, PER};
        pthread_create(&th[i], NULL, produce, &pr[i]);
    }
    for (int i = 0; i < P; i++) pthread_join(th[i], NULL);
    hone_batcher_close(b);
    assert_int_equal(s.nseen, P * PER);
    for (int i = 0; i < P * PER; i++) assert_int_equal(s.seen[i], 1);
    assert_true(s.max_batch <= 32);
    hone_batcher_stats st;
    hone_batcher_stats_get(b, &st);
    assert_int_equal(st.items, P * PER);
    assert_int_equal(st.batches, s.batches);
    assert_int_equal(st.full_flushes + st.timeout_flushes + st.close_flushes, st.batches);
    assert_true(st.mean_batch > 0 && st.mean_batch <= 32);
    assert_int_equal(hone_batcher_add(b, (void *)1, HONE_BATCH_BLOCK), HONE_ECLOSED);
    hone_batcher_free(b);
    free(s.seen);
}

static void size_flush_and_close_flush(void **state) {
    sink s;
    sink_init(&s, 100);
    latch each;
    latch_init(&each, 2);
    s.each = &each;
    /* A huge max wait: only size and close flush here. */
    hone_batcher_opts o = {.batch_size = 10, .max_wait_ns = (uint64_t)3600 * 1000000000u};
    hone_batcher *b;
    assert_int_equal(hone_batcher_new(&b, handler, &s, &o, NULL), HONE_OK);
    for (int i = 0; i < 25; i++) assert_int_equal(hone_batcher_add(b, (void *)(intptr_t)i, HONE_BATCH_BLOCK), HONE_OK);
    latch_wait(&each); /* two full batches */
    hone_batcher_close(b);
    hone_batcher_close(b); /* idempotent */
    hone_batcher_stats st;
    hone_batcher_stats_get(b, &st);
    assert_int_equal(st.full_flushes, 2);
    assert_int_equal(st.close_flushes, 1);
    assert_int_equal(st.timeout_flushes, 0);
    assert_int_equal(st.items, 25);
    assert_true(st.mean_batch > 8.3 && st.mean_batch < 8.4);
    hone_batcher_free(b);
    free(s.seen);
    latch_destroy(&each);
}

static void max_wait_flush_fake_clock(void **state) {
    fake_clock clk;
    atomic_init(&clk.now, 0);
    sink s;
    sink_init(&s, 10);
    latch each;
    latch_init(&each, 1);
    s.each = &each;
    hone_batcher_opts o = {.batch_size = 100, .max_wait_ns = 1000, .clock = fake_now, .clock_ctx = &clk};
    hone_batcher *b;
    assert_int_equal(hone_batcher_new(&b, handler, &s, &o, NULL), HONE_OK);
    assert_int_equal(hone_batcher_add(b, (void *)(intptr_t)3, HONE_BATCH_BLOCK), HONE_OK);
    assert_int_equal(hone_batcher_add(b, (void *)(intptr_t)4, HONE_BATCH_BLOCK), HONE_OK);
    fake_advance(&clk, 2000);
    latch_wait(&each);
    hone_batcher_stats st;
    hone_batcher_stats_get(b, &st);
    assert_int_equal(st.timeout_flushes, 1);
    assert_int_equal(st.items, 2);
    /* Both items waited 2000 ns of the fake clock (3% buckets). */
    assert_true(st.latency_p50_ns >= 1900 && st.latency_p50_ns <= 2100);
    assert_true(st.latency_p99_ns >= 1900 && st.latency_p99_ns <= 2100);
    hone_batcher_free(b);
    assert_int_equal(s.seen[3] + s.seen[4], 2);
    free(s.seen);
    latch_destroy(&each);
}

static void backpressure_nonblock(void **state) {
    sink s;
    sink_init(&s, 10);
    latch entered, hold;
    latch_init(&entered, 1);
    latch_init(&hold, 1);
    s.first_entered = &entered;
    s.hold = &hold;
    hone_batcher_opts o = {.batch_size = 1, .capacity = 2};
    hone_batcher *b;
    assert_int_equal(hone_batcher_new(&b, handler, &s, &o, NULL), HONE_OK);
    assert_int_equal(hone_batcher_add(b, (void *)(intptr_t)0, HONE_BATCH_NONBLOCK), HONE_OK);
    latch_wait(&entered); /* the handler holds item 0; the queue is empty */
    assert_int_equal(hone_batcher_add(b, (void *)(intptr_t)1, HONE_BATCH_NONBLOCK), HONE_OK);
    assert_int_equal(hone_batcher_add(b, (void *)(intptr_t)2, HONE_BATCH_NONBLOCK), HONE_OK);
    assert_int_equal(hone_batcher_add(b, (void *)(intptr_t)3, HONE_BATCH_NONBLOCK), HONE_EBUSY);
    assert_int_equal(hone_batcher_add(b, (void *)(intptr_t)3, 42), HONE_EINVAL);
    hone_batcher_stats st;
    hone_batcher_stats_get(b, &st);
    assert_int_equal(st.rejected, 1);
    latch_down(&hold);
    hone_batcher_free(b);
    assert_int_equal(s.nseen, 3);
    assert_int_equal(s.seen[3], 0);
    free(s.seen);
    latch_destroy(&entered);
    latch_destroy(&hold);
}

typedef struct closer {
    hone_batcher *b;
    latch *entered;
} closer;

static void *blocked_add(void *arg) {
    closer *c = arg;
    /* The queue is full and the handler is held: this blocks until close. */
    int rc = hone_batcher_add(c->b, (void *)(intptr_t)9, HONE_BATCH_BLOCK);
    return (void *)(intptr_t)rc;
}

static void close_wakes_blocked_producer(void **state) {
    sink s;
    sink_init(&s, 10);
    latch entered, hold;
    latch_init(&entered, 1);
    latch_init(&hold, 1);
    s.first_entered = &entered;
    s.hold = &hold;
    hone_batcher_opts o = {.batch_size = 1, .capacity = 1};
    hone_batcher *b;
    assert_int_equal(hone_batcher_new(&b, handler, &s, &o, NULL), HONE_OK);
    hone_batcher_add(b, (void *)(intptr_t)0, HONE_BATCH_BLOCK);
    latch_wait(&entered);
    hone_batcher_add(b, (void *)(intptr_t)1, HONE_BATCH_BLOCK); /* fills the queue */
    closer c = {b, &entered};
    pthread_t th;
    pthread_create(&th, NULL, blocked_add, &c);
    /* Close cannot finish while the handler is held, so release it from
     * here after close has begun: the blocked add sees closing either way. */
    latch_down(&hold);
    hone_batcher_close(b);
    void *ret;
    pthread_join(th, &ret);
    int rc = (int)(intptr_t)ret;
    /* Either it got in before close (and was delivered) or saw close. */
    assert_true(rc == HONE_OK || rc == HONE_ECLOSED);
    assert_int_equal(s.nseen, rc == HONE_OK ? 3 : 2);
    hone_batcher_free(b);
    free(s.seen);
    latch_destroy(&entered);
    latch_destroy(&hold);
}

static void env_defaults(void **state) {
    sink s;
    sink_init(&s, 10);
    latch each;
    latch_init(&each, 1);
    s.each = &each;
    setenv("HONE_BATCH_SIZE", "5", 1);
    setenv("HONE_BATCH_MAX_WAIT_MS", "3600000", 1);
    hone_batcher *b;
    assert_int_equal(hone_batcher_new(&b, handler, &s, NULL, NULL), HONE_OK);
    for (int i = 0; i < 5; i++) hone_batcher_add(b, (void *)(intptr_t)i, HONE_BATCH_BLOCK);
    latch_wait(&each);
    hone_batcher_stats st;
    hone_batcher_stats_get(b, &st);
    assert_int_equal(st.full_flushes, 1);
    assert_int_equal(st.items, 5);
    hone_batcher_free(b);

    hone_error err = {0};
    setenv("HONE_BATCH_SIZE", "lots", 1);
    b = (hone_batcher *)1;
    assert_int_equal(hone_batcher_new(&b, handler, &s, NULL, &err), HONE_EINVAL);
    assert_null(b);
    assert_non_null(strstr(err.msg, "HONE_BATCH_SIZE=lots"));
    unsetenv("HONE_BATCH_SIZE");
    setenv("HONE_BATCH_MAX_WAIT_MS", "0", 1);
    assert_int_equal(hone_batcher_new(&b, handler, &s, NULL, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "HONE_BATCH_MAX_WAIT_MS=0"));
    unsetenv("HONE_BATCH_MAX_WAIT_MS");
    hone_batcher_opts o = {.batch_size = 10, .capacity = 5};
    assert_int_equal(hone_batcher_new(&b, handler, &s, &o, &err), HONE_EINVAL);
    assert_int_equal(hone_batcher_new(&b, NULL, &s, NULL, &err), HONE_EINVAL);
    hone_batcher_free(NULL);
    free(s.seen);
    latch_destroy(&each);
}

/* A batcher whose options leave the size to the settings table takes its
 * component's batch.size, and follows a later change of it (continuous
 * tuning moves it) without being made again; a size over the queue's
 * capacity is clamped to it. */
static void batch_size_from_settings_follows_changes(void **state) {
    (void)state;
    sink s;
    sink_init(&s, 64);
    latch each;
    latch_init(&each, 1);
    s.each = &each;
    setenv("HONE_BATCH_MAX_WAIT_MS", "1h", 1); /* only full batches flush */
    assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, "ingest", HONE_ORIGIN_API, "4", "test",
                                      NULL),
                     HONE_OK);
    hone_batcher_opts o = {.component = "ingest"};
    hone_batcher *b;
    assert_int_equal(hone_batcher_new(&b, handler, &s, &o, NULL), HONE_OK);
    for (int i = 0; i < 4; i++) hone_batcher_add(b, (void *)(intptr_t)i, HONE_BATCH_BLOCK);
    latch_wait(&each);
    hone_batcher_stats st;
    hone_batcher_stats_get(b, &st);
    assert_int_equal(st.full_flushes, 1);
    assert_int_equal(st.items, 4);

    /* batch.size 8 now: four more items wait, eight make a batch. */
    assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, "ingest", HONE_ORIGIN_API, "8", "test",
                                      NULL),
                     HONE_OK);
    latch_destroy(&each);
    latch_init(&each, 1);
    for (int i = 4; i < 12; i++) hone_batcher_add(b, (void *)(intptr_t)i, HONE_BATCH_BLOCK);
    latch_wait(&each);
    hone_batcher_stats_get(b, &st);
    assert_int_equal(st.full_flushes, 2);
    assert_int_equal(st.items, 12);
    pthread_mutex_lock(&s.mu);
    assert_int_equal(s.max_batch, 8);
    pthread_mutex_unlock(&s.mu);

    /* 1000 is over the capacity made for size 4 (64 items): 64 it is. */
    assert_int_equal(hone_setting_set(HONE_SET_BATCH_SIZE, "ingest", HONE_ORIGIN_API, "1000",
                                      "test", NULL),
                     HONE_OK);
    latch_destroy(&each);
    latch_init(&each, 1);
    for (int i = 0; i < 64; i++) hone_batcher_add(b, (void *)(intptr_t)i, HONE_BATCH_BLOCK);
    latch_wait(&each);
    hone_batcher_stats_get(b, &st);
    assert_int_equal(st.full_flushes, 3);
    pthread_mutex_lock(&s.mu);
    assert_int_equal(s.max_batch, 64);
    pthread_mutex_unlock(&s.mu);
    hone_batcher_free(b);
    hone_setting_unset(HONE_SET_BATCH_SIZE, "ingest", HONE_ORIGIN_API);
    unsetenv("HONE_BATCH_MAX_WAIT_MS");

    /* Level aggressive: batch.size 256 for a batcher with no component. */
    setenv("HONE_LEVEL", "aggressive", 1);
    hone_setting_state hs;
    assert_int_equal(hone_setting_get(HONE_SET_BATCH_SIZE, NULL, &hs, NULL), HONE_OK);
    assert_int_equal(hs.value.u, 256);
    unsetenv("HONE_LEVEL");
    latch_destroy(&each);
    free(s.seen);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_producers_every_item),
        cmocka_unit_test(size_flush_and_close_flush),
        cmocka_unit_test(max_wait_flush_fake_clock),
        cmocka_unit_test(backpressure_nonblock),
        cmocka_unit_test(close_wakes_blocked_producer),
        cmocka_unit_test(env_defaults),
        cmocka_unit_test(batch_size_from_settings_follows_changes),
};
HONE_TEST_MAIN(tests)
