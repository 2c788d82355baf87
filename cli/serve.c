/* serve.c - `hone serve FILE...`: the embedded server's dashboard and JSON
 * API over saved profiles (HONE_PROFILE_OUT files) and cycle histories
 * (hone_cycle_save files), reloading a file when it changes; and the
 * `server` step of `hone demo`. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { OPT_LISTEN = CLI_LONG, OPT_POLL };

static const cli_opt serve_opts[] = {
    {OPT_LISTEN, "listen", "ADDR:PORT",
     "address to serve on (default 127.0.0.1:9464; port 0 picks a free one)", NULL},
    {OPT_POLL, "poll-ms", "MS", "how often to look for changed files (default 500)", NULL},
    {'h', "help", NULL, "show this help", NULL},
    {0, NULL, NULL, NULL, NULL}};

const cli_spec cli_spec_serve = {
    "serve",
    "usage: hone serve [--listen ADDR:PORT] FILE...\n"
    "\n"
    "Serves saved profiles (written by HONE_PROFILE_OUT) and cycle histories\n"
    "(hone_cycle_save) through the embedded server: the dashboard at /, and\n"
    "/api/sources, /api/profile?source=FILE, /api/cycles?source=FILE. A file\n"
    "that changes is read again; one that cannot be read keeps its last good\n"
    "version and gets one error line. Stops on Ctrl-C.\n",
    NULL, serve_opts};

void cli_serve_usage(FILE *out) { cli_help(&cli_spec_serve, out); }

typedef struct watched {
    const char *path;
    struct stat st; /* of the version served; st_ino 0: never loaded */
    int failed;     /* the last change could not be read (reported once) */
} watched;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

/* Reads path as a profile or, failing that, a cycle history, and gives it
 * to the server under its path. */
static int load(hone_server *srv, const char *path, hone_error *err) {
    size_t len = 0;
    char *text = cli_slurp(path, &len);
    if (!text)
        return hone_error_set(err, errno == ENOMEM ? HONE_ENOMEM : HONE_EIO, "%s: %s", path,
                              strerror(errno));
    int rc;
    hone_prof_snapshot *snap;
    hone_error perr;
    rc = hone_prof_snapshot_parse(&snap, text, len, NULL, &perr);
    if (!rc) {
        free(text);
        return hone_server_put_profile(srv, path, snap);
    }
    hone_cycle_collector *c;
    int crc = hone_cycle_collector_new(&c, NULL);
    if (!crc) crc = hone_cycle_parse(c, text, len, err);
    free(text);
    if (!crc) return hone_server_put_cycles(srv, path, c);
    hone_cycle_collector_free(c);
    if (rc == HONE_EPARSE) return hone_error_set(err, rc, "%s: %s", path, perr.msg);
    return hone_error_set(err, HONE_ECORRUPT,
                          "%s: neither a hone profile (%s) nor a cycle history (%s)", path,
                          perr.msg, err->msg);
}

static int changed(const struct stat *a, const struct stat *b) {
    return a->st_ino != b->st_ino || a->st_dev != b->st_dev || a->st_size != b->st_size ||
           a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
           a->st_ctim.tv_sec != b->st_ctim.tv_sec || a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

/* Loads w when it changed since the version served. Returns 0, or -1
 * when the file is new and could not be read (at start: a usage error). */
static int refresh(hone_server *srv, watched *w, int first) {
    struct stat st;
    hone_error err;
    if (stat(w->path, &st)) {
        if (first || !w->failed) cli_cmd_error("serve", "%s: %s", w->path, strerror(errno));
        w->failed = 1;
        return first ? -1 : 0;
    }
    if (!first && !changed(&st, &w->st)) return 0;
    int rc = load(srv, w->path, &err);
    if (rc) {
        /* A writer may be mid-write; keep the old version and say so once. */
        if (first || !w->failed)
            cli_cmd_error("serve", "%s%s", err.msg, first ? "" : " (still serving the last good version)");
        w->failed = 1;
        w->st = st; /* retried when it changes again */
        return first ? -1 : 0;
    }
    if (!first) printf("reloaded %s\n", w->path);
    fflush(stdout);
    w->st = st;
    w->failed = 0;
    return 0;
}

int cli_serve_main(int argc, char **argv) {
    const char *listen = "127.0.0.1:9464";
    uint64_t poll_ms = 500;
    int c;
    optind = 0;
    while ((c = cli_next(&cli_spec_serve, argc, argv)) != -1) {
        switch (c) {
        case OPT_LISTEN: listen = optarg; break;
        case OPT_POLL: {
            hone_error perr;
            if (hone_parse_u64("--poll-ms", optarg, 10, 600000, &poll_ms, &perr)) {
                cli_cmd_error("serve", "%s", perr.msg);
                return CLI_USAGE;
            }
            break;
        }
        case 'h': cli_serve_usage(stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind >= argc) {
        cli_cmd_error("serve", "no FILE given; expected saved profiles or cycle histories");
        return CLI_USAGE;
    }
    size_t n = (size_t)(argc - optind);
    watched *w = calloc(n, sizeof *w);
    if (!w) return CLI_FAIL;
    hone_server_opts o = {.listen = listen, .no_live_profile = 1, .no_process_metrics = 1};
    hone_server *srv;
    hone_error err;
    if (hone_server_start(&srv, &o, &err)) {
        cli_cmd_error("serve", "%s", err.msg);
        free(w);
        return err.code == HONE_EINVAL ? CLI_USAGE : CLI_FAIL;
    }
    int rc = CLI_OK;
    for (size_t i = 0; i < n; i++) {
        w[i].path = argv[optind + (int)i];
        if (refresh(srv, &w[i], 1)) rc = CLI_FAIL;
    }
    if (rc) {
        hone_server_stop(srv);
        free(w);
        return rc;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    const char *colon = strrchr(listen, ':'); /* hone_server_start checked the form */
    printf("serving %zu file%s at http://%.*s:%u/ (Ctrl-C stops)\n", n, n == 1 ? "" : "s",
           (int)(colon ? colon - listen : 0), listen, hone_server_port(srv));
    fflush(stdout);
    while (!g_stop) {
        struct timespec ts = {(time_t)(poll_ms / 1000), (long)(poll_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        for (size_t i = 0; i < n && !g_stop; i++) refresh(srv, &w[i], 0);
    }
    hone_server_stop(srv);
    free(w);
    return CLI_OK;
}

/* The demo step: the embedded server on a free loopback port, with a cache
 * and the demo's own cycles and profile, scraped once through hone's HTTP
 * client. */
int cli_demo_server(void) {
    hone_cache *c;
    hone_cache_options co = {.max_entries = 1000};
    if (hone_cache_new(&c, &co)) return 1;
    /* A Zipf-like workload so the cache series say something. */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned k = (unsigned)(x % 4000), key = k % 7 ? k % 400 : k;
        char v;
        size_t vl;
        if (hone_cache_get(c, &key, sizeof key, &v, 1, &vl) == HONE_ENOTFOUND)
            hone_cache_put(c, &key, sizeof key, "v", 1);
    }
    hone_server_opts o = {.metrics = hone_metrics_default(), .cycles = hone_cycle_default()};
    hone_server *srv;
    hone_error err;
    if (hone_server_start(&srv, &o, &err) || hone_server_add_cache(srv, "demo", c)) {
        fprintf(stderr, "server demo: %s\n", err.msg);
        hone_cache_free(c);
        return 1;
    }
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/metrics", hone_server_port(srv));
    printf("embedded server on http://127.0.0.1:%u/ (dashboard at /, JSON under /api/)\n",
           hone_server_port(srv));
    hone_http_client *hc = NULL;
    hone_http_opts ho = {0};
    hone_http_response r;
    memset(&r, 0, sizeof r);
    int rc = hone_http_client_new(&hc, &ho);
    hone_http_request req = {.url = url};
    if (!rc) rc = hone_http_do(hc, &req, &r, &err);
    int fail = rc || r.status != 200;
    if (fail) {
        fprintf(stderr, "server demo: GET %s: %s\n", url, rc ? err.msg : "not 200");
    } else {
        size_t lines = 0, series = 0;
        for (size_t i = 0; i < r.body_len; i++)
            if (r.body[i] == '\n') lines++;
        printf("scraped /metrics once: %zu bytes, %zu lines; a few of them:\n", r.body_len, lines);
        const char *want[] = {"hone_cache_hits_total{cache=\"demo\"}",
                              "hone_cache_misses_total{cache=\"demo\"}",
                              "hone_server_connections", "process_resident_memory_bytes"};
        for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
            const char *p = r.body;
            size_t wl = strlen(want[w]);
            while ((p = strstr(p, want[w])) && p != r.body && p[-1] != '\n') p += wl;
            if (!p || (p[wl] != ' ' && p[wl] != '{')) continue;
            const char *e = strchr(p, '\n');
            printf("  %.*s\n", (int)(e ? e - p : (ptrdiff_t)strlen(p)), p);
            series++;
        }
        if (series < 3) {
            fprintf(stderr, "server demo: /metrics lacks the expected series\n");
            fail = 1;
        }
    }
    hone_http_response_free(hc, &r);
    hone_http_client_free(hc);
    hone_server_stop(srv);
    hone_cache_free(c);
    return fail;
}
