/* manifest.c - `hone manifest build|check|diff`: manifests of directory
 * trees in the sha256sum/b3sum format (or JSON), kept fast on the second
 * run by the incremental index; also the `manifest` demo step. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Options: one table per action                                       */
/* ------------------------------------------------------------------ */

/* Long options only for what has no letter anywhere; --algo is the old
 * spelling of --algorithm (hone hash's name), kept as a hidden alias. */
enum {
    O_JSON = CLI_LONG, O_INCLUDE, O_EXCLUDE, O_NO_INDEX, O_INDEX_DIR, O_IGNORE_EXTRA, O_GRANULARITY,
    O_ALGO_ALIAS
};

#define ALGOS "sha256 blake3 xxh3 xxh128"
#define OPT_ALGO(help) {'a', "algorithm", "ALGO", help, ALGOS}, {O_ALGO_ALIAS, "algo", "ALGO", NULL, ALGOS}
#define OPT_GLOBS                                                                                  \
    {O_INCLUDE, "include", "GLOB", "only files matching GLOB (repeatable; ** spans directories)",   \
     NULL},                                                                                        \
        {O_EXCLUDE, "exclude", "GLOB", "skip files and directories matching GLOB (repeatable)", NULL}
#define OPT_WALK                                                                                   \
    {'x', "one-file-system", NULL, "do not enter directories on other file systems", NULL},        \
        {'L', "follow", NULL, "follow symlinks that stay inside DIR (as find -L)", NULL},          \
        {'j', "threads", "N", "walk and hash with N threads, 1 to 64 (default: CPUs, 2 to 8)",      \
         NULL},                                                                                    \
        {O_NO_INDEX, "no-index", NULL, "read every file; do not use or update the index", NULL},   \
        {O_INDEX_DIR, "index-dir", "DIR",                                                          \
         "keep the index in DIR (default $HONE_CACHE_DIR, $XDG_CACHE_HOME/hone or ~/.cache/hone)", \
         "@dir"},                                                                                  \
        {O_GRANULARITY, "timestamp-granularity", "DURATION",                                       \
         "trust an index entry only if the file's mtime is in an earlier DURATION-long tick than " \
         "the run that stored it (default: detected per file; e.g. 2s for FAT, more for a "        \
         "network file system with clock skew)",                                                  \
         NULL}
#define OPT_IGNORE_EXTRA                                                                           \
    {O_IGNORE_EXTRA, "ignore-extra", NULL,                                                         \
     "files absent from the manifest are neither listed nor a failure (still counted)", NULL}
#define OPT_END {'h', "help", NULL, "show this help", NULL}, {0, NULL, NULL, NULL, NULL}

static const cli_opt build_opts[] = {
    {'o', "output", "FILE",
     "write the manifest to FILE (atomically), not stdout; a name ending in .b3 or .sha256 "
     "also chooses the algorithm",
     "@file"},
    OPT_ALGO("sha256 (default), blake3, xxh3 or xxh128"),
    {O_JSON, "json", NULL, "write JSON with size and mtime_ns instead of sum lines", NULL},
    OPT_GLOBS,
    OPT_WALK,
    {'q', "quiet", NULL, "no progress and no summary on stderr", NULL},
    OPT_END};

static const cli_opt check_opts[] = {
    OPT_ALGO("the algorithm of the list when neither its format (JSON) nor its name (.b3, "
             ".sha256) says; default: by digest length, 64 hex digits being sha256"),
    {O_JSON, "json", NULL, "print the result as one JSON object", NULL},
    OPT_GLOBS,
    OPT_WALK,
    OPT_IGNORE_EXTRA,
    {'q', "quiet", NULL, "no progress; print only the summary line", NULL},
    OPT_END};

static const cli_opt diff_opts[] = {
    OPT_ALGO("the algorithm of both lists when neither their format (JSON) nor their names say"),
    {O_JSON, "json", NULL, "print the result as one JSON object", NULL},
    OPT_GLOBS,
    OPT_IGNORE_EXTRA,
    {'q', "quiet", NULL, "print only the summary line", NULL},
    OPT_END};

#define ALIAS_NOTE "(--algo is accepted as the old spelling of --algorithm.)\n"

const cli_spec cli_spec_manifest_build = {
    "manifest build",
    "usage: hone manifest build DIR [-o FILE] [-a ALGO] [--json] [options]\n"
    "\n"
    "Lists every regular file under DIR with its digest, sorted by path, in the\n"
    "format sha256sum and b3sum print (so `sha256sum -c FILE`, or `b3sum -c`, run\n"
    "in DIR verifies it), or as JSON with sizes and mtimes. Files are hashed in\n"
    "parallel; an index remembers digests so unchanged files are not read again.\n",
    ALIAS_NOTE "Exit status: 0 success, 1 some files unreadable or the output not written,\n"
               "2 bad usage or input.\n",
    build_opts};

const cli_spec cli_spec_manifest_check = {
    "manifest check",
    "usage: hone manifest check FILE [DIR] [-a ALGO] [--json] [--ignore-extra] [options]\n"
    "\n"
    "Compares DIR (default: the current directory) with a manifest written by\n"
    "hone, sha256sum or b3sum and prints one line per difference: modified,\n"
    "missing, extra, unreadable, or moved (a missing file's content found at one\n"
    "new path), then a summary. The algorithm comes from the manifest (JSON), its\n"
    "name (.b3 blake3, .sha256 sha256) or -a, else from the digest length.\n",
    ALIAS_NOTE "Exit status: 0 no differences, 1 differences or unreadable files, 2 bad\n"
               "usage or input.\n",
    check_opts};

const cli_spec cli_spec_manifest_diff = {
    "manifest diff",
    "usage: hone manifest diff A B [-a ALGO] [--json] [--ignore-extra] [options]\n"
    "\n"
    "Compares manifest A (the expected one) with manifest B and prints the same\n"
    "lines and summary as check.\n",
    ALIAS_NOTE "Exit status: 0 no differences, 1 differences, 2 bad usage or input.\n",
    diff_opts};

void cli_manifest_usage(FILE *out) {
    fputs("usage: hone manifest build DIR [-o FILE] [-a ALGO] [--json] [options]\n"
          "       hone manifest check FILE [DIR] [-a ALGO] [--json] [--ignore-extra] [options]\n"
          "       hone manifest diff A B [-a ALGO] [--json] [--ignore-extra]\n"
          "\n"
          "build lists every file of a tree with its digest in the sha256sum/b3sum\n"
          "format (or JSON); check compares a tree with such a list; diff compares two.\n"
          "See 'hone manifest ACTION --help' for the options of each, and\n"
          "hone-manifest(1).\n",
          out);
}

typedef struct mopts {
    const cli_spec *spec;
    const char *cmd;
    const char *output;
    const char *algo;
    int json, quiet, ignore_extra;
    const char *inc[64], *exc[64];
    size_t ninc, nexc;
    hone_io_manifest_opts o;
} mopts;

/* Parses the options of one action; returns CLI_OK, CLI_USAGE, or -1
 * after printing the help. */
static int parse_opts(mopts *m, int argc, char **argv) {
    int c;
    optind = 0;
    while ((c = cli_next(m->spec, argc, argv)) != -1) {
        hone_error err;
        uint64_t v;
        switch (c) {
        case 'o': m->output = optarg; break;
        case 'a':
        case O_ALGO_ALIAS: m->algo = optarg; break;
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
        case 'h': cli_help(m->spec, stdout); return -1;
        default: return CLI_USAGE;
        }
    }
    if (m->algo) {
        hone_error err = {0};
        if (hone_hash_from_name(m->algo, &m->o.algorithm, &err)) {
            cli_cmd_error(m->cmd, "-a %s: expected sha256, blake3, xxh3 or xxh128", m->algo);
            return CLI_USAGE;
        }
    }
    m->o.include = m->inc;
    m->o.n_include = m->ninc;
    m->o.exclude = m->exc;
    m->o.n_exclude = m->nexc;
    return CLI_OK;
}

/* Whether two algorithm names name the same algorithm. */
static int same_algo(const char *x, const char *y) {
    hone_hash_algo a, b;
    return !hone_hash_from_name(x, &a, NULL) && !hone_hash_from_name(y, &b, NULL) && a == b;
}

/* Writes path escaped the way sha256sum does (a backslash or newline as
 * "\\\\" or "\\n"). */
/* Whether a name holds a control character (ESC, CR, BEL...). */
static int has_ctrl(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
    return 0;
}

/* Escapes as sha256sum does (backslash, newline), and with ctrl also every
 * other control character (\r, \t, \x1b). */
static void put_escaped(FILE *out, const char *path, int ctrl) {
    for (const char *p = path; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '\\') fputs("\\\\", out);
        else if (ch == '\n') fputs("\\n", out);
        else if (ctrl && ch == '\r') fputs("\\r", out);
        else if (ctrl && ch == '\t') fputs("\\t", out);
        else if (ctrl && (ch < 0x20 || ch == 0x7f)) fprintf(out, "\\x%02x", ch);
        else fputc(ch, out);
    }
}

/* Prints a change the way sha256sum prints names: a line holding a name
 * with a backslash or a newline is escaped and starts with a backslash. On
 * a terminal a name with any control character is escaped too: a file
 * named "\x1b[2J" must not clear the screen of whoever checks the tree,
 * nor a "\r" hide the start of its own line. */
static void print_change(FILE *out, const char *what, const char *path, const char *from) {
    int ctrl = isatty(fileno(out)) && (has_ctrl(path) || (from && has_ctrl(from)));
    int esc = ctrl || strpbrk(path, "\\\n") || (from && strpbrk(from, "\\\n"));
    fprintf(out, "%s%s: ", esc ? "\\" : "", what);
    if (from) {
        if (esc) put_escaped(out, from, ctrl);
        else fputs(from, out);
        fputs(" -> ", out);
    }
    if (esc) put_escaped(out, path, ctrl);
    else fputs(path, out);
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

/* Erases the progress line, once: before the first result line and at
 * the end, so no result is printed after the progress text on its line. */
static void end_progress(mopts *m) {
    if (!m->o.progress) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    m->o.progress = NULL;
}

static void print_unreadable(void *ctx, const char *path, int status, int sys_errno) {
    const char *cmd = ctx;
    char *esc = NULL;
    size_t len = 0;
    if (isatty(STDERR_FILENO) && has_ctrl(path)) {
        FILE *m = open_memstream(&esc, &len);
        if (m) {
            put_escaped(m, path, 1);
            fclose(m);
        }
    }
    cli_cmd_error(cmd, "%s: %s", esc ? esc : *path ? path : ".",
                  sys_errno ? strerror(sys_errno) : hone_strerror(status));
    free(esc);
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

/* Whether -o can be written, checked before the tree is hashed: a typo
 * in its directory must not cost a long build first. The write itself may
 * still fail later (a full disk); this catches what can be known now. */
static int check_output(const char *cmd, const char *path) {
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            cli_cmd_error(cmd, "-o %s is a directory: expected a file to write the manifest to", path);
            return CLI_USAGE;
        }
        if (access(path, W_OK) != 0) {
            cli_cmd_error(cmd, "-o %s: cannot write it: %s", path, strerror(errno));
            return CLI_USAGE;
        }
        return CLI_OK;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
    else snprintf(dir, sizeof dir, ".");
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cli_cmd_error(cmd, "-o %s: no directory %s to write it in", path, dir);
        return CLI_USAGE;
    }
    if (access(dir, W_OK) != 0) {
        cli_cmd_error(cmd, "-o %s: cannot write in %s: %s", path, dir, strerror(errno));
        return CLI_USAGE;
    }
    return CLI_OK;
}

static int cmd_build(int argc, char **argv) {
    mopts m = {.spec = &cli_spec_manifest_build, .cmd = "manifest build"};
    int rc = parse_opts(&m, argc, argv);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (optind + 1 != argc) {
        cli_cmd_error(m.cmd, optind == argc ? "expected a directory (hone manifest build DIR)"
                                            : "unexpected argument '%s' (one DIR only)",
                      argv[optind + 1 < argc ? optind + 1 : 0]);
        return CLI_USAGE;
    }
    /* The sum format cannot record its algorithm where both sha256sum -c
     * and b3sum -c would skip it, so the file's name carries it: -o
     * x.b3 writes BLAKE3, and check reads x.b3 as BLAKE3 again. */
    const char *named = m.output && !m.json ? hone_io_manifest_algo_from_name(m.output) : NULL;
    if (named && m.algo && !same_algo(named, m.algo)) {
        cli_cmd_error(m.cmd, "-o %s: the name says %s, but -a %s was given; drop -a or rename the file",
                      m.output, named, m.algo);
        return CLI_USAGE;
    }
    if (named) hone_hash_from_name(named, &m.o.algorithm, NULL);
    if (m.output && strcmp(m.output, "-") != 0 && (rc = check_output(m.cmd, m.output))) return rc;
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

/* Where a loaded manifest's algorithm came from. */
enum { ALGO_GUESSED, ALGO_OPTION, ALGO_NAME, ALGO_RECORDED };

/* Reads and parses the manifest at path ("-": stdin). Its algorithm is
 * the one JSON records, else the one its name announces, else -a, else
 * guessed from the digest length; an -a that contradicts the record or
 * the name is refused, as reading with it could only report every file
 * modified. */
static int load(const char *cmd, const char *path, const char *algo, hone_io_manifest **out,
                int *source) {
    struct stat st;
    if (strcmp(path, "-") && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        cli_cmd_error(cmd, "%s is a directory: expected a manifest file (hone manifest check "
                           "MANIFEST DIR)", path);
        return CLI_USAGE;
    }
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
    const char *text = b.data ? b.data : "";
    size_t s = strspn(text, " \t\r\n");
    int json = text[s] == '{';
    const char *named = json || !strcmp(path, "-") ? NULL : hone_io_manifest_algo_from_name(path);
    if (named && algo && !same_algo(named, algo)) {
        hone_buf_free(&b);
        cli_cmd_error(cmd, "%s: the name says %s, but -a %s was given; drop -a or rename the file",
                      path, named, algo);
        return CLI_USAGE;
    }
    *source = json ? ALGO_RECORDED : named ? ALGO_NAME : algo ? ALGO_OPTION : ALGO_GUESSED;
    hone_error err = {0};
    rc = hone_io_manifest_parse(out, text, b.len, named ? named : algo, NULL, &err);
    hone_buf_free(&b);
    if (rc) {
        cli_cmd_error(cmd, "%s: %s", path, err.msg);
        return rc == HONE_ENOMEM ? CLI_FAIL : CLI_USAGE;
    }
    if (json && algo && !same_algo(hone_io_manifest_algo(*out), algo)) {
        cli_cmd_error(cmd, "%s: the manifest records %s, but -a %s was given; drop -a", path,
                      hone_io_manifest_algo(*out), algo);
        hone_io_manifest_free(*out);
        *out = NULL;
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* One reported difference, kept for --json. */
typedef struct change {
    hone_io_change c;
    char *path, *from;
} change;

typedef struct report {
    mopts *m;
    /* --json: every change, in order. */
    change *v;
    size_t n, cap;
    int oom;
    char *first_modified; /* for the other-algorithm hint */
} report;

static void keep(report *r, hone_io_change c, const char *path, const char *from) {
    if (r->oom) return;
    if (r->n == r->cap) {
        size_t nc = r->cap ? 2 * r->cap : 64;
        change *nv = hone_realloc(NULL, r->v, nc * sizeof *nv);
        if (!nv) {
            r->oom = 1;
            return;
        }
        r->v = nv, r->cap = nc;
    }
    change *e = &r->v[r->n];
    e->c = c;
    e->path = hone_strdup(NULL, path);
    e->from = from ? hone_strdup(NULL, from) : NULL;
    if (!e->path || (from && !e->from)) {
        hone_free(NULL, e->path);
        hone_free(NULL, e->from);
        r->oom = 1;
        return;
    }
    r->n++;
}

static void report_free(report *r) {
    for (size_t i = 0; i < r->n; i++) hone_free(NULL, r->v[i].path), hone_free(NULL, r->v[i].from);
    hone_free(NULL, r->v);
    hone_free(NULL, r->first_modified);
}

static void on_any(report *r, hone_io_change c, const char *path, const char *from) {
    mopts *m = r->m;
    if (c == HONE_IO_MODIFIED && !r->first_modified) {
        r->first_modified = hone_strdup(NULL, path);
        if (!r->first_modified) r->oom = 1;
    }
    /* Extra files are not listed with --ignore-extra (as sha256sum's
     * --ignore-missing does not list missing ones); the summary still
     * counts them. */
    if (c == HONE_IO_EXTRA && m->ignore_extra) return;
    if (m->json) {
        keep(r, c, path, from);
        return;
    }
    if (m->quiet) return;
    end_progress(m);
    print_change(stdout, hone_io_change_name(c), path, from);
}

static void on_change(void *ctx, hone_io_change c, const char *path) { on_any(ctx, c, path, NULL); }
static void on_move(void *ctx, const char *from, const char *to) { on_any(ctx, HONE_IO_MOVED, to, from); }

static int differs(const hone_io_check_summary *s, int ignore_extra) {
    return s->modified || s->missing || s->unreadable || s->moved || (s->extra && !ignore_extra);
}

static void print_summary(const char *what, const hone_io_check_summary *s) {
    printf("%s: %llu same, %llu modified, %llu missing, %llu extra, %llu unreadable, %llu moved\n",
           what, (unsigned long long)s->same, (unsigned long long)s->modified,
           (unsigned long long)s->missing, (unsigned long long)s->extra,
           (unsigned long long)s->unreadable, (unsigned long long)s->moved);
}

/* The --json result: counts and the paths of each kind. JSON holds only
 * UTF-8, so a path that is not is refused (as build --json does). */
static int print_json(const char *cmd, const char *what, const char *algo, const report *r,
                      const hone_io_check_summary *s) {
    static const hone_io_change kinds[] = {HONE_IO_MODIFIED, HONE_IO_MISSING, HONE_IO_EXTRA,
                                           HONE_IO_UNREADABLE, HONE_IO_MOVED};
    json_t *root = json_pack("{s:s, s:s, s:b, s:{s:I, s:I, s:I, s:I, s:I, s:I}}", "command", what,
                             "algorithm", algo, "ok", !differs(s, r->m->ignore_extra), "counts",
                             "same", (json_int_t)s->same, "modified", (json_int_t)s->modified,
                             "missing", (json_int_t)s->missing, "extra", (json_int_t)s->extra,
                             "unreadable", (json_int_t)s->unreadable, "moved", (json_int_t)s->moved);
    int bad = !root;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0] && !bad; k++) {
        json_t *arr = json_array();
        bad = !arr || json_object_set_new(root, hone_io_change_name(kinds[k]), arr);
        for (size_t i = 0; i < r->n && !bad; i++) {
            const change *c = &r->v[i];
            if (c->c != kinds[k]) continue;
            json_t *item = kinds[k] == HONE_IO_MOVED
                               ? json_pack("{s:s, s:s}", "from", c->from, "to", c->path)
                               : json_string(c->path);
            bad = !item || json_array_append_new(arr, item);
            if (!item) {
                json_decref(root);
                cli_cmd_error(cmd, "a path is not valid UTF-8, which JSON cannot hold; drop --json");
                return CLI_FAIL;
            }
        }
    }
    if (bad || json_dumpf(root, stdout, JSON_COMPACT) || fputc('\n', stdout) == EOF ||
        fflush(stdout)) {
        json_decref(root);
        cli_cmd_error(cmd, "cannot write the result: %s", bad ? "out of memory" : strerror(errno));
        return CLI_FAIL;
    }
    json_decref(root);
    return CLI_OK;
}

/* When every compared digest differs, the list was most likely made with
 * another algorithm of the same digest length (a b3sum list read as
 * SHA-256). Hashing the first such file with each other algorithm is one
 * file's work and tells which; without a match, a list of several files
 * that all differ whose algorithm was only guessed still gets a hint.
 * One changed file of one is the likelier story, and gets none. */
static void other_algorithm_hint(const char *cmd, const char *list, const char *dir,
                                 const hone_io_manifest *want, const report *r,
                                 const hone_io_check_summary *s, int source) {
    if (!s->modified || s->same || !r->first_modified || source == ALGO_RECORDED) return;
    const hone_io_manifest_entry *e = hone_io_manifest_find(want, r->first_modified);
    if (!e) return;
    static const char *const names[] = {"sha256", "blake3", "xxh3", "xxh128"};
    const char *mine = hone_io_manifest_algo(want), *alt = NULL, *same_len = NULL;
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->path) >= sizeof path) return;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !alt; i++) {
        hone_hash_algo a;
        if (same_algo(names[i], mine) || hone_hash_from_name(names[i], &a, NULL) ||
            hone_hash_digest_len(a) != hone_io_manifest_digest_len(want))
            continue;
        if (!same_len) same_len = names[i];
        hone_hash *h;
        uint8_t d[HONE_IO_DIGEST_MAX];
        if (hone_hash_new(&h, a, NULL)) continue;
        if (hone_hash_path(h, path, NULL, d, hone_hash_digest_len(a), NULL) == HONE_OK &&
            !memcmp(d, e->digest, hone_hash_digest_len(a)))
            alt = names[i];
        hone_hash_free(h);
    }
    fflush(stdout);
    if (alt)
        cli_cmd_error(cmd, "every digest differs, but %s matches its line as %s: %s was probably "
                           "made with %s; try -a %s",
                      e->path, alt, list, alt, alt);
    else if (same_len && s->modified >= 2 && source == ALGO_GUESSED)
        cli_cmd_error(cmd, "every digest differs: %s was probably made with another algorithm; "
                           "name it with -a (%s digests have the same length as %s's)",
                      list, same_len, mine);
}

/* Prints the result (text or JSON) and returns the exit status. */
static int finish(mopts *m, const char *what, const char *algo, report *r,
                  const hone_io_check_summary *s) {
    end_progress(m);
    if (r->oom) {
        cli_cmd_error(m->cmd, "out of memory");
        return CLI_FAIL;
    }
    if (m->json) {
        int rc = print_json(m->cmd, what, algo, r, s);
        if (rc) return rc;
    } else {
        print_summary(what, s);
    }
    return differs(s, m->ignore_extra) ? CLI_FAIL : CLI_OK;
}

static int cmd_check(int argc, char **argv) {
    mopts m = {.spec = &cli_spec_manifest_check, .cmd = "manifest check"};
    int rc = parse_opts(&m, argc, argv);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (optind == argc || argc - optind > 2) {
        cli_cmd_error(m.cmd, "expected FILE [DIR] (hone manifest check FILE [DIR])");
        return CLI_USAGE;
    }
    const char *list = argv[optind];
    const char *dir = optind + 1 < argc ? argv[optind + 1] : ".";
    hone_io_manifest *want;
    int source;
    if ((rc = load(m.cmd, list, m.algo, &want, &source))) return rc;
    totals tot = {0, 0};
    setup_progress(&m, dir, &tot);
    /* Unreadable files are reported as check lines, not as errors. */
    m.o.on_unreadable = NULL;
    report r = {.m = &m};
    hone_io_check_summary s;
    hone_error err = {0};
    rc = hone_io_manifest_check_moves(want, dir, &m.o, on_change, on_move, &r, &s, NULL, &err);
    end_progress(&m);
    if (rc) {
        hone_io_manifest_free(want);
        report_free(&r);
        cli_cmd_error(m.cmd, "%s", err.msg);
        return rc == HONE_EINVAL || rc == HONE_ENOTFOUND || rc == HONE_EACCES ? CLI_USAGE : CLI_FAIL;
    }
    rc = finish(&m, "check", hone_io_manifest_algo(want), &r, &s);
    other_algorithm_hint(m.cmd, list, dir, want, &r, &s, source);
    hone_io_manifest_free(want);
    report_free(&r);
    return rc;
}

static int cmd_diff(int argc, char **argv) {
    mopts m = {.spec = &cli_spec_manifest_diff, .cmd = "manifest diff"};
    int rc = parse_opts(&m, argc, argv);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (argc - optind != 2) {
        cli_cmd_error(m.cmd, "expected two manifests (hone manifest diff A B)");
        return CLI_USAGE;
    }
    hone_io_manifest *a, *b;
    int sa, sb;
    if ((rc = load(m.cmd, argv[optind], m.algo, &a, &sa))) return rc;
    if ((rc = load(m.cmd, argv[optind + 1], m.algo, &b, &sb))) {
        hone_io_manifest_free(a);
        return rc;
    }
    report r = {.m = &m};
    hone_io_diff_opts o = {.include = m.inc, .n_include = m.ninc, .exclude = m.exc,
                           .n_exclude = m.nexc, .on_change = on_change, .on_move = on_move, .ctx = &r};
    hone_io_check_summary s;
    hone_error err = {0};
    rc = hone_io_manifest_diff_ex(a, b, &o, &s, &err);
    if (rc) {
        cli_cmd_error(m.cmd, "%s", err.msg);
        rc = rc == HONE_ENOMEM ? CLI_FAIL : CLI_USAGE;
    } else {
        rc = finish(&m, "diff", hone_io_manifest_algo(a), &r, &s);
    }
    hone_io_manifest_free(a);
    hone_io_manifest_free(b);
    report_free(&r);
    return rc;
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

/* The step works on a tree it makes itself in a temporary directory
 * (nothing from the source tree, so an installed hone runs it anywhere),
 * and counts its file operations on the step's cycle: every file written,
 * read by hashing, or copied. */

static int write_file(const char *path, const void *data, size_t len) {
    if (cli_mkdirs(path, 0)) return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    int ok = write(fd, data, len) == (ssize_t)len;
    return close(fd) == 0 && ok ? 0 : -1;
}

static int copy_file(const char *src, const char *dst) {
    if (cli_mkdirs(dst, 0)) return -1;
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
    if (out >= 0 && close(out) != 0) ok = 0;
    return ok ? 0 : -1;
}

typedef struct copy_ctx {
    const char *from, *to;
} copy_ctx;

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

/* The demo tree: 8 directories of 5 of 8 files (320), sizes from 64 bytes
 * to 16 KiB, each file's bytes from its own seed, so every file differs
 * and the same run makes the same tree. */
enum { DEMO_D = 8, DEMO_S = 5, DEMO_F = 8 };

static void demo_name(char *out, size_t n, int d, int s, int f) {
    snprintf(out, n, "d%d/s%d/f%d.dat", d, s, f);
}

static int make_demo_tree(const char *root, uint64_t *files, uint64_t *bytes) {
    static unsigned char buf[16384];
    char rel[64], path[PATH_MAX + 64];
    for (int d = 0; d < DEMO_D; d++)
        for (int s = 0; s < DEMO_S; s++)
            for (int f = 0; f < DEMO_F; f++) {
                uint64_t i = (uint64_t)((d * DEMO_S + s) * DEMO_F + f);
                size_t len = 64 + (size_t)(i * 7919 % (sizeof buf - 64));
                uint64_t x = 0x9e3779b97f4a7c15u * (i + 1);
                for (size_t k = 0; k < len; k++) {
                    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                    buf[k] = (unsigned char)x;
                }
                demo_name(rel, sizeof rel, d, s, f);
                snprintf(path, sizeof path, "%s/%s", root, rel);
                if (write_file(path, buf, len)) {
                    fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
                    return -1;
                }
                (*files)++;
                *bytes += len;
            }
    return 0;
}

typedef struct demo_changes {
    int n;
    char lines[8][160];
} demo_changes;

static void demo_change(void *ctx, hone_io_change c, const char *path) {
    demo_changes *d = ctx;
    if (d->n < 8) snprintf(d->lines[d->n++], sizeof d->lines[0], "%s %s", hone_io_change_name(c), path);
}

static void demo_move(void *ctx, const char *from, const char *to) {
    demo_changes *d = ctx;
    if (d->n < 8) snprintf(d->lines[d->n++], sizeof d->lines[0], "moved %s -> %s", from, to);
}

int cli_demo_manifest(void) {
    const char *td = getenv("TMPDIR");
    char tmpl[PATH_MAX];
    snprintf(tmpl, sizeof tmpl, "%s/hone-demo-manifest-XXXXXX", td && *td == '/' ? td : "/tmp");
    char *tmp = mkdtemp(tmpl);
    if (!tmp) {
        fprintf(stderr, "cannot create a scratch directory in %s: %s\n", td && *td == '/' ? td : "/tmp",
                strerror(errno));
        return 1;
    }
    char tree[PATH_MAX], copy[PATH_MAX], index[PATH_MAX];
    snprintf(tree, sizeof tree, "%s/tree", tmp);
    snprintf(copy, sizeof copy, "%s/copy", tmp);
    snprintf(index, sizeof index, "%s/index", tmp);
    hone_cycle *cy = cli_demo_cycle();
    int fail = 1;
    hone_io_manifest *m = NULL;
    hone_error err = {0};

    uint64_t files = 0, bytes = 0, t0 = hone_monotonic_ns();
    if (make_demo_tree(tree, &files, &bytes)) goto out;
    hone_cycle_file_ops(cy, files);
    printf("made a tree of %llu files, %.1f KiB, in %s in %.1f ms\n", (unsigned long long)files,
           (double)bytes / 1024, tree, (double)(hone_monotonic_ns() - t0) / 1e6);

    hone_io_manifest_opts o = {.index_dir = index};
    hone_io_manifest_stats st;
    t0 = hone_monotonic_ns();
    if (hone_io_manifest_build(&m, tree, &o, &st, &err)) {
        fprintf(stderr, "building the manifest: %s\n", err.msg);
        goto out;
    }
    hone_cycle_file_ops(cy, st.hashed);
    double cold = (double)(hone_monotonic_ns() - t0) / 1e6;
    printf("manifest build (cold): %llu files, %llu hashed with %s in %.1f ms\n",
           (unsigned long long)st.files, (unsigned long long)st.hashed, hone_io_manifest_algo(m), cold);
    if (st.files != files) {
        fprintf(stderr, "the manifest lists %llu files of the %llu made\n",
                (unsigned long long)st.files, (unsigned long long)files);
        goto out;
    }
    const hone_io_manifest_entry *e = hone_io_manifest_find(m, "d0/s0/f0.dat");
    if (e) {
        printf("  e.g. ");
        for (size_t i = 0; i < hone_io_manifest_digest_len(m); i++) printf("%02x", e->digest[i]);
        printf("  %s\n", e->path);
    }

    /* Wait out the racy-timestamp window of the files just written: an
     * entry younger than the run that stored it is (rightly) re-read. */
    usleep(20000);
    for (int pass = 0; pass < 2; pass++) {
        hone_io_manifest_free(m);
        m = NULL;
        t0 = hone_monotonic_ns();
        if (hone_io_manifest_build(&m, tree, &o, &st, &err)) {
            fprintf(stderr, "building the manifest: %s\n", err.msg);
            goto out;
        }
        hone_cycle_file_ops(cy, st.hashed);
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

    /* A copy, changed four ways: one file modified, one removed, one
     * added, one renamed. */
    copy_ctx cc = {tree, copy};
    hone_io_walk_opts wo = {.on_entry = copy_entry, .ctx = &cc};
    hone_io_walk_stats ws;
    if (hone_io_walk(tree, &wo, &ws, &err)) {
        fprintf(stderr, "copying the tree: %s\n", err.msg);
        goto out;
    }
    hone_cycle_file_ops(cy, 2 * ws.files);
    char p[PATH_MAX + 64], q[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/d3/s1/f4.dat", copy);
    FILE *f = fopen(p, "a");
    if (!f || fputs("changed by the demo\n", f) == EOF || fclose(f) != 0) {
        fprintf(stderr, "cannot modify %s\n", p);
        goto out;
    }
    snprintf(p, sizeof p, "%s/d5/s2/f1.dat", copy);
    snprintf(q, sizeof q, "%s/d0/NEW-FILE", copy);
    char from[PATH_MAX + 64], moved[PATH_MAX + 64];
    snprintf(from, sizeof from, "%s/d7/s4/f7.dat", copy);
    snprintf(moved, sizeof moved, "%s/d7/renamed.dat", copy);
    if (unlink(p) || write_file(q, "new\n", 4) || rename(from, moved)) {
        fprintf(stderr, "cannot change the copy: %s\n", strerror(errno));
        goto out;
    }
    hone_cycle_file_ops(cy, 4);
    printf("copied the tree to %s and changed the copy: appended to d3/s1/f4.dat, removed "
           "d5/s2/f1.dat, added d0/NEW-FILE, renamed d7/s4/f7.dat to d7/renamed.dat\n",
           copy);

    demo_changes d = {0};
    hone_io_check_summary s;
    if (hone_io_manifest_check_moves(m, copy, &o, demo_change, demo_move, &d, &s, &st, &err)) {
        fprintf(stderr, "checking: %s\n", err.msg);
        goto out;
    }
    hone_cycle_file_ops(cy, st.hashed);
    for (int i = 0; i < d.n; i++) printf("  check: %s\n", d.lines[i]);
    printf("check: %llu same, %llu modified, %llu missing, %llu extra, %llu moved (%llu files read)\n",
           (unsigned long long)s.same, (unsigned long long)s.modified, (unsigned long long)s.missing,
           (unsigned long long)s.extra, (unsigned long long)s.moved, (unsigned long long)st.hashed);
    if (s.modified != 1 || s.missing != 1 || s.extra != 1 || s.moved != 1 || d.n != 4 ||
        strcmp(d.lines[0], "extra d0/NEW-FILE") || strcmp(d.lines[1], "modified d3/s1/f4.dat") ||
        strcmp(d.lines[2], "missing d5/s2/f1.dat") ||
        strcmp(d.lines[3], "moved d7/s4/f7.dat -> d7/renamed.dat")) {
        fprintf(stderr, "check did not catch exactly the four changes made\n");
        goto out;
    }
    fail = 0;
out:
    hone_io_manifest_free(m);
    rm_tree(tmp);
    return fail;
}
