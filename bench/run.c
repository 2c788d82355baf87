/* run.c - what `hone run` costs per job, against xargs -P and GNU parallel
 * in the same run, on jobs that do nothing: 10,000 inputs (the numbers
 * 1..10000, one per line) each running `true`, which ignores its argument,
 * two at a time. With a command that does no work, the wall time is the
 * runner's own cost (spawn, wait, output collection, bookkeeping), which is
 * what a user pays on every job of a real run.
 *
 *   1. Overhead: `hone run -j 2 --no-history -q true` against
 *      `xargs -P 2 -n 1 true` (the floor: xargs only forks, execs and waits).
 *      Goal: hone / xargs <= 1.1, i.e. the scheduler, the pipes that collect
 *      each job's output whole and the summary cost at most 10% more.
 *   2. Against GNU parallel (`parallel --will-cite -j 2 true`), the tool
 *      hone run replaces; it is a Perl program at several ms per job.
 *      Goal: hone / parallel <= 0.2. When parallel would need more than
 *      about 60 s for all inputs (estimated from an untimed run on 200), it
 *      runs on the first 2,000 and its time is scaled to the same job count;
 *      the unit column says so.
 *   3. A fully cached rerun: `hone run -j 2 --cache --cache-dir DIR
 *      --no-history -q true` once to fill a fresh cache (not timed; checked
 *      to replay every job), then timed on the same inputs, every job
 *      replayed without running, against the uncached xargs run.
 *      Goal: hone cached / xargs <= 0.1.
 *
 * Every tool runs as a process started with posix_spawn (hone_bench_exec)
 * with the input file as stdin, stdout to /dev/null and stderr to a file;
 * wall time is CLOCK_MONOTONIC around spawn and wait. Rounds are
 * interleaved (xargs, hone, parallel, hone cached) three times and each
 * figure is the median of its three; ratios are taken from the medians of
 * the same run. A tool that exits non-zero, or hone writing anything to
 * stderr, fails the bench (exit 1) before any ratio is printed. Without
 * parallel installed its figures are skipped with a note on stderr.
 *
 * usage: bench/run [HONE_BINARY]  (default: ../hone next to this program)
 *   BENCH_RUN_JOBS=N   inputs per run instead of 10000 (for a quick look)
 *   BENCH_RUN_VERBOSE=1  every run's wall and CPU time on stderr
 *
 * Prints name<TAB>value<TAB>unit; name.ratio lines are hone / baseline. On a
 * machine with two CPUs shared with other work the absolute times move a
 * lot between runs (spawning is most of the cost); the ratios of one run
 * move much less. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hone.h"

#define ROUNDS 3
#define DEFAULT_JOBS 10000
#define PARALLEL_CALIBRATE 200     /* inputs of the untimed run that sizes parallel's */
#define PARALLEL_SMALL 2000        /* inputs parallel runs when all would be too slow */
#define PARALLEL_BUDGET_NS 60000000000ull

/* ---- temporary files -------------------------------------------------- */

static char tmpdir[] = "/tmp/hone-bench-run-XXXXXX";
static int tmp_made;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    (void)remove(p); /* best effort: keep going */
    return 0;
}

static void cleanup(void) {
    if (tmp_made) nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    tmp_made = 0;
}

/* Writes 1..n, one per line, to dir/name; returns an fd open for reading. */
static int write_inputs(const char *name, unsigned n) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    if (!f) return -1;
    for (unsigned i = 1; i <= n; i++) fprintf(f, "%u\n", i);
    if (fclose(f)) return -1;
    return open(p, O_RDONLY | O_CLOEXEC);
}

/* ---- one measured run ------------------------------------------------- */

typedef struct tool {
    const char *name; /* for messages */
    const char *path; /* resolved executable */
    char **argv;
    int in_fd;        /* its input file */
    int is_hone;      /* any stderr output is a failure */
    double wall_ms[ROUNDS], cpu_ms[ROUNDS];
} tool;

static int err_fd = -1; /* the children's stderr, read back after each run */
static int verbose;

/* Reads what the last child wrote to stderr into buf (NUL-terminated). */
static size_t read_stderr(char *buf, size_t cap) {
    off_t end = lseek(err_fd, 0, SEEK_END);
    if (end <= 0) {
        buf[0] = '\0';
        return 0;
    }
    ssize_t n = pread(err_fd, buf, cap - 1, 0);
    if (n < 0) n = 0;
    buf[n] = '\0';
    return (size_t)end;
}

/* Runs t once; stores its times in round r when r >= 0. errbuf (optional)
 * gets what it printed on stderr. Returns 0, or -1 with a message. */
static int run_once(tool *t, int r, char *errbuf, size_t errcap) {
    if (lseek(t->in_fd, 0, SEEK_SET) != 0 || ftruncate(err_fd, 0) != 0 ||
        lseek(err_fd, 0, SEEK_SET) != 0) {
        fprintf(stderr, "bench run: cannot rewind the temporary files: %s\n", strerror(errno));
        return -1;
    }
    hone_bench_exec_opts o = {.use_fds = HONE_BENCH_USE_STDIN | HONE_BENCH_USE_STDERR,
                              .stdin_fd = t->in_fd,
                              .stderr_fd = err_fd};
    hone_bench_run res;
    int rc = hone_bench_exec(t->path, t->argv, &o, &res);
    if (rc != HONE_OK) {
        fprintf(stderr, "bench run: cannot start %s (%s): %s\n", t->name, t->path, hone_strerror(rc));
        return -1;
    }
    char buf[4096];
    size_t nerr = read_stderr(buf, sizeof buf);
    if (res.exit_code != 0 || (t->is_hone && nerr > 0)) {
        fprintf(stderr, "bench run: %s failed (exit status %d%s%s)%s%s", t->name, res.exit_code,
                res.signal ? ", signal " : "", res.signal ? strsignal(res.signal) : "",
                nerr ? "; its stderr:\n" : "\n", buf);
        if (nerr && buf[strlen(buf) - 1] != '\n') fputc('\n', stderr);
        return -1;
    }
    if (nerr && !errbuf) fprintf(stderr, "bench run: note: %s wrote on stderr:\n%s", t->name, buf);
    if (errbuf) snprintf(errbuf, errcap, "%s", buf);
    if (r >= 0) {
        t->wall_ms[r] = (double)res.wall_ns / 1e6;
        t->cpu_ms[r] = (double)(res.user_ns + res.sys_ns) / 1e6;
        if (verbose)
            fprintf(stderr, "round %d: %-12s wall %9.1f ms  cpu %9.1f ms\n", r, t->name, t->wall_ms[r],
                    t->cpu_ms[r]);
    }
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v) {
    double s[ROUNDS];
    memcpy(s, v, sizeof s);
    qsort(s, ROUNDS, sizeof *s, cmp_double);
    return s[ROUNDS / 2];
}

/* ---- main ------------------------------------------------------------- */

static int find_hone(int argc, char **argv, char *out, size_t cap) {
    if (argc > 1) {
        snprintf(out, cap, "%s", argv[1]);
    } else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) {
            fprintf(stderr, "bench run: cannot find myself; pass the hone binary as argument\n");
            return -1;
        }
        exe[n] = '\0';
        snprintf(out, cap, "%s/../hone", dirname(exe));
    }
    if (access(out, X_OK) != 0) {
        fprintf(stderr, "bench run: the hone CLI is not at %s; build it or pass its path\n", out);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    char hone[PATH_MAX];
    if (find_hone(argc, argv, hone, sizeof hone)) return 1;
    unsigned jobs = DEFAULT_JOBS;
    const char *e = getenv("BENCH_RUN_JOBS");
    if (e && *e) {
        uint64_t v;
        hone_error err;
        if (hone_parse_u64("BENCH_RUN_JOBS", e, 1, 10000000, &v, &err)) {
            fprintf(stderr, "bench run: %s\n", err.msg);
            return 2;
        }
        jobs = (unsigned)v;
    }
    verbose = getenv("BENCH_RUN_VERBOSE") != NULL;

    char *xargs_path = NULL, *true_path = NULL, *par_path = NULL;
    if (hone_bench_which("xargs", NULL, &xargs_path, NULL, NULL) ||
        hone_bench_which("true", NULL, &true_path, NULL, NULL)) {
        fprintf(stderr, "bench run: xargs or true is not on PATH (findutils, coreutils)\n");
        return 1;
    }
    if (hone_bench_which("parallel", NULL, &par_path, NULL, NULL)) {
        fprintf(stderr, "bench run: GNU parallel is not installed (scripts/deps.d/run.txt, [bench]); "
                        "skipping the comparison with it\n");
        par_path = NULL;
    }

    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "bench run: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    tmp_made = 1;
    atexit(cleanup);
    char cache_dir[PATH_MAX], err_path[PATH_MAX];
    snprintf(cache_dir, sizeof cache_dir, "%s/cache-XXXXXX", tmpdir);
    snprintf(err_path, sizeof err_path, "%s/stderr", tmpdir);
    int in_fd = write_inputs("inputs", jobs);
    err_fd = open(err_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in_fd < 0 || err_fd < 0 || !mkdtemp(cache_dir)) {
        fprintf(stderr, "bench run: cannot write the temporary files under %s: %s\n", tmpdir,
                strerror(errno));
        return 1;
    }

    char *xargs_argv[] = {"xargs", "-P", "2", "-n", "1", "true", NULL};
    char *hone_argv[] = {hone, "run", "-j", "2", "--no-history", "-q", "true", NULL};
    char *cached_argv[] = {hone, "run", "-j", "2", "--cache", "--cache-dir", cache_dir,
                           "--no-history", "-q", "true", NULL};
    char *par_argv[] = {"parallel", "--will-cite", "-j", "2", "true", NULL};
    tool xargs = {.name = "xargs", .path = xargs_path, .argv = xargs_argv, .in_fd = in_fd};
    tool hrun = {.name = "hone run", .path = hone, .argv = hone_argv, .in_fd = in_fd, .is_hone = 1};
    tool cached = {.name = "hone run --cache", .path = hone, .argv = cached_argv, .in_fd = in_fd,
                   .is_hone = 1};
    tool par = {.name = "parallel", .path = par_path, .argv = par_argv, .in_fd = in_fd};

    /* Fill the cache, then check that a rerun replays every job: the same
     * command without -q prints its summary, "N cached" among it. */
    if (run_once(&cached, -1, NULL, 0)) return 1;
    {
        char *check_argv[] = {hone, "run", "-j", "2", "--cache", "--cache-dir", cache_dir,
                              "--no-history", "true", NULL};
        tool check = {.name = "hone run --cache (check)", .path = hone, .argv = check_argv,
                      .in_fd = in_fd};
        char summary[4096], want[64];
        if (run_once(&check, -1, summary, sizeof summary)) return 1;
        snprintf(want, sizeof want, " 0 failed, %u cached", jobs);
        if (!strstr(summary, want)) {
            fprintf(stderr, "bench run: the cached rerun did not replay all %u jobs: %s", jobs, summary);
            return 1;
        }
    }

    /* Size parallel's runs: all inputs if that fits the budget. */
    unsigned par_jobs = jobs;
    if (par_path && jobs > PARALLEL_SMALL) {
        int cal_fd = write_inputs("inputs-calibrate", PARALLEL_CALIBRATE);
        if (cal_fd < 0) {
            fprintf(stderr, "bench run: cannot write the calibration inputs: %s\n", strerror(errno));
            return 1;
        }
        tool cal = par;
        cal.in_fd = cal_fd;
        uint64_t t0 = hone_monotonic_ns();
        if (run_once(&cal, -1, NULL, 0)) return 1;
        double per_job = (double)(hone_monotonic_ns() - t0) / PARALLEL_CALIBRATE;
        close(cal_fd);
        if (per_job * jobs > (double)PARALLEL_BUDGET_NS) {
            par_jobs = PARALLEL_SMALL;
            par.in_fd = write_inputs("inputs-parallel", par_jobs);
            if (par.in_fd < 0) {
                fprintf(stderr, "bench run: cannot write parallel's inputs: %s\n", strerror(errno));
                return 1;
            }
        }
    }

    for (int r = 0; r < ROUNDS; r++) {
        if (run_once(&xargs, r, NULL, 0) || run_once(&hrun, r, NULL, 0)) return 1;
        if (par_path && run_once(&par, r, NULL, 0)) return 1;
        if (run_once(&cached, r, NULL, 0)) return 1;
    }

    double x_ms = median(xargs.wall_ms), h_ms = median(hrun.wall_ms), c_ms = median(cached.wall_ms);
    printf("run.jobs\t%u\tjobs of true, -j 2\n", jobs);
    printf("run.xargs_ms\t%.1f\tms\n", x_ms);
    printf("run.hone_ms\t%.1f\tms\n", h_ms);
    printf("run.xargs_us_per_job\t%.1f\tus\n", x_ms * 1e3 / jobs);
    printf("run.hone_us_per_job\t%.1f\tus\n", h_ms * 1e3 / jobs);
    printf("run.xargs_cpu_ms\t%.1f\tms (user+sys of xargs and its jobs)\n", median(xargs.cpu_ms));
    printf("run.hone_cpu_ms\t%.1f\tms (user+sys of hone and its jobs)\n", median(hrun.cpu_ms));
    printf("run.overhead.ratio\t%.3f\tvs xargs -P 2 -n 1 (goal <= 1.1)\n", h_ms / x_ms);
    if (par_path) {
        double scale = (double)jobs / par_jobs, p_ms = median(par.wall_ms) * scale;
        if (par_jobs == jobs)
            printf("run.parallel_ms\t%.1f\tms\n", p_ms);
        else
            printf("run.parallel_ms\t%.1f\tms (%u jobs, x%g)\n", p_ms, par_jobs, scale);
        printf("run.parallel_us_per_job\t%.1f\tus\n", p_ms * 1e3 / jobs);
        printf("run.parallel.ratio\t%.3f\tvs parallel -j 2 (goal <= 0.2)\n", h_ms / p_ms);
    }
    printf("run.cached_ms\t%.1f\tms\n", c_ms);
    printf("run.cached_us_per_job\t%.1f\tus\n", c_ms * 1e3 / jobs);
    printf("run.cached.ratio\t%.4f\tvs uncached xargs -P 2 -n 1 (goal <= 0.1)\n", c_ms / x_ms);

    hone_free(NULL, xargs_path);
    hone_free(NULL, true_path);
    hone_free(NULL, par_path);
    return 0;
}
