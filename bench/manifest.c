/* manifest.c - benchmark of `hone manifest build` on 20,000 files of 4 KiB:
 * cold (empty index) against `find | xargs -P <cores> sha256sum` and the
 * same with b3sum, and warm (every digest from the index) against cold.
 * Prints name<TAB>value<TAB>unit lines; ratios are throughput ratios
 * (baseline time / hone time), measured in the same run. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hone.h"

#define N_DIRS 100
#define PER_DIR 200
#define FILE_SIZE 4096
#define RUNS 3

static char root[256], idx[300];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    remove(p);
    return 0;
}

static void make_tree(void) {
    uint64_t x = 0x9e3779b97f4a7c15u;
    unsigned char buf[FILE_SIZE];
    char p[512];
    for (int d = 0; d < N_DIRS; d++) {
        snprintf(p, sizeof p, "%s/d%03d", root, d);
        mkdir(p, 0755);
        for (int f = 0; f < PER_DIR; f++) {
            for (size_t i = 0; i < sizeof buf; i += 8) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                memcpy(buf + i, &x, 8);
            }
            snprintf(p, sizeof p, "%s/d%03d/f%04d.bin", root, d, f);
            int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) {
                fprintf(stderr, "cannot write %s: %s\n", p, strerror(errno));
                exit(1);
            }
            close(fd);
        }
    }
}

static double now_s(void) { return (double)hone_monotonic_ns() / 1e9; }

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v) {
    qsort(v, RUNS, sizeof *v, cmp_d);
    return v[RUNS / 2];
}

/* Seconds for one run of a shell pipeline, or a negative value if it
 * failed (the tool is missing). */
static double time_cmd(const char *cmd) {
    double t0 = now_s();
    int rc = system(cmd);
    double t = now_s() - t0;
    return rc == 0 ? t : -1;
}

static double time_build(const char *algo, int cold, uint64_t *hashed) {
    if (cold) nftw(idx, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    hone_io_manifest_opts o = {.algo = algo, .index_dir = idx};
    hone_io_manifest *m;
    hone_io_manifest_stats st;
    hone_error err = {0};
    double t0 = now_s();
    if (hone_io_manifest_build(&m, root, &o, &st, &err)) {
        fprintf(stderr, "build failed: %s\n", err.msg);
        exit(1);
    }
    double t = now_s() - t0;
    if (hone_io_manifest_count(m) != N_DIRS * PER_DIR) {
        fprintf(stderr, "build listed %zu files, expected %d\n", hone_io_manifest_count(m),
                N_DIRS * PER_DIR);
        exit(1);
    }
    hone_io_manifest_free(m);
    *hashed = st.hashed;
    return t;
}

int main(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(root, sizeof root, "/tmp/hone-bench-manifest-XXXXXX");
    if (!mkdtemp(root)) return perror("mkdtemp"), 1;
    snprintf(idx, sizeof idx, "%s.index", root);
    double t0 = now_s();
    make_tree();
    fprintf(stderr, "made %d files of %d bytes in %.1f s\n", N_DIRS * PER_DIR, FILE_SIZE, now_s() - t0);
    /* Everything below reads from the page cache: warm it once. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cat %s/*/* > /dev/null", root);
    if (system(cmd) != 0) fprintf(stderr, "warming the page cache failed\n");

    const char *tools[2][2] = {{"sha256", "sha256sum"}, {"blake3", "b3sum"}};
    double cold_sha = 0;
    for (int t = 0; t < 2; t++) {
        double base[RUNS], hone[RUNS];
        uint64_t hashed = 0;
        snprintf(cmd, sizeof cmd,
                 "cd %s && find . -type f -print0 | xargs -0 -n 500 -P %ld %s > /dev/null", root,
                 cores, tools[t][1]);
        int have = 1;
        for (int r = 0; r < RUNS; r++) {
            base[r] = time_cmd(cmd);
            if (base[r] < 0) have = 0;
            hone[r] = time_build(tools[t][0], 1, &hashed);
        }
        double h = median(hone);
        if (t == 0) cold_sha = h;
        printf("manifest.cold.%s\t%.0f\tfiles/s\n", tools[t][0], N_DIRS * PER_DIR / h);
        if (!have) {
            fprintf(stderr, "%s not found: no baseline for %s\n", tools[t][1], tools[t][0]);
            continue;
        }
        double b = median(base);
        printf("manifest.cold.%s\t%.0f\tfiles/s\n", tools[t][1], N_DIRS * PER_DIR / b);
        printf("manifest.cold%s.ratio\t%.2f\tvs find | xargs -0 -n 500 -P %ld %s\n",
               t ? ".b3sum" : "", b / h, cores, tools[t][1]);
    }

    /* Warm: one build fills the index; the clock must move past the
     * files' mtimes for them to be trusted (the racy-timestamp rule), which
     * it has long done by now. */
    uint64_t hashed;
    time_build("sha256", 1, &hashed);
    double warm[RUNS];
    for (int r = 0; r < RUNS; r++) {
        warm[r] = time_build("sha256", 0, &hashed);
        if (hashed != 0) {
            fprintf(stderr, "warm build hashed %llu files, expected 0\n", (unsigned long long)hashed);
            return 1;
        }
    }
    double w = median(warm);
    printf("manifest.warm.sha256\t%.0f\tfiles/s\n", N_DIRS * PER_DIR / w);
    printf("manifest.warm.ratio\t%.2f\tvs cold hone manifest build (sha256, empty index)\n",
           cold_sha / w);

    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    nftw(idx, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
