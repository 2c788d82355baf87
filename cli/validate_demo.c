/* validate_demo.c - the `validate` step of `hone demo`: the parallel
 * validator pattern on hone's executor (per-item deadlines, results in
 * input order, fail-fast, first-success, a batcher for the results) and
 * its speedup over a serial loop. */
#include "cli.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define N_ITEMS 3000
#define DEADLINE_NS 50000000u /* 50 ms per item */
#define SLOW_EVERY 1000       /* items 500, 1500, 2500 never finish in time */
#define BAD_EVERY 97          /* items 13, 110, ... are invalid */

typedef struct vitem {
    int index;
    atomic_int ran;
    uint64_t ns; /* how long its check took (written by its task) */
} vitem;

static int is_slow(int i) { return i % SLOW_EVERY == SLOW_EVERY / 2; }
static int is_bad(int i) { return i % BAD_EVERY == 13 && !is_slow(i); }

/* The real work of one item: build its record and check a digest over it,
 * about ten microseconds of CPU. A bad item's record carries a wrong
 * check digit. */
static int check_record(int i) {
    unsigned char rec[4096];
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    for (size_t k = 0; k < sizeof rec; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rec[k] = (unsigned char)x;
    }
    uint64_t h = 1469598103934665603ull;
    for (int round = 0; round < 3; round++)
        for (size_t k = 0; k < sizeof rec; k++) h = (h ^ rec[k]) * 1099511628211ull;
    unsigned char expect = (unsigned char)(h % 251);
    /* The stored check digit, as the record would carry it. Volatile so
     * the compiler cannot prove it equal and skip the digest. */
    volatile unsigned char stored = is_bad(i) ? (unsigned char)(expect ^ 0x5a) : expect;
    return stored == expect ? HONE_OK : HONE_ECORRUPT;
}

static void sleep_ms(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static int validate_task(void *arg, hone_task *t) {
    vitem *it = arg;
    atomic_store(&it->ran, 1);
    uint64_t t0 = hone_monotonic_ns();
    if (is_slow(it->index)) {
        /* A stuck upstream: waits until told to stop. */
        while (!hone_task_cancelled(t)) sleep_ms(1);
        it->ns = hone_monotonic_ns() - t0;
        return HONE_ECANCELED;
    }
    int rc = check_record(it->index);
    it->ns = hone_monotonic_ns() - t0;
    return rc;
}

static void count_batch(void *ctx, void **items, size_t n) {
    atomic_fetch_add((atomic_size_t *)ctx, n);
}

/* Checks every verdict: a slow item must have timed out, and every item
 * that finished must be judged valid or invalid as its record is. A normal
 * item may still time out on a badly overloaded machine; that is counted
 * (`*late_other`) but is not a wrong answer. */
static int run_collect_all(hone_pool *pool, vitem *items, double *ms, int *ok, int *bad,
                           int *late, int *late_other, int *wrong) {
    hone_group_opts go = {.policy = HONE_GROUP_COLLECT_ALL, .task_timeout_ns = DEADLINE_NS};
    hone_group *g;
    uint64_t t0 = hone_monotonic_ns();
    int rc = hone_group_new(&g, pool, &go);
    if (rc) return rc;
    for (int i = 0; i < N_ITEMS && rc >= 0; i++) rc = hone_group_add(g, validate_task, &items[i]);
    if (rc < 0) {
        hone_group_free(g);
        return rc;
    }
    hone_group_wait(g);
    *ms = (double)(hone_monotonic_ns() - t0) / 1e6;

    /* Results in input order go to a batcher, as a sink writing reports
     * would receive them. */
    atomic_size_t delivered = 0;
    hone_batcher_opts bo = {.batch_size = 256, .max_wait_ns = 5000000};
    hone_batcher *b;
    rc = hone_batcher_new(&b, count_batch, &delivered, &bo, NULL);
    if (rc) {
        hone_group_free(g);
        return rc;
    }
    *ok = *bad = *late = *late_other = *wrong = 0;
    int first_bad = -1;
    for (int i = 0; i < N_ITEMS; i++) {
        hone_task_result r;
        hone_group_result(g, (size_t)i, &r);
        /* The step's cycle counts each validation with its time; one that
         * timed out cost its deadline (its task may still be winding down,
         * so its own figure is not read). */
        if (r.outcome == HONE_TASK_FINISHED) hone_cycle_validation(cli_demo_cycle(), items[i].ns);
        else if (r.outcome == HONE_TASK_TIMED_OUT) hone_cycle_validation(cli_demo_cycle(), DEADLINE_NS);
        if (r.outcome == HONE_TASK_TIMED_OUT) {
            (*late)++;
            if (!is_slow(i)) (*late_other)++;
        } else if (is_slow(i)) {
            (*wrong)++;
        } else if (r.status == HONE_OK) {
            (*ok)++;
            if (is_bad(i)) (*wrong)++;
        } else {
            (*bad)++;
            if (!is_bad(i) || r.status != HONE_ECORRUPT) (*wrong)++;
            if (first_bad < 0) first_bad = i;
        }
        hone_batcher_add(b, &items[i], HONE_BATCH_BLOCK);
    }
    hone_batcher_close(b);
    hone_batcher_stats bs;
    hone_batcher_stats_get(b, &bs);
    hone_batcher_free(b);
    hone_group_free(g);
    printf("  results (input order) sent to a batcher: %llu items in %llu batches (mean %.0f)\n",
           (unsigned long long)bs.items, (unsigned long long)bs.batches, bs.mean_batch);
    if (first_bad >= 0) printf("  first invalid item: #%d (%s)\n", first_bad, hone_strerror(HONE_ECORRUPT));
    return bs.items == N_ITEMS ? HONE_OK : HONE_EFAIL;
}

static int run_fail_fast(hone_pool *pool, vitem *items, int *ran) {
    for (int i = 0; i < N_ITEMS; i++) atomic_store(&items[i].ran, 0);
    hone_group_opts go = {.policy = HONE_GROUP_FAIL_FAST, .max_concurrency = 2,
                          .task_timeout_ns = DEADLINE_NS};
    hone_group *g;
    int rc = hone_group_new(&g, pool, &go);
    if (rc) return rc;
    for (int i = 0; i < N_ITEMS && rc >= 0; i++) rc = hone_group_add(g, validate_task, &items[i]);
    int st = rc < 0 ? rc : hone_group_wait(g);
    hone_group_free(g);
    *ran = 0;
    for (int i = 0; i < N_ITEMS; i++) *ran += atomic_load(&items[i].ran);
    return st;
}

typedef struct mirror {
    int delay_ms, ok;
} mirror;

static int probe_mirror(void *arg, hone_task *t) {
    mirror *m = arg;
    for (int i = 0; i < m->delay_ms; i++) {
        if (hone_task_cancelled(t)) return HONE_ECANCELED;
        sleep_ms(1);
    }
    return m->ok ? HONE_OK : HONE_EIO;
}

int cli_demo_validate(void) {
    hone_pool *pool;
    hone_error err;
    if (hone_pool_new(&pool, NULL, &err)) {
        fprintf(stderr, "validate: %s\n", err.msg);
        return 1;
    }
    static vitem items[N_ITEMS];
    int want_bad = 0, want_late = 0;
    for (int i = 0; i < N_ITEMS; i++) {
        items[i].index = i;
        atomic_init(&items[i].ran, 0);
        want_bad += is_bad(i);
        want_late += is_slow(i);
    }
    int failed = 0;

    /* Serial baseline: the same checks in a loop; a slow item costs its
     * whole deadline, as a serial validator with a timeout would wait. */
    uint64_t t0 = hone_monotonic_ns();
    int s_ok = 0, s_bad = 0, s_late = 0;
    for (int i = 0; i < N_ITEMS; i++) {
        if (is_slow(i)) {
            sleep_ms(DEADLINE_NS / 1000000);
            s_late++;
        } else if (check_record(i) == HONE_OK) {
            s_ok++;
        } else {
            s_bad++;
        }
    }
    double serial_ms = (double)(hone_monotonic_ns() - t0) / 1e6;

    double par_ms = 0;
    int ok = 0, bad = 0, late = 0, late_other = 0, wrong = 0;
    printf("  %d items, per-item deadline %u ms, %u workers\n", N_ITEMS, DEADLINE_NS / 1000000,
           hone_pool_workers(pool));
    int rc = run_collect_all(pool, items, &par_ms, &ok, &bad, &late, &late_other, &wrong);
    if (rc) {
        fprintf(stderr, "validate: collect-all run failed: %s\n", hone_strerror(rc));
        failed = 1;
    }
    printf("  collect-all: %d valid, %d invalid, %d timed out in %.1f ms\n", ok, bad, late, par_ms);
    printf("  serial loop: %d valid, %d invalid, %d timed out in %.1f ms -> speedup %.2fx\n", s_ok,
           s_bad, s_late, serial_ms, serial_ms / par_ms);
    if (late_other)
        printf("  (%d normal item(s) also missed the deadline: the machine is overloaded)\n",
               late_other);
    if (wrong || s_bad != want_bad || late - late_other != want_late) {
        fprintf(stderr,
                "validate: %d wrong verdict(s); expected %d slow items to time out, %d did\n",
                wrong, want_late, late - late_other);
        failed = 1;
    }

    int ran = 0;
    rc = run_fail_fast(pool, items, &ran);
    printf("  fail-fast (2 at a time): stopped with %s after %d of %d items started\n",
           hone_status_name(rc), ran, N_ITEMS);
    if (rc >= 0 || ran >= N_ITEMS) {
        fprintf(stderr, "validate: fail-fast returned %s after %d items, expected an early error\n",
                hone_status_name(rc), ran);
        failed = 1;
    }

    /* First success: probe mirrors, keep the first that answers. */
    mirror mirrors[6] = {{2, 0}, {1, 0}, {30, 1}, {5, 1}, {2000, 1}, {2000, 1}};
    hone_group_opts fo = {.policy = HONE_GROUP_FIRST_SUCCESS};
    hone_group *g;
    rc = hone_group_new(&g, pool, &fo);
    for (int i = 0; !rc && i < 6; i++) rc = hone_group_add(g, probe_mirror, &mirrors[i]) < 0;
    t0 = hone_monotonic_ns();
    int st = rc ? HONE_ENOMEM : hone_group_wait(g);
    double fs_ms = (double)(hone_monotonic_ns() - t0) / 1e6;
    long winner = hone_group_winner(g);
    hone_group_free(g);
    printf("  first-success over 6 mirrors: %s, mirror #%ld won after %.1f ms, the rest cancelled\n",
           hone_status_name(st), winner, fs_ms);
    if (st != HONE_OK || winner < 0 || !mirrors[winner].ok) {
        fprintf(stderr, "validate: first-success returned %s with winner %ld\n", hone_status_name(st),
                winner);
        failed = 1;
    }
    hone_pool_free(pool);
    return failed;
}
