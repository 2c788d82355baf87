/* hash.c - benchmark of `hone hash` against the reference tools on one
 * file in the page cache (1 GiB by default): SHA-256 vs openssl dgst,
 * BLAKE3 vs b3sum on one thread and on all, XXH3 vs xxhsum -H3; plus the
 * library's read() vs mmap throughput, which decides HONE_HASH_IO_AUTO.
 *
 * usage: bench/hash [SIZE]   (SIZE like 1G, 256M; default 1G)
 *   BENCH_HASH_FILE=PATH  measure an existing file instead of writing one
 *   BENCH_HASH_VERBOSE=1  print every run's times on stderr
 *
 * The file is written with 1 MiB writes and fsynced. On Linux 6.18 ext4
 * that gives large page-cache folios, which make mmap (b3sum's way) cheap;
 * a file written in small pieces (e.g. by `head -c`) has 4 KiB folios, where
 * hone's read() path wins instead: see docs/design/hash.md.
 *
 * Both sides run as processes (the hone CLI next to this program, and the
 * tool from PATH) with stdout to /dev/null, interleaved, five times each;
 * the median wall time of each side gives its throughput, and
 * ratio = hone throughput / tool throughput. cpu_ratio compares the
 * children's CPU time (user + system) the same way, which the other work
 * on a shared machine disturbs less. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hone.h"

#define RUNS 5

static char data_path[4096];

static int data_owned;

static void cleanup(void) {
    if (data_owned) unlink(data_path);
}

static int make_file(uint64_t size) {
    snprintf(data_path, sizeof data_path, "/tmp/hone-bench-hash-XXXXXX");
    int fd = mkstemp(data_path);
    if (fd < 0) return -1;
    data_owned = 1;
    atexit(cleanup);
    size_t bs = (size_t)1 << 20;
    uint64_t *buf = malloc(bs);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (uint64_t done = 0; done < size;) {
        for (size_t i = 0; i < bs / 8; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = x;
        }
        size_t n = size - done < bs ? (size_t)(size - done) : bs;
        if (write(fd, buf, n) != (ssize_t)n) {
            free(buf);
            close(fd);
            return -1;
        }
        done += n;
    }
    free(buf);
    /* Finish writeback before measuring: dirty pages being written out
     * while the tools read them made the first measurements noisy and
     * unfair (the kernel's flusher competes for the same two cores). */
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Runs argv with stdout and stderr to /dev/null; returns wall seconds, or
 * a negative value if it could not run or failed. *cpu (when not NULL)
 * gets the child's user+system seconds: on a machine shared with other
 * work, CPU time is the steadier measure of how much work each side does. */
static double run(char *const argv[], double *cpu) {
    uint64_t t0 = hone_monotonic_ns();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {
    }
    double s = (double)(hone_monotonic_ns() - t0) / 1e9;
    if (cpu)
        *cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? s : -1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static int compare(const char *name, char *const hone_argv[], char *const tool_argv[],
                   const char *tool_desc, uint64_t size) {
    double th[RUNS], tt[RUNS], ch[RUNS], ct[RUNS];
    for (int r = 0; r < RUNS; r++) {
        tt[r] = run(tool_argv, &ct[r]);
        th[r] = run(hone_argv, &ch[r]);
        if (tt[r] < 0 || th[r] < 0) {
            fprintf(stderr, "bench hash: %s: %s failed; skipping\n", name,
                    tt[r] < 0 ? tool_argv[0] : hone_argv[0]);
            return -1;
        }
    }
    if (getenv("BENCH_HASH_VERBOSE"))
        for (int r = 0; r < RUNS; r++) fprintf(stderr, "%s run %d: tool %.1f ms, hone %.1f ms\n", name, r, tt[r] * 1e3, th[r] * 1e3);
    double gh = (double)size / median(th, RUNS) / 1e9, gt = (double)size / median(tt, RUNS) / 1e9;
    printf("hash.%s.hone\t%.3f\tGB/s\n", name, gh);
    printf("hash.%s.tool\t%.3f\tGB/s\n", name, gt);
    printf("hash.%s.ratio\t%.3f\tvs %s\n", name, gh / gt, tool_desc);
    /* CPU seconds per byte, the other way round: above 1, hone does the
     * same work with less CPU. */
    printf("hash.%s.cpu_ratio\t%.3f\tvs %s (CPU time)\n", name,
           median(ct, RUNS) / median(ch, RUNS), tool_desc);
    fflush(stdout);
    return 0;
}

/* The library alone, in-process: BLAKE3 on one thread through read() and
 * through mmap, best of three. */
static void io_modes(uint64_t size) {
    static const struct {
        hone_hash_io io;
        const char *name;
    } modes[] = {{HONE_HASH_IO_READ, "read"}, {HONE_HASH_IO_MMAP, "mmap"}};
    double g[2] = {0, 0};
    for (int rep = 0; rep < 3; rep++) {
        for (int m = 0; m < 2; m++) {
            hone_hash *h = NULL;
            uint8_t d[32];
            if (hone_hash_new(&h, HONE_HASH_BLAKE3, NULL)) return;
            hone_hash_file_opts fo = {.io = modes[m].io};
            uint64_t t0 = hone_monotonic_ns();
            int rc = hone_hash_path(h, data_path, &fo, d, 32, NULL);
            double s = (double)(hone_monotonic_ns() - t0) / 1e9;
            hone_hash_free(h);
            if (rc) return;
            double gb = (double)size / s / 1e9;
            if (gb > g[m]) g[m] = gb;
        }
    }
    for (int m = 0; m < 2; m++) printf("hash.io.blake3_1t.%s\t%.3f\tGB/s\n", modes[m].name, g[m]);
    printf("hash.io.mmap.ratio\t%.3f\tvs read() of 1 MiB blocks\n", g[1] / g[0]);
}

int main(int argc, char **argv) {
    uint64_t size = (uint64_t)1 << 30;
    hone_error err;
    if (argc > 1 && hone_parse_size("SIZE", argv[1], 1 << 20, (uint64_t)1 << 40, &size, &err)) {
        fprintf(stderr, "bench hash: %s\n", err.msg);
        return 2;
    }
    /* The hone CLI sits one directory up from bench/. */
    char self[PATH_MAX], cli[PATH_MAX + 8];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) *slash = '\0';
    snprintf(cli, sizeof cli, "%s/../hone", self);
    if (access(cli, X_OK) != 0) {
        fprintf(stderr, "bench hash: the hone CLI is not at %s; build it first\n", cli);
        return 1;
    }
    const char *given = getenv("BENCH_HASH_FILE"); /* measure an existing file instead */
    if (given) {
        struct stat st;
        if (stat(given, &st) != 0) {
            fprintf(stderr, "bench hash: BENCH_HASH_FILE=%s: %s\n", given, strerror(errno));
            return 1;
        }
        snprintf(data_path, sizeof data_path, "%s", given);
        size = (uint64_t)st.st_size;
    } else if (make_file(size)) {
        fprintf(stderr, "bench hash: cannot write the data file under /tmp: %s\n", strerror(errno));
        return 1;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("hash.file_bytes\t%llu\tbytes\n", (unsigned long long)size);
    printf("hash.cpus\t%ld\tcpus\n", cpus);
    printf("hash.blake3_impl\t%s\tpath\n", hone_hash_blake3_impl());
    /* Bring the file into the page cache. */
    char *warm[] = {cli, "hash", "-a", "xxh3", data_path, NULL};
    run(warm, NULL);
    run(warm, NULL);

    char *h_sha[] = {cli, "hash", "-a", "sha256", data_path, NULL};
    char *t_sha[] = {"openssl", "dgst", "-sha256", data_path, NULL};
    compare("sha256", h_sha, t_sha, "openssl dgst -sha256", size);

    char *h_b1[] = {cli, "hash", "-a", "blake3", "-j", "1", data_path, NULL};
    char *t_b1[] = {"b3sum", "--num-threads", "1", data_path, NULL};
    compare("blake3_1t", h_b1, t_b1, "b3sum --num-threads 1", size);

    char jbuf[24];
    snprintf(jbuf, sizeof jbuf, "%ld", cpus > 0 ? cpus : 1);
    char *h_b[] = {cli, "hash", "-a", "blake3", "-j", jbuf, data_path, NULL};
    char *t_b[] = {"b3sum", data_path, NULL};
    compare("blake3", h_b, t_b, "b3sum (all threads)", size);

    char *h_x[] = {cli, "hash", "-a", "xxh3", data_path, NULL};
    char *t_x[] = {"xxhsum", "-H3", data_path, NULL};
    compare("xxh3", h_x, t_x, "xxhsum -H3", size);

    io_modes(size);
    return 0;
}
