/* test_server.c - the embedded server on a real loopback port: /metrics
 * and the JSON API answer, and every hostile request (foreign Host, path
 * tricks, other methods, garbage, huge headers, slowloris, too many
 * connections) is refused, counted, and does not stop others being served. */
#include "test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* The test's own buffers use libc directly: the failing allocator is the
 * process default during the out-of-memory loop, and only the server's
 * allocations are under test there. */
static void *libc_malloc(void *ctx, size_t n) {
    (void)ctx;
    return malloc(n);
}
static void *libc_realloc(void *ctx, void *p, size_t n) {
    (void)ctx;
    return realloc(p, n);
}
static void libc_free(void *ctx, void *p) {
    (void)ctx;
    free(p);
}
static const hone_allocator libc_alloc = {libc_malloc, libc_realloc, libc_free, NULL};

typedef struct resp {
    long code;
    char ctype[128];
    char allow[64];
    hone_buf body;
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    resp *r = ud;
    return hone_buf_append(&r->body, p, sz * n) ? 0 : sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
    resp *r = ud;
    size_t len = sz * n;
    if (len > 6 && !strncasecmp(p, "Allow:", 6)) {
        size_t k = len - 6 < sizeof r->allow - 1 ? len - 6 : sizeof r->allow - 1;
        memcpy(r->allow, p + 6, k);
        r->allow[k] = '\0';
    }
    return len;
}

/* One request with libcurl: method NULL is GET; host NULL leaves curl's
 * Host (127.0.0.1:PORT). Paths are sent as written (no ../ squashing).
 * Returns the HTTP code (0: transport failure); free r->body after. */
static long request(unsigned port, const char *method, const char *path, const char *host,
                    resp *r) {
    memset(r, 0, sizeof *r);
    hone_buf_init(&r->body, &libc_alloc);
    CURL *c = curl_easy_init();
    if (!c) return 0;
    char url[512], hh[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    struct curl_slist *hdr = NULL;
    if (host) {
        snprintf(hh, sizeof hh, "Host: %s", host);
        hdr = curl_slist_append(NULL, hh);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (method && !strcmp(method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (method && !strcmp(method, "POST")) curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
    else if (method) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        if (ct) snprintf(r->ctype, sizeof r->ctype, "%s", ct);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return r->code;
}

static long get_code(unsigned port, const char *method, const char *path, const char *host) {
    resp r;
    long code = request(port, method, path, host, &r);
    hone_buf_free(&r.body);
    return code;
}

static hone_server *start(const hone_server_opts *o) {
    hone_server *s = NULL;
    hone_error err = {0};
    int rc = hone_server_start(&s, o, &err);
    if (rc) fprintf(stderr, "start: %s\n", err.msg);
    assert_int_equal(rc, HONE_OK);
    assert_non_null(s);
    assert_true(hone_server_port(s) > 0);
    return s;
}

static uint64_t refused(hone_server *s, hone_server_refusal r) {
    hone_server_stats st;
    hone_server_stats_get(s, &st);
    return st.refused[r];
}

/* Waits (up to 10 s, polling) for a count that is updated when
 * libmicrohttpd's thread gets to it; returns the last value seen. */
static uint64_t wait_refused(hone_server *s, hone_server_refusal r, uint64_t want) {
    uint64_t v = 0;
    for (int i = 0; i < 1000 && (v = refused(s, r)) < want; i++) usleep(10000);
    return v;
}

static int raw_connect(unsigned port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 15};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Reads until the server closes the connection; returns what was read
 * (NUL-terminated, truncated to cap) or -1 if the server kept it open past
 * the receive timeout. */
static long read_to_close(int fd, char *buf, size_t cap) {
    size_t n = 0;
    for (;;) {
        char tmp[4096];
        ssize_t k = recv(fd, tmp, sizeof tmp, 0);
        if (k == 0 || (k < 0 && errno == ECONNRESET)) break;
        if (k < 0) return -1;
        size_t c = n + (size_t)k < cap - 1 ? (size_t)k : cap - 1 - n;
        memcpy(buf + n, tmp, c);
        n += c;
    }
    buf[n] = '\0';
    return (long)n;
}

/* promtool's own check of an exposition, when it is installed. */
/* The exposition passes hone's own checks (what promtool lets through:
 * a missing +Inf bucket, buckets out of order, duplicate series) and,
 * when installed, promtool's. */
static void promtool(const hone_buf *body) {
    hone_error lerr;
    int lrc = hone_metrics_lint(body->data, body->len, 0, &lerr);
    if (lrc) fprintf(stderr, "hone_metrics_lint: %s\n", lerr.msg);
    assert_int_equal(lrc, HONE_OK);
    if (access("/usr/bin/promtool", X_OK) != 0) {
        printf("skip: /usr/bin/promtool not installed; exposition not checked by promtool\n");
        return;
    }
    char path[] = "/tmp/hone-server-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, body->data, body->len), (ssize_t)body->len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < %s", path);
    int rc = system(cmd);
    if (rc) fprintf(stderr, "promtool refused:\n%s\n", body->data);
    unlink(path);
    assert_int_equal(rc, 0);
}

/* ------------------------------------------------------------------ */

static void metrics_endpoint(void **state) {
    (void)state;
    hone_metrics *m;
    assert_int_equal(hone_metrics_new(&m, NULL), HONE_OK);
    hone_metric *ctr, *hist;
    assert_int_equal(hone_metrics_counter(m, "app_jobs_total", "Jobs done.", NULL, &ctr, NULL), 0);
    assert_int_equal(hone_metrics_histogram(m, "app_job_seconds", "Job time.", NULL, 0, NULL, &hist,
                                            NULL),
                     0);
    hone_metric_add(ctr, 3);
    hone_metric_observe(hist, 0.02);
    hone_cache *c;
    hone_cache_options co = {.max_entries = 100};
    assert_int_equal(hone_cache_new(&c, &co), HONE_OK);
    hone_cache_put(c, "k", 1, "v", 1);
    char buf[8];
    size_t vl;
    hone_cache_get(c, "k", 1, buf, sizeof buf, &vl);
    hone_cache_get(c, "z", 1, buf, sizeof buf, &vl);

    hone_server_opts o = {.metrics = m};
    hone_server *s = start(&o);
    assert_int_equal(hone_server_add_cache(s, "sessions", c), HONE_OK);
    assert_int_equal(hone_server_add_cache(s, "sessions", c), HONE_EEXIST);
    resp r;
    assert_int_equal(request(hone_server_port(s), NULL, "/metrics", NULL, &r), 200);
    assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
    const char *b = r.body.data;
    assert_non_null(b);
    assert_non_null(strstr(b, "\napp_jobs_total 3\n"));
    assert_non_null(strstr(b, "app_job_seconds_bucket{le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(b, "hone_cache_hits_total{cache=\"sessions\"} 1\n"));
    assert_non_null(strstr(b, "hone_cache_misses_total{cache=\"sessions\"} 1\n"));
    assert_non_null(strstr(b, "process_resident_memory_bytes "));
    assert_non_null(strstr(b, "hone_server_refused_total{reason=\"host\"} 0\n"));

    promtool(&r.body);
    hone_buf_free(&r.body);

    /* HEAD: the same status and type, no body. */
    assert_int_equal(request(hone_server_port(s), "HEAD", "/metrics", NULL, &r), 200);
    assert_int_equal(r.body.len, 0);
    assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
    hone_buf_free(&r.body);
    /* A second scrape sees this one counted. */
    assert_int_equal(request(hone_server_port(s), NULL, "/metrics", NULL, &r), 200);
    assert_non_null(strstr(r.body.data, "hone_server_requests_total 2\n"));
    hone_buf_free(&r.body);

    hone_server_stop(s);
    hone_cache_free(c);
    hone_metrics_free(m);
}

/* Cycle metrics and profiler zones join the exposition; process metrics
 * can be left to the program's registry. */
static void metrics_sources(void **state) {
    (void)state;
    hone_cycle_collector *cy;
    assert_int_equal(hone_cycle_collector_new(&cy, NULL), HONE_OK);
    hone_cycle *one;
    assert_int_equal(hone_cycle_begin(cy, "build-1", &one), HONE_OK);
    hone_cycle_hit(one);
    hone_cycle_end(one, 1);
    hone_prof_enable(1);
    static hone_prof_site site = {"server_test_zone", "t.c", "f", 1, HONE_LOG_WARN, 0, 0, 0, 0};
    hone_prof_record(&site, 1500);
    hone_metrics *m;
    assert_int_equal(hone_metrics_new(&m, NULL), HONE_OK);
    assert_int_equal(hone_metrics_update_process(m, NULL), HONE_OK); /* the program's own */
    hone_server_opts o = {.metrics = m, .cycles = cy, .no_process_metrics = 1};
    hone_server *s = start(&o);
    resp r;
    assert_int_equal(request(hone_server_port(s), NULL, "/metrics", NULL, &r), 200);
    assert_non_null(strstr(r.body.data, "hone_cycles{scope=\"all\"} 1\n"));
    assert_non_null(strstr(r.body.data, "zone=\"server_test_zone\""));
    /* process_* once, from the program's registry: a second family of the
     * same name would make promtool refuse the whole exposition. */
    const char *p = strstr(r.body.data, "# TYPE process_resident_memory_bytes");
    assert_non_null(p);
    assert_null(strstr(p + 1, "# TYPE process_resident_memory_bytes"));
    promtool(&r.body);
    hone_buf_free(&r.body);
    hone_server_stop(s);
    hone_prof_enable(0);
    hone_metrics_free(m);
    hone_cycle_collector_free(cy);
}

static json_t *get_json(unsigned port, const char *path) {
    resp r;
    long code = request(port, NULL, path, NULL, &r);
    if (code != 200) fprintf(stderr, "GET %s: %ld %.*s\n", path, code, (int)r.body.len, r.body.data);
    assert_int_equal(code, 200);
    assert_string_equal(r.ctype, "application/json");
    json_error_t je;
    json_t *j = json_loadb(r.body.data, r.body.len, 0, &je);
    if (!j) fprintf(stderr, "%s: not JSON: %s\n", path, je.text);
    assert_non_null(j);
    hone_buf_free(&r.body);
    return j;
}

static void api_endpoints(void **state) {
    (void)state;
    hone_cache *c;
    hone_cache_options co = {.max_entries = 10};
    assert_int_equal(hone_cache_new(&c, &co), HONE_OK);
    hone_cache_put(c, "a", 1, "1", 1);
    hone_server *s = start(NULL);
    assert_int_equal(hone_server_add_cache(s, "we\"ird", c), HONE_OK);
    unsigned port = hone_server_port(s);

    json_t *j = get_json(port, "/api/caches");
    json_t *arr = json_object_get(j, "caches");
    assert_int_equal(json_array_size(arr), 1);
    json_t *first = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(first, "name")), "we\"ird");
    assert_true(json_is_object(json_object_get(first, "stats")));
    json_decref(j);

    j = get_json(port, "/api/process");
    assert_true(json_integer_value(json_object_get(j, "rss_bytes")) > 0);
    assert_true(json_integer_value(json_object_get(j, "threads")) >= 2); /* us and the server */
    json_decref(j);

    /* Profiling off and nothing saved: no profile, said so. */
    resp r;
    assert_int_equal(request(port, NULL, "/api/profile", NULL, &r), 404);
    assert_non_null(strstr(r.body.data, "profiling is off"));
    hone_buf_free(&r.body);
    hone_prof_enable(1);
    {
        HONE_ZONE("api_zone");
    }
    j = get_json(port, "/api/profile");
    assert_string_equal(json_string_value(json_object_get(j, "format")), "hone-profile");
    assert_true(json_array_size(json_object_get(j, "tree")) >= 1);
    json_decref(j);
    hone_prof_enable(0);
    hone_server_stop(s);
    hone_cache_free(c);
}

static hone_cycle_collector *cycles_of(size_t n, const char *id) {
    hone_cycle_collector *cy;
    assert_int_equal(hone_cycle_collector_new(&cy, NULL), HONE_OK);
    for (size_t i = 0; i < n; i++) {
        hone_cycle *c;
        assert_int_equal(hone_cycle_begin(cy, id, &c), HONE_OK);
        hone_cycle_hit(c);
        hone_cycle_end(c, 1);
    }
    return cy;
}

static const char *json_str_at(json_t *arr, size_t i) {
    return json_string_value(json_array_get(arr, i));
}

/* Saved profiles and histories (what `hone serve` shows) beside the live
 * ones: listed by /api/sources, chosen with ?source=, replaced by name. */
static void saved_sources(void **state) {
    (void)state;
    hone_cycle_collector *live = cycles_of(3, "live-cycle");
    hone_server_opts o = {.cycles = live};
    hone_server *s = start(&o);
    unsigned port = hone_server_port(s);
    hone_prof_enable(1);
    {
        HONE_ZONE("live_zone");
    }

    const char *saved_json = "{\"format\":\"hone-profile\",\"version\":1,\"wall_ns\":1000,"
                             "\"zones\":[{\"name\":\"saved_zone\",\"file\":\"f.c\","
                             "\"function\":\"f\",\"line\":1,\"count\":2,\"total_ns\":10,"
                             "\"self_ns\":10,\"min_ns\":5,\"max_ns\":5,\"mean_ns\":5,"
                             "\"std_ns\":0,\"p50_ns\":5,\"p90_ns\":5,\"p99_ns\":5,"
                             "\"p999_ns\":5}]}";
    hone_prof_snapshot *snap;
    hone_error err;
    assert_int_equal(hone_prof_snapshot_parse(&snap, saved_json, strlen(saved_json), NULL, &err),
                     HONE_OK);
    assert_int_equal(hone_server_put_profile(s, "old.json", snap), HONE_OK);
    assert_int_equal(hone_server_put_cycles(s, "hist.json", cycles_of(5, "saved-cycle")), HONE_OK);

    json_t *j = get_json(port, "/api/sources");
    assert_true(json_is_true(json_object_get(j, "live")));
    json_t *p = json_object_get(j, "profiles"), *c = json_object_get(j, "cycles");
    assert_int_equal(json_array_size(p), 2);
    assert_string_equal(json_str_at(p, 0), "live");
    assert_string_equal(json_str_at(p, 1), "old.json");
    assert_int_equal(json_array_size(c), 2);
    assert_string_equal(json_str_at(c, 0), "live");
    assert_string_equal(json_str_at(c, 1), "hist.json");
    json_decref(j);

    j = get_json(port, "/api/profile?source=old.json");
    json_t *z = json_array_get(json_object_get(j, "zones"), 0);
    assert_string_equal(json_string_value(json_object_get(z, "name")), "saved_zone");
    json_decref(j);
    j = get_json(port, "/api/profile"); /* default: live */
    int found = 0;
    json_t *zones = json_object_get(j, "zones");
    for (size_t i = 0; i < json_array_size(zones); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(zones, i), "name")),
                    "live_zone"))
            found = 1;
    assert_true(found);
    json_decref(j);

    j = get_json(port, "/api/cycles?recent=2");
    assert_int_equal(json_array_size(json_object_get(j, "cycles")), 2);
    assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(j, "cycles"), 0), "id")),
                        "live-cycle");
    json_decref(j);
    j = get_json(port, "/api/cycles?source=hist.json");
    assert_int_equal(json_array_size(json_object_get(j, "cycles")), 5);
    json_decref(j);

    /* Replacing keeps one source of the name and serves the new one. */
    assert_int_equal(hone_server_put_cycles(s, "hist.json", cycles_of(7, "newer")), HONE_OK);
    j = get_json(port, "/api/cycles?source=hist.json");
    assert_int_equal(json_array_size(json_object_get(j, "cycles")), 7);
    json_decref(j);
    j = get_json(port, "/api/sources");
    assert_int_equal(json_array_size(json_object_get(j, "cycles")), 2);
    json_decref(j);

    /* Unknown sources and bad values: 404 and 400, each counted. */
    resp r;
    assert_int_equal(request(port, NULL, "/api/profile?source=nope", NULL, &r), 404);
    assert_non_null(strstr(r.body.data, "'nope'"));
    hone_buf_free(&r.body);
    assert_int_equal(get_code(port, NULL, "/api/cycles?source=nope", NULL), 404);
    const char *badq[] = {"/api/cycles?recent=0", "/api/cycles?recent=x",
                          "/api/cycles?recent=100001", "/api/cycles?recent=",
                          "/api/cycles?recent=-1"};
    for (size_t i = 0; i < sizeof badq / sizeof badq[0]; i++) {
        long code = request(port, NULL, badq[i], NULL, &r);
        if (code != 400) fprintf(stderr, "%s: %ld\n", badq[i], code);
        assert_int_equal(code, 400);
        if (!strstr(r.body.data, "bad recent: recent=")) fprintf(stderr, "body: %s\n", r.body.data);
        assert_non_null(strstr(r.body.data, "bad recent: recent="));
        assert_non_null(strstr(r.body.data, "1 to 100000"));
        hone_buf_free(&r.body);
    }
    assert_int_equal(refused(s, HONE_SERVER_REFUSED_QUERY), 5);
    /* "live" and empty names are refused, and the object is still freed. */
    assert_int_equal(hone_server_put_cycles(s, "live", cycles_of(1, "x")), HONE_EINVAL);
    assert_int_equal(hone_server_put_cycles(s, "", cycles_of(1, "x")), HONE_EINVAL);
    hone_prof_enable(0);
    hone_server_stop(s);
    hone_cycle_collector_free(live);

    /* A server for saved files only: no live source at all. */
    hone_server_opts so = {.no_live_profile = 1};
    s = start(&so);
    hone_prof_enable(1);
    j = get_json(hone_server_port(s), "/api/sources");
    assert_true(json_is_false(json_object_get(j, "live")));
    assert_int_equal(json_array_size(json_object_get(j, "profiles")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "cycles")), 0);
    json_decref(j);
    assert_int_equal(get_code(hone_server_port(s), NULL, "/api/profile", NULL), 404);
    assert_int_equal(get_code(hone_server_port(s), NULL, "/api/cycles", NULL), 404);
    hone_prof_enable(0);
    hone_server_stop(s);
}

static long post(unsigned port, const char *path, const char *auth, resp *r) {
    memset(r, 0, sizeof *r);
    hone_buf_init(&r->body, &libc_alloc);
    CURL *c = curl_easy_init();
    if (!c) return 0;
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    struct curl_slist *hdr = auth ? curl_slist_append(NULL, auth) : NULL;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return r->code;
}

#define TOKEN "0123456789abcdef-token"

static uint64_t entries_of(hone_cache *c) {
    hone_cache_stats st;
    hone_cache_stats_get(c, &st);
    return st.entries;
}

/* State changes exist only with a token, and need it. */
static void admin_token(void **state) {
    (void)state;
    hone_cache *c;
    hone_cache_options co = {.max_entries = 10};
    assert_int_equal(hone_cache_new(&c, &co), HONE_OK);
    hone_cache_put(c, "a", 1, "1", 1);

    /* Read-only server: the paths do not exist. */
    hone_server *s = start(NULL);
    assert_int_equal(hone_server_add_cache(s, "c1", c), HONE_OK);
    resp r;
    assert_int_equal(post(hone_server_port(s), "/api/caches/clear?name=c1", NULL, &r), 405);
    hone_buf_free(&r.body);
    assert_int_equal(get_code(hone_server_port(s), NULL, "/api/reset", NULL), 404);
    assert_int_equal(entries_of(c), 1);
    hone_server_stop(s);

    hone_server_opts o = {.admin_token = TOKEN};
    s = start(&o);
    unsigned port = hone_server_port(s);
    assert_int_equal(hone_server_add_cache(s, "c1", c), HONE_OK);
    const char *bad[] = {NULL, "Authorization: Bearer 0123456789abcdef-tokem",
                         "Authorization: Bearer 0123456789abcdef-toke",
                         "Authorization: Bearer 0123456789abcdef-token2",
                         "Authorization: Basic MDEyMzQ1Njc4OWFiY2RlZi10b2tlbg=="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long code = post(port, "/api/caches/clear?name=c1", bad[i], &r);
        if (code != 401) fprintf(stderr, "%s: %ld\n", bad[i] ? bad[i] : "(none)", code);
        assert_int_equal(code, 401);
        hone_buf_free(&r.body);
    }
    assert_int_equal(refused(s, HONE_SERVER_REFUSED_TOKEN), 5);
    assert_int_equal(entries_of(c), 1);
    /* GET of a state-changing path: 405, nothing changes. */
    assert_int_equal(get_code(port, NULL, "/api/caches/clear?name=c1", NULL), 405);
    assert_int_equal(entries_of(c), 1);
    /* The right token clears; an unknown cache is a 404. */
    assert_int_equal(post(port, "/api/caches/clear?name=c1", "Authorization: Bearer " TOKEN, &r),
                     200);
    assert_non_null(strstr(r.body.data, "\"cleared\":\"c1\""));
    hone_buf_free(&r.body);
    assert_int_equal(entries_of(c), 0);
    assert_int_equal(post(port, "/api/caches/clear?name=c2", "Authorization: Bearer " TOKEN, &r),
                     404);
    hone_buf_free(&r.body);
    assert_int_equal(post(port, "/api/caches/clear", "Authorization: Bearer " TOKEN, &r), 400);
    hone_buf_free(&r.body);
    /* Reset starts a new profile interval. */
    hone_prof_enable(1);
    {
        HONE_ZONE("before_reset");
    }
    assert_int_equal(post(port, "/api/reset", "Authorization: Bearer " TOKEN, &r), 200);
    hone_buf_free(&r.body);
    json_t *j = get_json(port, "/api/profile");
    assert_int_equal(json_array_size(json_object_get(j, "zones")), 0);
    json_decref(j);
    hone_prof_enable(0);
    hone_server_stop(s);
    hone_cache_free(c);

    /* Short or spaced tokens are refused at start. */
    const char *weak[] = {"short", "0123456789 abcdef", "0123456789abcde"};
    for (size_t i = 0; i < sizeof weak / sizeof weak[0]; i++) {
        hone_server_opts w = {.admin_token = weak[i]};
        hone_error err;
        assert_int_equal(hone_server_start(&s, &w, &err), HONE_EINVAL);
        assert_non_null(strstr(err.msg, "admin_token"));
        assert_null(s);
    }
}

/* The dashboard's files are served from the library, and /metrics speaks
 * OpenMetrics to a scraper that asks for it. */
static void pages_and_openmetrics(void **state) {
    (void)state;
    hone_server *s = start(NULL);
    unsigned port = hone_server_port(s);
    resp r;
    assert_int_equal(request(port, NULL, "/", NULL, &r), 200);
    assert_string_equal(r.ctype, "text/html; charset=utf-8");
    assert_non_null(strstr(r.body.data, "<html"));
    hone_buf_free(&r.body);
    assert_int_equal(request(port, NULL, "/favicon.ico", NULL, &r), 200);
    assert_string_equal(r.ctype, "image/x-icon");
    hone_buf_free(&r.body);
    assert_int_equal(get_code(port, NULL, "/index.html", NULL), 404);
    assert_int_equal(get_code(port, "POST", "/", NULL), 405);

    const char *om = "Accept: application/openmetrics-text;version=1.0.0,"
                     "text/plain;version=0.0.4;q=0.5";
    assert_int_equal(post(port, "/metrics", NULL, &r), 405);
    hone_buf_free(&r.body);
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/metrics", port);
    struct curl_slist *hdr = curl_slist_append(NULL, om);
    memset(&r, 0, sizeof r);
    hone_buf_init(&r.body, &libc_alloc);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    assert_non_null(ct);
    assert_string_equal(ct, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    assert_true(r.body.len > 6);
    assert_string_equal(r.body.data + r.body.len - 6, "# EOF\n");
    hone_error err;
    int lrc = hone_metrics_lint(r.body.data, r.body.len, 1, &err);
    if (lrc) fprintf(stderr, "openmetrics lint: %s\n", err.msg);
    assert_int_equal(lrc, HONE_OK);
    hone_buf_free(&r.body);
    hone_server_stop(s);
}

static void foreign_host(void **state) {
    (void)state;
    hone_server *s = start(NULL);
    unsigned port = hone_server_port(s);
    char ok1[64], bad_port[64];
    snprintf(ok1, sizeof ok1, "localhost:%u", port);
    snprintf(bad_port, sizeof bad_port, "localhost:%u", port == 1 ? 2 : port - 1);
    assert_int_equal(get_code(port, NULL, "/metrics", "evil.example"), 421);
    assert_int_equal(refused(s, HONE_SERVER_REFUSED_HOST), 1);
    assert_int_equal(get_code(port, NULL, "/nope", "evil.example:80"), 421); /* before the 404 */
    assert_int_equal(get_code(port, NULL, "/metrics", bad_port), 421);
    assert_int_equal(get_code(port, NULL, "/metrics", "127.0.0.1.evil.example"), 421);
    assert_int_equal(refused(s, HONE_SERVER_REFUSED_HOST), 4);
    assert_int_equal(refused(s, HONE_SERVER_REFUSED_NOT_FOUND), 0);
    /* The good ones. */
    assert_int_equal(get_code(port, NULL, "/metrics", NULL), 200); /* 127.0.0.1:PORT */
    assert_int_equal(get_code(port, NULL, "/metrics", ok1), 200);
    assert_int_equal(get_code(port, NULL, "/metrics", "LocalHost"), 200);
    assert_int_equal(get_code(port, NULL, "/metrics", "127.0.0.1"), 200);
    hone_server_stop(s);

    /* Extra names from opts.hosts. */
    const char *hosts[] = {"metrics.internal", NULL};
    hone_server_opts o = {.hosts = hosts};
    s = start(&o);
    assert_int_equal(get_code(hone_server_port(s), NULL, "/metrics", "metrics.internal"), 200);
    assert_int_equal(get_code(hone_server_port(s), NULL, "/metrics", "other.internal"), 421);
    hone_server_stop(s);
}

static void paths_exact(void **state) {
    (void)state;
    hone_server *s = start(NULL);
    unsigned port = hone_server_port(s);
    const char *bad[] = {"/metrics/../metrics", "/api/../metrics", "/%2e%2e/metrics", "/metrics%00",
                         "/metrics%00.txt", "/Metrics", "/metrics/", "//metrics", "/metrics%zz",
                         "/api/caches/..", "//", "/app.js%00", "/./app.js", "/index.html",
                         "/api/caches/clear"};
    size_t n = sizeof bad / sizeof bad[0];
    for (size_t i = 0; i < n; i++) {
        long code = get_code(port, NULL, bad[i], NULL);
        if (code != 404) fprintf(stderr, "path %s\n", bad[i]);
        assert_int_equal(code, 404);
    }
    assert_int_equal(refused(s, HONE_SERVER_REFUSED_NOT_FOUND), n);
    /* Decoding is exact, and the query is not part of the path. */
    assert_int_equal(get_code(port, NULL, "/%6detrics", NULL), 200);
    assert_int_equal(get_code(port, NULL, "/metrics?x=1", NULL), 200);
    hone_server_stop(s);
}

static void methods(void **state) {
    (void)state;
    hone_server *s = start(NULL);
    unsigned port = hone_server_port(s);
    resp r;
    assert_int_equal(request(port, "POST", "/metrics", NULL, &r), 405);
    assert_non_null(strstr(r.allow, "GET, HEAD"));
    hone_buf_free(&r.body);
    assert_int_equal(get_code(port, "PUT", "/metrics", NULL), 405);
    assert_int_equal(get_code(port, "DELETE", "/api/caches", NULL), 405);
    assert_int_equal(refused(s, HONE_SERVER_REFUSED_METHOD), 3);
    /* A GET that carries a body is refused before the body is read. */
    int fd = raw_connect(port);
    const char req[] = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello";
    assert_int_equal(send(fd, req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
    char buf[4096];
    ssize_t k = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(k > 12);
    buf[k] = '\0';
    assert_memory_equal(buf, "HTTP/1.1 413", 12);
    close(fd);
    assert_int_equal(refused(s, HONE_SERVER_REFUSED_BODY), 1);
    assert_int_equal(get_code(port, NULL, "/metrics", NULL), 200);
    hone_server_stop(s);
}

static void malformed(void **state) {
    (void)state;
    hone_server *s = start(NULL);
    unsigned port = hone_server_port(s);
    char buf[8192];

    /* A request line of garbage: refused and closed, nothing served. */
    int fd = raw_connect(port);
    const char junk[] = "\x01\x02 GARBAGE \xff\xfe\r\n\r\n";
    send(fd, junk, sizeof junk - 1, MSG_NOSIGNAL);
    long n = read_to_close(fd, buf, sizeof buf);
    close(fd);
    assert_true(n >= 0); /* closed, not left hanging */
    assert_null(strstr(buf, " 200 "));
    assert_int_equal(wait_refused(s, HONE_SERVER_REFUSED_NO_REQUEST, 1), 1);
    assert_int_equal(get_code(port, NULL, "/metrics", NULL), 200);

    /* Headers bigger than the per-connection memory cap. */
    size_t big = 64 * 1024;
    char *req = malloc(big + 128);
    assert_non_null(req);
    int h = snprintf(req, 128, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Big: ");
    memset(req + h, 'a', big);
    memcpy(req + h + big, "\r\n\r\n", 5);
    fd = raw_connect(port);
    send(fd, req, strlen(req), MSG_NOSIGNAL);
    free(req);
    n = read_to_close(fd, buf, sizeof buf);
    close(fd);
    assert_true(n >= 0);
    assert_null(strstr(buf, " 200 "));
    if (n > 12) assert_true(!memcmp(buf, "HTTP/1.1 4", 10)); /* 414 or 431 when answered */
    assert_int_equal(wait_refused(s, HONE_SERVER_REFUSED_NO_REQUEST, 2), 2);
    assert_int_equal(get_code(port, NULL, "/metrics", NULL), 200);
    hone_server_stop(s);
}

/* Headers trickled one byte every 100 ms: libmicrohttpd's idle timeout
 * (10 s here) never fires, the total header deadline (1 s) must. The
 * verdict is only whether the server cut us off before we ran out of
 * bytes (after 15 s, far past the deadline); others are served meanwhile. */
static void slowloris(void **state) {
    (void)state;
    hone_server_opts o = {.header_deadline_ns = 1000000000ull, .idle_timeout_s = 10};
    hone_server *s = start(&o);
    unsigned port = hone_server_port(s);
    int fd = raw_connect(port);
    char req[200];
    int len = snprintf(req, sizeof req, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ");
    memset(req + len, 'z', sizeof req - (size_t)len);
    int cut = 0, served_meanwhile = 0;
    for (size_t i = 0; i < sizeof req && !cut; i++) {
        if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1) {
            cut = 1;
            break;
        }
        char b;
        ssize_t k = recv(fd, &b, 1, MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) cut = 1;
        if (!cut && i % 5 == 0 && get_code(port, NULL, "/metrics", NULL) == 200) served_meanwhile++;
        if (!cut) usleep(100000);
    }
    close(fd);
    assert_int_equal(cut, 1);
    assert_true(served_meanwhile >= 1);
    assert_int_equal(refused(s, HONE_SERVER_REFUSED_HEADER_DEADLINE), 1);
    assert_int_equal(get_code(port, NULL, "/metrics", NULL), 200);
    hone_server_stop(s);
}

/* A kept-alive connection that sends nothing after its response is closed
 * at the header deadline, but as an idle client, not counted as an attack. */
static void keepalive_idle(void **state) {
    (void)state;
    hone_server_opts o = {.header_deadline_ns = 500000000ull, .idle_timeout_s = 30};
    hone_server *s = start(&o);
    int fd = raw_connect(hone_server_port(s));
    const char req[] = "GET /api/process HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(send(fd, req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
    char buf[8192];
    long n = read_to_close(fd, buf, sizeof buf); /* the reply, then the close */
    close(fd);
    assert_true(n > 12);
    assert_memory_equal(buf, "HTTP/1.1 200", 12);
    assert_null(strcasestr(buf, "Connection: close")); /* kept alive until the deadline */
    assert_int_equal(refused(s, HONE_SERVER_REFUSED_HEADER_DEADLINE), 0);
    assert_int_equal(refused(s, HONE_SERVER_REFUSED_NO_REQUEST), 0);
    hone_server_stop(s);
}

static void wait_connections(hone_server *s, uint64_t want) {
    hone_server_stats st;
    for (int i = 0; i < 1000; i++) {
        hone_server_stats_get(s, &st);
        if (st.connections == want) return;
        usleep(10000);
    }
    assert_int_equal(st.connections, want);
}

static void connection_limits(void **state) {
    (void)state;
    char buf[256];
    hone_server_opts o = {.max_connections = 2, .max_per_ip = 8};
    hone_server *s = start(&o);
    unsigned port = hone_server_port(s);
    int a = raw_connect(port), b = raw_connect(port);
    wait_connections(s, 2);
    int c = raw_connect(port); /* accepted by the kernel, closed by the server */
    assert_true(read_to_close(c, buf, sizeof buf) >= 0);
    close(c);
    assert_int_equal(wait_refused(s, HONE_SERVER_REFUSED_CONNECTIONS, 1), 1);
    close(a);
    close(b);
    wait_connections(s, 0);
    assert_int_equal(get_code(port, NULL, "/metrics", NULL), 200);
    hone_server_stop(s);

    hone_server_opts p = {.max_connections = 8, .max_per_ip = 1};
    s = start(&p);
    port = hone_server_port(s);
    a = raw_connect(port);
    wait_connections(s, 1);
    c = raw_connect(port);
    assert_true(read_to_close(c, buf, sizeof buf) >= 0);
    close(c);
    assert_int_equal(wait_refused(s, HONE_SERVER_REFUSED_PER_IP, 1), 1);
    close(a);
    wait_connections(s, 0);
    assert_int_equal(get_code(port, NULL, "/metrics", NULL), 200);
    hone_server_stop(s);
}

static void bad_options(void **state) {
    (void)state;
    const char *bad[] = {"127.0.0.1", "example.com:80", "/run/x.sock", "[::1]", "1.2.3.4:99999",
                         "127.0.0.1:-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hone_server *s = (hone_server *)1;
        hone_error err = {0};
        hone_server_opts o = {.listen = bad[i]};
        assert_int_equal(hone_server_start(&s, &o, &err), HONE_EINVAL);
        assert_null(s);
        assert_non_null(strstr(err.msg, "listen"));
    }
    assert_int_equal(hone_server_start(NULL, NULL, NULL), HONE_EINVAL);
    hone_server_stop(NULL);
    /* A port in use. */
    hone_server *s = start(NULL);
    char l[64];
    snprintf(l, sizeof l, "127.0.0.1:%u", hone_server_port(s));
    hone_server *t = NULL;
    hone_error err = {0};
    hone_server_opts o = {.listen = l};
    assert_int_equal(hone_server_start(&t, &o, &err), HONE_EIO);
    assert_null(t);
    hone_server_stop(s);
    /* IPv6 loopback, when the machine has it. */
    o.listen = "[::1]:0";
    if (hone_server_start(&t, &o, &err) == HONE_OK) {
        char url[64];
        snprintf(url, sizeof url, "[::1]:%u", hone_server_port(t));
        CURL *c = curl_easy_init();
        char u[128];
        snprintf(u, sizeof u, "http://%s/metrics", url);
        curl_easy_setopt(c, CURLOPT_URL, u);
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        long code = 0;
        if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(c);
        assert_int_equal(code, 200);
        hone_server_stop(t);
    } else {
        printf("skip: no IPv6 loopback here (%s)\n", err.msg);
    }
}

typedef struct oom_ctx {
    hone_cache *cache;
} oom_ctx;

static int start_stop_run(const hone_allocator *a, void *ctx) {
    oom_ctx *oc = ctx;
    hone_metrics *m;
    hone_metrics_opts mo = {.alloc = a};
    int rc = hone_metrics_new(&m, &mo);
    if (rc) return rc;
    hone_metric *ctr;
    rc = hone_metrics_counter(m, "app_x_total", "X.", NULL, &ctr, NULL);
    if (rc) {
        hone_metrics_free(m);
        return rc;
    }
    const char *hosts[] = {"a.internal", NULL};
    hone_server_opts o = {.alloc = a, .metrics = m, .hosts = hosts, .admin_token = TOKEN};
    hone_server *s = NULL;
    rc = hone_server_start(&s, &o, NULL);
    if (!rc) rc = hone_server_add_cache(s, "c", oc->cache);
    if (!rc) {
        /* put_cycles owns the collector even when it fails. */
        hone_cycle_opts cyo = {.alloc = a};
        hone_cycle_collector *cy;
        rc = hone_cycle_collector_new(&cy, &cyo);
        if (!rc) rc = hone_server_put_cycles(s, "h.json", cy);
    }
    if (s) {
        const char *paths[] = {"/api/sources", "/api/cycles?source=h.json", "/"};
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
            long code = get_code(hone_server_port(s), NULL, paths[i], NULL);
            if (code != 200 && code != 404 && code != 500) {
                fprintf(stderr, "%s answered %ld\n", paths[i], code);
                rc = HONE_EFAIL;
            }
        }
        /* A failed allocation inside a request is a 500, not a crash. */
        long code = get_code(hone_server_port(s), NULL, "/metrics", NULL);
        if (code != 200 && code != 500) {
            fprintf(stderr, "/metrics answered %ld\n", code);
            rc = HONE_EFAIL;
        }
        code = get_code(hone_server_port(s), NULL, "/api/caches", NULL);
        if (code != 200 && code != 500) {
            fprintf(stderr, "/api/caches answered %ld\n", code);
            rc = HONE_EFAIL;
        }
    }
    hone_server_stop(s);
    hone_metrics_free(m);
    return rc;
}

static void oom_start_stop(void **state) {
    (void)state;
    oom_ctx oc;
    hone_cache_options co = {.max_entries = 10, .alloc = hone_allocator_default()};
    assert_int_equal(hone_cache_new(&oc.cache, &co), HONE_OK);
    failalloc_loop("server", start_stop_run, &oc);
    hone_cache_free(oc.cache);
}

typedef struct scraper {
    unsigned port;
    int ok;
} scraper;

static void *scrape_thread(void *arg) {
    scraper *sc = arg;
    for (int i = 0; i < 25; i++)
        if (get_code(sc->port, NULL, i % 2 ? "/metrics" : "/api/caches", NULL) == 200) sc->ok++;
    return NULL;
}

static void concurrent_scrapes(void **state) {
    (void)state;
    hone_metrics *m;
    assert_int_equal(hone_metrics_new(&m, NULL), HONE_OK);
    hone_metric *ctr, *g;
    assert_int_equal(hone_metrics_counter(m, "app_ops_total", "Ops.", NULL, &ctr, NULL), 0);
    assert_int_equal(hone_metrics_gauge(m, "app_level", "Level.", NULL, &g, NULL), 0);
    hone_cache *c;
    hone_cache_options co = {.max_entries = 64};
    assert_int_equal(hone_cache_new(&c, &co), HONE_OK);
    hone_server *s = start(&(hone_server_opts){.metrics = m});
    assert_int_equal(hone_server_add_cache(s, "hot", c), HONE_OK);
    scraper sc[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        sc[i] = (scraper){hone_server_port(s), 0};
        assert_int_equal(pthread_create(&th[i], NULL, scrape_thread, &sc[i]), 0);
    }
    /* The program keeps working while it is scraped. */
    for (int i = 0; i < 20000; i++) {
        hone_metric_inc(ctr);
        hone_metric_set(g, i);
        char k[16];
        int kl = snprintf(k, sizeof k, "k%d", i % 200);
        char v[8];
        size_t vl;
        if (hone_cache_get(c, k, (size_t)kl, v, sizeof v, &vl) != HONE_OK)
            hone_cache_put(c, k, (size_t)kl, "v", 1);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(sc[i].ok, 25);
    }
    resp r;
    assert_int_equal(request(hone_server_port(s), NULL, "/metrics", NULL, &r), 200);
    assert_non_null(strstr(r.body.data, "\napp_ops_total 20000\n"));
    hone_buf_free(&r.body);
    hone_server_stop(s);
    hone_cache_free(c);
    hone_metrics_free(m);
}

static int setup(void **state) {
    (void)state;
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    curl_global_cleanup();
    return 0;
}

/* HONE_SERVE starts the server before main in any program linked with
 * hone: this test program re-run with the variable set, as a child. */
static pid_t spawn_env_child(const char *value, int *to_child, int *from_child, int *err_fd) {
    int in[2], out[2], er[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0); /* the child keeps only its dup2 copies */
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    assert_int_equal(pipe2(er, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(er[1], 2);
        setenv("HONE_SERVE", value, 1);
        setenv("TEST_SERVE_CHILD", "1", 1);
        execl("/proc/self/exe", "test_server_server", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(er[1]);
    *to_child = in[1];
    *from_child = out[0];
    *err_fd = er[0];
    return pid;
}

static void env_serve(void **state) {
    (void)state;
    int to, from, errfd, st;
    pid_t pid = spawn_env_child("127.0.0.1:0", &to, &from, &errfd);
    char line[64] = {0};
    ssize_t n = read(from, line, sizeof line - 1); /* the child prints its port */
    assert_true(n > 0);
    unsigned port = (unsigned)strtoul(line, NULL, 10);
    assert_true(port > 0);
    resp r;
    assert_int_equal(request(port, NULL, "/metrics", NULL, &r), 200);
    assert_non_null(strstr(r.body.data, "hone_server_requests_total"));
    assert_non_null(strstr(r.body.data, "env_child_total")); /* the default registry */
    hone_buf_free(&r.body);
    close(to); /* the child exits at EOF, stopping the server at exit */
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(from);
    close(errfd);

    /* A bad value: one line naming it, no server, the program runs on. */
    pid = spawn_env_child("127.0.0.1:http", &to, &from, &errfd);
    memset(line, 0, sizeof line);
    n = read(from, line, sizeof line - 1);
    assert_true(n > 0);
    assert_int_equal(strtoul(line, NULL, 10), 0);
    close(to);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char err[1024] = {0};
    n = read(errfd, err, sizeof err - 1);
    assert_true(n > 0);
    if (!strstr(err, "HONE_SERVE=127.0.0.1:http")) fprintf(stderr, "child said: %s\n", err);
    assert_non_null(strstr(err, "HONE_SERVE=127.0.0.1:http"));
    assert_non_null(strchr(err, '\n'));
    assert_null(strchr(strchr(err, '\n') + 1, '\n')); /* one line */
    close(from);
    close(errfd);
}

/* The child side of env_serve: prints the port HONE_SERVE's server got
 * (0 for none) and waits for its stdin to close. */
static int env_child_main(void) {
    hone_metric *m;
    hone_metrics_counter(hone_metrics_default(), "env_child_total", "Test.", NULL, &m, NULL);
    hone_metric_inc(m);
    printf("%u\n", hone_server_port(hone_server_default()));
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {
    }
    return 0;
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(env_serve),
        cmocka_unit_test(saved_sources),
        cmocka_unit_test(admin_token),
        cmocka_unit_test(pages_and_openmetrics),
        cmocka_unit_test(metrics_endpoint), cmocka_unit_test(metrics_sources),
        cmocka_unit_test(api_endpoints),
        cmocka_unit_test(foreign_host),     cmocka_unit_test(paths_exact),
        cmocka_unit_test(methods),          cmocka_unit_test(malformed),
        cmocka_unit_test(slowloris),        cmocka_unit_test(keepalive_idle),
        cmocka_unit_test(connection_limits),
        cmocka_unit_test(bad_options),      cmocka_unit_test(oom_start_stop),
        cmocka_unit_test(concurrent_scrapes),
};
int main(int argc, char **argv) {
    if (getenv("TEST_SERVE_CHILD")) return env_child_main();
    return HONE_TEST_RUN(tests, setup, teardown, argc, argv);
}
