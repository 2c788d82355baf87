/* http_server.c - the loopback HTTP server (libmicrohttpd) of the http demo
 * step, the http tests and the http bench: see http_server.h. */
#include "http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct cli_loopback {
    struct MHD_Daemon *d;
    unsigned short port;
    atomic_int stopping, gate_open;
    _Atomic uint64_t requests, connections, flaky, failed, echo, gate;
    pthread_mutex_t mu; /* guards the failure plan */
    unsigned fail_left, fail_status;
    char retry_after[64];
};

static const char hello[] = "hello from hone's loopback server\n";

/* A request body being received (for /echo), or a marker for requests
 * whose body is ignored. */
typedef struct upload {
    char *data;
    size_t len, cap;
    int too_big;
} upload;

static void sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long query_long(struct MHD_Connection *conn, const char *name, long def, long lo, long hi) {
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
    if (!v || !*v) return def;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > hi) return -1;
    return x;
}

static enum MHD_Result send_buf(struct MHD_Connection *conn, unsigned status, const void *data,
                                size_t len, const char *retry_after) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/plain");
    if (retry_after) MHD_add_response_header(r, "Retry-After", retry_after);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* /close: a body announced as 1000 bytes of which 100 are sent. */
static ssize_t close_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)cls;
    if (pos >= 100) return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = 100 - (size_t)pos;
    if (n > max) n = max;
    memset(buf, 'c', n);
    return (ssize_t)n;
}

typedef struct big_body {
    uint64_t size;
} big_body;

static ssize_t big_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    big_body *b = cls;
    if (pos >= b->size) return MHD_CONTENT_READER_END_OF_STREAM;
    uint64_t n = b->size - pos;
    if (n > max) n = max;
    memset(buf, 'x', (size_t)n);
    return (ssize_t)n;
}

static void big_free(void *cls) { free(cls); }

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **con_cls) {
    (void)version;
    cli_loopback *s = cls;
    int is_echo = !strcmp(url, "/echo");
    if (!*con_cls) {
        /* First call for this request: headers only. */
        upload *u = calloc(1, sizeof *u);
        if (!u) return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    upload *u = *con_cls;
    if (*upload_size) {
        if (is_echo && !u->too_big) {
            if (u->len + *upload_size > (1u << 20)) {
                u->too_big = 1;
            } else {
                if (u->len + *upload_size > u->cap) {
                    size_t nc = (u->len + *upload_size) * 2;
                    char *nd = realloc(u->data, nc);
                    if (!nd) return MHD_NO;
                    u->data = nd;
                    u->cap = nc;
                }
                memcpy(u->data + u->len, upload_data, *upload_size);
                u->len += *upload_size;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&s->requests, 1);
    if (!strcmp(url, "/")) return send_buf(conn, 200, hello, sizeof hello - 1, NULL);
    if (!strcmp(url, "/flaky")) {
        atomic_fetch_add(&s->flaky, 1);
        unsigned status = 0;
        char ra[64] = "";
        pthread_mutex_lock(&s->mu);
        if (s->fail_left) {
            s->fail_left--;
            status = s->fail_status;
            memcpy(ra, s->retry_after, sizeof ra);
        }
        pthread_mutex_unlock(&s->mu);
        if (status) {
            atomic_fetch_add(&s->failed, 1);
            static const char busy[] = "busy, try again\n";
            return send_buf(conn, status, busy, sizeof busy - 1, ra[0] ? ra : NULL);
        }
        return send_buf(conn, 200, hello, sizeof hello - 1, NULL);
    }
    if (!strcmp(url, "/stall")) {
        long ms = query_long(conn, "ms", 1000, 0, 10000);
        if (ms < 0) return send_buf(conn, 400, "bad ms\n", 7, NULL);
        for (long t = 0; t < ms && !atomic_load(&s->stopping); t += 5) sleep_ms(5);
        return send_buf(conn, 200, hello, sizeof hello - 1, NULL);
    }
    if (!strcmp(url, "/gate")) {
        atomic_fetch_add(&s->gate, 1);
        for (int t = 0; t < 10000 && !atomic_load(&s->gate_open) && !atomic_load(&s->stopping); t += 2)
            sleep_ms(2);
        return send_buf(conn, 200, hello, sizeof hello - 1, NULL);
    }
    if (!strcmp(url, "/close")) {
        struct MHD_Response *r = MHD_create_response_from_callback(1000, 256, close_reader, NULL, NULL);
        if (!r) return MHD_NO;
        enum MHD_Result ret = MHD_queue_response(conn, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (!strcmp(url, "/big")) {
        long size = query_long(conn, "size", 1 << 20, 0, 1L << 30);
        long chunked = query_long(conn, "chunked", 0, 0, 1);
        if (size < 0 || chunked < 0) return send_buf(conn, 400, "bad size\n", 9, NULL);
        big_body *b = malloc(sizeof *b);
        if (!b) return MHD_NO;
        b->size = (uint64_t)size;
        struct MHD_Response *r = MHD_create_response_from_callback(
            chunked ? MHD_SIZE_UNKNOWN : (uint64_t)size, 64 * 1024, big_reader, b, big_free);
        if (!r) {
            free(b);
            return MHD_NO;
        }
        enum MHD_Result ret = MHD_queue_response(conn, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (is_echo) {
        atomic_fetch_add(&s->echo, 1);
        const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
        char head[160];
        int n = snprintf(head, sizeof head, "%s %zu %s\n", method, u->len, key ? key : "-");
        size_t total = (size_t)n + u->len;
        char *out = malloc(total + 1);
        if (!out) return MHD_NO;
        memcpy(out, head, (size_t)n);
        if (u->len) memcpy(out + n, u->data, u->len);
        struct MHD_Response *r = MHD_create_response_from_buffer(total, out, MHD_RESPMEM_MUST_FREE);
        if (!r) {
            free(out);
            return MHD_NO;
        }
        enum MHD_Result ret = MHD_queue_response(conn, u->too_big ? 413 : 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (!strcmp(url, "/status")) {
        long code = query_long(conn, "code", 200, 100, 599);
        if (code < 0) return send_buf(conn, 400, "bad code\n", 9, NULL);
        return send_buf(conn, (unsigned)code, "", 0, NULL);
    }
    return send_buf(conn, 404, "not found\n", 10, NULL);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)conn, (void)toe;
    upload *u = *con_cls;
    if (u) {
        free(u->data);
        free(u);
        *con_cls = NULL;
    }
}

static void notify_conn(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                        enum MHD_ConnectionNotificationCode toe) {
    (void)conn, (void)socket_ctx;
    cli_loopback *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) atomic_fetch_add(&s->connections, 1);
}

int cli_loopback_start(cli_loopback **out, unsigned threads, int thread_per_connection, char *err,
                       size_t err_size) {
    *out = NULL;
    cli_loopback *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    pthread_mutex_init(&s->mu, NULL);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    if (thread_per_connection)
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    else
        flags |= MHD_USE_AUTO;
    if (threads < 1) threads = 1;
    struct MHD_OptionItem pool[] = {
        {thread_per_connection ? MHD_OPTION_END : MHD_OPTION_THREAD_POOL_SIZE, threads, NULL},
        {MHD_OPTION_END, 0, NULL}};
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, notify_conn, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000, MHD_OPTION_ARRAY, pool,
                            MHD_OPTION_END);
    if (!s->d) {
        snprintf(err, err_size, "libmicrohttpd could not listen on 127.0.0.1");
        pthread_mutex_destroy(&s->mu);
        free(s);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    if (!s->port) {
        snprintf(err, err_size, "libmicrohttpd did not say which port it bound");
        MHD_stop_daemon(s->d);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void cli_loopback_stop(cli_loopback *s) {
    if (!s) return;
    atomic_store(&s->stopping, 1);
    MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

unsigned short cli_loopback_port(const cli_loopback *s) { return s->port; }

char *cli_loopback_url(const cli_loopback *s, const char *path, char *buf, size_t size) {
    snprintf(buf, size, "http://127.0.0.1:%u%s", (unsigned)s->port, path ? path : "/");
    return buf;
}

void cli_loopback_fail_next(cli_loopback *s, unsigned n, unsigned status, const char *retry_after) {
    pthread_mutex_lock(&s->mu);
    s->fail_left = n;
    s->fail_status = status;
    snprintf(s->retry_after, sizeof s->retry_after, "%s", retry_after ? retry_after : "");
    pthread_mutex_unlock(&s->mu);
}

void cli_loopback_gate(cli_loopback *s, int open) { atomic_store(&s->gate_open, open); }

void cli_loopback_counts_get(cli_loopback *s, cli_loopback_counts *out) {
    out->requests = atomic_load(&s->requests);
    out->connections = atomic_load(&s->connections);
    out->flaky = atomic_load(&s->flaky);
    out->failed = atomic_load(&s->failed);
    out->echo = atomic_load(&s->echo);
    out->gate = atomic_load(&s->gate);
}

void cli_loopback_counts_reset(cli_loopback *s) {
    atomic_store(&s->requests, 0);
    atomic_store(&s->connections, 0);
    atomic_store(&s->flaky, 0);
    atomic_store(&s->failed, 0);
    atomic_store(&s->echo, 0);
    atomic_store(&s->gate, 0);
}
