/* test_disk_crash.c - crash safety of the disk tier: a child process puts
 * from four threads and reports every acknowledged put through a pipe;
 * the parent kills it with SIGKILL at a random point, reopens the file and
 * checks that under sync every acknowledged put is there with its value,
 * and under both modes that the file opens and every record is intact.
 * Pass or fail never depends on timing: the kill point only varies what is
 * checked. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "test_disk.h"

#define THREADS 4
#define ROUNDS_SYNC 20
#define ROUNDS_NOSYNC 10

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdu;
    x ^= x >> 33;
    return x;
}

static int make_key(char *k, size_t n, int round, int t, uint32_t i) {
    return snprintf(k, n, "r%d-t%d-%u", round, t, i);
}

/* The value of a key: the key repeated to a length from 50 to 449, so a
 * value read back can be checked against its key alone. */
static size_t make_value(char *v, const char *k, size_t kl) {
    uint64_t h = 0;
    for (size_t i = 0; i < kl; i++) h = mix(h ^ (unsigned char)k[i]);
    size_t n = 50 + h % 400;
    for (size_t i = 0; i < n; i++) v[i] = k[i % kl];
    return n;
}

typedef struct ack {
    uint32_t t, i;
} ack;

typedef struct child_arg {
    hone__disk *d;
    int round, t, fd;
} child_arg;

static void *child_thread(void *p) {
    child_arg *a = p;
    char k[64], v[512];
    for (uint32_t i = 0;; i++) {
        int kl = make_key(k, sizeof k, a->round, a->t, i);
        size_t vl = make_value(v, k, (size_t)kl);
        int rc = hone__disk_put(a->d, k, (size_t)kl, v, vl, 0);
        if (rc) _exit(10);
        ack m = {(uint32_t)a->t, i};
        /* Reported only once put returned HONE_OK: acknowledged. */
        if (write(a->fd, &m, sizeof m) != (ssize_t)sizeof m) _exit(11);
    }
    return NULL;
}

static void child_main(const char *path, int nosync, int round, int fd) {
    hone__disk_options o = {.path = path, .max_bytes = 256 << 20, .nosync = nosync,
                            .group_max = 64, .group_wait_ns = 200000};
    hone__disk *d;
    if (hone__disk_open(&d, &o, NULL, NULL)) _exit(12);
    pthread_t th[THREADS];
    child_arg a[THREADS];
    for (int t = 0; t < THREADS; t++) {
        a[t] = (child_arg){d, round, t, fd};
        if (pthread_create(&th[t], NULL, child_thread, &a[t])) _exit(13);
    }
    for (;;) pause();
}


/* Runs one child to a random kill point; returns the acks per thread. */
static void run_child(const char *path, int nosync, int round, uint64_t *rng, uint32_t upto[THREADS]) {
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        child_main(path, nosync, round, p[1]);
    }
    close(p[1]);
    *rng = mix(*rng + 0x9e3779b97f4a7c15u);
    unsigned target = (unsigned)(*rng % 160); /* 0: killed while opening */
    unsigned extra_us = (unsigned)((*rng >> 20) % 3000);
    for (int t = 0; t < THREADS; t++) upto[t] = 0;
    unsigned got = 0;
    ack m;
    while (got < target) {
        /* A generous guard against a hung child, never a verdict: a child
         * that made no progress for 60 s is a failure either way. */
        struct pollfd pf = {p[0], POLLIN, 0};
        int pr = poll(&pf, 1, 60000);
        if (pr <= 0) break;
        ssize_t n = read(p[0], &m, sizeof m);
        if (n != (ssize_t)sizeof m) break;
        assert_true(m.t < THREADS);
        assert_int_equal(m.i, upto[m.t]);
        upto[m.t]++;
        got++;
    }
    usleep(extra_us);
    kill(pid, SIGKILL);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
        fail_msg("round %d: the child exited by itself (status %d) instead of being killed", round,
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    /* Acks written before the kill are still in the pipe. */
    while (read(p[0], &m, sizeof m) == (ssize_t)sizeof m) {
        assert_true(m.t < THREADS);
        assert_int_equal(m.i, upto[m.t]);
        upto[m.t]++;
    }
    close(p[0]);
}

typedef struct scan {
    size_t n;
    int bad;
} scan;

static int scan_fn(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                   uint64_t exp) {
    scan *s = ctx;
    char v[512];
    (void)exp;
    size_t want = make_value(v, key, klen);
    if (vlen != want || memcmp(val, v, vlen)) s->bad++;
    s->n++;
    return 0;
}

static void check_after(const char *path, int nosync, int round, const uint32_t *upto,
                        uint32_t (*all)[THREADS]) {
    hone__disk_options o = {.path = path, .max_bytes = 256 << 20};
    hone__disk *d;
    hone_error err = {0};
    int rc = hone__disk_open(&d, &o, NULL, &err);
    if (rc) fail_msg("round %d (%s): reopen failed: %s", round, nosync ? "nosync" : "sync", err.msg);
    char k[64], v[512];
    hone_buf b;
    hone_buf_init(&b, NULL);
    /* Every put acknowledged under sync, in this round and the earlier
     * ones, is there with its value. Under nosync a put may be lost, but
     * what is read is right. */
    for (int r = 0; r <= round; r++) {
        const uint32_t *u = r == round ? upto : all[r];
        for (int t = 0; t < THREADS; t++)
            for (uint32_t i = 0; i < u[t]; i++) {
                int kl = make_key(k, sizeof k, r, t, i);
                size_t vl = make_value(v, k, (size_t)kl);
                rc = hone__disk_get(d, k, (size_t)kl, &b, NULL);
                if (rc == HONE_ENOTFOUND && nosync) continue;
                if (rc != HONE_OK)
                    fail_msg("round %d: acknowledged put %s is missing (%s)", round, k,
                             hone_status_name(rc));
                if (b.len != vl || memcmp(b.data, v, vl))
                    fail_msg("round %d: %s has a wrong value", round, k);
            }
    }
    hone_buf_free(&b);
    /* A full scan: every record intact. */
    scan s = {0, 0};
    assert_int_equal(hone__disk_iterate(d, scan_fn, &s), HONE_OK);
    assert_int_equal(s.bad, 0);
    assert_int_equal(hone__disk_flush(d), HONE_OK);
    hone__disk_stats st;
    hone__disk_stats_get(d, &st);
    assert_int_equal(st.corrupt, 0);
    assert_int_equal(st.entries, s.n);
    hone__disk_close(d);
}

static void run_rounds(const char *name, int nosync, int rounds) {
    char path[300];
    dir_path(path, sizeof path, name);
    uint32_t all[ROUNDS_SYNC][THREADS];
    uint64_t rng = (uint64_t)getpid() * 0x2545f4914f6cdd1du ^ (uint64_t)time(NULL);
    uint64_t total = 0;
    for (int r = 0; r < rounds; r++) {
        run_child(path, nosync, r, &rng, all[r]);
        check_after(path, nosync, r, all[r], all);
        for (int t = 0; t < THREADS; t++) total += all[r][t];
    }
    fprintf(stderr, "%s: %d kills, %llu acknowledged puts checked\n", nosync ? "nosync" : "sync",
            rounds, (unsigned long long)total);
}

static int setup(void **state) {
    (void)state;
    dir_make();
    return 0;
}

/* Runs after a failed case too, so no directory is left behind. */
static int teardown(void **state) {
    (void)state;
    dir_remove();
    return 0;
}

static void test_crash_sync(void **state) {
    (void)state;
    run_rounds("crash-sync.lmdb", 0, ROUNDS_SYNC);
}

static void test_crash_nosync(void **state) {
    (void)state;
    run_rounds("crash-nosync.lmdb", 1, ROUNDS_NOSYNC);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crash_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_nosync, setup, teardown),
};
HONE_TEST_MAIN(tests)
