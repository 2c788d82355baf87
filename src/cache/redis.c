/* redis.c - the cache's shared tier: hone's values in a Redis server behind
 * a pool of hiredis connections with one deadline per call, a tier-wide
 * jittered backoff gate, and a filler task that sends queued sets pipelined.
 *
 * How the pieces fit, and why:
 *
 * - hiredis connects (redisConnectWithTimeout / redisConnectUnixWithTimeout,
 *   then redisSetTimeout after every connect, because Debian's 0.14 keeps no
 *   command timeout across reconnects) and parses replies (its reader).
 *   hone formats the RESP commands itself and moves the bytes itself, with
 *   sendmsg(MSG_NOSIGNAL | MSG_DONTWAIT) and recv(MSG_DONTWAIT) around
 *   ppoll() bounded by the call's deadline. Two reasons. SIGPIPE: hiredis
 *   writes with write(), which raises SIGPIPE on a connection the server
 *   has reset, and the default action kills the process; MSG_NOSIGNAL stops
 *   it for hone's writes alone, without touching the process's signal
 *   disposition (ignoring SIGPIPE process-wide would change what a CLI
 *   writing into a closed pipe does) and without the two pthread_sigmask
 *   calls and a sigpending per write that blocking the signal costs.
 *   Deadlines: SO_RCVTIMEO and SO_SNDTIMEO (what redisSetTimeout sets)
 *   bound each system call, not the call; a server that trickles bytes
 *   could hold a blocking read loop for many timeouts. ppoll against one
 *   deadline bounds the whole call; redisSetTimeout stays as the net under
 *   any blocking call hiredis itself would make.
 * - A connection that failed in any way (I/O error, timeout, protocol
 *   error) is closed with an abortive close (SO_LINGER 0), so bytes still
 *   queued in the kernel are not delivered late, and never reused: after a
 *   timeout its reply may still arrive and would answer the next command.
 * - Backoff is per tier, not per connection: one failure closes the gate
 *   for hone_backoff_next() (full jitter), every call meanwhile is an
 *   immediate miss, and when it reopens exactly one call probes (the
 *   others keep missing at once), so a stalled server costs one caller the
 *   timeout per backoff interval, not every caller. A failure also retires
 *   every connection made before it (fail_gen), so the probe does not die
 *   on a socket the old server left behind.
 * - Values carry a 24-byte header: "HNC1", format version 1, flags 0, two
 *   reserved bytes, the value length (u64 LE), and XXH3-64 over the first
 *   16 header bytes, the full Redis key (prefix + key) and the value. A
 *   value without it, truncated, or moved to another key or prefix is a
 *   miss counted in `rejected`. The checksum finds corruption and foreign
 *   writers; it is not a MAC and does not stop a writer who means harm.
 * - TTL: values are SET with PX; a get sends GET and PTTL in one pipeline
 *   (one round trip) so the remaining TTL comes from the server's clock,
 *   which hosts sharing the tier agree on, rather than from an expiry time
 *   stamped by a writer whose clock may be skewed. Between the two
 *   commands another client may replace or delete the key: a PTTL of -2
 *   (gone) or 0 (expiring within a millisecond) is a miss; a replacement
 *   lends the old value the new value's TTL, which a cache that is not
 *   coherent across processes anyway can live with.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <hiredis/hiredis.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "cache/redis.h"
#include "hone/exec.h"
#include "hone/flow.h"

#define MS 1000000ull
#define SEC 1000000000ull

#define HDR_SIZE 24
#define FORMAT_VERSION 1
/* Redis refuses bulk strings over proto-max-bulk-len, 512 MB by default. */
#define MAX_STORED ((size_t)512 * 1024 * 1024)
/* One round trip of the filler carries at most this many commands and,
 * beyond its first command, this many bytes: 64 sets of 100 bytes are
 * 8 KB, well inside one socket buffer, and take bench/tiers' pipelined
 * rate from one round trip per set to one per 64. */
#define BATCH_MAX 64
#define BATCH_BYTES ((size_t)1 << 20)
/* PX is capped so that the server's now + ttl cannot overflow. */
#define TTL_MS_MAX ((uint64_t)1 << 45)

#define DEFAULT_TIMEOUT_NS (50 * MS)
#define DEFAULT_CONNS 4
#define DEFAULT_TTL_NS (86400 * SEC)
#define DEFAULT_QUEUE_BYTES ((size_t)64 << 20)
#define DEFAULT_QUEUE_ITEMS 10000u
#define BACKOFF_BASE_NS (10 * MS)
#define BACKOFF_CAP_NS (1 * SEC)

/* ------------------------------------------------------------------ */
/* State                                                               */

typedef struct conn {
    redisContext *ctx; /* NULL: not connected */
    uint64_t gen;      /* fail_gen when it was made */
    int busy;          /* checked out */
    int ever;          /* has been connected before: the next connect counts as a reconnect */
} conn;

/* A queued command: a SET from hone__redis_put or a DEL from
 * hone__redis_delete, formatted as RESP in data. */
typedef struct item {
    struct item *next;
    uint64_t seq;   /* puts: FIFO number from 1; dels: 0 */
    int is_del;
    int done;       /* dels: the filler is finished with it; result holds the outcome */
    int abandoned;  /* dels: the deleter stopped waiting; the filler frees it */
    int result;
    size_t len;     /* bytes of data */
    size_t koff, klen; /* the full key within data */
    char data[];
} item;

typedef struct queue {
    item *head, *tail;
} queue;

struct hone__redis {
    const hone_allocator *alloc;
    char host[256];
    unsigned port; /* 0: host is a Unix socket path */
    char *prefix;
    size_t plen;
    uint64_t timeout_ns, default_ttl_ns;
    struct timeval timeout_tv;
    size_t queue_bytes_max, queue_items_max;

    pthread_mutex_t mu;
    pthread_cond_t free_cv; /* a pool connection came back */
    pthread_cond_t work_cv; /* the filler: work queued, gate changed, stopping */
    pthread_cond_t done_cv; /* flush and delete: the filler finished a batch */

    /* Pool, under mu. */
    conn *conns;
    unsigned nconns;

    /* The gate, under mu (fail_gen is also read without it). */
    unsigned failures;  /* consecutive failures; 0: the gate is open */
    uint64_t down_until; /* no attempt before this (monotonic ns) */
    int probing;        /* one call is testing the server */
    _Atomic uint64_t fail_gen;
    hone_backoff bo;

    /* The queue, under mu. */
    queue puts, dels;
    size_t q_bytes, q_items;
    uint64_t put_seq;          /* the last seq given */
    uint64_t inflight_min_seq; /* the first put seq in the filler's batch; 0: none */
    int stopping;
    uint64_t stop_deadline;

    /* The filler's own; only it touches these. */
    conn fconn;
    item *batch[2 * BATCH_MAX];
    struct iovec iov[2 * BATCH_MAX];

    hone_pool *pool;
    hone_future *filler;

    struct {
        _Atomic uint64_t hits, misses, errors, timeouts, rejected, reconnects, puts,
            puts_dropped, skipped;
    } st;
};

#define ADD(field, v) atomic_fetch_add_explicit(&r->st.field, (uint64_t)(v), memory_order_relaxed)

static uint64_t mono(void) { return hone_monotonic_ns(); }

static struct timespec abs_ts(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / SEC), (long)(ns % SEC)};
    return ts;
}

static struct timeval ns_tv(uint64_t ns) {
    /* At least 1 ms: hiredis turns the timeval into poll() milliseconds,
     * and 0 would give up before the connection could complete. */
    if (ns < MS) ns = MS;
    struct timeval tv = {(time_t)(ns / SEC), (suseconds_t)(ns % SEC / 1000)};
    return tv;
}

/* ------------------------------------------------------------------ */
/* The gate: tier-wide backoff                                         */

/* Under mu. Returns 1 if the caller may talk to the server (*probe set
 * when it is the one call testing a server that failed), 0 if it must
 * miss at once. */
static int gate_enter(hone__redis *r, uint64_t now, int *probe) {
    *probe = 0;
    if (!r->failures) return 1;
    if (r->probing || now < r->down_until) return 0;
    r->probing = 1;
    *probe = 1;
    return 1;
}

/* Under mu. Records the outcome of a call that talked to the server. */
static void gate_report(hone__redis *r, int ok, int probe) {
    if (probe) r->probing = 0;
    if (ok) {
        if (r->failures) pthread_cond_broadcast(&r->work_cv);
        r->failures = 0;
        return;
    }
    if (r->failures < UINT_MAX) r->failures++;
    r->down_until = mono() + hone_backoff_next(&r->bo, r->failures);
    atomic_fetch_add_explicit(&r->fail_gen, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Connections and I/O                                                 */

/* I/O outcomes below HONE_OK. */
enum { IO_OK = 0, IO_FAIL = 1, IO_TIMEOUT = 2 };

static void conn_close(conn *c, int abortive) {
    if (!c->ctx) return;
    if (abortive && c->ctx->fd >= 0) {
        struct linger l = {1, 0};
        setsockopt(c->ctx->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    redisFree(c->ctx);
    c->ctx = NULL;
}

static int conn_open(hone__redis *r, conn *c, uint64_t deadline) {
    uint64_t now = mono();
    if (now >= deadline) return IO_TIMEOUT;
    struct timeval tv = ns_tv(deadline - now);
    uint64_t gen = atomic_load_explicit(&r->fail_gen, memory_order_relaxed);
    redisContext *ctx = r->port ? redisConnectWithTimeout(r->host, (int)r->port, tv)
                                : redisConnectUnixWithTimeout(r->host, tv);
    if (!ctx) return IO_FAIL; /* hiredis could not allocate its context */
    if (ctx->err) {
        int timed_out = strstr(ctx->errstr, "timed out") != NULL;
        redisFree(ctx);
        return timed_out ? IO_TIMEOUT : IO_FAIL;
    }
    if (redisSetTimeout(ctx, r->timeout_tv) != REDIS_OK) {
        redisFree(ctx);
        return IO_FAIL;
    }
    c->ctx = ctx;
    c->gen = gen;
    if (c->ever) ADD(reconnects, 1);
    c->ever = 1;
    return IO_OK;
}

/* Waits for `events` on fd until the earlier of deadline and now + idle. */
static int wait_fd(int fd, short events, uint64_t deadline, uint64_t idle_ns) {
    for (;;) {
        uint64_t now = mono();
        if (now >= deadline) return IO_TIMEOUT;
        uint64_t wait = deadline - now;
        if (wait > idle_ns) wait = idle_ns;
        struct timespec ts = {(time_t)(wait / SEC), (long)(wait % SEC)};
        struct pollfd p = {.fd = fd, .events = events};
        int n = ppoll(&p, 1, &ts, NULL);
        if (n > 0) return IO_OK; /* ready, or an error the next call reports */
        if (n == 0) return IO_TIMEOUT;
        if (errno != EINTR) return IO_FAIL;
    }
}

/* Sends every byte of iov[0..niov) (which it consumes). Never raises
 * SIGPIPE and never blocks past the deadline, or past idle_ns without
 * progress. */
static int conn_send(conn *c, struct iovec *iov, int niov, uint64_t deadline, uint64_t idle_ns) {
    int fd = c->ctx->fd;
    while (niov > 0) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)(niov < IOV_MAX ? niov : IOV_MAX)};
        ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) return IO_FAIL;
            int w = wait_fd(fd, POLLOUT, deadline, idle_ns);
            if (w) return w;
            continue;
        }
        size_t left = (size_t)n;
        while (niov > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            niov--;
        }
        if (left) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return IO_OK;
}

/* Reads one reply (the caller frees it with freeReplyObject). */
static int conn_reply(conn *c, redisReply **out, uint64_t deadline, uint64_t idle_ns) {
    redisReader *rd = c->ctx->reader;
    int fd = c->ctx->fd;
    char buf[16384];
    for (;;) {
        void *aux = NULL;
        if (redisReaderGetReply(rd, &aux) != REDIS_OK) return IO_FAIL; /* protocol error, OOM */
        if (aux) {
            *out = aux;
            return IO_OK;
        }
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            if (redisReaderFeed(rd, buf, (size_t)n) != REDIS_OK) return IO_FAIL;
            continue;
        }
        if (n == 0) return IO_FAIL; /* the server closed the connection */
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return IO_FAIL;
        int w = wait_fd(fd, POLLIN, deadline, idle_ns);
        if (w) return w;
    }
}

/* ------------------------------------------------------------------ */
/* Caller sessions: a pool connection for one call                     */

typedef struct session {
    conn *c;
    int probe;
    uint64_t deadline;
} session;

/* Counts a call that could not reach the server. */
static void count_failure(hone__redis *r, int io) {
    ADD(errors, 1);
    if (io == IO_TIMEOUT) ADD(timeouts, 1);
}

/* Checks a connection out, connecting it if needed, all by s->deadline.
 * Returns IO_OK or, with everything counted, the failure. */
static int session_begin(hone__redis *r, session *s) {
    s->c = NULL;
    pthread_mutex_lock(&r->mu);
    if (!gate_enter(r, mono(), &s->probe)) {
        pthread_mutex_unlock(&r->mu);
        ADD(errors, 1);
        ADD(skipped, 1);
        return IO_FAIL;
    }
    conn *c = NULL;
    for (;;) {
        for (unsigned i = 0; i < r->nconns && !c; i++)
            if (!r->conns[i].busy) c = &r->conns[i];
        if (c) break;
        struct timespec ts = abs_ts(s->deadline);
        if (pthread_cond_timedwait(&r->free_cv, &r->mu, &ts) == ETIMEDOUT) {
            /* Waiting for a free connection is not the server's failure:
             * the gate is left as it was, a probe handed back. */
            if (s->probe) r->probing = 0;
            pthread_mutex_unlock(&r->mu);
            count_failure(r, IO_TIMEOUT);
            return IO_TIMEOUT;
        }
    }
    c->busy = 1;
    pthread_mutex_unlock(&r->mu);
    s->c = c;
    if (c->ctx && c->gen != atomic_load_explicit(&r->fail_gen, memory_order_relaxed))
        conn_close(c, 0); /* made before a failure: likely to a server that is gone */
    if (!c->ctx) {
        int io = conn_open(r, c, s->deadline);
        if (io) {
            pthread_mutex_lock(&r->mu);
            gate_report(r, 0, s->probe);
            c->busy = 0;
            pthread_cond_signal(&r->free_cv);
            pthread_mutex_unlock(&r->mu);
            count_failure(r, io);
            return io;
        }
    }
    return IO_OK;
}

/* Returns the connection; io is the call's I/O outcome (counted here when
 * it failed, and then the connection is closed). */
static void session_end(hone__redis *r, session *s, int io) {
    if (io) {
        conn_close(s->c, 1);
        count_failure(r, io);
    }
    pthread_mutex_lock(&r->mu);
    gate_report(r, io == IO_OK, s->probe);
    s->c->busy = 0;
    pthread_cond_signal(&r->free_cv);
    pthread_mutex_unlock(&r->mu);
}

/* ------------------------------------------------------------------ */
/* RESP formatting and the value header                                */

static char *put_u64(char *p, uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

static char *put_str(char *p, const char *s, size_t n) {
    memcpy(p, s, n);
    return p + n;
}

/* "$<n>\r\n" */
static char *put_bulk_len(char *p, size_t n) {
    *p++ = '$';
    p = put_u64(p, n);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* "$<len>\r\n<prefix><key>\r\n" */
static char *put_key(const hone__redis *r, char *p, const void *key, size_t klen) {
    p = put_bulk_len(p, r->plen + klen);
    p = put_str(p, r->prefix, r->plen);
    if (klen) p = put_str(p, key, klen);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* Bytes of one key argument at most, and of the other fixed parts. */
#define BULK_OVERHEAD 25 /* '$', 20 digits, CRLF, and the CRLF after the data */
#define GET_REQ_FIXED (13 + 14 + 2 * BULK_OVERHEAD)

static size_t get_req_size(const hone__redis *r, size_t klen) {
    return GET_REQ_FIXED + 2 * (r->plen + klen);
}

/* GET key, PTTL key. Returns the end. */
static char *put_get_req(const hone__redis *r, char *p, const void *key, size_t klen) {
    p = put_str(p, "*2\r\n$3\r\nGET\r\n", 13);
    p = put_key(r, p, key, klen);
    p = put_str(p, "*2\r\n$4\r\nPTTL\r\n", 14);
    return put_key(r, p, key, klen);
}

static uint64_t hdr_checksum(const unsigned char *hdr16, const char *prefix, size_t plen,
                             const void *key, size_t klen, const void *val, size_t vlen) {
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, hdr16, 16);
    XXH3_64bits_update(&st, prefix, plen);
    if (klen) XXH3_64bits_update(&st, key, klen);
    if (vlen) XXH3_64bits_update(&st, val, vlen);
    return XXH3_64bits_digest(&st);
}

static void put_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void make_header(const hone__redis *r, unsigned char *h, const void *key, size_t klen,
                        const void *val, size_t vlen) {
    memcpy(h, "HNC1", 4);
    h[4] = FORMAT_VERSION;
    h[5] = 0; /* flags: none defined; a reader refuses what it does not know */
    h[6] = h[7] = 0;
    put_le64(h + 8, vlen);
    put_le64(h + 16, hdr_checksum(h, r->prefix, r->plen, key, klen, val, vlen));
}

/* The value inside a stored string, or NULL when the string is not one
 * hone wrote for this key. */
static const char *check_value(const hone__redis *r, const void *key, size_t klen,
                               const char *s, size_t n, size_t *vlen) {
    const unsigned char *h = (const unsigned char *)s;
    if (n < HDR_SIZE || memcmp(h, "HNC1", 4) || h[4] != FORMAT_VERSION || h[5] || h[6] || h[7])
        return NULL;
    uint64_t len = get_le64(h + 8);
    if (len != n - HDR_SIZE) return NULL;
    if (get_le64(h + 16) != hdr_checksum(h, r->prefix, r->plen, key, klen, s + HDR_SIZE, len))
        return NULL;
    *vlen = (size_t)len;
    return s + HDR_SIZE;
}

/* ------------------------------------------------------------------ */
/* Reads                                                               */

/* Interprets the GET and PTTL replies of one key. Returns HONE_OK (val
 * filled), HONE_ENOTFOUND or HONE_ENOMEM, and counts. */
static int take_value(hone__redis *r, const void *key, size_t klen, redisReply *g, redisReply *t,
                      hone_buf *val, uint64_t *ttl_left_ns) {
    if (g->type == REDIS_REPLY_NIL) {
        ADD(misses, 1);
        return HONE_ENOTFOUND;
    }
    if (g->type != REDIS_REPLY_STRING) {
        /* WRONGTYPE: someone keeps a list or a hash under hone's key. */
        if (g->type == REDIS_REPLY_ERROR && g->str && !strncmp(g->str, "WRONGTYPE", 9))
            ADD(rejected, 1);
        else
            ADD(errors, 1);
        ADD(misses, 1);
        return HONE_ENOTFOUND;
    }
    size_t vlen;
    const char *v = check_value(r, key, klen, g->str, g->len, &vlen);
    if (!v) {
        ADD(rejected, 1);
        ADD(misses, 1);
        return HONE_ENOTFOUND;
    }
    uint64_t ttl = 0;
    if (t->type != REDIS_REPLY_INTEGER || t->integer == -2 || t->integer == 0) {
        /* Gone or expiring between the GET and the PTTL (or an error
         * reply to PTTL): returning it would outlive the server's copy. */
        if (t->type != REDIS_REPLY_INTEGER) ADD(errors, 1);
        ADD(misses, 1);
        return HONE_ENOTFOUND;
    }
    if (t->integer > 0) {
        uint64_t ms = (uint64_t)t->integer;
        ttl = ms > UINT64_MAX / MS ? UINT64_MAX : ms * MS;
    }
    hone_buf_clear(val);
    if (hone_buf_append(val, v, vlen)) return HONE_ENOMEM;
    if (ttl_left_ns) *ttl_left_ns = ttl;
    ADD(hits, 1);
    return HONE_OK;
}

int hone__redis_get(hone__redis *r, const void *key, size_t klen, hone_buf *val,
                    uint64_t *ttl_left_ns) {
    if (!r || !val || (!key && klen)) return HONE_EINVAL;
    session s = {.deadline = mono() + r->timeout_ns};
    char small[512];
    size_t cap = get_req_size(r, klen);
    char *req = cap <= sizeof small ? small : hone_malloc(r->alloc, cap);
    if (!req) return HONE_ENOMEM;
    size_t len = (size_t)(put_get_req(r, req, key, klen) - req);
    int rc = HONE_ENOTFOUND;
    if (session_begin(r, &s)) {
        ADD(misses, 1);
        goto out;
    }
    struct iovec iov = {req, len};
    redisReply *g = NULL, *t = NULL;
    int io = conn_send(s.c, &iov, 1, s.deadline, UINT64_MAX);
    if (!io) io = conn_reply(s.c, &g, s.deadline, UINT64_MAX);
    if (!io) io = conn_reply(s.c, &t, s.deadline, UINT64_MAX);
    session_end(r, &s, io);
    if (io)
        ADD(misses, 1);
    else
        rc = take_value(r, key, klen, g, t, val, ttl_left_ns);
    if (g) freeReplyObject(g);
    if (t) freeReplyObject(t);
out:
    if (req != small) hone_free(r->alloc, req);
    return rc;
}

int hone__redis_get_many_ttl(hone__redis *r, size_t n, const void *const *keys,
                             const size_t *klens, hone_buf *vals, int *found,
                             uint64_t *ttl_left_ns) {
    if (!r || (n && (!keys || !klens || !vals || !found))) return HONE_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!keys[i] && klens[i]) return HONE_EINVAL;
        found[i] = 0;
        if (ttl_left_ns) ttl_left_ns[i] = 0;
    }
    if (!n) return HONE_OK;
    session s = {.deadline = mono() + r->timeout_ns};
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        size_t one = get_req_size(r, klens[i]);
        if (cap + one < cap) return HONE_ENOMEM;
        cap += one;
    }
    char *req = hone_malloc(r->alloc, cap);
    if (!req) return HONE_ENOMEM;
    char *p = req;
    for (size_t i = 0; i < n; i++) p = put_get_req(r, p, keys[i], klens[i]);
    int rc = HONE_OK;
    if (session_begin(r, &s)) {
        ADD(misses, n);
        goto out;
    }
    struct iovec iov = {req, (size_t)(p - req)};
    int io = conn_send(s.c, &iov, 1, s.deadline, UINT64_MAX);
    size_t i = 0;
    for (; !io && i < n; i++) {
        redisReply *g = NULL, *t = NULL;
        io = conn_reply(s.c, &g, s.deadline, UINT64_MAX);
        if (!io) io = conn_reply(s.c, &t, s.deadline, UINT64_MAX);
        if (!io && rc == HONE_OK) {
            /* Copying here, with the connection still held, keeps one
             * reply pair alive at a time instead of 2n. */
            int v = take_value(r, keys[i], klens[i], g, t, &vals[i],
                               ttl_left_ns ? &ttl_left_ns[i] : NULL);
            if (v == HONE_OK) found[i] = 1;
            else if (v == HONE_ENOMEM) rc = HONE_ENOMEM; /* keep reading: the replies are owed */
        }
        if (g) freeReplyObject(g);
        if (t) freeReplyObject(t);
    }
    session_end(r, &s, io);
    if (io) ADD(misses, n - (i ? i - 1 : 0));
out:
    if (rc == HONE_ENOMEM)
        for (size_t j = 0; j < n; j++) found[j] = 0;
    hone_free(r->alloc, req);
    return rc;
}

int hone__redis_get_many(hone__redis *r, size_t n, const void *const *keys, const size_t *klens,
                         hone_buf *vals, int *found) {
    return hone__redis_get_many_ttl(r, n, keys, klens, vals, found, NULL);
}

/* ------------------------------------------------------------------ */
/* The queue                                                           */

static void q_push(queue *q, item *it) {
    it->next = NULL;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
}

static item *q_pop(queue *q) {
    item *it = q->head;
    if (it) {
        q->head = it->next;
        if (!q->head) q->tail = NULL;
        it->next = NULL;
    }
    return it;
}

/* Under mu: frees every queued put; returns how many. */
static uint64_t drop_puts(hone__redis *r) {
    uint64_t n = 0;
    item *it;
    while ((it = q_pop(&r->puts))) {
        r->q_bytes -= it->len;
        r->q_items--;
        hone_free(r->alloc, it);
        n++;
    }
    return n;
}

/* Under mu: settles every queued delete as failed. */
static void fail_dels(hone__redis *r) {
    item *it;
    while ((it = q_pop(&r->dels))) {
        r->q_bytes -= it->len;
        r->q_items--;
        if (it->abandoned) {
            hone_free(r->alloc, it);
        } else {
            it->done = 1;
            it->result = HONE_EIO;
        }
    }
    pthread_cond_broadcast(&r->done_cv);
}

int hone__redis_put(hone__redis *r, const void *key, size_t klen, const void *val, size_t vlen,
                    uint64_t ttl_ns) {
    if (!r || (!key && klen) || (!val && vlen)) return HONE_EINVAL;
    size_t flen = r->plen + klen;
    if (vlen > MAX_STORED - HDR_SIZE || flen > MAX_STORED) return HONE_EINVAL;
    if (!ttl_ns) ttl_ns = r->default_ttl_ns;
    uint64_t ms = ttl_ns / MS + (ttl_ns % MS != 0);
    if (ms > TTL_MS_MAX) ms = TTL_MS_MAX;
    size_t cap = 13 + BULK_OVERHEAD + flen + BULK_OVERHEAD + HDR_SIZE + vlen + 8 + BULK_OVERHEAD;
    item *it = hone_malloc(r->alloc, sizeof *it + cap);
    if (!it) return HONE_ENOMEM;
    memset(it, 0, sizeof *it);
    char *p = put_str(it->data, "*5\r\n$3\r\nSET\r\n", 13);
    p = put_bulk_len(p, flen);
    it->koff = (size_t)(p - it->data);
    it->klen = flen;
    p = put_str(p, r->prefix, r->plen);
    if (klen) p = put_str(p, key, klen);
    p = put_str(p, "\r\n", 2);
    p = put_bulk_len(p, HDR_SIZE + vlen);
    make_header(r, (unsigned char *)p, key, klen, val, vlen);
    p += HDR_SIZE;
    if (vlen) p = put_str(p, val, vlen);
    p = put_str(p, "\r\n$2\r\nPX\r\n", 10);
    char digits[24];
    size_t nd = (size_t)(put_u64(digits, ms) - digits);
    p = put_bulk_len(p, nd);
    p = put_str(p, digits, nd);
    p = put_str(p, "\r\n", 2);
    it->len = (size_t)(p - it->data);

    pthread_mutex_lock(&r->mu);
    /* The byte bound admits one put of any size into an empty queue, so a
     * value bigger than the bound can still be cached when Redis keeps up. */
    if (r->stopping || r->q_items >= r->queue_items_max ||
        (r->q_items && r->q_bytes + it->len > r->queue_bytes_max)) {
        pthread_mutex_unlock(&r->mu);
        hone_free(r->alloc, it);
        ADD(puts, 1);
        ADD(puts_dropped, 1);
        return HONE_OK;
    }
    it->seq = ++r->put_seq;
    q_push(&r->puts, it);
    r->q_bytes += it->len;
    r->q_items++;
    pthread_cond_signal(&r->work_cv);
    pthread_mutex_unlock(&r->mu);
    ADD(puts, 1);
    return HONE_OK;
}

int hone__redis_delete(hone__redis *r, const void *key, size_t klen) {
    if (!r || (!key && klen)) return HONE_EINVAL;
    size_t flen = r->plen + klen;
    if (flen > MAX_STORED) return HONE_EINVAL;
    item *it = hone_malloc(r->alloc, sizeof *it + 13 + BULK_OVERHEAD + flen);
    if (!it) return HONE_ENOMEM;
    memset(it, 0, sizeof *it);
    it->is_del = 1;
    char *p = put_str(it->data, "*2\r\n$3\r\nDEL\r\n", 13);
    p = put_bulk_len(p, flen);
    it->koff = (size_t)(p - it->data);
    it->klen = flen;
    p = put_str(p, r->prefix, r->plen);
    if (klen) p = put_str(p, key, klen);
    p = put_str(p, "\r\n", 2);
    it->len = (size_t)(p - it->data);

    uint64_t deadline = mono() + r->timeout_ns;
    pthread_mutex_lock(&r->mu);
    /* Queued puts of the key would overwrite the delete: drop them. A put
     * already in the filler's batch goes out on the filler's connection
     * before this DEL, which the filler sends on the same connection, so
     * Redis applies them in that order. */
    item **pp = &r->puts.head, *prev = NULL;
    while (*pp) {
        item *q = *pp;
        if (q->klen == flen && !memcmp(q->data + q->koff, it->data + it->koff, flen)) {
            *pp = q->next;
            if (r->puts.tail == q) r->puts.tail = prev;
            r->q_bytes -= q->len;
            r->q_items--;
            hone_free(r->alloc, q);
        } else {
            prev = q;
            pp = &q->next;
        }
    }
    if (r->stopping || r->q_items >= r->queue_items_max) {
        pthread_mutex_unlock(&r->mu);
        hone_free(r->alloc, it);
        ADD(errors, 1);
        return HONE_EIO;
    }
    q_push(&r->dels, it);
    r->q_bytes += it->len;
    r->q_items++;
    pthread_cond_signal(&r->work_cv);
    int rc;
    if (r->failures && (r->probing || mono() < r->down_until)) {
        /* The server is failing: do not wait for it. The DEL stays queued
         * and goes out when the gate opens again. */
        it->abandoned = 1;
        ADD(errors, 1);
        ADD(skipped, 1);
        rc = HONE_EIO;
    } else {
        struct timespec ts = abs_ts(deadline);
        while (!it->done && pthread_cond_timedwait(&r->done_cv, &r->mu, &ts) != ETIMEDOUT) {
        }
        if (it->done) {
            rc = it->result;
            hone_free(r->alloc, it);
        } else {
            it->abandoned = 1;
            count_failure(r, IO_TIMEOUT);
            rc = HONE_EIO;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int hone__redis_flush(hone__redis *r) {
    if (!r) return HONE_EINVAL;
    uint64_t deadline = mono() + r->timeout_ns;
    struct timespec ts = abs_ts(deadline);
    int rc = HONE_OK;
    pthread_mutex_lock(&r->mu);
    uint64_t target = r->put_seq;
    while ((r->puts.head && r->puts.head->seq <= target) ||
           (r->inflight_min_seq && r->inflight_min_seq <= target)) {
        if (pthread_cond_timedwait(&r->done_cv, &r->mu, &ts) == ETIMEDOUT) {
            rc = HONE_ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The filler                                                          */

/* Sends batch[0..n) on the filler's connection and reads each reply into
 * the item's result. Returns the I/O outcome. */
static int send_batch(hone__redis *r, size_t n, uint64_t deadline) {
    conn *c = &r->fconn;
    if (c->ctx && c->gen != atomic_load_explicit(&r->fail_gen, memory_order_relaxed))
        conn_close(c, 0);
    if (!c->ctx) {
        uint64_t now = mono();
        uint64_t cd = now + r->timeout_ns < deadline ? now + r->timeout_ns : deadline;
        int io = conn_open(r, c, cd);
        if (io) return io;
    }
    for (size_t i = 0; i < n; i++) {
        r->iov[i].iov_base = r->batch[i]->data;
        r->iov[i].iov_len = r->batch[i]->len;
    }
    /* The filler runs for no caller, so a big batch may take as long as it
     * needs while it makes progress: the timeout bounds each wait, the
     * deadline only the drain at close. */
    int io = conn_send(c, r->iov, (int)n, deadline, r->timeout_ns);
    for (size_t i = 0; !io && i < n; i++) {
        redisReply *rep = NULL;
        io = conn_reply(c, &rep, deadline, r->timeout_ns);
        if (io) break;
        item *it = r->batch[i];
        if (it->is_del)
            it->result = rep->type == REDIS_REPLY_INTEGER ? HONE_OK : HONE_EIO;
        else
            it->result = rep->type == REDIS_REPLY_STATUS ? HONE_OK : HONE_EIO;
        freeReplyObject(rep);
    }
    if (io) conn_close(c, 1);
    return io;
}

static int filler_task(void *arg, hone_task *task) {
    (void)task;
    hone__redis *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        if (!r->dels.head && !r->puts.head) {
            if (r->stopping) break;
            pthread_cond_wait(&r->work_cv, &r->mu);
            continue;
        }
        uint64_t now = mono();
        if (r->stopping && now >= r->stop_deadline) break;
        int probe;
        if (!gate_enter(r, now, &probe)) {
            if (r->stopping) break; /* no waiting out a backoff at close */
            uint64_t until = r->probing ? now + r->timeout_ns : r->down_until;
            struct timespec ts = abs_ts(until);
            pthread_cond_timedwait(&r->work_cv, &r->mu, &ts);
            continue;
        }
        /* Deletes first: they may have jumped puts of other keys, never
         * puts of their own key (those were dropped). */
        size_t n = 0, bytes = 0;
        while (n < BATCH_MAX && r->dels.head) {
            item *it = q_pop(&r->dels);
            r->batch[n++] = it;
            bytes += it->len;
        }
        size_t nd = n;
        r->inflight_min_seq = r->puts.head ? r->puts.head->seq : 0;
        while (n < nd + BATCH_MAX && r->puts.head && (n == 0 || bytes + r->puts.head->len <= BATCH_BYTES)) {
            item *it = q_pop(&r->puts);
            r->batch[n++] = it;
            bytes += it->len;
        }
        if (n == nd) r->inflight_min_seq = 0;
        r->q_bytes -= bytes;
        r->q_items -= n;
        uint64_t deadline = r->stopping ? r->stop_deadline : UINT64_MAX;
        pthread_mutex_unlock(&r->mu);

        int io = send_batch(r, n, deadline);

        pthread_mutex_lock(&r->mu);
        gate_report(r, io == IO_OK, probe);
        uint64_t dropped = 0;
        for (size_t i = 0; i < n; i++) {
            item *it = r->batch[i];
            if (io) it->result = HONE_EIO;
            if (!it->is_del) {
                if (it->result) dropped++;
                hone_free(r->alloc, it);
            } else if (it->abandoned) {
                hone_free(r->alloc, it);
            } else {
                it->done = 1;
            }
        }
        /* Counted before waking the waiters, so a flush that returns
         * finds its puts in the stats. */
        if (io) count_failure(r, io);
        if (dropped) ADD(puts_dropped, dropped);
        r->inflight_min_seq = 0;
        pthread_cond_broadcast(&r->done_cv);
    }
    /* Stopping with work left (the server is down or slow): it is lost. */
    uint64_t lost = drop_puts(r);
    if (lost) ADD(puts_dropped, lost);
    fail_dels(r);
    pthread_mutex_unlock(&r->mu);
    conn_close(&r->fconn, 0);
    return HONE_OK;
}

/* ------------------------------------------------------------------ */
/* Open and close                                                      */

static void destroy(hone__redis *r) {
    if (r->conns)
        for (unsigned i = 0; i < r->nconns; i++) conn_close(&r->conns[i], 0);
    hone_free(r->alloc, r->conns);
    hone_free(r->alloc, r->prefix);
    pthread_cond_destroy(&r->done_cv);
    pthread_cond_destroy(&r->work_cv);
    pthread_cond_destroy(&r->free_cv);
    pthread_mutex_destroy(&r->mu);
    hone_free(r->alloc, r);
}

int hone__redis_open(hone__redis **out, const hone__redis_options *o, hone_error *err) {
    if (!out) return hone_error_set(err, HONE_EINVAL, "redis tier: no place for the handle");
    *out = NULL;
    if (!o || !o->addr)
        return hone_error_set(err, HONE_EINVAL,
                              "redis tier: no address: expected HOST:PORT or a socket path");
    char host[256];
    unsigned port = 0;
    int rc = hone_parse_addr("redis address", o->addr, host, sizeof host, &port, err);
    if (rc) return rc;
    unsigned nconns = o->connections ? o->connections : DEFAULT_CONNS;
    if (nconns > 1024)
        return hone_error_set(err, HONE_EINVAL,
                              "redis tier: connections=%u: expected 1 to 1024", nconns);
    if (o->timeout_ns > 3600 * SEC)
        return hone_error_set(err, HONE_EINVAL,
                              "redis tier: timeout=%llu ns: expected at most one hour",
                              (unsigned long long)o->timeout_ns);
    hone__redis *r = hone_calloc(o->alloc, 1, sizeof *r);
    if (!r) return HONE_ENOMEM;
    r->alloc = o->alloc;
    memcpy(r->host, host, sizeof host);
    r->port = port;
    r->timeout_ns = o->timeout_ns ? o->timeout_ns : DEFAULT_TIMEOUT_NS;
    r->timeout_tv = ns_tv(r->timeout_ns);
    r->default_ttl_ns = o->default_ttl_ns ? o->default_ttl_ns : DEFAULT_TTL_NS;
    r->queue_bytes_max = o->queue_bytes ? o->queue_bytes : DEFAULT_QUEUE_BYTES;
    r->queue_items_max = o->queue_items ? o->queue_items : DEFAULT_QUEUE_ITEMS;
    r->nconns = nconns;
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->free_cv, &ca);
    pthread_cond_init(&r->work_cv, &ca);
    pthread_cond_init(&r->done_cv, &ca);
    pthread_condattr_destroy(&ca);
    hone_backoff_opts bo = {.base_ns = BACKOFF_BASE_NS, .cap_ns = BACKOFF_CAP_NS,
                            .jitter = HONE_JITTER_FULL};
    hone_backoff_init(&r->bo, &bo, 0);
    const char *prefix = o->prefix ? o->prefix : "hone:";
    r->plen = strlen(prefix);
    r->prefix = hone_strdup(r->alloc, prefix);
    r->conns = hone_calloc(r->alloc, nconns, sizeof *r->conns);
    if (!r->prefix || !r->conns) {
        destroy(r);
        return HONE_ENOMEM;
    }
    hone_pool_opts po = {.workers = 1, .alloc = r->alloc};
    hone_error perr;
    rc = hone_pool_new(&r->pool, &po, &perr);
    if (rc) {
        destroy(r);
        if (rc == HONE_ENOMEM) return rc;
        return hone_error_set(err, rc, "redis tier: filler thread: %s", perr.msg);
    }
    rc = hone_pool_submit(r->pool, filler_task, r, &r->filler);
    if (rc) {
        hone_pool_free(r->pool);
        destroy(r);
        return rc;
    }
    *out = r;
    return HONE_OK;
}

void hone__redis_close(hone__redis *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    r->stop_deadline = mono() + r->timeout_ns;
    pthread_cond_broadcast(&r->work_cv);
    pthread_mutex_unlock(&r->mu);
    hone_future_wait(r->filler);
    hone_future_free(r->filler);
    hone_pool_free(r->pool);
    destroy(r);
}

void hone__redis_stats_get(hone__redis *r, hone__redis_stats *st) {
    memset(st, 0, sizeof *st);
    if (!r) return;
#define LD(f) st->f = atomic_load_explicit(&r->st.f, memory_order_relaxed)
    LD(hits);
    LD(misses);
    LD(errors);
    LD(timeouts);
    LD(rejected);
    LD(reconnects);
    LD(puts);
    LD(puts_dropped);
    LD(skipped);
#undef LD
}
