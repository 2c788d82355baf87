/* redis.c - bench/tiers' shared-tier figures: get latency of the Redis tier
 * (one connection, one thread) against redis-benchmark's GET on the same
 * private server in the same run, the filler's pipelined put rate, and the
 * latency a get adds while the server is stopped (SIGSTOP) or dead
 * (SIGKILL), against the command timeout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/cache/redis.h"
#include "../../tests/support/redis_server.h"
#include "tiers.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define REDIS_BENCHMARK_BIN "/usr/bin/redis-benchmark"

enum { KEYS = 1000, VLEN = 100, GETS = 20000, PUTS = 20000 };

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile of v[0..n), sorted in place. */
static uint64_t quantile(uint64_t *v, size_t n, double q) {
    qsort(v, n, sizeof *v, cmp_u64);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i];
}

/* Runs redis-benchmark's single-connection, unpipelined GET on the server
 * and reads its p50 and p99 (ms) from the CSV row. Returns 0 or -1. */
static int redis_benchmark_get(const redis_server *s, double *p50_ms, double *p99_ms) {
    char port[16], n[16], cmd[256];
    snprintf(port, sizeof port, "%u", s->port);
    snprintf(n, sizeof n, "%d", GETS);
    snprintf(cmd, sizeof cmd, "%s -h 127.0.0.1 -p %s -t get -n %s -c 1 -d %d -P 1 --csv 2>/dev/null",
             REDIS_BENCHMARK_BIN, port, n, VLEN);
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    char line[512];
    int found = -1;
    while (fgets(line, sizeof line, f)) {
        /* "GET","rps","avg","min","p50","p95","p99","max" (ms) */
        double rps, avg, min, p50, p95, p99;
        if (sscanf(line, "\"GET\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\"", &rps, &avg,
                   &min, &p50, &p95, &p99) == 6) {
            *p50_ms = p50;
            *p99_ms = p99;
            found = 0;
        }
    }
    pclose(f);
    return found;
}

/* Gets spread over `span_ns` (one every ms) with the server unable to
 * answer: the p99 and the worst latency, less the healthy p50. */
static void stopped_gets(hone__redis *r, const char *what, uint64_t span_ns, uint64_t healthy_p50,
                         uint64_t timeout) {
    enum { MAXN = 4000 };
    static uint64_t lat[MAXN];
    hone_buf v;
    hone_buf_init(&v, NULL);
    hone__redis_stats before, after;
    hone__redis_stats_get(r, &before);
    size_t n = 0;
    uint64_t end = hone_monotonic_ns() + span_ns;
    while (n < MAXN && hone_monotonic_ns() < end) {
        uint64_t t0 = hone_monotonic_ns();
        hone__redis_get(r, "k1", 2, &v, NULL);
        lat[n++] = hone_monotonic_ns() - t0;
        redis_sleep_ms(1);
    }
    hone__redis_stats_get(r, &after);
    uint64_t max = 0;
    for (size_t i = 0; i < n; i++)
        if (lat[i] > max) max = lat[i];
    uint64_t p99 = quantile(lat, n, 0.99);
    uint64_t added = p99 > healthy_p50 ? p99 - healthy_p50 : 0;
    printf("tiers.redis.%s.get.p99_added\t%.1f\tus\n", what, (double)added / 1e3);
    printf("tiers.redis.%s.get.p99_added.ratio\t%.3f\tx vs the command timeout (goal <= 1)\n", what,
           (double)added / (double)timeout);
    uint64_t max_added = max > healthy_p50 ? max - healthy_p50 : 0;
    printf("tiers.redis.%s.get.max_added\t%.1f\tus\n", what, (double)max_added / 1e3);
    printf("tiers.redis.%s.get.max_added.ratio\t%.3f\tx vs the command timeout\n", what,
           (double)max_added / (double)timeout);
    printf("tiers.redis.%s.gets\t%zu\tgets (%llu waited for a timeout, %llu answered at once by "
           "the backoff gate)\n",
           what, n, (unsigned long long)(after.timeouts - before.timeouts),
           (unsigned long long)(after.skipped - before.skipped));
    hone_buf_free(&v);
}

/* Puts then gets until the tier serves again (bounded). */
static int recovered(hone__redis *r) {
    hone_buf v;
    hone_buf_init(&v, NULL);
    int ok = 0;
    for (int i = 0; i < 200 && !ok; i++) {
        hone__redis_put(r, "back", 4, "x", 1, 0);
        hone__redis_flush(r);
        ok = hone__redis_get(r, "back", 4, &v, NULL) == HONE_OK;
        if (!ok) redis_sleep_ms(20);
    }
    hone_buf_free(&v);
    return ok;
}

void bench_tiers_redis(void) {
    if (!redis_server_available()) {
        printf("# tiers.redis: skipped: %s is not installed (scripts/deps.sh, [test])\n",
               REDIS_SERVER_BIN);
        return;
    }
    redis_server s = {0};
    if (redis_server_start(&s)) {
        printf("# tiers.redis: skipped: redis-server did not start\n");
        return;
    }
    const uint64_t timeout = 50 * MS;
    /* A queue that holds every put of the rate test, which measures the
     * filler, not the drop policy. */
    hone__redis_options o = {.addr = s.addr, .prefix = "bench:", .timeout_ns = timeout,
                             .connections = 1, .queue_items = PUTS};
    hone__redis *r = NULL;
    hone_error err;
    if (hone__redis_open(&r, &o, &err)) {
        printf("# tiers.redis: skipped: %s\n", err.msg);
        redis_server_stop(&s);
        return;
    }
    char val[VLEN], key[32];
    for (int i = 0; i < VLEN; i++) val[i] = (char)('a' + i % 26);

    /* The filler's rate: PUTS queued sets of 100 bytes, pipelined 64 per
     * round trip, until flushed. */
    uint64_t t0 = hone_monotonic_ns();
    for (int i = 0; i < PUTS; i++) {
        snprintf(key, sizeof key, "p%d", i);
        hone__redis_put(r, key, strlen(key), val, VLEN, 0);
    }
    int frc = hone__redis_flush(r);
    while (frc == HONE_ETIMEDOUT) frc = hone__redis_flush(r);
    double put_s = (double)(hone_monotonic_ns() - t0) / 1e9;
    hone__redis_stats st;
    hone__redis_stats_get(r, &st);
    printf("tiers.redis.put.rate\t%.0f\tputs/s (100-byte values, %llu of %d dropped)\n",
           PUTS / put_s, (unsigned long long)st.puts_dropped, PUTS);

    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        hone__redis_put(r, key, strlen(key), val, VLEN, 0);
    }
    hone__redis_flush(r);

    static uint64_t lat[GETS];
    hone_buf v;
    hone_buf_init(&v, NULL);
    hone_clock_init();
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "k%d", i % KEYS);
        hone__redis_get(r, key, strlen(key), &v, NULL);
    }
    hone__redis_stats_get(r, &st);
    uint64_t hits0 = st.hits;
    for (int i = 0; i < GETS; i++) {
        snprintf(key, sizeof key, "k%d", i % KEYS);
        uint64_t a = hone_now_ns();
        hone__redis_get(r, key, strlen(key), &v, NULL);
        lat[i] = hone_now_ns() - a;
    }
    hone__redis_stats_get(r, &st);
    uint64_t p99 = quantile(lat, GETS, 0.99), p50 = quantile(lat, GETS, 0.50);
    printf("tiers.redis.get.p50\t%.1f\tus (GET+PTTL, %llu of %d hits)\n", (double)p50 / 1e3,
           (unsigned long long)(st.hits - hits0), GETS);
    printf("tiers.redis.get.p99\t%.1f\tus\n", (double)p99 / 1e3);

    if (access(REDIS_BENCHMARK_BIN, X_OK)) {
        printf("# tiers.redis.get.p50.ratio: skipped: %s is not installed (redis-tools)\n",
               REDIS_BENCHMARK_BIN);
    } else {
        /* redis-benchmark's GET reads the literal key "key:__rand_int__"
         * (no -r): give it a 100-byte value so both sides move the same. */
        redisContext *c = redis_server_connect(&s);
        redisReply *rep = c ? redisCommand(c, "SET key:__rand_int__ %b", val, (size_t)VLEN) : NULL;
        if (rep) freeReplyObject(rep);
        if (c) redisFree(c);
        double b50, b99;
        if (redis_benchmark_get(&s, &b50, &b99)) {
            printf("# tiers.redis.get.p50.ratio: skipped: no GET row from redis-benchmark\n");
        } else {
            printf("tiers.redis.benchmark.get.p50\t%.1f\tus (redis-benchmark -t get -c 1 -P 1)\n",
                   b50 * 1e3);
            printf("tiers.redis.benchmark.get.p99\t%.1f\tus\n", b99 * 1e3);
            printf("tiers.redis.get.p50.ratio\t%.3f\tx vs redis-benchmark GET p50 (goal <= 1.2)\n",
                   (double)p50 / 1e3 / (b50 * 1e3));
            printf("tiers.redis.get.p99.ratio\t%.3f\tx vs redis-benchmark GET p99\n",
                   (double)p99 / 1e3 / (b99 * 1e3));
        }
    }
    hone_buf_free(&v);

    printf("tiers.redis.timeout\t%.1f\tus (the command timeout)\n", (double)timeout / 1e3);
    redis_server_signal(&s, SIGSTOP);
    stopped_gets(r, "sigstop", 1500 * MS, p50, timeout);
    redis_server_signal(&s, SIGCONT);
    if (!recovered(r)) printf("# tiers.redis: the tier did not recover after SIGCONT\n");
    redis_server_kill(&s);
    stopped_gets(r, "sigkill", 1500 * MS, p50, timeout);
    hone__redis_close(r);
    redis_server_stop(&s);
}
