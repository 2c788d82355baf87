/* test_client.c - the pooled HTTP client against a real server on loopback,
 * started and stopped by each test: connection reuse, retries honouring
 * Retry-After, what is never retried, deadlines, broken responses, the size
 * cap, single flight, the limiter, breaker and budget, cancellation, bad
 * requests and the out-of-memory loop. */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The same loopback server as `hone demo` and bench/http. */
#include "../../cli/http_server.c"

#define MS 1000000ull
#define SEC 1000000000ull

static cli_loopback *srv_start(void) {
    cli_loopback *s = NULL;
    char why[128];
    if (cli_loopback_start(&s, 1, 1, why, sizeof why)) fail_msg("loopback server: %s", why);
    return s;
}

static char *url(cli_loopback *s, const char *path) {
    static _Thread_local char buf[128];
    return cli_loopback_url(s, path, buf, sizeof buf);
}

/* Options every test starts from: no proxy (the environment's must not see
 * loopback traffic), small backoffs so retries do not slow the suite. */
static hone_http_opts base_opts(void) {
    hone_http_opts o = {0};
    o.proxy = "";
    o.retry.backoff.base_ns = 1 * MS;
    o.retry.backoff.cap_ns = 5 * MS;
    return o;
}

static void nap_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ */

static void retry_after_parsing(void **state) {
    (void)state;
    uint64_t d = 7;
    assert_int_equal(hone_http_retry_after("120", &d), HONE_OK);
    assert_int_equal(d, 120 * SEC);
    assert_int_equal(hone_http_retry_after("  0 \r\n", &d), HONE_OK);
    assert_int_equal(d, 0);
    assert_int_equal(hone_http_retry_after("99999999999999999999999", &d), HONE_OK);
    assert_int_equal(d, UINT64_MAX - 1); /* saturated, never the "no pushback" value */
    /* A date in the past means now. */
    assert_int_equal(hone_http_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", &d), HONE_OK);
    assert_int_equal(d, 0);
    /* An hour ahead, in the IMF-fixdate form. */
    char date[64];
    time_t t = time(NULL) + 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    assert_int_equal(hone_http_retry_after(date, &d), HONE_OK);
    assert_in_range(d, 3500 * SEC, 3600 * SEC);
    d = 7;
    assert_int_equal(hone_http_retry_after("soon", &d), HONE_EPARSE);
    assert_int_equal(hone_http_retry_after("", &d), HONE_EPARSE);
    assert_int_equal(hone_http_retry_after("   ", &d), HONE_EPARSE);
    assert_int_equal(d, 7);
    assert_int_equal(hone_http_retry_after(NULL, &d), HONE_EINVAL);
    assert_true(hone_http_method_idempotent("PUT"));
    assert_true(hone_http_method_idempotent(NULL));
    assert_false(hone_http_method_idempotent("POST"));
    assert_false(hone_http_method_idempotent("PATCH"));
}

/* ------------------------------------------------------------------ */

typedef struct reuse_ctx {
    hone_http_client *c;
    cli_loopback *s;
    int n, fails;
} reuse_ctx;

static void *reuse_thread(void *arg) {
    reuse_ctx *r = arg;
    hone_http_request req = {.url = url(r->s, "/")};
    for (int i = 0; i < r->n; i++) {
        hone_http_response resp;
        int rc = hone_http_do(r->c, &req, &resp, NULL);
        if (rc != HONE_OK || resp.status != 200 || resp.body_len != sizeof hello - 1) r->fails++;
        hone_http_response_free(r->c, &resp);
    }
    return NULL;
}

/* Kept-alive connections carry at least 95 % of requests, seen from both
 * ends: the client's NUM_CONNECTS and the server's accepted connections. */
static void connections_are_reused(void **state) {
    (void)state;
    cli_loopback *s = srv_start();
    hone_http_opts o = base_opts();
    o.no_single_flight = 1; /* every request must reach the server */
    hone_http_client *c;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    enum { THREADS = 4, EACH = 100 };
    pthread_t th[THREADS];
    reuse_ctx rc[THREADS];
    for (int i = 0; i < THREADS; i++) {
        rc[i] = (reuse_ctx){.c = c, .s = s, .n = EACH};
        assert_int_equal(pthread_create(&th[i], NULL, reuse_thread, &rc[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rc[i].fails, 0);
    }
    hone_http_stats st;
    hone_http_stats_get(c, &st);
    cli_loopback_counts sc;
    cli_loopback_counts_get(s, &sc);
    assert_int_equal(st.requests, THREADS * EACH);
    assert_int_equal(st.attempts, THREADS * EACH);
    assert_int_equal(st.responses_2xx, THREADS * EACH);
    assert_int_equal(sc.requests, THREADS * EACH);
    /* >= 95 % on reused connections: reused * 100 >= 95 * attempts. */
    assert_in_range(st.reused * 100, 95 * st.attempts, 100 * st.attempts);
    assert_int_equal(st.reused + st.connections_opened, st.attempts);
    assert_in_range(sc.connections * 100, 1, 5 * sc.requests);
    assert_int_equal(sc.connections, st.connections_opened);
    hone_http_client_free(c);

    /* The comparison mode really opens one connection per request. */
    o.no_reuse = 1;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    cli_loopback_counts_reset(s);
    reuse_ctx one = {.c = c, .s = s, .n = 20};
    reuse_thread(&one);
    assert_int_equal(one.fails, 0);
    hone_http_stats_get(c, &st);
    cli_loopback_counts_get(s, &sc);
    assert_int_equal(st.reused, 0);
    assert_int_equal(st.connections_opened, 20);
    assert_int_equal(sc.connections, 20);
    hone_http_client_free(c);
    cli_loopback_stop(s);
}

/* 503 with Retry-After: 0 is retried at once although the computed backoff
 * (10 s) would not fit the 5 s deadline: the pushback replaced it. */
static void retries_honour_retry_after(void **state) {
    (void)state;
    cli_loopback *s = srv_start();
    hone_http_opts o = base_opts();
    o.retry.backoff = (hone_backoff_opts){.base_ns = 10 * SEC, .cap_ns = 10 * SEC, .jitter = HONE_JITTER_NONE};
    o.retry.max_attempts = 4;
    o.deadline_ns = 5 * SEC;
    hone_http_client *c;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    hone_http_request req = {.url = url(s, "/flaky")};
    hone_http_response resp;
    hone_error err;

    cli_loopback_fail_next(s, 2, 503, "0");
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.attempts, 3);
    assert_string_equal(resp.body, hello);
    hone_http_response_free(c, &resp);
    hone_http_stats st;
    hone_http_stats_get(c, &st);
    assert_int_equal(st.pushbacks, 2);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.responses_5xx, 2);
    cli_loopback_counts sc;
    cli_loopback_counts_get(s, &sc);
    assert_int_equal(sc.flaky, 3);
    assert_int_equal(sc.failed, 2);

    /* 429 with an HTTP-date already past: retried at once too. */
    cli_loopback_fail_next(s, 1, 429, "Wed, 21 Oct 2015 07:28:00 GMT");
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.attempts, 2);
    hone_http_response_free(c, &resp);

    /* Without Retry-After the 10 s backoff does not fit the deadline: the
     * 503 is the answer, at once, after one attempt. */
    cli_loopback_fail_next(s, 1, 503, NULL);
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_OK);
    assert_int_equal(resp.status, 503);
    assert_int_equal(resp.attempts, 1);
    assert_string_equal(resp.body, "busy, try again\n");
    hone_http_response_free(c, &resp);

    /* A pushback past the deadline ends the call with the 503 in hand
     * rather than sleeping 120 s. */
    cli_loopback_counts_reset(s);
    cli_loopback_fail_next(s, 1, 503, "120");
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_OK);
    assert_int_equal(resp.status, 503);
    assert_int_equal(resp.attempts, 1);
    hone_http_response_free(c, &resp);
    cli_loopback_counts_get(s, &sc);
    assert_int_equal(sc.flaky, 1);

    /* Attempts run out: the last 503 is returned. */
    cli_loopback_fail_next(s, 10, 503, "0");
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_OK);
    assert_int_equal(resp.status, 503);
    assert_int_equal(resp.attempts, 4);
    hone_http_response_free(c, &resp);
    cli_loopback_fail_next(s, 0, 0, NULL);
    hone_http_client_free(c);
    cli_loopback_stop(s);
}

/* A POST that reached the server is never repeated without a key; with an
 * idempotency key (sent as Idempotency-Key) or declared idempotent it is. */
static void post_is_not_retried_without_key(void **state) {
    (void)state;
    cli_loopback *s = srv_start();
    hone_http_opts o = base_opts();
    hone_http_client *c;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    hone_http_request req = {.method = "POST", .url = url(s, "/flaky"), .body = "x=1", .body_len = 3};
    hone_http_response resp;
    hone_error err;
    cli_loopback_counts sc;

    cli_loopback_fail_next(s, 1, 503, "0");
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_OK);
    assert_int_equal(resp.status, 503);
    assert_int_equal(resp.attempts, 1);
    hone_http_response_free(c, &resp);
    cli_loopback_counts_get(s, &sc);
    assert_int_equal(sc.flaky, 1);

    req.idempotency_key = "order-42";
    cli_loopback_fail_next(s, 1, 503, "0");
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.attempts, 2);
    hone_http_response_free(c, &resp);
    cli_loopback_counts_get(s, &sc);
    assert_int_equal(sc.flaky, 3);

    req.idempotency_key = NULL;
    req.idempotent = 1;
    cli_loopback_fail_next(s, 1, 503, "0");
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.attempts, 2);
    hone_http_response_free(c, &resp);

    /* The key and the body reach the server. */
    req = (hone_http_request){.method = "POST", .url = url(s, "/echo"), .body = "hello", .body_len = 5,
                              .idempotency_key = "k-1"};
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_OK);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "POST 5 k-1\nhello");
    hone_http_response_free(c, &resp);

    /* A POST whose connection closed mid-response was sent: no retry, and
     * the message says why. */
    req = (hone_http_request){.method = "POST", .url = url(s, "/close"), .body = "a", .body_len = 1};
    cli_loopback_counts_reset(s);
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_EIO);
    assert_int_equal(resp.attempts, 1);
    assert_non_null(strstr(err.msg, "not idempotent"));
    hone_http_response_free(c, &resp);
    cli_loopback_counts_get(s, &sc);
    assert_int_equal(sc.requests, 1);
    hone_http_client_free(c);

    /* A POST that never reached a server (connection refused) is retried. */
    char dead[128];
    snprintf(dead, sizeof dead, "%s", url(s, "/flaky"));
    cli_loopback_stop(s);
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    req = (hone_http_request){.method = "POST", .url = dead, .body = "x", .body_len = 1};
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_EIO);
    assert_int_equal(resp.attempts, 3);
    assert_non_null(strstr(err.msg, dead));
    assert_non_null(strstr(err.msg, "connection refused"));
    assert_non_null(strstr(err.msg, "3 attempts"));
    hone_http_response_free(c, &resp);
    hone_http_client_free(c);
}

/* A stalled server: the deadline ends the call with HONE_ETIMEDOUT, and a
 * per-attempt timeout is retried within the deadline. */
static void deadline_holds_when_server_stalls(void **state) {
    (void)state;
    cli_loopback *s = srv_start();
    hone_http_opts o = base_opts();
    hone_http_client *c;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    hone_http_request req = {.url = url(s, "/stall?ms=5000"), .deadline_ns = 300 * MS};
    hone_http_response resp;
    hone_error err;
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_ETIMEDOUT);
    assert_int_equal(resp.status, 0);
    assert_null(resp.body);
    assert_non_null(strstr(err.msg, "GET http://127.0.0.1:"));
    assert_non_null(strstr(err.msg, "/stall?ms=5000: "));
    assert_non_null(strstr(err.msg, "timed out"));
    hone_http_response_free(c, &resp);
    hone_http_client_free(c);

    /* Attempts of 100 ms within a 2 s deadline: each times out, is retried,
     * and the attempts run out. */
    o.timeout_ns = 100 * MS;
    o.retry.max_attempts = 3;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    req.deadline_ns = 2 * SEC;
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_ETIMEDOUT);
    assert_int_equal(resp.attempts, 3);
    hone_http_stats st;
    hone_http_stats_get(c, &st);
    assert_int_equal(st.timeouts, 3);
    hone_http_response_free(c, &resp);
    hone_http_client_free(c);
    cli_loopback_stop(s);
}

/* A server that closes mid-response: a clear error, retried for a GET. */
static void close_mid_response_is_an_error(void **state) {
    (void)state;
    cli_loopback *s = srv_start();
    hone_http_opts o = base_opts();
    hone_http_client *c;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    hone_http_request req = {.url = url(s, "/close")};
    hone_http_response resp;
    hone_error err;
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_EIO);
    assert_int_equal(err.code, HONE_EIO);
    assert_int_equal(resp.attempts, 3);
    assert_null(resp.body);
    assert_non_null(strstr(err.msg, "/close: connection closed mid-response"));
    assert_non_null(strstr(err.msg, "3 attempts"));
    hone_http_response_free(c, &resp);
    /* The client is still fine afterwards. */
    req.url = url(s, "/");
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_OK);
    assert_int_equal(resp.status, 200);
    hone_http_response_free(c, &resp);
    hone_http_client_free(c);
    cli_loopback_stop(s);
}

/* A body over max_body is refused (announced or chunked), never retried. */
static void body_over_cap_is_refused(void **state) {
    (void)state;
    cli_loopback *s = srv_start();
    hone_http_opts o = base_opts();
    o.max_body = 1000;
    hone_http_client *c;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    hone_http_response resp;
    hone_error err;
    const char *paths[] = {"/big?size=5000", "/big?size=300000&chunked=1"};
    for (int i = 0; i < 2; i++) {
        hone_http_request req = {.url = url(s, paths[i])};
        assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_ERANGE);
        assert_int_equal(resp.attempts, 1);
        assert_null(resp.body);
        assert_non_null(strstr(err.msg, "1000-byte cap"));
        hone_http_response_free(c, &resp);
    }
    hone_http_request req = {.url = url(s, "/big?size=1000&chunked=1")};
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_OK);
    assert_int_equal(resp.body_len, 1000);
    assert_int_equal(resp.body[999], 'x');
    assert_int_equal(resp.body[1000], '\0');
    hone_http_response_free(c, &resp);
    /* HEAD: a response with no body is an empty string, not NULL. */
    req = (hone_http_request){.method = "HEAD", .url = url(s, "/big?size=5000")};
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_OK);
    assert_int_equal(resp.status, 200);
    assert_non_null(resp.body);
    assert_int_equal(resp.body_len, 0);
    hone_http_response_free(c, &resp);
    hone_http_client_free(c);
    cli_loopback_stop(s);
}

/* ------------------------------------------------------------------ */

typedef struct collect {
    pthread_mutex_t mu;
    int done, ok, coalesced, cancelled;
    long statuses[32];
    char bodies[32][64];
} collect;

static void collect_cb(void *ctx, int status, hone_http_response *resp, const hone_error *err) {
    (void)err;
    collect *k = ctx;
    pthread_mutex_lock(&k->mu);
    int i = k->done++;
    if (i < 32) {
        k->statuses[i] = resp->status;
        snprintf(k->bodies[i], sizeof k->bodies[i], "%s", resp->body ? resp->body : "(null)");
    }
    if (status == HONE_OK) k->ok++;
    if (status == HONE_ECANCELED) k->cancelled++;
    if (resp->coalesced) k->coalesced++;
    pthread_mutex_unlock(&k->mu);
}

static int collected(collect *k) {
    pthread_mutex_lock(&k->mu);
    int n = k->done;
    pthread_mutex_unlock(&k->mu);
    return n;
}

/* Identical GETs in flight share one request; the server sees one. */
static void identical_gets_share_one_request(void **state) {
    (void)state;
    cli_loopback *s = srv_start();
    hone_http_opts o = base_opts();
    hone_http_client *c;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    collect k = {.mu = PTHREAD_MUTEX_INITIALIZER};
    hone_http_request req = {.url = url(s, "/gate")};
    enum { N = 10 };
    for (int i = 0; i < N; i++) assert_int_equal(hone_http_submit(c, &req, collect_cb, &k), HONE_OK);
    /* The gate holds the first answer until every request reached the loop. */
    hone_http_stats st;
    for (int t = 0; t < 5000; t++) {
        hone_http_stats_get(c, &st);
        if (st.coalesced == N - 1) break;
        nap_ms(1);
    }
    assert_int_equal(st.coalesced, N - 1);
    cli_loopback_gate(s, 1);
    while (collected(&k) < N) nap_ms(1);
    assert_int_equal(k.ok, N);
    assert_int_equal(k.coalesced, N - 1);
    for (int i = 0; i < N; i++) {
        assert_int_equal(k.statuses[i], 200);
        assert_string_equal(k.bodies[i], hello);
    }
    cli_loopback_counts sc;
    cli_loopback_counts_get(s, &sc);
    assert_int_equal(sc.gate, 1);
    /* Different headers are a different request. */
    hone_http_header h = {"X-Tenant", "a"};
    hone_http_request r2 = {.url = url(s, "/gate"), .headers = &h, .nheaders = 1};
    hone_http_response resp;
    assert_int_equal(hone_http_do(c, &r2, &resp, NULL), HONE_OK);
    assert_int_equal(resp.coalesced, 0);
    hone_http_response_free(c, &resp);
    hone_http_client_free(c);

    /* Turned off, each call sends its own. */
    o.no_single_flight = 1;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    cli_loopback_gate(s, 0);
    cli_loopback_counts_reset(s);
    collect k2 = {.mu = PTHREAD_MUTEX_INITIALIZER};
    for (int i = 0; i < 3; i++) assert_int_equal(hone_http_submit(c, &req, collect_cb, &k2), HONE_OK);
    for (int t = 0; t < 5000; t++) {
        cli_loopback_counts_get(s, &sc);
        if (sc.gate == 3) break;
        nap_ms(1);
    }
    assert_int_equal(sc.gate, 3);
    cli_loopback_gate(s, 1);
    while (collected(&k2) < 3) nap_ms(1);
    assert_int_equal(k2.coalesced, 0);
    assert_int_equal(k2.ok, 3);
    hone_http_client_free(c);
    cli_loopback_stop(s);
}

/* Freeing the client cancels what is in flight; each callback runs once. */
static void free_cancels_in_flight(void **state) {
    (void)state;
    cli_loopback *s = srv_start();
    hone_http_opts o = base_opts();
    hone_http_client *c;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    collect k = {.mu = PTHREAD_MUTEX_INITIALIZER};
    hone_http_request req = {.url = url(s, "/gate")};
    for (int i = 0; i < 3; i++) assert_int_equal(hone_http_submit(c, &req, collect_cb, &k), HONE_OK);
    req.url = url(s, "/gate?other=1");
    assert_int_equal(hone_http_submit(c, &req, collect_cb, &k), HONE_OK);
    hone_http_client_free(c);
    assert_int_equal(k.done, 4);
    assert_int_equal(k.cancelled, 4);
    cli_loopback_stop(s);
}

/* The limiter's clock in this test: frozen until the test lets it tick
 * (then each reading moves it 1 ms on), and counting its readings, so the
 * test knows when every request has asked for a permit. No figure here
 * depends on how fast the machine runs. */
typedef struct lclock {
    _Atomic uint64_t t, reads;
    atomic_int ticking;
} lclock;

static uint64_t lclock_now(void *ctx) {
    lclock *k = ctx;
    atomic_fetch_add(&k->reads, 1);
    if (atomic_load(&k->ticking)) return atomic_fetch_add(&k->t, MS) + MS;
    return atomic_load(&k->t);
}

/* The limiter: a wait past the deadline fails at once; requests it refuses
 * wait (holding no thread) and pass when permits come, each wait counted. */
static void limiter_paces_attempts(void **state) {
    (void)state;
    cli_loopback *s = srv_start();
    lclock k1 = {.t = 1000 * SEC};
    hone_flow_clock fc1 = {.now = lclock_now, .ctx = &k1};
    hone_limiter *l;
    hone_limiter_opts lo = {.rate = 1, .burst = 1, .clock = &fc1};
    assert_int_equal(hone_limiter_new(&l, &lo), HONE_OK);
    hone_http_opts o = base_opts();
    o.limiter = l;
    o.no_single_flight = 1;
    hone_http_client *c;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    hone_http_request req = {.url = url(s, "/"), .deadline_ns = 200 * MS};
    hone_http_response resp;
    hone_error err;
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_OK);
    hone_http_response_free(c, &resp);
    /* The next permit is a second away on the limiter's clock: past a
     * 200 ms deadline, so the call ends at once without an attempt. */
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_ETIMEDOUT);
    assert_non_null(strstr(err.msg, "rate limiter"));
    assert_int_equal(resp.attempts, 0);
    hone_http_response_free(c, &resp);
    hone_http_client_free(c);
    hone_limiter_free(l);

    /* Four requests at once through a bucket of one, 1000/s: one passes,
     * three are refused while the clock stands still, then pass. */
    lclock k2 = {.t = 1000 * SEC};
    hone_flow_clock fc2 = {.now = lclock_now, .ctx = &k2};
    lo = (hone_limiter_opts){.rate = 1000, .burst = 1, .clock = &fc2};
    assert_int_equal(hone_limiter_new(&l, &lo), HONE_OK);
    o.limiter = l;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    collect k = {.mu = PTHREAD_MUTEX_INITIALIZER};
    req.deadline_ns = 10 * SEC;
    for (int i = 0; i < 4; i++) assert_int_equal(hone_http_submit(c, &req, collect_cb, &k), HONE_OK);
    while (atomic_load(&k2.reads) < 4) nap_ms(1);
    hone_http_stats st;
    hone_http_stats_get(c, &st);
    assert_int_equal(st.attempts, 1);
    assert_int_equal(collected(&k) <= 1, 1);
    atomic_store(&k2.ticking, 1);
    while (collected(&k) < 4) nap_ms(1);
    assert_int_equal(k.ok, 4);
    hone_http_stats_get(c, &st);
    assert_int_equal(st.attempts, 4);
    assert_int_equal(st.limiter_waits, 3);
    assert_true(st.limiter_wait_ns > 0);
    hone_http_client_free(c);
    hone_limiter_free(l);
    cli_loopback_stop(s);
}

/* HONE_RATE_LIMIT limits each host of a client that brings no limiter:
 * "0/s" sends nothing (the call ends at once, naming the limiter), "off"
 * limits nothing, and a client made before the variable changed keeps the
 * limit it read. */
static void env_rate_limit_per_host(void **state) {
    (void)state;
    cli_loopback *s = srv_start();
    hone_http_opts o = base_opts();
    o.no_single_flight = 1;
    hone_http_request req = {.url = url(s, "/"), .deadline_ns = 5 * SEC};
    hone_http_response resp;
    hone_error err;
    hone_http_client *c;
    setenv("HONE_RATE_LIMIT", "0/s", 1);
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    unsetenv("HONE_RATE_LIMIT");
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_ETIMEDOUT);
    assert_non_null(strstr(err.msg, "rate limiter admits nothing"));
    assert_int_equal(resp.attempts, 0);
    hone_http_response_free(c, &resp);
    hone_http_client_free(c);

    setenv("HONE_RATE_LIMIT", "off", 1);
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    unsetenv("HONE_RATE_LIMIT");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_OK);
        assert_int_equal(resp.status, 200);
        hone_http_response_free(c, &resp);
    }
    hone_http_stats st;
    hone_http_stats_get(c, &st);
    assert_int_equal(st.limiter_waits, 0);
    hone_http_client_free(c);
    cli_loopback_stop(s);
}

static uint64_t frozen_now(void *ctx) { return *(uint64_t *)ctx; }

/* The breaker refuses once failures open it; the budget refuses retries. */
static void breaker_and_budget_refuse(void **state) {
    (void)state;
    cli_loopback *s = srv_start();
    uint64_t t = 1000 * SEC;
    hone_flow_clock clk = {.now = frozen_now, .ctx = &t};
    hone_breaker *b;
    hone_breaker_opts bo = {.min_calls = 2, .failure_rate = 0.5, .open_ns = 60 * SEC, .clock = &clk};
    assert_int_equal(hone_breaker_new(&b, &bo), HONE_OK);
    hone_http_opts o = base_opts();
    o.breaker = b;
    hone_http_client *c;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    hone_http_request req = {.url = url(s, "/status?code=500")};
    hone_http_response resp;
    hone_error err;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_OK);
        assert_int_equal(resp.status, 500); /* 500 is an answer, not retried */
        assert_int_equal(resp.attempts, 1);
        hone_http_response_free(c, &resp);
    }
    assert_int_equal(hone_breaker_get_state(b), HONE_BREAKER_OPEN);
    req.url = url(s, "/");
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_EBUSY);
    assert_non_null(strstr(err.msg, "circuit breaker"));
    hone_http_response_free(c, &resp);
    hone_http_stats st;
    hone_http_stats_get(c, &st);
    assert_int_equal(st.breaker_rejects, 1);
    hone_http_client_free(c);
    hone_breaker_free(b);

    /* A budget of one retry (floor 1/s over a 1 s window, frozen clock). */
    hone_retry_budget *bud;
    hone_retry_budget_opts rbo = {.ratio = 1e-9, .min_per_sec = 1, .window_ns = SEC, .clock = &clk};
    assert_int_equal(hone_retry_budget_new(&bud, &rbo), HONE_OK);
    o = base_opts();
    o.retry.budget = bud;
    o.retry.max_attempts = 5;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    req.url = url(s, "/flaky");
    cli_loopback_fail_next(s, 10, 503, NULL);
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_OK);
    assert_int_equal(resp.status, 503); /* the response in hand */
    assert_int_equal(resp.attempts, 2);
    hone_http_response_free(c, &resp);
    hone_http_stats_get(c, &st);
    assert_int_equal(st.budget_rejects, 1);
    hone_http_client_free(c);
    hone_retry_budget_free(bud);
    cli_loopback_stop(s);
}

/* Bad requests fail before anything is sent, naming what is wrong. */
static void bad_requests_are_refused(void **state) {
    (void)state;
    hone_http_opts o = base_opts();
    hone_http_client *c;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    hone_http_response resp;
    hone_error err;
    hone_http_request req = {.url = "ftp://127.0.0.1/x"};
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "GET ftp://127.0.0.1/x: expected an http:// or https:// URL"));
    req = (hone_http_request){.url = NULL};
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_EINVAL);
    req = (hone_http_request){.url = "http://127.0.0.1/a b"};
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_EINVAL);
    req = (hone_http_request){.method = "GE T", .url = "http://127.0.0.1/"};
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "method 'GE T'"));
    hone_http_header h = {"X-A", "1\r\nX-Injected: 1"};
    req = (hone_http_request){.url = "http://127.0.0.1/", .headers = &h, .nheaders = 1};
    assert_int_equal(hone_http_do(c, &req, &resp, &err), HONE_EINVAL);
    assert_non_null(strstr(err.msg, "CR or LF"));
    req = (hone_http_request){.url = "http://127.0.0.1/"};
    assert_int_equal(hone_http_submit(c, &req, NULL, NULL), HONE_EINVAL);
    assert_int_equal(hone_http_submit(NULL, &req, collect_cb, NULL), HONE_EINVAL);
    hone_http_client_free(c);
    hone_http_client_free(NULL);
    hone_http_client *none = (hone_http_client *)&o;
    hone_http_opts bad = base_opts();
    uint64_t t = 0;
    hone_flow_clock clk = {.now = frozen_now, .ctx = &t};
    bad.retry.clock = &clk;
    assert_int_equal(hone_http_client_new(&none, &bad), HONE_EINVAL);
    assert_null(none);
}

/* hone_http_do from a callback would wait for its own loop: refused. */
typedef struct reenter {
    hone_http_client *c;
    const char *url;
    int rc;
    atomic_int done;
} reenter;

static void reenter_cb(void *ctx, int status, hone_http_response *resp, const hone_error *err) {
    (void)status, (void)resp, (void)err;
    reenter *r = ctx;
    hone_http_request req = {.url = r->url};
    hone_http_response inner;
    r->rc = hone_http_do(r->c, &req, &inner, NULL);
    atomic_store(&r->done, 1);
}

static void do_from_callback_is_refused(void **state) {
    (void)state;
    cli_loopback *s = srv_start();
    hone_http_opts o = base_opts();
    hone_http_client *c;
    assert_int_equal(hone_http_client_new(&c, &o), HONE_OK);
    reenter r = {.c = c, .url = url(s, "/")};
    hone_http_request req = {.url = r.url};
    assert_int_equal(hone_http_submit(c, &req, reenter_cb, &r), HONE_OK);
    while (!atomic_load(&r.done)) nap_ms(1);
    assert_int_equal(r.rc, HONE_ESTATE);
    hone_http_client_free(c);
    cli_loopback_stop(s);
}

/* ------------------------------------------------------------------ */

static cli_loopback *oom_srv;

static int oom_run(const hone_allocator *a, void *ctx) {
    (void)ctx;
    hone_http_opts o = base_opts();
    o.alloc = a;
    o.user_agent = "hone-test";
    hone_http_client *c;
    int rc = hone_http_client_new(&c, &o);
    if (rc) return rc;
    hone_http_response resp;
    hone_http_header h = {"X-A", "b"};
    hone_http_request get = {.url = url(oom_srv, "/"), .headers = &h, .nheaders = 1};
    rc = hone_http_do(c, &get, &resp, NULL);
    if (!rc && strcmp(resp.body, hello)) rc = HONE_EFAIL;
    hone_http_response_free(c, &resp);
    if (!rc) {
        hone_http_request post = {.method = "PUT", .url = url(oom_srv, "/echo"), .body = "abc", .body_len = 3};
        rc = hone_http_do(c, &post, &resp, NULL);
        if (!rc && strcmp(resp.body, "PUT 3 -\nabc")) rc = HONE_EFAIL;
        hone_http_response_free(c, &resp);
    }
    if (!rc) {
        hone_http_request big = {.url = url(oom_srv, "/big?size=200000&chunked=1")};
        rc = hone_http_do(c, &big, &resp, NULL);
        if (!rc && resp.body_len != 200000) rc = HONE_EFAIL;
        hone_http_response_free(c, &resp);
    }
    hone_http_client_free(c);
    return rc;
}

static void oom_loop(void **state) {
    (void)state;
    oom_srv = srv_start();
    failalloc_loop("http client", oom_run, NULL);
    cli_loopback_stop(oom_srv);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(retry_after_parsing),
        cmocka_unit_test(connections_are_reused),
        cmocka_unit_test(retries_honour_retry_after),
        cmocka_unit_test(post_is_not_retried_without_key),
        cmocka_unit_test(deadline_holds_when_server_stalls),
        cmocka_unit_test(close_mid_response_is_an_error),
        cmocka_unit_test(body_over_cap_is_refused),
        cmocka_unit_test(identical_gets_share_one_request),
        cmocka_unit_test(free_cancels_in_flight),
        cmocka_unit_test(limiter_paces_attempts),
        cmocka_unit_test(env_rate_limit_per_host),
        cmocka_unit_test(breaker_and_budget_refuse),
        cmocka_unit_test(bad_requests_are_refused),
        cmocka_unit_test(do_from_callback_is_refused),
        cmocka_unit_test(oom_loop),
};
HONE_TEST_MAIN(tests)
