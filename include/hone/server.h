/* hone/server.h - an embeddable HTTP endpoint on libmicrohttpd: a live
 * dashboard at /, Prometheus /metrics and a JSON API (hone-serve(1) has
 * an example of each endpoint). Read-only unless opts.admin_token is set.
 *
 * Safety model: the server is meant to be linked into any program, so it
 * binds 127.0.0.1 unless told otherwise, serves only GET and HEAD on a
 * fixed set of exact paths, changes no state unless given a token, and
 * refuses a Host header
 * that names neither the bound address nor localhost (a web page the user
 * opens cannot use DNS rebinding to read it). Every refusal and every limit
 * hit is counted and exported as hone_server_refused_total{reason=...}.
 *
 * Limits, and what libmicrohttpd 0.9.75 lets hone enforce:
 * - Connections in total and per client IP: enforced by hone's accept
 *   policy (libmicrohttpd's own limits are set one higher as a backstop,
 *   because it refuses at its limit silently, before any callback, so those
 *   refusals could not be counted). Reasons "connections", "per_ip".
 * - A total deadline for a request's headers, from the connection's accept
 *   (or the end of the previous response on a kept-alive connection) to the
 *   end of the headers. libmicrohttpd only has an idle timeout, which a
 *   client sending one byte every few seconds never trips (slowloris), so
 *   hone keeps a duplicate of each connection's socket and a watchdog
 *   thread shuts down the socket of a connection still in its headers past
 *   the deadline; libmicrohttpd then closes it. Reason "header_deadline".
 *   A kept-alive connection therefore gets the same deadline, from the end
 *   of its previous response, to send its next request's headers; one that
 *   has not begun a request by then is an idle client and is closed
 *   without being counted. If the dup() fails (out of file descriptors)
 *   that one connection has only the idle timeout.
 * - An idle timeout (MHD_OPTION_CONNECTION_TIMEOUT, whole seconds).
 * - A memory cap per connection (MHD_OPTION_CONNECTION_MEMORY_LIMIT): the
 *   request line and headers must fit in it, so it caps header size;
 *   libmicrohttpd answers 414 or 431 itself. No endpoint reads a body, and
 *   a request with a body is refused (reason "body", 413) before any of it
 *   is read.
 * libmicrohttpd refuses malformed request lines, oversized headers and
 * idle connections itself without calling hone, so those are counted
 * together: reason "no_request" counts connections closed without ever
 * completing a request that hone saw (malformed, oversized, idle, or the
 * client simply left), apart from the ones hone cut at the header deadline.
 *
 * Endpoints (GET or HEAD unless said):
 * - /, /app.js, /app.css, /dygraph.min.js, /dygraph.min.css, /favicon.ico,
 *   /licenses/dygraphs.txt: the dashboard, embedded at build time.
 * - /metrics: Prometheus text 0.0.4 (Content-Type "text/plain;
 *   version=0.0.4; charset=utf-8"), or OpenMetrics 1.0.0 when the Accept
 *   header names application/openmetrics-text: opts.metrics, then the server's own
 *   registry (hone_server_requests_total, hone_server_refused_total{reason},
 *   hone_server_connections, the process_* series of
 *   hone_metrics_update_process unless opts.no_process_metrics, and every
 *   added cache), then opts.cycles' PROM report, then, while profiling is
 *   on and zones ran, the profiler's PROM report (a snapshot that does not
 *   reset). Families must not repeat across these sources.
 * - /api/caches: {"caches": [{"name": ..., "stats": hone_cache_stats_json}]}.
 * - /api/process: hone_process_stats as one JSON object.
 * - /api/profile[?source=NAME]: hone_prof_snapshot_json of the live
 *   profile (a snapshot that does not reset) or of a saved one; 404 when
 *   there is no such source.
 * - /api/cycles[?recent=N][&source=NAME]: hone_cycle_report JSON of the
 *   live collector (opts.cycles) or a saved history, its last N cycles
 *   (1..100000, default 100; anything else is a 400, counted "query").
 * - /api/sources: {"live": bool, "profiles": [...], "cycles": [...],
 *   "caches": [...]}, the names ?source= and ?name= take.
 * - POST /api/reset (hone_prof_reset) and POST /api/caches/clear?name=NAME
 *   (hone_cache_clear): only with opts.admin_token, see there.
 * A reply that cannot be built (out of memory) is a 500, counted "error".
 *
 * Threads: libmicrohttpd's one internal polling thread (epoll where
 * available, else poll) serves every request; one more thread (a one-worker
 * hone_pool) runs the header-deadline watchdog.
 */
#ifndef HONE_SERVER_H
#define HONE_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "hone/core.h"
#include "hone/metrics.h"
#include "hone/cache.h"
#include "hone/prof.h"

/* HONE_SERVE=ADDR:PORT in the environment starts a server before main
 * (the process-wide registry, hone_cycle_default() and the live profiler);
 * see hone_server_default(). */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hone_server hone_server;

typedef struct hone_server_opts {
    const hone_allocator *alloc; /* NULL: the default */
    /* "ADDR:PORT" with ADDR an IPv4 address, a bracketed IPv6 address or
     * "localhost" (127.0.0.1); PORT 0 picks a free port (see
     * hone_server_port). NULL: "127.0.0.1:0". */
    const char *listen;
    /* The registry exposed first at /metrics (not owned; must outlive the
     * server). NULL: none. */
    hone_metrics *metrics;
    /* Extra Host values accepted besides the bound address and localhost
     * (with or without the port), NULL-terminated; copied. Needed when
     * binding 0.0.0.0, whose address no client sends. NULL: none. */
    const char *const *hosts;
    /* Cycle history exported at /metrics (its PROM report). NULL: none. */
    hone_cycle_collector *cycles;
    /* Nonzero leaves the process_* series out of /metrics, for programs
     * whose registry already has them (two families of one name would be
     * an invalid exposition). */
    int no_process_metrics;
    /* Connections open at once; 0: 32. A scraper uses one, a browser six;
     * each costs a connection memory block and two file descriptors. */
    unsigned max_connections;
    /* Connections open at once from one IP; 0: 8. */
    unsigned max_per_ip;
    /* Total time a client has to send a request's headers, ns; 0: 5 s.
     * A request over loopback sends them in one packet, in microseconds. */
    uint64_t header_deadline_ns;
    /* Idle timeout in seconds; 0: 10. */
    unsigned idle_timeout_s;
    /* Memory per connection in bytes, which caps request line plus headers
     * (libmicrohttpd also needs room in it for its own buffers); 0: 16 KiB,
     * several times a browser's headers (about 1 KiB). */
    size_t memory_limit;
    /* The endpoints that change state (POST /api/reset, POST
     * /api/caches/clear?name=NAME) exist only when this is set, and then
     * answer only a request carrying "Authorization: Bearer <admin_token>"
     * (compared in constant time; anything else is a 401, counted "token").
     * At least 16 characters, printable ASCII without spaces; copied.
     * NULL: the server is read-only and a POST is a 405. */
    const char *admin_token;
    /* Nonzero: the live profiler is not a source (not at /api/profile,
     * not at /metrics), for a server showing saved files only. */
    int no_live_profile;
} hone_server_opts;

/* Starts a server with opts (NULL: all defaults) and its thread, listening
 * before it returns. Returns HONE_OK with *out set; HONE_EINVAL (out NULL,
 * a bad listen address or option; err names the value and what was
 * expected); HONE_EIO (libmicrohttpd could not listen, e.g. the port is in
 * use, or a thread could not start; err says which); HONE_ENOMEM. On
 * failure *out is NULL and nothing leaks. */
HONE_API int hone_server_start(hone_server **out, const hone_server_opts *opts, hone_error *err);

/* Stops listening, closes every connection, joins the threads and frees
 * the server. Requests in progress are cut. NULL is a no-op. Not to be
 * called from a thread that is inside a server call. */
HONE_API void hone_server_stop(hone_server *srv);

/* The port the server listens on (the chosen one when opts.listen had port
 * 0). Thread-safe. */
HONE_API unsigned hone_server_port(const hone_server *srv);

/* Exports cache c at /metrics (hone_cache_metrics_update into the server's
 * own registry before each scrape, series labelled cache="name") and in
 * /api/caches. name is copied; c is not owned and must stay alive until
 * the server is stopped (there is no removal in this version). Returns
 * HONE_OK; HONE_EINVAL (NULL argument, empty name); HONE_EEXIST (the name
 * is taken); HONE_ENOMEM. Thread-safe against scrapes. */
HONE_API int hone_server_add_cache(hone_server *srv, const char *name, hone_cache *c);

/* Serves the saved profile snap as the profile source `name` (copied) of
 * /api/sources and /api/profile?source=NAME, replacing (and freeing) a
 * saved profile of that name; the server owns snap from this call on, even
 * when it fails. Saved sources are for the pages, not for /metrics.
 * Returns HONE_OK; HONE_EINVAL (NULL argument, empty name, or "live");
 * HONE_ENOMEM. Thread-safe against requests. */
HONE_API int hone_server_put_profile(hone_server *srv, const char *name, hone_prof_snapshot *snap);

/* The same for a cycle history: c (owned by the server from this call on,
 * freed with hone_cycle_collector_free) becomes the cycles source `name`
 * of /api/cycles?source=NAME, replacing a saved one of that name. */
HONE_API int hone_server_put_cycles(hone_server *srv, const char *name, hone_cycle_collector *c);

/* The server HONE_SERVE started (see below), or NULL when the variable is
 * unset or its server could not start. Add caches to it with
 * hone_server_add_cache. It is stopped at exit. */
HONE_API hone_server *hone_server_default(void);

/* Why the server refused a connection or request; index of the counts. */
typedef enum hone_server_refusal {
    HONE_SERVER_REFUSED_HOST = 0,        /* Host foreign or missing: 421 */
    HONE_SERVER_REFUSED_NOT_FOUND,       /* no such path (exact, decoded): 404 */
    HONE_SERVER_REFUSED_METHOD,          /* not GET or HEAD: 405 */
    HONE_SERVER_REFUSED_BODY,            /* a request with a body: 413 */
    HONE_SERVER_REFUSED_CONNECTIONS,     /* at max_connections: closed at accept */
    HONE_SERVER_REFUSED_PER_IP,          /* at max_per_ip: closed at accept */
    HONE_SERVER_REFUSED_HEADER_DEADLINE, /* headers not done in time: cut */
    HONE_SERVER_REFUSED_NO_REQUEST,      /* closed with no request seen (see above) */
    HONE_SERVER_REFUSED_ERROR,           /* out of memory building a reply: 500 */
    HONE_SERVER_REFUSED_TOKEN,           /* state change without the admin token: 401 */
    HONE_SERVER_REFUSED_QUERY,           /* a bad query value (recent=, source=, name=): 400 */
    HONE_SERVER_REFUSAL_COUNT
} hone_server_refusal;

/* The reason's label value ("host", "not_found", "method", "body",
 * "connections", "per_ip", "header_deadline", "no_request", "error",
 * "token", "query");
 * "unknown" out of range. Static string. */
HONE_API const char *hone_server_refusal_name(hone_server_refusal r);

typedef struct hone_server_stats {
    uint64_t requests;                           /* answered 200 */
    uint64_t refused[HONE_SERVER_REFUSAL_COUNT]; /* by hone_server_refusal */
    uint64_t connections;                        /* open now */
} hone_server_stats;

/* Fills *st with the counts since start (each read atomically; the set is
 * not one instant). Thread-safe. */
HONE_API void hone_server_stats_get(const hone_server *srv, hone_server_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* HONE_SERVER_H */
