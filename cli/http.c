/* http.c - `hone http get`: a small, bounded HTTP load driver on hone's
 * pooled client, reporting latency percentiles, status counts, retries,
 * connection reuse and rate-limiter waits; also the `http` step of
 * `hone demo`, against a loopback server it starts itself. */
#include "cli.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"

#define MAX_REQUESTS 1000000
#define MAX_CONCURRENCY 64 /* the client's default max_total */

enum { OPT_RATE = CLI_LONG, OPT_RETRIES, OPT_DEADLINE, OPT_NO_REUSE, OPT_JSON };

/* -n and -c as wrk and ab spell them (hone-completion(1), LETTERS). */
static const cli_opt get_opts[] = {
    {'n', "requests", "COUNT", "requests to send, 1 to 1000000 (default 100)", NULL},
    {'c', "concurrency", "N", "requests in flight at once, 1 to 64 (default 1)", NULL},
    {OPT_RATE, "rate", "R",
     "at most R requests/s: 100/s, 6000/min, 2.5, off (default off, or HONE_RATE_LIMIT per host)",
     NULL},
    {OPT_RETRIES, "retries", "N",
     "retries per request after the first attempt, 0 to 10 (default 2); only safe ones (see "
     "hone-http(1))",
     NULL},
    {OPT_DEADLINE, "deadline", "D",
     "time allowed per request, retries included: 500ms, 2s; a bare number is milliseconds "
     "(default 60s)",
     NULL},
    {OPT_NO_REUSE, "no-reuse", NULL, "a new connection per request, to compare", NULL},
    {OPT_JSON, "json", NULL, "print one JSON object instead of the table", NULL},
    {'h', "help", NULL, "show this help", NULL},
    {0, NULL, NULL, NULL, NULL}};

const cli_spec cli_spec_http_get = {
    "http get",
    "usage: hone http get URL [-n COUNT] [-c CONCURRENCY] [--rate R] [--retries N]\n"
    "                         [--deadline D] [--no-reuse] [--json]\n"
    "\n"
    "Sends COUNT GET requests to URL through hone's pooled HTTP client, at most\n"
    "CONCURRENCY at once, and reports requests/s, latency percentiles, status\n"
    "counts, retries, connection reuse and rate-limiter waits. Point it at\n"
    "loopback or at a server you own: it is a load generator.\n",
    "Exit status: 0 every request got an HTTP response (of any status); 1 some\n"
    "request got none (the first such error is printed); 2 usage error.\n",
    get_opts};

void cli_http_usage(FILE *out) { cli_help(&cli_spec_http_get, out); }

/* ------------------------------------------------------------------ */
/* The load driver                                                     */

/* What one run measured. */
typedef struct load {
    hone_http_client *c;
    hone_http_request req;
    uint64_t n, conc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t submitted, done; /* under mu */
    /* Written by the client's loop thread only, read after done == n. */
    hone_hist *lat;
    uint64_t codes[600], other_codes;
    uint64_t errs[32], errors;
    char first_err[320];
    uint64_t t0, t1;
} load;

static void load_cb(void *ctx, int status, hone_http_response *resp, const hone_error *err);

/* Submits the next request if any is left; counts a refused submission as
 * a failed request. */
static void load_next(load *l) {
    pthread_mutex_lock(&l->mu);
    int more = l->submitted < l->n;
    if (more) l->submitted++;
    pthread_mutex_unlock(&l->mu);
    if (!more) return;
    int rc = hone_http_submit(l->c, &l->req, load_cb, l);
    if (rc) {
        hone_http_response none = {0};
        hone_error e;
        hone_error_set(&e, rc, "GET %s: could not submit: %s", l->req.url, hone_strerror(rc));
        load_cb(l, rc, &none, &e);
    }
}

static void load_cb(void *ctx, int status, hone_http_response *resp, const hone_error *err) {
    load *l = ctx;
    if (status == HONE_OK) {
        hone_hist_record(l->lat, resp->total_ns);
        if (resp->status >= 0 && resp->status < 600)
            l->codes[resp->status]++;
        else
            l->other_codes++;
    } else {
        l->errors++;
        int i = -status;
        l->errs[i >= 0 && i < 32 ? i : 0]++;
        if (!l->first_err[0]) snprintf(l->first_err, sizeof l->first_err, "%s", err->msg);
    }
    pthread_mutex_lock(&l->mu);
    int last = ++l->done == l->n;
    if (last) l->t1 = hone_now_ns();
    if (last) pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (!last) load_next(l);
}

/* Runs n requests at concurrency conc and waits for them all. */
static int load_run(load *l, hone_http_client *c, const char *url, uint64_t n, uint64_t conc) {
    memset(l, 0, sizeof *l);
    l->c = c;
    l->req.url = url;
    l->n = n;
    l->conc = conc;
    hone_hist_opts ho = {.significant_digits = 3};
    if (hone_hist_new(&l->lat, &ho)) return HONE_ENOMEM;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->t0 = hone_now_ns();
    for (uint64_t i = 0; i < conc && i < n; i++) load_next(l);
    pthread_mutex_lock(&l->mu);
    while (l->done < l->n) pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    return HONE_OK;
}

static void load_free(load *l) {
    hone_hist_free(l->lat);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
}

static double load_secs(const load *l) { return (double)(l->t1 - l->t0) / 1e9; }

static double load_rps(const load *l) {
    double s = load_secs(l);
    return s > 0 ? (double)l->n / s : 0;
}

/* "1.23 ms" style, in a static rotating buffer. */
static const char *fmt_ns(uint64_t ns) {
    static char bufs[8][32];
    static int k;
    char *b = bufs[k++ & 7];
    if (ns < 1000)
        snprintf(b, 32, "%llu ns", (unsigned long long)ns);
    else if (ns < 1000000)
        snprintf(b, 32, "%.1f us", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(b, 32, "%.2f ms", (double)ns / 1e6);
    else
        snprintf(b, 32, "%.2f s", (double)ns / 1e9);
    return b;
}

static void print_table(const load *l, const hone_http_stats *st, double rate, int no_reuse) {
    printf("GET %s\n", l->req.url);
    printf("  requests     %llu in %.3f s, %.1f req/s (concurrency %llu%s)\n",
           (unsigned long long)l->n, load_secs(l), load_rps(l), (unsigned long long)l->conc,
           no_reuse ? ", new connection per request" : "");
    if (hone_hist_count(l->lat))
        printf("  latency      p50 %s  p90 %s  p99 %s  max %s\n",
               fmt_ns(hone_hist_percentile(l->lat, 50)), fmt_ns(hone_hist_percentile(l->lat, 90)),
               fmt_ns(hone_hist_percentile(l->lat, 99)), fmt_ns(hone_hist_max(l->lat)));
    else
        printf("  latency      - (no response)\n");
    printf("  status      ");
    int any = 0;
    for (int code = 0; code < 600; code++)
        if (l->codes[code]) {
            printf(" %d: %llu", code, (unsigned long long)l->codes[code]);
            any = 1;
        }
    if (l->other_codes) {
        printf(" other: %llu", (unsigned long long)l->other_codes);
        any = 1;
    }
    printf("%s\n", any ? "" : " -");
    printf("  errors       %llu", (unsigned long long)l->errors);
    for (int i = 1; i < 32; i++)
        if (l->errs[i]) printf("  %s: %llu", hone_status_name(-i), (unsigned long long)l->errs[i]);
    printf("\n");
    printf("  retries      %llu (%llu attempts for %llu requests)\n",
           (unsigned long long)st->retries, (unsigned long long)st->attempts,
           (unsigned long long)st->requests);
    double pct = st->attempts ? 100.0 * (double)st->reused / (double)st->attempts : 0;
    printf("  connections  %llu opened, %llu of %llu attempts reused (%.1f %%)\n",
           (unsigned long long)st->connections_opened, (unsigned long long)st->reused,
           (unsigned long long)st->attempts, pct);
    if (isinf(rate))
        printf("  rate limit   off\n");
    else
        printf("  rate limit   %g/s: %llu waits, %s waited in all\n", rate,
               (unsigned long long)st->limiter_waits, fmt_ns(st->limiter_wait_ns));
}

static int print_json(const load *l, const hone_http_stats *st, double rate, int no_reuse) {
    json_t *codes = json_object(), *errs = json_object();
    char k[16];
    for (int code = 0; code < 600; code++)
        if (l->codes[code]) {
            snprintf(k, sizeof k, "%d", code);
            json_object_set_new(codes, k, json_integer((json_int_t)l->codes[code]));
        }
    for (int i = 1; i < 32; i++)
        if (l->errs[i]) json_object_set_new(errs, hone_status_name(-i), json_integer((json_int_t)l->errs[i]));
    json_t *lat = json_pack("{s:I, s:I, s:I, s:I, s:f}", "p50", (json_int_t)hone_hist_percentile(l->lat, 50),
                            "p90", (json_int_t)hone_hist_percentile(l->lat, 90), "p99",
                            (json_int_t)hone_hist_percentile(l->lat, 99), "max",
                            (json_int_t)hone_hist_max(l->lat), "mean", hone_hist_mean(l->lat));
    json_t *j = json_pack(
        "{s:s, s:I, s:I, s:b, s:f, s:f, s:o, s:o, s:I, s:o, s:I, s:I, s:I, s:I, s:f, s:o, s:I, s:I}",
        "url", l->req.url, "requests", (json_int_t)l->n, "concurrency", (json_int_t)l->conc,
        "new_connection_per_request", no_reuse, "duration_s", load_secs(l), "requests_per_sec",
        load_rps(l), "latency_ns", lat, "status", codes, "errors", (json_int_t)l->errors,
        "errors_by_status", errs, "attempts", (json_int_t)st->attempts, "retries",
        (json_int_t)st->retries, "connections_opened", (json_int_t)st->connections_opened, "reused",
        (json_int_t)st->reused, "reused_percent",
        st->attempts ? 100.0 * (double)st->reused / (double)st->attempts : 0.0, "rate_per_sec",
        isinf(rate) ? json_null() : json_real(rate), "limiter_waits", (json_int_t)st->limiter_waits,
        "limiter_wait_ns", (json_int_t)st->limiter_wait_ns);
    if (l->first_err[0] && j) json_object_set_new(j, "first_error", json_string(l->first_err));
    if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) {
        json_decref(j);
        cli_cmd_error("http", "could not write JSON");
        return CLI_FAIL;
    }
    putchar('\n');
    json_decref(j);
    return CLI_OK;
}

static int http_get(int argc, char **argv) {
    uint64_t n = 100, conc = 1, retries = 2, deadline = 60ull * 1000000000ull;
    double rate = INFINITY;
    int json = 0, no_reuse = 0, c;
    hone_error err;
    optind = 0;
    while ((c = cli_next(&cli_spec_http_get, argc, argv)) != -1) {
        switch (c) {
        case 'n':
            if (hone_parse_u64("--requests", optarg, 1, MAX_REQUESTS, &n, &err)) goto bad;
            break;
        case 'c':
            if (hone_parse_u64("--concurrency", optarg, 1, MAX_CONCURRENCY, &conc, &err)) goto bad;
            break;
        case OPT_RATE:
            if (hone_parse_rate("--rate", optarg, &rate, &err)) goto bad;
            if (rate == 0) {
                cli_cmd_error("http", "--rate=%s: expected a rate above 0 (or off); 0 would refuse every request", optarg);
                return CLI_USAGE;
            }
            break;
        case OPT_RETRIES:
            if (hone_parse_u64("--retries", optarg, 0, 10, &retries, &err)) goto bad;
            break;
        case OPT_DEADLINE:
            if (hone_parse_duration("--deadline", optarg, 1000000, &deadline, &err)) goto bad;
            if (deadline < 1000000 || deadline > 3600ull * 1000000000ull) {
                cli_cmd_error("http", "--deadline=%s: expected a duration from 1ms to 1h", optarg);
                return CLI_USAGE;
            }
            break;
        case OPT_NO_REUSE: no_reuse = 1; break;
        case OPT_JSON: json = 1; break;
        case 'h': cli_http_usage(stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind >= argc) {
        cli_cmd_error("http", "get needs a URL (e.g. hone http get http://127.0.0.1:8080/)");
        return CLI_USAGE;
    }
    const char *url = argv[optind];
    if (optind + 1 < argc) {
        cli_cmd_error("http", "unexpected argument '%s' (one URL per run)", argv[optind + 1]);
        return CLI_USAGE;
    }
    hone_http_request check = {.url = url};
    if (hone_http_request_check(&check, &err)) goto bad;

    hone_limiter *lim = NULL;
    if (!isinf(rate)) {
        /* A bucket of one: requests are spaced 1/rate apart, never bunched. */
        hone_limiter_opts lo = {.rate = rate, .burst = 1};
        if (hone_limiter_new(&lim, &lo)) {
            cli_cmd_error("http", "out of memory");
            return CLI_FAIL;
        }
    }
    hone_http_opts o = {0};
    o.max_per_host = (uint32_t)conc;
    o.max_total = MAX_CONCURRENCY;
    o.deadline_ns = deadline;
    o.limiter = lim;
    o.retry.max_attempts = (unsigned)retries + 1;
    /* A load driver must send every request: coalescing identical GETs would
     * hide the load it is asked to generate. */
    o.no_single_flight = 1;
    o.no_reuse = no_reuse;
    hone_http_client *client;
    int rc = hone_http_client_new(&client, &o);
    if (rc) {
        hone_limiter_free(lim);
        cli_cmd_error("http", "could not start the HTTP client: %s", hone_strerror(rc));
        return CLI_FAIL;
    }
    load l;
    rc = load_run(&l, client, url, n, conc);
    if (rc) {
        hone_http_client_free(client);
        hone_limiter_free(lim);
        cli_cmd_error("http", "out of memory");
        return CLI_FAIL;
    }
    hone_http_stats st;
    hone_http_stats_get(client, &st);
    hone_http_client_free(client);
    hone_limiter_free(lim);
    int status = CLI_OK;
    if (json)
        status = print_json(&l, &st, rate, no_reuse);
    else
        print_table(&l, &st, rate, no_reuse);
    fflush(stdout);
    if (l.errors) {
        cli_cmd_error("http", "%llu of %llu requests failed; first: %s",
                      (unsigned long long)l.errors, (unsigned long long)l.n, l.first_err);
        status = CLI_FAIL;
    }
    load_free(&l);
    return status;
bad:
    cli_cmd_error("http", "%s", err.msg);
    return CLI_USAGE;
}

int cli_http_main(int argc, char **argv) {
    if (argc < 2) {
        cli_cmd_error("http", "missing subcommand (expected 'get'; see 'hone http --help')");
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        cli_http_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "get") != 0) {
        cli_cmd_error("http", "unknown subcommand '%s' (expected 'get')", argv[1]);
        return CLI_USAGE;
    }
    return http_get(argc - 1, argv + 1);
}

/* ------------------------------------------------------------------ */
/* Demo step                                                           */

/* A client for the demo: loopback, so no proxy from the environment. */
static int demo_client(hone_http_client **c, hone_http_opts *o) {
    o->proxy = "";
    int rc = hone_http_client_new(c, o);
    if (rc) fprintf(stderr, "http demo: could not start a client: %s\n", hone_strerror(rc));
    return rc;
}

static int demo_check(const load *l, const char *what) {
    if (l->errors) {
        fprintf(stderr, "http demo: %s: %llu of %llu requests failed; first: %s\n", what,
                (unsigned long long)l->errors, (unsigned long long)l->n, l->first_err);
        return 1;
    }
    return 0;
}

/* Starts a loopback server and shows the client against it: pooled beside
 * a new connection per request, a burst of 503s absorbed by retries within
 * the retry budget, and a rate limit held. */
int cli_demo_http(void) {
    cli_loopback *srv;
    char why[160], url[96], flaky[96];
    if (cli_loopback_start(&srv, 2, 0, why, sizeof why)) {
        fprintf(stderr, "http demo: %s\n", why);
        return 1;
    }
    cli_loopback_url(srv, "/", url, sizeof url);
    cli_loopback_url(srv, "/flaky", flaky, sizeof flaky);
    printf("loopback server (libmicrohttpd) on 127.0.0.1:%u\n", (unsigned)cli_loopback_port(srv));
    int fail = 0;
    load l;
    hone_http_client *c = NULL;
    memset(&l, 0, sizeof l);
    hone_http_stats st;

    /* 1. Pooled beside a new connection per request. */
    enum { N = 2000, CONC = 4 };
    double rps[2] = {0, 0};
    double reuse_pct = 0;
    for (int mode = 0; mode < 2 && !fail; mode++) {
        hone_http_opts o = {.max_per_host = CONC, .no_single_flight = 1, .no_reuse = mode == 1};
        if (demo_client(&c, &o) || load_run(&l, c, url, N, CONC)) {
            hone_http_client_free(c);
            fail = 1;
            break;
        }
        hone_http_stats_get(c, &st);
        hone_http_client_free(c);
        fail = demo_check(&l, mode ? "unpooled" : "pooled");
        rps[mode] = load_rps(&l);
        if (mode == 0) reuse_pct = st.attempts ? 100.0 * (double)st.reused / (double)st.attempts : 0;
        printf("  %-34s %8.0f req/s  p99 %-9s  %llu connections\n",
               mode ? "new connection per request:" : "pooled (kept-alive connections):", rps[mode],
               fmt_ns(hone_hist_percentile(l.lat, 99)), (unsigned long long)st.connections_opened);
        load_free(&l);
    }
    if (!fail) {
        printf("  pooled / unpooled: %.2fx; %.1f %% of pooled requests on reused connections\n",
               rps[1] > 0 ? rps[0] / rps[1] : 0, reuse_pct);
        /* Reuse is what pooling is: with 4 connections for 2000 requests it
         * cannot fall below 95 % unless the pool is broken. */
        if (reuse_pct < 95) {
            fprintf(stderr, "http demo: only %.1f %% of requests reused a connection\n", reuse_pct);
            fail = 1;
        }
    }

    /* 2. A burst of 503s, absorbed by retries within the budget. */
    enum { BURST503 = 10 };
    if (!fail) {
        hone_retry_budget *budget = NULL;
        hone_retry_budget_opts bo = {0};
        if (hone_retry_budget_new(&budget, &bo)) {
            fprintf(stderr, "http demo: out of memory\n");
            fail = 1;
        } else {
            hone_http_opts o = {.max_per_host = 5, .no_single_flight = 1};
            o.retry.budget = budget;
            /* Enough attempts that even a request meeting the whole burst
             * gets through; the budget is what bounds retries overall. */
            o.retry.max_attempts = BURST503 + 1;
            o.retry.backoff.base_ns = 2000000; /* 2 ms */
            cli_loopback_fail_next(srv, BURST503, 503, "0");
            cli_loopback_counts_reset(srv);
            if (demo_client(&c, &o) || load_run(&l, c, flaky, 200, 5)) {
                fail = 1;
            } else {
                hone_http_stats_get(c, &st);
                cli_loopback_counts sc;
                cli_loopback_counts_get(srv, &sc);
                fail = demo_check(&l, "503 burst");
                printf("  503 burst: the server answered %llu of %llu requests with 503 "
                       "(Retry-After: 0);\n",
                       (unsigned long long)sc.failed, (unsigned long long)sc.flaky);
                printf("    %llu retries (%llu on the server's pushback), %llu refused by the "
                       "budget: %llu/200 ended 200\n",
                       (unsigned long long)st.retries, (unsigned long long)st.pushbacks,
                       (unsigned long long)st.budget_rejects, (unsigned long long)l.codes[200]);
                if (!fail && l.codes[200] != 200) {
                    fprintf(stderr, "http demo: %llu of 200 requests did not end with 200\n",
                            (unsigned long long)(200 - l.codes[200]));
                    fail = 1;
                }
                load_free(&l);
            }
            hone_http_client_free(c);
            cli_loopback_fail_next(srv, 0, 0, NULL);
        }
        hone_retry_budget_free(budget);
    }

    /* 3. A rate limit held: 200/s with a burst of 10. */
    if (!fail) {
        enum { RN = 100, BURST = 10 };
        const double rate = 200;
        hone_limiter *lim = NULL;
        hone_limiter_opts lo = {.rate = rate, .burst = BURST};
        if (hone_limiter_new(&lim, &lo)) {
            fprintf(stderr, "http demo: out of memory\n");
            fail = 1;
        } else {
            hone_http_opts o = {.max_per_host = 8, .no_single_flight = 1, .limiter = lim};
            if (demo_client(&c, &o) || load_run(&l, c, url, RN, 8)) {
                fail = 1;
            } else {
                hone_http_stats_get(c, &st);
                fail = demo_check(&l, "rate limit");
                /* After the burst, permits come 1/rate apart: the other
                 * RN - BURST requests cannot take less than (RN-BURST)/rate. */
                double secs = load_secs(&l), floor = (double)(RN - BURST) / rate;
                printf("  rate limit %.0f/s after a burst of %d: %d requests in %.3f s (the %d "
                       "paced ones need %.3f s);\n    %llu waited for a permit\n",
                       rate, BURST, RN, secs, RN - BURST, floor,
                       (unsigned long long)st.limiter_waits);
                if (!fail && secs < floor * 0.99) {
                    fprintf(stderr, "http demo: the limiter let %d requests through in %.3f s, "
                                    "under the %.3f s it allows\n", RN, secs, floor);
                    fail = 1;
                }
                load_free(&l);
            }
            hone_http_client_free(c);
        }
        hone_limiter_free(lim);
    }
    cli_loopback_stop(srv);
    return fail;
}
