/* http.c - hone's pooled HTTP client against a new connection per request,
 * and against a bare libcurl easy handle, on one loopback server
 * (libmicrohttpd) started by this program. Prints name<TAB>value<TAB>unit
 * lines; the ratio lines are hone pooled / baseline, so above 1 is faster.
 * Rounds of each mode are interleaved and the median taken, so a slow
 * moment of the machine hits every mode alike. Bounded to about 10 s. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hone.h"

/* The loopback server of `hone demo` and tests/http. */
#include "../cli/http_server.c"

#define ROUNDS 5

typedef struct run {
    hone_http_client *c;
    const char *url;
    int n, conc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int submitted, done, errors; /* under mu */
} run;

static void run_cb(void *ctx, int status, hone_http_response *resp, const hone_error *err);

static void run_next(run *r) {
    pthread_mutex_lock(&r->mu);
    int go = r->submitted < r->n;
    if (go) r->submitted++;
    pthread_mutex_unlock(&r->mu);
    if (!go) return;
    hone_http_request req = {.url = r->url};
    if (hone_http_submit(r->c, &req, run_cb, r) != HONE_OK) {
        hone_http_response none = {0};
        run_cb(r, HONE_ENOMEM, &none, NULL);
    }
}

static void run_cb(void *ctx, int status, hone_http_response *resp, const hone_error *err) {
    (void)err;
    run *r = ctx;
    pthread_mutex_lock(&r->mu);
    if (status != HONE_OK || resp->status != 200) r->errors++;
    int last = ++r->done == r->n;
    if (last) pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (!last) run_next(r);
}

/* Requests per second of n GETs at concurrency conc through a client. */
static double hone_rps(int no_reuse, const char *url, int n, int conc, int *errors) {
    hone_http_opts o = {.proxy = "", .no_single_flight = 1, .no_reuse = no_reuse,
                        .max_per_host = (uint32_t)conc};
    run r = {.url = url, .n = n, .conc = conc};
    if (hone_http_client_new(&r.c, &o)) return 0;
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    /* One request first, so that both modes start with the client warm. */
    hone_http_request req = {.url = url};
    hone_http_response resp;
    hone_http_do(r.c, &req, &resp, NULL);
    hone_http_response_free(r.c, &resp);
    uint64_t t0 = hone_monotonic_ns();
    for (int i = 0; i < conc; i++) run_next(&r);
    pthread_mutex_lock(&r.mu);
    while (r.done < r.n) pthread_cond_wait(&r.cv, &r.mu);
    pthread_mutex_unlock(&r.mu);
    double s = (double)(hone_monotonic_ns() - t0) / 1e9;
    *errors += r.errors;
    hone_http_client_free(r.c);
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    return n / s;
}

static size_t sink(char *p, size_t size, size_t n, void *ud) {
    (void)p, (void)ud;
    return size * n;
}

/* The floor: one libcurl easy handle used over and over from one thread,
 * which keeps its connection alive with no loop, queue or hand-off. */
static double curl_easy_rps(const char *url, int n, int *errors) {
    CURL *e = curl_easy_init();
    if (!e) return 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_perform(e);
    uint64_t t0 = hone_monotonic_ns();
    for (int i = 0; i < n; i++) {
        long code = 0;
        if (curl_easy_perform(e) != CURLE_OK ||
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200)
            (*errors)++;
    }
    double s = (double)(hone_monotonic_ns() - t0) / 1e9;
    curl_easy_cleanup(e);
    return n / s;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v) {
    qsort(v, ROUNDS, sizeof *v, cmp_double);
    return v[ROUNDS / 2];
}

int main(void) {
    hone_clock_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cli_loopback *srv;
    char why[160], url[96];
    if (cli_loopback_start(&srv, 2, 0, why, sizeof why)) {
        fprintf(stderr, "bench http: %s\n", why);
        return 1;
    }
    cli_loopback_url(srv, "/", url, sizeof url);
    int errors = 0;
    double pool4[ROUNDS], fresh4[ROUNDS], pool1[ROUNDS], fresh1[ROUNDS], easy1[ROUNDS];
    uint64_t bench_t0 = hone_monotonic_ns();
    for (int r = 0; r < ROUNDS; r++) {
        pool4[r] = hone_rps(0, url, 3000, 4, &errors);
        fresh4[r] = hone_rps(1, url, 1000, 4, &errors);
        pool1[r] = hone_rps(0, url, 1500, 1, &errors);
        fresh1[r] = hone_rps(1, url, 500, 1, &errors);
        easy1[r] = curl_easy_rps(url, 1500, &errors);
    }
    double bench_s = (double)(hone_monotonic_ns() - bench_t0) / 1e9;
    cli_loopback_counts sc;
    cli_loopback_counts_get(srv, &sc);
    cli_loopback_stop(srv);
    if (errors) {
        fprintf(stderr, "bench http: %d requests failed\n", errors);
        return 1;
    }
    double p4 = median(pool4), f4 = median(fresh4), p1 = median(pool1), f1 = median(fresh1),
           e1 = median(easy1);
    printf("flow.http.pool.rps\t%.0f\treq/s (pooled, 4 in flight, loopback)\n", p4);
    printf("flow.http.fresh.rps\t%.0f\treq/s (new connection per request, 4 in flight)\n", f4);
    printf("flow.http.pool.ratio\t%.2f\tx vs a new connection per request (4 in flight)\n", p4 / f4);
    printf("flow.http.pool.c1.rps\t%.0f\treq/s (pooled, one at a time)\n", p1);
    printf("flow.http.fresh.c1.rps\t%.0f\treq/s (new connection per request, one at a time)\n", f1);
    printf("flow.http.pool.c1.ratio\t%.2f\tx vs a new connection per request (one at a time)\n",
           p1 / f1);
    printf("flow.http.curl_easy.c1.rps\t%.0f\treq/s (one reused libcurl easy handle, no loop)\n", e1);
    printf("flow.http.pool.c1.easy.ratio\t%.2f\tx vs one reused libcurl easy handle (one at a time)\n",
           p1 / e1);
    printf("flow.http.server.connections\t%llu\tconnections for %llu requests\n",
           (unsigned long long)sc.connections, (unsigned long long)sc.requests);
    printf("flow.http.bench.seconds\t%.1f\ts\n", bench_s);
    return 0;
}
