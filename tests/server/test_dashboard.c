/* test_dashboard.c - the server's embedded dashboard, loaded in a real
 * headless Chromium against a real hone server on a loopback port: every
 * chart draws points, the zone tree is drawn whole, the page reports no
 * error; and every embedded asset is served byte for byte with its type.
 *
 * The page's side of the contract (src/server/assets/app.js): each chart
 * container has class "chart" and data-points="N", #flame has
 * data-nodes="N", and <pre id="errors"> collects every error the page saw.
 *
 * With TEST_SCREENSHOT=/path.png the page is also photographed at
 * 1280x1000 once it has data (docs/dashboard.png is made this way). */
#include "test.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server/assets.h"
#include "tmpdir.h"

#define CHROMIUM "chromium-headless-shell"
/* Chromium is killed after this long whatever it is doing. */
#define CHROMIUM_KILL_S 60
/* Virtual time the page gets: about six polls at the default 1 s. Virtual
 * time stands still while a request is in flight, so the polls happen
 * however slow the machine is. */
#define BUDGET_MS "6000"

/* ------------------------------------------------------------------ */
/* HTTP with libcurl                                                   */
/* ------------------------------------------------------------------ */

typedef struct resp {
    long code;
    char ctype[128];
    hone_buf body;
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    resp *r = ud;
    return hone_buf_append(&r->body, p, sz * n) ? 0 : sz * n;
}

/* GET path; returns the HTTP code (0: transport failure). Free r->body. */
static long get(unsigned port, const char *path, resp *r) {
    memset(r, 0, sizeof *r);
    hone_buf_init(&r->body, NULL);
    CURL *c = curl_easy_init();
    if (!c) return 0;
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        if (ct) snprintf(r->ctype, sizeof r->ctype, "%s", ct);
    }
    curl_easy_cleanup(c);
    return r->code;
}

/* ------------------------------------------------------------------ */
/* A program with something to show                                    */
/* ------------------------------------------------------------------ */

/* Only one thread at a time does the work (the fixture, then the worker
 * it starts), so this plain sink is not raced. */
static volatile unsigned sink;

static void leaf(int i) {
    HONE_ZONE("dash_leaf");
    unsigned x = 0;
    for (int k = 0; k < 2000 + 500 * (i % 7); k++) x = x * 31u + (unsigned)k;
    sink = x;
}

static void parse_step(int i) {
    HONE_ZONE("dash_parse");
    leaf(i);
    leaf(i + 1);
}

static void work_once(hone_cache *c, hone_cycle_collector *cy, int i) {
    hone_cycle *one = NULL;
    hone_cycle_begin(cy, i % 5 == 4 ? "deploy" : "build", &one);
    {
        HONE_ZONE("dash_request");
        parse_step(i);
        {
            HONE_ZONE("dash_render");
            leaf(i);
        }
        char k[16], v[8];
        size_t vl;
        int kl = snprintf(k, sizeof k, "k%d", i % 40);
        if (hone_cache_get(c, k, (size_t)kl, v, sizeof v, &vl) == HONE_OK) {
            hone_cycle_hit(one);
        } else {
            hone_cycle_miss(one);
            hone_cache_put(c, k, (size_t)kl, "v", 1);
        }
    }
    {
        HONE_ZONE("dash_flush");
        leaf(i);
    }
    hone_cycle_end(one, i % 9 != 8);
}

typedef struct fixture {
    hone_cycle_collector *cy;
    hone_cache *cache;
    hone_server *srv;
    unsigned port;
    pthread_t worker;
    int worker_started;
    atomic_int stop;
} fixture;

/* Keeps the program busy while the page polls, so that rates and the
 * cycle chart move; the assertions count points, never values. */
static void *worker(void *arg) {
    fixture *f = arg;
    struct timespec ts = {0, 20 * 1000 * 1000};
    for (int i = 1000; !atomic_load(&f->stop); i++) {
        work_once(f->cache, f->cy, i);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static int fixture_up(void **state) {
    static fixture f;
    memset(&f, 0, sizeof f);
    *state = &f;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return -1;
    hone_prof_enable(1);
    if (hone_cycle_collector_new(&f.cy, NULL) != HONE_OK) return -1;
    hone_cache_options co = {.max_entries = 100};
    if (hone_cache_new(&f.cache, &co) != HONE_OK) return -1;
    for (int i = 0; i < 60; i++) work_once(f.cache, f.cy, i);
    hone_server_opts o = {.cycles = f.cy};
    hone_error err = {0};
    if (hone_server_start(&f.srv, &o, &err) != HONE_OK) {
        fprintf(stderr, "hone_server_start: %s\n", err.msg);
        return -1;
    }
    if (hone_server_add_cache(f.srv, "pages", f.cache) != HONE_OK) return -1;
    f.port = hone_server_port(f.srv);
    atomic_store(&f.stop, 0);
    if (pthread_create(&f.worker, NULL, worker, &f)) return -1;
    f.worker_started = 1;
    return 0;
}

static int fixture_down(void **state) {
    fixture *f = *state;
    if (f) {
        atomic_store(&f->stop, 1);
        if (f->worker_started) pthread_join(f->worker, NULL);
        hone_server_stop(f->srv);
        hone_cache_free(f->cache);
        hone_cycle_collector_free(f->cy);
    }
    hone_prof_enable(0);
    curl_global_cleanup();
    return 0;
}

/* ------------------------------------------------------------------ */
/* Chromium                                                            */
/* ------------------------------------------------------------------ */

/* The full path of chromium-headless-shell on PATH into out, or 0. */
static int find_chromium(char *out, size_t n) {
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len) {
            snprintf(out, n, "%.*s/%s", (int)len, path, CHROMIUM);
            if (access(out, X_OK) == 0) return 1;
        }
        path += len + (end != NULL);
    }
    return 0;
}

/* Reads a whole file into a NUL-terminated malloc'd string (NULL if it
 * cannot be read). */
static char *slurp(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    hone_buf b;
    hone_buf_init(&b, NULL);
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, fp)) > 0) hone_buf_append(&b, tmp, k);
    fclose(fp);
    hone_buf_append(&b, "", 1);
    char *s = malloc(b.len);
    if (s) memcpy(s, b.data, b.len);
    if (len) *len = b.len - 1;
    hone_buf_free(&b);
    return s;
}

/* Runs Chromium with `mode` ("--dump-dom" or "--screenshot=PATH") on the
 * dashboard, stdout to out_path, stderr to err_path, in a profile
 * directory of its own, killed (its whole process group) after
 * CHROMIUM_KILL_S. Returns the exit status, or -1 if it had to be killed. */
static int run_chromium(const char *bin, const char *mode, unsigned port, const char *dir,
                        const char *out_path, const char *err_path) {
    char url[64], profile[512], home[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", port);
    snprintf(profile, sizeof profile, "--user-data-dir=%s/profile", dir);
    /* Chromium wants a home for its caches: the scratch directory, not the
     * user's. The environment is built here, before fork: the server's and
     * the worker's threads run on, so the child may only call
     * async-signal-safe functions until it execs. */
    snprintf(home, sizeof home, "HOME=%s", dir);
    size_t ne = 0;
    while (environ[ne]) ne++;
    char **envp = calloc(ne + 2, sizeof *envp);
    assert_non_null(envp);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "HOME=", 5) != 0) envp[k++] = environ[i];
    envp[k++] = home;
    envp[k] = NULL;
    char *const argv[] = {(char *)bin, "--headless", "--no-sandbox", "--disable-gpu",
                          "--hide-scrollbars", "--no-first-run", "--disable-extensions",
                          "--window-size=1280,1000", "--virtual-time-budget=" BUDGET_MS, profile,
                          (char *)mode, url, NULL};
    pid_t pid = fork();
    if (pid < 0) free(envp);
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int in = open("/dev/null", O_RDONLY);
        if (o < 0 || e < 0 || in < 0) _exit(126);
        dup2(in, 0), dup2(o, 1), dup2(e, 2);
        execve(bin, argv, envp);
        _exit(127);
    }
    free(envp);
    setpgid(pid, pid); /* either side may win the race; both set the same */
    int status = 0;
    struct timespec step = {0, 50 * 1000 * 1000};
    for (int waited = 0; waited < CHROMIUM_KILL_S * 20; waited++) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            kill(-pid, SIGKILL); /* helpers it left behind, if any */
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        nanosleep(&step, NULL);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* Skips the case (cmocka's skip, reported SKIPPED) when Chromium is not
 * installed; CI installs it (scripts/deps.d/server.txt). */
static void need_chromium(char *bin, size_t n) {
    if (!find_chromium(bin, n)) {
        printf("SKIPPED: %s is not on PATH (install it: scripts/deps.sh test); "
               "the dashboard was not loaded in a browser\n", CHROMIUM);
        skip();
    }
}

/* The value of attribute `attr` in the start tag that contains position
 * p of html, copied into out (empty if absent). */
static void tag_attr(const char *html, const char *p, const char *attr, char *out, size_t n) {
    out[0] = '\0';
    const char *start = p;
    while (start > html && *start != '<') start--;
    const char *end = strchr(p, '>');
    if (!end) return;
    char pat[64];
    snprintf(pat, sizeof pat, " %s=\"", attr);
    size_t pl = strlen(pat);
    for (const char *q = start; q + pl < end; q++) {
        if (strncmp(q, pat, pl) != 0) continue;
        const char *v = q + pl, *ve = strchr(v, '"');
        if (!ve || ve > end) return;
        snprintf(out, n, "%.*s", (int)(ve - v), v);
        return;
    }
}

/* Nodes in the zone tree the server reports now. */
static size_t tree_nodes(unsigned port) {
    resp r;
    assert_int_equal(get(port, "/api/profile", &r), 200);
    json_error_t je;
    json_t *j = json_loadb(r.body.data, r.body.len, 0, &je);
    if (!j) fprintf(stderr, "/api/profile: not JSON: %s\n", je.text);
    assert_non_null(j);
    size_t n = json_array_size(json_object_get(j, "tree"));
    json_decref(j);
    hone_buf_free(&r.body);
    return n;
}

static void print_file(const char *what, const char *path) {
    char *s = slurp(path, NULL);
    fprintf(stderr, "---- %s (%s) ----\n%s\n---- end ----\n", what, path, s ? s : "(unreadable)");
    free(s);
}

/* ------------------------------------------------------------------ */
/* Cases                                                               */
/* ------------------------------------------------------------------ */

static void page_draws(void **state) {
    fixture *f = *state;
    char bin[1024];
    need_chromium(bin, sizeof bin);
    size_t nodes = tree_nodes(f->port);
    assert_true(nodes >= 5); /* request > parse > leaf, render > leaf, flush > leaf */

    char dir[256], out[300], err[300];
    assert_int_equal(hone_test_tmpdir(dir, sizeof dir, "dashboard"), 0);
    snprintf(out, sizeof out, "%s/dom.html", dir);
    snprintf(err, sizeof err, "%s/chromium.log", dir);
    int rc = run_chromium(bin, "--dump-dom", f->port, dir, out, err);
    char *dom = rc == 0 ? slurp(out, NULL) : NULL;
    if (!dom) {
        fprintf(stderr, "%s --dump-dom: %s %d%s\n", CHROMIUM,
                rc < 0 ? "killed after" : "exit status", rc < 0 ? CHROMIUM_KILL_S : rc,
                rc < 0 ? " s" : "");
        print_file("chromium's stderr", err);
        hone_test_rmtree(dir);
    }
    assert_int_equal(rc, 0);
    assert_non_null(dom);
    int failed = 0;

    /* The page's own error list must be empty. */
    const char *e = strstr(dom, "<pre id=\"errors\">");
    if (!e) {
        fprintf(stderr, "no <pre id=\"errors\"> in the page\n");
        failed = 1;
    } else {
        e += strlen("<pre id=\"errors\">");
        const char *ee = strstr(e, "</pre>");
        if (!ee || ee != e) {
            fprintf(stderr, "the page reported errors:\n%.*s\n", ee ? (int)(ee - e) : 2000, e);
            failed = 1;
        }
    }

    /* Every chart drew points. */
    static const char *const want[] = {"chart-zones", "chart-caches", "chart-cycles",
                                       "chart-throughput"};
    size_t charts = 0, seen[sizeof want / sizeof want[0]] = {0};
    for (const char *p = dom; (p = strstr(p, " data-points=\"")) != NULL; p++) {
        char id[64], pts[32];
        tag_attr(dom, p, "id", id, sizeof id);
        tag_attr(dom, p, "data-points", pts, sizeof pts);
        long v = strtol(pts, NULL, 10);
        charts++;
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
            if (!strcmp(id, want[i])) seen[i]++;
        if (v <= 0) {
            fprintf(stderr, "chart #%s drew no points: data-points=\"%s\"\n", id, pts);
            failed = 1;
        }
    }
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (seen[i] != 1) {
            fprintf(stderr, "chart #%s: found %zu times in the page, expected once\n", want[i],
                    seen[i]);
            failed = 1;
        }
    }

    /* The icicle graph drew the whole tree (it may have grown since). */
    const char *fl = strstr(dom, "id=\"flame\"");
    char nn[32] = "";
    if (fl) tag_attr(dom, fl, "data-nodes", nn, sizeof nn);
    long drawn = strtol(nn, NULL, 10);
    if (!fl || drawn < (long)nodes) {
        fprintf(stderr, "zone tree: data-nodes=\"%s\", the server's tree had %zu nodes\n", nn,
                nodes);
        failed = 1;
    }
    if (failed) {
        fprintf(stderr, "%zu charts in the page; the page as Chromium left it:\n%s\n", charts, dom);
        print_file("chromium's stderr", err);
    }
    free(dom);
    hone_test_rmtree(dir);
    assert_false(failed);

    const char *shot = getenv("TEST_SCREENSHOT");
    if (shot && *shot) {
        char mode[1100];
        assert_int_equal(hone_test_tmpdir(dir, sizeof dir, "dashboard"), 0);
        snprintf(mode, sizeof mode, "--screenshot=%s", shot);
        snprintf(out, sizeof out, "%s/out.txt", dir);
        snprintf(err, sizeof err, "%s/chromium.log", dir);
        rc = run_chromium(bin, mode, f->port, dir, out, err);
        if (rc != 0) print_file("chromium's stderr", err);
        hone_test_rmtree(dir);
        assert_int_equal(rc, 0);
        size_t len = 0;
        char *png = slurp(shot, &len);
        assert_non_null(png);
        if (len < 8 || memcmp(png, "\x89PNG\r\n\x1a\n", 8) != 0)
            fprintf(stderr, "%s: not a PNG (%zu bytes)\n", shot, len);
        assert_true(len >= 8 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0);
        free(png);
    }
}

/* Each embedded file is served at its path, whole, with its type. */
static void assets_served(void **state) {
    fixture *f = *state;
    size_t n = 0;
    const hone__asset *t = hone__assets(&n);
    static const char *const paths[] = {"/", "/app.js", "/app.css", "/dygraph.min.js",
                                        "/dygraph.min.css", "/favicon.ico",
                                        "/licenses/dygraphs.txt"};
    assert_int_equal(n, sizeof paths / sizeof paths[0]);
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const hone__asset *a = hone__asset_find(paths[i]);
        if (!a) fprintf(stderr, "%s is not in the embedded table\n", paths[i]);
        assert_non_null(a);
        assert_true(a >= t && a < t + n);
        assert_true(a->len > 0);
        assert_int_equal(a->data[a->len], 0);
        resp r;
        long code = get(f->port, paths[i], &r);
        if (code != 200 || strcmp(r.ctype, a->ctype) || r.body.len != a->len)
            fprintf(stderr,
                    "GET %s: %ld, type \"%s\", %zu bytes; embedded: type \"%s\", %zu bytes\n",
                    paths[i], code, r.ctype, r.body.len, a->ctype, a->len);
        assert_int_equal(code, 200);
        assert_string_equal(r.ctype, a->ctype);
        assert_int_equal(r.body.len, a->len);
        assert_memory_equal(r.body.data, a->data, a->len);
        hone_buf_free(&r.body);
    }
    /* The table answers exact paths only. */
    assert_null(hone__asset_find("/index.html"));
    assert_null(hone__asset_find("//app.js"));
    assert_null(hone__asset_find("/app.js?x=1"));
    assert_null(hone__asset_find(""));
    assert_null(hone__asset_find(NULL));
    /* The favicon is a real ICO (reserved 0, type 1, at least one image)
     * and the page is the dashboard, with the markers the test reads. */
    const hone__asset *ico = hone__asset_find("/favicon.ico");
    assert_true(ico->len > 6 + 16);
    assert_memory_equal(ico->data, "\0\0\1\0", 4);
    assert_true(ico->data[4] | ico->data[5]);
    const char *html = (const char *)hone__asset_find("/")->data;
    assert_non_null(strstr(html, "<pre id=\"errors\">"));
    assert_non_null(strstr(html, "id=\"flame\""));
    assert_non_null(strstr(html, "href=\"/licenses/dygraphs.txt\""));
    assert_non_null(strstr((const char *)hone__asset_find("/licenses/dygraphs.txt")->data, "MIT"));
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(assets_served),
        cmocka_unit_test(page_draws),
};
HONE_TEST_MAIN_FIXTURES(tests, fixture_up, fixture_down)
