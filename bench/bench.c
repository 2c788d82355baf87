/* bench.c - `hone bench` against hyperfine in the same run: the overhead of
 * measuring `true` without a shell (bench.overhead.ratio, goal <= 1.0) and
 * the agreement of the two on `sleep 0.01` (bench.sleep.agreement, goal <=
 * 0.02), plus hone_bench_fn on a small function.
 *
 * usage: bench [HONE_BINARY]   (default: ../hone next to this program's
 * directory, i.e. build/<preset>/hone). Both tools export CSV (same header),
 * whose mean column is read back. Rounds alternate between the tools so that
 * drift of the shared machine hits both alike; the figure is the mean over
 * all rounds. */
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hone.h"

static char tmpdir[] = "/tmp/hone-bench-XXXXXX";

/* Runs argv (no shell) with stdout/stderr to /dev/null; returns its exit
 * status or -1. */
static int run(char *const argv[]) {
    char *path;
    hone_error err;
    if (hone_bench_which(argv[0], NULL, &path, NULL, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return -1;
    }
    hone_bench_run r;
    int rc = hone_bench_exec(path, argv, NULL, &r);
    free(path);
    return rc ? -1 : r.exit_code;
}

/* The mean (seconds) in the second line of a hyperfine-style CSV export. */
static double csv_mean(const char *file) {
    FILE *f = fopen(file, "r");
    if (!f) return NAN;
    char line[4096];
    double mean = NAN;
    if (fgets(line, sizeof line, f) && fgets(line, sizeof line, f)) {
        char *comma = strchr(line, ',');
        if (comma) mean = strtod(comma + 1, NULL);
    }
    fclose(f);
    return mean;
}

/* One round of `tool` on cmd; returns its mean in seconds or NaN. */
static double round_mean(const char *tool, const char *cmd, const char *runs, const char *warmup) {
    char csv[PATH_MAX];
    snprintf(csv, sizeof csv, "%s/out.csv", tmpdir);
    int is_hone = strcmp(tool, "hyperfine") != 0;
    char *argv[] = {(char *)tool, "bench", "-N", "--runs", (char *)runs, "--warmup", (char *)warmup,
                    "--style", "none", "--export-csv", csv, (char *)cmd, NULL};
    /* hyperfine takes no subcommand: drop "bench" by starting one later. */
    if (!is_hone) argv[1] = argv[0];
    int rc = run(is_hone ? argv : argv + 1);
    if (rc != 0) {
        fprintf(stderr, "bench: %s -N --runs %s '%s' failed (status %d)\n", tool, runs, cmd, rc);
        return NAN;
    }
    double m = csv_mean(csv);
    unlink(csv);
    return m;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Alternating rounds of hone and hyperfine; fills the grand means and the
 * median of the per-round ratios (robust to a round that other processes
 * disturbed). Many short rounds rather than few long ones, so that the
 * machine's drift is sampled evenly by both tools. */
static int compare(const char *hone, const char *cmd, int rounds, const char *runs,
                   const char *warmup, double *h_mean, double *hf_mean, double *med_ratio) {
    double h = 0, f = 0, ratios[64];
    if (rounds > 64) rounds = 64;
    for (int i = 0; i < rounds; i++) {
        /* Alternate which tool goes first, so neither always follows the
         * other's cache effects. */
        double a, b;
        if (i & 1) {
            b = round_mean("hyperfine", cmd, runs, warmup);
            a = round_mean(hone, cmd, runs, warmup);
        } else {
            a = round_mean(hone, cmd, runs, warmup);
            b = round_mean("hyperfine", cmd, runs, warmup);
        }
        if (isnan(a) || isnan(b)) return -1;
        h += a;
        f += b;
        ratios[i] = a / b;
    }
    *h_mean = h / rounds;
    *hf_mean = f / rounds;
    qsort(ratios, (size_t)rounds, sizeof ratios[0], cmp_double);
    *med_ratio = rounds % 2 ? ratios[rounds / 2]
                            : (ratios[rounds / 2 - 1] + ratios[rounds / 2]) / 2;
    return 0;
}

static void summarize_fn(void *ctx, uint64_t iters) {
    const double *x = ctx;
    hone_bench_summary s;
    for (uint64_t i = 0; i < iters; i++) {
        hone_bench_summarize(x, 100, &s, NULL);
        __asm__ __volatile__("" : : "g"(&s) : "memory");
    }
}

int main(int argc, char **argv) {
    char hone[PATH_MAX];
    if (argc > 1) {
        snprintf(hone, sizeof hone, "%s", argv[1]);
    } else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) {
            fprintf(stderr, "bench: cannot find myself; pass the hone binary as argument\n");
            return 1;
        }
        exe[n] = '\0';
        snprintf(hone, sizeof hone, "%s/../hone", dirname(exe));
    }
    if (access(hone, X_OK) != 0) {
        fprintf(stderr, "bench: hone binary '%s' not found; build it or pass its path\n", hone);
        return 1;
    }
    char *hf;
    if (hone_bench_which("hyperfine", NULL, &hf, NULL, NULL)) {
        fprintf(stderr, "bench: hyperfine not installed (scripts/deps.d/bench.txt); "
                        "no comparison figures\n");
        return 1;
    }
    free(hf);
    if (!mkdtemp(tmpdir)) {
        perror("bench: mkdtemp");
        return 1;
    }

    int status = 0;
    double h, f, med;
    if (compare(hone, "true", 20, "100", "5", &h, &f, &med) == 0) {
        printf("bench.true.hone_mean\t%.4f\tms\n", h * 1e3);
        printf("bench.true.hyperfine_mean\t%.4f\tms\n", f * 1e3);
        printf("bench.overhead.ratio\t%.3f\tvs hyperfine -N true (hone mean / hyperfine mean)\n",
               h / f);
        printf("bench.overhead.round_median\t%.3f\tmedian of 20 per-round ratios\n", med);
    } else {
        status = 1;
    }
    if (compare(hone, "sleep 0.01", 10, "12", "2", &h, &f, &med) == 0) {
        printf("bench.sleep.hone_mean\t%.4f\tms\n", h * 1e3);
        printf("bench.sleep.hyperfine_mean\t%.4f\tms\n", f * 1e3);
        printf("bench.sleep.agreement\t%.4f\t|hone - hyperfine| / hyperfine on sleep 0.01\n",
               fabs(h - f) / f);
        printf("bench.sleep.round_median_ratio\t%.4f\tmedian of 10 per-round hone/hyperfine\n",
               med);
    } else {
        status = 1;
    }
    rmdir(tmpdir);

    /* hone_bench_fn on the summary of 100 values: the function API the
     * other modules' benchmarks use. */
    double x[100];
    for (int i = 0; i < 100; i++) x[i] = (double)((i * 37) % 101);
    hone_bench_fn_opts o = {.sample_ns = 20000000, .samples = 20};
    hone_bench_fn_result r;
    if (hone_bench_fn(summarize_fn, x, &o, &r) == HONE_OK) {
        printf("bench.fn.summarize100\t%.1f\tns/op\n", r.ns.mean);
        printf("bench.fn.summarize100.p99\t%.1f\tns/op\n", r.ns.p99);
        printf("bench.fn.summarize100.ops\t%.0f\tops/s\n", r.ops_per_sec);
        hone_bench_fn_result_free(&r);
    } else {
        status = 1;
    }
    return status;
}
