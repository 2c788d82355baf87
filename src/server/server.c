/* server.c - the embeddable read-only HTTP endpoint (see hone/server.h):
 * libmicrohttpd with hone's own limits, Host check and exact paths. */
#include "hone/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hone/exec.h"
#include "hone/prof.h"
#include "server/assets.h"

#define DEF_MAX_CONN 32u
#define DEF_MAX_PER_IP 8u
#define DEF_HEADER_DEADLINE_NS 5000000000ull
#define DEF_IDLE_S 10u
#define DEF_MEMORY (16u * 1024u)

enum endpoint {
    EP_NONE = 0,
    EP_METRICS,
    EP_CACHES,
    EP_PROCESS,
    EP_PROFILE,
    EP_CYCLES,
    EP_SOURCES,
    EP_RESET, /* POST, admin */
    EP_CLEAR, /* POST, admin */
    EP_ASSET  /* a file of the dashboard, from the embedded table */
};

static const struct {
    const char *path;
    enum endpoint ep;
} routes[] = {
        {"/metrics", EP_METRICS},         {"/api/caches", EP_CACHES},
        {"/api/process", EP_PROCESS},     {"/api/profile", EP_PROFILE},
        {"/api/cycles", EP_CYCLES},       {"/api/sources", EP_SOURCES},
        {"/api/reset", EP_RESET},         {"/api/caches/clear", EP_CLEAR},
};

static int is_admin(enum endpoint ep) { return ep == EP_RESET || ep == EP_CLEAR; }

#define MAX_RECENT 100000u
#define DEF_RECENT 100u
#define MIN_TOKEN 16u

/* One open connection. Slots are allocated at start (max_connections + 1
 * of them), so accepting a connection allocates nothing of hone's. */
typedef struct slot {
    int used;
    int in_request;    /* headers done, request being answered */
    int cut;           /* shut down by the watchdog */
    int begun;         /* the current request's line has been read */
    int replied;       /* a reply to the current request is queued */
    int fd;            /* our dup() of the socket, or -1 */
    uint64_t served;   /* requests dispatched on this connection */
    uint64_t start_ns; /* accept, or end of the previous response */
    enum endpoint ep;  /* of the current request, from its raw URI */
    const hone__asset *asset; /* when ep is EP_ASSET */
    struct sockaddr_storage addr;
} slot;

typedef struct cache_ref {
    char *name;
    hone_cache *cache;
} cache_ref;

/* A saved profile or cycle history, owned by the server. */
typedef struct saved {
    char *name;
    void *obj;
} saved;

typedef struct saved_list {
    saved *v;
    size_t n, cap;
    void (*free_obj)(void *);
} saved_list;

struct hone_server {
    const hone_allocator *alloc;
    struct MHD_Daemon *mhd;
    /* Written after libmicrohttpd's thread started (the port it bound),
     * read by that thread's Host check: atomic. */
    _Atomic unsigned port;
    char host[64];     /* the bound address as a Host names it ("[::1]" for v6) */
    char **hosts;      /* extra Host values, NULL-terminated */
    unsigned max_conn, max_per_ip;
    uint64_t deadline_ns;

    /* Connections: the MHD thread and the watchdog. */
    pthread_mutex_t conn_mu;
    pthread_cond_t conn_cv;
    int stopping;
    slot *slots;
    size_t nslots;
    hone_pool *pool;
    hone_future *watchdog;

    _Atomic uint64_t requests;
    _Atomic uint64_t refused[HONE_SERVER_REFUSAL_COUNT];
    _Atomic uint64_t connections;

    /* Scrapes and the cache list. */
    pthread_mutex_t scrape_mu;
    hone_metrics *user;
    hone_metrics *own;
    hone_cycle_collector *cycles;
    int process;
    hone_metric *m_requests, *m_refused[HONE_SERVER_REFUSAL_COUNT], *m_conns;
    cache_ref *caches;
    size_t ncaches, capcaches;
    saved_list profiles, histories; /* under scrape_mu */
    int live_profile;
    char *token; /* admin token, or NULL: read-only */
    size_t token_len;
};

static const char *const refusal_names[HONE_SERVER_REFUSAL_COUNT] = {
        "host", "not_found", "method", "body", "connections", "per_ip", "header_deadline",
        "no_request", "error", "token", "query"};

const char *hone_server_refusal_name(hone_server_refusal r) {
    if ((unsigned)r >= HONE_SERVER_REFUSAL_COUNT) return "unknown";
    return refusal_names[r];
}

static void count(hone_server *s, hone_server_refusal r) {
    atomic_fetch_add_explicit(&s->refused[r], 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Paths and hosts                                                     */
/* ------------------------------------------------------------------ */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes the raw URI's path (before any '?') and matches it byte-exactly:
 * a bad escape, a decoded NUL or anything not exactly a route is EP_NONE.
 * libmicrohttpd's own decoded url stops at a %00, so it cannot be used. */
static enum endpoint classify(const char *uri, const hone__asset **asset) {
    char path[64];
    *asset = NULL;
    size_t n = 0;
    for (const char *p = uri; *p && *p != '?'; p++) {
        char c = *p;
        if (c == '%') {
            int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
            if (hi < 0 || lo < 0) return EP_NONE;
            c = (char)(hi * 16 + lo);
            if (c == '\0') return EP_NONE;
            p += 2;
        }
        if (n + 1 >= sizeof path) return EP_NONE;
        path[n++] = c;
    }
    path[n] = '\0';
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (!strcmp(path, routes[i].path)) return routes[i].ep;
    if ((*asset = hone__asset_find(path))) return EP_ASSET;
    return EP_NONE;
}

/* Host is acceptable when, after an optional ":PORT" equal to our port, it
 * is localhost, the bound address or one of opts.hosts (ASCII case is
 * ignored, as DNS ignores it). */
static int host_ok(const hone_server *s, const char *h) {
    if (!h) return 0;
    size_t n = strlen(h);
    const char *colon = strrchr(h, ':');
    if (colon && !strchr(colon, ']')) {
        const char *d = colon + 1;
        if (!*d) return 0;
        unsigned long p = 0;
        for (; *d; d++) {
            if (*d < '0' || *d > '9' || p > 65535) return 0;
            p = p * 10 + (unsigned long)(*d - '0');
        }
        if (p != atomic_load_explicit(&s->port, memory_order_relaxed)) return 0;
        n = (size_t)(colon - h);
    }
    if (n == 9 && !strncasecmp(h, "localhost", 9)) return 1;
    if (n == strlen(s->host) && !strncasecmp(h, s->host, n)) return 1;
    for (char **e = s->hosts; e && *e; e++)
        if (n == strlen(*e) && !strncasecmp(h, *e, n)) return 1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Connection tracking (all in the MHD thread, plus the watchdog)      */
/* ------------------------------------------------------------------ */

static int same_ip(const struct sockaddr *a, const struct sockaddr_storage *b) {
    if (a->sa_family != b->ss_family) return 0;
    if (a->sa_family == AF_INET)
        return !memcmp(&((const struct sockaddr_in *)(const void *)a)->sin_addr,
                       &((const struct sockaddr_in *)(const void *)b)->sin_addr,
                       sizeof(struct in_addr));
    if (a->sa_family == AF_INET6)
        return !memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
                       &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr,
                       sizeof(struct in6_addr));
    return 0;
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len) {
    hone_server *s = cls;
    (void)len;
    unsigned total = 0, same = 0;
    pthread_mutex_lock(&s->conn_mu);
    for (size_t i = 0; i < s->nslots; i++) {
        if (!s->slots[i].used) continue;
        total++;
        if (same_ip(addr, &s->slots[i].addr)) same++;
    }
    pthread_mutex_unlock(&s->conn_mu);
    if (total >= s->max_conn) {
        count(s, HONE_SERVER_REFUSED_CONNECTIONS);
        return MHD_NO;
    }
    if (same >= s->max_per_ip) {
        count(s, HONE_SERVER_REFUSED_PER_IP);
        return MHD_NO;
    }
    return MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    hone_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fdi =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ai =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        pthread_mutex_lock(&s->conn_mu);
        slot *sl = NULL;
        for (size_t i = 0; i < s->nslots && !sl; i++)
            if (!s->slots[i].used) sl = &s->slots[i];
        if (sl) {
            memset(sl, 0, sizeof *sl);
            sl->used = 1;
            sl->start_ns = hone_monotonic_ns();
            /* Our own descriptor for the socket, so the watchdog can shut
             * it down without racing libmicrohttpd's close (and reuse) of
             * its descriptor. */
            sl->fd = fdi ? fcntl(fdi->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
            if (ai && ai->client_addr) {
                size_t al = ai->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                   : sizeof(struct sockaddr_in);
                memcpy(&sl->addr, ai->client_addr, al);
            }
            atomic_fetch_add_explicit(&s->connections, 1, memory_order_relaxed);
        }
        pthread_mutex_unlock(&s->conn_mu);
        *socket_context = sl;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        slot *sl = *socket_context;
        if (!sl) return;
        pthread_mutex_lock(&s->conn_mu);
        if (!sl->served && !sl->cut) count(s, HONE_SERVER_REFUSED_NO_REQUEST);
        if (sl->fd >= 0) close(sl->fd);
        sl->fd = -1;
        sl->used = 0;
        atomic_fetch_sub_explicit(&s->connections, 1, memory_order_relaxed);
        pthread_mutex_unlock(&s->conn_mu);
        *socket_context = NULL;
    }
}

/* The request line has been read: classify the raw URI. The return value
 * becomes the request's req_cls (the connection's slot). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    slot *sl = ci ? ci->socket_context : NULL;
    if (sl) {
        hone_server *s = cls;
        const hone__asset *asset;
        enum endpoint ep = classify(uri ? uri : "", &asset);
        pthread_mutex_lock(&s->conn_mu);
        sl->ep = ep;
        sl->asset = asset;
        sl->begun = 1;
        pthread_mutex_unlock(&s->conn_mu);
    }
    return sl;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
    hone_server *s = cls;
    (void)conn;
    (void)toe;
    slot *sl = *req_cls;
    if (!sl) return;
    pthread_mutex_lock(&s->conn_mu);
    sl->in_request = 0;
    sl->begun = 0;
    sl->start_ns = hone_monotonic_ns(); /* the next request's headers start now */
    pthread_mutex_unlock(&s->conn_mu);
    *req_cls = NULL;
}

/* The watchdog: every tenth of the deadline (10 ms .. 250 ms), shuts down
 * the socket of each connection still sending headers past the deadline.
 * A kept-alive connection that has not begun its next request is closed
 * the same way but not counted: that is an idle client, not an attack. */
static int watchdog_task(void *arg, hone_task *task) {
    hone_server *s = arg;
    (void)task;
    uint64_t period = s->deadline_ns / 10;
    if (period < 10000000ull) period = 10000000ull;
    if (period > 250000000ull) period = 250000000ull;
    pthread_mutex_lock(&s->conn_mu);
    while (!s->stopping) {
        uint64_t now = hone_monotonic_ns();
        for (size_t i = 0; i < s->nslots; i++) {
            slot *sl = &s->slots[i];
            if (!sl->used || sl->in_request || sl->cut || sl->fd < 0) continue;
            if (now - sl->start_ns <= s->deadline_ns) continue;
            shutdown(sl->fd, SHUT_RDWR);
            sl->cut = 1;
            if (!sl->served || sl->begun) count(s, HONE_SERVER_REFUSED_HEADER_DEADLINE);
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t t = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + period;
        ts.tv_sec = (time_t)(t / 1000000000ull);
        ts.tv_nsec = (long)(t % 1000000000ull);
        pthread_cond_timedwait(&s->conn_cv, &s->conn_mu, &ts);
    }
    pthread_mutex_unlock(&s->conn_mu);
    return HONE_OK;
}

/* ------------------------------------------------------------------ */
/* Endpoints                                                           */
/* ------------------------------------------------------------------ */

/* The live profiler is a source: the server shows it and it is on. */
static int live_profile(const hone_server *s) { return s->live_profile && hone_prof_enabled(); }

static int build_metrics(hone_server *s, hone_buf *b) {
    int rc = HONE_OK;
    pthread_mutex_lock(&s->scrape_mu);
    hone_metric_set(s->m_requests, (double)atomic_load(&s->requests));
    for (int i = 0; i < HONE_SERVER_REFUSAL_COUNT; i++)
        hone_metric_set(s->m_refused[i], (double)atomic_load(&s->refused[i]));
    hone_metric_set(s->m_conns, (double)atomic_load(&s->connections));
    hone_error err;
    if (s->process) {
        int prc = hone_metrics_update_process(s->own, &err);
        if (prc == HONE_ENOMEM) rc = prc;
        else if (prc) hone_log(HONE_LOG_DEBUG, "server", "process metrics: %s", err.msg);
    }
    for (size_t i = 0; i < s->ncaches && !rc; i++) {
        int crc = hone_cache_metrics_update(s->caches[i].cache, s->own, s->caches[i].name, &err);
        if (crc == HONE_ENOMEM) rc = crc;
        else if (crc) hone_log(HONE_LOG_WARN, "server", "cache %s: %s", s->caches[i].name, err.msg);
    }
    if (!rc && s->user) rc = hone_metrics_expose(s->user, b);
    if (!rc) rc = hone_metrics_expose(s->own, b);
    pthread_mutex_unlock(&s->scrape_mu);
    if (!rc && s->cycles) {
        hone_cycle_report_opts ro = {.format = HONE_REPORT_PROM};
        rc = hone_cycle_report(s->cycles, &ro, b);
    }
    if (!rc && live_profile(s)) {
        hone_prof_snapshot *snap;
        hone_prof_snapshot_opts so = {.alloc = s->alloc};
        rc = hone_prof_snapshot_take(&snap, &so);
        if (!rc) {
            if (hone_prof_snapshot_count(snap)) {
                hone_prof_report_opts ro = {.format = HONE_REPORT_PROM};
                rc = hone_prof_report(snap, &ro, b);
            }
            hone_prof_snapshot_free(snap);
        }
    }
    return rc;
}

static int build_caches(hone_server *s, hone_buf *b) {
    pthread_mutex_lock(&s->scrape_mu);
    int rc = hone_buf_puts(b, "{\"caches\":[");
    for (size_t i = 0; i < s->ncaches && !rc; i++) {
        if (i) rc = hone_buf_puts(b, ",");
        if (!rc) rc = hone_buf_puts(b, "{\"name\":");
        if (!rc) rc = hone_buf_json_string(b, s->caches[i].name);
        if (!rc) rc = hone_buf_puts(b, ",\"stats\":");
        if (!rc) rc = hone_cache_stats_json(s->caches[i].cache, b);
        if (!rc) rc = hone_buf_puts(b, "}");
    }
    if (!rc) rc = hone_buf_puts(b, "]}\n");
    pthread_mutex_unlock(&s->scrape_mu);
    return rc;
}

static int build_process(hone_buf *b) {
    hone_process_stats st;
    int rc = hone_process_stats_read(&st);
    if (rc) return rc;
    return hone_buf_printf(
            b,
            "{\"wall_ns\":%llu,\"cpu_user_ns\":%llu,\"cpu_system_ns\":%llu,\"rss_bytes\":%llu,"
            "\"peak_rss_bytes\":%llu,\"virtual_bytes\":%llu,\"mem_total_bytes\":%llu,"
            "\"mem_percent\":%.6g,\"threads\":%u,\"open_fds\":%u,\"ctx_voluntary\":%llu,"
            "\"ctx_involuntary\":%llu}\n",
            (unsigned long long)st.wall_ns, (unsigned long long)st.cpu_user_ns,
            (unsigned long long)st.cpu_system_ns, (unsigned long long)st.rss_bytes,
            (unsigned long long)st.peak_rss_bytes, (unsigned long long)st.virtual_bytes,
            (unsigned long long)st.mem_total_bytes, st.mem_percent, (unsigned)st.threads,
            (unsigned)st.open_fds, (unsigned long long)st.ctx_voluntary,
            (unsigned long long)st.ctx_involuntary);
}

/* ------------------------------------------------------------------ */
/* Sources: the live process, and saved profiles and histories        */
/* ------------------------------------------------------------------ */

static void free_snapshot(void *p) { hone_prof_snapshot_free(p); }
static void free_cycles(void *p) { hone_cycle_collector_free(p); }

static void saved_list_free(const hone_allocator *a, saved_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        hone_free(a, l->v[i].name);
        l->free_obj(l->v[i].obj);
    }
    hone_free(a, l->v);
    memset(l, 0, sizeof *l);
}

static void *saved_find(const saved_list *l, const char *name) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].name, name)) return l->v[i].obj;
    return NULL;
}

/* Inserts or replaces `name`; obj is the list's from this call on. */
static int saved_put(hone_server *s, saved_list *l, const char *name, void *obj) {
    if (!name || !*name || !strcmp(name, "live")) {
        l->free_obj(obj);
        return HONE_EINVAL;
    }
    int rc = HONE_OK;
    pthread_mutex_lock(&s->scrape_mu);
    size_t i = 0;
    while (i < l->n && strcmp(l->v[i].name, name)) i++;
    if (i < l->n) {
        l->free_obj(l->v[i].obj);
        l->v[i].obj = obj;
    } else {
        char *nm = hone_strdup(s->alloc, name);
        if (nm && l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 4;
            saved *v = hone_realloc(s->alloc, l->v, cap * sizeof *v);
            if (v) {
                l->v = v;
                l->cap = cap;
            }
        }
        if (!nm || l->n == l->cap) {
            hone_free(s->alloc, nm);
            l->free_obj(obj);
            rc = HONE_ENOMEM;
        } else {
            l->v[l->n++] = (saved){nm, obj};
        }
    }
    pthread_mutex_unlock(&s->scrape_mu);
    return rc;
}

int hone_server_put_profile(hone_server *srv, const char *name, hone_prof_snapshot *snap) {
    if (!srv || !snap) {
        hone_prof_snapshot_free(snap);
        return HONE_EINVAL;
    }
    return saved_put(srv, &srv->profiles, name, snap);
}

int hone_server_put_cycles(hone_server *srv, const char *name, hone_cycle_collector *c) {
    if (!srv || !c) {
        hone_cycle_collector_free(c);
        return HONE_EINVAL;
    }
    return saved_put(srv, &srv->histories, name, c);
}

/* The outcome of building a reply: HONE_OK, or a refusal the builder
 * chose (a source that does not exist, a bad query value) with its
 * message, or an allocation failure. */
typedef struct outcome {
    int refusal; /* -1: none */
    unsigned code;
    char msg[160];
} outcome;

static int refuse_with(outcome *o, hone_server_refusal why, unsigned code, const char *fmt,
                       const char *arg) {
    o->refusal = (int)why;
    o->code = code;
    snprintf(o->msg, sizeof o->msg, fmt, arg);
    return HONE_OK;
}

/* ["live", saved names...] with "live" first when it is a source. */
static int source_names(hone_buf *b, int live, const saved_list *l) {
    int rc = hone_buf_puts(b, live ? "[\"live\"" : "[");
    for (size_t i = 0; i < l->n && !rc; i++) {
        if (live || i) rc = hone_buf_puts(b, ",");
        if (!rc) rc = hone_buf_json_string(b, l->v[i].name);
    }
    return rc ? rc : hone_buf_puts(b, "]");
}

static int build_sources(hone_server *s, hone_buf *b) {
    pthread_mutex_lock(&s->scrape_mu);
    int rc = hone_buf_printf(b, "{\"live\":%s,\"profiles\":", s->live_profile ? "true" : "false");
    if (!rc) rc = source_names(b, live_profile(s), &s->profiles);
    if (!rc) rc = hone_buf_puts(b, ",\"cycles\":");
    if (!rc) rc = source_names(b, s->cycles != NULL, &s->histories);
    if (!rc) rc = hone_buf_puts(b, ",\"caches\":[");
    for (size_t i = 0; i < s->ncaches && !rc; i++) {
        if (i) rc = hone_buf_puts(b, ",");
        if (!rc) rc = hone_buf_json_string(b, s->caches[i].name);
    }
    if (!rc) rc = hone_buf_puts(b, "]}\n");
    pthread_mutex_unlock(&s->scrape_mu);
    return rc;
}

static const char *query(struct MHD_Connection *conn, const char *key) {
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

static int build_profile(hone_server *s, struct MHD_Connection *conn, hone_buf *b, outcome *o) {
    const char *src = query(conn, "source");
    int rc;
    if ((!src && live_profile(s)) || (src && !strcmp(src, "live") && live_profile(s))) {
        hone_prof_snapshot *snap;
        hone_prof_snapshot_opts so = {.alloc = s->alloc};
        rc = hone_prof_snapshot_take(&snap, &so);
        if (rc) return rc;
        rc = hone_prof_snapshot_json(snap, b);
        hone_prof_snapshot_free(snap);
        return rc;
    }
    pthread_mutex_lock(&s->scrape_mu);
    hone_prof_snapshot *snap = src ? saved_find(&s->profiles, src)
                               : s->profiles.n ? s->profiles.v[0].obj : NULL;
    rc = snap ? hone_prof_snapshot_json(snap, b) : HONE_OK;
    pthread_mutex_unlock(&s->scrape_mu);
    if (!snap)
        return refuse_with(o, HONE_SERVER_REFUSED_NOT_FOUND, MHD_HTTP_NOT_FOUND,
                           src ? "404 no profile source '%.80s' (see /api/sources)\n"
                               : "404 no profile: profiling is off and no profile was saved%s\n",
                           src ? src : "");
    return rc;
}


static int build_cycles(hone_server *s, struct MHD_Connection *conn, hone_buf *b, outcome *o) {
    const char *src = query(conn, "source");
    uint64_t recent = DEF_RECENT;
    const char *rv = query(conn, "recent");
    hone_error perr;
    if (rv && hone_parse_u64("recent", rv, 1, MAX_RECENT, &recent, &perr))
        return refuse_with(o, HONE_SERVER_REFUSED_QUERY, MHD_HTTP_BAD_REQUEST,
                           "400 bad recent: %.120s (cycles)\n", perr.msg);
    pthread_mutex_lock(&s->scrape_mu);
    hone_cycle_collector *c;
    if (!src) c = s->cycles ? s->cycles : s->histories.n ? s->histories.v[0].obj : NULL;
    else if (!strcmp(src, "live")) c = s->cycles;
    else c = saved_find(&s->histories, src);
    hone_cycle_report_opts ro = {.format = HONE_REPORT_JSON, .recent = (size_t)recent};
    int rc = c ? hone_cycle_report(c, &ro, b) : HONE_OK;
    pthread_mutex_unlock(&s->scrape_mu);
    if (!c)
        return refuse_with(o, HONE_SERVER_REFUSED_NOT_FOUND, MHD_HTTP_NOT_FOUND,
                           src ? "404 no cycles source '%.80s' (see /api/sources)\n"
                               : "404 no cycles: this server was given no cycle history%s\n",
                           src ? src : "");
    return rc;
}

static int do_reset(hone_server *s, hone_buf *b, outcome *o) {
    if (!s->live_profile)
        return refuse_with(o, HONE_SERVER_REFUSED_NOT_FOUND, MHD_HTTP_NOT_FOUND,
                           "404 this server has no live profile to reset%s\n", "");
    int rc = hone_prof_reset();
    return rc ? rc : hone_buf_puts(b, "{\"reset\":\"profile\"}\n");
}

static int do_clear(hone_server *s, struct MHD_Connection *conn, hone_buf *b, outcome *o) {
    const char *name = query(conn, "name");
    if (!name || !*name)
        return refuse_with(o, HONE_SERVER_REFUSED_QUERY, MHD_HTTP_BAD_REQUEST,
                           "400 missing name: expected /api/caches/clear?name=CACHE%s\n", "");
    pthread_mutex_lock(&s->scrape_mu);
    hone_cache *c = NULL;
    for (size_t i = 0; i < s->ncaches && !c; i++)
        if (!strcmp(s->caches[i].name, name)) c = s->caches[i].cache;
    if (c) hone_cache_clear(c);
    pthread_mutex_unlock(&s->scrape_mu);
    if (!c)
        return refuse_with(o, HONE_SERVER_REFUSED_NOT_FOUND, MHD_HTTP_NOT_FOUND,
                           "404 no cache named '%.80s' (see /api/sources)\n", name);
    int rc = hone_buf_puts(b, "{\"cleared\":");
    if (!rc) rc = hone_buf_json_string(b, name);
    return rc ? rc : hone_buf_puts(b, "}\n");
}

/* Queues a reply; hname/hval, when hname is not NULL, is one more header
 * (Allow on a 405, WWW-Authenticate on a 401). */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *ctype,
                             const char *body, size_t len, int copy, const char *hname,
                             const char *hval) {
    struct MHD_Response *r = MHD_create_response_from_buffer(
            len, (void *)(uintptr_t)body, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    enum MHD_Result ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (ok == MHD_YES) ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (ok == MHD_YES) ok = MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (ok == MHD_YES && hname) ok = MHD_add_response_header(r, hname, hval);
    if (ok == MHD_YES) ok = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result refuse(hone_server *s, struct MHD_Connection *conn, hone_server_refusal why,
                              unsigned code, const char *msg, const char *allow) {
    count(s, why);
    /* Copied: a builder's message (outcome.msg) lives on the stack, and
     * libmicrohttpd sends the body after this call returns. */
    return reply(conn, code, "text/plain; charset=utf-8", msg, strlen(msg), 1,
                 allow ? MHD_HTTP_HEADER_ALLOW : NULL, allow);
}

static enum MHD_Result answer(hone_server *s, struct MHD_Connection *conn, slot *sl);

/* "Bearer <token>", the token compared in constant time (its length is
 * not secret). */
static int token_ok(const hone_server *s, const char *auth) {
    if (!auth || strncmp(auth, "Bearer ", 7)) return 0;
    const char *t = auth + 7;
    size_t n = strlen(t);
    if (n != s->token_len) return 0;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(t[i] ^ s->token[i]);
    return diff == 0;
}


static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls) {
    hone_server *s = cls;
    (void)url;
    (void)version;
    (void)upload_data;
    slot *sl = *req_cls;
    if (!sl) return refuse(s, conn, HONE_SERVER_REFUSED_ERROR, 500, "no connection state\n", NULL);
    if (sl->in_request) {
        /* Later calls. libmicrohttpd 0.9.75 closes the connection after a
         * reply queued in the first call (it has not finished reading the
         * request then), so good requests are answered here, in the call
         * that follows the (empty) body, and the connection is kept alive.
         * Refusals are queued in the first call on purpose: a hostile
         * client's connection is closed and its body never read. */
        if (sl->replied || *upload_data_size) {
            *upload_data_size = 0;
            return MHD_YES;
        }
        sl->replied = 1;
        return answer(s, conn, sl);
    }
    pthread_mutex_lock(&s->conn_mu);
    sl->in_request = 1;
    sl->served++;
    pthread_mutex_unlock(&s->conn_mu);
    sl->replied = 1; /* unless all the checks pass */

    /* The Host check comes first: a foreign origin learns nothing, not
     * even which paths exist. */
    if (!host_ok(s, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)))
        return refuse(s, conn, HONE_SERVER_REFUSED_HOST, MHD_HTTP_MISDIRECTED_REQUEST,
                      "421 misdirected request: Host must name this server or localhost\n", NULL);
    int get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
    int post = !strcmp(method, MHD_HTTP_METHOD_POST);
    int admin = is_admin(sl->ep);
    if (admin && !s->token)
        admin = 0; /* read-only server: the path does not exist */
    if (admin ? !post : !get)
        return refuse(s, conn, HONE_SERVER_REFUSED_METHOD, MHD_HTTP_METHOD_NOT_ALLOWED,
                      admin ? "405 method not allowed: this endpoint changes state (POST)\n"
                            : "405 method not allowed: this path is read-only (GET, HEAD)\n",
                      admin ? "POST" : "GET, HEAD");
    const char *clen =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if ((clen && strcmp(clen, "0")) ||
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return refuse(s, conn, HONE_SERVER_REFUSED_BODY, MHD_HTTP_CONTENT_TOO_LARGE,
                      "413 a request body is not accepted\n", NULL);
    if (sl->ep == EP_NONE || (is_admin(sl->ep) && !admin))
        return refuse(s, conn, HONE_SERVER_REFUSED_NOT_FOUND, MHD_HTTP_NOT_FOUND, "404 not found\n",
                      NULL);
    if (admin && !token_ok(s, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                          MHD_HTTP_HEADER_AUTHORIZATION)))
    {
        count(s, HONE_SERVER_REFUSED_TOKEN);
        static const char msg[] = "401 unauthorized: this endpoint needs the server's admin "
                                  "token (Authorization: Bearer TOKEN)\n";
        return reply(conn, MHD_HTTP_UNAUTHORIZED, "text/plain; charset=utf-8", msg,
                     sizeof msg - 1, 0, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"hone\"");
    }
    sl->replied = 0;
    return MHD_YES;
}

/* Does the Accept header ask for OpenMetrics? (Prometheus sends
 * "application/openmetrics-text;version=1.0.0,...;q=0.5,text/plain;..."
 * and takes what the Content-Type says.) */
static int wants_openmetrics(struct MHD_Connection *conn) {
    const char *acc = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    return acc && strstr(acc, "application/openmetrics-text") != NULL;
}

static enum MHD_Result answer(hone_server *s, struct MHD_Connection *conn, slot *sl) {
    if (sl->ep == EP_ASSET) {
        atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
        return reply(conn, MHD_HTTP_OK, sl->asset->ctype, (const char *)sl->asset->data,
                     sl->asset->len, 0, NULL, NULL);
    }
    hone_buf b;
    hone_buf_init(&b, s->alloc);
    outcome o = {.refusal = -1};
    int rc;
    const char *ctype = "application/json";
    switch (sl->ep) {
    case EP_METRICS:
        rc = build_metrics(s, &b);
        ctype = "text/plain; version=0.0.4; charset=utf-8";
        if (!rc && wants_openmetrics(conn)) {
            hone_buf om;
            hone_buf_init(&om, s->alloc);
            rc = hone_metrics_openmetrics(b.data ? b.data : "", b.len, &om);
            hone_buf_free(&b);
            b = om;
            ctype = "application/openmetrics-text; version=1.0.0; charset=utf-8";
        }
        break;
    case EP_CACHES: rc = build_caches(s, &b); break;
    case EP_PROCESS: rc = build_process(&b); break;
    case EP_PROFILE: rc = build_profile(s, conn, &b, &o); break;
    case EP_CYCLES: rc = build_cycles(s, conn, &b, &o); break;
    case EP_SOURCES: rc = build_sources(s, &b); break;
    case EP_RESET: rc = do_reset(s, &b, &o); break;
    case EP_CLEAR: rc = do_clear(s, conn, &b, &o); break;
    default: rc = HONE_EINVAL; break;
    }
    if (!rc && o.refusal >= 0) {
        hone_buf_free(&b);
        return refuse(s, conn, (hone_server_refusal)o.refusal, o.code, o.msg, NULL);
    }
    if (rc) {
        hone_buf_free(&b);
        return refuse(s, conn, HONE_SERVER_REFUSED_ERROR, MHD_HTTP_INTERNAL_SERVER_ERROR,
                      "500 could not build the reply\n", NULL);
    }
    atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
    enum MHD_Result ok =
            reply(conn, MHD_HTTP_OK, ctype, b.data ? b.data : "", b.len, 1, NULL, NULL);
    hone_buf_free(&b);
    return ok;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    if (!hone_log_enabled(HONE_LOG_DEBUG)) return;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    hone_log(HONE_LOG_DEBUG, "server", "libmicrohttpd: %s", msg);
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                      */
/* ------------------------------------------------------------------ */

static void destroy(hone_server *s) {
    if (!s) return;
    if (s->hosts) {
        for (char **e = s->hosts; *e; e++) hone_free(s->alloc, *e);
        hone_free(s->alloc, s->hosts);
    }
    for (size_t i = 0; i < s->ncaches; i++) hone_free(s->alloc, s->caches[i].name);
    hone_free(s->alloc, s->caches);
    saved_list_free(s->alloc, &s->profiles);
    saved_list_free(s->alloc, &s->histories);
    if (s->token) {
        for (volatile char *t = s->token; *t; t++) *t = 0; /* not left in freed memory */
        hone_free(s->alloc, s->token);
    }
    hone_metrics_free(s->own);
    hone_free(s->alloc, s->slots);
    pthread_mutex_destroy(&s->conn_mu);
    pthread_cond_destroy(&s->conn_cv);
    pthread_mutex_destroy(&s->scrape_mu);
    hone_free(s->alloc, s);
}

static void stop_watchdog(hone_server *s) {
    if (!s->watchdog) return;
    pthread_mutex_lock(&s->conn_mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->conn_cv);
    pthread_mutex_unlock(&s->conn_mu);
    hone_future_wait(s->watchdog);
    hone_future_free(s->watchdog);
    s->watchdog = NULL;
    hone_pool_free(s->pool);
    s->pool = NULL;
}

static int parse_listen(hone_server *s, const char *listen, struct sockaddr_storage *sa,
                        hone_error *err) {
    char tmp[128], host[56]; /* INET6_ADDRSTRLEN (46) and a zone */
    unsigned port;
    size_t n = strlen(listen);
    if (n >= sizeof tmp)
        return hone_error_set(err, HONE_EINVAL,
                              "listen: '%.60s...' is too long; expected ADDR:PORT", listen);
    memcpy(tmp, listen, n + 1);
    /* hone_parse_addr wants a port of 1..65535; port 0 (any free) is ours. */
    int any = n >= 2 && !strcmp(tmp + n - 2, ":0");
    if (any) tmp[n - 1] = '1';
    int rc = hone_parse_addr("listen", tmp, host, sizeof host, &port, err);
    if (rc)
        return hone_error_set(err, rc,
                              "listen: bad value '%s'; expected ADDR:PORT with ADDR an IP address "
                              "or localhost and PORT 0..65535",
                              listen);
    if (host[0] == '/')
        return hone_error_set(err, HONE_EINVAL, "listen: '%s' is a Unix socket; expected ADDR:PORT",
                              listen);
    if (any) port = 0;
    /* Known before the daemon starts unless the kernel picks it. */
    atomic_store_explicit(&s->port, port, memory_order_relaxed);
    memset(sa, 0, sizeof *sa);
    if (!strcasecmp(host, "localhost")) strcpy(host, "127.0.0.1");
    struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)sa;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        snprintf(s->host, sizeof s->host, "%s", host);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        snprintf(s->host, sizeof s->host, "[%s]", host);
    } else {
        return hone_error_set(err, HONE_EINVAL,
                              "listen: '%s' is not an IP address; expected an IPv4 address, a "
                              "bracketed IPv6 address or localhost",
                              host);
    }
    return HONE_OK;
}

static int register_own(hone_server *s, hone_error *err) {
    int rc = hone_metrics_counter(s->own, "hone_server_requests_total",
                                  "Requests the embedded server answered with 200.", NULL,
                                  &s->m_requests, err);
    for (int i = 0; i < HONE_SERVER_REFUSAL_COUNT && !rc; i++) {
        const char *labels[] = {"reason", refusal_names[i], NULL};
        rc = hone_metrics_counter(
                s->own, "hone_server_refused_total",
                "Connections and requests the embedded server refused, by reason.", labels,
                &s->m_refused[i], err);
    }
    if (!rc)
        rc = hone_metrics_gauge(s->own, "hone_server_connections",
                                "Connections open to the embedded server.", NULL, &s->m_conns, err);
    return rc;
}

int hone_server_start(hone_server **out, const hone_server_opts *opts, hone_error *err) {
    if (!out) return hone_error_set(err, HONE_EINVAL, "hone_server_start: out is NULL");
    *out = NULL;
    hone_server_opts o = {0};
    if (opts) o = *opts;
    hone_server *s = hone_calloc(o.alloc, 1, sizeof *s);
    if (!s) return HONE_ENOMEM;
    s->alloc = o.alloc;
    pthread_mutex_init(&s->conn_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->conn_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->scrape_mu, NULL);
    s->max_conn = o.max_connections ? o.max_connections : DEF_MAX_CONN;
    s->max_per_ip = o.max_per_ip ? o.max_per_ip : DEF_MAX_PER_IP;
    s->deadline_ns = o.header_deadline_ns ? o.header_deadline_ns : DEF_HEADER_DEADLINE_NS;
    unsigned idle = o.idle_timeout_s ? o.idle_timeout_s : DEF_IDLE_S;
    size_t mem = o.memory_limit ? o.memory_limit : DEF_MEMORY;
    s->user = o.metrics;
    s->cycles = o.cycles;
    s->live_profile = !o.no_live_profile;
    s->profiles.free_obj = free_snapshot;
    s->histories.free_obj = free_cycles;
    s->process = !o.no_process_metrics;
    int rc;
    struct sockaddr_storage sa;
    if (s->max_conn > 65536 || s->max_per_ip > 65536) {
        rc = hone_error_set(err, HONE_EINVAL,
                            "max_connections %u / max_per_ip %u: expected 1..65536", s->max_conn,
                            s->max_per_ip);
        goto fail;
    }
    if (mem < 2048) {
        rc = hone_error_set(err, HONE_EINVAL,
                            "memory_limit %zu: expected at least 2048 bytes (libmicrohttpd's "
                            "buffers)",
                            mem);
        goto fail;
    }
    rc = parse_listen(s, o.listen ? o.listen : "127.0.0.1:0", &sa, err);
    if (rc) goto fail;
    if (o.admin_token) {
        size_t tl = strlen(o.admin_token);
        int printable = 1;
        for (size_t i = 0; i < tl; i++)
            if (o.admin_token[i] <= ' ' || o.admin_token[i] > '~') printable = 0;
        if (tl < MIN_TOKEN || !printable) {
            rc = hone_error_set(err, HONE_EINVAL,
                                "admin_token: expected at least %u printable characters without "
                                "spaces, got %zu%s",
                                MIN_TOKEN, tl, printable ? "" : " with a space or control byte");
            goto fail;
        }
        if (!(s->token = hone_strdup(s->alloc, o.admin_token))) {
            rc = HONE_ENOMEM;
            goto fail;
        }
        s->token_len = tl;
    }
    rc = HONE_ENOMEM;
    if (o.hosts) {
        size_t n = 0;
        while (o.hosts[n]) n++;
        s->hosts = hone_calloc(s->alloc, n + 1, sizeof *s->hosts);
        if (!s->hosts) goto fail;
        for (size_t i = 0; i < n; i++)
            if (!(s->hosts[i] = hone_strdup(s->alloc, o.hosts[i]))) goto fail;
    }
    s->nslots = (size_t)s->max_conn + 1;
    s->slots = hone_calloc(s->alloc, s->nslots, sizeof *s->slots);
    if (!s->slots) goto fail;
    hone_metrics_opts mo = {.alloc = s->alloc};
    if ((rc = hone_metrics_new(&s->own, &mo))) goto fail;
    if ((rc = register_own(s, err))) goto fail;

    hone_pool_opts po = {.workers = 1, .alloc = s->alloc};
    if ((rc = hone_pool_new(&s->pool, &po, err))) goto fail;
    if ((rc = hone_pool_submit(s->pool, watchdog_task, s, &s->watchdog))) {
        hone_pool_free(s->pool);
        s->pool = NULL;
        goto fail;
    }

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL;
    if (sa.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    /* libmicrohttpd's limits one above hone's: it refuses at its limit
     * before any callback, so only hone's accept policy can count. */
    s->mhd = MHD_start_daemon(flags, 0, on_accept, s, on_request, s,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)(s->max_conn + 1),
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(s->max_per_ip + 1),
                              MHD_OPTION_CONNECTION_TIMEOUT, idle,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                              MHD_OPTION_END);
    if (!s->mhd) {
        int e = errno;
        rc = hone_error_set(err, HONE_EIO, "listen: libmicrohttpd could not listen on %s:%u (%s)",
                            s->host, (unsigned)ntohs(((struct sockaddr_in *)(void *)&sa)->sin_port),
                            e ? strerror(e) : "unknown error");
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    atomic_store_explicit(&s->port, di ? di->port : 0, memory_order_relaxed);
    *out = s;
    return HONE_OK;
fail:
    stop_watchdog(s);
    destroy(s);
    return rc;
}

void hone_server_stop(hone_server *srv) {
    if (!srv) return;
    MHD_stop_daemon(srv->mhd); /* closes every connection: their slots are freed */
    stop_watchdog(srv);
    destroy(srv);
}

unsigned hone_server_port(const hone_server *srv) {
    return srv ? atomic_load_explicit(&((hone_server *)(uintptr_t)srv)->port, memory_order_relaxed)
               : 0;
}

int hone_server_add_cache(hone_server *srv, const char *name, hone_cache *c) {
    if (!srv || !name || !*name || !c) return HONE_EINVAL;
    int rc = HONE_OK;
    pthread_mutex_lock(&srv->scrape_mu);
    for (size_t i = 0; i < srv->ncaches; i++)
        if (!strcmp(srv->caches[i].name, name)) rc = HONE_EEXIST;
    if (!rc && srv->ncaches == srv->capcaches) {
        size_t cap = srv->capcaches ? srv->capcaches * 2 : 4;
        cache_ref *n = hone_realloc(srv->alloc, srv->caches, cap * sizeof *n);
        if (!n) rc = HONE_ENOMEM;
        else {
            srv->caches = n;
            srv->capcaches = cap;
        }
    }
    if (!rc) {
        char *nm = hone_strdup(srv->alloc, name);
        if (!nm) rc = HONE_ENOMEM;
        else srv->caches[srv->ncaches++] = (cache_ref){nm, c};
    }
    pthread_mutex_unlock(&srv->scrape_mu);
    return rc;
}

void hone_server_stats_get(const hone_server *srv, hone_server_stats *st) {
    if (!st) return;
    memset(st, 0, sizeof *st);
    if (!srv) return;
    hone_server *s = (hone_server *)(uintptr_t)srv;
    st->requests = atomic_load(&s->requests);
    for (int i = 0; i < HONE_SERVER_REFUSAL_COUNT; i++)
        st->refused[i] = atomic_load(&s->refused[i]);
    st->connections = atomic_load(&s->connections);
}

/* ------------------------------------------------------------------ */
/* HONE_SERVE                                                          */
/* ------------------------------------------------------------------ */

static hone_server *g_env_server;

hone_server *hone_server_default(void) { return g_env_server; }

static void stop_env_server(void) {
    hone_server *s = g_env_server;
    g_env_server = NULL;
    hone_server_stop(s);
}

/* Starts the server HONE_SERVE names, when set, before main(): the
 * process-wide registry, the default cycle collector and the profiler (see
 * hone/server.h). A bad value is one error line; the program runs on. */
__attribute__((constructor)) static void serve_from_env(void) {
    const char *v = getenv("HONE_SERVE");
    if (!v || !*v) return;
    hone_server_opts o = {.listen = v,
                          .metrics = hone_metrics_default(),
                          .cycles = hone_cycle_default()};
    hone_error err;
    if (hone_server_start(&g_env_server, &o, &err)) {
        hone_log(HONE_LOG_ERROR, "server", "HONE_SERVE=%s: %s", v, err.msg);
        return;
    }
    hone_log(HONE_LOG_INFO, "server", "serving http://%s:%u/ (HONE_SERVE)", g_env_server->host,
             hone_server_port(g_env_server));
    atexit(stop_env_server);
}
