/* test_prometheus.c - a real Prometheus (/usr/bin/prometheus, Debian's
 * package) scrapes the embedded server on loopback: the target comes up
 * with no scrape error, and the series a user graphs (the server's own,
 * a cache's, the cycle collector's, the profiler's zones, process_*) are
 * stored with the values hone exported. The test does not care which
 * exposition format the server answers in: Prometheus 2.42 asks for
 * OpenMetrics first and parses whatever the Content-Type says.
 *
 * Prometheus runs as a child in a scratch directory (config, TSDB, log),
 * is given at most PROM_DEADLINE_S to get there, and is stopped (SIGTERM,
 * then SIGKILL) by the teardown on every path, failed assertions included;
 * PR_SET_PDEATHSIG kills it if this program dies first. */
#include "test.h"
#include "tmpdir.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROM_BIN "/usr/bin/prometheus"
/* From starting Prometheus to every query answered. It starts in about a
 * second and scrapes every second; a loaded machine gets the rest. */
#define PROM_DEADLINE_S 60.0

/* The workload, so that each query below has a known answer. */
#define CACHE_NAME "sessions"
#define N_CYCLES 3
#define N_OUTER 25

typedef struct fixture {
    char dir[512];  /* scratch: prometheus.yml, data/, prometheus.log */
    char log[600];
    pid_t pid;      /* prometheus; 0 when not running */
    unsigned web_port;
    hone_server *srv;
    hone_cache *cache;
    hone_cycle_collector *cycles;
    hone_buf body;  /* the last answer of Prometheus' API */
    int passed;     /* set at the end of the case: the log is printed otherwise */
} fixture;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

/* A port that was free a moment ago: bind port 0 and close. Prometheus
 * exits when the port was taken in between, and the test then fails with
 * its log, which says so. */
static unsigned free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    unsigned port = 0;
    if (!bind(fd, (struct sockaddr *)&a, sizeof a) && !getsockname(fd, (struct sockaddr *)&a, &len))
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void print_file(const char *what, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        print_error("%s: cannot open %s\n", what, path);
        return;
    }
    print_error("---- %s (%s) ----\n", what, path);
    char line[1024];
    while (fgets(line, sizeof line, f)) print_error("%s", line);
    print_error("---- end of %s ----\n", what);
    fclose(f);
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    return hone_buf_append(ud, p, sz * n) ? 0 : sz * n;
}

/* What Prometheus 2.42 sends in Accept when it scrapes. */
#define PROM_ACCEPT                                                                       \
    "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;" \
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

/* GET http://127.0.0.1:port{path}, with header hdr unless NULL; the body
 * goes into out (cleared first). Returns the HTTP code, 0 when nothing
 * answered. */
static long http_get_h(unsigned port, const char *path, const char *hdr, hone_buf *out) {
    hone_buf_clear(out);
    CURL *c = curl_easy_init();
    if (!c) return 0;
    struct curl_slist *hl = hdr ? curl_slist_append(NULL, hdr) : NULL;
    if (hl) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    char url[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    return code;
}

static long http_get(unsigned port, const char *path, hone_buf *out) {
    return http_get_h(port, path, NULL, out);
}

/* Sample lines of an exposition (text or OpenMetrics): every line that is
 * neither empty nor a # comment. */
static size_t count_samples(const char *text) {
    size_t n = 0;
    for (const char *p = text; p && *p;) {
        const char *e = strchr(p, '\n');
        if (*p != '#' && *p != '\n') n++;
        p = e ? e + 1 : NULL;
    }
    return n;
}

/* Prometheus' own counts of samples it dropped from a scrape, read from
 * its /metrics: every prometheus_target_scrapes_* counter but the cache
 * flushes, and the scrape pool's label-limit refusals. Each line that is
 * not 0 is printed; returns how many there were. */
static int prom_dropped(fixture *f, hone_buf *b) {
    long code = http_get(f->web_port, "/metrics", b);
    if (code != 200) {
        print_error("prometheus /metrics: HTTP %ld\n", code);
        return 1;
    }
    int bad = 0, seen = 0;
    for (char *p = b->data; p && *p;) {
        char *e = strchr(p, '\n');
        if (e) *e = '\0';
        if ((!strncmp(p, "prometheus_target_scrapes_", 26) &&
             strncmp(p, "prometheus_target_scrapes_cache_flush_forced", 44)) ||
            !strncmp(p, "prometheus_target_scrape_pool_exceeded_label_limits_total", 57)) {
            seen++;
            const char *sp = strrchr(p, ' ');
            if (!sp || strtod(sp + 1, NULL) != 0) {
                print_error("prometheus dropped samples: %s\n", p);
                bad++;
            }
        }
        p = e ? e + 1 : NULL;
    }
    if (!seen) {
        print_error("prometheus /metrics has no prometheus_target_scrapes_* counters\n");
        bad++;
    }
    return bad;
}

/* Is the child still running? Reaps it (pid set to 0) when it exited. */
static int prom_alive(fixture *f) {
    if (!f->pid) return 0;
    int st;
    if (waitpid(f->pid, &st, WNOHANG) == f->pid) {
        print_error("prometheus exited early (%s %d)\n", WIFEXITED(st) ? "status" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        f->pid = 0;
        return 0;
    }
    return 1;
}

/* SIGTERM, up to 10 s for it to shut its TSDB down, then SIGKILL. */
static void prom_stop(fixture *f) {
    if (!f->pid) return;
    kill(f->pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
        if (waitpid(f->pid, NULL, WNOHANG) == f->pid) {
            f->pid = 0;
            return;
        }
        sleep_ms(10);
    }
    print_error("prometheus ignored SIGTERM for 10 s: killed\n");
    kill(f->pid, SIGKILL);
    waitpid(f->pid, NULL, 0);
    f->pid = 0;
}

static void prom_start(fixture *f, unsigned target_port) {
    char cfg[600], data[600], flag_cfg[700], flag_data[700], flag_web[64];
    snprintf(cfg, sizeof cfg, "%s/prometheus.yml", f->dir);
    snprintf(data, sizeof data, "%s/data", f->dir);
    snprintf(f->log, sizeof f->log, "%s/prometheus.log", f->dir);
    /* scrape_timeout must not exceed scrape_interval, whose default (10 s)
     * it would otherwise keep. */
    FILE *y = fopen(cfg, "w");
    assert_non_null(y);
    fprintf(y,
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: hone\n"
            "    static_configs:\n"
            "      - targets: ['127.0.0.1:%u']\n",
            target_port);
    assert_int_equal(fclose(y), 0);

    f->web_port = free_port();
    assert_true(f->web_port > 0);
    snprintf(flag_cfg, sizeof flag_cfg, "--config.file=%s", cfg);
    snprintf(flag_data, sizeof flag_data, "--storage.tsdb.path=%s", data);
    snprintf(flag_web, sizeof flag_web, "--web.listen-address=127.0.0.1:%u", f->web_port);
    char *argv[] = {"prometheus", flag_cfg, flag_data, flag_web, "--log.level=info", NULL};
    int logfd = open(f->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(logfd >= 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Only async-signal-safe calls between fork and exec: the server's
         * threads were running when we forked. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        if (chdir(f->dir) != 0) _exit(127); /* anything it writes by default lands here */
        dup2(logfd, 1);
        dup2(logfd, 2);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) dup2(nul, 0);
        execv(PROM_BIN, argv);
        _exit(127);
    }
    close(logfd);
    f->pid = pid;
}

/* Waits until the only target is up, returning it (to be json_decref'd);
 * fails the test with the last answer at the deadline. */
static json_t *wait_target_up(fixture *f, double deadline, hone_buf *b) {
    long code = 0;
    while (now_s() < deadline && prom_alive(f)) {
        code = http_get(f->web_port, "/api/v1/targets", b);
        if (code == 200) {
            json_t *j = json_loadb(b->data, b->len, 0, NULL);
            json_t *t = json_array_get(
                    json_object_get(json_object_get(j, "data"), "activeTargets"), 0);
            const char *health = json_string_value(json_object_get(t, "health"));
            if (health && !strcmp(health, "up")) {
                json_incref(t);
                json_decref(j);
                return t;
            }
            json_decref(j);
        }
        sleep_ms(200);
    }
    print_error("the target was not up within %.0f s; last /api/v1/targets (HTTP %ld): %s\n",
                PROM_DEADLINE_S, code, b->data ? b->data : "(nothing)");
    fail();
    return NULL;
}

/* Runs an instant query until it has a result (the first scrape may land
 * between two polls), returning data.result (to be json_decref'd); fails
 * with the last answer at the deadline. */
static json_t *query(fixture *f, const char *promql, double deadline, hone_buf *b) {
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char *enc = curl_easy_escape(c, promql, 0);
    assert_non_null(enc);
    char path[1024];
    snprintf(path, sizeof path, "/api/v1/query?query=%s", enc);
    curl_free(enc);
    curl_easy_cleanup(c);
    long code = 0;
    do {
        code = http_get(f->web_port, path, b);
        if (code == 400 || code == 422) break; /* a bad query: no point waiting */
        if (code == 200) {
            json_t *j = json_loadb(b->data, b->len, 0, NULL);
            json_t *r = json_object_get(json_object_get(j, "data"), "result");
            const char *st = json_string_value(json_object_get(j, "status"));
            if (st && !strcmp(st, "success") && json_array_size(r) > 0) {
                json_incref(r);
                json_decref(j);
                return r;
            }
            json_decref(j);
        }
        if (now_s() >= deadline || !prom_alive(f)) break;
        sleep_ms(200);
    } while (1);
    print_error("query %s: no result; last answer (HTTP %ld): %s\n", promql, code,
                b->data ? b->data : "(nothing)");
    fail();
    return NULL;
}

/* The value of the only sample of an instant vector result. */
static double sample_value(json_t *result, const char *promql) {
    if (json_array_size(result) != 1) {
        char *s = json_dumps(result, 0);
        print_error("query %s: %zu series, want 1: %s\n", promql, json_array_size(result), s);
        free(s);
        fail();
    }
    const char *v = json_string_value(json_array_get(
            json_object_get(json_array_get(result, 0), "value"), 1));
    assert_non_null(v);
    return strtod(v, NULL);
}

/* ------------------------------------------------------------------ */

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    prom_stop(f);
    if (!f->passed && f->log[0]) print_file("prometheus log", f->log);
    hone_server_stop(f->srv);
    hone_prof_enable(0);
    hone_cache_free(f->cache);
    hone_cycle_collector_free(f->cycles);
    hone_test_rmtree(f->dir);
    hone_buf_free(&f->body);
    free(f);
    return 0;
}

static void prometheus_scrapes(void **state) {
    fixture *f = *state;
    if (access(PROM_BIN, X_OK) != 0) {
        print_message(PROM_BIN " not installed (Debian package prometheus): skipped\n");
        f->passed = 1;
        skip();
    }

    /* A cache with hits and misses (capacity 4, seven keys: evictions too). */
    hone_cache_options co = {.max_entries = 4};
    assert_int_equal(hone_cache_new(&f->cache, &co), HONE_OK);
    for (int i = 0; i < 40; i++) {
        char k[8], v[8];
        size_t vl;
        int kl = snprintf(k, sizeof k, "k%d", i % 7);
        if (hone_cache_get(f->cache, k, (size_t)kl, v, sizeof v, &vl) != HONE_OK)
            assert_int_equal(hone_cache_put(f->cache, k, (size_t)kl, "v", 1), HONE_OK);
    }
    hone_cache_stats cs;
    hone_cache_stats_get(f->cache, &cs);
    assert_true(cs.hits > 0 && cs.misses > 0);

    /* Cycles, one of them failed. */
    assert_int_equal(hone_cycle_collector_new(&f->cycles, NULL), HONE_OK);
    for (int i = 0; i < N_CYCLES; i++) {
        hone_cycle *cy;
        assert_int_equal(hone_cycle_begin(f->cycles, "build", &cy), HONE_OK);
        hone_cycle_hit(cy);
        hone_cycle_miss(cy);
        hone_cycle_end(cy, i != 1);
    }

    /* Zones, one nested in the other. */
    hone_prof_enable(1);
    for (int i = 0; i < N_OUTER; i++) {
        HONE_ZONE("prom_test_outer");
        for (int k = 0; k < 2; k++) {
            HONE_ZONE("prom_test_inner");
            sleep_ms(1);
        }
    }

    hone_error err = {0};
    hone_server_opts o = {.cycles = f->cycles};
    int rc = hone_server_start(&f->srv, &o, &err);
    if (rc) print_error("hone_server_start: %s\n", err.msg);
    assert_int_equal(rc, HONE_OK);
    assert_int_equal(hone_server_add_cache(f->srv, CACHE_NAME, f->cache), HONE_OK);

    assert_int_equal(hone_test_tmpdir(f->dir, sizeof f->dir, "prometheus"), 0);
    double t0 = now_s(), deadline = t0 + PROM_DEADLINE_S;
    prom_start(f, hone_server_port(f->srv));

    hone_buf *b = &f->body;
    json_t *t = wait_target_up(f, deadline, b);
    double t_up = now_s() - t0;
    const char *last_error = json_string_value(json_object_get(t, "lastError"));
    if (!last_error || last_error[0]) {
        char *s = json_dumps(t, 0);
        print_error("target up, but lastError is not empty: %s\n", s);
        free(s);
    }
    assert_non_null(last_error);
    assert_string_equal(last_error, "");
    json_decref(t);

    /* Each series is there, with the value hone exported where the value
     * is fixed by the workload above. */
    /* A scrape's exposition is built before that scrape is counted, so the
     * first one stores 0 and the second one (a second later) 1 or more. */
    const char *q = "hone_server_requests_total >= 1";
    json_t *r = query(f, q, deadline, b);
    double v = sample_value(r, q);
    json_decref(r);

    q = "hone_cache_hits_total{cache=\"" CACHE_NAME "\"}";
    r = query(f, q, deadline, b);
    v = sample_value(r, q);
    if (v != (double)cs.hits) print_error("%s: %g, hone counted %llu\n", q, v,
                                          (unsigned long long)cs.hits);
    assert_true(v == (double)cs.hits);
    json_decref(r);

    q = "hone_cache_misses_total{cache=\"" CACHE_NAME "\"}";
    r = query(f, q, deadline, b);
    v = sample_value(r, q);
    if (v != (double)cs.misses) print_error("%s: %g, hone counted %llu\n", q, v,
                                            (unsigned long long)cs.misses);
    assert_true(v == (double)cs.misses);
    json_decref(r);

    q = "hone_cycles{scope=\"all\"}";
    r = query(f, q, deadline, b);
    v = sample_value(r, q);
    if (v != N_CYCLES) print_error("%s: %g, want %d\n", q, v, N_CYCLES);
    assert_true(v == N_CYCLES);
    json_decref(r);

    q = "hone_zone_duration_seconds{zone=\"prom_test_outer\",quantile=\"0.99\"}";
    r = query(f, q, deadline, b);
    v = sample_value(r, q);
    if (!(v >= 0.002)) print_error("%s: %g s, want >= 2 ms (two 1 ms sleeps inside)\n", q, v);
    assert_true(v >= 0.002);
    json_decref(r);

    q = "hone_zone_duration_seconds_count{zone=\"prom_test_inner\"}";
    r = query(f, q, deadline, b);
    v = sample_value(r, q);
    if (v != 2 * N_OUTER) print_error("%s: %g, want %d\n", q, v, 2 * N_OUTER);
    assert_true(v == 2 * N_OUTER);
    json_decref(r);

    q = "process_resident_memory_bytes";
    r = query(f, q, deadline, b);
    v = sample_value(r, q);
    if (!(v > 0)) print_error("%s: %g\n", q, v);
    assert_true(v > 0);
    json_decref(r);

    /* Prometheus' own verdict on the scrapes: up, every sample of the
     * exposition parsed (counted on one fetched with Prometheus' Accept,
     * so in the format it got), and none dropped. */
    q = "up{job=\"hone\"}";
    r = query(f, q, deadline, b);
    v = sample_value(r, q);
    assert_true(v == 1);
    json_decref(r);
    assert_int_equal(http_get_h(hone_server_port(f->srv), "/metrics", PROM_ACCEPT, b), 200);
    size_t exported = count_samples(b->data);
    q = "scrape_samples_scraped{job=\"hone\"}";
    r = query(f, q, deadline, b);
    v = sample_value(r, q);
    if (v != (double)exported) print_error("%s: %g, the exposition has %zu\n", q, v, exported);
    assert_true(v == (double)exported);
    json_decref(r);
    assert_int_equal(prom_dropped(f, b), 0);

    printf("prometheus: target up after %.1f s, all queries answered after %.1f s\n", t_up,
           now_s() - t0);
    f->passed = 1;
}

static int group_setup(void **state) {
    (void)state;
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    curl_global_cleanup();
    return 0;
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(prometheus_scrapes, setup, teardown),
};
HONE_TEST_MAIN_FIXTURES(tests, group_setup, group_teardown)
