/* hone/http.h - a pooled HTTP client on libcurl: kept-alive connections with
 * bounds, many requests in flight on one event loop, deadlines, retries with
 * server pushback, rate limiting, a circuit breaker and single flight.
 *
 * One hone_http_client owns one libcurl multi handle, driven by one loop
 * thread (a long-running task on a one-worker hone_pool of its own). Every
 * request is a job handed to that loop; a request that waits (for the rate
 * limiter, for a retry's backoff, for an identical GET already in flight)
 * is a timer in the loop and holds no thread. hone_http_do is
 * hone_http_submit plus a wait on a condition variable.
 *
 * Time: durations in the options and requests are relative nanoseconds;
 * the client measures them on hone_now_ns(). A deadline covers the whole
 * logical call: limiter waits, every attempt and every backoff between
 * attempts.
 *
 * Safety of retries: an attempt is retried only when repeating it cannot do
 * harm twice: the method is idempotent (GET, HEAD, PUT, DELETE, OPTIONS,
 * TRACE), the request says so (idempotent, or an idempotency_key the server
 * can deduplicate on), or the request provably never reached the server
 * (no connection could be made). A POST without a key that failed after it
 * was sent is never repeated. Retried outcomes: HTTP 429, 502, 503, 504 and
 * transport failures (connection refused or reset, timeouts, a connection
 * closed mid-response). On 429 and 503 a Retry-After header replaces the
 * computed backoff; a pushback that would pass the deadline ends the call
 * at once with the response in hand instead of sleeping past it.
 *
 * Connection reuse is measured with CURLINFO_NUM_CONNECTS: an attempt that
 * opened no connection ran on a kept one.
 */
#ifndef HONE_HTTP_H
#define HONE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "hone/core.h"
#include "hone/flow.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hone_http_client hone_http_client;

typedef struct hone_http_opts {
    /* Connections kept or open to one host:port at once
     * (CURLMOPT_MAX_HOST_CONNECTIONS); transfers beyond it queue inside the
     * client. 0: 8, what browsers settled on as polite to one origin (6-8)
     * while still filling a loopback server's workers. */
    uint32_t max_per_host;
    /* Connections open at once over all hosts, and the size of the cache of
     * idle ones (CURLMOPT_MAX_TOTAL_CONNECTIONS and CURLMOPT_MAXCONNECTS).
     * 0: 64. */
    uint32_t max_total;
    /* A kept connection idle for longer than this is closed instead of
     * reused (CURLOPT_MAXAGE_CONN, which counts whole seconds: the value is
     * rounded up to a second). 0: 4 s, below Apache httpd's 5 s
     * KeepAliveTimeout, the shortest common server default (nginx 75 s,
     * Node.js 5 s): reusing a connection the server is about to close is
     * the race that makes a request fail for no reason of its own. */
    uint64_t idle_ns;
    /* Time allowed to connect, per attempt, never more than what is left of
     * the deadline (CURLOPT_CONNECTTIMEOUT_MS). 0: 5 s. */
    uint64_t connect_timeout_ns;
    /* Time allowed for one attempt, start to last byte, never more than
     * what is left of the deadline (CURLOPT_TIMEOUT_MS). It includes time a
     * transfer queues for a connection slot. 0: http.timeout
     * (HONE_HTTP_TIMEOUT, or the component's timeout; 30 s at level
     * moderate), see hone-optimize(1). */
    uint64_t timeout_ns;
    /* Time allowed for one logical call (every attempt and wait), counted
     * from submission; a request may set its own. 0: http.deadline
     * (HONE_HTTP_DEADLINE; 60 s at level moderate). */
    uint64_t deadline_ns;
    /* Largest response body accepted. A response announcing a larger
     * Content-Length is refused before any of its body is read, and a
     * chunked one as soon as it crosses the cap; either fails with
     * HONE_ERANGE and is never retried. 0: http.max_input_size
     * (HONE_HTTP_MAX_INPUT_SIZE, or the component's max_input_size; 64 MiB
     * at level moderate). */
    size_t max_body;
    /* Borrowed, NULL: none. Every attempt takes one permit; a request that
     * has to wait does so as a timer in the loop, and fails with
     * HONE_ETIMEDOUT at once when the wait would pass its deadline. The
     * limiter must outlive the client. NULL with flow.rate_limit set
     * (HONE_RATE_LIMIT, the config file or a preset; say "100/s"; read
     * when the client is made) limits each host (the URL's
     * host and port) to that rate, requests spaced evenly (burst 1), in a
     * keyed limiter the client owns (hone_limiter_map, at most 10000
     * hosts); "0" sends nothing, "off" or unset limits nothing. */
    hone_limiter *limiter;
    /* Retry policy. max_attempts 0 means flow.retry_attempts (3 at level
     * moderate); attempt_timeout_ns 0 means timeout_ns above; backoff
     * zeroes mean 100 ms base, full jitter, and a cap of
     * flow.retry_max_backoff (10 s at level moderate). budget is borrowed and must
     * outlive the client. clock must be NULL: the client waits on real
     * sockets, so it measures on hone_now_ns() (HONE_EINVAL otherwise). */
    hone_retry_opts retry;
    /* Borrowed, NULL: none. Asked before every attempt; told each attempt's
     * outcome (a transport failure or a 5xx is a failure; 429 and other
     * statuses are answers, so successes). */
    hone_breaker *breaker;
    /* Borrowed, NULL: none. Each attempt's timeout becomes min(its timeout,
     * hone_atimeout_get()); the latency of every attempt that got an answer
     * below 500 is recorded. */
    hone_atimeout *atimeout;
    /* 0: identical GETs in flight at once (same URL and headers, no body)
     * share one request: the first runs, the others get a copy of its
     * response with coalesced set. Each keeps its own deadline. 1: every
     * call sends its own request. */
    int no_single_flight;
    /* 1: a new connection per attempt, closed afterwards
     * (CURLOPT_FRESH_CONNECT + CURLOPT_FORBID_REUSE), to measure what the
     * pool saves. */
    int no_reuse;
    /* NULL: "hone/<version>". Copied. */
    const char *user_agent;
    /* NULL: libcurl's default, which follows the http_proxy, https_proxy,
     * all_proxy and no_proxy environment variables. "": no proxy at all (what
     * tests and benchmarks on loopback want). Otherwise a proxy URL. Copied. */
    const char *proxy;
    const hone_allocator *alloc; /* NULL: the default allocator */
    /* The client's name in the settings' [component.NAME] sections, for
     * its timeout and max_input_size; NULL: the global values only. */
    const char *component;
} hone_http_opts;

/* Makes a client: the multi handle, its loop thread, and copies of the
 * options. Returns HONE_OK; HONE_EINVAL (out NULL, or retry.clock set);
 * HONE_ENOMEM; HONE_EIO (libcurl could not be initialised or the loop
 * thread could not be started; the cause is logged).
 * On failure *out is NULL and nothing leaks. libcurl is initialised once per
 * process (curl_global_init with CURL_GLOBAL_DEFAULT, behind pthread_once)
 * and never cleaned up, since another part of the process may still use it. */
HONE_API int hone_http_client_new(hone_http_client **out, const hone_http_opts *opts);

/* Cancels what is in flight and frees the client. Every request still
 * queued, waiting or running finishes with HONE_ECANCELED: its callback runs
 * on the loop thread before this call returns, and a thread blocked in
 * hone_http_do returns HONE_ECANCELED. Kept connections are closed. The
 * caller must make sure no other thread submits to the client once this is
 * called. NULL is a no-op. Not from a callback of this client (it would
 * wait for its own loop). */
HONE_API void hone_http_client_free(hone_http_client *c);

typedef struct hone_http_header {
    const char *name;  /* a token: no space, colon, CR or LF */
    const char *value; /* no CR or LF */
} hone_http_header;

typedef struct hone_http_request {
    /* NULL: "GET". Any token up to 31 characters; HEAD reads no body. */
    const char *method;
    /* http:// or https:// only; other schemes fail with HONE_EINVAL. */
    const char *url;
    const hone_http_header *headers;
    size_t nheaders;
    /* Sent as the request body with Content-Length (copied at submission). */
    const void *body;
    size_t body_len;
    /* Nonzero declares a non-idempotent method (POST, PATCH) safe to retry. */
    int idempotent;
    /* Sent as Idempotency-Key; makes the request retryable, since the
     * server can recognise the repeat. */
    const char *idempotency_key;
    /* Relative; 0: the client's deadline_ns. */
    uint64_t deadline_ns;
} hone_http_request;

typedef struct hone_http_response {
    long status;        /* the last HTTP status received, 0 when none */
    char *body;         /* NUL-terminated (NULL only when body_len is 0 and
                           no attempt produced a response); owned by the
                           response: release with hone_http_response_free */
    size_t body_len;
    unsigned attempts;  /* attempts made by this call (0 when coalesced or
                           refused before the first) */
    int reused;         /* the last attempt ran on a kept connection */
    int coalesced;      /* served by another caller's identical in-flight GET */
    uint64_t total_ns;  /* submission to completion */
    uint64_t limiter_wait_ns; /* time spent waiting for limiter permits */
} hone_http_response;

/* Sends a request and waits for its outcome. Blocking and thread-safe: any
 * number of threads may call at once; their requests run concurrently on
 * the client's loop. resp is filled (zeroed first) whatever the outcome,
 * and must be released with hone_http_response_free.
 * Returns:
 *   HONE_OK        a response arrived, of any status. After retries that
 *                  stopped (attempts exhausted, budget spent, deadline too
 *                  close for the next wait) the last response is returned:
 *                  a final 503 is HONE_OK with status 503.
 *   HONE_ETIMEDOUT the last attempt timed out (its own timeout or the
 *                  deadline), or the deadline passed before an attempt
 *                  could start, or a wait for a limiter permit would pass
 *                  it; in each case with no response in hand.
 *   HONE_EBUSY     refused by the circuit breaker, or a retry refused by
 *                  the retry budget, with no response in hand.
 *   HONE_ERANGE    the response body was over max_body (never retried).
 *   HONE_EIO       no connection could be made, or the connection failed
 *                  or closed mid-response, on the last attempt (also when
 *                  the deadline left no time for another).
 *   HONE_EINVAL    a bad request: URL missing or not http(s), a method or
 *                  header with forbidden characters (err says which).
 *   HONE_ECANCELED the client was freed meanwhile.
 *   HONE_ESTATE    called from a callback of this client (it would wait
 *                  for its own loop).
 *   HONE_ENOMEM.
 * err (may be NULL) gets one line naming the method, the URL and the cause,
 * e.g. "GET http://127.0.0.1:8080/: connection refused (curl: Couldn't
 * connect to server; 3 attempts)". */
HONE_API int hone_http_do(hone_http_client *c, const hone_http_request *req,
                          hone_http_response *resp, hone_error *err);

/* Called once per submitted request, on the client's loop thread, with the
 * status hone_http_do would return, the response (never NULL) and err (never
 * NULL; its msg is "" on success). resp and err are valid only during the
 * call. To keep the body, copy *resp and set resp->body to NULL; release the
 * copy later with hone_http_response_free. The callback may submit more
 * requests; it must not call hone_http_do or hone_http_client_free on this
 * client, and should return quickly: the loop serves every request. */
typedef void (*hone_http_cb)(void *ctx, int status, hone_http_response *resp,
                             const hone_error *err);

/* Queues a request and returns at once; cb(ctx, ...) runs when it finishes.
 * Everything req points to is copied, so it may be freed on return.
 * Thread-safe. Returns HONE_OK; HONE_EINVAL (c, req or cb NULL, or a
 * request hone_http_request_check refuses); HONE_ENOMEM; HONE_ECLOSED once
 * hone_http_client_free has begun. When it fails the callback is never
 * called. */
HONE_API int hone_http_submit(hone_http_client *c, const hone_http_request *req, hone_http_cb cb,
                              void *ctx);

/* Frees resp's body (allocated with the client's allocator) and zeroes it.
 * The client must still exist. NULL resp is a no-op. */
HONE_API void hone_http_response_free(hone_http_client *c, hone_http_response *resp);

/* Counters since the client was made. Per logical call: requests (every
 * successful submission), coalesced (calls served by another's request),
 * breaker_rejects and budget_rejects (calls ended by a refusal). Per
 * attempt: attempts, retries (attempts after the first), responses_Nxx
 * (every HTTP response received, including those then retried), errors
 * (attempts that got no response), timeouts (attempts that timed out),
 * connections_opened (new connections), reused (attempts on a kept
 * connection), limiter_waits (attempts that had to wait for a permit) and
 * limiter_wait_ns (their total wait), pushbacks (retries whose delay came
 * from Retry-After). */
typedef struct hone_http_stats {
    uint64_t requests, attempts, retries, coalesced, responses_2xx, responses_3xx, responses_4xx,
        responses_5xx, errors, timeouts, connections_opened, reused, limiter_waits, limiter_wait_ns,
        breaker_rejects, budget_rejects, pushbacks;
} hone_http_stats;

/* A snapshot of the counters (each read atomically; the set is not one
 * instant). Thread-safe. A NULL client gives zeroes. */
HONE_API void hone_http_stats_get(hone_http_client *c, hone_http_stats *out);

/* Parses a Retry-After value (RFC 9110 10.2.3): delta-seconds ("120") or an
 * HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT", parsed with curl_getdate, which
 * also takes the obsolete RFC 850 and asctime forms). *delay_ns is the wait
 * from now: seconds times 1e9 (saturating), or the date minus the current
 * wall-clock time, 0 for a date in the past. Surrounding spaces are
 * ignored. Returns HONE_OK; HONE_EINVAL (NULL argument); HONE_EPARSE
 * (neither form; *delay_ns unchanged). Thread-safe. */
HONE_API int hone_http_retry_after(const char *value, uint64_t *delay_ns);

/* Checks a request as hone_http_submit does before queueing it, without
 * sending anything: a URL present, http:// or https://, with no space or
 * control character; a method that is an HTTP token of at most 31
 * characters; header names that are tokens and values, and the idempotency
 * key, without CR or LF; a body pointer when body_len is not 0. Returns
 * HONE_OK or HONE_EINVAL with err (may be NULL) naming the method, the URL
 * and what is wrong. Thread-safe. */
HONE_API int hone_http_request_check(const hone_http_request *req, hone_error *err);

/* The method, in upper case, is one of GET, HEAD, PUT, DELETE, OPTIONS,
 * TRACE: RFC 9110's idempotent methods. NULL counts as GET. */
HONE_API int hone_http_method_idempotent(const char *method);

#ifdef __cplusplus
}
#endif
#endif /* HONE_HTTP_H */
