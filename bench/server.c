/* server.c - CPU per /metrics request of hone's embeddable server against
 * nginx serving the same bytes from a file, in the same run with the same
 * client. A child process runs a hone server with a registry of realistic
 * size (user series, three caches, a cycle collector, ten profiled zones);
 * its /metrics is fetched once and written to a file that nginx (one
 * worker, access_log off) serves. One keep-alive client (plain sockets, one
 * connection per client thread) then sends GETs to each in alternating
 * rounds, and the servers' CPU (utime + stime from /proc/PID/stat, nginx's
 * master and worker) is read before and after each round.
 * Prints name<TAB>value<TAB>unit; the cpu ratio is hone / nginx (goal <= 1).
 * Children are killed on every exit path; bounded to about 20 s (a 90 s
 * alarm kills everything if something hangs). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hone.h"

#define ROUNDS 3
#define ROUND_NS 1000000000ull
#define NGINX "/usr/sbin/nginx"

/* ---- children and cleanup ------------------------------------------ */

static volatile pid_t hone_pid = -1, nginx_pid = -1, nginx_worker = -1;
static char dir[64];

static void rm_dir(void) {
    if (!dir[0]) return;
    DIR *d = opendir(dir);
    if (d) {
        char p[512];
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (rmdir(p)) unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Reaps pid within ms milliseconds; 1 if it is gone. */
static int reap(pid_t pid, int ms) {
    for (int i = 0; i < ms; i++) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) return 1;
        usleep(1000);
    }
    return 0;
}

static void cleanup(void) {
    if (hone_pid > 0) {
        kill(hone_pid, SIGKILL);
        reap(hone_pid, 2000);
        hone_pid = -1;
    }
    if (nginx_pid > 0) {
        kill(nginx_pid, SIGTERM); /* fast shutdown, the master stops its worker */
        if (!reap(nginx_pid, 3000)) {
            kill(nginx_pid, SIGKILL);
            reap(nginx_pid, 2000);
        }
        nginx_pid = -1;
    }
    /* The worker is the master's child, not ours: if the master died
     * without stopping it, stop it here. */
    if (nginx_worker > 0 && kill(nginx_worker, 0) == 0) kill(nginx_worker, SIGKILL);
    nginx_worker = -1;
    rm_dir();
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "bench server: timed out, killing the servers\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    if (hone_pid > 0) kill(hone_pid, SIGKILL);
    if (nginx_pid > 0) kill(nginx_pid, SIGKILL);
    if (nginx_worker > 0) kill(nginx_worker, SIGKILL);
    _exit(1);
}

static int fail(const char *what) {
    fprintf(stderr, "bench server: %s\n", what);
    cleanup();
    return 1;
}

/* ---- the hone child ------------------------------------------------- */

static hone_prof_site sites[10] = {
        {"parse", __FILE__, "work", 1, HONE_LOG_WARN, 0, 0, 0, 0},
        {"plan", __FILE__, "work", 2, HONE_LOG_WARN, 0, 0, 0, 0},
        {"hash_inputs", __FILE__, "work", 3, HONE_LOG_WARN, 0, 0, 0, 0},
        {"cache_lookup", __FILE__, "work", 4, HONE_LOG_WARN, 0, 0, 0, 0},
        {"fetch", __FILE__, "work", 5, HONE_LOG_WARN, 0, 0, 0, 0},
        {"compile", __FILE__, "work", 6, HONE_LOG_WARN, 0, 0, 0, 0},
        {"link", __FILE__, "work", 7, HONE_LOG_WARN, 0, 0, 0, 0},
        {"write_outputs", __FILE__, "work", 8, HONE_LOG_WARN, 0, 0, 0, 0},
        {"validate", __FILE__, "work", 9, HONE_LOG_WARN, 0, 0, 0, 0},
        {"report", __FILE__, "work", 10, HONE_LOG_WARN, 0, 0, 0, 0},
};

static void spin(unsigned n) {
    volatile unsigned x = 0;
    for (unsigned i = 0; i < n; i++) x += i;
    (void)x; /* read once: clang counts a volatile only written as unused */
}

/* Series a service would have: requests by method and code, latency
 * histograms by route, a few gauges and byte counters. */
static int fill_registry(hone_metrics *m) {
    static const char *const methods[] = {"GET", "POST", "PUT"}, *const codes[] = {"200", "404", "500"};
    static const char *const routes[] = {"/api/items", "/api/users", "/health", "/api/search"};
    hone_metric *s;
    int rc = 0;
    uint64_t v = 88172645463325252ull;
    for (int i = 0; i < 3 && !rc; i++)
        for (int k = 0; k < 3 && !rc; k++) {
            const char *l[] = {"method", methods[i], "code", codes[k], NULL};
            rc = hone_metrics_counter(m, "app_http_requests_total", "HTTP requests served.", l, &s, NULL);
            if (!rc) rc = hone_metric_add(s, (double)(1000 * (3 - k) * (i + 1) + 17 * i + k));
        }
    for (int i = 0; i < 4 && !rc; i++) {
        const char *l[] = {"route", routes[i], NULL};
        rc = hone_metrics_histogram(m, "app_http_request_duration_seconds", "Time to answer a request.",
                                    NULL, 0, l, &s, NULL);
        for (int k = 0; k < 500 && !rc; k++) {
            v ^= v << 13, v ^= v >> 7, v ^= v << 17;
            rc = hone_metric_observe(s, (double)(v % 2000000) / 1e6 * (i + 1) / 4);
        }
        if (!rc) rc = hone_metrics_counter(m, "app_response_bytes_total", "Bytes of response bodies.", l, &s, NULL);
        if (!rc) rc = hone_metric_add(s, 123456.0 * (i + 1));
    }
    static const char *const qs[] = {"default", "bulk", "urgent"};
    for (int i = 0; i < 3 && !rc; i++) {
        const char *l[] = {"queue", qs[i], NULL};
        rc = hone_metrics_gauge(m, "app_queue_depth", "Jobs waiting in a queue.", l, &s, NULL);
        if (!rc) rc = hone_metric_set(s, (double)(7 * i));
        if (!rc) rc = hone_metrics_gauge(m, "app_queue_oldest_seconds", "Age of the oldest job waiting.", l, &s, NULL);
        if (!rc) rc = hone_metric_set(s, 0.125 * (i + 1) + 1.0 / 3);
    }
    if (!rc) rc = hone_metrics_gauge(m, "app_build_info", "Build of the service (always 1).",
                                     (const char *const[]){"version", "1.4.2", "commit", "b614d19", NULL}, &s, NULL);
    if (!rc) rc = hone_metric_set(s, 1);
    if (!rc) rc = hone_metrics_gauge(m, "app_temperature_celsius", "Temperature of the sensor.", NULL, &s, NULL);
    if (!rc) rc = hone_metric_set(s, 21.7);
    return rc;
}

static void child_main(int wfd, pid_t parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    hone_clock_init();
    hone_metrics *user;
    if (hone_metrics_new(&user, NULL) || fill_registry(user)) _exit(2);
    hone_cycle_collector *cycles;
    if (hone_cycle_collector_new(&cycles, NULL)) _exit(2);
    for (int i = 0; i < 200; i++) {
        hone_cycle *cy;
        if (hone_cycle_begin(cycles, "build", &cy)) _exit(2);
        for (int k = 0; k < i % 7; k++) hone_cycle_hit(cy);
        if (i % 3 == 0) hone_cycle_miss(cy);
        hone_cycle_file_ops(cy, (uint64_t)i);
        hone_cycle_validation(cy, 1000u * (uint64_t)i);
        hone_cycle_end(cy, i % 11 != 0);
    }
    hone_prof_enable(1);
    for (int r = 0; r < 200; r++)
        for (int i = 0; i < 10; i++) {
            hone_prof_scope z;
            hone_prof_begin(&sites[i], &z);
            spin(100u * (unsigned)(i + 1));
            hone_prof_end(&z);
        }
    hone_cache *c[3];
    for (int i = 0; i < 3; i++) {
        hone_cache_options co = {.max_entries = 1000};
        if (hone_cache_new(&c[i], &co)) _exit(2);
        char key[32], val[64], buf[64];
        for (int k = 0; k < 1500; k++) {
            int n = snprintf(key, sizeof key, "k%d", k % (400 * (i + 1)));
            size_t vl;
            if (hone_cache_get(c[i], key, (size_t)n, buf, sizeof buf, &vl) == HONE_ENOTFOUND) {
                int w = snprintf(val, sizeof val, "value of %d", k);
                hone_cache_put(c[i], key, (size_t)n, val, (size_t)w);
            }
        }
    }
    hone_server *srv;
    hone_error err;
    hone_server_opts so = {.listen = "127.0.0.1:0", .metrics = user, .cycles = cycles};
    if (hone_server_start(&srv, &so, &err)) {
        fprintf(stderr, "bench server: hone_server_start: %s\n", err.msg);
        _exit(3);
    }
    static const char *const names[] = {"builds", "fetches", "manifests"};
    for (int i = 0; i < 3; i++)
        if (hone_server_add_cache(srv, names[i], c[i])) _exit(3);
    unsigned port = hone_server_port(srv);
    if (write(wfd, &port, sizeof port) != sizeof port) _exit(4);
    /* Serve until killed (or the parent dies: PDEATHSIG). */
    for (;;) pause();
}

/* ---- a keep-alive HTTP/1.1 client ----------------------------------- */

typedef struct conn {
    int fd;
    unsigned port;
    char req[128];
    size_t reqlen;
    char *buf;
    size_t cap;
} conn;

static int conn_open(conn *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {5, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a)) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static int conn_init(conn *c, unsigned port) {
    memset(c, 0, sizeof *c);
    c->port = port;
    c->reqlen = (size_t)snprintf(c->req, sizeof c->req, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", port);
    c->cap = 1 << 20;
    if (!(c->buf = malloc(c->cap))) return -1;
    return conn_open(c);
}

static void conn_close(conn *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
}

/* One GET on the kept-alive connection; the body is c->buf[*body ..
 * *body + *len). Returns the status, or -1 (the connection is closed then). */
static int conn_get(conn *c, size_t *body, size_t *len) {
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->fd < 0 && conn_open(c)) return -1;
        if (send(c->fd, c->req, c->reqlen, MSG_NOSIGNAL) != (ssize_t)c->reqlen) goto retry;
        size_t have = 0;
        char *end = NULL;
        while (!end) {
            ssize_t n = recv(c->fd, c->buf + have, c->cap - 1 - have, 0);
            if (n <= 0) goto retry; /* the server closed a kept-alive connection: reconnect once */
            have += (size_t)n;
            c->buf[have] = 0;
            end = strstr(c->buf, "\r\n\r\n");
            if (!end && have >= c->cap - 1) return -1;
        }
        int status = 0;
        if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1) return -1;
        size_t hl = (size_t)(end - c->buf) + 4, clen = 0;
        int found = 0;
        for (char *p = c->buf; p < end; p = strstr(p, "\r\n") + 2)
            if (!strncasecmp(p, "Content-Length:", 15)) {
                clen = strtoull(p + 15, NULL, 10);
                found = 1;
            }
        if (!found || hl + clen > c->cap) return -1;
        while (have < hl + clen) {
            ssize_t n = recv(c->fd, c->buf + have, hl + clen - have, 0);
            if (n <= 0) return -1;
            have += (size_t)n;
        }
        if (have != hl + clen) return -1; /* pipelining is not used, nothing more may come */
        *body = hl;
        *len = clen;
        return status;
    retry:
        close(c->fd);
        c->fd = -1;
    }
    return -1;
}

/* ---- CPU of a process ----------------------------------------------- */

/* utime + stime of pid in microseconds (all its threads); -1 if unreadable. */
static double proc_cpu_us(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
    return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static double server_cpu_us(int nginx) {
    if (!nginx) return proc_cpu_us(hone_pid);
    double a = proc_cpu_us(nginx_pid), b = proc_cpu_us(nginx_worker);
    return a < 0 || b < 0 ? -1 : a + b;
}

/* The child of the nginx master (its one worker), or -1. */
static pid_t find_worker(pid_t master) {
    DIR *d = opendir("/proc");
    if (!d) return -1;
    pid_t found = -1;
    for (struct dirent *e; (e = readdir(d)) && found < 0;) {
        char *endp;
        long pid = strtol(e->d_name, &endp, 10);
        if (*endp || pid <= 0) continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        int ppid;
        if (p && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == master) found = (pid_t)pid;
    }
    closedir(d);
    return found;
}

static unsigned free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    unsigned port = 0;
    if (!bind(fd, (struct sockaddr *)&a, sizeof a) && !getsockname(fd, (struct sockaddr *)&a, &al))
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* ---- load ------------------------------------------------------------ */

typedef struct load {
    unsigned port;
    uint64_t until_ns;
    uint64_t requests;
    int errors;
    size_t expect;
} load;

static void *load_run(void *p) {
    load *l = p;
    conn c;
    if (conn_init(&c, l->port)) {
        l->errors++;
        conn_close(&c);
        return NULL;
    }
    while (hone_monotonic_ns() < l->until_ns) {
        for (int i = 0; i < 16; i++) {
            size_t body, len;
            int st = conn_get(&c, &body, &len);
            if (st != 200 || len < l->expect / 2) l->errors++;
            else l->requests++;
        }
        if (l->errors) break;
    }
    conn_close(&c);
    return NULL;
}

typedef struct result {
    double cpu_us, requests, seconds;
} result;

/* One timed round of `threads` clients against port; adds to *r. */
static int round_run(unsigned port, int nginx, int threads, size_t expect, result *r) {
    load l[2] = {{0}};
    pthread_t t[2];
    double c0 = server_cpu_us(nginx);
    uint64_t t0 = hone_monotonic_ns();
    for (int i = 0; i < threads; i++) {
        l[i] = (load){.port = port, .until_ns = t0 + ROUND_NS, .expect = expect};
        if (pthread_create(&t[i], NULL, load_run, &l[i])) return -1;
    }
    int errors = 0;
    uint64_t n = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        errors += l[i].errors;
        n += l[i].requests;
    }
    double s = (double)(hone_monotonic_ns() - t0) / 1e9, c1 = server_cpu_us(nginx);
    if (errors || c0 < 0 || c1 < 0) return -1;
    r->cpu_us += c1 - c0;
    r->requests += (double)n;
    r->seconds += s;
    return 0;
}

int main(void) {
    hone_clock_init();
    signal(SIGALRM, on_alarm);
    alarm(90);
    if (access(NGINX, X_OK)) {
        fprintf(stderr, "bench server: %s not found (apt install nginx-light)\n", NGINX);
        return 1;
    }
    strcpy(dir, "/tmp/hone-bench-server.XXXXXX");
    if (!mkdtemp(dir)) {
        dir[0] = 0;
        return fail("cannot make a temporary directory");
    }
    chmod(dir, 0755); /* nginx's worker runs as nobody when started by root */

    /* The hone server. */
    int pfd[2];
    if (pipe(pfd)) return fail("pipe");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return fail("fork");
    if (pid == 0) {
        close(pfd[0]);
        child_main(pfd[1], parent);
        _exit(0);
    }
    hone_pid = pid;
    close(pfd[1]);
    unsigned hport = 0;
    ssize_t got = read(pfd[0], &hport, sizeof hport);
    close(pfd[0]);
    if (got != sizeof hport || !hport) return fail("the hone server did not start");

    /* Its /metrics, written to the file nginx serves. */
    conn c;
    if (conn_init(&c, hport)) {
        conn_close(&c);
        return fail("cannot connect to the hone server");
    }
    size_t body, len;
    if (conn_get(&c, &body, &len) != 200) {
        conn_close(&c);
        return fail("GET /metrics from hone failed");
    }
    char path[256];
    snprintf(path, sizeof path, "%s/metrics", dir);
    FILE *f = fopen(path, "w");
    int wrote = f && fwrite(c.buf + body, 1, len, f) == len;
    if (f && fclose(f)) wrote = 0;
    conn_close(&c);
    if (!wrote) return fail("cannot write the metrics file");
    chmod(path, 0644);
    size_t bytes = len;

    /* nginx on a free port, serving that file. */
    unsigned nport = free_port();
    if (!nport) return fail("no free port");
    snprintf(path, sizeof path, "%s/nginx.conf", dir);
    if (!(f = fopen(path, "w"))) return fail("cannot write nginx.conf");
    fprintf(f,
            "worker_processes 1;\n"
            "pid %s/nginx.pid;\n"
            "error_log %s/error.log;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            "  access_log off;\n"
            "  sendfile on;\n"
            "  tcp_nopush on;\n"
            "  keepalive_requests 100000000;\n"
            "  client_body_temp_path %s/t1; proxy_temp_path %s/t2; fastcgi_temp_path %s/t3;\n"
            "  uwsgi_temp_path %s/t4; scgi_temp_path %s/t5;\n"
            "  server {\n"
            "    listen 127.0.0.1:%u;\n"
            "    location = /metrics {\n"
            "      default_type \"text/plain; version=0.0.4; charset=utf-8\";\n"
            "      alias %s/metrics;\n"
            "    }\n"
            "  }\n"
            "}\n",
            dir, dir, dir, dir, dir, dir, dir, nport, dir);
    if (fclose(f)) return fail("cannot write nginx.conf");
    pid = fork();
    if (pid < 0) return fail("fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        execl(NGINX, NGINX, "-p", dir, "-c", path, "-g", "daemon off;", (char *)NULL);
        _exit(127);
    }
    nginx_pid = pid;
    /* Ready when it answers and its worker is found (bounded: 5 s). */
    int ready = 0;
    for (int i = 0; i < 500 && !ready; i++) {
        if (waitpid(nginx_pid, NULL, WNOHANG) == nginx_pid) {
            nginx_pid = -1;
            return fail("nginx exited at start (see its error.log)");
        }
        conn t;
        if (conn_init(&t, nport) == 0) {
            size_t b2, l2;
            ready = conn_get(&t, &b2, &l2) == 200 && l2 == bytes;
        }
        conn_close(&t);
        if (ready) nginx_worker = find_worker(nginx_pid);
        if (nginx_worker <= 0) ready = 0;
        if (!ready) usleep(10000);
    }
    if (!ready) return fail("nginx did not serve the file within 5 s");

    /* Alternating rounds: hone c1, nginx c1, hone c2, nginx c2. */
    result r[2][2] = {{{0}}};
    uint64_t t0 = hone_monotonic_ns();
    for (int round = 0; round < ROUNDS; round++)
        for (int threads = 1; threads <= 2; threads++)
            for (int ng = 0; ng < 2; ng++)
                if (round_run(ng ? nport : hport, ng, threads, bytes, &r[ng][threads - 1]))
                    return fail(ng ? "requests to nginx failed" : "requests to hone failed");
    double bench_s = (double)(hone_monotonic_ns() - t0) / 1e9;
    cleanup();

    double hc = r[0][0].cpu_us / r[0][0].requests, nc = r[1][0].cpu_us / r[1][0].requests;
    double hc2 = r[0][1].cpu_us / r[0][1].requests, nc2 = r[1][1].cpu_us / r[1][1].requests;
    printf("server.metrics_bytes\t%zu\tbytes per /metrics\n", bytes);
    printf("server.metrics_cpu_us\t%.2f\tus of server CPU per /metrics (hone, one client)\n", hc);
    printf("server.nginx_cpu_us\t%.2f\tus of server CPU per request (nginx, same bytes from a file)\n", nc);
    printf("server.metrics_cpu.ratio\t%.2f\tx vs nginx (CPU per request, one client; goal <= 1)\n", hc / nc);
    printf("server.metrics_cpu_c2_us\t%.2f\tus of server CPU per /metrics (hone, two clients)\n", hc2);
    printf("server.nginx_cpu_c2_us\t%.2f\tus of server CPU per request (nginx, two clients)\n", nc2);
    printf("server.metrics_cpu_c2.ratio\t%.2f\tx vs nginx (CPU per request, two clients)\n", hc2 / nc2);
    printf("server.metrics.c1.rps\t%.0f\treq/s (hone /metrics, one keep-alive client)\n",
           r[0][0].requests / r[0][0].seconds);
    printf("server.nginx.c1.rps\t%.0f\treq/s (nginx, one keep-alive client)\n", r[1][0].requests / r[1][0].seconds);
    printf("server.metrics.c2.rps\t%.0f\treq/s (hone /metrics, two keep-alive clients)\n",
           r[0][1].requests / r[0][1].seconds);
    printf("server.nginx.c2.rps\t%.0f\treq/s (nginx, two keep-alive clients)\n", r[1][1].requests / r[1][1].seconds);
    printf("server.bench.seconds\t%.1f\ts\n", bench_s);
    return 0;
}
