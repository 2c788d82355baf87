/* http_server.h - a small HTTP server on loopback (libmicrohttpd) with the
 * behaviours an HTTP client must be tried against: plain answers, 503s with
 * Retry-After, stalls, a connection closed mid-response, large bodies and an
 * echo. `hone demo` serves its http step from it; tests/http and bench/http
 * compile this same file, so the three measure one server.
 *
 * Routes (any method):
 *   /            200, a short text body
 *   /flaky       while the failure count set by cli_loopback_fail_next is
 *                above 0: that status (with Retry-After when set), counting
 *                down; then 200
 *   /stall?ms=N  waits N ms (at most 10 s, cut short when the server stops),
 *                then 200
 *   /close       announces 1000 bytes, sends 100, closes the connection
 *   /big?size=N  N bytes of 'x' with Content-Length; /big?size=N&chunked=1
 *                without it (chunked)
 *   /echo        "METHOD LENGTH KEY\n" then the request body, where KEY is the
 *                Idempotency-Key header or "-"
 *   /status?code=N  an empty response with status N (100..599)
 *   /gate        waits until cli_loopback_gate opens the gate (at most 10 s,
 *                cut short when the server stops), then 200
 * Anything else is 404. */
#ifndef HONE_CLI_HTTP_SERVER_H
#define HONE_CLI_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

typedef struct cli_loopback cli_loopback;

/* Counters since start (or the last reset), each read atomically. */
typedef struct cli_loopback_counts {
    uint64_t requests;    /* requests answered */
    uint64_t connections; /* TCP connections accepted */
    uint64_t flaky;       /* requests to /flaky */
    uint64_t failed;      /* of those, answered with the failure status */
    uint64_t echo;        /* requests to /echo */
    uint64_t gate;        /* requests to /gate (counted on arrival) */
} cli_loopback_counts;

/* Starts a server on 127.0.0.1, on a port the kernel picks (port 0), with
 * `threads` polling threads (epoll); thread_per_connection instead gives
 * every connection its own thread, so a stalled answer blocks nothing else.
 * Returns 0, or -1 with a reason in err. */
int cli_loopback_start(cli_loopback **out, unsigned threads, int thread_per_connection, char *err,
                       size_t err_size);
/* Stops the server (ending stalls at once) and frees it. NULL is a no-op. */
void cli_loopback_stop(cli_loopback *s);
unsigned short cli_loopback_port(const cli_loopback *s);
/* "http://127.0.0.1:PORT" followed by path, into buf. Returns buf. */
char *cli_loopback_url(const cli_loopback *s, const char *path, char *buf, size_t size);
/* The next n requests to /flaky get `status`, with Retry-After:
 * retry_after when it is not NULL (copied). Thread-safe. */
void cli_loopback_fail_next(cli_loopback *s, unsigned n, unsigned status, const char *retry_after);
/* Opens (1) or closes (0) the gate of /gate; it starts closed. */
void cli_loopback_gate(cli_loopback *s, int open);
void cli_loopback_counts_get(cli_loopback *s, cli_loopback_counts *out);
void cli_loopback_counts_reset(cli_loopback *s);

#endif
