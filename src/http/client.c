/* client.c - the pooled HTTP client: one libcurl multi handle driven by one
 * loop task, requests handed over through a mutex-protected queue and
 * curl_multi_wakeup, and limiter waits, backoffs and single-flight followers
 * kept as timers in the loop, so that a waiting request holds no thread. */
#include <curl/curl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "hone/exec.h"
#include "hone/http.h"

#define MS 1000000ull
#define SEC 1000000000ull

/* ------------------------------------------------------------------ */
/* Jobs                                                                */

typedef enum job_state {
    J_QUEUED,       /* in the client's submission queue */
    J_WAIT_LIMITER, /* waiting list: due when a permit should be free */
    J_WAIT_BACKOFF, /* waiting list: due when the next attempt may start */
    J_RUNNING,      /* running list: its easy handle is in the multi */
    J_FOLLOWER      /* waiting list (due at its deadline) and its leader's follower list */
} job_state;

typedef struct hone_http_client hone_http_client;

/* One logical call. Made by the submitting thread, then owned by the loop
 * until its callback has run. */
typedef struct job {
    struct job *prev, *next; /* the queue, the waiting list or the running list */
    struct job *hnext;       /* single-flight chain */
    struct job *followers;   /* a leader's followers, linked by fnext */
    struct job *fnext;
    struct job *leader; /* a follower's leader */
    hone_http_client *c;
    job_state state;
    int safe;      /* retrying it cannot do harm twice */
    int is_head;
    int is_leader; /* in the single-flight table */
    char *method, *url;
    char *key; /* single-flight key (GET only), NULL when not eligible */
    size_t key_len;
    uint64_t hash;
    struct curl_slist *headers;
    char *body;
    size_t body_len;
    uint64_t start, deadline, due;
    hone_retry retry;
    CURL *easy;
    uint64_t attempt_start;
    uint64_t lw_start;   /* when the current limiter wait began */
    int lw_waiting;      /* the current attempt has waited for a permit */
    int have_response;   /* the last finished attempt got an HTTP response */
    int too_big, oom;    /* the write callback refused the body */
    int pushback_used;
    long status;
    hone_buf buf;
    hone_http_response resp;
    char retry_after[64];
    char errbuf[CURL_ERROR_SIZE];
    hone_http_cb cb;
    void *ctx;
} job;

typedef struct job_list {
    job *head, *tail;
} job_list;

static void list_push(job_list *l, job *j) {
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static void list_remove(job_list *l, job *j) {
    if (j->prev)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->prev = j->next = NULL;
}

/* ------------------------------------------------------------------ */
/* The client                                                          */

typedef struct stats {
    _Atomic uint64_t requests, attempts, retries, coalesced, r2xx, r3xx, r4xx, r5xx, errors,
        timeouts, opened, reused, limiter_waits, limiter_wait_ns, breaker_rejects, budget_rejects,
        pushbacks;
} stats;

struct hone_http_client {
    const hone_allocator *alloc;
    uint32_t max_per_host, max_total;
    long maxage_s;
    uint64_t connect_timeout_ns, timeout_ns, deadline_ns;
    size_t max_body;
    hone_limiter *limiter;
    hone_limiter_map *host_limits; /* HONE_RATE_LIMIT, per host; owned */
    hone_retry_opts retry;
    hone_breaker *breaker;
    hone_atimeout *atimeout;
    int single_flight, no_reuse;
    char *user_agent, *proxy;
    uint64_t seed;
    _Atomic uint64_t seq;

    CURLM *multi;
    hone_pool *pool;
    hone_future *loop;

    pthread_mutex_t mu; /* guards queue and stopping */
    job_list queue;
    int stopping;

    /* Loop thread only. */
    job_list waiting, running;
    job **sf;     /* single-flight buckets */
    size_t sf_mask, sf_count;
    CURL **idle;  /* easy handles kept for reuse */
    size_t nidle, idle_cap;

    stats st;
};

#define ADD(field, v) atomic_fetch_add_explicit(&c->st.field, (uint64_t)(v), memory_order_relaxed)

static _Thread_local hone_http_client *tl_loop_client;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ------------------------------------------------------------------ */
/* Requests                                                            */

static const char *const idempotent_methods[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};

int hone_http_method_idempotent(const char *method) {
    if (!method) return 1;
    for (size_t i = 0; i < sizeof idempotent_methods / sizeof idempotent_methods[0]; i++)
        if (!strcmp(method, idempotent_methods[i])) return 1;
    return 0;
}

static int is_tchar(unsigned char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int is_token(const char *s, size_t max) {
    size_t n = 0;
    for (; s[n]; n++)
        if (!is_tchar((unsigned char)s[n]) || n >= max) return 0;
    return n > 0;
}

/* "GET http://host/path" for messages, the URL cut to keep the line short. */
static void what(char *out, size_t size, const char *method, const char *url) {
    size_t n = url ? strlen(url) : 0;
    if (n > 160)
        snprintf(out, size, "%s %.150s...", method ? method : "GET", url);
    else
        snprintf(out, size, "%s %s", method ? method : "GET", url ? url : "(no URL)");
}

int hone_http_request_check(const hone_http_request *req, hone_error *err) {
    if (!req) return hone_error_set(err, HONE_EINVAL, "no request");
    const char *m = req->method ? req->method : "GET";
    char w[200];
    what(w, sizeof w, m, req->url);
    if (!req->url)
        return hone_error_set(err, HONE_EINVAL, "%s: the request has no URL", w);
    if (strncasecmp(req->url, "http://", 7) && strncasecmp(req->url, "https://", 8))
        return hone_error_set(err, HONE_EINVAL, "%s: expected an http:// or https:// URL", w);
    for (const char *p = req->url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return hone_error_set(err, HONE_EINVAL,
                                  "%s: the URL holds a space or control character (escape it as %%XX)", w);
    if (!is_token(m, 31))
        return hone_error_set(err, HONE_EINVAL,
                              "%s: method '%.40s': expected a token of 1 to 31 letters, digits or !#$%%&'*+-.^_`|~",
                              w, m);
    if (req->nheaders && !req->headers)
        return hone_error_set(err, HONE_EINVAL, "%s: nheaders is %zu but headers is NULL", w,
                              req->nheaders);
    for (size_t i = 0; i < req->nheaders; i++) {
        const hone_http_header *h = &req->headers[i];
        if (!h->name || !is_token(h->name, 256))
            return hone_error_set(err, HONE_EINVAL, "%s: header %zu name '%.40s': expected a token", w,
                                  i, h->name ? h->name : "(null)");
        if (h->value && strpbrk(h->value, "\r\n"))
            return hone_error_set(err, HONE_EINVAL,
                                  "%s: header '%.40s': its value holds CR or LF", w, h->name);
    }
    if (req->idempotency_key && strpbrk(req->idempotency_key, "\r\n"))
        return hone_error_set(err, HONE_EINVAL, "%s: the idempotency key holds CR or LF", w);
    if (req->body_len && !req->body)
        return hone_error_set(err, HONE_EINVAL, "%s: body_len is %zu but body is NULL", w,
                              req->body_len);
    return HONE_OK;
}

static void job_free(hone_http_client *c, job *j) {
    if (!j) return;
    curl_slist_free_all(j->headers);
    hone_free(c->alloc, j->method);
    hone_free(c->alloc, j->url);
    hone_free(c->alloc, j->key);
    hone_free(c->alloc, j->body);
    hone_buf_free(&j->buf);
    hone_free(c->alloc, j);
}

static int add_header(struct curl_slist **l, const char *name, const char *value) {
    /* "Name:" alone removes a header curl would add; "Name;" sends it empty. */
    char stack[512];
    size_t n = strlen(name) + (value ? strlen(value) : 0) + 3;
    char *line = n <= sizeof stack ? stack : malloc(n);
    if (!line) return HONE_ENOMEM;
    if (value && *value)
        snprintf(line, n, "%s: %s", name, value);
    else if (value)
        snprintf(line, n, "%s;", name);
    else
        snprintf(line, n, "%s:", name);
    struct curl_slist *t = curl_slist_append(*l, line);
    if (line != stack) free(line);
    if (!t) return HONE_ENOMEM;
    *l = t;
    return HONE_OK;
}

static job *job_make(hone_http_client *c, const hone_http_request *req, int *rc) {
    job *j = hone_calloc(c->alloc, 1, sizeof *j);
    *rc = HONE_ENOMEM;
    if (!j) return NULL;
    j->c = c;
    hone_buf_init(&j->buf, c->alloc);
    const char *m = req->method ? req->method : "GET";
    j->method = hone_strdup(c->alloc, m);
    j->url = hone_strdup(c->alloc, req->url);
    if (!j->method || !j->url) goto fail;
    if (req->body_len) {
        j->body = hone_malloc(c->alloc, req->body_len);
        if (!j->body) goto fail;
        memcpy(j->body, req->body, req->body_len);
        j->body_len = req->body_len;
    }
    j->is_head = !strcmp(m, "HEAD");
    j->safe = hone_http_method_idempotent(m) || req->idempotent || req->idempotency_key;
    for (size_t i = 0; i < req->nheaders; i++)
        if (add_header(&j->headers, req->headers[i].name,
                       req->headers[i].value ? req->headers[i].value : ""))
            goto fail;
    if (req->idempotency_key && add_header(&j->headers, "Idempotency-Key", req->idempotency_key))
        goto fail;
    /* No "Expect: 100-continue" wait of up to a second before a body. */
    if (j->body_len && add_header(&j->headers, "Expect", NULL)) goto fail;
    if (c->single_flight && !strcmp(m, "GET") && !j->body_len) {
        /* The key: URL, then every header line (Idempotency-Key included). */
        hone_buf k;
        hone_buf_init(&k, c->alloc);
        int krc = hone_buf_append(&k, j->url, strlen(j->url) + 1);
        for (struct curl_slist *h = j->headers; h && !krc; h = h->next)
            krc = hone_buf_append(&k, h->data, strlen(h->data) + 1);
        if (krc) {
            hone_buf_free(&k);
            goto fail;
        }
        j->key = k.data;
        j->key_len = k.len;
        j->hash = XXH3_64bits_withSeed(j->key, j->key_len, c->seed);
    }
    uint64_t now = hone_now_ns();
    j->start = now;
    uint64_t rel = req->deadline_ns ? req->deadline_ns : c->deadline_ns;
    j->deadline = rel > UINT64_MAX - now ? UINT64_MAX : now + rel;
    *rc = HONE_OK;
    return j;
fail:
    job_free(c, j);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Finishing                                                           */

static void sf_remove(hone_http_client *c, job *j) {
    if (!j->is_leader) return;
    job **p = &c->sf[j->hash & c->sf_mask];
    while (*p && *p != j) p = &(*p)->hnext;
    if (*p) *p = j->hnext;
    j->is_leader = 0;
    c->sf_count--;
}

static void deliver(job *j, int status, const hone_error *err) {
    hone_http_client *c = j->c;
    j->resp.total_ns = hone_now_ns() - j->start;
    j->cb(j->ctx, status, &j->resp, err);
    hone_free(c->alloc, j->resp.body);
    j->resp.body = NULL;
    job_free(c, j);
}

/* Ends a job: hands its outcome to its callback and to its followers, then
 * frees it. The job is on no list. */
static void finish(job *j, int status, const char *fmt, ...) HONE_PRINTF(3, 4);
static void finish(job *j, int status, const char *fmt, ...) {
    hone_http_client *c = j->c;
    hone_error err;
    memset(&err, 0, sizeof err);
    err.code = status;
    err.offset = UINT64_MAX;
    if (status != HONE_OK && fmt) {
        char w[200];
        what(w, sizeof w, j->method, j->url);
        int n = snprintf(err.msg, sizeof err.msg, "%s: ", w);
        va_list ap;
        va_start(ap, fmt);
        if (n > 0 && (size_t)n < sizeof err.msg) vsnprintf(err.msg + n, sizeof err.msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    sf_remove(c, j);
    if (j->have_response && status == HONE_OK) {
        j->resp.status = j->status;
        if (!j->buf.data && hone_buf_reserve(&j->buf, 1)) {
            status = hone_error_set(&err, HONE_ENOMEM, "%s %s: out of memory for the response",
                                    j->method, j->url);
        } else {
            j->resp.body = j->buf.data;
            j->resp.body_len = j->buf.len;
            j->buf.data = NULL;
            j->buf.len = j->buf.cap = 0;
        }
    } else if (j->have_response) {
        j->resp.status = j->status;
    }
    /* Followers get a copy of the leader's outcome. */
    job *f = j->followers;
    j->followers = NULL;
    while (f) {
        job *nf = f->fnext;
        list_remove(&c->waiting, f);
        int fs = status;
        hone_error ferr = err;
        f->resp.status = j->resp.status;
        f->resp.coalesced = 1;
        f->resp.reused = j->resp.reused;
        if (j->resp.body) {
            f->resp.body = hone_strndup(c->alloc, j->resp.body, j->resp.body_len);
            if (!f->resp.body)
                fs = hone_error_set(&ferr, HONE_ENOMEM, "%s %s: out of memory for the response",
                                    f->method, f->url);
            else
                f->resp.body_len = j->resp.body_len;
        }
        deliver(f, fs, &ferr);
        f = nf;
    }
    deliver(j, status, &err);
}

/* ------------------------------------------------------------------ */
/* Attempts                                                            */

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    job *j = ud;
    size_t len = size * n;
    if (len > j->c->max_body - j->buf.len) {
        j->too_big = 1;
        return 0;
    }
    if (!j->buf.data) {
        /* Room for the whole announced body at once, when it is known. */
        curl_off_t cl = -1;
        if (curl_easy_getinfo(j->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
            cl > 0 && (uint64_t)cl <= j->c->max_body)
            (void)hone_buf_reserve(&j->buf, (size_t)cl);
    }
    if (hone_buf_append(&j->buf, p, len)) {
        j->oom = 1;
        return 0;
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    job *j = ud;
    size_t len = size * n;
    if (len >= 5 && !memcmp(p, "HTTP/", 5)) j->retry_after[0] = '\0'; /* a new response */
    if (len > 12 && !strncasecmp(p, "Retry-After:", 12)) {
        const char *v = p + 12;
        size_t vl = len - 12;
        while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
        if (vl >= sizeof j->retry_after) vl = sizeof j->retry_after - 1;
        memcpy(j->retry_after, v, vl);
        j->retry_after[vl] = '\0';
    }
    return len;
}

static CURL *easy_get(hone_http_client *c) {
    if (c->nidle) {
        CURL *e = c->idle[--c->nidle];
        curl_easy_reset(e);
        return e;
    }
    return curl_easy_init();
}

static void easy_put(hone_http_client *c, CURL *e) {
    if (c->nidle < c->idle_cap)
        c->idle[c->nidle++] = e;
    else
        curl_easy_cleanup(e);
}

static long to_ms(uint64_t ns) {
    uint64_t ms = (ns + MS - 1) / MS;
    if (ms < 1) ms = 1;
    return ms > (uint64_t)LONG_MAX / 2 ? LONG_MAX / 2 : (long)ms;
}

static void schedule(hone_http_client *c, job *j, job_state st, uint64_t due);
static void start_attempt(hone_http_client *c, job *j, uint64_t now);

/* Ends a job that could not make its next attempt: with the response in
 * hand when there is one (the caller learns what the server said), else
 * with `status`. */
static void end_refused(job *j, int status, const char *why) {
    if (j->have_response)
        finish(j, HONE_OK, NULL);
    else
        finish(j, status, "%s", why);
}

/* The authority of an absolute http(s) URL ("host:port", without any
 * "user@"), the key of HONE_RATE_LIMIT's per-host limits. */
static void url_host(const char *url, const char **host, size_t *n) {
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    size_t len = strcspn(h, "/?#");
    const char *at = memchr(h, '@', len);
    if (at) len -= (size_t)(at + 1 - h), h = at + 1;
    *host = h;
    *n = len;
}

/* One permit for the next attempt of j from the client's limiter or, with
 * HONE_RATE_LIMIT, its host's: HONE_OK, HONE_EBUSY with *wait, or
 * HONE_ENOMEM (a new host the map had no room for). */
static int take_permit(hone_http_client *c, job *j, uint64_t *wait) {
    if (c->limiter) return hone_limiter_acquire(c->limiter, 1, wait);
    const char *host;
    size_t n;
    url_host(j->url, &host, &n);
    return hone_limiter_map_acquire(c->host_limits, host, n, 1, wait);
}

static void start_attempt(hone_http_client *c, job *j, uint64_t now) {
    if (c->limiter || c->host_limits) {
        uint64_t wait = 0;
        int prc = take_permit(c, j, &wait);
        if (prc == HONE_ENOMEM) {
            end_refused(j, HONE_ENOMEM, "out of memory for the host's rate limit");
            return;
        }
        if (prc != HONE_OK) {
            if (wait == UINT64_MAX || wait > j->deadline - (now < j->deadline ? now : j->deadline)) {
                char why[160];
                if (wait == UINT64_MAX)
                    snprintf(why, sizeof why, "the rate limiter admits nothing (rate 0)");
                else
                    snprintf(why, sizeof why,
                             "waiting %.1f ms for the rate limiter would pass the deadline",
                             (double)wait / 1e6);
                end_refused(j, HONE_ETIMEDOUT, why);
                return;
            }
            if (!j->lw_waiting) {
                j->lw_waiting = 1;
                j->lw_start = now;
            }
            schedule(c, j, J_WAIT_LIMITER, now + wait);
            return;
        }
        if (j->lw_waiting) {
            uint64_t w = now - j->lw_start;
            j->lw_waiting = 0;
            j->resp.limiter_wait_ns += w;
            ADD(limiter_waits, 1);
            ADD(limiter_wait_ns, w);
        }
    }
    uint64_t tmo = 0;
    if (hone_retry_attempt(&j->retry, &tmo) != HONE_OK) {
        char why[96];
        snprintf(why, sizeof why, "the deadline passed before attempt %u could start",
                 j->retry.attempts + 1);
        end_refused(j, HONE_ETIMEDOUT, why);
        return;
    }
    if (c->breaker && hone_breaker_allow(c->breaker, NULL) != HONE_OK) {
        /* The attempt was counted by hone_retry_attempt but never made. */
        ADD(breaker_rejects, 1);
        end_refused(j, HONE_EBUSY, "refused by the circuit breaker (open: too many recent failures)");
        return;
    }
    if (c->atimeout) {
        uint64_t a = hone_atimeout_get(c->atimeout);
        if (a && (tmo == 0 || a < tmo)) tmo = a;
    }
    if (tmo == 0) tmo = c->timeout_ns;
    uint64_t ctmo = c->connect_timeout_ns < tmo ? c->connect_timeout_ns : tmo;

    CURL *e = easy_get(c);
    if (!e) {
        if (c->breaker) hone_breaker_record(c->breaker, 1, 0);
        finish(j, HONE_ENOMEM, "out of memory for a curl handle");
        return;
    }
    j->easy = e;
    j->have_response = 0;
    j->too_big = j->oom = 0;
    j->status = 0;
    j->retry_after[0] = '\0';
    j->errbuf[0] = '\0';
    hone_buf_clear(&j->buf);
    j->resp.attempts = j->retry.attempts;
    j->attempt_start = now;

    int bad = 0;
#define SET(opt, v) bad |= curl_easy_setopt(e, opt, v) != CURLE_OK
    SET(CURLOPT_URL, j->url);
    SET(CURLOPT_PRIVATE, (void *)j);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TCP_KEEPIDLE, 30L);
    SET(CURLOPT_TCP_KEEPINTVL, 10L);
    SET(CURLOPT_MAXAGE_CONN, c->maxage_s);
    SET(CURLOPT_USERAGENT, c->user_agent);
    if (c->proxy) SET(CURLOPT_PROXY, c->proxy);
    SET(CURLOPT_ERRORBUFFER, j->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, (void *)j);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, (void *)j);
    if (j->headers) SET(CURLOPT_HTTPHEADER, j->headers);
    SET(CURLOPT_TIMEOUT_MS, to_ms(tmo));
    SET(CURLOPT_CONNECTTIMEOUT_MS, to_ms(ctmo));
    /* The announced length is checked before any body is read; a HEAD's
     * Content-Length describes a body that never comes. */
    if (!j->is_head)
        SET(CURLOPT_MAXFILESIZE_LARGE,
            (curl_off_t)(c->max_body > (size_t)INT64_MAX ? INT64_MAX : (int64_t)c->max_body));
    if (c->no_reuse) {
        SET(CURLOPT_FRESH_CONNECT, 1L);
        SET(CURLOPT_FORBID_REUSE, 1L);
    }
    if (j->is_head) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (!strcmp(j->method, "GET") && !j->body_len) {
        SET(CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(j->method, "POST")) SET(CURLOPT_CUSTOMREQUEST, j->method);
        if (j->body_len || !strcmp(j->method, "POST")) {
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len);
            SET(CURLOPT_POSTFIELDS, j->body_len ? j->body : "");
        }
    }
#undef SET
    if (bad) {
        j->easy = NULL;
        easy_put(c, e);
        if (c->breaker) hone_breaker_record(c->breaker, 1, 0);
        finish(j, HONE_EIO, "libcurl refused an option (is it older than 7.85?)");
        return;
    }
    CURLMcode mc = curl_multi_add_handle(c->multi, e);
    if (mc != CURLM_OK) {
        j->easy = NULL;
        easy_put(c, e);
        if (c->breaker) hone_breaker_record(c->breaker, 1, 0);
        finish(j, mc == CURLM_OUT_OF_MEMORY ? HONE_ENOMEM : HONE_EIO, "curl_multi_add_handle: %s",
               curl_multi_strerror(mc));
        return;
    }
    ADD(attempts, 1);
    if (j->retry.attempts > 1) ADD(retries, 1);
    j->state = J_RUNNING;
    list_push(&c->running, j);
}

static void schedule(hone_http_client *c, job *j, job_state st, uint64_t due) {
    j->state = st;
    j->due = due;
    list_push(&c->waiting, j);
}

/* After a failed attempt: waits and tries again, or ends the call. */
static void failed(hone_http_client *c, job *j, int retryable, uint64_t pushback, int status,
                   const char *why, uint64_t now) {
    uint64_t delay = 0;
    int r = hone_retry_failed(&j->retry, retryable, pushback, &delay);
    if (r == HONE_OK) {
        if (pushback != UINT64_MAX) ADD(pushbacks, 1);
        if (delay == 0)
            start_attempt(c, j, now);
        else
            schedule(c, j, J_WAIT_BACKOFF, now + delay);
        return;
    }
    if (j->have_response) {
        if (r == HONE_EBUSY) ADD(budget_rejects, 1);
        finish(j, HONE_OK, NULL);
        return;
    }
    unsigned n = j->retry.attempts;
    const char *tail = n > 1 ? " attempts" : " attempt";
    switch (r) {
    case HONE_EBUSY:
        ADD(budget_rejects, 1);
        finish(j, HONE_EBUSY, "%s; the retry budget refused another attempt (%u%s)", why, n, tail);
        break;
    case HONE_ETIMEDOUT:
        finish(j, status, "%s; no time left before the deadline for another attempt (%u%s)", why, n,
               tail);
        break;
    default:
        if (retryable)
            finish(j, status, "%s (%u%s)", why, n, tail);
        else if (status == HONE_EIO && !j->safe)
            finish(j, status, "%s (%u%s; not retried: %s is not idempotent and may have been sent)",
                   why, n, tail, j->method);
        else
            finish(j, status, "%s (%u%s)", why, n, tail);
        break;
    }
}

static int curl_status(CURLcode rc, const job *j) {
    if (j->too_big || rc == CURLE_FILESIZE_EXCEEDED) return HONE_ERANGE;
    if (j->oom || rc == CURLE_OUT_OF_MEMORY) return HONE_ENOMEM;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return HONE_ETIMEDOUT;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT: return HONE_EINVAL;
    default: return HONE_EIO;
    }
}

static const char *curl_cause(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_CONNECT: return "connection refused or host unreachable";
    case CURLE_COULDNT_RESOLVE_HOST: return "host name not resolved";
    case CURLE_COULDNT_RESOLVE_PROXY: return "proxy name not resolved";
    case CURLE_OPERATION_TIMEDOUT: return "timed out";
    case CURLE_PARTIAL_FILE: return "connection closed mid-response (body shorter than announced)";
    case CURLE_GOT_NOTHING: return "connection closed before any response";
    case CURLE_RECV_ERROR: return "connection failed while receiving";
    case CURLE_SEND_ERROR: return "connection failed while sending";
    case CURLE_WEIRD_SERVER_REPLY: return "malformed response";
    case CURLE_SSL_CONNECT_ERROR: return "TLS handshake failed";
    case CURLE_PEER_FAILED_VERIFICATION: return "TLS certificate not trusted";
    case CURLE_URL_MALFORMAT: return "malformed URL";
    case CURLE_UNSUPPORTED_PROTOCOL: return "unsupported scheme (only http and https)";
    default: return "transfer failed";
    }
}

static void on_done(hone_http_client *c, job *j, CURLcode rc) {
    uint64_t now = hone_now_ns();
    uint64_t lat = now - j->attempt_start;
    CURL *e = j->easy;
    long code = 0, nconn = 0, reqsize = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &nconn);
    curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &reqsize);
    char cerr[CURL_ERROR_SIZE + 64];
    snprintf(cerr, sizeof cerr, "%s", j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc));
    curl_multi_remove_handle(c->multi, e);
    j->easy = NULL;
    easy_put(c, e);
    list_remove(&c->running, j);
    ADD(opened, nconn);

    if (rc == CURLE_OK) {
        j->have_response = 1;
        j->status = code;
        j->resp.status = code;
        j->resp.reused = nconn == 0;
        if (nconn == 0) ADD(reused, 1);
        if (code >= 200 && code < 300)
            ADD(r2xx, 1);
        else if (code >= 300 && code < 400)
            ADD(r3xx, 1);
        else if (code >= 400 && code < 500)
            ADD(r4xx, 1);
        else if (code >= 500)
            ADD(r5xx, 1);
        if (c->breaker) hone_breaker_record(c->breaker, code < 500, lat);
        if (c->atimeout && code < 500) hone_atimeout_record(c->atimeout, lat);
        if (code == 429 || code == 502 || code == 503 || code == 504) {
            uint64_t pb = UINT64_MAX;
            if ((code == 429 || code == 503) && j->retry_after[0] &&
                hone_http_retry_after(j->retry_after, &pb) != HONE_OK)
                pb = UINT64_MAX;
            char why[32];
            snprintf(why, sizeof why, "HTTP %ld", code);
            failed(c, j, j->safe, pb, HONE_OK, why, now);
            return;
        }
        finish(j, HONE_OK, NULL);
        return;
    }

    j->have_response = 0;
    int status = curl_status(rc, j);
    ADD(errors, 1);
    if (status == HONE_ETIMEDOUT) ADD(timeouts, 1);
    /* Only transport failures speak of the server's health. */
    int transport = status == HONE_EIO || status == HONE_ETIMEDOUT;
    if (c->breaker) hone_breaker_record(c->breaker, !transport, lat);
    char why[CURL_ERROR_SIZE + 160];
    if (status == HONE_ERANGE)
        snprintf(why, sizeof why, "response body over the %zu-byte cap (max_body); refused", c->max_body);
    else if (status == HONE_ENOMEM)
        snprintf(why, sizeof why, "out of memory for the response body");
    else if (status == HONE_ETIMEDOUT)
        snprintf(why, sizeof why, "timed out after %.0f ms (curl: %s)", (double)lat / 1e6, cerr);
    else
        snprintf(why, sizeof why, "%s (curl: %s)", curl_cause(rc), cerr);
    /* A request that never reached the server may be sent again whatever
     * its method: no connection was made, or no byte of it was written. */
    int never_sent = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                     rc == CURLE_COULDNT_RESOLVE_PROXY || (transport && reqsize == 0);
    int retryable = transport && (j->safe || never_sent);
    failed(c, j, retryable, UINT64_MAX, status, why, now);
}

/* ------------------------------------------------------------------ */
/* Single flight                                                       */

/* Makes j a follower of an identical GET in flight, or registers it as the
 * leader. Returns 1 if j became a follower. */
static int sf_join(hone_http_client *c, job *j) {
    if (!j->key) return 0;
    if (c->sf) {
        for (job *l = c->sf[j->hash & c->sf_mask]; l; l = l->hnext) {
            if (l->hash == j->hash && l->key_len == j->key_len && !memcmp(l->key, j->key, j->key_len)) {
                j->leader = l;
                j->fnext = l->followers;
                l->followers = j;
                ADD(coalesced, 1);
                schedule(c, j, J_FOLLOWER, j->deadline);
                return 1;
            }
        }
    }
    if (c->sf_count + 1 > (c->sf ? c->sf_mask + 1 : 0)) {
        /* Grow; if memory is short the job simply runs unshared. */
        size_t nb = c->sf ? (c->sf_mask + 1) * 2 : 64;
        job **t = hone_calloc(c->alloc, nb, sizeof *t);
        if (!t) return 0;
        if (c->sf) {
            for (size_t i = 0; i <= c->sf_mask; i++) {
                for (job *l = c->sf[i], *n; l; l = n) {
                    n = l->hnext;
                    l->hnext = t[l->hash & (nb - 1)];
                    t[l->hash & (nb - 1)] = l;
                }
            }
            hone_free(c->alloc, c->sf);
        }
        c->sf = t;
        c->sf_mask = nb - 1;
    }
    j->hnext = c->sf[j->hash & c->sf_mask];
    c->sf[j->hash & c->sf_mask] = j;
    j->is_leader = 1;
    c->sf_count++;
    return 0;
}

static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void start_job(hone_http_client *c, job *j, uint64_t now) {
    if (sf_join(c, j)) return;
    hone_retry_opts ro = c->retry;
    uint64_t n = atomic_fetch_add_explicit(&c->seq, 1, memory_order_relaxed);
    ro.seed = ro.seed ? ro.seed + n : mix64(c->seed ^ n) | 1;
    hone_retry_begin(&j->retry, &ro, j->deadline);
    start_attempt(c, j, now);
}

/* Runs what is due on the waiting list; returns the earliest due time of
 * what is left (UINT64_MAX: nothing). */
static uint64_t run_timers(hone_http_client *c, uint64_t now) {
    uint64_t next = UINT64_MAX;
    /* Due jobs are moved out first: starting one may append to the list. */
    job_list due = {0};
    for (job *j = c->waiting.head, *n; j; j = n) {
        n = j->next;
        if (j->due <= now) {
            list_remove(&c->waiting, j);
            list_push(&due, j);
        } else if (j->due < next) {
            next = j->due;
        }
    }
    while (due.head) {
        job *j = due.head;
        list_remove(&due, j);
        if (j->state == J_FOLLOWER) {
            /* Its own deadline passed while the leader still runs. */
            job **p = &j->leader->followers;
            while (*p && *p != j) p = &(*p)->fnext;
            if (*p) *p = j->fnext;
            finish(j, HONE_ETIMEDOUT, "the deadline passed waiting for an identical request in flight");
        } else {
            start_attempt(c, j, hone_now_ns());
        }
    }
    for (job *j = c->waiting.head; j; j = j->next)
        if (j->due < next) next = j->due;
    return next;
}

static void cancel_all(hone_http_client *c) {
    for (;;) {
        job *j = c->running.head;
        if (!j) break;
        list_remove(&c->running, j);
        curl_multi_remove_handle(c->multi, j->easy);
        easy_put(c, j->easy);
        j->easy = NULL;
        if (c->breaker) hone_breaker_record(c->breaker, 1, 0);
        j->have_response = 0;
        finish(j, HONE_ECANCELED, "cancelled: the client is being freed");
    }
    /* Leaders first: finishing one finishes its followers. */
    for (int pass = 0; pass < 2; pass++) {
        for (job *j = c->waiting.head, *n; j; j = n) {
            n = j->next;
            if (pass == 0 && j->state == J_FOLLOWER) continue;
            list_remove(&c->waiting, j);
            j->have_response = 0;
            finish(j, HONE_ECANCELED, "cancelled: the client is being freed");
            n = c->waiting.head; /* followers may have left the list */
        }
    }
    pthread_mutex_lock(&c->mu);
    job_list q = c->queue;
    c->queue.head = c->queue.tail = NULL;
    pthread_mutex_unlock(&c->mu);
    while (q.head) {
        job *j = q.head;
        list_remove(&q, j);
        finish(j, HONE_ECANCELED, "cancelled: the client is being freed");
    }
}

static int loop_task(void *arg, hone_task *task) {
    (void)task;
    hone_http_client *c = arg;
    tl_loop_client = c;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int stop = c->stopping;
        job_list q = c->queue;
        c->queue.head = c->queue.tail = NULL;
        pthread_mutex_unlock(&c->mu);
        uint64_t now = hone_now_ns();
        while (q.head) {
            job *j = q.head;
            list_remove(&q, j);
            if (stop) {
                finish(j, HONE_ECANCELED, "cancelled: the client is being freed");
                continue;
            }
            start_job(c, j, now);
        }
        if (stop) break;
        uint64_t next = run_timers(c, hone_now_ns());
        int running = 0;
        curl_multi_perform(c->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c->multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            job *j = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
            CURLcode rc = m->data.result;
            on_done(c, j, rc);
        }
        /* Attempts that just failed may have scheduled their retries. */
        for (job *j = c->waiting.head; j; j = j->next)
            if (j->due < next) next = j->due;
        long ct = -1;
        curl_multi_timeout(c->multi, &ct);
        long wait_ms = 1000;
        if (ct >= 0 && ct < wait_ms) wait_ms = ct;
        if (next != UINT64_MAX) {
            now = hone_now_ns();
            long t = next <= now ? 0 : to_ms(next - now);
            if (t < wait_ms) wait_ms = t;
        }
        if (wait_ms > 0) curl_multi_poll(c->multi, NULL, 0, (int)wait_ms, NULL);
    }
    cancel_all(c);
    tl_loop_client = NULL;
    return HONE_OK;
}

/* ------------------------------------------------------------------ */
/* Public calls                                                        */

static void client_destroy(hone_http_client *c) {
    hone_limiter_map_free(c->host_limits);
    for (size_t i = 0; i < c->nidle; i++) curl_easy_cleanup(c->idle[i]);
    if (c->multi) curl_multi_cleanup(c->multi);
    pthread_mutex_destroy(&c->mu);
    hone_free(c->alloc, c->idle);
    hone_free(c->alloc, c->sf);
    hone_free(c->alloc, c->user_agent);
    hone_free(c->alloc, c->proxy);
    hone_free(c->alloc, c);
}

int hone_http_client_new(hone_http_client **out, const hone_http_opts *opts) {
    if (!out) return HONE_EINVAL;
    *out = NULL;
    hone_http_opts o = opts ? *opts : (hone_http_opts){0};
    if (o.retry.clock) return HONE_EINVAL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        hone_log(HONE_LOG_ERROR, "http", "curl_global_init: %s", curl_easy_strerror(curl_init_rc));
        return HONE_EIO;
    }
    hone_http_client *c = hone_calloc(o.alloc, 1, sizeof *c);
    if (!c) return HONE_ENOMEM;
    c->alloc = o.alloc;
    pthread_mutex_init(&c->mu, NULL);
    c->max_per_host = o.max_per_host ? o.max_per_host : 8;
    c->max_total = o.max_total ? o.max_total : 64;
    uint64_t idle = o.idle_ns ? o.idle_ns : 4 * SEC;
    c->maxage_s = (long)((idle + SEC - 1) / SEC);
    c->connect_timeout_ns = o.connect_timeout_ns ? o.connect_timeout_ns : 5 * SEC;
    /* Zero fields come from the settings table (a malformed variable is
     * ignored here: hone_env_validate reports it). */
    c->timeout_ns = o.timeout_ns ? o.timeout_ns : hone_setting_u64(HONE_SET_HTTP_TIMEOUT, o.component);
    c->deadline_ns = o.deadline_ns ? o.deadline_ns : hone_setting_u64(HONE_SET_HTTP_DEADLINE, NULL);
    if (o.max_body) {
        c->max_body = o.max_body;
    } else {
        uint64_t mb = hone_setting_u64(HONE_SET_MAX_INPUT_SIZE, o.component);
        c->max_body = mb > SIZE_MAX ? SIZE_MAX : (size_t)mb;
    }
    c->limiter = o.limiter;
    c->retry = o.retry;
    c->breaker = o.breaker;
    c->atimeout = o.atimeout;
    c->single_flight = !o.no_single_flight;
    c->no_reuse = o.no_reuse;
    if (getrandom(&c->seed, sizeof c->seed, GRND_NONBLOCK) != (ssize_t)sizeof c->seed)
        c->seed = mix64(hone_now_ns() ^ (uint64_t)(uintptr_t)c);
    int rc = HONE_ENOMEM;
    if (!c->limiter) {
        /* flow.rate_limit (HONE_RATE_LIMIT, the config file, a preset)
         * limits each host (scheme, user and path aside: the authority of
         * the URL) of a client that brings no limiter of its own. A bad
         * variable was reported by hone_env_validate(); here it is logged
         * and the layers below it apply (off unless one sets a rate). */
        hone_setting_state st;
        hone_error err;
        if (hone_setting_get(HONE_SET_RATE_LIMIT, NULL, &st, &err))
            hone_log(HONE_LOG_WARN, "http", "%s; using %s from %s", err.msg, st.value.text,
                     st.where);
        double rate = st.value.d;
        if (!isinf(rate)) {
            hone_limiter_map_opts mo = {.rate = rate, .burst = 1, .alloc = c->alloc};
            if (hone_limiter_map_new(&c->host_limits, &mo)) goto fail;
        }
    }
    if (!c->retry.attempt_timeout_ns) c->retry.attempt_timeout_ns = c->timeout_ns;
    char ua[64];
    snprintf(ua, sizeof ua, "hone/%s", hone_version_string());
    c->user_agent = hone_strdup(c->alloc, o.user_agent ? o.user_agent : ua);
    if (!c->user_agent) goto fail;
    if (o.proxy && !(c->proxy = hone_strdup(c->alloc, o.proxy))) goto fail;
    c->idle_cap = c->max_total;
    c->idle = hone_calloc(c->alloc, c->idle_cap, sizeof *c->idle);
    if (!c->idle) goto fail;
    c->multi = curl_multi_init();
    if (!c->multi) goto fail;
    if (curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->max_per_host) ||
        curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)c->max_total) ||
        curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->max_total)) {
        rc = HONE_EIO;
        hone_log(HONE_LOG_ERROR, "http", "libcurl refused the connection limits");
        goto fail;
    }
    hone_pool_opts po = {.workers = 1, .alloc = c->alloc};
    hone_error err;
    rc = hone_pool_new(&c->pool, &po, &err);
    if (rc) {
        if (rc != HONE_ENOMEM) hone_log(HONE_LOG_ERROR, "http", "loop thread: %s", err.msg);
        goto fail;
    }
    rc = hone_pool_submit(c->pool, loop_task, c, &c->loop);
    if (rc) {
        hone_pool_free(c->pool);
        goto fail;
    }
    *out = c;
    return HONE_OK;
fail:
    client_destroy(c);
    return rc;
}

void hone_http_client_free(hone_http_client *c) {
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_mutex_unlock(&c->mu);
    curl_multi_wakeup(c->multi);
    hone_future_wait(c->loop);
    hone_future_free(c->loop);
    hone_pool_free(c->pool);
    client_destroy(c);
}

int hone_http_submit(hone_http_client *c, const hone_http_request *req, hone_http_cb cb, void *ctx) {
    if (!c || !req || !cb) return HONE_EINVAL;
    int rc = hone_http_request_check(req, NULL);
    if (rc) return rc;
    job *j = job_make(c, req, &rc);
    if (!j) return rc;
    j->cb = cb;
    j->ctx = ctx;
    j->state = J_QUEUED;
    pthread_mutex_lock(&c->mu);
    if (c->stopping) {
        pthread_mutex_unlock(&c->mu);
        job_free(c, j);
        return HONE_ECLOSED;
    }
    list_push(&c->queue, j);
    pthread_mutex_unlock(&c->mu);
    ADD(requests, 1);
    curl_multi_wakeup(c->multi);
    return HONE_OK;
}

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, status;
    hone_http_response *resp;
    hone_error *err;
} waiter;

static void do_cb(void *ctx, int status, hone_http_response *resp, const hone_error *err) {
    waiter *w = ctx;
    *w->resp = *resp;
    resp->body = NULL; /* moved to the caller */
    if (w->err) *w->err = *err;
    pthread_mutex_lock(&w->mu);
    w->status = status;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int hone_http_do(hone_http_client *c, const hone_http_request *req, hone_http_response *resp,
                 hone_error *err) {
    if (resp) memset(resp, 0, sizeof *resp);
    if (!c || !req || !resp) return hone_error_set(err, HONE_EINVAL, "hone_http_do: client, request and response are required");
    if (tl_loop_client == c)
        return hone_error_set(err, HONE_ESTATE,
                              "hone_http_do called from a callback of the same client (it would wait for its own loop)");
    int rc = hone_http_request_check(req, err);
    if (rc) return rc;
    waiter w = {.resp = resp, .err = err};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    rc = hone_http_submit(c, req, do_cb, &w);
    if (rc) {
        char wh[200];
        what(wh, sizeof wh, req->method, req->url);
        hone_error_set(err, rc, "%s: %s", wh, rc == HONE_ECLOSED ? "the client is being freed" : hone_strerror(rc));
    } else {
        pthread_mutex_lock(&w.mu);
        while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
        rc = w.status;
        pthread_mutex_unlock(&w.mu);
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return rc;
}

void hone_http_response_free(hone_http_client *c, hone_http_response *resp) {
    if (!resp) return;
    hone_free(c ? c->alloc : NULL, resp->body);
    memset(resp, 0, sizeof *resp);
}

void hone_http_stats_get(hone_http_client *c, hone_http_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!c) return;
#define LD(f) atomic_load_explicit(&c->st.f, memory_order_relaxed)
    out->requests = LD(requests);
    out->attempts = LD(attempts);
    out->retries = LD(retries);
    out->coalesced = LD(coalesced);
    out->responses_2xx = LD(r2xx);
    out->responses_3xx = LD(r3xx);
    out->responses_4xx = LD(r4xx);
    out->responses_5xx = LD(r5xx);
    out->errors = LD(errors);
    out->timeouts = LD(timeouts);
    out->connections_opened = LD(opened);
    out->reused = LD(reused);
    out->limiter_waits = LD(limiter_waits);
    out->limiter_wait_ns = LD(limiter_wait_ns);
    out->breaker_rejects = LD(breaker_rejects);
    out->budget_rejects = LD(budget_rejects);
    out->pushbacks = LD(pushbacks);
#undef LD
}

/* ------------------------------------------------------------------ */
/* Retry-After                                                         */

int hone_http_retry_after(const char *value, uint64_t *delay_ns) {
    if (!value || !delay_ns) return HONE_EINVAL;
    while (*value == ' ' || *value == '\t') value++;
    size_t n = strlen(value);
    while (n && (value[n - 1] == ' ' || value[n - 1] == '\t' || value[n - 1] == '\r' || value[n - 1] == '\n')) n--;
    if (n == 0) return HONE_EPARSE;
    size_t digits = 0;
    while (digits < n && value[digits] >= '0' && value[digits] <= '9') digits++;
    if (digits == n) {
        /* delta-seconds; UINT64_MAX is kept for "no pushback", so saturate below it. */
        uint64_t s = 0, cap = (UINT64_MAX - 1) / SEC;
        for (size_t i = 0; i < n; i++) {
            s = s * 10 + (uint64_t)(value[i] - '0');
            if (s > cap) {
                *delay_ns = UINT64_MAX - 1;
                return HONE_OK;
            }
        }
        *delay_ns = s * SEC;
        return HONE_OK;
    }
    if (n >= 128) return HONE_EPARSE; /* far longer than any date */
    char buf[128];
    memcpy(buf, value, n);
    buf[n] = '\0';
    time_t t = curl_getdate(buf, NULL);
    if (t == (time_t)-1) return HONE_EPARSE;
    time_t now = time(NULL);
    *delay_ns = t > now ? (uint64_t)(t - now) * SEC : 0;
    return HONE_OK;
}
