/* process.c - this process's CPU, memory, threads, descriptors and
 * context switches, from /proc/self and getrusage(). */
#include "hone/metrics.h"
#include "metrics/metrics_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* /proc/self/stat and /proc/self/fd stay open between reads (a scrape
 * reads them every time, and opening them cost more than reading): the
 * stat file is read again from offset 0, the directory rewound and listed
 * again, so every figure is the one at the time of the read. After a fork
 * they name the parent, so a changed pid reopens them; both are
 * close-on-exec. The descriptors kept here are not counted in open_fds. */
static pthread_mutex_t g_proc_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t g_proc_pid;
static int g_stat_fd = -1;
static DIR *g_fd_dir;

static int proc_open_locked(void) {
    pid_t pid = getpid();
    if (g_proc_pid == pid && g_stat_fd >= 0 && g_fd_dir) return HONE_OK;
    if (g_stat_fd >= 0) close(g_stat_fd);
    if (g_fd_dir) closedir(g_fd_dir);
    g_stat_fd = -1;
    g_fd_dir = NULL;
    g_proc_pid = pid;
    g_stat_fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0 && !(g_fd_dir = fdopendir(dfd))) close(dfd);
    if (g_stat_fd < 0 || !g_fd_dir) {
        if (g_stat_fd >= 0) close(g_stat_fd);
        if (g_fd_dir) closedir(g_fd_dir);
        g_stat_fd = -1;
        g_fd_dir = NULL;
        return HONE_EIO;
    }
    return HONE_OK;
}

/* The next space-separated number after *p; advances *p. */
static unsigned long long next_num(const char **p) {
    const char *s = *p;
    while (*s == ' ') s++;
    unsigned long long v = 0;
    for (; *s >= '0' && *s <= '9'; s++) v = v * 10 + (unsigned long long)(*s - '0');
    while (*s && *s != ' ') s++; /* a negative or odd field: skipped */
    *p = s;
    return v;
}

/* The fields of /proc/self/stat after the command name, which may itself
 * hold spaces and parentheses: parse from the last ')'. */
static int read_stat_locked(hone_process_stats *st) {
    char buf[1024];
    ssize_t n = pread(g_stat_fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return HONE_EIO;
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2]) return HONE_EIO;
    p += 3; /* field 3, the state */
    while (*p && *p != ' ') p++;
    unsigned long long v[25] = {0};
    /* Fields 4 .. 24 (rss, in pages). */
    for (int k = 4; k <= 24; k++) {
        if (!*p) return HONE_EIO;
        v[k] = next_num(&p);
    }
    st->threads = (uint32_t)v[20];
    st->virtual_bytes = v[23];
    st->rss_bytes = v[24] * (uint64_t)sysconf(_SC_PAGESIZE);
    return HONE_OK;
}

/* Open descriptors now, apart from the two kept here. */
static int count_fds_locked(uint32_t *out) {
    rewinddir(g_fd_dir);
    uint32_t fds = 0;
    errno = 0;
    for (struct dirent *e; (e = readdir(g_fd_dir));)
        if (e->d_name[0] != '.') fds++;
    if (errno) return HONE_EIO;
    *out = fds >= 2 ? fds - 2 : 0;
    return HONE_OK;
}

int hone_process_stats_read(hone_process_stats *st) {
    if (!st) return HONE_EINVAL;
    memset(st, 0, sizeof *st);
    st->wall_ns = hone_monotonic_ns();
    pthread_mutex_lock(&g_proc_mu);
    int rc = proc_open_locked();
    if (!rc) rc = read_stat_locked(st);
    if (!rc) rc = count_fds_locked(&st->open_fds);
    pthread_mutex_unlock(&g_proc_mu);
    if (rc) return rc;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return HONE_EIO;
    st->cpu_user_ns = (uint64_t)ru.ru_utime.tv_sec * 1000000000u + (uint64_t)ru.ru_utime.tv_usec * 1000u;
    st->cpu_system_ns = (uint64_t)ru.ru_stime.tv_sec * 1000000000u + (uint64_t)ru.ru_stime.tv_usec * 1000u;
    st->peak_rss_bytes = (uint64_t)ru.ru_maxrss * 1024u;
    if (st->peak_rss_bytes < st->rss_bytes) st->peak_rss_bytes = st->rss_bytes;
    st->ctx_voluntary = (uint64_t)ru.ru_nvcsw;
    st->ctx_involuntary = (uint64_t)ru.ru_nivcsw;
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psize > 0) st->mem_total_bytes = (uint64_t)pages * (uint64_t)psize;
    st->mem_percent = st->mem_total_bytes ? 100.0 * (double)st->rss_bytes / (double)st->mem_total_bytes : 0;
    return HONE_OK;
}

double hone_process_cpu_percent(const hone_process_stats *prev, const hone_process_stats *cur) {
    if (!prev || !cur || cur->wall_ns <= prev->wall_ns) return 0;
    uint64_t c0 = prev->cpu_user_ns + prev->cpu_system_ns, c1 = cur->cpu_user_ns + cur->cpu_system_ns;
    if (c1 < c0) return 0;
    return 100.0 * (double)(c1 - c0) / (double)(cur->wall_ns - prev->wall_ns);
}

/* Sets one gauge or counter; stops at the first error. */
static int put(hone_metrics *m, int counter, const char *name, const char *help, const char *const *labels,
               double v, hone_error *err) {
    hone_metric *s;
    int rc = counter ? hone_metrics_counter(m, name, help, labels, &s, err)
                     : hone_metrics_gauge(m, name, help, labels, &s, err);
    if (rc) return rc;
    rc = hone_metric_set(s, v);
    /* A counter read from the kernel never goes back; if it seems to, the
     * larger value already exposed stays. */
    return rc == HONE_ERANGE ? HONE_OK : rc;
}

int hone_metrics_update_process(hone_metrics *m, hone_error *err) {
    if (!m) return hone_error_set(err, HONE_EINVAL, "no registry");
    hone_process_stats st, prev;
    int rc = hone_process_stats_read(&st);
    if (rc) return hone_error_set(err, rc, "cannot read /proc/self: %s", hone_strerror(rc));
    int have_prev = hone__metrics_last_process(m, &st, &prev);
    static const char *const vol[] = {"kind", "voluntary", NULL}, *const invol[] = {"kind", "involuntary", NULL};
    (void)((rc = put(m, 1, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", NULL,
                     (double)(st.cpu_user_ns + st.cpu_system_ns) / 1e9, err)) ||
           (rc = put(m, 0, "process_resident_memory_bytes", "Resident memory size in bytes.", NULL,
                     (double)st.rss_bytes, err)) ||
           (rc = put(m, 0, "process_virtual_memory_bytes", "Virtual memory size in bytes.", NULL,
                     (double)st.virtual_bytes, err)) ||
           (rc = put(m, 0, "process_open_fds", "Number of open file descriptors.", NULL, st.open_fds, err)) ||
           (rc = put(m, 0, "hone_process_peak_resident_memory_bytes", "Peak resident memory size in bytes.",
                     NULL, (double)st.peak_rss_bytes, err)) ||
           (rc = put(m, 0, "hone_process_memory_percent", "Resident memory in percent of the machine's memory.",
                     NULL, st.mem_percent, err)) ||
           (rc = put(m, 0, "hone_process_threads", "Number of threads.", NULL, st.threads, err)) ||
           (rc = put(m, 0, "hone_process_cpu_percent",
                     "CPU use (user + system) in percent of one CPU since the previous update.", NULL,
                     have_prev ? hone_process_cpu_percent(&prev, &st) : 0, err)) ||
           (rc = put(m, 1, "hone_process_context_switches_total", "Context switches of the process.", vol,
                     (double)st.ctx_voluntary, err)) ||
           (rc = put(m, 1, "hone_process_context_switches_total", NULL, invol, (double)st.ctx_involuntary, err)));
    return rc;
}
