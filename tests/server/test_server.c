/* test_server.c - the embedded server on a real loopback port: /metrics
 * and the JSON API answer, and every hostile request (foreign Host, path
 * tricks, other methods, garbage, huge headers, slowloris, too many
 * connections) is refused, counted, and does not stop others being served. */
#include "test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
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
static void promtool(const hone_buf *body) {
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
    assert_int_equal(request(port, NULL, path, NULL, &r), 200);
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

    j = get_json(port, "/api/profile");
    assert_true(json_is_object(j));
    json_decref(j);
    hone_server_stop(s);
    hone_cache_free(c);
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
                         "/", "/api/caches/.."};
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
    hone_server_opts o = {.alloc = a, .metrics = m, .hosts = hosts};
    hone_server *s = NULL;
    rc = hone_server_start(&s, &o, NULL);
    if (!rc) rc = hone_server_add_cache(s, "c", oc->cache);
    if (s) {
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

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(metrics_endpoint), cmocka_unit_test(metrics_sources),
        cmocka_unit_test(api_endpoints),
        cmocka_unit_test(foreign_host),     cmocka_unit_test(paths_exact),
        cmocka_unit_test(methods),          cmocka_unit_test(malformed),
        cmocka_unit_test(slowloris),        cmocka_unit_test(keepalive_idle),
        cmocka_unit_test(connection_limits),
        cmocka_unit_test(bad_options),      cmocka_unit_test(oom_start_stop),
        cmocka_unit_test(concurrent_scrapes),
};
HONE_TEST_MAIN_FIXTURES(tests, setup, teardown)
