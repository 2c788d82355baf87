/* process.c - this process's CPU, memory, threads, descriptors and
 * context switches, from /proc/self and getrusage(). */
#include "hone/metrics.h"
#include "metrics/metrics_internal.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The fields of /proc/self/stat after the command name, which may itself
 * hold spaces and parentheses: parse from the last ')'. */
static int read_stat(hone_process_stats *st) {
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return HONE_EIO;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return HONE_EIO;
    unsigned long long v[24] = {0};
    /* Fields 3.. : state, then 21 numbers up to rss (field 24). */
    char state;
    if (sscanf(p + 1, " %c %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
               &state, &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11], &v[12], &v[13], &v[14], &v[15],
               &v[16], &v[17], &v[18], &v[19], &v[20], &v[21], &v[22], &v[23], &v[0]) != 22)
        return HONE_EIO;
    /* v[k] is field k; field 24 (rss, pages) landed in v[0]. */
    st->threads = (uint32_t)v[20];
    st->virtual_bytes = v[23];
    st->rss_bytes = v[0] * (uint64_t)sysconf(_SC_PAGESIZE);
    return HONE_OK;
}

int hone_process_stats_read(hone_process_stats *st) {
    if (!st) return HONE_EINVAL;
    memset(st, 0, sizeof *st);
    st->wall_ns = hone_monotonic_ns();
    int rc = read_stat(st);
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
    DIR *d = opendir("/proc/self/fd");
    if (!d) return HONE_EIO;
    uint32_t fds = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') fds++;
    closedir(d);
    st->open_fds = fds ? fds - 1 : 0; /* not counting the directory being read */
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
