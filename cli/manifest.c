/* manifest.c - `hone manifest build|check|diff`: manifests of directory
 * trees in the sha256sum/b3sum format (or JSON), kept fast on the second
 * run by the incremental index; also the `manifest` demo step. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_manifest_usage(FILE *out) {
    fprintf(out,
            "usage: hone manifest build DIR [-o FILE] [-a ALGO] [--json] [options]\n"
            "       hone manifest check FILE [DIR] [-a ALGO] [--ignore-extra] [options]\n"
            "       hone manifest diff A B [-a ALGO]\n"
            "\n"
            "build lists every regular file under DIR with its digest, sorted by path, in\n"
            "the format sha256sum and b3sum print (so `sha256sum -c FILE` run in DIR\n"
            "verifies it), or as JSON with sizes and mtimes. Files are hashed in parallel;\n"
            "an index remembers digests so unchanged files are not read again.\n"
            "check compares DIR (default: the current directory) with a manifest written\n"
            "by hone, sha256sum or b3sum and reports modified, missing, extra and\n"
            "unreadable files. diff compares two manifests.\n"
            "\n"
            "  -o, --output FILE      write the manifest to FILE (atomically), not stdout\n"
            "  -a, --algo ALGO        sha256 (default), blake3 or xxh3; for check and diff,\n"
            "                         the algorithm of an untagged list (64 hex digits are\n"
            "                         read as sha256: pass -a blake3 for b3sum lists)\n"
            "      --json             build: write JSON with size and mtime_ns\n"
            "      --include GLOB     only files matching GLOB (repeatable; ** spans dirs)\n"
            "      --exclude GLOB     skip files and directories matching GLOB (repeatable)\n"
            "  -x, --one-file-system  do not enter directories on other file systems\n"
            "  -L, --follow           follow symlinks that stay inside DIR\n"
            "  -j, --threads N        walk and hash with N threads (default: CPUs, 2..8)\n"
            "      --no-index         read every file; do not use or update the index\n"
            "      --index-dir DIR    keep the index in DIR (default $HONE_CACHE_DIR,\n"
            "                         $XDG_CACHE_HOME/hone or ~/.cache/hone)\n"
            "      --ignore-extra     check: files not in the manifest are not a failure\n"
            "      --timestamp-granularity DURATION\n"
            "                         trust an index entry only if the file's mtime is\n"
            "                         in an earlier DURATION-long tick than the run that\n"
            "                         stored it (default: detected per file; e.g. 2s for\n"
            "                         FAT, more for a network file system with clock skew)\n"
            "  -q, --quiet            no progress, and check/diff print only the summary\n"
            "  -h, --help             show this help\n"
            "\n"
            "Exit status: 0 success (check/diff: no differences), 1 differences found or\n"
            "files unreadable, 2 bad usage or input.\n");
}

/* ------------------------------------------------------------------ */
/* Shared options                                                      */
/* ------------------------------------------------------------------ */

enum { O_JSON = 256, O_INCLUDE, O_EXCLUDE, O_NO_INDEX, O_INDEX_DIR, O_IGNORE_EXTRA, O_GRANULARITY };

typedef struct mopts {
    const char *cmd;
    const char *output;
    const char *algo;
    int json, quiet, ignore_extra;
    const char *inc[64], *exc[64];
    size_t ninc, nexc;
    hone_io_manifest_opts o;
} mopts;

static int parse_opts(mopts *m, int argc, char **argv) {
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},   {"algo", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, O_JSON},        {"include", required_argument, NULL, O_INCLUDE},
        {"exclude", required_argument, NULL, O_EXCLUDE},
        {"one-file-system", no_argument, NULL, 'x'}, {"follow", no_argument, NULL, 'L'},
        {"threads", required_argument, NULL, 'j'},  {"no-index", no_argument, NULL, O_NO_INDEX},
        {"index-dir", required_argument, NULL, O_INDEX_DIR},
        {"ignore-extra", no_argument, NULL, O_IGNORE_EXTRA},
        {"timestamp-granularity", required_argument, NULL, O_GRANULARITY},
        {"quiet", no_argument, NULL, 'q'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 0;
    while ((c = cli_getopt(m->cmd, argc, argv, "o:a:xLj:qh", longopts)) != -1) {
        hone_error err;
        uint64_t v;
        switch (c) {
        case 'o': m->output = optarg; break;
        case 'a': m->algo = optarg; break;
        case O_JSON: m->json = 1; break;
        case O_INCLUDE:
        case O_EXCLUDE:
            if ((c == O_INCLUDE ? m->ninc : m->nexc) == 63) {
                cli_cmd_error(m->cmd, "too many globs: at most 63 each of --include and --exclude");
                return CLI_USAGE;
            }
            if (c == O_INCLUDE) m->inc[m->ninc++] = optarg;
            else m->exc[m->nexc++] = optarg;
            break;
        case 'x': m->o.one_file_system = 1; break;
        case 'L': m->o.follow_symlinks = 1; break;
        case 'j':
            if (hone_parse_u64("--threads", optarg, 1, 64, &v, &err)) {
                cli_cmd_error(m->cmd, "%s", err.msg);
                return CLI_USAGE;
            }
            m->o.threads = (unsigned)v;
            break;
        case O_NO_INDEX: m->o.no_index = 1; break;
        case O_INDEX_DIR: m->o.index_dir = optarg; break;
        case O_IGNORE_EXTRA: m->ignore_extra = 1; break;
        case O_GRANULARITY:
            /* A bare number is seconds; an hour is far beyond any file
             * system's stamps or clock skew worth allowing for. */
            if (hone_parse_duration("--timestamp-granularity", optarg, 1000000000u, &v, &err) ||
                v < 1 || v > 3600000000000u) {
                cli_cmd_error(m->cmd, "--timestamp-granularity=%s: expected a duration from 1ns to 1h "
                                      "(e.g. 1s, 2s, 10ms)", optarg);
                return CLI_USAGE;
            }
            m->o.granularity_ns = v;
            break;
        case 'q': m->quiet = 1; break;
        case 'h': cli_manifest_usage(stdout); return -1;
        default: return CLI_USAGE;
        }
    }
    m->o.include = m->inc;
    m->o.n_include = m->ninc;
    m->o.exclude = m->exc;
    m->o.n_exclude = m->nexc;
    m->o.algo = m->algo;
    return CLI_OK;
}

/* Prints a path the way sha256sum does: a name holding a backslash or a
 * newline is escaped and the line starts with a backslash. */
static void print_change(FILE *out, const char *what, const char *path) {
    if (!strpbrk(path, "\\\n")) {
        fprintf(out, "%s: %s\n", what, path);
        return;
    }
    fprintf(out, "\\%s: ", what);
    for (const char *p = path; *p; p++) {
        if (*p == '\\') fputs("\\\\", out);
        else if (*p == '\n') fputs("\\n", out);
        else fputc(*p, out);
    }
    fputc('\n', out);
}

/* ------------------------------------------------------------------ */
/* Progress                                                            */
/* ------------------------------------------------------------------ */

static void human(char *buf, size_t n, double bytes) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (bytes >= 1024 && i < 4) bytes /= 1024, i++;
    snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", bytes, u[i]);
}

/* Totals for the ETA. The build hashes while its walk is still finding
 * files, so its own totals grow until the end; on a terminal a quick
 * counting walk first (a stat per file, no reads) gives the real ones. */
typedef struct totals {
    uint64_t files, bytes;
} totals;

static int count_file(void *ctx, const hone_io_entry *e) {
    totals *t = ctx;
    if (e->type == HONE_IO_FILE) {
        __atomic_add_fetch(&t->files, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&t->bytes, e->size, __ATOMIC_RELAXED);
    }
    return 0;
}

static void quiet_walk_error(void *ctx, const char *path, int status, int sys_errno) {
    (void)ctx, (void)path, (void)status, (void)sys_errno;
}

static void show_progress(void *ctx, const hone_io_progress *p) {
    const totals *t = ctx;
    uint64_t files_total = t->files > p->files_total ? t->files : p->files_total;
    uint64_t bytes_total = t->bytes > p->bytes_total ? t->bytes : p->bytes_total;
    char done[32], total[32], rate[32];
    double secs = (double)p->elapsed_ns / 1e9;
    human(done, sizeof done, (double)p->bytes_done);
    human(total, sizeof total, (double)bytes_total);
    human(rate, sizeof rate, secs > 0 ? (double)p->bytes_done / secs : 0);
    double frac = files_total ? (double)p->files_done / (double)files_total : 1;
    double eta = frac > 0 ? secs / frac - secs : 0;
    fprintf(stderr, "\r\033[K%llu/%llu files  %s/%s  %s/s  ETA %.0fs",
            (unsigned long long)p->files_done, (unsigned long long)files_total, done, total, rate,
            eta < 0 ? 0 : eta);
    fflush(stderr);
}

static void setup_progress(mopts *m, const char *dir, totals *t) {
    if (m->quiet || !isatty(STDERR_FILENO)) return;
    hone_io_walk_opts wo = {.threads = m->o.threads,
                            .include = m->o.include,
                            .n_include = m->o.n_include,
                            .exclude = m->o.exclude,
                            .n_exclude = m->o.n_exclude,
                            .follow_symlinks = m->o.follow_symlinks,
                            .one_file_system = m->o.one_file_system,
                            .on_entry = count_file,
                            .on_error = quiet_walk_error,
                            .ctx = t};
    /* A failed count only costs the ETA; the build reports the errors. */
    hone_io_walk(dir, &wo, NULL, NULL);
    m->o.progress = show_progress;
    m->o.progress_ctx = t;
}

static void end_progress(const mopts *m) {
    if (m->o.progress) fputs("\r\033[K", stderr);
}

static void print_unreadable(void *ctx, const char *path, int status, int sys_errno) {
    const char *cmd = ctx;
    cli_cmd_error(cmd, "%s: %s", *path ? path : ".", sys_errno ? strerror(sys_errno) : hone_strerror(status));
}

/* ------------------------------------------------------------------ */
/* build                                                               */
/* ------------------------------------------------------------------ */

/* Writes buf to path atomically (core's temporary file, fsync and rename),
 * so a reader never sees half a manifest and a failure leaves the old one. */
static int write_atomic(const char *cmd, const char *path, const char *data, size_t len) {
    hone_error err;
    if (hone_file_write_atomic(path, data, len, &err) != HONE_OK) {
        cli_cmd_error(cmd, "%s", err.msg);
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* The output file is left out of the manifest by device and inode, so
 * that the manifest never lists itself (which would make it fail to
 * verify), whatever characters its name holds and whichever path leads to
 * it. */
static void exclude_output(mopts *m, const char **files) {
    if (!m->output) return;
    files[0] = m->output;
    m->o.exclude_files = files;
    m->o.n_exclude_files = 1;
}

static int cmd_build(int argc, char **argv) {
    mopts m = {.cmd = "manifest build"};
    int rc = parse_opts(&m, argc, argv);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (optind + 1 != argc) {
        cli_cmd_error(m.cmd, optind == argc ? "expected a directory (hone manifest build DIR)"
                                            : "unexpected argument '%s' (one DIR only)",
                      argv[optind + 1 < argc ? optind + 1 : 0]);
        return CLI_USAGE;
    }
    const char *dir = argv[optind];
    const char *self[1];
    exclude_output(&m, self);
    totals tot = {0, 0};
    setup_progress(&m, dir, &tot);
    m.o.on_unreadable = print_unreadable;
    m.o.unreadable_ctx = (void *)m.cmd;
    hone_io_manifest *man;
    hone_io_manifest_stats st;
    hone_error err = {0};
    rc = hone_io_manifest_build(&man, dir, &m.o, &st, &err);
    end_progress(&m);
    if (rc) {
        cli_cmd_error(m.cmd, "%s", err.msg);
        return rc == HONE_EINVAL || rc == HONE_ENOTFOUND || rc == HONE_EACCES ? CLI_USAGE : CLI_FAIL;
    }
    hone_buf out;
    hone_buf_init(&out, NULL);
    rc = hone_io_manifest_format_to(man, m.json ? HONE_IO_MANIFEST_JSON : HONE_IO_MANIFEST_SUM, &out);
    hone_io_manifest_free(man);
    if (rc) {
        hone_buf_free(&out);
        cli_cmd_error(m.cmd, rc == HONE_EINVAL ? "a path is not valid UTF-8, which JSON cannot hold; "
                                                 "use the sum format"
                                               : "%s", hone_strerror(rc));
        return CLI_FAIL;
    }
    if (m.output) {
        rc = write_atomic(m.cmd, m.output, out.data ? out.data : "", out.len);
    } else {
        rc = fwrite(out.data ? out.data : "", 1, out.len, stdout) == out.len && fflush(stdout) == 0
                 ? CLI_OK
                 : CLI_FAIL;
        if (rc) cli_cmd_error(m.cmd, "cannot write to stdout: %s", strerror(errno));
    }
    hone_buf_free(&out);
    if (!m.quiet)
        fprintf(stderr, "%llu files, %llu bytes: %llu hashed, %llu from the index%s%s\n",
                (unsigned long long)st.files, (unsigned long long)st.bytes,
                (unsigned long long)st.hashed, (unsigned long long)st.cached,
                st.unreadable ? ", unreadable: " : "", st.unreadable ? "see above" : "");
    if (rc) return rc;
    return st.unreadable ? CLI_FAIL : CLI_OK;
}

/* ------------------------------------------------------------------ */
/* check and diff                                                      */
/* ------------------------------------------------------------------ */

static int load(const char *cmd, const char *path, const char *algo, hone_io_manifest **out) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        cli_cmd_error(cmd, "%s: cannot open: %s", path, strerror(errno));
        return CLI_USAGE;
    }
    hone_buf b;
    hone_buf_init(&b, NULL);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && !rc) rc = hone_buf_append(&b, chunk, n);
    int bad = ferror(f);
    if (f != stdin) fclose(f);
    if (rc || bad) {
        hone_buf_free(&b);
        cli_cmd_error(cmd, "%s: cannot read: %s", path, rc ? hone_strerror(rc) : strerror(errno));
        return CLI_FAIL;
    }
    hone_error err = {0};
    rc = hone_io_manifest_parse(out, b.data ? b.data : "", b.len, algo, NULL, &err);
    hone_buf_free(&b);
    if (rc) {
        cli_cmd_error(cmd, "%s: %s", path, err.msg);
        return rc == HONE_ENOMEM ? CLI_FAIL : CLI_USAGE;
    }
    return CLI_OK;
}

typedef struct report {
    int quiet, ignore_extra;
} report;

static void on_change(void *ctx, hone_io_change c, const char *path) {
    report *r = ctx;
    if (r->quiet || (c == HONE_IO_EXTRA && r->ignore_extra)) return;
    print_change(stdout, hone_io_change_name(c), path);
}

static int summary(const char *cmd, const hone_io_check_summary *s, int ignore_extra) {
    printf("%s: %llu same, %llu modified, %llu missing, %llu extra, %llu unreadable\n", cmd,
           (unsigned long long)s->same, (unsigned long long)s->modified,
           (unsigned long long)s->missing, (unsigned long long)s->extra,
           (unsigned long long)s->unreadable);
    int bad = s->modified || s->missing || s->unreadable || (s->extra && !ignore_extra);
    return bad ? CLI_FAIL : CLI_OK;
}

static void quiet_unreadable(void *ctx, const char *path, int status, int sys_errno) {
    (void)ctx, (void)path, (void)status, (void)sys_errno;
}

static int cmd_check(int argc, char **argv) {
    mopts m = {.cmd = "manifest check"};
    int rc = parse_opts(&m, argc, argv);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (optind == argc || argc - optind > 2) {
        cli_cmd_error(m.cmd, "expected FILE [DIR] (hone manifest check FILE [DIR])");
        return CLI_USAGE;
    }
    const char *dir = optind + 1 < argc ? argv[optind + 1] : ".";
    hone_io_manifest *want;
    if ((rc = load(m.cmd, argv[optind], m.algo, &want))) return rc;
    totals tot = {0, 0};
    setup_progress(&m, dir, &tot);
    /* Unreadable files are reported as check lines, not as errors. */
    m.o.on_unreadable = quiet_unreadable;
    report r = {m.quiet, m.ignore_extra};
    hone_io_check_summary s;
    hone_error err = {0};
    rc = hone_io_manifest_check(want, dir, &m.o, on_change, &r, &s, NULL, &err);
    end_progress(&m);
    hone_io_manifest_free(want);
    if (rc) {
        cli_cmd_error(m.cmd, "%s", err.msg);
        return rc == HONE_EINVAL || rc == HONE_ENOTFOUND || rc == HONE_EACCES ? CLI_USAGE : CLI_FAIL;
    }
    return summary("check", &s, m.ignore_extra);
}

static int cmd_diff(int argc, char **argv) {
    mopts m = {.cmd = "manifest diff"};
    int rc = parse_opts(&m, argc, argv);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (argc - optind != 2) {
        cli_cmd_error(m.cmd, "expected two manifests (hone manifest diff A B)");
        return CLI_USAGE;
    }
    hone_io_manifest *a, *b;
    if ((rc = load(m.cmd, argv[optind], m.algo, &a))) return rc;
    if ((rc = load(m.cmd, argv[optind + 1], m.algo, &b))) {
        hone_io_manifest_free(a);
        return rc;
    }
    report r = {m.quiet, m.ignore_extra};
    hone_io_check_summary s;
    hone_error err = {0};
    rc = hone_io_manifest_diff(a, b, 0, on_change, &r, &s, &err);
    hone_io_manifest_free(a);
    hone_io_manifest_free(b);
    if (rc) {
        cli_cmd_error(m.cmd, "%s", err.msg);
        return CLI_USAGE;
    }
    return summary("diff", &s, m.ignore_extra);
}

int cli_manifest_main(int argc, char **argv) {
    static const char *const subs[] = {"build", "check", "diff"};
    if (argc < 2) {
        cli_cmd_error("manifest", "expected a subcommand: build, check or diff (see 'hone manifest --help')");
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        cli_manifest_usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "build")) return cmd_build(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check")) return cmd_check(argc - 1, argv + 1);
    if (!strcmp(argv[1], "diff")) return cmd_diff(argc - 1, argv + 1);
    const char *near = hone_nearest_name(argv[1], subs, 3);
    if (near)
        cli_cmd_error("manifest", "unknown subcommand '%s'; did you mean '%s'?", argv[1], near);
    else
        cli_cmd_error("manifest", "unknown subcommand '%s': expected build, check or diff", argv[1]);
    return CLI_USAGE;
}

/* ------------------------------------------------------------------ */
/* Demo step                                                           */
/* ------------------------------------------------------------------ */

typedef struct copy_ctx {
    const char *from, *to;
} copy_ctx;

static int mkdirs_for(const char *path) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0755) && errno != EEXIST) return -1;
            *s = '/';
        }
    return 0;
}

static int copy_file(const char *src, const char *dst) {
    if (mkdirs_for(dst)) return -1;
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, ok = 0;
    if (in >= 0) out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (in >= 0 && out >= 0) {
        char buf[65536];
        ssize_t n;
        ok = 1;
        while ((n = read(in, buf, sizeof buf)) > 0)
            if (write(out, buf, (size_t)n) != n) ok = 0;
        if (n < 0) ok = 0;
    }
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    return ok ? 0 : -1;
}

/* The walker's callbacks run on several threads; each copies its own file
 * and shares nothing else. */
static int copy_entry(void *ctx, const hone_io_entry *e) {
    copy_ctx *c = ctx;
    if (e->type != HONE_IO_FILE) return 0;
    char src[PATH_MAX], dst[PATH_MAX];
    snprintf(src, sizeof src, "%s/%s", c->from, e->path);
    snprintf(dst, sizeof dst, "%s/%s", c->to, e->path);
    if (copy_file(src, dst)) return HONE_EIO;
    return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* Removes the demo's scratch directory, children first, never following
 * links out of it. */
static void rm_tree(const char *root) { nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

typedef struct demo_changes {
    int n;
    char lines[8][128];
} demo_changes;

static void demo_change(void *ctx, hone_io_change c, const char *path) {
    demo_changes *d = ctx;
    if (d->n < 8) snprintf(d->lines[d->n++], sizeof d->lines[0], "%s %s", hone_io_change_name(c), path);
}

int cli_demo_manifest(void) {
    char tmpl[] = "/tmp/hone-demo-manifest-XXXXXX";
    char *tmp = mkdtemp(tmpl);
    if (!tmp) {
        fprintf(stderr, "cannot create a scratch directory: %s\n", strerror(errno));
        return 1;
    }
    char copy[PATH_MAX], index[PATH_MAX];
    snprintf(copy, sizeof copy, "%s/tree", tmp);
    snprintf(index, sizeof index, "%s/index", tmp);
    int fail = 1;
    hone_io_manifest *m = NULL, *m2 = NULL;
    hone_error err = {0};

    /* A copy of the source tree (without build output and git objects). */
    const char *exc[] = {"/build", ".git"};
    copy_ctx cc = {HONE_SOURCE_DIR, copy};
    hone_io_walk_opts wo = {.exclude = exc, .n_exclude = 2, .on_entry = copy_entry, .ctx = &cc};
    hone_io_walk_stats ws;
    uint64_t t0 = hone_monotonic_ns();
    if (hone_io_walk(HONE_SOURCE_DIR, &wo, &ws, &err)) {
        fprintf(stderr, "copying the source tree: %s\n", err.msg);
        goto out;
    }
    printf("copied the source tree: %llu files, %.1f KiB in %.1f ms\n", (unsigned long long)ws.files,
           (double)ws.bytes / 1024, (double)(hone_monotonic_ns() - t0) / 1e6);

    hone_io_manifest_opts o = {.index_dir = index};
    hone_io_manifest_stats st;
    t0 = hone_monotonic_ns();
    if (hone_io_manifest_build(&m, copy, &o, &st, &err)) {
        fprintf(stderr, "building the manifest: %s\n", err.msg);
        goto out;
    }
    double cold = (double)(hone_monotonic_ns() - t0) / 1e6;
    printf("manifest build (cold): %llu files, %llu hashed with %s in %.1f ms\n",
           (unsigned long long)st.files, (unsigned long long)st.hashed, hone_io_manifest_algo(m), cold);
    const hone_io_manifest_entry *e = hone_io_manifest_find(m, "include/hone/io.h");
    if (e) {
        printf("  e.g. ");
        for (size_t i = 0; i < hone_io_manifest_digest_len(m); i++) printf("%02x", e->digest[i]);
        printf("  %s\n", e->path);
    }

    /* Wait out the racy-timestamp window of the files just copied: an
     * entry younger than the run that stored it is (rightly) re-read. */
    usleep(20000);
    hone_io_manifest_free(m);
    m = NULL;
    if (hone_io_manifest_build(&m, copy, &o, &st, &err)) {
        fprintf(stderr, "building the manifest: %s\n", err.msg);
        goto out;
    }
    t0 = hone_monotonic_ns();
    hone_io_manifest_free(m);
    m = NULL;
    if (hone_io_manifest_build(&m, copy, &o, &st, &err)) {
        fprintf(stderr, "building the manifest: %s\n", err.msg);
        goto out;
    }
    double warm = (double)(hone_monotonic_ns() - t0) / 1e6;
    printf("manifest build (warm): %llu files, %llu hashed, %llu from the index in %.1f ms\n",
           (unsigned long long)st.files, (unsigned long long)st.hashed, (unsigned long long)st.cached,
           warm);
    if (st.cached != st.files) {
        fprintf(stderr, "the warm build read %llu files that had not changed\n",
                (unsigned long long)st.hashed);
        goto out;
    }

    /* Change the copy: modify one file, remove one, add one. */
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/include/hone/io.h", copy);
    FILE *f = fopen(p, "a");
    if (!f || fputs("/* changed by the demo */\n", f) == EOF || fclose(f) != 0) {
        fprintf(stderr, "cannot modify %s\n", p);
        goto out;
    }
    snprintf(p, sizeof p, "%s/cli/demo_steps.def", copy);
    unlink(p);
    snprintf(p, sizeof p, "%s/NEW-FILE", copy);
    if (copy_file(HONE_SOURCE_DIR "/include/hone.h", p)) goto out;
    printf("changed the copy: appended to include/hone/io.h, removed cli/demo_steps.def, added NEW-FILE\n");

    demo_changes d = {0};
    hone_io_check_summary s;
    if (hone_io_manifest_check(m, copy, &o, demo_change, &d, &s, &st, &err)) {
        fprintf(stderr, "checking: %s\n", err.msg);
        goto out;
    }
    for (int i = 0; i < d.n; i++) printf("  check: %s\n", d.lines[i]);
    printf("check: %llu same, %llu modified, %llu missing, %llu extra (%llu files re-read)\n",
           (unsigned long long)s.same, (unsigned long long)s.modified, (unsigned long long)s.missing,
           (unsigned long long)s.extra, (unsigned long long)st.hashed);
    if (s.modified != 1 || s.missing != 1 || s.extra != 1 || d.n != 3 ||
        strcmp(d.lines[0], "extra NEW-FILE") || strcmp(d.lines[1], "missing cli/demo_steps.def") ||
        strcmp(d.lines[2], "modified include/hone/io.h")) {
        fprintf(stderr, "check did not catch exactly the three changes made\n");
        goto out;
    }
    fail = 0;
out:
    hone_io_manifest_free(m);
    hone_io_manifest_free(m2);
    rm_tree(tmp);
    return fail;
}
